import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { adminEmail, adminPassword, appSecret } from "../playwright.config";

/** A loopback port nobody listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Whether something accepts TCP connections on the loopback `port`. */
async function accepts(port: number): Promise<boolean> {
  const { Socket } = await import("node:net");
  return new Promise<boolean>((resolve) => {
    const socket = new Socket();
    socket.once("error", () => resolve(false));
    socket.connect(port, "127.0.0.1", () => {
      socket.destroy();
      resolve(true);
    });
  });
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${what} did not come up within ${timeoutMs} ms`);
}

/** The test's own `redis-server`, which it can kill and start again on the same port. */
export class RedisServer {
  private process: ChildProcess | null = null;
  private constructor(readonly port: number) {}

  static async start(): Promise<RedisServer> {
    const server = new RedisServer(await freePort());
    await server.restart();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async restart() {
    this.process = spawn(
      "redis-server",
      ["--port", String(this.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
      { stdio: "ignore" },
    );
    await waitFor("redis-server", async () => {
      const { Socket } = await import("node:net");
      return new Promise<boolean>((resolve) => {
        const socket = new Socket();
        socket.once("error", () => resolve(false));
        socket.connect(this.port, "127.0.0.1", () => {
          socket.write("PING\r\n");
          socket.once("data", (data) => {
            socket.destroy();
            resolve(data.toString().startsWith("+PONG"));
          });
        });
      });
    });
  }

  /** SIGKILL: the server vanishes without a word to its clients. */
  async kill() {
    const process = this.process;
    this.process = null;
    if (!process || process.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      process.once("exit", () => resolve());
      process.kill("SIGKILL");
    });
  }
}

/** A `pulse serve` process (the release build) with its own data directory and port. */
export class PulseNode {
  private constructor(
    private readonly process: ChildProcess,
    readonly baseURL: string,
  ) {}

  /** Starts a node; with `PULSE_TLS_CERT` in `env` it serves HTTPS. */
  static async start(env: Record<string, string>): Promise<PulseNode> {
    const port = await freePort();
    const scheme = env.PULSE_TLS_CERT ? "https" : "http";
    const process = spawn("../target/release/pulse", ["serve"], {
      stdio: "ignore",
      env: {
        ...globalThis.process.env,
        LEPTOS_SITE_ADDR: `127.0.0.1:${port}`,
        LEPTOS_SITE_ROOT: "../target/site",
        PULSE_DATA_DIR: mkdtempSync(join(tmpdir(), "pulse-e2e-node-")),
        IG_APP_SECRET: appSecret,
        IG_VERIFY_TOKEN: "e2e-verify-token",
        PULSE_ADMIN_EMAIL: adminEmail,
        PULSE_ADMIN_PASSWORD: adminPassword,
        ...env,
      },
    });
    const node = new PulseNode(process, `${scheme}://127.0.0.1:${port}`);
    if (scheme === "http") {
      await waitFor("pulse", async () => (await fetch(`${node.baseURL}/healthz`)).ok);
    } else {
      // Node's fetch would refuse the test's own certificate: wait for the port.
      await waitFor("pulse", () => accepts(port));
    }
    return node;
  }

  async stop() {
    if (this.process.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      this.process.once("exit", () => resolve());
      this.process.kill("SIGTERM");
    });
  }
}
