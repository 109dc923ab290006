// Journal entries -> rows of the embedded store, inside one transaction the caller opens. Unit counts
// are merged per item over the whole batch and written once ("merge before you write"); row inserts
// and status changes go through prepared statements, which bun:sqlite runs at about a million a second.
// The waiting rooms' counters and places are written by apply-queue.ts, in the same transaction.
//
// What events carry for the ledger alone is ignored: a hold's `seq`, `row` and `token`, and a
// confirmation's `userId`, `seq` and `row` (the reservation's id, which the events also carry, already
// names them, and its row already has its buyer).

import type { Database } from "bun:sqlite";
import type { JournalEntry } from "../../journal/journal.ts";
import type { SaleEvent } from "../../ledger/types.ts";
import { roomColumn } from "../room-column.ts";
import { ItemCountDeltas } from "../item-count-deltas.ts";
import { salesOpeningRooms } from "../queue-fold.ts";
import { prepareOutbox } from "./outbox.ts";
import { prepareQueueApply } from "./apply-queue.ts";

type Binding = string | number | null;

export function prepareApply(db: Database) {
  const q = (sql: string) => db.prepare<unknown, Binding[]>(sql);
  const insertSale = q(
    `INSERT INTO sales (id, name, starts_at, ends_at, hold_seconds, limit_per_user, paused, created_at, waiting_room)
     VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)`,
  );
  const insertItem = q(
    `INSERT INTO items (sale_id, id, position, name, price, currency, delivery, stock, available, held, confirmed)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0)`,
  );
  const patchSale = q(
    `UPDATE sales SET name = coalesce(?, name), starts_at = coalesce(?, starts_at), ends_at = coalesce(?, ends_at),
     paused = coalesce(?, paused), limit_per_user = coalesce(?, limit_per_user), hold_seconds = coalesce(?, hold_seconds),
     waiting_room = CASE WHEN ? THEN ? ELSE waiting_room END
     WHERE id = ?`,
  );
  const insertCode = q(`INSERT INTO codes (sale_id, item_id, code) VALUES (?, ?, ?)`);
  const assignCode = q(`UPDATE codes SET reservation_id = ? WHERE sale_id = ? AND item_id = ? AND code = ?`);
  const insertReservation = q(
    `INSERT INTO reservations (id, sale_id, item_id, user_id, quantity, status, amount, currency, created_at,
     expires_at, ended_at, payment_id, idempotency_key, fingerprint)
     VALUES (?, ?, ?, ?, ?, 'held', ?, ?, ?, ?, 0, NULL, ?, ?)`,
  );
  const endReservation = q(`UPDATE reservations SET status = ?, ended_at = ?, payment_id = ? WHERE id = ?`);
  const insertPayment = q(
    `INSERT INTO payments (sale_id, event_id, payment_id, reservation_id, amount, currency, status, outcome, received_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const addCounts = q(
    `UPDATE items SET stock = stock + ?, available = available + ?, held = held + ?, confirmed = confirmed + ?
     WHERE sale_id = ? AND id = ?`,
  );
  // The endpoints' version rides on the progress read, so the outbox costs no statement of its own
  // while no endpoint is registered (webhooks/subscriptions.ts).
  const readProgress = db.prepare<{ seq: number | null; endpoints_version: number | null }, [string]>(
    `SELECT (SELECT seq FROM journal_progress WHERE journal_id = ?) AS seq,
       (SELECT endpoints_version FROM webhook_state WHERE id = 1) AS endpoints_version`,
  );
  const outbox = prepareOutbox(db);
  const queue = prepareQueueApply(db);
  const saveProgress = q(
    `INSERT INTO journal_progress (journal_id, seq) VALUES (?, ?)
     ON CONFLICT (journal_id) DO UPDATE SET seq = excluded.seq`,
  );

  function applyEvent(event: SaleEvent, deltas: ItemCountDeltas): void {
    switch (event.type) {
      case "sale_created": {
        const { sale } = event;
        insertSale.run(sale.id, sale.name, sale.startsAt, sale.endsAt, sale.holdSeconds, sale.limitPerUser, event.at, roomColumn(sale.waitingRoom));
        sale.items.forEach((item, position) => {
          const stock = item.delivery === "codes" ? 0 : item.stock;
          insertItem.run(sale.id, item.id, position, item.name, item.price, item.currency, item.delivery, stock, stock);
        });
        break;
      }
      case "sale_patched": {
        const p = event.patch;
        const paused = p.paused === undefined ? null : p.paused ? 1 : 0;
        patchSale.run(
          p.name ?? null,
          p.startsAt ?? null,
          p.endsAt ?? null,
          paused,
          p.limitPerUser ?? null,
          p.holdSeconds ?? null,
          // The room's settings change only when the patch names them (null turns the room off).
          p.waitingRoom === undefined ? 0 : 1,
          roomColumn(p.waitingRoom),
          event.saleId,
        );
        break;
      }
      case "stock_adjusted":
        deltas.add(event.saleId, event.itemId, event.delta, event.delta, 0, 0);
        break;
      case "codes_added":
        for (const code of event.codes) insertCode.run(event.saleId, event.itemId, code);
        deltas.add(event.saleId, event.itemId, event.codes.length, event.codes.length, 0, 0);
        break;
      case "hold_placed":
        insertReservation.run(
          event.reservationId,
          event.saleId,
          event.itemId,
          event.userId,
          event.quantity,
          event.amount,
          event.currency,
          event.at,
          event.expiresAt,
          event.idempotencyKey,
          event.fingerprint,
        );
        deltas.add(event.saleId, event.itemId, 0, -event.quantity, event.quantity, 0);
        break;
      case "hold_released":
      case "hold_expired":
        endReservation.run(event.type === "hold_released" ? "released" : "expired", event.at, null, event.reservationId);
        deltas.add(event.saleId, event.itemId, 0, event.quantity, -event.quantity, 0);
        break;
      case "payment_recorded": {
        const p = event.payment;
        insertPayment.run(p.saleId, p.eventId, p.paymentId, p.reservationId, p.amount, p.currency, p.status, p.outcome, p.receivedAt);
        const confirm = event.confirm;
        if (confirm === null) break;
        endReservation.run("confirmed", event.at, p.paymentId, p.reservationId);
        for (const code of confirm.codes) assignCode.run(p.reservationId, event.saleId, confirm.itemId, code);
        if (confirm.late) deltas.add(event.saleId, confirm.itemId, 0, -confirm.quantity, 0, confirm.quantity);
        else deltas.add(event.saleId, confirm.itemId, 0, 0, -confirm.quantity, confirm.quantity);
        break;
      }
    }
  }

  return db.transaction((journalId: string, entries: readonly JournalEntry[]) => {
    // Entries at or below the recorded sequence were applied by an earlier transaction: skip them,
    // which makes a replay after a crash between commit and acknowledgement exactly-once.
    const progress = readProgress.get(journalId);
    const appliedSeq = progress?.seq ?? 0;
    // Webhook deliveries are created in this same transaction (the outbox), from rows read before
    // the batch writes and inserted after.
    const webhooks = outbox.before(entries, appliedSeq, progress?.endpoints_version ?? null);
    const deltas = new ItemCountDeltas();
    const fresh = entries.filter((entry) => entry.seq > appliedSeq);
    // The waiting rooms' rows: the fold reads each sale's rows before this batch changes them.
    const rooms = queue.fold(salesOpeningRooms(fresh.map((entry) => entry.event)));
    for (const { event } of fresh) {
      rooms.add(event);
      applyEvent(event, deltas);
    }
    for (const d of deltas.values()) addCounts.run(d.stock, d.available, d.held, d.confirmed, d.saleId, d.itemId);
    queue.write(rooms);
    outbox.after(webhooks, journalId, Date.now());
    const last = entries[entries.length - 1];
    if (last !== undefined && last.seq > appliedSeq) saveProgress.run(journalId, last.seq);
  }).immediate;
}
