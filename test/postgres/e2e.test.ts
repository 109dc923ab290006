// The server with PostgreSQL as its system of record, end to end: hold, pay, restart (and restart
// with the journal gone, so that everything must come from PostgreSQL), and SIGKILL in the middle of
// a burst of holds. Each check also reads the tables directly, so the store is compared with what the
// server answers, not only with itself.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { signBuyerToken } from "../../src/auth/buyer-token.ts";
import { SECRETS, saleBody, startHarness, tempDir } from "../support/harness.ts";
import { type ServerProcess, spawnServer } from "../support/process.ts";
import { createTestDatabase, type TestDatabase } from "./test-database.ts";

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database?.drop();
});

type Item = { id: string; stock: number; available: number; held: number; confirmed: number };
const storedItems = async (saleId: string): Promise<Item[]> =>
  [...(await database.sql<Item[]>`SELECT id, stock, available, held, confirmed FROM items WHERE sale_id = ${saleId} ORDER BY position`)];

test("hold, pay, restart: the sale comes back from PostgreSQL, even without its journal", async () => {
  const h = await startHarness({ env: { DATABASE_URL: database.url } });
  let replacement: Awaited<ReturnType<typeof startHarness>> | null = null;
  try {
    expect((await h.admin("POST", "/v1/admin/sales", saleBody("pg-e2e"))).status).toBe(201);
    const codes = await h.admin("POST", "/v1/admin/sales/pg-e2e/items/gift-50/codes", { codes: ["G-1", "G-2", "G-3"] });
    expect(await codes.json()).toEqual({ added: 3, duplicates: 0 });
    const gift = (await (await h.buyer("alice", "POST", "/v1/sales/pg-e2e/reservations", { itemId: "gift-50", quantity: 1 })).json()) as { id: string; amount: number };
    const hoodie = await h.buyer("bob", "POST", "/v1/sales/pg-e2e/reservations", { itemId: "hoodie-m", quantity: 2 }, { "idempotency-key": "bob-1" });
    expect(hoodie.status).toBe(201);
    const bobHold = (await hoodie.json()) as { id: string };
    const paid = await h.webhook({
      eventId: "evt_pg_1", paymentId: "pay_pg_1", saleId: "pg-e2e", reservationId: gift.id,
      status: "succeeded", amount: gift.amount, currency: "USD",
    });
    expect(await paid.json()).toEqual({ outcome: "confirmed" });

    // Operator listings read PostgreSQL (after the flusher caught up); delivered codes stay out of them.
    const listed = (await (await h.admin("GET", "/v1/admin/sales/pg-e2e/reservations?status=confirmed")).json()) as {
      reservations: { id: string; paymentId: string }[];
    };
    expect(listed.reservations.map((r) => [r.id, r.paymentId])).toEqual([[gift.id, "pay_pg_1"]]);
    const storedCodes = await database.sql`SELECT code, reservation_id FROM codes WHERE sale_id = 'pg-e2e' ORDER BY ordinal`;
    expect(storedCodes.map((c) => [c.code, c.reservation_id])).toEqual([["G-1", gift.id], ["G-2", null], ["G-3", null]]);
    expect(await storedItems("pg-e2e")).toEqual([
      { id: "hoodie-m", stock: 10, available: 8, held: 2, confirmed: 0 },
      { id: "gift-50", stock: 3, available: 2, held: 0, confirmed: 1 },
    ]);

    await h.restart();
    const again = (await (await h.buyer("alice", "GET", `/v1/sales/pg-e2e/reservations/${gift.id}`)).json()) as { status: string; codes: string[] };
    expect(again).toMatchObject({ status: "confirmed", codes: ["G-1"] });
    await h.close();

    // A new data dir: no journal, only PostgreSQL. The sale, the hold, its idempotency key and the
    // code pool are all there.
    replacement = await startHarness({ env: { DATABASE_URL: database.url } });
    const sale = (await (await replacement.admin("GET", "/v1/admin/sales/pg-e2e")).json()) as { items: Item[] };
    expect(sale.items.map(({ id, stock, available, held, confirmed }) => ({ id, stock, available, held, confirmed }))).toEqual(await storedItems("pg-e2e"));
    const replay = await replacement.buyer("bob", "POST", "/v1/sales/pg-e2e/reservations", { itemId: "hoodie-m", quantity: 2 }, { "idempotency-key": "bob-1" });
    expect(((await replay.json()) as { id: string }).id).toBe(bobHold.id);
    const carol = (await (await replacement.buyer("carol", "POST", "/v1/sales/pg-e2e/reservations", { itemId: "gift-50", quantity: 1 })).json()) as { id: string; amount: number };
    await replacement.webhook({
      eventId: "evt_pg_2", paymentId: "pay_pg_2", saleId: "pg-e2e", reservationId: carol.id,
      status: "succeeded", amount: carol.amount, currency: "USD",
    });
    const carolRead = (await (await replacement.buyer("carol", "GET", `/v1/sales/pg-e2e/reservations/${carol.id}`)).json()) as { codes: string[] };
    expect(carolRead.codes).toEqual(["G-2"]);
    const payments = (await (await replacement.admin("GET", "/v1/admin/sales/pg-e2e/payments")).json()) as { payments: { eventId: string }[] };
    expect(payments.payments.map((p) => p.eventId)).toEqual(["evt_pg_1", "evt_pg_2"]);
  } finally {
    await h.close().catch(() => {});
    await replacement?.close();
  }
}, 60_000);

