// How long the dashboard takes to hydrate after a navigation, in headless
// Chromium (Debian's). Run by `pulse-loadtest`, which starts the server and
// logs in; this prints one JSON line: {"cold": [ms...], "warm": [ms...]}.
//
// "Hydrated" is the `pulse:dashboard-hydrated` performance mark, set by the
// dashboard's first effect once its view is hydrated; its time is measured
// from the start of the navigation. Each load gets a fresh browser context
// (empty HTTP cache: "cold"), then the same page is loaded again in that
// context ("warm").
//
// Environment: PULSE_URL (e.g. http://127.0.0.1:3000), PULSE_COOKIE (the
// session cookie, `pulse_session=…`), LOADS (default 10), CHROMIUM_PATH.
import { chromium } from "@playwright/test";

const MARK = "pulse:dashboard-hydrated";
const url = required("PULSE_URL");
const [cookieName, cookieValue] = splitCookie(required("PULSE_COOKIE"));
const loads = Number(process.env.LOADS ?? 10);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
});
const cold = [];
const warm = [];
try {
  for (let i = 0; i < loads; i++) {
    const context = await browser.newContext();
    await context.addCookies([{ name: cookieName, value: cookieValue, url }]);
    const page = await context.newPage();
    const seen = watch(page);
    cold.push(await msToHydrated(page, seen));
    warm.push(await msToHydrated(page, seen));
    await context.close();
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify({ cold, warm }));

// What the page said (console, uncaught errors, failed requests), kept so
// that a load that never hydrates can say why.
function watch(page) {
  const seen = [];
  page.on("console", (message) => seen.push(`console ${message.type()}: ${message.text()}`));
  page.on("pageerror", (error) => seen.push(`page error: ${error.message}`));
  page.on("requestfailed", (request) =>
    seen.push(`request failed: ${request.url()} ${request.failure()?.errorText ?? ""}`),
  );
  return seen;
}

async function msToHydrated(page, seen) {
  seen.length = 0;
  const response = await page.goto(`${url}/admin`);
  if (!page.url().endsWith("/admin")) {
    throw new Error(`expected the dashboard, the browser is at ${page.url()}`);
  }
  try {
    const mark = await page.waitForFunction(
      (name) => performance.getEntriesByName(name)[0]?.startTime,
      MARK,
      { timeout: 15_000 },
    );
    return mark.jsonValue();
  } catch (error) {
    const state = await page
      .evaluate(() => ({
        badge: document.querySelector(".live-badge")?.textContent,
        resources: performance
          .getEntriesByType("resource")
          .map((entry) => `${entry.name} ${Math.round(entry.duration)} ms ${entry.transferSize} B`),
      }))
      .catch((reason) => ({ unreadable: String(reason) }));
    const answer = response && {
      status: response.status(),
      headers: await response.headersArray(),
      fromCache: response.request().timing().responseStart <= 0,
    };
    throw new Error(
      `no hydration mark within 15 s: ${JSON.stringify(state)}; the page's answer: ` +
        `${JSON.stringify(answer)}; the page said: ${JSON.stringify(seen)}`,
      { cause: error },
    );
  }
}

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`hydration.mjs: ${name} is not set`);
    process.exit(2);
  }
  return value;
}

function splitCookie(cookie) {
  const at = cookie.indexOf("=");
  if (at < 1) {
    console.error("hydration.mjs: PULSE_COOKIE must look like name=value");
    process.exit(2);
  }
  return [cookie.slice(0, at), cookie.slice(at + 1)];
}
