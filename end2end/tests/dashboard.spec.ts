import { expect, test, type Page } from "@playwright/test";
import { logIn, logInApi, parseCount, postSignedComment, postSignedDm } from "./webhook";

const receivedTotal = (page: Page) => page.locator('[data-stat="dms-received"] .stat-value');
const sentTotal = (page: Page) => page.locator('[data-stat="dms-sent"] .stat-value');

test("three open dashboards all show a new DM within 1 s of its webhook", async ({ browser, request }) => {
  const pages: Page[] = [];
  const errors: string[] = [];
  for (let i = 0; i < 3; i++) {
    const page = await (await browser.newContext()).newPage();
    page.on("pageerror", (error) => errors.push(error.message));
    page.on("console", (message) => {
      if (message.type() === "error") errors.push(message.text());
    });
    await logIn(page);
    // Hydrated and subscribed: the badge only says Live once the stream is open.
    await expect(page.locator(".live-badge")).toHaveText("Live", { timeout: 10_000 });
    // The mark the hydration benchmark reads: set once, when hydration is done.
    const marks = await page.evaluate(() => performance.getEntriesByName("pulse:dashboard-hydrated").length);
    expect(marks).toBe(1);
    pages.push(page);
  }
  const before = parseCount(await receivedTotal(pages[0]).textContent());
  for (const page of pages) {
    await expect(receivedTotal(page)).toHaveText(before.toLocaleString("en-US"));
  }

  await postSignedDm(request);
  const posted = Date.now();
  const expected = (before + 1).toLocaleString("en-US");
  for (const page of pages) {
    await expect(receivedTotal(page)).toHaveText(expected, { timeout: 1_000 });
  }
  expect(Date.now() - posted).toBeLessThan(1_000);
  expect(errors).toEqual([]);
});

test("the chart, latency and last event follow a sent DM", async ({ page, request }) => {
  await logIn(page);
  await expect(page.locator(".live-badge")).toHaveText("Live", { timeout: 10_000 });
  const before = parseCount(await sentTotal(page).textContent());

  await postSignedDm(request, { echo: true });
  await expect(sentTotal(page)).toHaveText((before + 1).toLocaleString("en-US"), { timeout: 1_000 });
  await expect(page.locator(".minute-chart rect.bar--sent")).toHaveCount(60);
  const lastSentBar = page.locator(".minute-chart rect.bar--sent").last();
  expect(Number(await lastSentBar.getAttribute("height"))).toBeGreaterThan(0);
  await expect(page.getByTestId("latency")).toHaveText(/latency \d+ ms/);
  await expect(page.getByTestId("last-event")).toHaveText(/UTC$/);
});

test("a comment webhook moves the comments row and the webhook status", async ({ page, request }) => {
  await logIn(page);
  await expect(page.locator(".live-badge")).toHaveText("Live", { timeout: 10_000 });
  const comments = page.locator('[data-metric="comments"] [data-window="total"]');
  const before = parseCount(await comments.textContent());

  await postSignedComment(request);
  await expect(comments).toHaveText((before + 1).toLocaleString("en-US"), { timeout: 1_000 });
  await expect(page.locator('[data-metric="comments"] [data-window="today"]')).not.toHaveText("0");
  await expect(page.getByTestId("last-accepted")).toHaveText(/just now|\d+ s ago/);
  // The database's room, measured by the node.
  await expect(page.getByTestId("database-size")).toHaveText(/^\d+(\.\d)? (B|kB|MB|GB)/);
  await expect(page.getByTestId("disk-free")).toHaveText(/ of /);
});

test("Refresh now recomputes without reloading the page", async ({ page }) => {
  await logIn(page);
  await expect(page.locator(".live-badge")).toHaveText("Live", { timeout: 10_000 });
  const url = page.url();
  const refreshed = page.waitForResponse((response) => response.url().includes("/api/admin/stats/refresh"));
  await page.getByRole("button", { name: "Refresh now" }).click();
  expect((await refreshed).status()).toBe(200);
  expect(page.url()).toBe(url);
  await expect(page.getByTestId("updated")).toHaveText(/updated (just now|\d s ago)/);
});

test("with JavaScript off the dashboard still shows the current stats", async ({ browser, request }) => {
  await logInApi(request);
  const statsNow = async () => (await request.get("/api/admin/stats")).json();
  const before = (await statsNow()).dms_received.total;
  await postSignedDm(request);
  // The push follows the commit within the coalescing interval; wait for it.
  await expect.poll(async () => (await statsNow()).dms_received.total).toBe(before + 1);
  const stats = await statsNow();
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await logIn(page);
  await expect(receivedTotal(page)).toHaveText(stats.dms_received.total.toLocaleString("en-US"));
  await expect(sentTotal(page)).toHaveText(stats.dms_sent.total.toLocaleString("en-US"));
  await expect(page.locator('[data-stat="accounts"] .stat-value')).toHaveText(String(stats.accounts));
  await expect(page.locator("noscript, .notice").first()).toBeAttached();
  await expect(page.getByText("Loading stats")).toHaveCount(0);
  await context.close();
});

test("the root address leads to the dashboard", async ({ page }) => {
  await logIn(page);
  await page.goto("/");
  await expect(page).toHaveURL(/\/admin$/);
  await expect(page.getByRole("heading", { name: "Pulse" })).toBeVisible();
});
