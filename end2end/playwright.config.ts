import { defineConfig } from "@playwright/test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

// The server under test: the release binary built by `cargo leptos build
// --release`, on a free port chosen by run-tests.sh, with a fresh data
// directory and known webhook secrets so the tests can sign deliveries.
const port = process.env.E2E_PORT ?? "39173";
export const baseURL = `http://127.0.0.1:${port}`;
export const appSecret = "e2e-app-secret";
export const adminEmail = "admin@e2e.example";
export const adminPassword = "e2e admin password";
const dataDir = process.env.E2E_DATA_DIR ?? mkdtempSync(join(tmpdir(), "pulse-e2e-"));

export default defineConfig({
  testDir: "./tests",
  timeout: 30_000,
  fullyParallel: false,
  workers: 1,
  forbidOnly: !!process.env.CI,
  retries: 0,
  reporter: [["list"]],
  use: {
    baseURL,
    trace: "retain-on-failure",
  },
  projects: [
    {
      name: "chromium",
      use: {
        browserName: "chromium",
        launchOptions: {
          // Debian's Chromium: Playwright's own browser download is not possible here.
          executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
          args: [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
          ],
        },
      },
    },
  ],
  webServer: {
    command: "../target/release/pulse serve",
    url: `${baseURL}/api/admin/stats`,
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: "pipe",
    stderr: "pipe",
    env: {
      LEPTOS_SITE_ADDR: `127.0.0.1:${port}`,
      LEPTOS_SITE_ROOT: "../target/site",
      PULSE_DATA_DIR: dataDir,
      IG_APP_SECRET: appSecret,
      IG_VERIFY_TOKEN: "e2e-verify-token",
      PULSE_ADMIN_EMAIL: adminEmail,
      PULSE_ADMIN_PASSWORD: adminPassword,
      RUST_LOG: "info",
    },
  },
});
