// A backlog of 100,000 events drains, each delivered once, in order of sequence per endpoint: the
// write-behind's batches create the deliveries (store.apply, as the flusher calls it), then a sender
// works them off against a receiver on loopback. With `concurrency` requests in flight, an event can
// arrive ahead of at most concurrency - 1 events sent before it, so that bounds how far any arrival
// may stray from its place in the sequence. Run on both stores.

import { afterAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import type { JournalEntry } from "../../src/journal/journal.ts";
import { PostgresStore } from "../../src/store/postgres/postgres-store.ts";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.ts";
import type { Store } from "../../src/store/store.ts";
import { SENDER_DEFAULTS } from "../../src/webhooks/sender-options.ts";
import { WebhookSender } from "../../src/webhooks/sender.ts";
import { createTestDatabase, type TestDatabase } from "../postgres/test-database.ts";
import { tempDir } from "../support/harness.ts";
import { startReceiver } from "./receiver.ts";

const EVENTS = 100_000;
/** The write-behind's batch size (store/write-behind.ts). */
const BATCH = 20_000;
const CONCURRENCY = 8;
const T0 = Date.now() - 60_000;

function entries(saleId: string): JournalEntry[] {
  const list: JournalEntry[] = [
    {
      seq: 1,
      event: {
        type: "sale_created", saleId, at: T0,
        sale: { id: saleId, name: "Backlog", startsAt: T0, endsAt: T0 + 86_400_000, holdSeconds: 600, limitPerUser: 1,
          items: [{ id: "i", name: "I", price: 100, currency: "USD", delivery: "none", stock: EVENTS * 2 }] },
      },
    },
  ];
  for (let n = 1; n <= EVENTS; n += 1) {
    const at = T0 + Math.floor(n / 10);
    list.push({
      seq: n + 1,
      event: {
        type: "hold_placed", saleId, at, reservationId: `${saleId}.${n}`, seq: n, row: n, itemId: "i", userId: `u${n}`, quantity: 1,
        amount: 100, currency: "USD", expiresAt: at + 600_000, idempotencyKey: null, fingerprint: null, token: 0,
      },
    });
  }
  return list;
}

function run(name: string, open: () => Promise<{ store: Store; close(): Promise<void> }>) {
  describe(`webhook backlog: ${name}`, () => {
    let cleanup: (() => Promise<void>) | null = null;
    afterAll(async () => {
      await cleanup?.();
    });

    test(`${EVENTS} events drain, each once, in order of sequence per endpoint`, async () => {
      const { store, close } = await open();
      const receiver = startReceiver();
      let sender: WebhookSender | null = null;
      cleanup = async () => {
        await sender?.stop();
        receiver.stop();
        await close();
      };
      const endpointId = `whe_backlog_${name}`;
      await store.webhooks.createEndpoint({ id: endpointId, url: receiver.url, events: ["reservation.held"], secret: "whsec_backlog", createdAt: T0 }, 100);
      const all = entries("backlog");
      const applyStarted = performance.now();
      for (let at = 0; at < all.length; at += BATCH) await store.apply("journal-0", all.slice(at, at + BATCH));
      const applyMs = performance.now() - applyStarted;

      const started = performance.now();
      sender = new WebhookSender(store.webhooks, { ...SENDER_DEFAULTS, concurrency: CONCURRENCY, pollMs: 20 }, "backlog-test", "test");
      await sender.start();
      await receiver.until((received) => received.length >= EVENTS, 100_000);
      const drainMs = performance.now() - started;

      const sequences = receiver.received.map((r) => Number(r.id.slice("evt_journal-0_".length)));
      expect(new Set(sequences).size).toBe(EVENTS);
      expect(sequences.length).toBe(EVENTS);
      // Sequence n + 1 is the n-th event (seq 1 created the sale): its place in the order is n - 1.
      let strayMax = 0;
      sequences.forEach((sequence, arrival) => {
        strayMax = Math.max(strayMax, Math.abs(arrival - (sequence - 2)));
      });
      expect(strayMax).toBeLessThan(CONCURRENCY);
      console.log(
        `${name}: ${EVENTS} deliveries created in ${Math.round(applyMs)} ms, drained in ${Math.round(drainMs)} ms ` +
          `(${Math.round(EVENTS / (drainMs / 1000))}/s), furthest from its place: ${strayMax}`,
      );
    }, 180_000);
  });
}

run("sqlite", async () => {
  const dir = tempDir("stampede-webhook-backlog-");
  const store = new SqliteStore(join(dir, "store.db"));
  await store.migrate();
  return {
    store,
    async close() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

run("postgres", async () => {
  const database: TestDatabase = await createTestDatabase("stampede_webhook_backlog");
  const store = new PostgresStore(database.url);
  await store.migrate();
  return {
    store,
    async close() {
      await store.close();
      await database.drop();
    },
  };
});
