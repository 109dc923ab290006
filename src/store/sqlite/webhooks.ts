// The outbound webhooks' half of the embedded store (webhook-store.ts): endpoints for the operator
// routes, claims and outcomes for the sender. Writes run in immediate transactions: several worker
// processes and threads share this file, and a deferred transaction that reads and then writes fails
// at once with SQLITE_BUSY when another connection committed in between (WAL snapshots).

import type { Database } from "bun:sqlite";
import type { DeliveryStatus } from "../../webhooks/event-types.ts";
import type { ReservationBase } from "../../webhooks/outbox.ts";
import {
  type DeliveryRow,
  type EndpointRow,
  NO_SUBJECT_ERROR,
  type Subject,
  deliveryOf,
  endpointOf,
  fillBodies,
  listingOrder,
  statusAfter,
  subjectsNeeded,
} from "../webhook-rows.ts";
import type {
  ClaimedDelivery,
  DeliveryOutcome,
  DeliveryPage,
  DeliveryQuery,
  WebhookDelivery,
  WebhookEndpoint,
  WebhookEndpointWithSecret,
  WebhookStore,
} from "../webhook-store.ts";

type Binding = string | number | null;

const DELIVERY_COLUMNS =
  "endpoint_id, event_id, type, status, sequence, attempts, event_at, created_at, next_attempt_at, last_attempt_at, last_status, last_error, delivered_at, payload, subject_id";
/** Bumps the version the write-behind compares with its cached endpoints (subscriptions.ts). */
const BUMP_VERSION = `INSERT INTO webhook_state (id, endpoints_version) VALUES (1, 1)
  ON CONFLICT (id) DO UPDATE SET endpoints_version = endpoints_version + 1`;

/** The statements whose plans matter as tables grow, exported for the plan checks (test/store). */
export const WEBHOOK_SQL = {
  dueProbe: "SELECT 1 FROM webhook_deliveries WHERE endpoint_id = ? AND status = 'pending' AND next_attempt_at <= ? LIMIT 1",
  // The lease's end becomes the due time: a sender that dies leaves the delivery due again then.
  claim: `UPDATE webhook_deliveries SET claimed_by = ?, claimed_until = ?, next_attempt_at = ?
    WHERE rowid IN (SELECT rowid FROM webhook_deliveries WHERE endpoint_id = ? AND status = 'pending' AND next_attempt_at <= ?
                    ORDER BY next_attempt_at, sequence LIMIT ?)
    RETURNING event_id, type, sequence, payload, subject_id, attempts, window_started_at, event_at`,
  // Read from the pending entries of webhook_deliveries_due_idx alone (it carries event_at): as
  // long as the backlogs, not the history.
  oldestPending: `SELECT min((SELECT min(event_at) FROM webhook_deliveries d WHERE d.endpoint_id = e.id AND d.status = 'pending')) AS at
    FROM webhook_endpoints e WHERE e.deleted_at IS NULL`,
  // CROSS JOIN keeps the endpoints as the outer loop, so each endpoint's deliveries are reached
  // through the primary key (oldest first) instead of by a scan of the whole table.
  pruneDeleted: `DELETE FROM webhook_deliveries WHERE rowid IN (
    SELECT d.rowid FROM webhook_endpoints e CROSS JOIN webhook_deliveries d ON d.endpoint_id = e.id
    WHERE e.deleted_at IS NOT NULL LIMIT ?)`,
  pruneDelivered: `DELETE FROM webhook_deliveries WHERE rowid IN (
    SELECT d.rowid FROM webhook_endpoints e CROSS JOIN webhook_deliveries d
      ON d.endpoint_id = e.id AND d.status = 'delivered' AND d.event_at < ?
    LIMIT ?)`,
};

/** The listing's statement (listingOrder says why the status is a literal). */
export function listingSql(status: DeliveryStatus | undefined, withCursor: boolean): string {
  const { where, order, after } = listingOrder(status);
  // Keyset paging: after the cursor's delivery, in the listing's order.
  const cursor = withCursor ? `AND (${after}) > (SELECT ${after} FROM webhook_deliveries WHERE endpoint_id = ? AND event_id = ?)` : "";
  return `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries WHERE endpoint_id = ? ${where} ${cursor} ORDER BY ${order} LIMIT ?`;
}

export class SqliteWebhooks implements WebhookStore {
  private readonly q;

