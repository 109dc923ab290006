// What the HTTP layer asks of the sales, wherever their owner runs. Today the owner is in the same
// process (SaleOwner); the cluster adds an implementation that forwards to the owner worker. Every
// answer is plain data so that it can cross a process boundary unchanged.

import type { Outcome, Payment, PaymentOutcome, SaleCommand, SaleSpec } from "../ledger/types.ts";
import type { AdminSaleView, PublicSaleView, ReservationView } from "../ledger/views.ts";
import type { ReservationPage, ReservationQuery } from "../store/store.ts";

export type CreateOutcome = { ok: true; sale: AdminSaleView } | { ok: false; refusal: "already_exists"; detail: string };

/** Why a gateway cannot take a command now; the HTTP layer answers 503 with Retry-After. */
export class Unavailable extends Error {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(message);
  }
}

export interface SaleGateway {
  createSale(spec: SaleSpec): Promise<CreateOutcome>;
  /** Run a command on a sale; `not_found` when the sale does not exist. Resolves once durable. */
  execute(saleId: string, command: SaleCommand): Promise<Outcome>;
  adminSale(saleId: string): Promise<AdminSaleView | null>;
  listSales(): Promise<AdminSaleView[]>;
  /** The public document, with a version that changes whenever it may have changed (for ETags). */
  publicSale(saleId: string): Promise<{ view: PublicSaleView; version: string } | null>;
  /** Call `listener` with each new public document of the sale; returns the unsubscribe function. */
  watchSale(saleId: string, listener: (view: PublicSaleView) => void): (() => void) | null;
  reservation(saleId: string, userId: string, reservationId: string): Promise<ReservationView | null>;
  reservationsOf(saleId: string, userId: string): Promise<ReservationView[] | null>;
  /** Operator reads from the system of record, after it has caught up with the sale's journal. */
  storeReservations(saleId: string, query: ReservationQuery): Promise<ReservationPage>;
  storePayments(saleId: string, outcome?: PaymentOutcome): Promise<Payment[]>;
  /** Whether the gateway accepts new holds, and if not, why. */
  readiness(): { ready: boolean; reasons: string[]; journalBacklog: number; storeError: string | null };
}