const admin = { authorization: `Bearer ${SECRETS.STAMPEDE_ADMIN_TOKEN}`, "content-type": "application/json" };

/** Keep `concurrency` holds in flight from distinct buyers until the server dies; collect every 201. */
async function burst(url: string, concurrency: number, acked: { id: string; userId: string }[]): Promise<void> {
  let sent = 0;
  const lane = async (n: number) => {
    for (;;) {
      const userId = `buyer-${n}-${(sent += 1)}`;
      try {
        const response = await fetch(`${url}/v1/sales/pg-kill9/reservations`, {
          method: "POST",
          headers: { authorization: `Bearer ${signBuyerToken(SECRETS.STAMPEDE_JWT_SECRET, userId, 3600)}`, "content-type": "application/json" },
          body: JSON.stringify({ itemId: "hoodie-m", quantity: 1 }),
        });
        if (response.status === 201) acked.push({ id: ((await response.json()) as { id: string }).id, userId });
      } catch {
        return; // the server died: every later request fails
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, n) => lane(n)));
}

/** Until /readyz reports no journal backlog (everything acknowledged is in the store). */
async function waitForStore(url: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const readiness = (await (await fetch(`${url}/readyz`)).json()) as { journalBacklog: number; storeError: string | null };
    if (readiness.journalBacklog === 0 && readiness.storeError === null) return;
    if (Date.now() > deadline) throw new Error(`the store did not catch up: ${JSON.stringify(readiness)}`);
    await Bun.sleep(50);
  }
}

test("SIGKILL mid-burst loses no acknowledged hold; PostgreSQL ends equal to the ledger", async () => {
  const dataDir = tempDir("stampede-pg-kill9-");
  const env = { DATABASE_URL: database.url };
  let server: ServerProcess | null = await spawnServer(dataDir, env);
  try {
    const stock = 1_000_000;
    const created = await fetch(`${server.url}/v1/admin/sales`, {
      method: "POST",
      headers: admin,
      body: JSON.stringify(saleBody("pg-kill9", { limitPerUser: 1, items: [{ id: "hoodie-m", name: "Hoodie", price: 100, currency: "USD", stock }] })),
    });
    expect(created.status).toBe(201);
    const acked: { id: string; userId: string }[] = [];
    const running = burst(server.url, 64, acked);
    while (acked.length < 2000) await Bun.sleep(5);
    await server.kill("SIGKILL");
    await running;

    server = await spawnServer(dataDir, env);
    const sale = (await (await fetch(`${server.url}/v1/admin/sales/pg-kill9`, { headers: admin })).json()) as { items: Item[] };
    const item = sale.items[0] as Item;
    expect(item.available + item.held + item.confirmed).toBe(stock);
    expect(item.held).toBeGreaterThanOrEqual(acked.length);
    // Recovery rebuilt the sale from the journal alone; the write-behind then brings PostgreSQL up
    // to it (within seconds): the tables agree with the ledger, every acknowledged hold a held row, once.
    await waitForStore(server.url);
    const [stored] = await storedItems("pg-kill9");
    expect(stored).toEqual({ id: "hoodie-m", stock, available: item.available, held: item.held, confirmed: 0 });
    const rows = await database.sql`SELECT id, status FROM reservations WHERE sale_id = 'pg-kill9'`;
    expect(rows.length).toBe(item.held);
    const statusById = new Map(rows.map((row) => [row.id as string, row.status as string]));
    for (const hold of acked) expect(statusById.get(hold.id)).toBe("held");
  } finally {
    await server?.kill("SIGKILL");
    rmSync(dataDir, { recursive: true, force: true });
  }
}, 60_000);
