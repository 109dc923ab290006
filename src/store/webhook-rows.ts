// Stored webhook rows -> the port's values, for both dialects (their queries select the same
// snake_case columns).

import type { DeliveryStatus, WebhookEventType } from "../webhooks/event-types.ts";
import { type ReservationBase, reservationEventJson } from "../webhooks/outbox.ts";
import type { DeliveryOutcome, WebhookDelivery, WebhookEndpoint } from "./webhook-store.ts";

export type EndpointRow = { id: string; url: string; events: string; secret: string; created_at: number };
export type DeliveryRow = {
  endpoint_id: string;
  event_id: string;
  type: string;
  status: string;
  sequence: number;
  attempts: number;
  event_at: number;
  created_at: number;
  next_attempt_at: number | null;
  last_attempt_at: number | null;
  last_status: number | null;
  last_error: string | null;
  delivered_at: number | null;
  payload: string | null;
  subject_id: string | null;
};

export function endpointOf(row: Pick<EndpointRow, "id" | "url" | "events" | "created_at">): WebhookEndpoint {
  return { id: row.id, url: row.url, events: JSON.parse(row.events) as WebhookEventType[], createdAt: row.created_at };
}

export function deliveryOf(row: DeliveryRow): WebhookDelivery {
  return {
    endpointId: row.endpoint_id,
    id: row.event_id,
    type: row.type as WebhookEventType,
    status: row.status as DeliveryStatus,
    sequence: row.sequence,
    attempts: row.attempts,
    eventAt: row.event_at,
    createdAt: row.created_at,
    nextAttemptAt: row.next_attempt_at,
    lastAttemptAt: row.last_attempt_at,
    lastStatus: row.last_status,
    lastError: row.last_error,
    deliveredAt: row.delivered_at,
    payload: row.payload,
  };
}

/** The status a delivery takes after an attempt. */
export function statusAfter(outcome: DeliveryOutcome): DeliveryStatus {
  if (outcome.delivered) return "delivered";
  return outcome.nextAttemptAt === null ? "failed" : "pending";
}

/**
 * How listings select an endpoint's deliveries, as SQL for both dialects: the status condition (a
 * literal, so that the planner can use the partial indexes, which a bound parameter would hide from
 * it), the order, and the columns a cursor compares. Pending ones are listed as they will go out
 * (webhook_deliveries_due_idx); the others by event id, the primary key's order, which is the order
 * events were made in each journal.
 */
export function listingOrder(status: DeliveryStatus | undefined): { where: string; order: string; after: string } {
  const where = status === undefined ? "" : `AND status = '${STATUS_LITERALS[status]}'`;
  if (status === "pending") return { where, order: "next_attempt_at, sequence, event_id", after: "next_attempt_at, sequence, event_id" };
  return { where, order: "event_id", after: "event_id" };
}

/** Every status, spelled by this table and nothing else: what reaches the SQL text. */
const STATUS_LITERALS: Record<DeliveryStatus, string> = { pending: "pending", delivered: "delivered", failed: "failed" };

/** What a reservation's event body is made of: the row's unchanging fields and its delivered codes. */
export type Subject = { base: ReservationBase; codes: string[] };

/** Why a claimed delivery is failed at once: its body cannot be made (see fillBodies). */
export const NO_SUBJECT_ERROR = "its reservation is not in the store";

/**
 * Make the body of each row that has none yet (a reservation's event, webhooks/outbox.ts) from its
 * reservation; returns the rows whose body was made. A row whose reservation is missing keeps none
 * (the store lacks the hold the event is about: there is nothing to describe).
 */
export function fillBodies<R extends { event_id: string; type: string; event_at: number; payload: string | null; subject_id: string | null }>(
  rows: R[],
  subjects: ReadonlyMap<string, Subject>,
): R[] {
  const made: R[] = [];
  for (const row of rows) {
    if (row.payload !== null || row.subject_id === null) continue;
    const subject = subjects.get(row.subject_id);
    if (subject === undefined) continue;
    row.payload = reservationEventJson(row.event_id, row.type as WebhookEventType, row.event_at, subject.base, subject.codes);
    if (row.payload !== null) made.push(row);
  }
  return made;
}

/** The reservations whose rows `rows` still need for their bodies. */
export function subjectsNeeded(rows: readonly { payload: string | null; subject_id: string | null }[]): string[] {
  const ids = new Set<string>();
  for (const row of rows) if (row.payload === null && row.subject_id !== null) ids.add(row.subject_id);
  return [...ids];
}
