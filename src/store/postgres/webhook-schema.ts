// The outbound webhooks' tables of the PostgreSQL store (re-exported by schema.ts, so drizzle-kit
// generates them with the rest): the same tables, columns and indexes as ../sqlite/webhook-schema.ts,
// whose comments say what each is for. Times are bigint milliseconds since the epoch.

import { sql } from "drizzle-orm";
import { bigint, index, integer, pgTable, primaryKey, text } from "drizzle-orm/pg-core";

const ms = (name: string) => bigint(name, { mode: "number" });

export const webhookEndpoints = pgTable("webhook_endpoints", {
  id: text("id").primaryKey(),
  url: text("url").notNull(),
  events: text("events").notNull(),
  secret: text("secret").notNull(),
  createdAt: ms("created_at").notNull(),
  deletedAt: ms("deleted_at"),
});

export const webhookState = pgTable("webhook_state", {
  id: integer("id").primaryKey(),
  endpointsVersion: bigint("endpoints_version", { mode: "number" }).notNull(),
});

export const webhookDeliveries = pgTable(
  "webhook_deliveries",
  {
    endpointId: text("endpoint_id").notNull(),
    eventId: text("event_id").notNull(),
    type: text("type").notNull(),
    sequence: bigint("sequence", { mode: "number" }).notNull(),
    payload: text("payload"),
    subjectId: text("subject_id"),
    status: text("status", { enum: ["pending", "delivered", "failed"] }).notNull(),
    attempts: integer("attempts").notNull().default(0),
    eventAt: ms("event_at").notNull(),
    createdAt: ms("created_at").notNull(),
    nextAttemptAt: ms("next_attempt_at"),
    windowStartedAt: ms("window_started_at").notNull(),
    lastAttemptAt: ms("last_attempt_at"),
    lastStatus: integer("last_status"),
    lastError: text("last_error"),
    deliveredAt: ms("delivered_at"),
    claimedBy: text("claimed_by"),
    claimedUntil: ms("claimed_until"),
  },
  (table) => [
    primaryKey({ columns: [table.endpointId, table.eventId] }),
    index("webhook_deliveries_due_idx")
      .on(table.endpointId, table.nextAttemptAt, table.sequence, table.eventAt)
      .where(sql`${table.status} = 'pending'`),
    index("webhook_deliveries_failed_idx").on(table.endpointId, table.eventId).where(sql`${table.status} = 'failed'`),
  ],
);
