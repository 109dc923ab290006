// The conformance suite of the Store port: every system of record (embedded SQLite, PostgreSQL) must
// pass it unchanged. It applies hand-built journal entries, cut into batches in several ways, and
// checks what loadSales and the listings give back, that batch boundaries never change the result,
// and that replays are exactly-once. A second part drives the real ledger with a seeded generator
// and checks that a sale restored from the store equals the ledger that decided it.

import { afterAll, describe, expect, test } from "bun:test";
import type { JournalEntry } from "../../src/journal/journal.ts";
import { restoreSale, type SaleSnapshot } from "../../src/ledger/restore.ts";
import type { SaleEvent } from "../../src/ledger/types.ts";
import type { Store } from "../../src/store/store.ts";
import { ledgerRun } from "./ledger-run.ts";
import { rid, scenario, T0 } from "./scenario.ts";

/** Returns a migrated store; each call may share the database of earlier ones (ids never repeat). */
export type NewStore = () => Promise<Store>;

let unique = 0;
const freshId = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${(unique += 1)}`;

const entriesOf = (events: readonly SaleEvent[], firstSeq = 1): JournalEntry[] =>
  events.map((event, i) => ({ seq: firstSeq + i, event }));

/** Cut entries into consecutive batches of the given sizes (the last size repeats). */
function batches(entries: JournalEntry[], sizes: number[]): JournalEntry[][] {
  const out: JournalEntry[][] = [];
  for (let at = 0, i = 0; at < entries.length; i += 1) {
    const size = sizes[Math.min(i, sizes.length - 1)] ?? 1;
    out.push(entries.slice(at, at + size));
    at += size;
  }
  return out;
}

async function snapshotOf(store: Store, saleId: string): Promise<SaleSnapshot> {
  const snapshots = await store.loadSales((id) => id === saleId);
  expect(snapshots.map((s) => s.sale.id)).toEqual([saleId]);
  return snapshots[0] as SaleSnapshot;
}

/** A snapshot with the sale id blanked, to compare runs of the same events under different ids. */
function normalized(snapshot: SaleSnapshot) {
  const blank = (id: string) => id.replace(snapshot.sale.id, "-");
  return {
    sale: { ...snapshot.sale, id: "-" },
    items: snapshot.items.map(({ id, name, price, currency, delivery, stock, available, held, confirmed, codes }) => ({
      id, name, price, currency, delivery, stock, available, held, confirmed, codes,
    })),
    reservations: snapshot.reservations.map((r) => ({ ...r, id: blank(r.id), saleId: "-" })),
    payments: snapshot.payments.map((p) => ({ ...p, reservationId: blank(p.reservationId), saleId: "-" })),
  };
}

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

    test("a sale's whole life loads back exactly: counts, reservations, codes, payments, keys", async () => {
      const store = await open();
      const saleId = freshId("sale");
      const { events, expected } = scenario(saleId);
      const journalId = freshId("journal");
      for (const batch of batches(entriesOf(events), [3, 1, 4, 2, 5])) await store.apply(journalId, batch);
      expect(await store.appliedSeq(journalId)).toBe(events.length);
      const snapshot = await snapshotOf(store, saleId);
      expect(normalized(snapshot)).toEqual(normalized(expected));
      // The ledger accepts it: restoring checks every invariant (counts, code pool, per-buyer units).
      const state = restoreSale(snapshot, T0 + 700_000);
      expect(state.idempotency.size).toBe(2);
    });

    test("batch boundaries never change the result", async () => {
      const store = await open();
      const results = [];
      for (const sizes of [[1_000], [1], [2, 7, 1, 3], [5, 5, 1]]) {
        const saleId = freshId("sale");
        const journalId = freshId("journal");
        const { events } = scenario(saleId);
        for (const batch of batches(entriesOf(events), sizes)) await store.apply(journalId, batch);
        results.push(normalized(await snapshotOf(store, saleId)));
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
      expect(normalized(await snapshotOf(store, saleId))).toEqual(normalized(expected));
      // Another journal's progress is its own.
      expect(await store.appliedSeq(freshId("journal"))).toBe(0);
    });

    test("listReservations pages by id and filters by status; confirmed ones carry their codes", async () => {
      const store = await open();
      const saleId = freshId("sale");
      const { events } = scenario(saleId);
      await store.apply(freshId("journal"), entriesOf(events));
      // Enough stock for the extra holds, so the counts stay ones a ledger could have reached.
      const extra: SaleEvent[] = [{ type: "stock_adjusted", saleId, at: T0 + 899_999, itemId: "tee", delta: 20 }];
      for (let i = 0; i < 23; i += 1) {
        const reservationId = rid(saleId, `p-${String(i).padStart(3, "0")}`);
        const at = T0 + 900_000 + i;
        extra.push({
          type: "hold_placed", saleId, at, reservationId, itemId: "tee", userId: `pager-${i}`, quantity: 1,
          amount: 2500, currency: "EUR", expiresAt: at + 600_000, idempotencyKey: null, fingerprint: null,
        });
        if (i % 3 === 0) extra.push({ type: "hold_released", saleId, at: at + 1, reservationId, itemId: "tee", quantity: 1 });
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
      const released = await store.listReservations(saleId, { status: "released", limit: 1000 });
      const releasedIds = ["p-000", "p-003", "p-006", "p-009", "p-012", "p-015", "p-018", "p-021", "r2"];
      expect(released.reservations.map((r) => r.id)).toEqual(releasedIds.map((id) => rid(saleId, id)));
      expect(released.nextCursor).toBeNull();
      const held = await store.listReservations(saleId, { status: "held", limit: 5 });
      expect(held.reservations.every((r) => r.status === "held")).toBe(true);
      expect(held.nextCursor).toBe(held.reservations[4]?.id ?? "missing");
      const confirmed = await store.listReservations(saleId, { status: "confirmed", limit: 1000 });
      expect(confirmed.reservations.map((r) => [r.id, r.codes, r.paymentId])).toEqual([
        [rid(saleId, "r1"), [], "p1"],
        [rid(saleId, "r3"), [], "p4"],
        [rid(saleId, "r4"), ["C-1", "C-2"], "p2"],
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
    });

    test("a sale restored from the store equals the ledger that decided it (seeded runs)", async () => {
      const store = await open();
      for (const seed of [1, 2, 3, 4, 5]) {
        const saleId = freshId(`seed${seed}`);
        const run = ledgerRun(saleId, seed, 400);
        const journalId = freshId("journal");
        const entries = entriesOf(run.events);
        for (const batch of batches(entries, run.batchSizes)) await store.apply(journalId, batch);
        const restored = restoreSale(await snapshotOf(store, saleId), run.now);
        const sorted = <T extends { id: string }>(list: Iterable<T>) => [...list].sort((a, b) => a.id.localeCompare(b.id));
        expect(run.view(restored)).toEqual(run.view(run.ledger.state));
        expect(sorted(restored.reservations.values())).toEqual(sorted(run.ledger.state.reservations.values()));
        expect([...restored.paymentsByEvent.values()]).toEqual([...run.ledger.state.paymentsByEvent.values()]);
        expect([...restored.idempotency.entries()].sort()).toEqual([...run.ledger.state.idempotency.entries()].sort());
      }
    });
  });
}
