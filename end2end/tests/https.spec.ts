import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, request as playwrightRequest, test } from "@playwright/test";
import { PulseNode } from "./processes";
import { logIn, parseCount, postSignedDm } from "./webhook";

/** A self-signed certificate for 127.0.0.1, made for this test. */
function certificate(): { cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), "pulse-e2e-tls-"));
  const [cert, key] = [join(dir, "cert.pem"), join(dir, "key.pem")];
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
    "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
    "-keyout", key, "-out", cert,
  ], { stdio: "ignore" });
  return { cert, key };
}

test("over HTTPS the dashboard goes live with a __Host- Secure cookie and brotli assets, and curl gets HTTP/2", async ({ browser }) => {
  test.setTimeout(60_000);
  const { cert, key } = certificate();
  const node = await PulseNode.start({ PULSE_TLS_CERT: cert, PULSE_TLS_KEY: key });
  const context = await browser.newContext({ baseURL: node.baseURL, ignoreHTTPSErrors: true });
  const api = await playwrightRequest.newContext({ baseURL: node.baseURL, ignoreHTTPSErrors: true });
  try {
    const page = await context.newPage();
    const wasm = page.waitForResponse((response) => response.url().endsWith("/pkg/pulse.wasm"));
    await logIn(page, node.baseURL);
    // The release build's brotli copy, chosen by the browser's Accept-Encoding.
    expect(await (await wasm).headerValue("content-encoding")).toBe("br");
    await expect(page.locator(".live-badge")).toHaveText("Live", { timeout: 10_000 });
    const cookies = await context.cookies();
    const session = cookies.find((cookie) => cookie.name === "__Host-pulse_session");
    expect(session?.secure).toBe(true);

    const received = page.locator('[data-stat="dms-received"] .stat-value');
    const before = parseCount(await received.textContent());
    await postSignedDm(api);
    await expect(received).toHaveText((before + 1).toLocaleString("en-US"), { timeout: 1_000 });

    const version = execFileSync("curl", [
      "-sS", "-k", "--http2", "-o", "/dev/null", "-w", "%{http_version}", `${node.baseURL}/healthz`,
    ]).toString();
    expect(version).toBe("2");
  } finally {
    await api.dispose();
    await context.close();
    await node.stop();
  }
});
