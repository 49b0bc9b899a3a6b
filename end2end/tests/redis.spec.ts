import { expect, request as playwrightRequest, test } from "@playwright/test";
import { PulseNode, RedisServer } from "./processes";
import { logIn, parseCount, postSignedDm } from "./webhook";

// A node of its own with Redis, so the shared server of the other tests stays embedded.
test("the badge follows Redis going down and coming back, and the numbers keep moving", async ({ page }) => {
  test.setTimeout(60_000);
  const redis = await RedisServer.start();
  const node = await PulseNode.start({ REDIS_URL: redis.url, STATS_DB_POLL_S: "2" });
  const api = await playwrightRequest.newContext({ baseURL: node.baseURL });
  try {
    const badge = page.locator(".live-badge");
    const received = page.locator('[data-stat="dms-received"] .stat-value');
    await logIn(page, node.baseURL);
    await expect(badge).toHaveText("Live", { timeout: 10_000 });
    await expect(badge).toHaveAttribute("data-mode", "pubsub");
    const before = parseCount(await received.textContent());

    await redis.kill();
    await expect(badge).toHaveText("Redis down, polling every 2 s", { timeout: 10_000 });
    await expect(badge).toHaveAttribute("data-state", "degraded");
    await postSignedDm(api);
    await expect(received).toHaveText((before + 1).toLocaleString("en-US"), { timeout: 2_000 });

    await redis.restart();
    await expect(badge).toHaveText("Live", { timeout: 10_000 });
    await expect(badge).toHaveAttribute("data-mode", "pubsub");
    await postSignedDm(api);
    await expect(received).toHaveText((before + 2).toLocaleString("en-US"), { timeout: 1_000 });
  } finally {
    await api.dispose();
    await node.stop();
    await redis.kill();
  }
});
