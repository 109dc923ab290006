// PostgreSQL as the system of record, through postgres.js. Three clients, so that no kind of work can
// starve another: the flusher's single connection (one write-behind batch at a time), a pool for
// recovery (appliedSeq, loadSales), and a small pool for operator and history reads (listings, CSV
// exports, a buyer's older reservations). The batch is a few set-based statements in one transaction
// (apply-batch.ts), recovery reads what is live of each sale (load-sale.ts), listings and history go
// through drizzle's query builder.

import { and, asc, eq, gt, sql } from "drizzle-orm";
import { drizzle, type PostgresJsDatabase } from "drizzle-orm/postgres-js";
import { migrate } from "drizzle-orm/postgres-js/migrator";
import postgres, { type Row } from "postgres";
import type { JournalEntry } from "../../journal/journal.ts";
import type { StoredSale } from "../../ledger/restore.ts";
import type { Payment, PaymentOutcome, Reservation } from "../../ledger/types.ts";
import { migrationsFolder } from "../migrations-folder.ts";
import { codesByReservation, toReservation } from "../reservation-row.ts";
import { roomOfColumn } from "../room-column.ts";
import type { ReservationPage, ReservationQuery, Store } from "../store.ts";
import { FoldedBatch, type StoreSql, batchStatements } from "./apply-batch.ts";
import { SubscriptionCache } from "../../webhooks/subscriptions.ts";
import { ensureNodeSchema } from "../../node/schema.ts";
import { QueueFold } from "../queue-fold.ts";
import { queueStatements, readRoomStarts, roomStartsOf } from "./apply-queue.ts";
import { loadSale } from "./load-sale.ts";
import { insertDeliveries, outboxDeliveries } from "./outbox.ts";
import * as schema from "./schema.ts";
import { PostgresWebhooks } from "./webhooks.ts";

/** Key of the session advisory lock that serializes migrations across processes ("STMP"). */
const MIGRATION_LOCK_KEY = 0x53544d50;

/** A batch still unfinished after this long is abandoned: its connection is dropped, the batch retried. */
const APPLY_TIMEOUT_MS = 60_000;

/**
 * Node mode: the server ends a commit's transaction left open this long (its node lost PostgreSQL
 * between BEGIN and COMMIT), so that the lease rows it locked cannot hold a takeover back for long.
 */
const FENCED_IDLE_IN_TRANSACTION_MS = 2_000;

/** The lease check of a node-mode commit: the batch's sales, each with the epoch its owner holds. */
export type LeaseFence = { nodeId: string; saleIds: string[]; epochs: number[] };

export type PostgresStoreOptions = {
  /** Connections for recovery's parallel selects. */
  recoveryConnectionsMax?: number;
  /** Connections for operator reads. */
  readConnectionsMax?: number;
  /** Seconds to wait for a connection; short, so that an outage turns into a retry, not a hang. */
  connectTimeoutSeconds?: number;
};

// Times, money and counts are int8 columns, which postgres.js returns as strings by default.
const int8AsNumber = { to: 20, from: [20], serialize: (value: number) => String(value), parse: (value: string) => Number(value) };

function connect(url: string, max: number, connectTimeoutSeconds: number, name: string, settings: Record<string, string> = {}): StoreSql {
  return postgres(url, {
    max,
    connect_timeout: connectTimeoutSeconds,
    // Idle connections are closed, so one silently broken by an outage is not kept for long;
    // postgres.js opens a fresh one on the next query.
    idle_timeout: 30,
    onnotice: () => {},
    types: { int8: int8AsNumber },
    connection: { application_name: name, ...settings },
  });
}


export class PostgresStore implements Store {
  readonly dialect = "postgres" as const;
  private readonly recovery: StoreSql;
  private readonly read: StoreSql;
  private readonly db: PostgresJsDatabase<typeof schema>;
  private readonly connectTimeoutSeconds: number;
  /** The flusher's client; replaced by a fresh one after any failed batch (see applyOnce). */
  private flusher: StoreSql | null = null;
  /** Batches run one after another, never interleaved on the flusher's connection. */
  private applying: Promise<void> = Promise.resolve();
  /** Node mode's commits, on a connection of their own (commitFenced). */
  private committer: StoreSql | null = null;
  /** The endpoints the write-behind creates deliveries for (webhooks/subscriptions.ts). */
  private readonly subscriptions = new SubscriptionCache();
  readonly webhooks: PostgresWebhooks;

