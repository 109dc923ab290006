// At least once across a crash: kill -9 the server while deliveries are in flight and holds are
// being acknowledged, start it again on the same data dir, and find that every acknowledged hold's
// event reaches the receiver, under one id with one body however often it is sent, and that nothing
// is left undelivered. Run on the embedded store and on PostgreSQL.

import { afterAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { signBuyerToken } from "../../src/auth/buyer-token.ts";
import { createTestDatabase, type TestDatabase } from "../postgres/test-database.ts";
import { SECRETS, saleBody, tempDir } from "../support/harness.ts";
import { type ServerProcess, spawnServer } from "../support/process.ts";
import { type Receiver, startReceiver } from "./receiver.ts";

const admin = { authorization: `Bearer ${SECRETS.STAMPEDE_ADMIN_TOKEN}`, "content-type": "application/json" };
const ENV = { STAMPEDE_WEBHOOK_POLL_MS: "20", STAMPEDE_WEBHOOK_RETRY_MIN_MS: "50", STAMPEDE_WEBHOOK_RETRY_MAX_MS: "200" };

/** Holds from distinct buyers, `lanes` at a time, until stopped; the ids of those acknowledged. */
async function burst(url: string, lanes: number, stop: { now: boolean }, acked: string[]): Promise<void> {
  let sent = 0;
  const lane = async () => {
    while (!stop.now) {
      const token = signBuyerToken(SECRETS.STAMPEDE_JWT_SECRET, `buyer-${sent++}`, 3600);
      try {
        const response = await fetch(`${url}/v1/sales/drop/reservations`, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: JSON.stringify({ itemId: "hoodie-m", quantity: 1 }),
        });
        if (response.status === 201) acked.push(((await response.json()) as { id: string }).id);
      } catch {
        return; // killed: connections fail from here on
      }
    }
  };
  await Promise.all(Array.from({ length: lanes }, lane));
}

function run(name: string, database: () => Promise<TestDatabase | null>) {
  describe(`kill -9 during deliveries: ${name}`, () => {
    const dataDir = tempDir("stampede-webhook-kill9-");
    let server: ServerProcess | null = null;
    let receiver: Receiver | null = null;
    let db: TestDatabase | null = null;
    afterAll(async () => {
      await server?.kill("SIGKILL");
      receiver?.stop();
      await db?.drop();
      rmSync(dataDir, { recursive: true, force: true });
    });

    test("everything not recorded as delivered is sent after the restart, same ids, nothing lost", async () => {
      db = await database();
      const env = { ...ENV, ...(db === null ? {} : { DATABASE_URL: db.url }) };
      const rx = startReceiver();
      receiver = rx;
      // Slow enough that deliveries are in flight, and a backlog waits, when the server dies.
      rx.answer = () => ({ delayMs: 5, status: 200 });
      server = await spawnServer(dataDir, env);
      const post = (path: string, body: unknown) => fetch(`${server?.url}${path}`, { method: "POST", headers: admin, body: JSON.stringify(body) });
      expect((await post("/v1/admin/webhooks", { url: rx.url, events: ["reservation.held"] })).status).toBe(201);
      const sale = saleBody("drop", { limitPerUser: 1, items: [{ id: "hoodie-m", name: "Hoodie", price: 100, currency: "USD", stock: 1_000_000 }] });
      expect((await post("/v1/admin/sales", sale)).status).toBe(201);

      const acked: string[] = [];
      const stop = { now: false };
      const running = burst(server.url, 32, stop, acked);
      await rx.until((received) => received.length >= 50 && acked.length >= 1_000, 30_000);
      await server.kill("SIGKILL");
      stop.now = true;
      await running;
      const beforeRestart = rx.received.length;

      server = await spawnServer(dataDir, env);
      const ackedIds = new Set(acked);
      const deliveredIds = () => new Set(rx.received.map((r) => (JSON.parse(r.body) as { data: { id: string } }).data.id));
      await rx.until(() => {
        const delivered = deliveredIds();
        for (const id of ackedIds) if (!delivered.has(id)) return false;
        return true;
      }, 60_000);
      // One id, one body: a delivery sent twice (its outcome died with the server) is the same bytes.
      const bodyOf = new Map<string, string>();
      for (const r of rx.received) {
        const seen = bodyOf.get(r.id);
        if (seen !== undefined) expect(r.body).toBe(seen);
        bodyOf.set(r.id, r.body);
      }
      // Nothing stays undelivered: every delivery of the endpoint ends delivered.
      const [endpoint] = ((await (await fetch(`${server.url}/v1/admin/webhooks`, { headers: admin })).json()) as { webhooks: { id: string }[] }).webhooks;
      const pending = async () =>
        ((await (await fetch(`${server?.url}/v1/admin/webhooks/${endpoint?.id}/deliveries?status=pending&limit=1`, { headers: admin })).json()) as { deliveries: unknown[] }).deliveries.length;
      const deadline = Date.now() + 30_000;
      while ((await pending()) > 0 && Date.now() < deadline) await Bun.sleep(100);
      expect(await pending()).toBe(0);
      console.log(`${name}: ${acked.length} holds acknowledged, ${beforeRestart} POSTs before the kill, ${rx.received.length} in all, ${bodyOf.size} distinct events`);
      expect(bodyOf.size).toBeGreaterThanOrEqual(ackedIds.size);
    }, 120_000);
  });
}

run("sqlite", async () => null);
run("postgres", () => createTestDatabase("stampede_webhook_kill9"));
