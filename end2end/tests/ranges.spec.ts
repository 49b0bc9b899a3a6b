import { readFileSync } from "node:fs";
import { expect, test } from "@playwright/test";
import { adminEmail, adminPassword } from "../playwright.config";
import { PulseNode } from "./processes";
import { logIn, parseCount, postSignedDm } from "./webhook";

// The browser's own zone is the default: this one's is Asia/Kolkata (+05:30).
test.use({ timezoneId: "Asia/Kolkata" });

const HOUR = 3_600_000;

// A node of its own: the figures of a range must be exactly this test's.
test("a range in the browser's zone, compared with the period before, live, as CSV, in another zone", async ({
  page,
  request,
}) => {
  const node = await PulseNode.start({});
  try {
    const dm = (at: number, echo = false, customer = "range-customer") =>
      postSignedDm(request, { baseURL: node.baseURL, customer, at, echo });
    const now = Date.now();
    // Two received and one sent in the last 24 hours, in two conversations; one received in the
    // 24 hours before.
    await dm(now - 30 * HOUR);
    await dm(now - 2 * HOUR, false, "range-other");
    await dm(now - 60_000);
    await dm(now - 30_000, true);

    // Logged in without opening the live page (which would remember the browser's zone at once),
    // then a bookmarked range with no zone in it: the page takes the browser's (Chromium says
    // Asia/Calcutta, the database's older name for Asia/Kolkata).
    const login = await page.request.post(`${node.baseURL}/api/auth/login`, {
      form: { email: adminEmail, password: adminPassword },
      maxRedirects: 0,
    });
    expect(login.status()).toBe(303);
    await page.goto(`${node.baseURL}/admin?range=24h`);
    await expect(page).toHaveURL(/range=24h&zone=Asia%2F(Kolkata|Calcutta)/);
    await expect(page.getByTestId("range-label")).toHaveText("Last 24 hours");
    await expect(page.getByTestId("range-zone")).toHaveText(
      /^Times in Asia\/(Kolkata|Calcutta) \(IST, UTC\+05:30\)$/,
    );
    const card = (id: string) => page.locator(`[data-stat="${id}"]`);
    await expect(card("dms-received").locator(".stat-value")).toHaveText("2");
    await expect(card("dms-received").getByTestId("change")).toHaveText("▲ 100 % vs 1");
    await expect(card("dms-sent").locator(".stat-value")).toHaveText("1");
    await expect(card("dms-sent").getByTestId("change")).toHaveText("no figure before vs 0");
    await expect(card("replies").locator(".stat-value")).toHaveText("1");
    await expect(card("active-conversations").locator(".stat-value")).toHaveText("2");
    await expect(card("active-conversations").getByTestId("change")).toHaveText("▲ 100 % vs 1");
    await expect(page.locator(".range-chart svg g")).toHaveCount(24);

    // The range reaches into the last 36 hours: a new DM shows within a second.
    await expect(page.getByTestId("still-changing")).toBeVisible();
    await page.waitForTimeout(500); // the stream is joined after hydration
    await dm(Date.now(), false, "range-third");
    await expect(card("dms-received").locator(".stat-value")).toHaveText("3", { timeout: 1_000 });
    await expect(card("active-conversations").locator(".stat-value")).toHaveText("3");

    // The CSV holds the same figures, one row per step.
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByTestId("range-csv").click(),
    ]);
    const csv = readFileSync(await download.path(), "utf8");
    const [header, ...rows] = csv.trimEnd().split("\r\n");
    const columns = header.split(",");
    expect(columns.slice(0, 4)).toEqual(["start", "end", "dms_received", "dms_sent"]);
    expect(rows).toHaveLength(24);
    const column = (name: string) =>
      rows.map((row) => Number(row.split(",")[columns.indexOf(name)])).reduce((a, b) => a + b, 0);
    expect(column("dms_received")).toBe(parseCount(await card("dms-received").locator(".stat-value").textContent()));
    expect(column("dms_sent")).toBe(1);
    // Each step's active conversations: the range's three, each counted in every step it has a DM in.
    expect(columns.at(-1)).toBe("active_conversations");
    expect(column("active_conversations")).toBeGreaterThanOrEqual(3);
    await expect(page.locator(".range-chart svg g title").last()).toContainText("conversations active");
    expect(rows[0].split(",")[0]).toMatch(/\+05:30$/);

    // The previous period over the chart: its one DM 30 hours ago, step beside step.
    await page.getByTestId("range-overlay").click();
    await expect(page).toHaveURL(/overlay=previous/);
    const received = page.getByTestId("overlay-received");
    await expect(received).toBeVisible();
    expect((await received.getAttribute("points"))?.split(" ")).toHaveLength(24);
    await expect(page.getByTestId("overlay").locator("title")).toHaveText("Previous period: 1 received, 0 sent");
    await expect(page.getByTestId("range-overlay")).toHaveText("Hide the previous period");
    await page.getByTestId("range-overlay").click();
    await expect(page.getByTestId("overlay")).toHaveCount(0);

    // Another zone, and another range: the address keeps both.
    await page.getByLabel("Time zone (IANA name, such as Europe/London)").fill("Asia/Kathmandu");
    await page.getByRole("button", { name: "Set zone" }).click();
    await expect(page.getByTestId("range-zone")).toHaveText("Times in Asia/Kathmandu (+0545, UTC+05:45)");
    await page.getByRole("link", { name: "Last 7 days" }).click();
    await expect(page).toHaveURL(/range=7d&zone=Asia%2FKathmandu/);
    await expect(page.getByTestId("range-label")).toHaveText("Last 7 days");
    await expect(page.locator(".range-chart svg g")).toHaveCount(7);
    await expect(card("dms-received").locator(".stat-value")).toHaveText("4");
    await expect(card("active-conversations").locator(".stat-value")).toHaveText("3");

    // Back to the live dashboard.
    await page.getByRole("link", { name: "Live", exact: true }).click();
    await expect(page.locator(".live-badge")).toHaveText("Live", { timeout: 10_000 });
  } finally {
    await node.stop();
  }
});

