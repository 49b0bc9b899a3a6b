import { expect, request as playwrightRequest, test, type APIRequestContext, type Page } from "@playwright/test";
import { PulseNode } from "./processes";
import { logIn, parseCount, postSignedDm } from "./webhook";

/** `pulse_sse_clients` from the node's `/metrics`, read with the admin's session. */
async function openStreams(request: APIRequestContext, baseURL: string): Promise<number> {
  const text = await (await request.get(`${baseURL}/metrics`)).text();
  const line = text.split("\n").find((row) => row.startsWith("pulse_sse_clients "));
  return Number(line?.split(" ")[1] ?? NaN);
}

const received = (page: Page) => page.locator('[data-stat="dms-received"] .stat-value');

// Chromium's renderer crashed once ("Page crashed", no console error, no
// assertion failed) in about twenty runs of this test, during `make test`,
// while eight tabs navigated to the login page at once. (Looking for it under
// load found a real race instead, now fixed: a follower could become leader
// after the logout and report "expired".) The tests of this file get one
// retry, and Playwright reports one that needed it as flaky; the crash's
// cause is not known yet.
test.describe.configure({ retries: 1 });

// A node of its own, so that its stream count is this browser's alone.
test("eight dashboard tabs share one stream; the rest stay live when the leader closes; logout anywhere ends them all", async ({
  browser,
}) => {
  test.setTimeout(90_000);
  const node = await PulseNode.start({});
  const context = await browser.newContext({ baseURL: node.baseURL });
  const api = await playwrightRequest.newContext({ baseURL: node.baseURL });
  try {
    const first = await context.newPage();
    await logIn(first, node.baseURL);
    const tabs = [first];
    for (let i = 1; i < 8; i++) {
      const tab = await context.newPage();
      await tab.goto("/admin");
      tabs.push(tab);
    }
    for (const tab of tabs) {
      await expect(tab.locator(".live-badge")).toHaveText("Live", { timeout: 10_000 });
    }
    await expect.poll(() => openStreams(context.request, node.baseURL), { timeout: 5_000 }).toBe(1);

    const before = parseCount(await received(first).textContent());
    await postSignedDm(api);
    for (const tab of tabs) {
      await expect(received(tab)).toHaveText((before + 1).toLocaleString("en-US"), { timeout: 1_000 });
    }

    // The first tab took the lock first: it leads. Close it and three more.
    for (const tab of tabs.splice(0, 4)) {
      await tab.close();
    }
    await postSignedDm(api);
    for (const tab of tabs) {
      await expect(received(tab)).toHaveText((before + 2).toLocaleString("en-US"), { timeout: 2_000 });
      await expect(tab.locator(".live-badge")).toHaveText("Live");
    }
    await expect.poll(() => openStreams(context.request, node.baseURL), { timeout: 5_000 }).toBe(1);

    // Logging out in a follower sends every tab to the login page.
    await tabs[2].getByRole("button", { name: "Log out" }).click();
    for (const tab of tabs) {
      await expect(tab).toHaveURL(/\/login\?reason=logged_out$/, { timeout: 5_000 });
    }
  } finally {
    await api.dispose();
    await context.close();
    await node.stop();
  }
});

test("a frozen leader tab is stood in for: a follower shows a webhook within 5 s, and one stream is left once it wakes", async ({
  browser,
}) => {
  test.setTimeout(60_000);
  const node = await PulseNode.start({});
  const context = await browser.newContext({ baseURL: node.baseURL });
  const api = await playwrightRequest.newContext({ baseURL: node.baseURL });
  try {
    const leader = await context.newPage();
    await logIn(leader, node.baseURL);
    await expect(leader.locator(".live-badge")).toHaveText("Live", { timeout: 10_000 });
    const follower = await context.newPage();
    await follower.goto("/admin");
    await expect(follower.locator(".live-badge")).toHaveText("Live", { timeout: 10_000 });
    await expect.poll(() => openStreams(context.request, node.baseURL), { timeout: 5_000 }).toBe(1);

    // The leader stops running, as a background tab the browser freezes: it
    // keeps its Web Lock and says nothing more. (Page.setWebLifecycleState
    // "frozen" leaves a visible headless page running, so the page's script
    // is paused in the debugger instead: nothing of it runs until resumed.)
    const cdp = await context.newCDPSession(leader);
    await cdp.send("Debugger.enable");
    await cdp.send("Debugger.pause");
    const before = parseCount(await received(follower).textContent());
    const frozenAt = Date.now();
    await postSignedDm(api);
    await expect(received(follower)).toHaveText((before + 1).toLocaleString("en-US"), { timeout: 5_000 });
    await expect(follower.locator(".live-badge")).toHaveText("Live");
    // The follower streams for the silent leader (whose own stream stays open).
    await expect.poll(() => openStreams(context.request, node.baseURL), { timeout: 5_000 }).toBe(2);
    console.log(`the follower showed the webhook ${Date.now() - frozenAt} ms after the leader froze`);

    // It wakes: the stand-in steps down, and the tabs share one stream again.
    await cdp.send("Debugger.resume");
    await expect.poll(() => openStreams(context.request, node.baseURL), { timeout: 10_000 }).toBe(1);
    await postSignedDm(api);
    for (const tab of [leader, follower]) {
      await expect(received(tab)).toHaveText((before + 2).toLocaleString("en-US"), { timeout: 3_000 });
    }
  } finally {
    await api.dispose();
    await context.close();
    await node.stop();
  }
});

test("where Web Locks are missing, each tab keeps its own stream and stays live", async ({ browser }) => {
  test.setTimeout(60_000);
  const node = await PulseNode.start({});
  const context = await browser.newContext({ baseURL: node.baseURL });
  // A browser without the Web Locks API.
  await context.addInitScript(() => {
    Object.defineProperty(Navigator.prototype, "locks", { get: () => undefined, configurable: true });
  });
  const api = await playwrightRequest.newContext({ baseURL: node.baseURL });
  try {
    const first = await context.newPage();
    await logIn(first, node.baseURL);
    const second = await context.newPage();
    await second.goto("/admin");
    for (const tab of [first, second]) {
      await expect(tab.locator(".live-badge")).toHaveText("Live", { timeout: 10_000 });
    }
    await expect.poll(() => openStreams(context.request, node.baseURL), { timeout: 5_000 }).toBe(2);
    const before = parseCount(await received(first).textContent());
    await postSignedDm(api);
    for (const tab of [first, second]) {
      await expect(received(tab)).toHaveText((before + 1).toLocaleString("en-US"), { timeout: 1_000 });
    }
  } finally {
    await api.dispose();
    await context.close();
    await node.stop();
  }
});
