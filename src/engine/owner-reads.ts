// Reads of the owner's sales: the admin and public views (the public document rendered once per
// version), buyers' reservations (live ones and recently ended ones from memory, older history from
// the store), operator listings from the store, and the event streams. Every read waits for the
// pending group commit first, so nobody sees a decision that could still be lost.

import type { Journal } from "../journal/journal.ts";
import type { Reservation, PaymentOutcome, Outcome } from "../ledger/types.ts";
import { adminSaleView, publicSaleView } from "../ledger/views.ts";
import type { ReservationQuery, Store } from "../store/store.ts";
import type { Background } from "./background.ts";
import { type HoldAnswer, type PublicDocument, Unavailable } from "./gateway.ts";
import type { OwnedSale, OwnedSales } from "./owned-sales.ts";
import { renderReservation } from "./render.ts";
import { SaleWatchers } from "./sale-watchers.ts";

export type OwnerReadsOptions = {
  now: () => number;
  store: Store;
  background: Background;
  journal: Journal;
  storeReadWaitMs: number;
  ensureServing: () => void;
};

export class OwnerReads {
  private readonly watchers: SaleWatchers;

  constructor(
    private readonly sales: OwnedSales,
    private readonly options: OwnerReadsOptions,
  ) {
    this.watchers = new SaleWatchers((saleId) => {
      const sale = this.sales.get(saleId);
      return sale === undefined ? null : this.document(sale).document;
    });
  }

  /** Sales changed by a commit: their event streams hear about it. */
  changed(saleIds: Set<string>): void {
    this.watchers.changed(saleIds);
  }

  close(): void {
    this.watchers.close();
  }

  private async settled(saleId: string): Promise<OwnedSale | undefined> {
    this.options.ensureServing();
    await this.sales.commit.durable();
    return this.sales.get(saleId);
  }

  async adminSale(saleId: string) {
    const sale = await this.settled(saleId);
    return sale === undefined ? null : adminSaleView(sale.ledger.state, this.options.now());
  }

  async listSales() {
    this.options.ensureServing();
    await this.sales.commit.durable();
    const now = this.options.now();
    return [...this.sales.values()].map((sale) => adminSaleView(sale.ledger.state, now));
  }

  /** The public document of a sale, rendered once per version of the sale and of its status. */
  document(sale: OwnedSale): PublicDocument {
    const state = sale.ledger.state;
    const now = this.options.now();
    const status = state.status(now);
    const cached = sale.document;
    if (cached !== null && cached.version === state.version && cached.status === status) return cached;
    const document = JSON.stringify(publicSaleView(state, now));
    // The tag is a hash of the document itself: the version counter starts again after a restart,
    // so a tag made from it could name a different document than the client cached.
    const rendered = { version: state.version, status, document, etag: `"${Bun.hash(document).toString(36)}"` };
    sale.document = rendered;
    return rendered;
  }

  /** The sale's public document as it stands (null: no such sale), with no wait for a commit. */
  documentOf(saleId: string): PublicDocument | null {
    const sale = this.sales.get(saleId);
    return sale === undefined ? null : this.document(sale);
  }

  async publicSale(saleId: string): Promise<PublicDocument | null> {
    const sale = await this.settled(saleId);
    return sale === undefined ? null : this.document(sale);
  }

  watchSale(saleId: string, listener: (document: string) => void): (() => void) | null {
    if (this.sales.get(saleId) === undefined) return null;
    return this.watchers.watch(saleId, listener);
  }

  /** A reservation from the store, once the store has caught up with the journal (null: none). */
  async storedReservation(saleId: string, reservationId: string): Promise<Reservation | null> {
    await this.storeBarrier();
    return storeRead(() => this.options.store.reservation(saleId, reservationId));
  }

