// The waiting room's tables of the embedded store (re-exported by schema.ts, so drizzle-kit generates
// them with the rest). The same tables, columns and indexes as ../postgres/queue-schema.ts. The
// write-behind keeps them equal to what the queue's events decided (store/queue-fold.ts), so a sale
// loaded from the store gets its room back: every place, the serving counter and the pace.

import { isNotNull } from "drizzle-orm";
import { index, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";

/**
 * A sale's room counters (ledger/waiting-room.ts, RoomHeader without the settings, which are the
 * sale's `waiting_room`). The row stays when the room is turned off, for its epoch: the next room
 * of the sale takes the one after it.
 */
export const queueRooms = sqliteTable("queue_rooms", {
  saleId: text("sale_id").primaryKey(),
  epoch: integer("epoch").notNull(),
  drawn: integer("drawn", { mode: "boolean" }).notNull(),
  drawingCount: integer("drawing_count").notNull(),
  nextRank: integer("next_rank").notNull(),
  served: integer("served").notNull(),
  admitted: integer("admitted").notNull(),
  soldOutFrom: integer("sold_out_from").notNull(),
  soldOutTo: integer("sold_out_to").notNull(),
  /** Thousandths of an admission saved up, and the time they were counted to (the room's pace). */
  credit: integer("credit").notNull(),
  paceAt: integer("pace_at").notNull(),
});

/** One row per buyer with a place in a sale's room; removed with the room. */
export const queuePlaces = sqliteTable(
  "queue_places",
  {
    saleId: text("sale_id").notNull(),
    userId: text("user_id").notNull(),
    status: text("status", { enum: ["drawing", "waiting", "admitted", "sold_out"] }).notNull(),
    /** 0 while the buyer waits for the draw. */
    rank: integer("rank").notNull(),
    joinedAt: integer("joined_at").notNull(),
    /** When an admission lapses; 0 before one. */
    admissionExpiresAt: integer("admission_expires_at").notNull(),
    /** The place's index in the draw's list while it waits for the draw, else null. */
    drawingPosition: integer("drawing_position"),
  },
  (table) => [
    primaryKey({ columns: [table.saleId, table.userId] }),
    // Admissions take the next ranks of a sale.
    index("queue_places_sale_rank_idx").on(table.saleId, table.rank),
    // The draw gives ranks by position in its list; partial, so ranked places are not in it.
    index("queue_places_sale_drawing_idx").on(table.saleId, table.drawingPosition).where(isNotNull(table.drawingPosition)),
  ],
);