  constructor(
    private readonly url: string,
    options: PostgresStoreOptions = {},
  ) {
    this.connectTimeoutSeconds = options.connectTimeoutSeconds ?? 5;
    // postgres.js connects lazily: a database that is down fails the first query (which the flusher
    // retries), never the constructor.
    this.recovery = connect(url, options.recoveryConnectionsMax ?? 4, this.connectTimeoutSeconds, "stampede-recovery");
    this.read = connect(url, options.readConnectionsMax ?? 2, this.connectTimeoutSeconds, "stampede-reads");
    this.db = drizzle({ client: this.read, schema });
    this.webhooks = new PostgresWebhooks(this.read);
  }

  async migrate(): Promise<void> {
    // A session advisory lock lives on one connection, so the migration runs on a pool of exactly
    // one: every process that starts at once waits here, and the later ones find nothing to do.
    const client = connect(this.url, 1, this.connectTimeoutSeconds, "stampede-migrate");
    try {
      await client`SELECT pg_advisory_lock(${MIGRATION_LOCK_KEY})`;
      await migrate(drizzle({ client }), { migrationsFolder: migrationsFolder("postgres") });
      await ensureNodeSchema(client);
      await client`SELECT pg_advisory_unlock(${MIGRATION_LOCK_KEY})`;
    } finally {
      // Ending the session also releases the lock should the migration have failed.
      await client.end({ timeout: 5 });
    }
  }

  async appliedSeq(journalId: string): Promise<number> {
    const rows = await this.recovery`SELECT seq FROM journal_progress WHERE journal_id = ${journalId}`;
    return (rows[0]?.seq as number | undefined) ?? 0;
  }

  apply(journalId: string, entries: readonly JournalEntry[]): Promise<void> {
    if (entries.length === 0) return Promise.resolve();
    const run = this.applying.then(() => this.applyOnce(journalId, entries));
    this.applying = run.catch(() => {});
    return run;
  }

