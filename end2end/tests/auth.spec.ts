import { expect, test } from "@playwright/test";
import { adminEmail } from "../playwright.config";
import { PulseNode } from "./processes";
import { logIn, parseCount, postSignedDm } from "./webhook";

test("log in, see live numbers, log out: open dashboards stop and /admin asks for a login", async ({
  browser,
  request,
}) => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto("/admin");
  await expect(page).toHaveURL(/\/login$/);

  await page.getByLabel("Email").fill(adminEmail);
  await page.getByLabel("Password").fill("not the right password");
  await page.getByRole("button", { name: "Log in" }).click();
  await expect(page.getByRole("alert")).toHaveText("Wrong email or password.");

  await logIn(page);
  const badge = page.locator(".live-badge");
  await expect(badge).toHaveText("Live", { timeout: 10_000 });
  const received = page.locator('[data-stat="dms-received"] .stat-value');
  const before = parseCount(await received.textContent());
  await postSignedDm(request);
  await expect(received).toHaveText((before + 1).toLocaleString("en-US"), { timeout: 1_000 });

  // A second tab of the same session, watching.
  const other = await context.newPage();
  await other.goto("/admin");
  await expect(other.locator(".live-badge")).toHaveText("Live", { timeout: 10_000 });

  await page.getByRole("button", { name: "Log out" }).click();
  await expect(page).toHaveURL(/\/login\?reason=logged_out$/);
  await expect(page.getByRole("alert")).toHaveText("You are logged out.");
  // The other tab's stream is ended by the server and the tab leaves the numbers.
  await expect(other).toHaveURL(/\/login\?reason=logged_out$/, { timeout: 5_000 });

  await page.goto("/admin");
  await expect(page).toHaveURL(/\/login$/);
  await context.close();
});

test("the login page loads no wasm and no script file; the dashboard loads the island bundle once", async ({ page }) => {
  const fetched: string[] = [];
  page.on("request", (request) => fetched.push(new URL(request.url()).pathname));
  await page.goto("/login");
  await expect(page.getByRole("button", { name: "Log in" })).toBeVisible();
  await page.waitForLoadState("networkidle");
  expect(fetched.filter((path) => path.endsWith(".wasm") || path.endsWith(".js"))).toEqual([]);
  // Only Leptos's few inline bytes of server-rendering state remain; nothing is loaded.
  await expect(page.locator("script[src], link[rel=modulepreload], link[rel=preload]")).toHaveCount(0);

  fetched.length = 0;
  await logIn(page);
  await expect(page.locator(".live-badge")).toHaveText("Live", { timeout: 10_000 });
  expect(fetched.filter((path) => path.endsWith(".wasm"))).toEqual(["/pkg/pulse.wasm"]);
  // The live part is the page's one island; the rest of the page is static HTML.
  await expect(page.locator("leptos-island")).toHaveCount(1);
});

test("an expired session takes the open dashboard to the login page", async ({ page }) => {
  const node = await PulseNode.start({ PULSE_SESSION_LIFETIME_S: "4" });
  try {
    await logIn(page, node.baseURL);
    await expect(page.locator(".live-badge")).toHaveText("Live", { timeout: 10_000 });
    await expect(page).toHaveURL(/\/login\?reason=expired$/, { timeout: 10_000 });
    await expect(page.getByRole("alert")).toHaveText("Your session has ended. Please log in again.");
  } finally {
    await node.stop();
  }
});

test("a login refused because the server is checking too many at once says so and keeps the form", async ({
  page,
}) => {
  // Where the server sends a browser whose login found every password check taken.
  await page.goto("/login?error=busy");
  await expect(page.getByRole("alert")).toHaveText(
    "The server is checking too many logins at once. Try again in a moment.",
  );
  await expect(page.getByLabel("Email")).toBeVisible();
  await expect(page.getByRole("button", { name: "Log in" })).toBeVisible();
});
