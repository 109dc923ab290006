// The waiting room's part of a PostgreSQL batch (store/queue-fold.ts). The sales that have or open a
// room are read with the batch's opening statements (the same round trip as the progress row, so a
// batch, and node mode's commit, waits for no extra one); the fold's writes then become set-based
// statements in event order: each run of consecutive place writes one `unnest` upsert (the last
// write of a buyer within the run wins, as one-by-one upserts would leave it), each run of
// admissions one ranged update, and the changed rooms' counters one upsert.

import type { PendingQuery, Row } from "postgres";
import type { JournalEntry } from "../../journal/journal.ts";
import { type PlaceRow, type QueueFold, type QueueWrite, type RoomStart, salesOpeningRooms } from "../queue-fold.ts";
import { ROOM_COLUMNS, countersOfValues } from "../queue-row.ts";
import { roomOfColumn } from "../room-column.ts";
import type { StoreSql } from "./apply-batch.ts";

type Values = unknown[];

/** The read of every sale of the batch that has a room, had one, or may open one in it. */
export function readRoomStarts(tx: StoreSql, entries: readonly JournalEntry[]) {
  const saleIds = [...new Set(entries.map((entry) => entry.event.saleId))];
  const opening = [...salesOpeningRooms(entries.map((entry) => entry.event))];
  const counters = tx.unsafe(ROOM_COLUMNS.split(", ").map((column) => `r.${column}`).join(", "));
  return tx`
    SELECT s.id, s.starts_at, s.ends_at, s.paused, s.waiting_room, r.sale_id IS NOT NULL, ${counters},
      (SELECT json_agg(json_build_array(i.id, i.available) ORDER BY i.position) FROM items i WHERE i.sale_id = s.id)
    FROM sales s LEFT JOIN queue_rooms r ON r.sale_id = s.id
    WHERE s.id = ANY(${saleIds}::text[]) AND (r.sale_id IS NOT NULL OR s.waiting_room IS NOT NULL OR s.id = ANY(${opening}::text[]))`.values();
}

export function roomStartsOf(rows: readonly Values[]): Map<string, RoomStart> {
  const starts = new Map<string, RoomStart>();
  for (const row of rows) {
    const [id, startsAt, endsAt, paused, waitingRoom, hasRoom] = row;
    const available = (row[row.length - 1] ?? []) as [string, number][];
    starts.set(id as string, {
      saleId: id as string,
      startsAt: startsAt as number,
      endsAt: endsAt as number,
      paused: paused as boolean,
      settings: roomOfColumn(waitingRoom as string | null),
      counters: hasRoom === true ? countersOfValues(row, 6) : null,
      available: available.map(([itemId, units]) => [itemId, Number(units)]),
    });
  }
  return starts;
}