  /**
   * One batch, with a fresh client after any failure. postgres.js 3.4.9 mishandles a connection that
   * dies inside a transaction (porsager/postgres#1208, #1186, #1215): sql.begin() then writes its own
   * ROLLBACK to the dead socket, an uncaught TypeError, and the reused connection can hang. So the
   * transaction is BEGIN/COMMIT on a reserved connection (its queued statements never move to
   * another connection, where they would run outside the transaction), nothing more is sent on it
   * once anything failed, and the whole client is thrown away: the retry starts on a new connection.
   */
  private async applyOnce(journalId: string, entries: readonly JournalEntry[]): Promise<void> {
    // idle_in_transaction_session_timeout: should this process lose its connection in a way the
    // server does not notice, the server still ends the transaction and frees the progress row.
    this.flusher ??= connect(this.url, 1, this.connectTimeoutSeconds, "stampede-flusher", {
      idle_in_transaction_session_timeout: String(APPLY_TIMEOUT_MS),
    });
    const client = this.flusher;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const abandoned = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`a store batch took over ${APPLY_TIMEOUT_MS} ms`)), APPLY_TIMEOUT_MS);
    });
    try {
      await Promise.race([applyBatch(client, journalId, entries, this.subscriptions), abandoned]);
    } catch (error) {
      if (this.flusher === client) this.flusher = null;
      client.end({ timeout: 0 }).catch(() => {});
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Node mode's group commit (node/node-commit.ts): the batch applied exactly as the write-behind
   * applies it, in one transaction that first passes the lease fence. A stale owner's batch is
   * refused whole (SQLSTATE SL001) and nothing of it is written. One at a time: the group commit
   * keeps one batch in flight. After any failure the connection is thrown away, as in applyOnce.
   */
  async commitFenced(journalId: string, entries: readonly JournalEntry[], fence: LeaseFence): Promise<void> {
    this.committer ??= connect(this.url, 1, this.connectTimeoutSeconds, "stampede-node-commit", {
      idle_in_transaction_session_timeout: String(FENCED_IDLE_IN_TRANSACTION_MS),
    });
    const client = this.committer;
    try {
      await applyBatch(client, journalId, entries, this.subscriptions, fence);
    } catch (error) {
      if (this.committer === client) this.committer = null;
      client.end({ timeout: 0 }).catch(() => {});
      throw error;
    }
  }

  async loadSales(owns: (saleId: string) => boolean, now = Date.now()): Promise<StoredSale[]> {
    const sales = await this.recovery`
      SELECT id, name, starts_at, ends_at, hold_seconds, limit_per_user, paused, created_at, waiting_room FROM sales ORDER BY id COLLATE "C"`;
    const loaded: StoredSale[] = [];
    for (const sale of sales) {
      if (!owns(sale.id)) continue;
      const { id, name, starts_at, ends_at, hold_seconds, limit_per_user, paused, created_at, waiting_room } = sale;
      const room = roomOfColumn(waiting_room);
      const settings = {
        id, name, startsAt: starts_at, endsAt: ends_at, holdSeconds: hold_seconds, limitPerUser: limit_per_user, paused, createdAt: created_at,
        // Absent rather than null for a sale without a room: loaded sales stay as they were.
        ...(room === null ? {} : { waitingRoom: room }),
      };
      loaded.push(await loadSale(this.recovery, settings, now));
    }
    return loaded;
  }

  async reservation(saleId: string, reservationId: string): Promise<Reservation | null> {
    const { reservations } = schema;
    const [row] = await this.db
      .select()
      .from(reservations)
      .where(and(eq(reservations.id, reservationId), eq(reservations.saleId, saleId)));
    if (row === undefined) return null;
    const codes = row.status === "confirmed" ? await this.deliveredCodes([row.id]) : new Map<string, string[]>();
    return toReservation(row, codes.get(row.id) ?? []);
  }

  async endedReservationsOfBuyer(saleId: string, userId: string): Promise<Reservation[]> {
    const { reservations } = schema;
    const rows = await this.db
      .select()
      .from(reservations)
      // The literal, not a parameter: only then can the planner use the partial index of ended ones.
      .where(and(eq(reservations.saleId, saleId), eq(reservations.userId, userId), sql`${reservations.status} <> 'held'`))
      // Ties on created_at in byte order of the id, as the embedded store sorts them.
      .orderBy(asc(reservations.createdAt), sql`${reservations.id} COLLATE "C"`);
    const codes = await this.deliveredCodes(rows.filter((row) => row.status === "confirmed").map((row) => row.id));
    return rows.map((row) => toReservation(row, codes.get(row.id) ?? []));
  }

  async listReservations(saleId: string, query: ReservationQuery): Promise<ReservationPage> {
    const { reservations } = schema;
    const conditions = [eq(reservations.saleId, saleId)];
    if (query.status !== undefined) conditions.push(eq(reservations.status, query.status));
    if (query.cursor !== undefined) conditions.push(gt(reservations.id, query.cursor));
    const rows = await this.db
      .select()
      .from(reservations)
      .where(and(...conditions))
      .orderBy(asc(reservations.id))
      .limit(query.limit + 1);
    const page = rows.slice(0, query.limit);
    const delivered = await this.deliveredCodes(page.filter((row) => row.status === "confirmed").map((row) => row.id));
    return {
      reservations: page.map((row) => toReservation(row, delivered.get(row.id) ?? [])),
      nextCursor: rows.length > query.limit ? (page[page.length - 1]?.id ?? null) : null,
    };
  }

  async listPayments(saleId: string, outcome?: PaymentOutcome): Promise<Payment[]> {
    const { payments } = schema;
    const conditions = [eq(payments.saleId, saleId)];
    if (outcome !== undefined) conditions.push(eq(payments.outcome, outcome));
    const rows = await this.db
      .select()
      .from(payments)
      .where(and(...conditions))
      .orderBy(asc(payments.receivedAt), asc(payments.eventId));
    return rows.map((row) => ({ ...row, outcome: row.outcome as PaymentOutcome }));
  }

  /**
   * The codes delivered to each of `ids`, in delivery order, through the partial index on
   * codes.reservation_id. One array parameter, however many ids.
   */
  private async deliveredCodes(ids: string[]): Promise<Map<string, string[]>> {
    if (ids.length === 0) return new Map();
    const { codes } = schema;
    const rows = await this.db
      .select({ reservationId: codes.reservationId, code: codes.code })
      .from(codes)
      .where(sql`${codes.reservationId} = ANY(${sql.param(ids)}::text[])`)
      .orderBy(asc(codes.ordinal));
    return codesByReservation(rows.map((row) => [row.reservationId, row.code]));
  }

  async close(): Promise<void> {
    await this.applying;
    await Promise.all([
      this.flusher?.end({ timeout: 5 }),
      this.committer?.end({ timeout: 5 }),
      this.recovery.end({ timeout: 5 }),
      this.read.end({ timeout: 5 }),
    ]);
  }
}