  constructor(private readonly db: Database) {
    this.q = <R = unknown>(sql: string) => db.query<R, Binding[]>(sql);
  }

  async createEndpoint(endpoint: WebhookEndpointWithSecret, endpointsMax: number): Promise<boolean> {
    return this.db.transaction(() => {
      const live = this.q<{ n: number }>("SELECT count(*) AS n FROM webhook_endpoints WHERE deleted_at IS NULL").get();
      if ((live?.n ?? 0) >= endpointsMax) return false;
      this.q("INSERT INTO webhook_endpoints (id, url, events, secret, created_at) VALUES (?, ?, ?, ?, ?)").run(
        endpoint.id,
        endpoint.url,
        JSON.stringify(endpoint.events),
        endpoint.secret,
        endpoint.createdAt,
      );
      this.q(BUMP_VERSION).run();
      return true;
    }).immediate();
  }

  async listEndpoints(): Promise<WebhookEndpoint[]> {
    return this.q<EndpointRow>("SELECT id, url, events, created_at FROM webhook_endpoints WHERE deleted_at IS NULL ORDER BY created_at, id")
      .all()
      .map(endpointOf);
  }

  async endpoint(id: string): Promise<WebhookEndpoint | null> {
    const row = this.q<EndpointRow>("SELECT id, url, events, created_at FROM webhook_endpoints WHERE id = ? AND deleted_at IS NULL").get(id);
    return row === null ? null : endpointOf(row);
  }

  async deleteEndpoint(id: string, now: number): Promise<boolean> {
    return this.db.transaction(() => {
      const changed = this.q("UPDATE webhook_endpoints SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL").run(now, id).changes;
      if (changed === 0) return false;
      this.q(BUMP_VERSION).run();
      return true;
    }).immediate();
  }

  async listDeliveries(endpointId: string, query: DeliveryQuery): Promise<DeliveryPage> {
    const params: Binding[] = query.cursor === undefined ? [endpointId, query.limit + 1] : [endpointId, endpointId, query.cursor, query.limit + 1];
    const rows = this.q<DeliveryRow>(listingSql(query.status, query.cursor !== undefined)).all(...params);
    const page = rows.slice(0, query.limit);
    fillBodies(page, this.subjects(subjectsNeeded(page)));
    const deliveries = page.map(deliveryOf);
    return { deliveries, nextCursor: rows.length > query.limit ? (deliveries[deliveries.length - 1]?.id ?? null) : null };
  }

  async delivery(endpointId: string, id: string): Promise<WebhookDelivery | null> {
    const row = this.q<DeliveryRow>(`SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries WHERE endpoint_id = ? AND event_id = ?`).get(endpointId, id);
    if (row === null) return null;
    fillBodies([row], this.subjects(subjectsNeeded([row])));
    return deliveryOf(row);
  }

  async retryDelivery(endpointId: string, id: string, now: number): Promise<WebhookDelivery | null> {
    this.db.transaction(() => {
      // A delivery claimed by a sender right now is that sender's to finish.
      this.q(
        `UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = ?, window_started_at = ?, claimed_by = NULL, claimed_until = NULL
         WHERE endpoint_id = ? AND event_id = ? AND NOT (status = 'pending' AND claimed_until IS NOT NULL AND claimed_until > ?)`,
      ).run(now, now, endpointId, id, now);
    }).immediate();
    return this.delivery(endpointId, id);
  }

  async senderEndpoints(): Promise<WebhookEndpointWithSecret[]> {
    return this.q<EndpointRow>("SELECT id, url, events, secret, created_at FROM webhook_endpoints WHERE deleted_at IS NULL ORDER BY created_at, id")
      .all()
      .map((row) => ({ ...endpointOf(row), secret: row.secret }));
  }

