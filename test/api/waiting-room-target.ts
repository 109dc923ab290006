// What the waiting room's contract tests run against: the in-process server of the harness (one
// worker, a clock the test can move, and the store STAMPEDE_TEST_STORE names), or `stampede serve`
// as a child process with two workers, where a sale's owner is often not the worker that answers.

import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { AdmissionTokens } from "../../src/auth/admission-token.ts";
import { signWebhook } from "../../src/auth/webhook-signature.ts";
import { tokenFor } from "../support/buyers.ts";
import { SECRETS, startHarness, tempDir } from "../support/harness.ts";
import { spawnServer } from "../support/process.ts";

export type Target = {
  name: string;
  url: string;
  admin(method: string, path: string, body?: unknown): Promise<Response>;
  buyer(userId: string, method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Response>;
  webhook(body: unknown): Promise<Response>;
  /** Tokens made with the server's own admission key (read from its data dir). */
  tokens(): AdmissionTokens;
  /** Move the server's clock forward (the in-process server only). */
  advance?: (ms: number) => void;
  close(): Promise<void>;
};

function call(url: string, method: string, path: string, authorization: string, body?: unknown, headers: Record<string, string> = {}) {
  return fetch(`${url}${path}`, {
    method,
    headers: { authorization, ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

function tokensOf(dataDir: string): AdmissionTokens {
  const stored = JSON.parse(readFileSync(join(dataDir, "admission-secret.json"), "utf8")) as { STAMPEDE_ADMISSION_SECRET: string };
  return new AdmissionTokens(stored.STAMPEDE_ADMISSION_SECRET);
}

export async function inProcess(env: Record<string, string> = {}): Promise<Target> {
  let offset = 0;
  const h = await startHarness({ env, clock: () => Date.now() + offset });
  return {
    name: "1 worker",
    url: h.url,
    admin: h.admin,
    buyer: h.buyer,
    webhook: (body) => h.webhook(body),
    tokens: () => tokensOf(h.dataDir),
    advance: (ms) => {
      offset += ms;
    },
    close: () => h.close(),
  };
}

export async function twoWorkers(): Promise<Target> {
  const dataDir = tempDir();
  const server = await spawnServer(dataDir, { STAMPEDE_WORKERS: "2" });
  while (server.workerPids().size < 2) await Bun.sleep(20);
  const url = server.url;
  return {
    name: "2 workers",
    url,
    admin: (method, path, body) => call(url, method, path, `Bearer ${SECRETS.STAMPEDE_ADMIN_TOKEN}`, body),
    buyer: (userId, method, path, body, headers) => call(url, method, path, `Bearer ${tokenFor(userId)}`, body, headers),
    webhook(body) {
      const raw = JSON.stringify(body);
      const signature = signWebhook(SECRETS.STAMPEDE_WEBHOOK_SECRET, raw, Math.floor(Date.now() / 1000));
      return fetch(`${url}/v1/webhooks/payments`, { method: "POST", headers: { "content-type": "application/json", "stampede-signature": signature }, body: raw });
    },
    tokens: () => tokensOf(dataDir),
    async close() {
      for (const pid of server.workerPids().values()) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {}
      }
      await server.kill("SIGKILL");
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A sale open since a minute ago, for an hour, with one plain item, and the waiting room given. */
export function roomSale(id: string, waitingRoom: unknown, overrides: Record<string, unknown> = {}) {
  const now = Date.now();
  return {
    id,
    name: `Room ${id}`,
    startsAt: new Date(now - 60_000).toISOString(),
    endsAt: new Date(now + 3_600_000).toISOString(),
    limitPerUser: 1,
    items: [{ id: "tee", name: "Tee", price: 2500, currency: "USD", stock: 100 }],
    waitingRoom,
    ...overrides,
  };
}

export type QueueBody = {
  status: "waiting" | "admitted" | "sold_out" | "not_joined";
  position?: number;
  estimatedWaitSeconds?: number;
  admissionToken?: string;
  admissionExpiresAt?: string;
};

/** Poll until `done` says so (or the time runs out), returning the last answer. */
export async function pollUntil(t: Target, userId: string, saleId: string, done: (body: QueueBody) => boolean, timeoutMs = 10_000): Promise<QueueBody> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const response = await t.buyer(userId, "GET", `/v1/sales/${saleId}/queue`);
    const body = (await response.json()) as QueueBody;
    if (done(body) || Date.now() > deadline) return body;
    await Bun.sleep(50);
  }
}
