// Test harness: a real server on a fresh port and a fresh data dir, with known secrets, plus small
// helpers to call the API as an operator, a buyer or the payment provider.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { signBuyerToken } from "../../src/auth/buyer-token.ts";
import { signWebhook } from "../../src/auth/webhook-signature.ts";
import { type Config, loadConfig } from "../../src/config.ts";
import { type RunningServer, startServer } from "../../src/server.ts";
import { createTestDatabase } from "../postgres/test-database.ts";

export const SECRETS = {
  STAMPEDE_ADMIN_TOKEN: "test-admin-token-0123456789abcdef",
  STAMPEDE_JWT_SECRET: "test-jwt-secret-0123456789abcdef0123456789",
  STAMPEDE_WEBHOOK_SECRET: "test-webhook-secret-0123456789abcdef",
};

export function tempDir(prefix = "stampede-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export type Harness = {
  server: RunningServer;
  url: string;
  dataDir: string;
  config: Config;
  admin(method: string, path: string, body?: unknown): Promise<Response>;
  buyer(userId: string, method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Response>;
  webhook(body: unknown, options?: { t?: number; secret?: string }): Promise<Response>;
  token(userId: string, ttlSeconds?: number): string;
  restart(): Promise<void>;
  close(): Promise<void>;
};

export async function startHarness(
  options: { env?: Record<string, string>; dataDir?: string; clock?: () => number } = {},
): Promise<Harness> {
  const dataDir = options.dataDir ?? tempDir();
  // STAMPEDE_TEST_STORE=postgres runs the same tests with PostgreSQL as the system of record, each
  // harness in a database of its own.
  const database =
    process.env.STAMPEDE_TEST_STORE === "postgres" && options.env?.DATABASE_URL === undefined
      ? await createTestDatabase("stampede_api")
      : null;
  const env = {
    ...(database === null ? {} : { DATABASE_URL: database.url }),
    ...SECRETS,
    STAMPEDE_DATA_DIR: dataDir,
    PORT: "0",
    HOST: "127.0.0.1",
    STAMPEDE_RATE_LIMIT_BUYER: "0",
    STAMPEDE_RATE_LIMIT_ADDRESS: "0",
    ...options.env,
  };
  const config = loadConfig([], env);
  const start = () => startServer(config, { env, ...(options.clock ? { clock: options.clock } : {}) });
  let server = await start();
  const call = (method: string, path: string, authorization: string | null, body?: unknown, headers = {}) =>
    fetch(`${server.url}${path}`, {
      method,
      headers: {
        ...(authorization === null ? {} : { authorization }),
        ...(body === undefined ? {} : { "content-type": "application/json" }),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
  const token = (userId: string, ttlSeconds = 3600) => signBuyerToken(SECRETS.STAMPEDE_JWT_SECRET, userId, ttlSeconds);
  const harness: Harness = {
    server,
    get url() {
      return server.url;
    },
    dataDir,
    config,
    admin: (method, path, body) => call(method, path, `Bearer ${SECRETS.STAMPEDE_ADMIN_TOKEN}`, body),
    buyer: (userId, method, path, body, headers) => call(method, path, `Bearer ${token(userId)}`, body, headers),
    webhook(body, opts = {}) {
      const raw = typeof body === "string" ? body : JSON.stringify(body);
      const t = opts.t ?? Math.floor(Date.now() / 1000);
      const signature = signWebhook(opts.secret ?? SECRETS.STAMPEDE_WEBHOOK_SECRET, raw, t);
      return fetch(`${server.url}/v1/webhooks/payments`, {
        method: "POST",
        headers: { "content-type": "application/json", "stampede-signature": signature },
        body: raw,
      });
    },
    token,
    async restart() {
      await server.stop();
      server = await start();
      harness.server = server;
    },
    async close() {
      await server.stop();
      await database?.drop();
      if (options.dataDir === undefined) rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return harness;
}

/** A sale open now for an hour, with a plain item and a codes item. */
export function saleBody(id: string, overrides: Record<string, unknown> = {}) {
  const now = Date.now();
  return {
    id,
    name: `Sale ${id}`,
    startsAt: new Date(now - 60_000).toISOString(),
    endsAt: new Date(now + 3_600_000).toISOString(),
    holdSeconds: 600,
    limitPerUser: 2,
    items: [
      { id: "hoodie-m", name: "Hoodie M", price: 4900, currency: "USD", stock: 10 },
      { id: "gift-50", name: "Gift card 50", price: 5000, currency: "USD", delivery: "codes" },
    ],
    ...overrides,
  };
}
