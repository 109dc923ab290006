// The cluster end to end: 4 worker processes on this 2-core machine, sales owned by different
// workers, thousands of buyers racing through whichever worker the kernel hands them to.

import { afterAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { ownerOf } from "../../src/cluster/ownership.ts";
import { type Ack, race, tokenFor } from "../support/buyers.ts";
import { SECRETS, tempDir } from "../support/harness.ts";
import { type ServerProcess, spawnServer } from "../support/process.ts";

const WORKERS = 4;
const admin = { authorization: `Bearer ${SECRETS.STAMPEDE_ADMIN_TOKEN}`, "content-type": "application/json" };
const dirs: string[] = [];
const servers: ServerProcess[] = [];

afterAll(async () => {
  for (const server of servers) {
    for (const pid of server.workerPids().values()) killQuietly(pid);
    await server.kill("SIGKILL");
  }
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function killQuietly(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {}
}

async function startCluster(dataDir: string): Promise<ServerProcess> {
  const server = await spawnServer(dataDir, { STAMPEDE_WORKERS: String(WORKERS) });
  servers.push(server);
  while (server.workerPids().size < WORKERS) await Bun.sleep(20);
  return server;
}

type Item = { stock: number; available: number; held: number; confirmed: number };

async function createSale(url: string, id: string, stock: number, limitPerUser: number): Promise<void> {
  const response = await fetch(`${url}/v1/admin/sales`, {
    method: "POST",
    headers: admin,
    body: JSON.stringify({ id, name: id, limitPerUser, items: [{ id: "item", name: "Item", price: 100, currency: "USD", stock }] }),
  });
  expect(response.status).toBe(201);
}

/** The sale's counts, retrying while its owner restarts (503). */
async function itemOf(url: string, saleId: string): Promise<Item> {
  for (;;) {
    const response = await fetch(`${url}/v1/admin/sales/${saleId}`, { headers: admin });
    if (response.status === 200) return ((await response.json()) as { items: Item[] }).items[0] as Item;
    expect(response.status).toBe(503);
    await Bun.sleep(50);
  }
}

async function allReservations(url: string, saleId: string) {
  const all: { id: string; userId: string; quantity: number; status: string }[] = [];
  let cursor: string | null = null;
  do {
    const query: string = cursor === null ? "" : `&cursor=${cursor}`;
    const response = await fetch(`${url}/v1/admin/sales/${saleId}/reservations?limit=1000${query}`, { headers: admin });
    const page = (await response.json()) as { reservations: typeof all; nextCursor: string | null };
    all.push(...page.reservations);
    cursor = page.nextCursor;
  } while (cursor !== null);
  return all;
}

const unitsBySale = (acks: readonly Ack[]) => {
  const units = new Map<string, number>();
  for (const ack of acks) units.set(ack.saleId, (units.get(ack.saleId) ?? 0) + ack.quantity);
  return units;
};

/** Every acknowledged hold can be read back by its buyer, held. */
async function expectAllHeld(url: string, acks: readonly Ack[]): Promise<void> {
  const queue = [...acks];
  const check = async () => {
    for (let ack = queue.pop(); ack !== undefined; ack = queue.pop()) {
      const response = await fetch(`${url}/v1/sales/${ack.saleId}/reservations/${ack.reservationId}`, {
        headers: { authorization: `Bearer ${tokenFor(ack.userId)}` },
      });
      expect(response.status).toBe(200);
      expect(((await response.json()) as { status: string }).status).toBe("held");
    }
  };
  await Promise.all(Array.from({ length: 32 }, check));
}

describe("cluster of 4 workers", () => {
  test("buyers racing for little stock over several sales end exact", async () => {
    const dataDir = tempDir("stampede-cluster-race-");
    dirs.push(dataDir);
    const server = await startCluster(dataDir);
    const saleIds = Array.from({ length: 8 }, (_, i) => `race-${i}`);
    expect(new Set(saleIds.map((id) => ownerOf(id, WORKERS))).size).toBeGreaterThan(1);
    const STOCK = 40;
    const LIMIT = 2;
    for (const id of saleIds) await createSale(server.url, id, STOCK, LIMIT);

    const buyers = race(server.url, { lanes: 64, saleIds, itemId: "item", buyers: 1500, quantity: (n) => 1 + (n % 3 === 0 ? 1 : 0) });
    const deadline = Date.now() + 30_000;
    let sold = 0;
    while (Date.now() < deadline && sold < STOCK * saleIds.length) {
      await Bun.sleep(100);
      sold = [...unitsBySale(buyers.acks).values()].reduce((a, b) => a + b, 0);
    }
    // Keep refusals flowing a moment past sell-out: nothing more may be accepted.
    await Bun.sleep(300);
    await buyers.stop();

    const acked = unitsBySale(buyers.acks);
    for (const saleId of saleIds) {
      const item = await itemOf(server.url, saleId);
      expect(item.available + item.held + item.confirmed).toBe(STOCK);
      expect(item.held).toBe(acked.get(saleId) ?? 0); // held equals acknowledged units
      expect(item.available).toBe(0); // demand exceeded stock: no unit stranded
      const perBuyer = new Map<string, number>();
      for (const r of await allReservations(server.url, saleId)) {
        if (r.status === "held") perBuyer.set(r.userId, (perBuyer.get(r.userId) ?? 0) + r.quantity);
      }
      for (const units of perBuyer.values()) expect(units).toBeLessThanOrEqual(LIMIT);
    }
    expect(buyers.statuses.get(409) ?? 0).toBeGreaterThan(0);
    await expectAllHeld(server.url, buyers.acks);
  }, 120_000);

  test("a worker killed mid-burst loses no acknowledged hold and the other sales never stop", async () => {
    const dataDir = tempDir("stampede-cluster-kill-");
    dirs.push(dataDir);
    const server = await startCluster(dataDir);
    const saleIds = Array.from({ length: 8 }, (_, i) => `kill-${i}`);
    for (const id of saleIds) await createSale(server.url, id, 1_000_000, 1000);
    const victim = ownerOf("kill-0", WORKERS);
    const otherSales = new Set(saleIds.filter((id) => ownerOf(id, WORKERS) !== victim));
    expect(otherSales.size).toBeGreaterThan(0);

    // Careful clients: a hold whose answer they never got goes again under its Idempotency-Key.
    const buyers = race(server.url, { lanes: 48, saleIds, itemId: "item", buyers: 5000, retryUnknown: true });
    while (buyers.acks.length < 1500) await Bun.sleep(10);
    const oldPid = server.workerPids().get(victim) as number;
    process.kill(oldPid, "SIGKILL");
    const othersBefore = buyers.acks.filter((ack) => otherSales.has(ack.saleId)).length;
    await Bun.sleep(1000);
    const othersAfter = buyers.acks.filter((ack) => otherSales.has(ack.saleId)).length;
    expect(othersAfter).toBeGreaterThan(othersBefore + 50); // the other sales kept selling
    while (server.workerPids().get(victim) === oldPid) await Bun.sleep(20); // the supervisor restarted it
    const victimSale = saleIds.find((id) => ownerOf(id, WORKERS) === victim) as string;
    await itemOf(server.url, victimSale);
    const ackedBeforeResume = buyers.acks.filter((ack) => ack.saleId === victimSale).length;
    await Bun.sleep(1000);
    await buyers.stop();
    expect(buyers.acks.filter((ack) => ack.saleId === victimSale).length).toBeGreaterThan(ackedBeforeResume);

    const acked = unitsBySale(buyers.acks);
    for (const saleId of saleIds) {
      const item = await itemOf(server.url, saleId);
      expect(item.available + item.held + item.confirmed).toBe(1_000_000);
      // Exactly what the clients were told: holds forwarded to the killed owner were sent again
      // under their tokens and answered once; holds whose connection died with the killed worker
      // were sent again by their client under the same Idempotency-Key and replayed or placed once.
      expect(item.held).toBe(acked.get(saleId) ?? 0);
    }
    await expectAllHeld(server.url, buyers.acks);
  }, 120_000);

  test("the whole server killed with SIGKILL and restarted loses nothing", async () => {
    const dataDir = tempDir("stampede-cluster-all-");
    dirs.push(dataDir);
    const first = await startCluster(dataDir);
    const saleIds = Array.from({ length: 6 }, (_, i) => `all-${i}`);
    for (const id of saleIds) await createSale(first.url, id, 1_000_000, 1000);
    const buyers = race(first.url, { lanes: 48, saleIds, itemId: "item", buyers: 5000 });
    while (buyers.acks.length < 2000) await Bun.sleep(10);
    for (const pid of first.workerPids().values()) killQuietly(pid);
    await first.kill("SIGKILL");
    await buyers.stop();

    const second = await startCluster(dataDir);
    const acked = unitsBySale(buyers.acks);
    for (const saleId of saleIds) {
      const item = await itemOf(second.url, saleId);
      expect(item.available + item.held + item.confirmed).toBe(1_000_000);
      expect(item.held).toBeGreaterThanOrEqual(acked.get(saleId) ?? 0);
    }
    await expectAllHeld(second.url, buyers.acks);
  }, 120_000);
});
