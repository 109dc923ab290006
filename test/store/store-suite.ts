// The conformance suite of the Store port: every system of record (embedded SQLite, PostgreSQL) must
// pass it unchanged. It applies hand-built journal entries, cut into batches in several ways, and
// checks what loadSales and the listings give back, that batch boundaries never change the result,
// and that replays are exactly-once. A second part drives the real ledger with seeded generators and
// checks that a sale restored from the store equals the ledger that decided it, that loading skips
// what has ended, and that the history reads (one reservation, a buyer's list) agree with the ledger.

import { afterAll, describe, expect, test } from "bun:test";
import { restoreSale } from "../../src/ledger/restore.ts";
import { SaleLedger } from "../../src/ledger/sale-ledger.ts";
import type { SaleEvent } from "../../src/ledger/types.ts";
import type { Store } from "../../src/store/store.ts";
import { runHistorySuite } from "./history-suite.ts";
import { ledgerRun, mostlyEndedRun } from "./ledger-run.ts";
import { LOAD_AT, scenario, T0 } from "./scenario.ts";
import {
  applyInBatches, entriesOf, expectSameSale, freshId, liveHolds, normalized, replayed, storedOf,
} from "./suite-support.ts";

/** Returns a migrated store; each call may share the database of earlier ones (ids never repeat). */
export type NewStore = () => Promise<Store>;

