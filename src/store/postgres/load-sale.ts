// Recovery's read of one sale from PostgreSQL: four selects in parallel, each a whole table slice in
// one statement; no per-row query anywhere. A sale may hold a million reservations and as many codes,
// so the two big selects come back as arrays of values (postgres.js then builds no per-row object
// keyed by column name) and become the snapshot's objects here in one pass. Measured on a sale of a
// million reservations: about 2.5-3 s, nearly all of it postgres.js decoding 13 million column values;
// COPY ... TO STDOUT with a hand-written split was tried and was no faster.

import type { SaleSnapshot } from "../../ledger/restore.ts";
import type { Delivery, Payment, PaymentOutcome, ReservationStatus } from "../../ledger/types.ts";
import type { StoreSql } from "./apply-batch.ts";

type CodeRow = [itemId: string, code: string, reservationId: string | null];

export async function loadSale(sql: StoreSql, sale: SaleSnapshot["sale"]): Promise<SaleSnapshot> {
  const [itemRows, codeRows, reservationRows, paymentRows] = await Promise.all([
    sql`SELECT id, name, price, currency, delivery, stock, available, held, confirmed
      FROM items WHERE sale_id = ${sale.id} ORDER BY position`,
    sql`SELECT item_id, code, reservation_id FROM codes WHERE sale_id = ${sale.id} ORDER BY ordinal`.values(),
    // Ties on created_at in byte order of the id, as the embedded store's BINARY collation sorts them.
    sql`SELECT id, item_id, user_id, quantity, status, amount, currency, created_at, expires_at, ended_at, payment_id,
        idempotency_key, fingerprint
      FROM reservations WHERE sale_id = ${sale.id} ORDER BY created_at, id COLLATE "C"`.values(),
    sql`SELECT payment_id, event_id, reservation_id, amount, currency, status, outcome, received_at
      FROM payments WHERE sale_id = ${sale.id} ORDER BY received_at, event_id`,
  ]);

  const codesByItem = new Map<string, { code: string; assigned: boolean }[]>();
  const codesByReservation = new Map<string, string[]>();
  for (const [itemId, code, reservationId] of codeRows as unknown as CodeRow[]) {
    let pool = codesByItem.get(itemId);
    if (pool === undefined) codesByItem.set(itemId, (pool = []));
    pool.push({ code, assigned: reservationId !== null });
    if (reservationId === null) continue;
    const delivered = codesByReservation.get(reservationId);
    if (delivered === undefined) codesByReservation.set(reservationId, [code]);
    else delivered.push(code);
  }

  const reservations: SaleSnapshot["reservations"] = new Array(reservationRows.length);
  for (let i = 0; i < reservationRows.length; i += 1) {
    const r = reservationRows[i] as unknown[];
    const id = r[0] as string;
    reservations[i] = {
      id,
      saleId: sale.id,
      itemId: r[1] as string,
      userId: r[2] as string,
      quantity: r[3] as number,
      status: r[4] as ReservationStatus,
      amount: r[5] as number,
      currency: r[6] as string,
      createdAt: r[7] as number,
      expiresAt: r[8] as number,
      endedAt: r[9] as number,
      codes: codesByReservation.get(id) ?? [],
      paymentId: r[10] as string | null,
      idempotencyKey: r[11] as string | null,
      fingerprint: r[12] as string | null,
    };
  }

  return {
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
    reservations,
    payments: paymentRows.map(
      (p): Payment => ({
        paymentId: p.payment_id as string,
        eventId: p.event_id as string,
        saleId: sale.id,
        reservationId: p.reservation_id as string,
        amount: p.amount as number,
        currency: p.currency as string,
        status: p.status as Payment["status"],
        outcome: p.outcome as PaymentOutcome,
        receivedAt: p.received_at as number,
      }),
    ),
  };
}
