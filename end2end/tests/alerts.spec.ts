import { createHmac } from "node:crypto";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { expect, test } from "@playwright/test";
import { PulseNode } from "./processes";
import { logIn } from "./webhook";

/** An HTTP server on a free loopback port recording every request it gets. */
async function receiver() {
  const received: { headers: IncomingHttpHeaders; body: string }[] = [];
  const server = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk) => (body += chunk));
    request.on("end", () => {
      received.push({ headers: request.headers, body });
      response.writeHead(200).end("ok");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/hook`, received, close: () => server.close() };
}

// A node of its own: the thresholds set here apply to every dashboard of a node.
test("an admin adds a signed webhook, sends a test that arrives, sets a threshold and sees the incident it opens", async ({
  page,
  request,
}) => {
  const node = await PulseNode.start({});
  const hook = await receiver();
  try {
    await logIn(page, node.baseURL);
    await page.getByRole("link", { name: "Alerts" }).click();
    await expect(page).toHaveURL(/\/admin\/alerts$/);
    await expect(page.getByText("No incident yet.")).toBeVisible();

    // A wrong URL is refused naming the field, and what was typed stays.
    await page.getByText("Signed webhook").click();
    const form = page.getByTestId("add-webhook");
    await form.getByLabel("Name").fill("ops");
    await form.getByLabel("URL (http or https)").fill("ftp://127.0.0.1/hook");
    await form.getByRole("button", { name: "Add webhook" }).click();
    await expect(form.locator(".field-error")).toHaveText(
      "the scheme must be http or https, not ftp",
    );
    await expect(form.getByLabel("Name")).toHaveValue("ops");
    await expect(page.locator("tr[data-target]")).toHaveCount(0);

    await form.getByLabel("URL (http or https)").fill(hook.url);
    await form.getByRole("button", { name: "Add webhook" }).click();
    const key = (await page.getByTestId("signing-key").textContent())!.trim();
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    const row = page.locator('tr[data-target="ops"]');
    await expect(row.locator(".alerts__place")).toHaveText(hook.url);

    // Send test: the receiver gets one signed message and the page says it was sent.
    await row.getByRole("button", { name: "Send test" }).click();
    await expect(page.getByText("Test message sent to ops.")).toBeVisible();
    await expect(row.locator(".alerts__tested")).toHaveText(/^sent /);
    expect(hook.received).toHaveLength(1);
    const testMessage = hook.received[0];
    expect(JSON.parse(testMessage.body).event).toBe("test");
    expect(testMessage.headers["x-pulse-signature-256"]).toBe(
      "sha256=" + createHmac("sha256", key).update(testMessage.body).digest("hex"),
    );
    // The key is shown once: not on the page any more.
    await page.reload();
    await expect(page.getByTestId("signing-key")).toHaveCount(0);
    expect(await page.content()).not.toContain(key);

    // One refused request an hour is enough, at once: the Webhooks rule holds.
    const thresholds = page.getByTestId("thresholds");
    await thresholds.getByLabel("Webhooks: refused in an hour, at least").fill("1");
    await thresholds.getByLabel("Every rule: a condition holds (or is gone) for").fill("0");
    await thresholds.getByRole("button", { name: "Save thresholds" }).click();
    await expect(page.getByText("Thresholds saved")).toBeVisible();
    await expect(
      thresholds.getByLabel("Webhooks: refused in an hour, at least"),
    ).toHaveValue("1");
    const refused = await request.post(`${node.baseURL}/api/webhooks/instagram`, {
      data: '{"object":"instagram","entry":[]}',
      headers: { "content-type": "application/json", "x-hub-signature-256": "sha256=00" },
    });
    expect(refused.status()).toBe(401);

    // The incident opens, its message reaches the receiver, and the history says so.
    await expect
      .poll(() => hook.received.filter((got) => JSON.parse(got.body).event === "started").length, {
        timeout: 15_000,
      })
      .toBe(1);
    const started = JSON.parse(hook.received[1].body);
    expect(started.rule).toBe("webhooks");
    expect(started.summary).toContain("1 webhook requests were refused in the last hour");
    await expect(async () => {
      await page.reload();
      const incident = page.locator('.alerts__incident[data-rule="webhooks"]');
      await expect(incident.locator("h3")).toHaveText("Webhooks from Meta");
      await expect(incident.locator(".alerts__messages li")).toHaveText(/^started → ops: sent /);
    }).toPass({ timeout: 10_000 });
    await expect(page.locator('tr[data-rule="webhooks"] .alerts__state')).toHaveText(/^open since /);
  } finally {
    hook.close();
    await node.stop();
  }
});
