// The outbox's statements inside the embedded store's apply transaction (apply-batch.ts): the
// endpoints (reloaded only when their version moved), the sales a plan needs read before the batch
// writes (for sale.sold_out, webhooks/outbox.ts), and the insert of the batch's deliveries. With no
// endpoint registered none of them runs: `before` returns null from the cache.

import type { Database } from "bun:sqlite";
import type { JournalEntry } from "../../journal/journal.ts";
import { type OutboxDelivery, OutboxPlan, type OutboxReads, type SaleBase } from "../../webhooks/outbox.ts";
import { SubscriptionCache, subscriptionOf } from "../../webhooks/subscriptions.ts";

type Binding = string | number | null;
type SaleItemRow = {
  id: string;
  name: string;
  starts_at: number;
  ends_at: number;
  paused: number;
  item_id: string;
  item_name: string;
  price: number;
  currency: string;
  available: number;
};

export function prepareOutbox(db: Database) {
  const subscriptions = new SubscriptionCache();
  const q = <R = unknown>(sql: string) => db.prepare<R, Binding[]>(sql);
  const endpoints = q<{ id: string; events: string }>("SELECT id, events FROM webhook_endpoints WHERE deleted_at IS NULL ORDER BY created_at, id");
  // Ids travel as one JSON array (json_each), so a batch of any size is one statement.
  const sales = q<SaleItemRow>(
    `SELECT s.id, s.name, s.starts_at, s.ends_at, s.paused, i.id AS item_id, i.name AS item_name, i.price, i.currency, i.available
     FROM sales s JOIN items i ON i.sale_id = s.id
     WHERE s.id IN (SELECT value FROM json_each(?)) ORDER BY s.id, i.position`,
  );
  const insert = q(
    `INSERT INTO webhook_deliveries (endpoint_id, event_id, type, sequence, payload, subject_id, status, attempts, event_at,
       created_at, next_attempt_at, window_started_at)
     VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?, ?)
     ON CONFLICT (endpoint_id, event_id) DO NOTHING`,
  );

  function read(plan: OutboxPlan): OutboxReads {
    const bySale = new Map<string, SaleBase>();
    if (plan.saleIds.length > 0) {
      for (const row of sales.all(JSON.stringify(plan.saleIds))) {
        let sale = bySale.get(row.id);
        if (sale === undefined) {
          sale = { id: row.id, name: row.name, startsAt: row.starts_at, endsAt: row.ends_at, paused: row.paused !== 0, items: [] };
          bySale.set(row.id, sale);
        }
        sale.items.push({ id: row.item_id, name: row.item_name, price: row.price, currency: row.currency, available: row.available });
      }
    }
    return { sales: bySale };
  }

  return {
    /**
     * Inside the transaction, before the batch writes anything: the plan for the entries past
     * `appliedSeq` and the rows it needs as they were before the batch; null when nothing can match.
     */
    before(entries: readonly JournalEntry[], appliedSeq: number, endpointsVersion: number | null) {
      if (subscriptions.stale(endpointsVersion)) {
        subscriptions.replace(endpointsVersion, endpoints.all().map((row) => subscriptionOf(row.id, row.events)));
      }
      const plan = OutboxPlan.of(entries, appliedSeq, subscriptions.subscriptions);
      return plan === null ? null : { plan, reads: read(plan) };
    },
    /** After the batch's rows: insert its deliveries. */
    after(prepared: { plan: OutboxPlan; reads: OutboxReads } | null, journalId: string, now: number): void {
      if (prepared === null) return;
      for (const d of prepared.plan.build(journalId, prepared.reads, now)) insertDelivery(d);
    },
  };

  function insertDelivery(d: OutboxDelivery): void {
    insert.run(d.endpointId, d.eventId, d.type, d.sequence, d.payload, d.subjectId, d.eventAt, d.createdAt, d.createdAt, d.createdAt);
  }
}