/** The fold's statements, in the order they must run (after the batch's other rows). */
export function queueStatements(tx: StoreSql, fold: QueueFold): PendingQuery<Row[]>[] {
  const statements: PendingQuery<Row[]>[] = [];
  const places = new Map<string, PlaceRow>();
  const admits: Extract<QueueWrite, { kind: "admit" }>[] = [];
  const flushRuns = () => {
    if (places.size > 0) statements.push(upsertPlaces(tx, [...places.values()]));
    if (admits.length > 0) statements.push(admitRanks(tx, admits));
    places.clear();
    admits.length = 0;
  };
  for (const write of fold.writes) {
    if (write.kind === "place") {
      if (admits.length > 0) flushRuns();
      places.set(`${write.row.saleId}\n${write.row.userId}`, write.row);
      continue;
    }
    if (write.kind === "admit") {
      if (places.size > 0) flushRuns();
      admits.push(write);
      continue;
    }
    flushRuns();
    if (write.kind === "draw") {
      statements.push(tx`
        UPDATE queue_places AS p SET status = 'waiting', rank = u.rank, drawing_position = NULL
        FROM unnest(${write.positions}::int4[], ${write.ranks}::int4[]) AS u(position, rank)
        WHERE p.sale_id = ${write.saleId} AND p.drawing_position = u.position AND p.status = 'drawing'`);
    } else if (write.kind === "sold_out") {
      statements.push(tx`
        UPDATE queue_places SET status = 'sold_out', drawing_position = NULL
        WHERE sale_id = ${write.saleId} AND status IN ('waiting', 'drawing')`);
    } else {
      statements.push(tx`DELETE FROM queue_places WHERE sale_id = ${write.saleId}`);
    }
  }
  flushRuns();
  const rooms = fold.rooms();
  if (rooms.length > 0) {
    const column = <T>(pick: (room: (typeof rooms)[number]) => T) => rooms.map(pick);
    statements.push(tx`
      INSERT INTO queue_rooms (sale_id, ${tx.unsafe(ROOM_COLUMNS)})
      SELECT u.sale_id, u.epoch, u.drawn <> 0, u.drawing_count, u.next_rank, u.served, u.admitted, u.sold_out_from, u.sold_out_to, u.credit, u.pace_at
      FROM unnest(${column((r) => r.saleId)}::text[], ${column((r) => r.epoch)}::int4[], ${column((r) => (r.drawn ? 1 : 0))}::int4[],
        ${column((r) => r.drawingCount)}::int4[], ${column((r) => r.nextRank)}::int4[], ${column((r) => r.served)}::int4[],
        ${column((r) => r.admitted)}::int4[], ${column((r) => r.soldOut[0])}::int4[], ${column((r) => r.soldOut[1])}::int4[],
        ${column((r) => r.credit)}::int8[], ${column((r) => r.paceAt)}::int8[])
        AS u(sale_id, epoch, drawn, drawing_count, next_rank, served, admitted, sold_out_from, sold_out_to, credit, pace_at)
      ON CONFLICT (sale_id) DO UPDATE SET epoch = excluded.epoch, drawn = excluded.drawn, drawing_count = excluded.drawing_count,
        next_rank = excluded.next_rank, served = excluded.served, admitted = excluded.admitted, sold_out_from = excluded.sold_out_from,
        sold_out_to = excluded.sold_out_to, credit = excluded.credit, pace_at = excluded.pace_at`);
  }
  return statements;
}

function upsertPlaces(tx: StoreSql, rows: PlaceRow[]): PendingQuery<Row[]> {
  const column = <K extends keyof PlaceRow>(key: K) => rows.map((row) => row[key]);
  return tx`
    INSERT INTO queue_places (sale_id, user_id, status, rank, joined_at, admission_expires_at, drawing_position)
    SELECT * FROM unnest(${column("saleId")}::text[], ${column("userId")}::text[], ${column("status")}::text[],
      ${column("rank")}::int4[], ${column("joinedAt")}::int8[], ${column("admissionExpiresAt")}::int8[], ${column("drawingPosition")}::int4[])
    ON CONFLICT (sale_id, user_id) DO UPDATE SET status = excluded.status, rank = excluded.rank, joined_at = excluded.joined_at,
      admission_expires_at = excluded.admission_expires_at, drawing_position = excluded.drawing_position`;
}

/** Ranges of ranks admitted one after another: disjoint, so one statement takes them all. */
function admitRanks(tx: StoreSql, admits: readonly Extract<QueueWrite, { kind: "admit" }>[]): PendingQuery<Row[]> {
  return tx`
    UPDATE queue_places AS p SET status = 'admitted', admission_expires_at = u.expires_at
    FROM unnest(${admits.map((a) => a.saleId)}::text[], ${admits.map((a) => a.fromRank)}::int4[], ${admits.map((a) => a.toRank)}::int4[],
      ${admits.map((a) => a.admissionExpiresAt)}::int8[]) AS u(sale_id, from_rank, to_rank, expires_at)
    WHERE p.sale_id = u.sale_id AND p.rank BETWEEN u.from_rank AND u.to_rank AND p.status = 'waiting'`;
}
