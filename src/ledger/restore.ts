// Rebuild a sale's state from what a store holds, for the one case the journal cannot serve: the
// sales of a data dir whose journals were drained into the store (a change in the number of workers
// moves sales between journals; a data dir of an older version). Only what is live comes back:
// live holds, per-buyer totals, idempotency keys younger than 24 h, payments, the code pool and the
// waiting room's places and counters; ended reservations stay in the store. The result is checked
// with assertAll(), so a store that disagrees with itself stops the worker instead of selling from it.

import { invariant } from "./invariant.ts";
import type { RecentEnded } from "./recent-ended.ts";
import { parseReservationId } from "./reservation-id.ts";
import { IDEMPOTENCY_KEEP_MS, SaleState } from "./sale-state.ts";
import type { ItemSpec, Payment, Reservation, WaitingRoomSettings } from "./types.ts";
import { type RoomHeader, type StoredPlace, WaitingRoom } from "./waiting-room.ts";

/** A room's header as the store keeps it: its settings are the sale's. */
export type RoomCounters = Omit<RoomHeader, "settings">;

export type StoredSale = {
  sale: {
    id: string;
    name: string;
    startsAt: number;
    endsAt: number;
    holdSeconds: number;
    limitPerUser: number;
    paused: boolean;
    createdAt: number;
    /** The room's settings, null or absent without a room. */
    waitingRoom?: WaitingRoomSettings | null;
  };
  /**
   * The waiting room's counters and places, as the write-behind kept them from the queue's events;
   * absent when the store has none (a room opened before the store kept rooms comes back empty).
   * Counters of a room turned off matter only for the epoch, which the next room continues from.
   */
  room?: { counters: RoomCounters; places: StoredPlace[] };
  /** In the order the sale listed them. */
  items: (ItemSpec & {
    available: number;
    held: number;
    confirmed: number;
    /** Every code of the item in delivery order. */
    codes: { code: string; assigned: boolean }[];
  })[];
  /** The live holds (status held), in creation order. */
  holds: Reservation[];
  /** Confirmed units per buyer, for buyers who own any. */
  confirmedUnits: { userId: string; units: number }[];
  /** Holds placed with an Idempotency-Key in the last 24 h, whatever became of them, oldest first. */
  keyed: (Reservation & { idempotencyKey: string; fingerprint: string })[];
  /** In the order they were received. */
  payments: Payment[];
  /** Holds ever placed in the sale (the next hold is numbered past it). */
  holdCount: number;
};

export function restoreSale(stored: StoredSale, now: number, recent?: RecentEnded): SaleState {
  const { sale } = stored;
  const state = new SaleState(
    {
      id: sale.id,
      name: sale.name,
      startsAt: sale.startsAt,
      endsAt: sale.endsAt,
      holdSeconds: sale.holdSeconds,
      limitPerUser: sale.limitPerUser,
      waitingRoom: sale.waitingRoom ?? null,
      items: stored.items.map((item) => ({ ...item, stock: item.delivery === "codes" ? 0 : item.stock })),
    },
    sale.createdAt,
    recent,
  );
  state.paused = sale.paused;
  for (const item of stored.items) state.item(item.id).restore(item, item.codes);
  for (const { userId, units } of stored.confirmedUnits) {
    if (units > 0) state.buyers.units[state.buyers.intern(userId)] = units;
  }
  // Holds whose ids name their row go back to that row; older ids take the rows left free.
  let holdSeq = stored.holdCount;
  const legacy: Reservation[] = [];
  for (const hold of stored.holds) {
    const parsed = parseReservationId(state.idPrefix, hold.id);
    if (parsed === null) {
      legacy.push(hold);
      continue;
    }
    state.holds.occupy(parsed.row);
    placeHold(state, parsed.row, parsed.seq, hold);
    holdSeq = Math.max(holdSeq, parsed.seq);
  }
  state.holds.rebuildFreeRows();
  // A hold of the older form keeps its id; its number only tells its row's holds apart, so it takes
  // a small one. Numbers past holdCount are never used up this way: every number a later hold gets
  // is the count of holds the store will have, and a second load from the store continues after it.
  for (const [index, hold] of legacy.entries()) {
    const row = state.holds.allocate();
    placeHold(state, row, index + 1, hold);
    state.legacyRowById.set(hold.id, row);
    state.legacyIdByRow.set(row, hold.id);
    state.legacyIdsLoaded = true;
  }
  state.holdSeq = Math.max(holdSeq, legacy.length);
  for (const keyed of stored.keyed) {
    if (keyed.createdAt + IDEMPOTENCY_KEEP_MS <= now) continue;
    state.rememberIdempotencyKey(keyed.userId, keyed.idempotencyKey, {
      fingerprint: keyed.fingerprint,
      reservationId: keyed.id,
      itemId: keyed.itemId,
      quantity: keyed.quantity,
      amount: keyed.amount,
      currency: keyed.currency,
      at: keyed.createdAt,
      expiresAt: keyed.expiresAt,
    });
  }
  for (const payment of stored.payments) {
    state.paymentsByEvent.set(payment.eventId, payment);
    if (payment.status === "succeeded" && !state.paymentsById.has(payment.paymentId)) {
      state.paymentsById.set(payment.paymentId, payment);
    }
  }
  if (stored.room !== undefined) {
    const { counters, places } = stored.room;
    state.roomEpoch = counters.epoch;
    state.room = sale.waitingRoom === undefined || sale.waitingRoom === null ? null : WaitingRoom.fromPlaces({ ...counters, settings: sale.waitingRoom }, places);
  }
  state.version = 1;
  state.assertAll();
  return state;
}

function placeHold(state: SaleState, row: number, seq: number, hold: Reservation): void {
  invariant(hold.status === "held", () => `reservation ${hold.id} loaded as live while ${hold.status}`);
  const buyer = state.fillRow(row, seq, hold.userId, state.item(hold.itemId), hold.quantity, hold.createdAt, hold.expiresAt);
  state.buyers.units[buyer] = (state.buyers.units[buyer] as number) + hold.quantity;
}
