// Journal entries -> a handful of set-based statements for PostgreSQL, run inside one transaction the
// caller opens. A batch of 10,000 events becomes about ten statements whatever its mix: rows travel as
// parallel arrays through `unnest` (one parameter per column, so no 65,535-parameter limit and one
// prepared statement per shape), and the statements are pipelined on the transaction's connection.
//
// Folding keeps the result equal to applying the events one by one (apply-batch.ts of the embedded
// store does exactly that): sale rows are written in event order; a reservation placed in the batch is
// inserted once with its final status; a status change of an older reservation keeps only the last
// (status, ended_at, payment_id) of the batch, as the one-by-one UPDATEs would; codes are inserted before
// any assignment of the same batch; unit counts are merged per item and added after every row exists.
//
// What events carry for the ledger alone is ignored: a hold's `seq`, `row` and `token`, and a
// confirmation's `userId`, `seq` and `row` (the reservation's id, which the events also carry, already
// names them, and its row already has its buyer).

import type { PendingQuery, Row, Sql } from "postgres";
import type { Payment, ReservationStatus, SaleEvent, SalePatch, SaleSpec } from "../../ledger/types.ts";
import { ItemCountDeltas } from "../item-count-deltas.ts";
import { roomColumn } from "../room-column.ts";

type ReservationRow = {
  id: string;
  saleId: string;
  itemId: string;
  userId: string;
  quantity: number;
  status: ReservationStatus;
  amount: number;
  currency: string;
  createdAt: number;
  expiresAt: number;
  endedAt: number;
  paymentId: string | null;
  idempotencyKey: string | null;
  fingerprint: string | null;
};

type ReservationEnd = { status: ReservationStatus; endedAt: number; paymentId: string | null };
type SaleOperation = { kind: "create"; sale: SaleSpec; at: number } | { kind: "patch"; saleId: string; patch: SalePatch };
type CodeRow = { saleId: string; itemId: string; code: string };

/** A postgres.js client whose int8 columns read as numbers (every value we store is below 2^53). */
export type StoreSql = Sql<{ int8: number }>;

/** What one batch changes, folded so that each table gets at most one or two statements. */
export class FoldedBatch {
  readonly saleOperations: SaleOperation[] = [];
  readonly codes: CodeRow[] = [];
  readonly codeAssignments: (CodeRow & { reservationId: string })[] = [];
  /** Reservations placed in this batch, in order, already carrying their final state. */
  readonly placed = new Map<string, ReservationRow>();
  /** Final state of reservations placed by an earlier batch. */
  readonly ended = new Map<string, ReservationEnd>();
  readonly payments: Payment[] = [];
  readonly deltas = new ItemCountDeltas();

  add(event: SaleEvent): void {
    switch (event.type) {
      case "sale_created":
        this.saleOperations.push({ kind: "create", sale: event.sale, at: event.at });
        break;
      case "sale_patched":
        this.saleOperations.push({ kind: "patch", saleId: event.saleId, patch: event.patch });
        break;
      case "stock_adjusted":
        this.deltas.add(event.saleId, event.itemId, event.delta, event.delta, 0, 0);
        break;
      case "codes_added":
        for (const code of event.codes) this.codes.push({ saleId: event.saleId, itemId: event.itemId, code });
        this.deltas.add(event.saleId, event.itemId, event.codes.length, event.codes.length, 0, 0);
        break;
      case "hold_placed":
        this.placed.set(event.reservationId, {
          id: event.reservationId,
          saleId: event.saleId,
          itemId: event.itemId,
          userId: event.userId,
          quantity: event.quantity,
          status: "held",
          amount: event.amount,
          currency: event.currency,
          createdAt: event.at,
          expiresAt: event.expiresAt,
          endedAt: 0,
          paymentId: null,
          idempotencyKey: event.idempotencyKey,
          fingerprint: event.fingerprint,
        });
        this.deltas.add(event.saleId, event.itemId, 0, -event.quantity, event.quantity, 0);
        break;
      case "hold_released":
      case "hold_expired":
        this.end(event.reservationId, { status: event.type === "hold_released" ? "released" : "expired", endedAt: event.at, paymentId: null });
        this.deltas.add(event.saleId, event.itemId, 0, event.quantity, -event.quantity, 0);
        break;
      case "payment_recorded": {
        const { payment, confirm } = event;
        this.payments.push(payment);
        if (confirm === null) break;
        this.end(payment.reservationId, { status: "confirmed", endedAt: event.at, paymentId: payment.paymentId });
        for (const code of confirm.codes) {
          this.codeAssignments.push({ saleId: event.saleId, itemId: confirm.itemId, code, reservationId: payment.reservationId });
        }
        if (confirm.late) this.deltas.add(event.saleId, confirm.itemId, 0, -confirm.quantity, 0, confirm.quantity);
        else this.deltas.add(event.saleId, confirm.itemId, 0, 0, -confirm.quantity, confirm.quantity);
        break;
      }
    }
  }

