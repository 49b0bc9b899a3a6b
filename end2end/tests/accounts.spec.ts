import { readFileSync } from "node:fs";
import { expect, test } from "@playwright/test";
import { PulseNode } from "./processes";
import { logIn, postSignedDm } from "./webhook";

// A node of its own: the suite's shared server has accounts of other tests.
test("the accounts page lists every account, updates live, flags the silent one, filters, sorts and links to each account's live page, where it can be named", async ({
  page,
  request,
}) => {
  const node = await PulseNode.start({});
  try {
    const now = Date.now();
    const at = (account: string, customer: string, when: number, echo = false) =>
      postSignedDm(request, { baseURL: node.baseURL, account, customer, at: when, echo });
    // biz-a answers in 30 s; biz-b was busy three hours ago and has been quiet since.
    await at("biz-a", "quick", now - 60_000);
    await at("biz-a", "quick", now - 30_000, true);
    for (let i = 0; i < 20; i++) await at("biz-b", `fan-${i}`, now - 3 * 3_600_000 + i * 1000);

    await logIn(page, node.baseURL);
    await expect(page.locator(".live-badge")).toHaveText("Live", { timeout: 10_000 });
    // The dashboard recounts silent accounts once a minute, and on Refresh now.
    await page.getByRole("button", { name: "Refresh now" }).click();
    await expect(page.locator('[data-stat="accounts"] [data-detail="silent"]')).toHaveText("1");
    await page.getByRole("link", { name: "Accounts" }).click();
    await expect(page).toHaveURL(/\/admin\/accounts$/);
    await expect(page.getByTestId("accounts-summary")).toHaveText(/^2 accounts · 1 silent/);

    const a = page.locator('tr[data-account="biz-a"]');
    const b = page.locator('tr[data-account="biz-b"]');
    await expect(a.locator('[data-col="received"]')).toHaveText("1");
    await expect(a.locator('[data-col="sent"]')).toHaveText("1");
    await expect(a.locator('[data-col="reply"]')).toHaveText("30 s");
    await expect(a.locator(".badge-silent")).toHaveCount(0);
    await expect(b.locator('[data-col="waiting"]')).toHaveText("20");
    await expect(b.locator(".badge-silent")).toHaveText("silent");
    await expect(b.locator('[data-col="last-event"]')).toHaveText("2 h ago");

    // Live: a new DM for biz-a shows within a second, without a reload.
    await page.evaluate(() => ((window as unknown as { marker: number }).marker = 1));
    await at("biz-a", "another", Date.now());
    await expect(a.locator('[data-col="received"]')).toHaveText("2", { timeout: 1_000 });
    await expect(a.locator('[data-col="waiting"]')).toHaveText("1");
    expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(1);

    // Sorting by account name, then filtering.
    await page.locator('th[data-sort="account"] a').click();
    await expect(page.locator("tbody tr").first()).toHaveAttribute("data-account", "biz-a");
    await page.locator('th[data-sort="account"] a').click();
    await expect(page.locator("tbody tr").first()).toHaveAttribute("data-account", "biz-b");
    await page.getByLabel("Filter by account id").fill("z-a");
    await page.getByRole("button", { name: "Filter" }).click();
    await expect(page.locator("tbody tr")).toHaveCount(1);
    await expect(page.getByTestId("accounts-summary")).toHaveText(/^1 account · 1 silent/);

    // The same figures as JSON, and a clear refusal of what it does not know.
    const json = await page.request.get(`${node.baseURL}/api/admin/accounts?q=biz-b`);
    expect(json.status()).toBe(200);
    const body = await json.json();
    expect(body.rows).toHaveLength(1);
    expect(body.rows[0]).toMatchObject({ account_id: "biz-b", silent: true, waiting: 20 });
    const refused = await page.request.get(`${node.baseURL}/api/admin/accounts?sort=colour`);
    expect(refused.status()).toBe(400);
    expect(await refused.text()).toContain('unknown sort "colour"');

    // One account's page, from the table: why biz-b is silent, and biz-a's figures live.
    await page.goto(`${node.baseURL}/admin/accounts`);
    await page.getByRole("link", { name: "biz-b", exact: true }).click();
    await expect(page).toHaveURL(/\/admin\/accounts\/biz-b$/);
    await expect(page.getByTestId("silence")).toContainText(
      "Busy in the previous 24 hours (20 events; 20 make an account busy)",
    );
    await expect(page.getByTestId("events-24h")).toHaveText("20 events");
    await page.goto(`${node.baseURL}/admin/accounts/biz-a`);
    await expect(page.getByTestId("silence")).toHaveCount(0);
    const received = page.locator('[data-stat="received"] .stat-value');
    await expect(received).toHaveText("2");
    // The figures follow the stream (whose first frame already shows a newer store): a new DM
    // shows without a reload.
    await page.evaluate(() => ((window as unknown as { marker: number }).marker = 2));
    await at("biz-a", "third", Date.now());
    await expect(received).toHaveText("3", { timeout: 3_000 });
    expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(2);
    // Its waiting conversations, oldest first, live: "another" and "third" wait; answering
    // "another" leaves "third" alone on the list.
    const waiting = page.getByTestId("waiting-list").locator("tbody tr");
    await expect(waiting).toHaveCount(2);
    await expect(waiting.first()).toHaveAttribute("data-customer", "another");
    await at("biz-a", "another", Date.now(), true);
    await expect(waiting).toHaveCount(1, { timeout: 3_000 });
    await expect(waiting.first()).toHaveAttribute("data-customer", "third");
    await expect(page.getByTestId("waiting-summary")).toHaveText("1 waiting, oldest first.");
    // Its latest events, newest first and live: the answer just sent heads the list.
    const latest = page.getByTestId("latest-events").locator("tbody tr");
    await expect(latest.first()).toHaveAttribute("data-kind", "dm_sent");
    await expect(latest.first().locator("td").first()).toHaveText("DM sent");
    await expect(latest.first().locator("td").nth(2)).toHaveText("another");
    await expect(latest.nth(1)).toHaveAttribute("data-kind", "dm_received");
    // A display name, given on the page: shown beside the id, and found by the table's filter.
    await page.getByLabel("Shown beside the id").fill("Shop Lisbon");
    await page.getByRole("button", { name: "Save name" }).click();
    await expect(page.locator("h1")).toContainText("Shop Lisbon");
    await expect(page.getByTestId("account-id")).toHaveText("biz-a");
    await page.goto(`${node.baseURL}/admin/accounts?q=Lisbon`);
    await expect(page.locator("tbody tr")).toHaveCount(1);
    await expect(page.locator('tr[data-account="biz-a"] th a')).toHaveText("Shop Lisbon");
    await expect(page.locator('tr[data-account="biz-a"] .account-id')).toHaveText("biz-a");
    // The account over a date range: its own figures against the period before, and its CSV.
    await page.goto(`${node.baseURL}/admin/accounts/biz-a`);
    await page.getByRole("link", { name: "Last 7 days" }).click();
    await expect(page).toHaveURL(/\/admin\/accounts\/biz-a\?range=7d/);
    await expect(page.getByTestId("range-label")).toHaveText("Last 7 days");
    const rangeValue = (id: string) => page.locator(`[data-stat="${id}"] .stat-value`);
    await expect(rangeValue("dms-received")).toHaveText("3");
    await expect(rangeValue("dms-sent")).toHaveText("2");
    await expect(page.locator('[data-stat="refused"]')).toHaveCount(0);
    // Its own conversations with a DM in the range: quick, another and third.
    await expect(rangeValue("active-conversations")).toHaveText("3");
    await expect(page.locator(".range-chart svg g")).toHaveCount(7);
    const [csvFile] = await Promise.all([page.waitForEvent("download"), page.getByTestId("range-csv").click()]);
    const [csvHeader, ...csvRows] = readFileSync(await csvFile.path(), "utf8").trimEnd().split("\r\n");
    const csvColumns = csvHeader.split(",");
    expect(csvColumns).not.toContain("refused");
    expect(csvRows).toHaveLength(7);
    const csvReceived = csvRows.map((row) => Number(row.split(",")[csvColumns.indexOf("dms_received")]));
    expect(csvReceived.reduce((a, b) => a + b, 0)).toBe(3);
    // Each day's active conversations: a conversation with DMs on two days is in both.
    expect(csvColumns.at(-1)).toBe("active_conversations");
    const csvActive = csvRows.map((row) => Number(row.split(",").at(-1)));
    expect(csvActive.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(3);
    // Live again from the picker.
    await page.getByRole("link", { name: "Live", exact: true }).click();
    await expect(page).toHaveURL(/\/admin\/accounts\/biz-a$/);
    await expect(page.getByTestId("waiting-list")).toBeVisible();

    const missing = await page.goto(`${node.baseURL}/admin/accounts/biz-none`);
    expect(missing!.status()).toBe(404);
    await expect(page.getByText("No such account")).toBeVisible();
  } finally {
    await node.stop();
  }
});
