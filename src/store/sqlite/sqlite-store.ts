// The embedded system of record: one SQLite file in the data dir, reached through drizzle-orm.
// Reads (recovery, operator listings) use drizzle's query builder; the write-behind batch uses
// prepared statements inside one immediate transaction (see apply-batch.ts).

import { Database } from "bun:sqlite";
import { and, asc, eq, gt, inArray, isNotNull } from "drizzle-orm";
import { type BunSQLiteDatabase, drizzle } from "drizzle-orm/bun-sqlite";
import { migrate } from "drizzle-orm/bun-sqlite/migrator";
import type { JournalEntry } from "../../journal/journal.ts";
import type { SaleSnapshot } from "../../ledger/restore.ts";
import type { Payment, PaymentOutcome } from "../../ledger/types.ts";
import { migrationsFolder } from "../migrations-folder.ts";
import type { ReservationPage, ReservationQuery, Store } from "../store.ts";
import { prepareApply } from "./apply-batch.ts";
import * as schema from "./schema.ts";
import { toReservation } from "../reservation-row.ts";


export class SqliteStore implements Store {
  readonly dialect = "sqlite" as const;
  private readonly sqlite: Database;
  private readonly db: BunSQLiteDatabase<typeof schema>;
  private applyBatch: ReturnType<typeof prepareApply> | null = null;

  constructor(readonly path: string) {
    this.sqlite = new Database(path, { create: true, strict: true });
    // busy_timeout before anything else: several worker processes share this file.
    this.sqlite.exec("PRAGMA busy_timeout = 10000");
    this.sqlite.exec("PRAGMA journal_mode = WAL");
    this.sqlite.exec("PRAGMA synchronous = NORMAL");
    this.db = drizzle({ client: this.sqlite, schema });
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

  async loadSales(owns: (saleId: string) => boolean): Promise<SaleSnapshot[]> {
    const { sales, items, codes, reservations, payments } = schema;
    const snapshots: SaleSnapshot[] = [];
    for (const sale of this.db.select().from(sales).all()) {
      if (!owns(sale.id)) continue;
      const codeRows = this.db.select().from(codes).where(eq(codes.saleId, sale.id)).orderBy(asc(codes.ordinal)).all();
      const codesByReservation = new Map<string, string[]>();
      for (const row of codeRows) {
        if (row.reservationId === null) continue;
        const list = codesByReservation.get(row.reservationId);
        if (list === undefined) codesByReservation.set(row.reservationId, [row.code]);
        else list.push(row.code);
      }
      const itemRows = this.db.select().from(items).where(eq(items.saleId, sale.id)).orderBy(asc(items.position)).all();
      snapshots.push({
        sale,
        items: itemRows.map((item) => ({
          ...item,
          codes: codeRows
            .filter((row) => row.itemId === item.id)
            .map((row) => ({ code: row.code, assigned: row.reservationId !== null })),
        })),
        reservations: this.db
          .select()
          .from(reservations)
          .where(eq(reservations.saleId, sale.id))
          .orderBy(asc(reservations.createdAt), asc(reservations.id))
          .all()
          .map((row) => ({
            ...toReservation(row, codesByReservation.get(row.id) ?? []),
            idempotencyKey: row.idempotencyKey,
            fingerprint: row.fingerprint,
          })),
        payments: this.db
          .select()
          .from(payments)
          .where(eq(payments.saleId, sale.id))
          .orderBy(asc(payments.receivedAt))
          .all()
          .map((row) => ({ ...row, outcome: row.outcome as PaymentOutcome })),
      });
    }
    return snapshots;
  }

  async listReservations(saleId: string, query: ReservationQuery): Promise<ReservationPage> {
    const { reservations, codes } = schema;
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
    const codesByReservation = new Map<string, string[]>();
    const ids = page.filter((row) => row.status === "confirmed").map((row) => row.id);
    if (ids.length > 0) {
      const codeRows = this.db
        .select({ reservationId: codes.reservationId, code: codes.code })
        .from(codes)
        .where(and(eq(codes.saleId, saleId), isNotNull(codes.reservationId), inArray(codes.reservationId, ids)))
        .orderBy(asc(codes.ordinal))
        .all();
      for (const row of codeRows) {
        const id = row.reservationId as string;
        codesByReservation.set(id, [...(codesByReservation.get(id) ?? []), row.code]);
      }
    }
    return {
      reservations: page.map((row) => toReservation(row, codesByReservation.get(row.id) ?? [])),
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

  async close(): Promise<void> {
    this.sqlite.close();
  }
}
