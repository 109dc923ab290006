// A PostgreSQL outage never stops sales (DESIGN.md, Write-behind): a TCP proxy between the server and
// PostgreSQL is cut (every socket closed, new ones refused) while buyers keep holding; the backlog
// shows in /readyz and /metrics; after the proxy is restored the flusher catches up and PostgreSQL
// equals the ledger: nothing lost, nothing doubled. A second cut drops the connection exactly when a
// batch's COMMIT is on its way, so a transaction that already wrote its rows must roll back and be
// retried cleanly.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { type Harness, saleBody, startHarness } from "../support/harness.ts";
import { TcpProxy } from "../support/tcp-proxy.ts";
import { createTestDatabase, type TestDatabase } from "./test-database.ts";

let database: TestDatabase;
let proxy: TcpProxy;
let h: Harness;
beforeAll(async () => {
  database = await createTestDatabase();
  proxy = new TcpProxy({ hostname: "127.0.0.1", port: Number(new URL(database.url).port || 5432) });
  proxy.start();
  const url = new URL(database.url);
  url.host = `127.0.0.1:${proxy.port}`;
  h = await startHarness({ env: { DATABASE_URL: url.toString() } });
});
afterAll(async () => {
  proxy?.restore();
  await h?.close();
  proxy?.stop();
  await database?.drop();
});

type Readiness = { status: string; journalBacklog: number; storeError: string | null };
const readiness = async () => (await (await fetch(`${h.url}/readyz`)).json()) as Readiness;
const metric = async (name: string) => {
  const text = await (await fetch(`${h.url}/metrics`)).text();
  return Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(text)?.[1] ?? Number.NaN);
};

async function holds(saleId: string, count: number, from: number): Promise<string[]> {
  const ids: string[] = [];
  const lane = async (lane: number) => {
    for (let i = lane; i < count; i += 16) {
      const response = await h.buyer(`buyer-${from + i}`, "POST", `/v1/sales/${saleId}/reservations`, { itemId: "hoodie-m", quantity: 1 });
      expect(response.status).toBe(201);
      ids.push(((await response.json()) as { id: string }).id);
    }
  };
  await Promise.all(Array.from({ length: 16 }, (_, n) => lane(n)));
  return ids;
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await Bun.sleep(50);
  }
}

/** PostgreSQL's rows and counts equal the ledger's: every acknowledged hold once, counts balanced. */
async function expectStoreEqualsLedger(saleId: string, holdIds: string[], released: string[]): Promise<void> {
  const sale = (await (await h.admin("GET", `/v1/admin/sales/${saleId}`)).json()) as {
    items: { id: string; stock: number; available: number; held: number; confirmed: number }[];
  };
  const items = await database.sql`SELECT id, stock, available, held, confirmed FROM items WHERE sale_id = ${saleId} ORDER BY position`;
  expect(items.map((i) => ({ ...i }))).toEqual(sale.items.map(({ id, stock, available, held, confirmed }) => ({ id, stock, available, held, confirmed })));
  const rows = await database.sql`SELECT id, status FROM reservations WHERE sale_id = ${saleId} ORDER BY id`;
  expect(rows.map((r) => r.id).sort()).toEqual([...holdIds].sort());
  expect(rows.filter((r) => r.status === "released").map((r) => r.id).sort()).toEqual([...released].sort());
  expect(sale.items[0]?.held).toBe(holdIds.length - released.length);
}

test("holds go on while PostgreSQL is cut off; the backlog drains exactly once after", async () => {
  const saleId = "pg-outage";
  expect((await h.admin("POST", "/v1/admin/sales", saleBody(saleId, { limitPerUser: 5, items: [{ id: "hoodie-m", name: "Hoodie", price: 100, currency: "USD", stock: 100_000 }] }))).status).toBe(201);
  const before = await holds(saleId, 200, 0);
  await until("the store caught up", async () => (await readiness()).journalBacklog === 0);

  proxy.cut();
  const during = await holds(saleId, 600, 1_000);
  const releasedDuring = during.slice(0, 50);
  for (const [i, id] of releasedDuring.entries()) {
    expect((await h.buyer(`buyer-${1_000 + i}`, "DELETE", `/v1/sales/${saleId}/reservations/${id}`)).status).toBe(200);
  }
  await until("the flusher reports the outage", async () => (await readiness()).storeError !== null);
  const cutOff = await readiness();
  expect(cutOff.status).toBe("ready");
  expect(cutOff.journalBacklog).toBeGreaterThanOrEqual(650);
  expect(await metric("stampede_write_behind_backlog_events")).toBeGreaterThan(0);
  // Nothing of the cut-off period reached PostgreSQL (read around the proxy).
  const [stored] = await database.sql`SELECT count(*)::int AS n FROM reservations WHERE sale_id = ${saleId}`;
  expect(stored?.n).toBe(200);

  proxy.restore();
  await until("the backlog drained", async () => (await readiness()).journalBacklog === 0);
  expect(await metric("stampede_write_behind_backlog_events")).toBe(0);
  expect((await readiness()).storeError).toBeNull();
  await expectStoreEqualsLedger(saleId, [...before, ...during], releasedDuring);
}, 60_000);

test("a batch whose COMMIT never arrives rolls back and is applied once on the retry", async () => {
  const saleId = "pg-lost-tx";
  expect((await h.admin("POST", "/v1/admin/sales", saleBody(saleId, { limitPerUser: 5, items: [{ id: "hoodie-m", name: "Hoodie", price: 100, currency: "USD", stock: 100_000 }] }))).status).toBe(201);
  await until("the store caught up", async () => (await readiness()).journalBacklog === 0);
  proxy.breakNextCommit();
  const ids = await holds(saleId, 300, 10_000);
  await until("the backlog drained", async () => (await readiness()).journalBacklog === 0);
  expect(proxy.droppedCommits).toBe(1);
  await expectStoreEqualsLedger(saleId, ids, []);
  const [progress] = await database.sql`SELECT seq FROM journal_progress WHERE journal_id = 'journal-0'`;
  expect(progress?.seq).toBe(h.server.owner.background.appliedSeq);
}, 60_000);
