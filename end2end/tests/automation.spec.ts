import { expect, test } from "@playwright/test";
import { PulseNode } from "./processes";
import { logIn, postSignedDm } from "./webhook";

// A node of its own: the suite's shared server has conversations of other tests.
test("replies and waiting customers show live, with a warning past the threshold", async ({ page, request }) => {
  const node = await PulseNode.start({});
  try {
    await logIn(page, node.baseURL);
    await expect(page.locator(".live-badge")).toHaveText("Live", { timeout: 10_000 });
    const replies = page.locator('[data-stat="replies"]');
    const waiting = page.locator('[data-stat="waiting"]');
    await expect(replies.locator(".stat-value")).toHaveText("–");
    await expect(waiting.locator(".stat-value")).toHaveText("0");
    await expect(page.getByTestId("waiting-warning")).toHaveCount(0);

    // A received DM answered 30 s later (event time), posted after the page loaded.
    const base = { baseURL: node.baseURL, account: "biz-a" };
    const now = Date.now();
    await postSignedDm(request, { ...base, customer: "quick", at: now - 60_000 });
    await postSignedDm(request, { ...base, customer: "quick", at: now - 30_000, echo: true });
    await expect(replies.locator(".stat-value")).toHaveText("30 s", { timeout: 1_000 });
    await expect(replies.locator('[data-detail="replies"]')).toHaveText("1");

    // An unanswered DM from 10 minutes ago: one customer waiting past 5 min.
    await postSignedDm(request, { ...base, customer: "forgotten", at: now - 10 * 60_000 });
    await expect(waiting.locator(".stat-value")).toHaveText("1", { timeout: 1_000 });
    await expect(waiting.locator('[data-detail="over-threshold"]')).toHaveText("1");
    await expect(waiting.locator('[data-detail="oldest"]')).toHaveText(/^(9|10) min$/);
    await expect(waiting).toHaveClass(/stat-card--warning/);
    await expect(page.getByTestId("waiting-warning")).toHaveText(/1 customer has waited more than 5 min/);

    // The reply ends the wait and the warning.
    await postSignedDm(request, { ...base, customer: "forgotten", echo: true });
    await expect(waiting.locator(".stat-value")).toHaveText("0", { timeout: 1_000 });
    await expect(page.getByTestId("waiting-warning")).toHaveCount(0);
    await expect(replies.locator('[data-detail="replies"]')).toHaveText("2");
  } finally {
    await node.stop();
  }
});
