// The outbound webhooks' tables of the embedded store (re-exported by schema.ts, so drizzle-kit
// generates them with the rest). The same tables, columns and indexes as ../postgres/webhook-schema.ts.
// Times are integer milliseconds since the epoch.

import { sql } from "drizzle-orm";
import { index, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";

export const webhookEndpoints = sqliteTable("webhook_endpoints", {
  id: text("id").primaryKey(),
  url: text("url").notNull(),
  /** The subscribed event types, a JSON array. */
  events: text("events").notNull(),
  /** Signs every delivery (HMAC-SHA256); shown to the operator once, at registration. */
  secret: text("secret").notNull(),
  createdAt: integer("created_at").notNull(),
  /** Set when deleted; the row stays so that the endpoint's deliveries keep their endpoint. */
  deletedAt: integer("deleted_at"),
});

/**
 * One row (id 1): a number bumped by every registration and deletion, in the same transaction. The
 * write-behind reads it with the journal's progress and reloads its endpoints only when it moved.
 */
export const webhookState = sqliteTable("webhook_state", {
  id: integer("id").primaryKey(),
  endpointsVersion: integer("endpoints_version").notNull(),
});

export const webhookDeliveries = sqliteTable(
  "webhook_deliveries",
  {
    endpointId: text("endpoint_id").notNull(),
    /** The event's id (`evt_<journalId>_<seq>`), the same on every retry. */
    eventId: text("event_id").notNull(),
    type: text("type").notNull(),
    /** The journal sequence number of the event: an endpoint's backlog drains in this order. */
    sequence: integer("sequence").notNull(),
    /**
     * The body exactly as sent (it is signed as is). A reservation's event gets it at its first claim,
     * made from the reservation's row (webhooks/outbox.ts says why); null until then.
     */
    payload: text("payload"),
    /** The reservation a reservation's event describes; null for other events. */
    subjectId: text("subject_id"),
    status: text("status", { enum: ["pending", "delivered", "failed"] }).notNull(),
    attempts: integer("attempts").notNull().default(0),
    eventAt: integer("event_at").notNull(),
    createdAt: integer("created_at").notNull(),
    /** Due time while pending (a claim moves it to the lease's end); null otherwise. */
    nextAttemptAt: integer("next_attempt_at"),
    /** Retries stop once an attempt would come later than this plus the retry window (24 h). */
    windowStartedAt: integer("window_started_at").notNull(),
    lastAttemptAt: integer("last_attempt_at"),
    lastStatus: integer("last_status"),
    lastError: text("last_error"),
    deliveredAt: integer("delivered_at"),
    claimedBy: text("claimed_by"),
    claimedUntil: integer("claimed_until"),
  },
  (table) => [
    primaryKey({ columns: [table.endpointId, table.eventId] }),
    // The sender's claims: due deliveries of one endpoint, in order; partial, so delivered and failed
    // ones (nearly all, in time) cost it nothing, nor does a dead endpoint's backlog waiting to retry.
    // The event's time rides along: the age of the oldest pending event is read from here alone, and
    // pending deliveries are listed in this order (the order they go out).
    index("webhook_deliveries_due_idx")
      .on(table.endpointId, table.nextAttemptAt, table.sequence, table.eventAt)
      .where(sql`${table.status} = 'pending'`),
    // Failed deliveries, for the operator's listing; partial, so a delivery costs it nothing unless it
    // fails for good. Other listings follow the primary key: event ids sort as they are made.
    index("webhook_deliveries_failed_idx").on(table.endpointId, table.eventId).where(sql`${table.status} = 'failed'`),
  ],
);
