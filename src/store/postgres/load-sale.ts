// Recovery's read of one sale from PostgreSQL, for a worker whose journal is empty: what is live, not
// everything that ever happened (restore.ts, StoredSale), and its waiting room's counters and places.
// Nine selects in parallel, each one set-based statement served by an index; no per-row query anywhere. A sale with a million ended
// reservations costs its live holds (reservations_sale_status_idx), its keyed holds of the last 24 h
// (the partial reservations_sale_keyed_idx) and two aggregates (confirmed units per buyer, the hold
// count); no ended row travels. The row-heavy selects come back as arrays of values, so postgres.js
// builds no per-row object keyed by column name.
//
// The selects run on several connections, so they are not one snapshot. That is sound because
// nobody writes the sale meanwhile: the store is loaded only when the owner's journal is empty, and
// a sale's events come from its owner's journal alone (the journals that held it before a change in
// the number of workers were drained first).

import type { StoredSale } from "../../ledger/restore.ts";
import { IDEMPOTENCY_KEEP_MS } from "../../ledger/sale-state.ts";
import type { Delivery, Payment, PaymentOutcome } from "../../ledger/types.ts";
import { PLACE_COLUMNS, ROOM_COLUMNS, countersOfValues, placeOfValues } from "../queue-row.ts";
import { RESERVATION_COLUMNS, RESERVATION_COLUMN_COUNT, reservationOfValues } from "../reservation-row.ts";
import type { StoreSql } from "./apply-batch.ts";

type Values = unknown[];

export async function loadSale(sql: StoreSql, sale: StoredSale["sale"], now: number): Promise<StoredSale> {
  const saleId = sale.id;
  const columns = sql.unsafe(RESERVATION_COLUMNS);
  const [itemRows, codeRows, holdRows, confirmedRows, keyedRows, paymentRows, countRows, roomRows, placeRows] = await Promise.all([
    sql`SELECT id, name, price, currency, delivery, stock, available, held, confirmed
      FROM items WHERE sale_id = ${saleId} ORDER BY position`,
    sql`SELECT item_id, code, reservation_id IS NOT NULL FROM codes WHERE sale_id = ${saleId} ORDER BY ordinal`.values(),
    // Ties on created_at in byte order of the id, as the embedded store's BINARY collation sorts them.
    sql`SELECT ${columns} FROM reservations
      WHERE sale_id = ${saleId} AND status = 'held' ORDER BY created_at, id COLLATE "C"`.values(),
    sql`SELECT user_id, sum(quantity)::int8 FROM reservations
      WHERE sale_id = ${saleId} AND status = 'confirmed'
      GROUP BY user_id HAVING sum(quantity) > 0 ORDER BY user_id COLLATE "C"`.values(),
    // `idempotency_key IS NOT NULL` as written lets the planner use the partial index. A key without a
    // fingerprint was never remembered by the ledger either (SaleState.applyHold).
    sql`SELECT ${columns}, idempotency_key, fingerprint FROM reservations
      WHERE sale_id = ${saleId} AND idempotency_key IS NOT NULL AND created_at > ${now - IDEMPOTENCY_KEEP_MS}
        AND fingerprint IS NOT NULL
      ORDER BY created_at, id COLLATE "C"`.values(),
    sql`SELECT payment_id, event_id, reservation_id, amount, currency, status, outcome, received_at
      FROM payments WHERE sale_id = ${saleId} ORDER BY received_at, event_id COLLATE "C"`,
    sql`SELECT count(*)::int8 AS n FROM reservations WHERE sale_id = ${saleId}`,
    sql`SELECT ${sql.unsafe(ROOM_COLUMNS)} FROM queue_rooms WHERE sale_id = ${saleId}`.values(),
    sql`SELECT ${sql.unsafe(PLACE_COLUMNS)} FROM queue_places WHERE sale_id = ${saleId}`.values(),
  ]);
  const roomRow = (roomRows as unknown as Values[])[0];

  const codesByItem = new Map<string, { code: string; assigned: boolean }[]>();
  for (const [itemId, code, assigned] of codeRows as unknown as Values[]) {
    let pool = codesByItem.get(itemId as string);
    if (pool === undefined) codesByItem.set(itemId as string, (pool = []));
    pool.push({ code: code as string, assigned: assigned as boolean });
  }

  return {
    ...(roomRow === undefined ? {} : { room: { counters: countersOfValues(roomRow), places: (placeRows as unknown as Values[]).map(placeOfValues) } }),
    sale,
    items: itemRows.map((item) => ({
      id: item.id as string,
      name: item.name as string,
      price: item.price as number,
      currency: item.currency as string,
      delivery: item.delivery as Delivery,
      stock: item.stock as number,
      available: item.available as number,
      held: item.held as number,
      confirmed: item.confirmed as number,
      codes: codesByItem.get(item.id) ?? [],
    })),
    // Held reservations have no codes yet: codes are delivered when a payment confirms.
    holds: (holdRows as unknown as Values[]).map((row) => reservationOfValues(saleId, row, [])),
    confirmedUnits: (confirmedRows as unknown as Values[]).map(([userId, units]) => ({
      userId: userId as string,
      units: units as number,
    })),
    // The ledger remembers a key with the reservation as its first answer showed it; the codes of a
    // reservation confirmed since are not part of that answer.
    keyed: (keyedRows as unknown as Values[]).map((row) => ({
      ...reservationOfValues(saleId, row, []),
      idempotencyKey: row[RESERVATION_COLUMN_COUNT] as string,
      fingerprint: row[RESERVATION_COLUMN_COUNT + 1] as string,
    })),
    payments: paymentRows.map(
      (p): Payment => ({
        paymentId: p.payment_id as string,
        eventId: p.event_id as string,
        saleId,
        reservationId: p.reservation_id as string,
        amount: p.amount as number,
        currency: p.currency as string,
        status: p.status as Payment["status"],
        outcome: p.outcome as PaymentOutcome,
        receivedAt: p.received_at as number,
      }),
    ),
    holdCount: (countRows[0]?.n as number | undefined) ?? 0,
  };
}
