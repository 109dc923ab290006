// The waiting room's rows as both stores read them back: queue_rooms columns -> a room's counters,
// queue_places columns -> places (restore.ts rebuilds the room from them).

import type { RoomCounters } from "../ledger/restore.ts";
import type { PlaceStatus, StoredPlace } from "../ledger/waiting-room.ts";

/** queue_rooms' columns after sale_id, in the order ROOM_COLUMNS names them. */
export const ROOM_COLUMNS = "epoch, drawn, drawing_count, next_rank, served, admitted, sold_out_from, sold_out_to, credit, pace_at";

/** The counters of a row selected with ROOM_COLUMNS (SQLite's booleans arrive as 0 and 1). */
export function countersOfValues(values: readonly unknown[], at = 0): RoomCounters {
  const n = (i: number) => Number(values[at + i]);
  return {
    epoch: n(0),
    drawn: values[at + 1] === true || values[at + 1] === 1,
    drawingCount: n(2),
    nextRank: n(3),
    served: n(4),
    admitted: n(5),
    soldOut: [n(6), n(7)],
    credit: n(8),
    paceAt: n(9),
  };
}

export const PLACE_COLUMNS = "user_id, status, rank, joined_at, admission_expires_at, drawing_position";

export function placeOfValues(values: readonly unknown[]): StoredPlace {
  return {
    userId: values[0] as string,
    status: values[1] as PlaceStatus,
    rank: Number(values[2]),
    joinedAt: Number(values[3]),
    admissionExpiresAt: Number(values[4]),
    drawingPosition: values[5] === null ? -1 : Number(values[5]),
  };
}
