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
    cold.push(await msToHydrated(page));
    warm.push(await msToHydrated(page));
    await context.close();
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify({ cold, warm }));

async function msToHydrated(page) {
  await page.goto(`${url}/admin`);
  if (!page.url().endsWith("/admin")) {
    throw new Error(`expected the dashboard, the browser is at ${page.url()}`);
  }
  const mark = await page.waitForFunction(
    (name) => performance.getEntriesByName(name)[0]?.startTime,
    MARK,
    { timeout: 15_000 },
  );
  return mark.jsonValue();
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
