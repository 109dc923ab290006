// Node mode under test: several `stampede serve` processes on loopback, each a node of one service on
// one PostgreSQL (a fresh database per test file). Killing a node kills its supervisor and its
// workers at once with SIGKILL: the machine is gone. Buyers race holds against every node, with an
// Idempotency-Key each and the careful client's retry of an unknown outcome, so that every unit held
// in the end is one some client was told about.

import type { Subprocess } from "bun";
import { tokenFor } from "../support/buyers.ts";
import { SECRETS, tempDir } from "../support/harness.ts";
import { freePort, type ServerProcess, spawnServer } from "../support/process.ts";

export const ADMIN = { authorization: `Bearer ${SECRETS.STAMPEDE_ADMIN_TOKEN}`, "content-type": "application/json" };

export type TestNode = {
  id: string;
  url: string;
  dataDir: string;
  proc: Subprocess;
  output(): string;
  /** SIGKILL the supervisor and every worker it started (the machine is lost). */
  killHard(): Promise<void>;
};

/** A node: `stampede serve` in a process group of its own (test/support/process.ts), in node mode. */
export async function startNode(
  id: string,
  databaseUrl: string,
  options: { workers?: number; dataDir?: string; port?: number; env?: Record<string, string> } = {},
): Promise<TestNode> {
  const port = options.port ?? freePort();
  const dataDir = options.dataDir ?? tempDir(`stampede-node-${id}-`);
  const url = `http://127.0.0.1:${port}`;
  const env = {
    STAMPEDE_WORKERS: String(options.workers ?? 1),
    STAMPEDE_NODE_ID: id,
    STAMPEDE_ADVERTISE_URL: url,
    DATABASE_URL: databaseUrl,
    ...options.env,
  };
  let server: ServerProcess;
  try {
    server = await spawnServer(dataDir, env, { processGroup: true, port, readyTimeoutMs: 30_000 });
  } catch (error) {
    throw new Error(`node ${id}: ${error instanceof Error ? error.message : String(error)}`);
  }
  return {
    id,
    url,
    dataDir,
    proc: server.proc,
    output: server.output,
    async killHard() {
      // The whole group, and each worker by pid too: one that left the group must not outlive its node.
      for (const pid of server.workerPids().values()) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {}
      }
      await server.kill("SIGKILL");
    },
  };
}

export async function createSale(url: string, id: string, stock: number, limitPerUser = 1000): Promise<void> {
  const body = JSON.stringify({ id, name: id, limitPerUser, items: [{ id: "item", name: "Item", price: 100, currency: "USD", stock }] });
  for (let attempt = 0; ; attempt += 1) {
    const response = await fetch(`${url}/v1/admin/sales`, { method: "POST", headers: ADMIN, body });
    if (response.status === 201) return;
    if (response.status !== 503 || attempt > 100) throw new Error(`create ${id}: ${response.status} ${await response.text()}`);
    await Bun.sleep(100);
  }
}

export type ItemCounts = { stock: number; available: number; held: number; confirmed: number };

/** The sale's item as an admin view of node `url` shows it (503 is retried: the sale may be moving). */
export async function itemOf(url: string, saleId: string, timeoutMs = 15_000): Promise<ItemCounts> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const response = await fetch(`${url}/v1/admin/sales/${saleId}`, { headers: ADMIN });
    if (response.status === 200) return ((await response.json()) as { items: ItemCounts[] }).items[0] as ItemCounts;
    await response.arrayBuffer();
    if (Date.now() > deadline) throw new Error(`sale ${saleId} not served by ${url} within ${timeoutMs} ms (last ${response.status})`);
    await Bun.sleep(100);
  }
}

export type Ack = { saleId: string; reservationId: string; key: string };

export type Storm = { acks: Ack[]; statuses: Map<number, number>; stop(): Promise<void> };

/**
 * Lanes of buyers holding one unit each, round-robin over `urls` and `saleIds`, each hold under an
 * Idempotency-Key and sent again (to the next node) while its outcome is unknown (no answer, 503).
 * A node that dies mid-request is one the client simply moves on from.
 */
export function storm(urls: () => readonly string[], saleIds: readonly string[], options: { lanes: number; prefix: string }): Storm {
  const acks: Ack[] = [];
  const statuses = new Map<number, number>();
  let stopped = false;
  let sent = 0;
  const lane = async () => {
    while (!stopped) {
      const n = sent++;
      const userId = `${options.prefix}-buyer-${n}`;
      const saleId = saleIds[n % saleIds.length] as string;
      const key = `${options.prefix}-${n}`;
      for (let attempt = 0; ; attempt += 1) {
        const targets = urls();
        const url = targets[(n + attempt) % targets.length] as string;
        let status = 0;
        try {
          const response = await fetch(`${url}/v1/sales/${saleId}/reservations`, {
            method: "POST",
            headers: { authorization: `Bearer ${tokenFor(userId)}`, "content-type": "application/json", "idempotency-key": key },
            body: JSON.stringify({ itemId: "item", quantity: 1 }),
            signal: AbortSignal.timeout(15_000),
          });
          status = response.status;
          if (status === 201) acks.push({ saleId, reservationId: ((await response.json()) as { id: string }).id, key });
          else await response.arrayBuffer();
        } catch {}
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        if (status !== 0 && status !== 503) break;
        if (attempt >= 600) throw new Error(`hold ${key} got no answer in ${attempt} attempts`);
        await Bun.sleep(20);
      }
    }
  };
  const running = Promise.all(Array.from({ length: options.lanes }, lane));
  return {
    acks,
    statuses,
    async stop() {
      stopped = true;
      await running;
    },
  };
}
