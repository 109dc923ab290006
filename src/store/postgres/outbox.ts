// The outbox's statements inside PostgreSQL's apply transaction (apply-batch.ts, postgres-store.ts):
// the endpoints (reloaded only when their version moved), the sales a plan needs read before the
// batch writes (for sale.sold_out, webhooks/outbox.ts), and one unnest insert of the batch's
// deliveries. With no endpoint registered nothing here runs. With one, a batch costs one statement
// more (the insert, pipelined with the batch), and one round trip when it moves a sale's counts and
// an endpoint wants sale.sold_out.

import type { PendingQuery, Row } from "postgres";
import type { JournalEntry } from "../../journal/journal.ts";
import { type OutboxDelivery, OutboxPlan, type OutboxReads, type SaleBase } from "../../webhooks/outbox.ts";
import { type SubscriptionCache, subscriptionOf } from "../../webhooks/subscriptions.ts";
import type { StoreSql } from "./apply-batch.ts";

/** The deliveries of the entries past `appliedSeq`, read and built inside the batch's transaction `tx`. */
export async function outboxDeliveries(
  tx: StoreSql,
  subscriptions: SubscriptionCache,
  journalId: string,
  entries: readonly JournalEntry[],
  appliedSeq: number,
  endpointsVersion: number | null,
): Promise<OutboxDelivery[]> {
  if (subscriptions.stale(endpointsVersion)) {
    const rows = await tx`SELECT id, events FROM webhook_endpoints WHERE deleted_at IS NULL ORDER BY created_at, id`;
    subscriptions.replace(endpointsVersion, rows.map((row) => subscriptionOf(row.id as string, row.events as string)));
  }
  const plan = OutboxPlan.of(entries, appliedSeq, subscriptions.subscriptions);
  if (plan === null) return [];
  return plan.build(journalId, await read(tx, plan), Date.now());
}

async function read(tx: StoreSql, plan: OutboxPlan): Promise<OutboxReads> {
  const saleIds = [...plan.saleIds];
  const sales = new Map<string, SaleBase>();
  if (saleIds.length === 0) return { sales };
  const saleRows = await tx`
    SELECT s.id, s.name, s.starts_at, s.ends_at, s.paused, i.id AS item_id, i.name AS item_name, i.price, i.currency, i.available
    FROM sales s JOIN items i ON i.sale_id = s.id
    WHERE s.id = ANY(${saleIds}::text[]) ORDER BY s.id, i.position`;
  for (const r of saleRows) {
    let sale = sales.get(r.id as string);
    if (sale === undefined) {
      sale = { id: r.id as string, name: r.name as string, startsAt: r.starts_at as number, endsAt: r.ends_at as number, paused: r.paused as boolean, items: [] };
      sales.set(sale.id, sale);
    }
    sale.items.push({ id: r.item_id as string, name: r.item_name as string, price: r.price as number, currency: r.currency as string, available: r.available as number });
  }
  return { sales };
}

/** One INSERT of every delivery of the batch (arrays through unnest, one parameter per column). */
export function insertDeliveries(tx: StoreSql, deliveries: readonly OutboxDelivery[]): PendingQuery<Row[]> {
  const column = <K extends keyof OutboxDelivery>(key: K) => deliveries.map((d) => d[key]);
  const createdAt = column("createdAt");
  return tx`
    INSERT INTO webhook_deliveries (endpoint_id, event_id, type, sequence, payload, subject_id, status, attempts, event_at,
      created_at, next_attempt_at, window_started_at)
    SELECT u.endpoint_id, u.event_id, u.type, u.sequence, u.payload, u.subject_id, 'pending', 0, u.event_at, u.created_at, u.created_at, u.created_at
    FROM unnest(${column("endpointId")}::text[], ${column("eventId")}::text[], ${column("type")}::text[],
      ${column("sequence")}::int8[], ${column("payload")}::text[], ${column("subjectId")}::text[], ${column("eventAt")}::int8[],
      ${createdAt}::int8[])
      AS u(endpoint_id, event_id, type, sequence, payload, subject_id, event_at, created_at)
    ON CONFLICT (endpoint_id, event_id) DO NOTHING`;
}