test("every range works without JavaScript, and a bad one says what is wrong", async ({ browser }) => {
  const node = await PulseNode.start({});
  try {
    const context = await browser.newContext({ javaScriptEnabled: false, timezoneId: "UTC" });
    const page = await context.newPage();
    await logIn(page, node.baseURL);
    await page.getByRole("link", { name: "Yesterday" }).click();
    await expect(page).toHaveURL(/\/admin\?range=yesterday$/);
    await expect(page.getByTestId("range-label")).toHaveText("Yesterday");
    await expect(page.getByTestId("range-zone")).toHaveText("Times in UTC (UTC, UTC+00:00)");
    await expect(page.locator(".range-chart svg g")).toHaveCount(24);

    await page.getByLabel("From").fill("2026-11-01");
    await page.getByLabel("to", { exact: true }).fill("2026-11-30");
    await page.getByRole("button", { name: "Show" }).click();
    await expect(page.getByTestId("range-label")).toHaveText("1 Nov 2026 – 30 Nov 2026");
    await expect(page.locator(".range-chart svg g")).toHaveCount(30);

    const response = await page.goto(`${node.baseURL}/admin?range=7d&zone=Mars/Olympus`);
    expect(response?.status()).toBe(400);
    await expect(page.getByRole("alert")).toHaveText(/unknown time zone "Mars\/Olympus"/);
    await context.close();
  } finally {
    await node.stop();
  }
});

