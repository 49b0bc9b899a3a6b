import { createHmac, randomUUID } from "node:crypto";
import { expect, type APIRequestContext, type Page } from "@playwright/test";
import { adminEmail, adminPassword, appSecret } from "../playwright.config";

/** Logs in through the form, as an admin would; ends on the dashboard. */
export async function logIn(page: Page, baseURL = "") {
  await page.goto(`${baseURL}/login`);
  await page.getByLabel("Email").fill(adminEmail);
  await page.getByLabel("Password").fill(adminPassword);
  await page.getByRole("button", { name: "Log in" }).click();
  await expect(page).toHaveURL(/\/admin$/);
}

/** Logs the API request context in (it keeps the session cookie). */
export async function logInApi(request: APIRequestContext) {
  const response = await request.post("/api/auth/login", {
    form: { email: adminEmail, password: adminPassword },
    maxRedirects: 0,
  });
  expect(response.status()).toBe(303);
}

/** Posts `body` signed with the app secret, as Instagram would, and checks it was accepted. */
export async function postSigned(request: APIRequestContext, body: string, baseURL = "") {
  const signature = "sha256=" + createHmac("sha256", appSecret).update(body).digest("hex");
  const response = await request.post(`${baseURL}/api/webhooks/instagram`, {
    data: body,
    headers: { "content-type": "application/json", "x-hub-signature-256": signature },
  });
  if (response.status() !== 200) {
    throw new Error(`webhook refused: ${response.status()} ${await response.text()}`);
  }
}

/** Posts one comment on the business account's media, in the `changes` envelope. */
export async function postSignedComment(request: APIRequestContext) {
  const now = Math.floor(Date.now() / 1000);
  await postSigned(
    request,
    JSON.stringify({
      object: "instagram",
      entry: [
        {
          id: "e2e-biz",
          time: now,
          changes: [
            {
              field: "comments",
              value: {
                id: `e2e-comment-${randomUUID()}`,
                from: { id: "e2e-fan", username: "e2e.fan" },
                media: { id: "e2e-media", media_product_type: "FEED" },
                text: "Where can I buy this? \u00bfPrecio?",
              },
            },
          ],
        },
      ],
    }),
  );
}

/** What `postSignedDm` sends: by default a DM received now by `e2e-biz` from `e2e-customer`. */
export interface DmOptions {
  /** Sent by the business (an echo) instead of received. */
  echo?: boolean;
  /** The business account. */
  account?: string;
  /** The customer. */
  customer?: string;
  /** Event time (Unix ms); now by default. */
  at?: number;
  /** The server, when not the suite's own. */
  baseURL?: string;
}

/** Posts one signed DM delivery, as Instagram would, and checks it was accepted. */
export async function postSignedDm(request: APIRequestContext, options: DmOptions = {}) {
  const echo = options.echo ?? false;
  const account = options.account ?? "e2e-biz";
  const customer = options.customer ?? "e2e-customer";
  const now = options.at ?? Date.now();
  const [sender, recipient] = echo ? [account, customer] : [customer, account];
  const body = JSON.stringify({
    object: "instagram",
    entry: [
      {
        id: account,
        time: now,
        messaging: [
          {
            sender: { id: sender },
            recipient: { id: recipient },
            timestamp: now,
            message: { mid: `e2e-${randomUUID()}`, text: "hello from the end-to-end test", is_echo: echo },
          },
        ],
      },
    ],
  });
  await postSigned(request, body, options.baseURL);
}

/** The number shown on a stat card, as an integer. */
export function parseCount(text: string | null): number {
  return Number((text ?? "").replace(/,/g, ""));
}
