// The outbound webhooks' half of the PostgreSQL store (webhook-store.ts): endpoints for the operator
// routes, claims and outcomes for the sender. Claims take rows with FOR UPDATE SKIP LOCKED, so that
// senders of several nodes claiming at once never wait on, nor take, each other's rows. Each batch of
// outcomes is one UPDATE over unnest'ed arrays.

import type { TransactionSql } from "postgres";
import type { DeliveryStatus } from "../../webhooks/event-types.ts";
import {
  type DeliveryRow,
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
import type { StoreSql } from "./apply-batch.ts";

/** A claimed row, with its reservation's columns (r_*) when its body is still to be made. */
type ClaimedRow = {
  event_id: string;
  type: string;
  sequence: number;
  payload: string | null;
  subject_id: string | null;
  attempts: number;
  window_started_at: number;
  event_at: number;
  r_id: string | null;
  r_sale_id: string | null;
  r_item_id: string | null;
  r_user_id: string | null;
  r_quantity: number | null;
  r_amount: number | null;
  r_currency: string | null;
  r_created_at: number | null;
  r_expires_at: number | null;
  r_codes: string[] | null;
};

const bumpVersion = (tx: TransactionSql<{ int8: number }>) => tx`
  INSERT INTO webhook_state (id, endpoints_version) VALUES (1, 1)
  ON CONFLICT (id) DO UPDATE SET endpoints_version = webhook_state.endpoints_version + 1`;

/** Serializes registrations, so that two at once cannot both pass the bound on live endpoints. */
const ENDPOINTS_LOCK_KEY = 0x57484b53; // "WHKS"


export class PostgresWebhooks implements WebhookStore {
  constructor(private readonly sql: StoreSql) {}

  async createEndpoint(endpoint: WebhookEndpointWithSecret, endpointsMax: number): Promise<boolean> {
    return this.sql.begin(async (tx) => {
      await tx`SELECT pg_advisory_xact_lock(${ENDPOINTS_LOCK_KEY})`;
      const [live] = await tx`SELECT count(*)::int AS n FROM webhook_endpoints WHERE deleted_at IS NULL`;
      if (((live?.n as number | undefined) ?? 0) >= endpointsMax) return false;
      await tx`
        INSERT INTO webhook_endpoints (id, url, events, secret, created_at)
        VALUES (${endpoint.id}, ${endpoint.url}, ${JSON.stringify(endpoint.events)}, ${endpoint.secret}, ${endpoint.createdAt})`;
      await bumpVersion(tx);
      return true;
    }) as Promise<boolean>;
  }

  async listEndpoints(): Promise<WebhookEndpoint[]> {
    const rows = await this.sql`SELECT id, url, events, created_at FROM webhook_endpoints WHERE deleted_at IS NULL ORDER BY created_at, id`;
    return rows.map((row) => endpointOf(row as never));
  }

  async endpoint(id: string): Promise<WebhookEndpoint | null> {
    const [row] = await this.sql`SELECT id, url, events, created_at FROM webhook_endpoints WHERE id = ${id} AND deleted_at IS NULL`;
    return row === undefined ? null : endpointOf(row as never);
  }

  async deleteEndpoint(id: string, now: number): Promise<boolean> {
    return this.sql.begin(async (tx) => {
      const deleted = await tx`UPDATE webhook_endpoints SET deleted_at = ${now} WHERE id = ${id} AND deleted_at IS NULL`;
      if (deleted.count === 0) return false;
      await bumpVersion(tx);
      return true;
    }) as Promise<boolean>;
  }

  async listDeliveries(endpointId: string, query: DeliveryQuery): Promise<DeliveryPage> {
    const sql = this.sql;
    const { where, order, after } = listingOrder(query.status);
    // Keyset paging: after the cursor's delivery, in the listing's order.
    const cursor =
      query.cursor === undefined
        ? sql``
        : sql`AND (${sql.unsafe(after)}) > (SELECT ${sql.unsafe(after)} FROM webhook_deliveries WHERE endpoint_id = ${endpointId} AND event_id = ${query.cursor})`;
    const rows = await sql`
      SELECT * FROM webhook_deliveries WHERE endpoint_id = ${endpointId} ${sql.unsafe(where)} ${cursor}
      ORDER BY ${sql.unsafe(order)} LIMIT ${query.limit + 1}`;
    const page = rows.slice(0, query.limit) as unknown as DeliveryRow[];
    fillBodies(page, await subjects(sql, subjectsNeeded(page)));
    const deliveries = page.map(deliveryOf);
    return { deliveries, nextCursor: rows.length > query.limit ? (deliveries[deliveries.length - 1]?.id ?? null) : null };
  }

  async delivery(endpointId: string, id: string): Promise<WebhookDelivery | null> {
    const [row] = (await this.sql`SELECT * FROM webhook_deliveries WHERE endpoint_id = ${endpointId} AND event_id = ${id}`) as unknown as DeliveryRow[];
    if (row === undefined) return null;
    fillBodies([row], await subjects(this.sql, subjectsNeeded([row])));
    return deliveryOf(row);
  }

  async retryDelivery(endpointId: string, id: string, now: number): Promise<WebhookDelivery | null> {
    // A delivery claimed by a sender right now is that sender's to finish.
    await this.sql`
      UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = ${now}, window_started_at = ${now},
        claimed_by = NULL, claimed_until = NULL
      WHERE endpoint_id = ${endpointId} AND event_id = ${id}
        AND NOT (status = 'pending' AND claimed_until IS NOT NULL AND claimed_until > ${now})`;
    return this.delivery(endpointId, id);
  }

  async senderEndpoints(): Promise<WebhookEndpointWithSecret[]> {
    const rows = await this.sql`SELECT id, url, events, secret, created_at FROM webhook_endpoints WHERE deleted_at IS NULL ORDER BY created_at, id`;
    return rows.map((row) => ({ ...endpointOf(row as never), secret: row.secret as string }));
  }

  async claimDeliveries(endpointId: string, claimedBy: string, now: number, claimedUntil: number, limit: number): Promise<ClaimedDelivery[]> {
    // One statement, one round trip: the claim, and for a reservation's event without a body yet the
    // reservation's row and delivered codes to make it from (the first outcome keeps the body). The
    // lease's end becomes the due time: a sender that dies leaves the delivery due again then.
    const rows = (await this.sql`
      WITH c AS (
        UPDATE webhook_deliveries AS d SET claimed_by = ${claimedBy}, claimed_until = ${claimedUntil}, next_attempt_at = ${claimedUntil}
        FROM (SELECT endpoint_id, event_id FROM webhook_deliveries
              WHERE endpoint_id = ${endpointId} AND status = 'pending' AND next_attempt_at <= ${now}
              ORDER BY next_attempt_at, sequence LIMIT ${limit}
              FOR UPDATE SKIP LOCKED) AS s
        WHERE d.endpoint_id = s.endpoint_id AND d.event_id = s.event_id
        RETURNING d.event_id, d.type, d.sequence, d.payload, d.subject_id, d.attempts, d.window_started_at, d.event_at)
      SELECT c.*, r.id AS r_id, r.sale_id AS r_sale_id, r.item_id AS r_item_id, r.user_id AS r_user_id, r.quantity AS r_quantity,
        r.amount AS r_amount, r.currency AS r_currency, r.created_at AS r_created_at, r.expires_at AS r_expires_at,
        CASE WHEN r.id IS NOT NULL AND c.type = 'reservation.confirmed'
          THEN ARRAY(SELECT code FROM codes WHERE reservation_id = r.id ORDER BY ordinal) END AS r_codes
      FROM c LEFT JOIN reservations r ON c.payload IS NULL AND r.id = c.subject_id`) as unknown as ClaimedRow[];
    const subjects = new Map<string, Subject>();
    for (const r of rows) {
      if (r.r_id === null) continue;
      const base = {
        id: r.r_id,
        saleId: r.r_sale_id as string,
        itemId: r.r_item_id as string,
        userId: r.r_user_id as string,
        quantity: r.r_quantity as number,
        amount: r.r_amount as number,
        currency: r.r_currency as string,
        createdAt: r.r_created_at as number,
        expiresAt: r.r_expires_at as number,
      };
      subjects.set(base.id, { base, codes: r.r_codes ?? [] });
    }
    const stored = new Map(rows.map((row) => [row.event_id, row.payload !== null]));
    fillBodies(rows, subjects);
    const orphans = rows.filter((row) => row.payload === null).map((row) => row.event_id);
    if (orphans.length > 0) {
      await this.sql`
        UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL, last_error = ${NO_SUBJECT_ERROR}, claimed_by = NULL, claimed_until = NULL
        WHERE endpoint_id = ${endpointId} AND event_id = ANY(${orphans}::text[]) AND claimed_by = ${claimedBy}`;
    }
    const sendable: ClaimedDelivery[] = [];
    for (const row of rows) {
      if (row.payload === null) continue;
      const { event_id: id, sequence, payload, attempts, window_started_at: windowStartedAt, event_at: eventAt } = row;
      sendable.push({ endpointId, id, sequence, payload, attempts, windowStartedAt, eventAt, claimedUntil, bodyStored: stored.get(id) === true });
    }
    return sendable.sort((a, b) => a.eventAt - b.eventAt || a.sequence - b.sequence);
  }

  async recordOutcomes(outcomes: readonly DeliveryOutcome[]): Promise<void> {
    if (outcomes.length === 0) return;
    const column = <T>(pick: (o: DeliveryOutcome) => T) => outcomes.map(pick);
    const statuses: DeliveryStatus[] = column(statusAfter);
    await this.sql`
      UPDATE webhook_deliveries AS d SET status = u.status, attempts = d.attempts + 1, last_attempt_at = u.at,
        last_status = u.last_status, last_error = u.last_error, delivered_at = u.delivered_at,
        next_attempt_at = u.next_attempt_at, claimed_by = NULL, claimed_until = NULL, payload = coalesce(d.payload, u.body)
      FROM unnest(${column((o) => o.endpointId)}::text[], ${column((o) => o.id)}::text[], ${column((o) => o.claimedBy)}::text[],
        ${column((o) => o.claimedUntil)}::int8[], ${statuses}::text[], ${column((o) => o.at)}::int8[],
        ${column((o) => o.status)}::int4[], ${column((o) => o.error)}::text[],
        ${column((o) => (o.delivered ? o.at : null))}::int8[],
        ${outcomes.map((o, i) => (statuses[i] === "pending" ? o.nextAttemptAt : null))}::int8[], ${column((o) => o.body)}::text[])
        AS u(endpoint_id, event_id, claimed_by, claimed_until, status, at, last_status, last_error, delivered_at, next_attempt_at, body)
      WHERE d.endpoint_id = u.endpoint_id AND d.event_id = u.event_id AND d.claimed_by = u.claimed_by AND d.claimed_until = u.claimed_until`;
  }

  async releaseClaims(claimedBy: string, now: number): Promise<number> {
    const released = await this.sql`
      UPDATE webhook_deliveries SET claimed_by = NULL, claimed_until = NULL, next_attempt_at = ${now}
      WHERE status = 'pending' AND claimed_by = ${claimedBy}`;
    return released.count;
  }

  async oldestPendingEventAt(): Promise<number | null> {
    // Read from the pending entries of webhook_deliveries_due_idx alone (it carries event_at): as
    // long as the backlogs, not the history.
    const [row] = await this.sql`
      SELECT min((SELECT min(event_at) FROM webhook_deliveries d WHERE d.endpoint_id = e.id AND d.status = 'pending')) AS at
      FROM webhook_endpoints e WHERE e.deleted_at IS NULL`;
    return (row?.at as number | null | undefined) ?? null;
  }

  async pruneDelivered(before: number, limit: number): Promise<number> {
    // Every row of a deleted endpoint (nothing sends or lists them), then delivered rows past retention.
    const gone = await this.sql`
      DELETE FROM webhook_deliveries WHERE (endpoint_id, event_id) IN (
        SELECT d.endpoint_id, d.event_id FROM webhook_endpoints e JOIN webhook_deliveries d ON d.endpoint_id = e.id
        WHERE e.deleted_at IS NOT NULL LIMIT ${limit})`;
    if (gone.count >= limit) return gone.count;
    const old = await this.sql`
      DELETE FROM webhook_deliveries WHERE (endpoint_id, event_id) IN (
        SELECT d.endpoint_id, d.event_id FROM webhook_endpoints e JOIN webhook_deliveries d
          ON d.endpoint_id = e.id AND d.status = 'delivered' AND d.event_at < ${before}
        LIMIT ${limit - gone.count})`;
    return gone.count + old.count;
  }
}

/** The rows and delivered codes of reservations, for the bodies of their events (one round trip). */
async function subjects(sql: StoreSql | TransactionSql<{ int8: number }>, ids: string[]): Promise<Map<string, Subject>> {
  const found = new Map<string, Subject>();
  if (ids.length === 0) return found;
  const [rows, codes] = await Promise.all([
    sql`SELECT id, sale_id, item_id, user_id, quantity, amount, currency, created_at, expires_at FROM reservations WHERE id = ANY(${ids}::text[])`,
    sql`SELECT reservation_id, code FROM codes WHERE reservation_id = ANY(${ids}::text[]) ORDER BY ordinal`,
  ]);
  for (const r of rows) {
    const base = {
      id: r.id as string,
      saleId: r.sale_id as string,
      itemId: r.item_id as string,
      userId: r.user_id as string,
      quantity: r.quantity as number,
      amount: r.amount as number,
      currency: r.currency as string,
      createdAt: r.created_at as number,
      expiresAt: r.expires_at as number,
    };
    found.set(base.id, { base, codes: [] });
  }
  for (const c of codes) found.get(c.reservation_id as string)?.codes.push(c.code as string);
  return found;
}