/**
 * The batch's transaction on a reserved connection, every statement pipelined (see applyOnce). With a
 * fence (node mode), the lease check runs first and a refused check fails the whole transaction.
 */
async function applyBatch(
  client: StoreSql,
  journalId: string,
  entries: readonly JournalEntry[],
  subscriptions: SubscriptionCache,
  fence?: LeaseFence,
): Promise<void> {
  const last = entries[entries.length - 1];
  if (last === undefined) return;
  const tx = await client.reserve();
  // Lock this journal's progress row for the whole transaction: a second flusher of the same
  // journal (a restarted worker racing an old one) waits here, then skips what this one wrote. The
  // endpoints' version rides on the same read (webhooks/subscriptions.ts).
  // The waiting rooms the batch names ride on the same round trip, read under the progress lock.
  const opening = await Promise.all([
    tx`BEGIN`,
    ...(fence === undefined ? [] : [tx`SELECT stampede_fence(${fence.nodeId}, ${fence.saleIds}::text[], ${fence.epochs}::int8[])`]),
    tx`INSERT INTO journal_progress (journal_id, seq) VALUES (${journalId}, 0) ON CONFLICT (journal_id) DO NOTHING`,
    tx`SELECT seq, (SELECT endpoints_version FROM webhook_state WHERE id = 1) AS endpoints_version
       FROM journal_progress WHERE journal_id = ${journalId} FOR UPDATE`,
    readRoomStarts(tx, entries),
  ]);
  const progress = opening[opening.length - 2] as Row[];
  const roomStarts = roomStartsOf(opening[opening.length - 1] as unknown as unknown[][]);
  const appliedSeq = (progress[0]?.seq as number | undefined) ?? 0;
  // A node's commit comes before its journal: its numbers are new to the store, never a replay. A
  // batch the store would skip as applied would be acknowledged and lost, so it is a bug that stops.
  if (fence !== undefined && appliedSeq >= (entries[0] as JournalEntry).seq) {
    await Promise.all([tx`ROLLBACK`]).finally(() => tx.release());
    throw new Error(`node commit of ${journalId} at seq ${(entries[0] as JournalEntry).seq}, but the store has applied through ${appliedSeq}`);
  }
  // Webhook deliveries are created in this same transaction (the outbox), from rows read before the
  // batch writes; a moved version reloads the endpoints first.
  const endpointsVersion = (progress[0]?.endpoints_version as number | null | undefined) ?? null;
  const deliveries = await outboxDeliveries(tx, subscriptions, journalId, entries, appliedSeq, endpointsVersion);
  const batch = new FoldedBatch();
  const rooms = new QueueFold((saleId) => roomStarts.get(saleId));
  for (const entry of entries) {
    if (entry.seq <= appliedSeq) continue;
    batch.add(entry.event);
    rooms.add(entry.event);
  }
  // Sent back to back, run in order. Should one fail, PostgreSQL refuses the rest of the transaction
  // and turns its COMMIT into a rollback, and the rejection reaches the caller.
  const statements = last.seq > appliedSeq ? [...batchStatements(tx, batch), ...queueStatements(tx, rooms)] : [];
  if (deliveries.length > 0) statements.push(insertDeliveries(tx, deliveries));
  if (last.seq > appliedSeq) statements.push(tx`UPDATE journal_progress SET seq = ${last.seq} WHERE journal_id = ${journalId}`);
  await Promise.all([...statements, tx`COMMIT`]);
  tx.release();
}
