// The port every system of record implements (embedded SQLite, PostgreSQL). The hot path never calls
// it: the write-behind flusher applies journal entries through `apply`; recovery loads sales through
// `loadSales` only when a worker's journal is empty; reads of history older than an owner's window of
// recent reservations (a buyer's reservation, their list) and operator reads (listings, CSV, refunds)
// come here so they never touch a ledger.

import type { JournalEntry } from "../journal/journal.ts";
import type { StoredSale } from "../ledger/restore.ts";
import type { Payment, PaymentOutcome, Reservation, ReservationStatus } from "../ledger/types.ts";
import type { WebhookStore } from "./webhook-store.ts";

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
  /**
   * What is live of every sale for which `owns(saleId)` is true, for recovery (restore.ts): settings,
   * items and their code pools, live holds, confirmed units per buyer, payments, the number of holds
   * ever placed, and the holds placed with an Idempotency-Key in the 24 h before `now` (the
   * caller's clock; the store's own by default). Ended reservations stay in the store: only the two
   * aggregates (confirmed units, hold count) look at them.
   */
  loadSales(owns: (saleId: string) => boolean, now?: number): Promise<StoredSale[]>;
  /** One reservation of the sale, in any status, with its delivered codes (delivery order); null when none. */
  reservation(saleId: string, reservationId: string): Promise<Reservation | null>;
  /**
   * The buyer's reservations in the sale that have ended (confirmed, released, expired), oldest first
   * (created_at, then id in byte order). Live holds are the owner's to list, from memory.
   */
  endedReservationsOfBuyer(saleId: string, userId: string): Promise<Reservation[]>;
  listReservations(saleId: string, query: ReservationQuery): Promise<ReservationPage>;
  listPayments(saleId: string, outcome?: PaymentOutcome): Promise<Payment[]>;
  /** Outbound webhooks: endpoints for the operator routes, claims and outcomes for the sender. */
  readonly webhooks: WebhookStore;
  close(): Promise<void>;
}
