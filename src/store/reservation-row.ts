// A stored reservation row -> the ledger's Reservation. Both dialects' drizzle rows have these
// fields under these names; the row's codes are read separately and passed in.

import type { Reservation } from "../ledger/types.ts";

export type ReservationRow = Omit<Reservation, "codes"> & { idempotencyKey?: string | null; fingerprint?: string | null };

export function toReservation(row: ReservationRow, codes: string[]): Reservation {
  return {
    id: row.id,
    saleId: row.saleId,
    itemId: row.itemId,
    userId: row.userId,
    quantity: row.quantity,
    status: row.status,
    amount: row.amount,
    currency: row.currency,
    createdAt: row.createdAt,
    expiresAt: row.expiresAt,
    endedAt: row.endedAt,
    codes,
    paymentId: row.paymentId,
  };
}