test("the live view counts today in the admin's zone: the browser's until one is chosen, remembered, live", async ({
  browser,
  request,
}) => {
  test.setTimeout(240_000);
  const DAY = 24 * HOUR;
  const KATHMANDU = (5 * 60 + 45) * 60_000; // UTC+05:45
  // Not within three minutes of a midnight in UTC or Kathmandu: the DMs below stay in their days.
  const nearMidnight = (at: number) => at % DAY < 180_000 || (at + KATHMANDU) % DAY < 180_000;
  while (nearMidnight(Date.now())) await new Promise((done) => setTimeout(done, 30_000));
  const node = await PulseNode.start({});
  try {
    const dm = (at: number, customer: string) =>
      postSignedDm(request, { baseURL: node.baseURL, customer, at });
    const now = Date.now();
    const utcMidnight = Math.floor(now / DAY) * DAY;
    const kathmanduMidnight = Math.floor((now + KATHMANDU) / DAY) * DAY - KATHMANDU;
    // One DM a minute after the earlier of the two midnights: in that zone's today only.
    const kathmanduFirst = kathmanduMidnight < utcMidnight;
    await dm(Math.min(kathmanduMidnight, utcMidnight) + 60_000, "zone-early");
    await dm(now - 1_000, "zone-now");
    const kathmanduToday = kathmanduFirst ? 2 : 1;
    const utcToday = kathmanduFirst ? 1 : 2;

    // The admin never chose a zone: the browser's is taken, and remembered.
    const context = await browser.newContext({ timezoneId: "Asia/Kathmandu" });
    const page = await context.newPage();
    await logIn(page, node.baseURL);
    await expect(page.locator(".live-badge")).toHaveText("Live", { timeout: 10_000 });
    const today = page.locator('[data-stat="dms-received"] [data-detail="today"]');
    await expect(page.getByTestId("today-zone")).toHaveText(/^today: since midnight in Asia\/Kath?mandu$/);
    await expect(today).toHaveText(String(kathmanduToday));
    await expect(page.locator('[data-stat="dms-received"] .stat-value')).toHaveText("2");
    // Times in the same zone: the last event and the chart's minutes (UTC+05:45).
    await expect(page.getByTestId("last-event")).toHaveText(/ Asia\/Kath?mandu$/);
    const clock = (at: number) => {
      const here = new Date(Math.floor(at / 60_000) * 60_000 + KATHMANDU);
      return `${String(here.getUTCHours()).padStart(2, "0")}:${String(here.getUTCMinutes()).padStart(2, "0")}`;
    };
    // The snapshot's minute, or the one before when the minute turned meanwhile.
    const minutes = `^(${clock(Date.now())}|${clock(Date.now() - 60_000)})$`;
    await expect(page.locator(".minute-chart .ticks span").last()).toHaveText(new RegExp(minutes));

    // Live: a new DM shows in the zone's today within a second.
    await page.waitForTimeout(500); // the stream is joined after hydration
    const liveAt = Date.now();
    await dm(liveAt, "zone-live");
    await expect(today).toHaveText(String(kathmanduToday + 1), { timeout: 1_000 });

    // Remembered for the admin: another browser, in UTC and without JavaScript, shows the same day.
    const plain = await browser.newContext({ javaScriptEnabled: false, timezoneId: "UTC" });
    const plainPage = await plain.newPage();
    await logIn(plainPage, node.baseURL);
    await expect(plainPage.getByTestId("today-zone")).toHaveText(/^today: since midnight in Asia\/Kath?mandu$/);
    await expect(plainPage.locator('[data-stat="dms-received"] [data-detail="today"]')).toHaveText(
      String(kathmanduToday + 1),
    );
    await plain.close();

    // The accounts table, its CSV and the account's page count today in the same zone, from its
    // midnight (the accounts' quarter-hours), and say so.
    const accountsToday = String(kathmanduToday + 1);
    await page.goto(`${node.baseURL}/admin/accounts`);
    await expect(page.getByTestId("accounts-summary")).toContainText(/today: since midnight in Asia\/Kath?mandu/);
    const accountRow = page.locator('tr[data-account="e2e-biz"]');
    await expect(accountRow.locator('[data-col="received"]')).toHaveText(accountsToday);
    await expect(page.getByTestId("accounts-csv")).toHaveAttribute("href", /zone=Asia%2FKath?mandu/);
    const [accountsCsv] = await Promise.all([
      page.waitForEvent("download"),
      page.getByTestId("accounts-csv").click(),
    ]);
    const csvLines = readFileSync(await accountsCsv.path(), "utf8").trimEnd().split("\r\n");
    expect(csvLines).toHaveLength(2);
    expect(csvLines[1].split(",").slice(0, 2)).toEqual(["e2e-biz", accountsToday]);
    await accountRow.locator("th a").click();
    await expect(page.getByTestId("account-today")).toContainText(/ in Asia\/Kath?mandu/);
    // Its chart's hours are Kathmandu's: they begin at a quarter to the hour.
    await expect(page.getByTestId("chart-zone")).toHaveText(/^Times in Asia\/Kath?mandu$/);
    await expect(page.locator(".account__chart rect title").last()).toHaveText(/^\d\d:45: \d+ events$/);
    await expect(page.locator('[data-stat="received"] .stat-value')).toHaveText(accountsToday);
    await page.goto(`${node.baseURL}/admin`);
    await expect(page.locator(".live-badge")).toHaveText("Live", { timeout: 10_000 });

    // Chosen on the page: UTC's day.
    await page.getByLabel("Time zone (IANA name, such as Europe/London)").fill("UTC");
    await page.getByRole("button", { name: "Set zone" }).click();
    await expect(page).toHaveURL(/\/admin\?.*zone=UTC/);
    await expect(page.getByTestId("today-zone")).toHaveText("today: since midnight in UTC");
    await expect(today).toHaveText(String(utcToday + 1));

    // A zone that does not exist is a 400 that names it.
    const response = await page.goto(`${node.baseURL}/admin?zone=Mars/Olympus`);
    expect(response?.status()).toBe(400);
    await expect(page.getByRole("alert")).toHaveText(/unknown time zone "Mars\/Olympus"/);
    await context.close();
  } finally {
    await node.stop();
  }
});
