// Stored reservation rows -> the ledger's Reservation, for both dialects. Listings read drizzle rows
// (camel-case objects); recovery and buyer reads select plain value arrays in RESERVATION_COLUMNS
// order, which spares the drivers building an object per row keyed by column name. A row's codes
// are read separately (codes table) and passed in.

import type { Reservation, ReservationStatus } from "../ledger/types.ts";

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

/**
 * The columns every value-array read selects, in this order (both dialects' SQL spells them out
 * from here, so that `reservationOfValues` reads the same positions everywhere).
 */
export const RESERVATION_COLUMNS =
  "id, item_id, user_id, quantity, status, amount, currency, created_at, expires_at, ended_at, payment_id";

/** Index of the first column a query selects after RESERVATION_COLUMNS. */
export const RESERVATION_COLUMN_COUNT = 11;

/** A row selected as RESERVATION_COLUMNS (the sale id is known to the caller, not selected). */
export function reservationOfValues(saleId: string, values: readonly unknown[], codes: string[]): Reservation {
  return {
    id: values[0] as string,
    saleId,
    itemId: values[1] as string,
    userId: values[2] as string,
    quantity: values[3] as number,
    status: values[4] as ReservationStatus,
    amount: values[5] as number,
    currency: values[6] as string,
    createdAt: values[7] as number,
    expiresAt: values[8] as number,
    endedAt: values[9] as number,
    codes,
    paymentId: values[10] as string | null,
  };
}

/** Delivered codes grouped by reservation, each list in the order the rows come (delivery order). */
export function codesByReservation(rows: Iterable<readonly unknown[]>): Map<string, string[]> {
  const byReservation = new Map<string, string[]>();
  for (const row of rows) {
    const reservationId = row[0] as string;
    const code = row[1] as string;
    const list = byReservation.get(reservationId);
    if (list === undefined) byReservation.set(reservationId, [code]);
    else list.push(code);
  }
  return byReservation;
}
