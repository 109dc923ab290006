// Both stores keep a sale's waiting room: its settings on the sales row, its counters and every
// place in queue_rooms and queue_places, written by the write-behind from the queue's events in the
// batch's own transaction. A sale loaded from the store gets its room back exactly: each buyer's
// place (rank, joined time, admission and its lapse), the serving counter, the epoch and the pace,
// so that the owner that loads it decides the next admissions and joins as the old one would have.

import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { restoreSale } from "../../src/ledger/restore.ts";
import { SaleLedger } from "../../src/ledger/sale-ledger.ts";
import type { SaleEvent, WaitingRoomSettings } from "../../src/ledger/types.ts";
import { PostgresStore } from "../../src/store/postgres/postgres-store.ts";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.ts";
import type { Store } from "../../src/store/store.ts";
import { createTestDatabase, type TestDatabase } from "../postgres/test-database.ts";
import { tempDir } from "../support/harness.ts";
import { nextDecisions, roomRun, roomView } from "./room-run.ts";
import { batches, entriesOf, expectSameSale, freshId, replayed, storedOf } from "./suite-support.ts";

const T0 = Date.UTC(2026, 11, 1);
const dir = tempDir("stampede-store-room-");
let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await database?.drop();
});

type Opened = { store: Store; run(sql: string, ...params: string[]): Promise<void> };

const stores: [string, () => Promise<Opened>][] = [
  [
    "sqlite",
    async () => {
      const path = join(dir, `${freshId("room")}.db`);
      const store = new SqliteStore(path);
      await store.migrate();
      return {
        store,
        async run(sql, ...params) {
          const db = new Database(path);
          db.exec("PRAGMA busy_timeout = 5000");
          db.prepare(sql).run(...params);
          db.close();
        },
      };
    },
  ],
  [
    "postgres",
    async () => {
      const store = new PostgresStore(database.url);
      await store.migrate();
      return {
        store,
        async run(sql, ...params) {
          let n = 0;
          await database.sql.unsafe(sql.replace(/\?/g, () => `$${(n += 1)}`), params);
        },
      };
    },
  ],
];

