// The embedded system of record: one SQLite file in the data dir, reached through drizzle-orm.
// Operator listings and buyer reads use drizzle's query builder; recovery's load of what is live
// (load-sale.ts) and the write-behind batch (apply-batch.ts, one immediate transaction) use prepared
// statements.

import { Database } from "bun:sqlite";
import { and, asc, eq, gt, inArray, sql } from "drizzle-orm";
import { type BunSQLiteDatabase, drizzle } from "drizzle-orm/bun-sqlite";
import { migrate } from "drizzle-orm/bun-sqlite/migrator";
import type { JournalEntry } from "../../journal/journal.ts";
import type { StoredSale } from "../../ledger/restore.ts";
import type { Payment, PaymentOutcome, Reservation } from "../../ledger/types.ts";
import { migrationsFolder } from "../migrations-folder.ts";
import { codesByReservation, toReservation } from "../reservation-row.ts";
import { roomOfColumn } from "../room-column.ts";
import type { ReservationPage, ReservationQuery, Store } from "../store.ts";
import { prepareApply } from "./apply-batch.ts";
import { type LoadSale, prepareLoadSale } from "./load-sale.ts";
import * as schema from "./schema.ts";
import { SqliteWebhooks } from "./webhooks.ts";

/** Reservation ids per code lookup: well under SQLite's 32,766 bound parameters. */
const CODE_LOOKUP_IDS_MAX = 1_000;

export class SqliteStore implements Store {
  readonly dialect = "sqlite" as const;
  private readonly sqlite: Database;
  private readonly db: BunSQLiteDatabase<typeof schema>;
  private applyBatch: ReturnType<typeof prepareApply> | null = null;
  private loadSale: LoadSale | null = null;
  readonly webhooks: SqliteWebhooks;

  constructor(readonly path: string) {
    this.sqlite = new Database(path, { create: true, strict: true });
    // busy_timeout before anything else: several worker processes share this file.
    this.sqlite.exec("PRAGMA busy_timeout = 10000");
    this.sqlite.exec("PRAGMA journal_mode = WAL");
    this.sqlite.exec("PRAGMA synchronous = NORMAL");
    this.db = drizzle({ client: this.sqlite, schema });
    this.webhooks = new SqliteWebhooks(this.sqlite);
  }

  async migrate(): Promise<void> {
    migrate(this.db, { migrationsFolder: migrationsFolder("sqlite") });
  }

  async appliedSeq(journalId: string): Promise<number> {
    const row = this.db
      .select({ seq: schema.journalProgress.seq })
      .from(schema.journalProgress)
      .where(eq(schema.journalProgress.journalId, journalId))
      .get();
    return row?.seq ?? 0;
  }

  async apply(journalId: string, entries: readonly JournalEntry[]): Promise<void> {
    if (entries.length === 0) return;
    this.applyBatch ??= prepareApply(this.sqlite);
    this.applyBatch(journalId, entries);
  }

  async loadSales(owns: (saleId: string) => boolean, now = Date.now()): Promise<StoredSale[]> {
    this.loadSale ??= prepareLoadSale(this.sqlite);
    const loaded: StoredSale[] = [];
    for (const sale of this.db.select().from(schema.sales).orderBy(asc(schema.sales.id)).all()) {
      if (!owns(sale.id)) continue;
      const { waitingRoom, ...settings } = sale;
      const room = roomOfColumn(waitingRoom);
      loaded.push(this.loadSale(room === null ? settings : { ...settings, waitingRoom: room }, now));
    }
    return loaded;
  }

  async reservation(saleId: string, reservationId: string): Promise<Reservation | null> {
    const { reservations } = schema;
    const row = this.db
      .select()
      .from(reservations)
      .where(and(eq(reservations.id, reservationId), eq(reservations.saleId, saleId)))
      .get();
    if (row === undefined) return null;
    return toReservation(row, row.status === "confirmed" ? this.deliveredCodes([row.id]).get(row.id) ?? [] : []);
  }

  async endedReservationsOfBuyer(saleId: string, userId: string): Promise<Reservation[]> {
    const { reservations } = schema;
    const rows = this.db
      .select()
      .from(reservations)
      // The literal, not a parameter: only then can the planner use the partial index of ended ones.
      .where(and(eq(reservations.saleId, saleId), eq(reservations.userId, userId), sql`${reservations.status} <> 'held'`))
      .orderBy(asc(reservations.createdAt), asc(reservations.id))
      .all();
    const codes = this.deliveredCodes(rows.filter((row) => row.status === "confirmed").map((row) => row.id));
    return rows.map((row) => toReservation(row, codes.get(row.id) ?? []));
  }

  async listReservations(saleId: string, query: ReservationQuery): Promise<ReservationPage> {
    const { reservations } = schema;
    const conditions = [eq(reservations.saleId, saleId)];
    if (query.status !== undefined) conditions.push(eq(reservations.status, query.status));
    if (query.cursor !== undefined) conditions.push(gt(reservations.id, query.cursor));
    const rows = this.db
      .select()
      .from(reservations)
      .where(and(...conditions))
      .orderBy(asc(reservations.id))
      .limit(query.limit + 1)
      .all();
    const page = rows.slice(0, query.limit);
    const delivered = this.deliveredCodes(page.filter((row) => row.status === "confirmed").map((row) => row.id));
    return {
      reservations: page.map((row) => toReservation(row, delivered.get(row.id) ?? [])),
      nextCursor: rows.length > query.limit ? (page[page.length - 1]?.id ?? null) : null,
    };
  }

  async listPayments(saleId: string, outcome?: PaymentOutcome): Promise<Payment[]> {
    const { payments } = schema;
    const conditions = [eq(payments.saleId, saleId)];
    if (outcome !== undefined) conditions.push(eq(payments.outcome, outcome));
    return this.db
      .select()
      .from(payments)
      .where(and(...conditions))
      .orderBy(asc(payments.receivedAt), asc(payments.eventId))
      .all()
      .map((row) => ({ ...row, outcome: row.outcome as PaymentOutcome }));
  }

  /**
   * The codes delivered to each of `ids`, in delivery order, through the partial index on
   * codes.reservation_id. The ids are few (a page, one buyer's confirmed reservations), and chunked
   * all the same so that no list passes SQLite's limit on bound parameters.
   */
  private deliveredCodes(ids: string[]): Map<string, string[]> {
    const { codes } = schema;
    const rows: [string, string][] = [];
    for (let at = 0; at < ids.length; at += CODE_LOOKUP_IDS_MAX) {
      const chunk = ids.slice(at, at + CODE_LOOKUP_IDS_MAX);
      for (const row of this.db
        .select({ reservationId: codes.reservationId, code: codes.code })
        .from(codes)
        .where(inArray(codes.reservationId, chunk))
        .orderBy(asc(codes.ordinal))
        .all()) {
        rows.push([row.reservationId as string, row.code]);
      }
    }
    return codesByReservation(rows);
  }

  async close(): Promise<void> {
    this.sqlite.close();
  }
}
