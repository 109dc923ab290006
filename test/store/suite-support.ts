// Helpers of the store conformance suite: journal entries and batches, loading one sale, a stored sale
// with its id blanked (to compare runs under different ids), and the comparison of a restored sale
// with the ledger that decided it.

import { expect } from "bun:test";
import type { JournalEntry } from "../../src/journal/journal.ts";
import type { StoredSale } from "../../src/ledger/restore.ts";
import { SaleLedger } from "../../src/ledger/sale-ledger.ts";
import type { SaleState } from "../../src/ledger/sale-state.ts";
import type { Outcome, Reservation, SaleEvent } from "../../src/ledger/types.ts";
import type { Store } from "../../src/store/store.ts";
import { unitsByBuyer } from "./ledger-run.ts";

let unique = 0;
export const freshId = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${(unique += 1)}`;

export const entriesOf = (events: readonly SaleEvent[], firstSeq = 1): JournalEntry[] =>
  events.map((event, i) => ({ seq: firstSeq + i, event }));

/** Cut entries into consecutive batches of the given sizes (the last size repeats). */
export function batches(entries: JournalEntry[], sizes: number[]): JournalEntry[][] {
  const out: JournalEntry[][] = [];
  for (let at = 0, i = 0; at < entries.length; i += 1) {
    const size = sizes[Math.min(i, sizes.length - 1)] ?? 1;
    out.push(entries.slice(at, at + size));
    at += size;
  }
  return out;
}

export async function applyInBatches(store: Store, journalId: string, events: readonly SaleEvent[], sizes: number[]): Promise<void> {
  for (const batch of batches(entriesOf(events), sizes)) await store.apply(journalId, batch);
}

/** What loadSales gives for one sale, checking that it gives that sale alone. */
export async function storedOf(store: Store, saleId: string, now: number): Promise<StoredSale> {
  const loaded = await store.loadSales((id) => id === saleId, now);
  expect(loaded.map((s) => s.sale.id)).toEqual([saleId]);
  return loaded[0] as StoredSale;
}

/** A stored sale with the sale id blanked, to compare runs of the same events under different ids. */
export function normalized(stored: StoredSale) {
  const blank = (id: string) => id.replace(stored.sale.id, "-");
  const reservation = (r: Reservation) => ({ ...r, id: blank(r.id), saleId: "-" });
  return {
    sale: { ...stored.sale, id: "-" },
    items: stored.items.map(({ id, name, price, currency, delivery, stock, available, held, confirmed, codes }) => ({
      id, name, price, currency, delivery, stock, available, held, confirmed, codes,
    })),
    holds: stored.holds.map(reservation),
    confirmedUnits: stored.confirmedUnits,
    keyed: stored.keyed.map(reservation),
    payments: stored.payments.map((p) => ({ ...p, reservationId: blank(p.reservationId), saleId: "-" })),
    holdCount: stored.holdCount,
  };
}

/** A sale state rebuilt from its events through the ledger's own apply (which checks each one). */
export function replayed(events: readonly SaleEvent[]): SaleState {
  const [created, ...rest] = events;
  if (created?.type !== "sale_created") throw new Error("a history starts with sale_created");
  const ledger = SaleLedger.fromCreated(created);
  for (const event of rest) ledger.state.apply(event);
  return ledger.state;
}

/** Every live hold of a state, in creation order (created_at, then id). */
export function liveHolds(state: SaleState): Reservation[] {
  const list: Reservation[] = [];
  for (let row = 0; row < state.holds.usedRows; row += 1) {
    if (state.holds.isUsed(row)) list.push(state.liveReservation(row));
  }
  return list.sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/**
 * A sale restored from a store must be the sale its ledger decided, in everything that is live:
 * settings and item counts, code pools, live holds (ids, rows, fields), per-buyer units, payments,
 * idempotency records and the hold numbering; and its invariants hold.
 */
export function expectSameSale(restored: SaleState, live: SaleState, now: number): void {
  restored.assertAll();
  expect({ paused: restored.paused, name: restored.name, startsAt: restored.startsAt, endsAt: restored.endsAt })
    .toEqual({ paused: live.paused, name: live.name, startsAt: live.startsAt, endsAt: live.endsAt });
  expect({ holdSeconds: restored.holdSeconds, limitPerUser: restored.limitPerUser, holdSeq: restored.holdSeq })
    .toEqual({ holdSeconds: live.holdSeconds, limitPerUser: live.limitPerUser, holdSeq: live.holdSeq });
  const items = (state: SaleState) =>
    state.itemList.map((item) => ({
      id: item.id, stock: item.stock, available: item.available, held: item.held, confirmed: item.confirmed,
      pool: item.unassignedCodeList(), delivered: item.deliveredCodeList().sort(),
    }));
  expect(items(restored)).toEqual(items(live));
  const holds = liveHolds(live);
  expect(liveHolds(restored)).toEqual(holds);
  // Each hold sits in the row its id names, so the owner finds it without an index.
  for (const hold of holds) expect(restored.liveRow(hold.id)).toBe(live.liveRow(hold.id));
  expect(unitsByBuyer(restored)).toEqual(unitsByBuyer(live));
  for (const [, buyer] of live.buyers.entries()) expect(restored.liveOf(buyer)).toEqual(live.liveOf(buyer));
  expect([...restored.paymentsByEvent.values()]).toEqual([...live.paymentsByEvent.values()]);
  expect([...restored.paymentsById.entries()].sort()).toEqual([...live.paymentsById.entries()].sort());
  expect([...restored.idempotency.entries()].sort()).toEqual([...live.idempotency.entries()].sort());
  expectSameIdempotencyAnswers(restored, live, now);
}

/**
 * Every remembered key, sent again with the same body, replays the same first answer on both sales,
 * and with another body is refused on both; neither records anything.
 */
function expectSameIdempotencyAnswers(restored: SaleState, live: SaleState, now: number): void {
  const answer = (state: SaleState, command: Parameters<SaleLedger["execute"]>[0]): Outcome => {
    const out: SaleEvent[] = [];
    const outcome = new SaleLedger(state).execute(command, now, out);
    expect(out).toEqual([]);
    return outcome;
  };
  for (const [mapKey, record] of live.idempotency) {
    // Split at the first newline: a buyer id has none (the scenario's awkward key does).
    const cut = mapKey.indexOf("\n");
    const userId = mapKey.slice(0, cut);
    const key = mapKey.slice(cut + 1);
    const same = { kind: "hold" as const, userId, itemId: record.itemId, quantity: record.quantity, idempotencyKey: key };
    const replay = answer(live, same);
    expect(replay).toMatchObject({ ok: true, replayed: true });
    expect(answer(restored, same)).toEqual(replay);
    const other = { ...same, quantity: record.quantity + 1 };
    expect(answer(restored, other)).toEqual(answer(live, other));
  }
}