  async reservation(saleId: string, userId: string, reservationId: string): Promise<string | null> {
    const sale = await this.settled(saleId);
    if (sale === undefined) return null;
    let found: Reservation | null | undefined = sale.ledger.state.findReservation(reservationId);
    if (found === undefined && sale.ledger.needsHistory({ kind: "release", reservationId, userId }) !== null) {
      found = await this.storedReservation(saleId, reservationId);
    }
    return found === undefined || found === null || found.userId !== userId ? null : renderReservation(found);
  }

  /**
   * The buyer's reservations in the sale: the live ones from memory, the ended ones from the store
   * (after it has caught up), with what memory knows of each (a recently ended one is newer there),
   * in the order they were placed.
   */
  async reservationsOf(saleId: string, userId: string): Promise<string | null> {
    const sale = await this.settled(saleId);
    if (sale === undefined) return null;
    await this.storeBarrier();
    const stored = await storeRead(() => this.options.store.endedReservationsOfBuyer(saleId, userId));
    const state = sale.ledger.state;
    const byId = new Map<string, Reservation>();
    for (const reservation of stored) byId.set(reservation.id, state.findReservation(reservation.id) ?? reservation);
    for (const live of state.liveOf(userId)) byId.set(live.id, live);
    const list = [...byId.values()].sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return `{"reservations":[${list.map(renderReservation).join(",")}]}`;
  }

  private async storeBarrier(): Promise<void> {
    this.options.ensureServing();
    await this.sales.commit.durable();
    const caughtUp = await this.options.background.caughtUp(this.options.journal.lastSeq, this.options.storeReadWaitMs);
    if (!caughtUp) throw new Unavailable("The system of record is behind the journal; try again shortly.", 2);
  }

  async storeReservations(saleId: string, query: ReservationQuery) {
    await this.storeBarrier();
    return storeRead(() => this.options.store.listReservations(saleId, query));
  }

  async storePayments(saleId: string, outcome?: PaymentOutcome) {
    await this.storeBarrier();
    return storeRead(() => this.options.store.listPayments(saleId, outcome));
  }

  /** Per-item unit counts for the metrics scrape. */
  unitGauges(): { labels: string[]; value: number }[] {
    const readings: { labels: string[]; value: number }[] = [];
    for (const sale of this.sales.values()) {
      for (const item of sale.ledger.state.itemList) {
        const labels = (state: string) => [sale.ledger.state.id, item.id, state];
        readings.push({ labels: labels("available"), value: item.available });
        readings.push({ labels: labels("held"), value: item.held });
        readings.push({ labels: labels("confirmed"), value: item.confirmed });
      }
    }
    return readings;
  }

  /** A hold's answer as an Outcome, for callers of `execute` with a hold (tests, tools). */
  holdOutcome(answer: HoldAnswer): Outcome {
    if (answer.ok) return { ok: true, reservation: parseReservation(answer.body), ...(answer.replayed ? { replayed: true } : {}) };
    if (answer.refusal === "unavailable") throw new Unavailable(answer.detail, answer.retryAfterSeconds ?? 1);
    return answer.retryAfterSeconds === undefined
      ? { ok: false, refusal: answer.refusal, detail: answer.detail }
      : { ok: false, refusal: answer.refusal, detail: answer.detail, retryAfterSeconds: answer.retryAfterSeconds };
  }
}

/**
 * A read of the store, which may be away although it has caught up (an outage after its last
 * batch): that is a 503 to come back after, like a store that is behind, not an internal error
 * (the simulation saw a buyer's read of old history fail so with the store down).
 */
async function storeRead<T>(read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch {
    throw new Unavailable("The system of record is unreachable; try again shortly.", 2);
  }
}

function parseReservation(body: string): Reservation {
  const view = JSON.parse(body) as Omit<Reservation, "createdAt" | "expiresAt" | "endedAt" | "paymentId"> & {
    createdAt: string;
    expiresAt: string;
  };
  return { ...view, createdAt: Date.parse(view.createdAt), expiresAt: Date.parse(view.expiresAt), endedAt: 0, paymentId: null };
}