  private end(reservationId: string, end: ReservationEnd): void {
    const placed = this.placed.get(reservationId);
    if (placed === undefined) this.ended.set(reservationId, end);
    else Object.assign(placed, end);
  }
}

/** The batch's statements in the order they must run; the caller pipelines them in one transaction. */
export function batchStatements(tx: StoreSql, batch: FoldedBatch): PendingQuery<Row[]>[] {
  const statements: PendingQuery<Row[]>[] = [];
  // Sales first and in event order: a patch must land on the row its sale_created inserted.
  for (const op of batch.saleOperations) {
    if (op.kind === "create") {
      const s = op.sale;
      statements.push(tx`
        INSERT INTO sales (id, name, starts_at, ends_at, hold_seconds, limit_per_user, paused, created_at, waiting_room)
        VALUES (${s.id}, ${s.name}, ${s.startsAt}, ${s.endsAt}, ${s.holdSeconds}, ${s.limitPerUser}, false, ${op.at}, ${roomColumn(s.waitingRoom)})`);
      const stock = s.items.map((item) => (item.delivery === "codes" ? 0 : item.stock));
      statements.push(tx`
        INSERT INTO items (sale_id, id, position, name, price, currency, delivery, stock, available, held, confirmed)
        SELECT ${s.id}, u.id, u.position, u.name, u.price, u.currency, u.delivery, u.stock, u.stock, 0, 0
        FROM unnest(${s.items.map((i) => i.id)}::text[], ${s.items.map((_, position) => position)}::int4[],
          ${s.items.map((i) => i.name)}::text[], ${s.items.map((i) => i.price)}::int8[],
          ${s.items.map((i) => i.currency)}::text[], ${s.items.map((i) => i.delivery)}::text[], ${stock}::int8[])
          AS u(id, position, name, price, currency, delivery, stock)`);
    } else {
      const p = op.patch;
      statements.push(tx`
        UPDATE sales SET name = coalesce(${p.name ?? null}::text, name),
          starts_at = coalesce(${p.startsAt ?? null}::int8, starts_at), ends_at = coalesce(${p.endsAt ?? null}::int8, ends_at),
          paused = coalesce(${p.paused ?? null}::boolean, paused),
          limit_per_user = coalesce(${p.limitPerUser ?? null}::int4, limit_per_user),
          hold_seconds = coalesce(${p.holdSeconds ?? null}::int4, hold_seconds),
          waiting_room = CASE WHEN ${p.waitingRoom !== undefined}::boolean THEN ${roomColumn(p.waitingRoom)}::text ELSE waiting_room END
        WHERE id = ${op.saleId}`);
    }
  }
  const codes = batch.codes;
  if (codes.length > 0) {
    // ORDER BY the array position so that the bigserial ordinals follow the order codes were added.
    statements.push(tx`
      INSERT INTO codes (sale_id, item_id, code)
      SELECT u.sale_id, u.item_id, u.code
      FROM unnest(${codes.map((c) => c.saleId)}::text[], ${codes.map((c) => c.itemId)}::text[], ${codes.map((c) => c.code)}::text[])
        WITH ORDINALITY AS u(sale_id, item_id, code, n)
      ORDER BY u.n`);
  }
  const placed = [...batch.placed.values()];
  if (placed.length > 0) {
    const column = <K extends keyof ReservationRow>(key: K) => placed.map((r) => r[key]);
    statements.push(tx`
      INSERT INTO reservations (id, sale_id, item_id, user_id, quantity, status, amount, currency, created_at,
        expires_at, ended_at, payment_id, idempotency_key, fingerprint)
      SELECT * FROM unnest(${column("id")}::text[], ${column("saleId")}::text[], ${column("itemId")}::text[],
        ${column("userId")}::text[], ${column("quantity")}::int4[], ${column("status")}::text[], ${column("amount")}::int8[],
        ${column("currency")}::text[], ${column("createdAt")}::int8[], ${column("expiresAt")}::int8[],
        ${column("endedAt")}::int8[], ${column("paymentId")}::text[], ${column("idempotencyKey")}::text[],
        ${column("fingerprint")}::text[])`);
  }
  if (batch.ended.size > 0) {
    const ids = [...batch.ended.keys()];
    const ends = [...batch.ended.values()];
    statements.push(tx`
      UPDATE reservations AS r SET status = u.status, ended_at = u.ended_at, payment_id = u.payment_id
      FROM unnest(${ids}::text[], ${ends.map((e) => e.status)}::text[], ${ends.map((e) => e.endedAt)}::int8[],
        ${ends.map((e) => e.paymentId)}::text[]) AS u(id, status, ended_at, payment_id)
      WHERE r.id = u.id`);
  }
  const assigned = batch.codeAssignments;
  if (assigned.length > 0) {
    statements.push(tx`
      UPDATE codes AS c SET reservation_id = u.reservation_id
      FROM unnest(${assigned.map((a) => a.saleId)}::text[], ${assigned.map((a) => a.itemId)}::text[],
        ${assigned.map((a) => a.code)}::text[], ${assigned.map((a) => a.reservationId)}::text[])
        AS u(sale_id, item_id, code, reservation_id)
      WHERE c.sale_id = u.sale_id AND c.item_id = u.item_id AND c.code = u.code`);
  }
  const payments = batch.payments;
  if (payments.length > 0) {
    const column = <K extends keyof Payment>(key: K) => payments.map((p) => p[key]);
    statements.push(tx`
      INSERT INTO payments (sale_id, event_id, payment_id, reservation_id, amount, currency, status, outcome, received_at)
      SELECT * FROM unnest(${column("saleId")}::text[], ${column("eventId")}::text[], ${column("paymentId")}::text[],
        ${column("reservationId")}::text[], ${column("amount")}::int8[], ${column("currency")}::text[],
        ${column("status")}::text[], ${column("outcome")}::text[], ${column("receivedAt")}::int8[])`);
  }
  // Items whose counts did not move (a hold placed and released in the same batch) are left alone.
  const deltas = [...batch.deltas.values()].filter((d) => d.stock !== 0 || d.available !== 0 || d.held !== 0 || d.confirmed !== 0);
  if (deltas.length > 0) {
    const column = <K extends keyof (typeof deltas)[number]>(key: K) => deltas.map((d) => d[key]);
    statements.push(tx`
      UPDATE items AS i SET stock = i.stock + u.stock, available = i.available + u.available,
        held = i.held + u.held, confirmed = i.confirmed + u.confirmed
      FROM unnest(${column("saleId")}::text[], ${column("itemId")}::text[], ${column("stock")}::int8[],
        ${column("available")}::int8[], ${column("held")}::int8[], ${column("confirmed")}::int8[])
        AS u(sale_id, item_id, stock, available, held, confirmed)
      WHERE i.sale_id = u.sale_id AND i.id = u.item_id`);
  }
  return statements;
}