export function runStoreSuite(name: string, newStore: NewStore): void {
  describe(`Store conformance: ${name}`, () => {
    const opened: Store[] = [];
    const open = async () => {
      const store = await newStore();
      opened.push(store);
      return store;
    };
    afterAll(async () => {
      for (const store of opened) await store.close();
    });

    test("an unknown journal has applied nothing and an empty batch is a no-op", async () => {
      const store = await open();
      const journalId = freshId("journal");
      expect(await store.appliedSeq(journalId)).toBe(0);
      await store.apply(journalId, []);
      expect(await store.appliedSeq(journalId)).toBe(0);
    });

    test("a sale's whole life loads back as what is live: counts, codes, holds, units, keys, payments", async () => {
      const store = await open();
      const saleId = freshId("sale");
      const { events, expected } = scenario(saleId);
      const journalId = freshId("journal");
      await applyInBatches(store, journalId, events, [3, 1, 4, 2, 5]);
      expect(await store.appliedSeq(journalId)).toBe(events.length);
      const stored = await storedOf(store, saleId, LOAD_AT);
      expect(normalized(stored)).toEqual(normalized(expected));
      // The ledger accepts it (restoring checks every invariant) and it is the sale the events built.
      const state = restoreSale(stored, LOAD_AT);
      expect(state.idempotency.size).toBe(2);
      expectSameSale(state, replayed(events), LOAD_AT);
      // A day later the keys have aged out of what is loaded.
      expect((await storedOf(store, saleId, LOAD_AT + 86_400_000)).keyed).toEqual([]);
    });

    test("batch boundaries never change the result", async () => {
      const store = await open();
      const results = [];
      for (const sizes of [[1_000], [1], [2, 7, 1, 3], [5, 5, 1]]) {
        const saleId = freshId("sale");
        await applyInBatches(store, freshId("journal"), scenario(saleId).events, sizes);
        results.push(normalized(await storedOf(store, saleId, LOAD_AT)));
      }
      for (const result of results.slice(1)) expect(result).toEqual(results[0] as (typeof results)[number]);
    });

    test("exactly once: repeated and overlapping batches change nothing twice", async () => {
      const store = await open();
      const saleId = freshId("sale");
      const journalId = freshId("journal");
      const { events, expected } = scenario(saleId);
      const entries = entriesOf(events);
      await store.apply(journalId, entries.slice(0, 8));
      await store.apply(journalId, entries.slice(0, 8));
      await store.apply(journalId, entries.slice(2, 6));
      await store.apply(journalId, entries.slice(4, 12));
      await store.apply(journalId, entries);
      await store.apply(journalId, entries.slice(10));
      expect(await store.appliedSeq(journalId)).toBe(entries.length);
      expect(normalized(await storedOf(store, saleId, LOAD_AT))).toEqual(normalized(expected));
      // Another journal's progress is its own.
      expect(await store.appliedSeq(freshId("journal"))).toBe(0);
    });

    test("listReservations pages by id and filters by status; confirmed ones carry their codes", async () => {
      const store = await open();
      const saleId = freshId("sale");
      const { events, ids } = scenario(saleId);
      await store.apply(freshId("journal"), entriesOf(events));
      // More holds, decided by the ledger on the scenario's sale: reopened, with stock for them.
      const ledger = new SaleLedger(replayed(events));
      const extra: SaleEvent[] = [];
      ledger.execute({ kind: "patch", patch: { paused: false } }, T0 + 899_998, extra);
      ledger.execute({ kind: "stock", itemId: "tee", delta: 20 }, T0 + 899_999, extra);
      const released = [ids.r2];
      for (let i = 0; i < 23; i += 1) {
        const at = T0 + 900_000 + 2 * i;
        const outcome = ledger.execute({ kind: "hold", userId: `pager-${i}`, itemId: "tee", quantity: 1, idempotencyKey: null }, at, extra);
        if (!outcome.ok || !("reservation" in outcome)) throw new Error(`extra hold ${i} refused`);
        if (i % 3 !== 0) continue;
        ledger.execute({ kind: "release", reservationId: outcome.reservation.id, userId: `pager-${i}` }, at + 1, extra);
        released.push(outcome.reservation.id);
      }
      await store.apply(freshId("journal"), entriesOf(extra));
      const all: string[] = [];
      let cursor: string | undefined;
      for (let pages = 0; pages < 10; pages += 1) {
        const page = await store.listReservations(saleId, { limit: 10, ...(cursor === undefined ? {} : { cursor }) });
        expect(page.reservations.length).toBeLessThanOrEqual(10);
        all.push(...page.reservations.map((r) => r.id));
        if (page.nextCursor === null) break;
        cursor = page.nextCursor;
      }
      expect(all.length).toBe(28);
      expect(all).toEqual([...all].sort());
      const releasedPage = await store.listReservations(saleId, { status: "released", limit: 1000 });
      expect(releasedPage.reservations.map((r) => r.id)).toEqual(released.sort());
      expect(releasedPage.reservations.length).toBe(9);
      expect(releasedPage.nextCursor).toBeNull();
      const held = await store.listReservations(saleId, { status: "held", limit: 5 });
      expect(held.reservations.every((r) => r.status === "held")).toBe(true);
      expect(held.nextCursor).toBe(held.reservations[4]?.id ?? "missing");
      const confirmed = await store.listReservations(saleId, { status: "confirmed", limit: 1000 });
      expect(confirmed.reservations.map((r) => [r.id, r.codes, r.paymentId])).toEqual([
        [ids.r1, [], "p1"],
        [ids.r3, [], "p4"],
        [ids.r4, ["C-1", "C-2"], "p2"],
      ]);
      expect(await store.listReservations(freshId("no-sale"), { limit: 10 })).toEqual({ reservations: [], nextCursor: null });
    });

    test("listPayments lists every payment in order, or those of one outcome", async () => {
      const store = await open();
      const saleId = freshId("sale");
      const { events, expected } = scenario(saleId);
      await store.apply(freshId("journal"), entriesOf(events));
      expect(await store.listPayments(saleId)).toEqual(expected.payments);
      const late = await store.listPayments(saleId, "confirmed_late");
      expect(late.map((p) => p.eventId)).toEqual(["ev4"]);
      expect((await store.listPayments(saleId, "confirmed")).map((p) => p.eventId)).toEqual(["ev1", "ev2"]);
      expect(await store.listPayments(saleId, "already_confirmed")).toEqual([]);
    });

    test("loadSales returns only the sales the caller owns", async () => {
      const store = await open();
      const mine = freshId("sale");
      const theirs = freshId("sale");
      const journalId = freshId("journal");
      await store.apply(journalId, entriesOf(scenario(mine).events.slice(0, 3)));
      await store.apply(journalId, entriesOf(scenario(theirs).events.slice(0, 3), 4));
      const loaded = await store.loadSales((id) => id === mine || id === "nobody");
      expect(loaded.map((s) => s.sale.id)).toEqual([mine]);
      // A sale with no hold yet: nothing live, nothing counted.
      expect(loaded[0]).toMatchObject({ holds: [], confirmedUnits: [], keyed: [], payments: [], holdCount: 0 });
    });

    test("a sale restored from the store equals the ledger that decided it (seeded runs)", async () => {
      const store = await open();
      for (const seed of [1, 2, 3, 4, 5]) {
        const saleId = freshId(`seed${seed}`);
        const run = ledgerRun(saleId, seed, 400);
        await applyInBatches(store, freshId("journal"), run.events, run.batchSizes);
        const stored = await storedOf(store, saleId, run.now);
        expect(stored.holdCount).toBe(run.reservationIds.length);
        const restored = restoreSale(stored, run.now);
        expect(run.view(restored)).toEqual(run.view(run.ledger.state));
        expectSameSale(restored, run.ledger.state, run.now);
      }
    });

    test("a sale of many ended holds loads only its live ones, with exact units, keys and count", async () => {
      const store = await open();
      const saleId = freshId("big");
      const run = mostlyEndedRun(saleId, 3_000, 200);
      await applyInBatches(store, freshId("journal"), run.events, [500]);
      const stored = await storedOf(store, saleId, run.now);
      const live = liveHolds(run.ledger.state);
      expect(live.length).toBe(180);
      expect(stored.holds).toEqual(live);
      expect(stored.confirmedUnits).toEqual(run.confirmedUnits);
      expect(stored.holdCount).toBe(run.holdsPlaced);
      // Keys of holds placed a day before `now` are not loaded; those of the last hour are, in order.
      expect(stored.keyed.map((r) => r.id)).toEqual(run.recentKeyedIds);
      expect(stored.payments.length).toBe(1_000 + 20);
      expectSameSale(restoreSale(stored, run.now), run.ledger.state, run.now);
    });

    runHistorySuite(open);
  });
}