  async claimDeliveries(endpointId: string, claimedBy: string, now: number, claimedUntil: number, limit: number): Promise<ClaimedDelivery[]> {
    // A read first, outside any write transaction: an idle endpoint then never takes the write lock
    // that the write-behind of every worker needs.
    const due = this.q(WEBHOOK_SQL.dueProbe).get(endpointId, now);
    if (due === null) return [];
    type Claimed = {
      event_id: string;
      type: string;
      sequence: number;
      payload: string | null;
      subject_id: string | null;
      attempts: number;
      window_started_at: number;
      event_at: number;
    };
    const claimed = this.db
      .transaction(() => this.q<Claimed>(WEBHOOK_SQL.claim).all(claimedBy, claimedUntil, claimedUntil, endpointId, now, limit))
      .immediate();
    const stored = new Map(claimed.map((row) => [row.event_id, row.payload !== null]));
    // A reservation's event gets its body now, from rows that never change (so outside the write
    // transaction, whose lock the write-behind waits for); the first outcome keeps it.
    fillBodies(claimed, this.subjects(subjectsNeeded(claimed)));
    const orphans = claimed.filter((row) => row.payload === null);
    if (orphans.length > 0) {
      const fail = this.q(
        `UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL, last_error = ?, claimed_by = NULL, claimed_until = NULL
         WHERE endpoint_id = ? AND event_id = ? AND claimed_by = ?`,
      );
      this.db.transaction(() => {
        for (const row of orphans) fail.run(NO_SUBJECT_ERROR, endpointId, row.event_id, claimedBy);
      }).immediate();
    }
    const sendable: ClaimedDelivery[] = [];
    for (const row of claimed) {
      if (row.payload === null) continue;
      const { event_id: id, sequence, payload, attempts, window_started_at: windowStartedAt, event_at: eventAt } = row;
      sendable.push({ endpointId, id, sequence, payload, attempts, windowStartedAt, eventAt, claimedUntil, bodyStored: stored.get(id) === true });
    }
    return sendable.sort((a, b) => a.eventAt - b.eventAt || a.sequence - b.sequence);
  }

  /** The rows and delivered codes of reservations, for the bodies of their events. */
  private subjects(ids: readonly string[]): Map<string, Subject> {
    const subjects = new Map<string, Subject>();
    if (ids.length === 0) return subjects;
    const list = JSON.stringify(ids);
    for (const base of this.q<ReservationBase>(
      `SELECT id, sale_id AS saleId, item_id AS itemId, user_id AS userId, quantity, amount, currency,
         created_at AS createdAt, expires_at AS expiresAt
       FROM reservations WHERE id IN (SELECT value FROM json_each(?))`,
    ).all(list)) {
      subjects.set(base.id, { base, codes: [] });
    }
    for (const row of this.q<{ reservation_id: string; code: string }>(
      "SELECT reservation_id, code FROM codes WHERE reservation_id IN (SELECT value FROM json_each(?)) ORDER BY ordinal",
    ).all(list)) {
      subjects.get(row.reservation_id)?.codes.push(row.code);
    }
    return subjects;
  }

  async recordOutcomes(outcomes: readonly DeliveryOutcome[]): Promise<void> {
    if (outcomes.length === 0) return;
    const update = this.q(
      `UPDATE webhook_deliveries SET status = ?, attempts = attempts + 1, last_attempt_at = ?, last_status = ?, last_error = ?,
         delivered_at = ?, next_attempt_at = ?, claimed_by = NULL, claimed_until = NULL, payload = coalesce(payload, ?)
       WHERE endpoint_id = ? AND event_id = ? AND claimed_by = ? AND claimed_until = ?`,
    );
    this.db.transaction(() => {
      for (const o of outcomes) {
        const status = statusAfter(o);
        const next = status === "pending" ? o.nextAttemptAt : null;
        update.run(status, o.at, o.status, o.error, o.delivered ? o.at : null, next, o.body, o.endpointId, o.id, o.claimedBy, o.claimedUntil);
      }
    }).immediate();
  }

  async releaseClaims(claimedBy: string, now: number): Promise<number> {
    return this.db.transaction(
      () =>
        this.q(
          `UPDATE webhook_deliveries SET claimed_by = NULL, claimed_until = NULL, next_attempt_at = ?
           WHERE status = 'pending' AND claimed_by = ?`,
        ).run(now, claimedBy).changes,
    ).immediate();
  }

  async oldestPendingEventAt(): Promise<number | null> {
    const row = this.q<{ at: number | null }>(WEBHOOK_SQL.oldestPending).get();
    return row?.at ?? null;
  }

  async pruneDelivered(before: number, limit: number): Promise<number> {
    return this.db.transaction(() => {
      // Every row of a deleted endpoint (nothing sends or lists them), then delivered rows past retention.
      const deleted = this.q(WEBHOOK_SQL.pruneDeleted).run(limit).changes;
      if (deleted >= limit) return deleted;
      return deleted + this.q(WEBHOOK_SQL.pruneDelivered).run(before, limit - deleted).changes;
    }).immediate();
  }
}
