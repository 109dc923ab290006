// The port every system of record implements (embedded SQLite, PostgreSQL). The hot path never calls
// it: the write-behind flusher applies journal entries through `apply`, recovery loads sales through
// `loadSales`, and operator reads (listings, CSV, refunds) come here so they never touch a ledger.

import type { JournalEntry } from "../journal/journal.ts";
import type { SaleSnapshot } from "../ledger/restore.ts";
import type { Payment, PaymentOutcome, Reservation, ReservationStatus } from "../ledger/types.ts";

export type ReservationQuery = {
  status?: ReservationStatus;
  /** 1..1000 */
  limit: number;
  /** Opaque: the id of the last reservation of the previous page. */
  cursor?: string;
};

export type ReservationPage = { reservations: Reservation[]; nextCursor: string | null };

export interface Store {
  readonly dialect: "sqlite" | "postgres";
  /** Create or upgrade the schema. Called by one process only (the supervisor or `migrate`). */
  migrate(): Promise<void>;
  /** Last journal sequence number applied for `journalId` (0 when none). */
  appliedSeq(journalId: string): Promise<number>;
  /**
   * Apply consecutive journal entries in one transaction that also records the last one's sequence
   * number, so that entries already applied are skipped on a replay (exactly once).
   */
  apply(journalId: string, entries: readonly JournalEntry[]): Promise<void>;
  /** Every sale for which `owns(saleId)` is true, in full, for recovery. */
  loadSales(owns: (saleId: string) => boolean): Promise<SaleSnapshot[]>;
  listReservations(saleId: string, query: ReservationQuery): Promise<ReservationPage>;
  listPayments(saleId: string, outcome?: PaymentOutcome): Promise<Payment[]>;
  close(): Promise<void>;
}
