// The waiting room's part of an embedded-store batch (store/queue-fold.ts), inside the transaction
// apply-batch.ts opens: each sale's start read when the batch first names it, then the fold's writes
// one by one in event order, then each changed room's counters.

import type { Database } from "bun:sqlite";
import { QueueFold, type QueueWrite, type RoomStart } from "../queue-fold.ts";
import { ROOM_COLUMNS, countersOfValues } from "../queue-row.ts";
import { roomOfColumn } from "../room-column.ts";

type Binding = string | number | null;
type Values = unknown[];

export function prepareQueueApply(db: Database) {
  const q = (sql: string) => db.prepare<unknown, Binding[]>(sql);
  const readSale = db.prepare<Values, [string]>(
    `SELECT s.starts_at, s.ends_at, s.paused, s.waiting_room, r.sale_id IS NOT NULL, ${ROOM_COLUMNS.split(", ").map((c) => `r.${c}`).join(", ")}
     FROM sales s LEFT JOIN queue_rooms r ON r.sale_id = s.id WHERE s.id = ?`,
  );
  const readAvailable = db.prepare<Values, [string]>(`SELECT id, available FROM items WHERE sale_id = ? ORDER BY position`);
  const upsertPlace = q(
    `INSERT INTO queue_places (sale_id, user_id, status, rank, joined_at, admission_expires_at, drawing_position)
     VALUES (?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (sale_id, user_id) DO UPDATE SET status = excluded.status, rank = excluded.rank, joined_at = excluded.joined_at,
       admission_expires_at = excluded.admission_expires_at, drawing_position = excluded.drawing_position`,
  );
  const drawPlace = q(
    `UPDATE queue_places SET status = 'waiting', rank = ?, drawing_position = NULL
     WHERE sale_id = ? AND drawing_position = ? AND status = 'drawing'`,
  );
  const admit = q(
    `UPDATE queue_places SET status = 'admitted', admission_expires_at = ?
     WHERE sale_id = ? AND rank BETWEEN ? AND ? AND status = 'waiting'`,
  );
  const soldOut = q(
    `UPDATE queue_places SET status = 'sold_out', drawing_position = NULL WHERE sale_id = ? AND status IN ('waiting', 'drawing')`,
  );
  const clear = q(`DELETE FROM queue_places WHERE sale_id = ?`);
  const upsertRoom = q(
    `INSERT INTO queue_rooms (sale_id, ${ROOM_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (sale_id) DO UPDATE SET epoch = excluded.epoch, drawn = excluded.drawn, drawing_count = excluded.drawing_count,
       next_rank = excluded.next_rank, served = excluded.served, admitted = excluded.admitted, sold_out_from = excluded.sold_out_from,
       sold_out_to = excluded.sold_out_to, credit = excluded.credit, pace_at = excluded.pace_at`,
  );

  /**
   * A sale as the store holds it before this batch, when it has a room or opens one in the batch.
   * Read before the batch writes the sale's rows: the fold sees each sale at its first event, and
   * items' counts are written only at the end of the batch.
   */
  function startOf(saleId: string, opening: ReadonlySet<string>): RoomStart | undefined {
    const row = readSale.values(saleId)[0];
    if (row === undefined) return undefined;
    const [startsAt, endsAt, paused, waitingRoom, hasRoom] = row;
    const settings = roomOfColumn(waitingRoom as string | null);
    if (hasRoom !== 1 && settings === null && !opening.has(saleId)) return undefined;
    return {
      saleId,
      startsAt: startsAt as number,
      endsAt: endsAt as number,
      paused: paused === 1,
      settings,
      counters: hasRoom === 1 ? countersOfValues(row, 5) : null,
      available: readAvailable.values(saleId).map(([id, units]) => [id as string, units as number]),
    };
  }

  function write(entry: QueueWrite): void {
    switch (entry.kind) {
      case "place": {
        const r = entry.row;
        upsertPlace.run(r.saleId, r.userId, r.status, r.rank, r.joinedAt, r.admissionExpiresAt, r.drawingPosition);
        break;
      }
      case "draw":
        entry.positions.forEach((position, i) => drawPlace.run(entry.ranks[i] as number, entry.saleId, position));
        break;
      case "admit":
        admit.run(entry.admissionExpiresAt, entry.saleId, entry.fromRank, entry.toRank);
        break;
      case "sold_out":
        soldOut.run(entry.saleId);
        break;
      case "clear":
        clear.run(entry.saleId);
        break;
    }
  }

  return {
    /** A fold for one batch; `opening` names the sales a patch of the batch gives a room. */
    fold(opening: ReadonlySet<string>): QueueFold {
      return new QueueFold((saleId) => startOf(saleId, opening));
    },
    /** The fold's writes, in event order, then the counters of every room it changed. */
    write(fold: QueueFold): void {
      for (const entry of fold.writes) write(entry);
      for (const r of fold.rooms()) {
        upsertRoom.run(r.saleId, r.epoch, r.drawn ? 1 : 0, r.drawingCount, r.nextRank, r.served, r.admitted, r.soldOut[0], r.soldOut[1], r.credit, r.paceAt);
      }
    },
  };
}
