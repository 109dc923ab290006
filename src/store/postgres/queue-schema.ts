// The waiting room's tables of the PostgreSQL store (re-exported by schema.ts, so drizzle-kit
// generates them with the rest): the same tables, columns and indexes as ../sqlite/queue-schema.ts,
// which says what each holds. Times and the credit are bigint.

import { isNotNull } from "drizzle-orm";
import { bigint, boolean, index, integer, pgTable, primaryKey, text } from "drizzle-orm/pg-core";

const ms = (name: string) => bigint(name, { mode: "number" });

export const queueRooms = pgTable("queue_rooms", {
  saleId: text("sale_id").primaryKey(),
  epoch: integer("epoch").notNull(),
  drawn: boolean("drawn").notNull(),
  drawingCount: integer("drawing_count").notNull(),
  nextRank: integer("next_rank").notNull(),
  served: integer("served").notNull(),
  admitted: integer("admitted").notNull(),
  soldOutFrom: integer("sold_out_from").notNull(),
  soldOutTo: integer("sold_out_to").notNull(),
  credit: bigint("credit", { mode: "number" }).notNull(),
  paceAt: ms("pace_at").notNull(),
});

export const queuePlaces = pgTable(
  "queue_places",
  {
    saleId: text("sale_id").notNull(),
    userId: text("user_id").notNull(),
    status: text("status", { enum: ["drawing", "waiting", "admitted", "sold_out"] }).notNull(),
    rank: integer("rank").notNull(),
    joinedAt: ms("joined_at").notNull(),
    admissionExpiresAt: ms("admission_expires_at").notNull(),
    drawingPosition: integer("drawing_position"),
  },
  (table) => [
    primaryKey({ columns: [table.saleId, table.userId] }),
    index("queue_places_sale_rank_idx").on(table.saleId, table.rank),
    index("queue_places_sale_drawing_idx").on(table.saleId, table.drawingPosition).where(isNotNull(table.drawingPosition)),
  ],
);
