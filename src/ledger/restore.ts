// Rebuild a sale's state from what a store holds (the recovery path of DESIGN.md): counts, every
// reservation, payments, idempotency keys and the code pool. The result is checked with
// assertAll(), so a store that disagrees with itself stops the worker instead of selling from it.

import { IDEMPOTENCY_KEEP_MS, SaleState } from "./sale-state.ts";
import type { ItemSpec, Payment, Reservation } from "./types.ts";

export type SaleSnapshot = {
  sale: {
    id: string;
    name: string;
    startsAt: number;
    endsAt: number;
    holdSeconds: number;
    limitPerUser: number;
    paused: boolean;
    createdAt: number;
  };
  /** In the order the sale listed them. */
  items: (ItemSpec & {
    available: number;
    held: number;
    confirmed: number;
    /** Every code of the item in delivery order. */
    codes: { code: string; assigned: boolean }[];
  })[];
  /** In creation order. */
  reservations: (Reservation & { idempotencyKey: string | null; fingerprint: string | null })[];
  /** In the order they were received. */
  payments: Payment[];
};

export function restoreSale(snapshot: SaleSnapshot, now: number): SaleState {
  const { sale } = snapshot;
  const state = new SaleState(
    {
      id: sale.id,
      name: sale.name,
      startsAt: sale.startsAt,
      endsAt: sale.endsAt,
      holdSeconds: sale.holdSeconds,
      limitPerUser: sale.limitPerUser,
      items: snapshot.items.map((item) => ({ ...item, stock: item.delivery === "codes" ? 0 : item.stock })),
    },
    sale.createdAt,
  );
  state.paused = sale.paused;
  for (const item of snapshot.items) state.item(item.id).restore(item, item.codes);
  for (const stored of snapshot.reservations) {
    const { idempotencyKey, fingerprint, ...reservation } = stored;
    state.reservations.set(reservation.id, reservation);
    let own = state.reservationsByUser.get(reservation.userId);
    if (own === undefined) state.reservationsByUser.set(reservation.userId, (own = []));
    own.push(reservation);
    if (reservation.status === "held" || reservation.status === "confirmed") {
      state.unitsByUser.set(reservation.userId, state.unitsOf(reservation.userId) + reservation.quantity);
    }
    if (reservation.status === "held") state.expiries.push(reservation.expiresAt, reservation);
    if (idempotencyKey !== null && fingerprint !== null && reservation.createdAt + IDEMPOTENCY_KEEP_MS > now) {
      state.rememberIdempotencyKey(reservation.userId, idempotencyKey, fingerprint, reservation.id, reservation.createdAt);
    }
  }
  for (const payment of snapshot.payments) {
    state.paymentsByEvent.set(payment.eventId, payment);
    if (payment.status === "succeeded" && !state.paymentsById.has(payment.paymentId)) {
      state.paymentsById.set(payment.paymentId, payment);
    }
  }
  state.version = 1;
  state.assertAll();
  return state;
}