for (const [dialect, open] of stores) {
  describe(`waiting room in the store: ${dialect}`, () => {
    test("seeded runs: at every checkpoint the room loaded from the store is the ledger's, and decides the same next", async () => {
      const { store } = await open();
      // What the checkpoints met, over every run: the runs must reach the places the store follows.
      const seen = new Set<string>();
      try {
        for (const seed of [1, 2, 3, 4, 5, 6]) {
          const saleId = freshId(`room-seed${seed}`);
          const run = roomRun(saleId, seed, 320);
          const journalId = freshId("journal");
          const entries = entriesOf(run.events);
          let applied = 0;
          for (const checkpoint of run.checkpoints) {
            for (const batch of batches(entries.slice(applied, checkpoint.events), run.batchSizes)) await store.apply(journalId, batch);
            applied = checkpoint.events;
            const live = replayed(run.events.slice(0, applied));
            const restored = restoreSale(await storedOf(store, saleId, checkpoint.now), checkpoint.now);
            const view = roomView(live, checkpoint.now);
            expect(roomView(restored, checkpoint.now)).toEqual(view);
            for (const [, place] of view.places ?? []) seen.add((place as { status: string }).status);
            if (view.header !== undefined && view.header.credit > 0 && view.header.credit % 1000 !== 0) seen.add("part of an admission saved");
          }
          const live = replayed(run.events);
          const restored = restoreSale(await storedOf(store, saleId, run.now), run.now);
          expectSameSale(restored, live, run.now);
          expect(nextDecisions(restored, run.now)).toEqual(nextDecisions(live, run.now));
        }
        expect([...seen].sort()).toEqual(["admitted", "not_joined", "part of an admission saved", "sold_out", "waiting"]);
      } finally {
        await store.close();
      }
    });

    test("exactly once: repeated and overlapping batches of queue events change nothing twice", async () => {
      const { store } = await open();
      try {
        const saleId = freshId("room-once");
        const run = roomRun(saleId, 7, 200);
        const journalId = freshId("journal");
        const entries = entriesOf(run.events);
        const third = Math.floor(entries.length / 3);
        await store.apply(journalId, entries.slice(0, third));
        await store.apply(journalId, entries.slice(0, third));
        await store.apply(journalId, entries.slice(third - 5, 2 * third));
        await store.apply(journalId, entries);
        await store.apply(journalId, entries.slice(2 * third));
        expect(await store.appliedSeq(journalId)).toBe(entries.length);
        const restored = restoreSale(await storedOf(store, saleId, run.now), run.now);
        expect(roomView(restored, run.now)).toEqual(roomView(run.ledger.state, run.now));
      } finally {
        await store.close();
      }
    });

    test("settings follow create and every patch; a room turned off and on again is the next epoch, empty", async () => {
      const { store } = await open();
      try {
        const saleId = freshId("room-sale");
        const first: WaitingRoomSettings = { admitPerSecond: 1, admissionSeconds: 600, opensSecondsBefore: 900 };
        const out: SaleEvent[] = [];
        const ledger = SaleLedger.create(
          {
            id: saleId,
            name: "Room",
            startsAt: T0 + 1_000,
            endsAt: T0 + 86_400_000,
            holdSeconds: 600,
            limitPerUser: 1,
            items: [{ id: "a", name: "A", price: 100, currency: "USD", delivery: "none", stock: 10 }],
            waitingRoom: first,
          },
          T0,
          out,
        );
        for (const user of ["u1", "u2", "u3", "u4"]) ledger.join(user, T0 + 1, 0, out);
        ledger.queueTick(T0 + 2_000, 9, out);
        ledger.join("u5", T0 + 2_001, 0, out);
        const journalId = freshId("journal");
        let seq = 0;
        const apply = async (events: SaleEvent[], sizes: number[]) => {
          for (const batch of batches(entriesOf(events, seq + 1), sizes)) await store.apply(journalId, batch);
          seq += events.length;
        };
        await apply(out, [2, 10]);
        const loaded = restoreSale(await storedOf(store, saleId, T0 + 3_000), T0 + 3_000);
        expect(loaded.room?.settings).toEqual(first);
        // One admitted by the first second's pace, the rest drawn in order and waiting, u5 last.
        expect(loaded.room?.waiting).toBe(4);
        expect(loaded.room?.place("u5", T0 + 3_000)).toEqual({ status: "waiting", rank: 5, joinedAt: T0 + 2_001 });
        expect(roomView(loaded, T0 + 3_000)).toEqual(roomView(ledger.state, T0 + 3_000));

        const second: WaitingRoomSettings = { admitPerSecond: 50, admissionSeconds: 60, opensSecondsBefore: 0 };
        const more: SaleEvent[] = [];
        ledger.execute({ kind: "patch", patch: { name: "Renamed" } }, T0 + 4_000, more);
        ledger.execute({ kind: "patch", patch: { waitingRoom: second } }, T0 + 4_001, more);
        ledger.execute({ kind: "patch", patch: { paused: true } }, T0 + 4_002, more);
        await apply(more, [3]);
        expect((await storedOf(store, saleId, T0 + 5_000)).sale.waitingRoom).toEqual(second);
        expect(roomView(restoreSale(await storedOf(store, saleId, T0 + 5_000), T0 + 5_000), T0 + 5_000)).toEqual(roomView(ledger.state, T0 + 5_000));

        const off: SaleEvent[] = [];
        ledger.execute({ kind: "patch", patch: { waitingRoom: null } }, T0 + 6_000, off);
        await apply(off, [1]);
        expect((await storedOf(store, saleId, T0 + 7_000)).sale.waitingRoom ?? null).toBeNull();
        expect(restoreSale(await storedOf(store, saleId, T0 + 7_000), T0 + 7_000).room).toBeNull();

        const on: SaleEvent[] = [];
        ledger.execute({ kind: "patch", patch: { waitingRoom: first, paused: false } }, T0 + 8_000, on);
        ledger.join("u9", T0 + 8_001, 0, on);
        await apply(on, [5]);
        const reopened = restoreSale(await storedOf(store, saleId, T0 + 9_000), T0 + 9_000);
        expect(reopened.roomEpoch).toBe(2);
        expect(roomView(reopened, T0 + 9_000)).toEqual(roomView(ledger.state, T0 + 9_000));
        expect(reopened.room?.place("u1", T0 + 9_000)).toEqual({ status: "not_joined" });
      } finally {
        await store.close();
      }
    });

    test("a room the store never recorded (opened before it kept rooms) keeps loading empty; its events are skipped", async () => {
      const opened = await open();
      const { store } = opened;
      try {
        const saleId = freshId("room-old");
        const out: SaleEvent[] = [];
        const ledger = SaleLedger.create(
          {
            id: saleId, name: "Old room", startsAt: T0 - 1_000, endsAt: T0 + 86_400_000, holdSeconds: 600, limitPerUser: 1,
            items: [{ id: "a", name: "A", price: 100, currency: "USD", delivery: "none", stock: 10 }],
            waitingRoom: { admitPerSecond: 1, admissionSeconds: 600, opensSecondsBefore: 0 },
          },
          T0,
          out,
        );
        const journalId = freshId("journal");
        await store.apply(journalId, entriesOf(out));
        // As an older version left it: the settings, no counters, no places.
        await opened.run("DELETE FROM queue_rooms WHERE sale_id = ?", saleId);
        const later: SaleEvent[] = [];
        for (const user of ["u1", "u2", "u3"]) ledger.join(user, T0 + 10, 0, later);
        ledger.queueTick(T0 + 5_000, 1, later);
        await store.apply(journalId, entriesOf(later, out.length + 1));
        const restored = restoreSale(await storedOf(store, saleId, T0 + 6_000), T0 + 6_000);
        expect(restored.room?.waiting).toBe(0);
        expect(restored.room?.admitted).toBe(0);
        expect(restored.roomEpoch).toBe(1);
      } finally {
        await store.close();
      }
    });
  });
}
