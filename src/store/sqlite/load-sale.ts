// Recovery's read of one sale from the embedded store, for a worker whose journal is empty: what is
// live, not everything that ever happened (restore.ts, StoredSale), and its waiting room's counters
// and places. Each part is one set-based statement served by an index, so a sale with a million ended reservations costs its live holds,
// its keyed holds of the last 24 h and two aggregates (confirmed units per buyer, the hold count);
// no ended row is turned into a value. The statements run in one read transaction, so they all see
// the same commit of a flusher writing meanwhile.

import type { Database } from "bun:sqlite";
import type { StoredSale } from "../../ledger/restore.ts";
import { IDEMPOTENCY_KEEP_MS } from "../../ledger/sale-state.ts";
import type { Delivery, Payment, PaymentOutcome } from "../../ledger/types.ts";
import { PLACE_COLUMNS, ROOM_COLUMNS, countersOfValues, placeOfValues } from "../queue-row.ts";
import { RESERVATION_COLUMNS, RESERVATION_COLUMN_COUNT, reservationOfValues } from "../reservation-row.ts";

type Values = unknown[];

type ItemRow = {
  id: string;
  name: string;
  price: number;
  currency: string;
  delivery: Delivery;
  stock: number;
  available: number;
  held: number;
  confirmed: number;
};

type PaymentRow = Omit<Payment, "outcome"> & { outcome: string };

/** The statements of a sale's load, prepared once per store; SQL text is exported for plan checks. */
export const LOAD_SALE_SQL = {
  items: `SELECT id, name, price, currency, delivery, stock, available, held, confirmed
    FROM items WHERE sale_id = ? ORDER BY position`,
  codes: `SELECT item_id, code, reservation_id IS NOT NULL FROM codes WHERE sale_id = ? ORDER BY ordinal`,
  holds: `SELECT ${RESERVATION_COLUMNS} FROM reservations
    WHERE sale_id = ? AND status = 'held' ORDER BY created_at, id`,
  // INDEXED BY: without statistics the planner would walk the (sale_id, user_id) index to save the
  // GROUP BY's sort, which reads every reservation of the sale; the status index reads only the
  // confirmed ones.
  confirmedUnits: `SELECT user_id, sum(quantity) FROM reservations INDEXED BY reservations_sale_status_idx
    WHERE sale_id = ? AND status = 'confirmed' GROUP BY user_id HAVING sum(quantity) > 0 ORDER BY user_id`,
  // The partial index reservations_sale_keyed_idx holds exactly the rows with a key. A key without a
  // fingerprint was never remembered by the ledger either (SaleState.applyHold).
  keyed: `SELECT ${RESERVATION_COLUMNS}, idempotency_key, fingerprint FROM reservations
    WHERE sale_id = ? AND idempotency_key IS NOT NULL AND created_at > ? AND fingerprint IS NOT NULL
    ORDER BY created_at, id`,
  payments: `SELECT sale_id AS saleId, event_id AS eventId, payment_id AS paymentId, reservation_id AS reservationId,
    amount, currency, status, outcome, received_at AS receivedAt
    FROM payments WHERE sale_id = ? ORDER BY received_at, event_id`,
  // Counted from an index alone (SQLite picks a covering one): no reservation row is read.
  holdCount: `SELECT count(*) FROM reservations WHERE sale_id = ?`,
  room: `SELECT ${ROOM_COLUMNS} FROM queue_rooms WHERE sale_id = ?`,
  places: `SELECT ${PLACE_COLUMNS} FROM queue_places WHERE sale_id = ?`,
} as const;

export type LoadSale = (sale: StoredSale["sale"], now: number) => StoredSale;

export function prepareLoadSale(db: Database): LoadSale {
  const items = db.prepare<ItemRow, [string]>(LOAD_SALE_SQL.items);
  const codes = db.prepare<Values, [string]>(LOAD_SALE_SQL.codes);
  const holds = db.prepare<Values, [string]>(LOAD_SALE_SQL.holds);
  const confirmedUnits = db.prepare<Values, [string]>(LOAD_SALE_SQL.confirmedUnits);
  const keyed = db.prepare<Values, [string, number]>(LOAD_SALE_SQL.keyed);
  const payments = db.prepare<PaymentRow, [string]>(LOAD_SALE_SQL.payments);
  const holdCount = db.prepare<Values, [string]>(LOAD_SALE_SQL.holdCount);
  const room = db.prepare<Values, [string]>(LOAD_SALE_SQL.room);
  const places = db.prepare<Values, [string]>(LOAD_SALE_SQL.places);

  // A deferred transaction: a read snapshot, no write lock, so flushers of other workers go on.
  return db.transaction((sale: StoredSale["sale"], now: number): StoredSale => {
    const saleId = sale.id;
    const codesByItem = new Map<string, { code: string; assigned: boolean }[]>();
    for (const [itemId, code, assigned] of codes.values(saleId) as Values[]) {
      let pool = codesByItem.get(itemId as string);
      if (pool === undefined) codesByItem.set(itemId as string, (pool = []));
      pool.push({ code: code as string, assigned: assigned === 1 });
    }
    const keyedRows = keyed.values(saleId, now - IDEMPOTENCY_KEEP_MS) as Values[];
    const roomRow = room.values(saleId)[0];
    return {
      ...(roomRow === undefined ? {} : { room: { counters: countersOfValues(roomRow), places: places.values(saleId).map(placeOfValues) } }),
      sale,
      items: items.all(saleId).map((item) => ({ ...item, codes: codesByItem.get(item.id) ?? [] })),
      // Held reservations have no codes yet: codes are delivered when a payment confirms.
      holds: (holds.values(saleId) as Values[]).map((row) => reservationOfValues(saleId, row, [])),
      confirmedUnits: (confirmedUnits.values(saleId) as Values[]).map(([userId, units]) => ({
        userId: userId as string,
        units: units as number,
      })),
      // The ledger remembers a key with the reservation as its first answer showed it; the codes of
      // a reservation confirmed since are not part of that answer.
      keyed: keyedRows.map((row) => ({
        ...reservationOfValues(saleId, row, []),
        idempotencyKey: row[RESERVATION_COLUMN_COUNT] as string,
        fingerprint: row[RESERVATION_COLUMN_COUNT + 1] as string,
      })),
      payments: payments.all(saleId).map((row) => ({ ...row, outcome: row.outcome as PaymentOutcome })),
      holdCount: (holdCount.values(saleId)[0]?.[0] as number | undefined) ?? 0,
    };
  }).deferred;
}
