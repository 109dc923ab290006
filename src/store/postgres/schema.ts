// The PostgreSQL system of record, as drizzle tables: the same tables, columns and indexes as the
// embedded store (../sqlite/schema.ts). drizzle-kit generates the migrations in drizzle/postgres from
// this file. Times are bigint milliseconds since the epoch; money and unit counts are bigint because
// SQLite's integer is 64-bit and an amount (price x quantity) passes 2^31 minor units easily.

import { isNotNull, sql } from "drizzle-orm";
import { bigint, bigserial, boolean, index, integer, pgTable, primaryKey, text } from "drizzle-orm/pg-core";

const ms = (name: string) => bigint(name, { mode: "number" });

export const sales = pgTable("sales", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  startsAt: ms("starts_at").notNull(),
  endsAt: ms("ends_at").notNull(),
  holdSeconds: integer("hold_seconds").notNull(),
  limitPerUser: integer("limit_per_user").notNull(),
  paused: boolean("paused").notNull().default(false),
  createdAt: ms("created_at").notNull(),
  /** The waiting room's settings as JSON (ledger WaitingRoomSettings), null without one; its places are in queue-schema.ts. */
  waitingRoom: text("waiting_room"),
});

export const items = pgTable(
  "items",
  {
    saleId: text("sale_id").notNull(),
    id: text("id").notNull(),
    position: integer("position").notNull(),
    name: text("name").notNull(),
    price: bigint("price", { mode: "number" }).notNull(),
    currency: text("currency").notNull(),
    delivery: text("delivery", { enum: ["none", "codes"] }).notNull(),
    stock: bigint("stock", { mode: "number" }).notNull(),
    available: bigint("available", { mode: "number" }).notNull(),
    held: bigint("held", { mode: "number" }).notNull(),
    confirmed: bigint("confirmed", { mode: "number" }).notNull(),
  },
  (table) => [primaryKey({ columns: [table.saleId, table.id] })],
);

export const reservations = pgTable(
  "reservations",
  {
    id: text("id").primaryKey(),
    saleId: text("sale_id").notNull(),
    itemId: text("item_id").notNull(),
    userId: text("user_id").notNull(),
    quantity: integer("quantity").notNull(),
    status: text("status", { enum: ["held", "confirmed", "released", "expired"] }).notNull(),
    amount: bigint("amount", { mode: "number" }).notNull(),
    currency: text("currency").notNull(),
    createdAt: ms("created_at").notNull(),
    expiresAt: ms("expires_at").notNull(),
    endedAt: ms("ended_at").notNull().default(0),
    paymentId: text("payment_id"),
    idempotencyKey: text("idempotency_key"),
    fingerprint: text("fingerprint"),
  },
  (table) => [
    index("reservations_sale_id_idx").on(table.saleId, table.id),
    // Live holds (status held) and confirmed units are found without reading ended rows.
    index("reservations_sale_status_idx").on(table.saleId, table.status, table.id),
    // A buyer's history in a sale (reads of reservations older than the owner's recent window).
    // Partial: live holds are the owner's to list (from memory), so a hold joins this index only
    // when it ends; placing one, the hot path's write, pays for no index keyed by buyer.
    index("reservations_sale_user_ended_idx").on(table.saleId, table.userId).where(sql`${table.status} <> 'held'`),
    // Recovery reads the keyed holds of the last 24 h; partial, so unkeyed holds cost nothing here.
    index("reservations_sale_keyed_idx").on(table.saleId, table.createdAt).where(isNotNull(table.idempotencyKey)),
  ],
);

export const codes = pgTable(
  "codes",
  {
    // Insertion order is delivery order: the ledger hands out the oldest unassigned code first.
    ordinal: bigserial("ordinal", { mode: "number" }).primaryKey(),
    saleId: text("sale_id").notNull(),
    itemId: text("item_id").notNull(),
    code: text("code").notNull(),
    reservationId: text("reservation_id"),
  },
  (table) => [
    index("codes_item_code_idx").on(table.saleId, table.itemId, table.code),
    // The codes delivered to one reservation; partial, so codes still in the pool are not in it.
    index("codes_reservation_idx").on(table.reservationId).where(isNotNull(table.reservationId)),
  ],
);

export const payments = pgTable(
  "payments",
  {
    saleId: text("sale_id").notNull(),
    eventId: text("event_id").notNull(),
    paymentId: text("payment_id").notNull(),
    reservationId: text("reservation_id").notNull(),
    amount: bigint("amount", { mode: "number" }).notNull(),
    currency: text("currency").notNull(),
    status: text("status", { enum: ["succeeded", "failed"] }).notNull(),
    outcome: text("outcome").notNull(),
    receivedAt: ms("received_at").notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.saleId, table.eventId] }),
    index("payments_sale_outcome_idx").on(table.saleId, table.outcome),
  ],
);

/** How far each journal has been applied, written in the same transaction as the rows it covers. */
export const journalProgress = pgTable("journal_progress", {
  journalId: text("journal_id").primaryKey(),
  seq: bigint("seq", { mode: "number" }).notNull(),
});

export * from "./queue-schema.ts";
export * from "./webhook-schema.ts";
