// The simulation's oracle: every event the journal committed, in the plainest terms. A tap on the
// journal's append hands each committed batch here; applying it checks the invariants of DESIGN.md
// on what the engine decided (no oversell, per-buyer limits, exact expiry, exactly-once payments
// and codes, time that never runs back, a forwarded command placed at most once). Because it holds
// exactly what is durable, a recovered owner must equal it, acknowledged answers must be found in
// it, and the store must equal it once the write-behind has caught up.

import { parseReservationId, reservationIdPrefix } from "../../../src/ledger/reservation-id.ts";
import type { Delivery, Payment, ReservationStatus, SaleEvent } from "../../../src/ledger/types.ts";

export const DAY_MS = 24 * 60 * 60 * 1000;

/** A broken invariant or a disagreement found by the simulation (not by the engine's own assertions). */
export class SimFailure extends Error {
  override readonly name = "SimFailure";
}

export function check(condition: boolean, message: string | (() => string)): asserts condition {
  if (!condition) throw new SimFailure(typeof message === "string" ? message : message());
}

export type ModelReservation = {
  id: string;
  saleId: string;
  itemId: string;
  userId: string;
  quantity: number;
  amount: number;
  currency: string;
  createdAt: number;
  expiresAt: number;
  status: ReservationStatus;
  endedAt: number;
  codes: string[];
  paymentId: string | null;
  idempotencyKey: string | null;
  token: number;
  /** The journal sequence of its hold_placed event. */
  placedSeq: number;
  /** The journal sequence of its release, 0 when none (a late payment may confirm it afterwards). */
  releasedSeq: number;
};

export type ModelItem = {
  id: string;
  delivery: Delivery;
  price: number;
  currency: string;
  stock: number;
  available: number;
  held: number;
  confirmed: number;
  /** Codes not yet delivered, in delivery order. */
  pool: string[];
  known: Set<string>;
};

export type ModelSale = {
  id: string;
  name: string;
  startsAt: number;
  endsAt: number;
  holdSeconds: number;
  limitPerUser: number;
  paused: boolean;
  items: Map<string, ModelItem>;
  /** Ids of the live holds. */
  live: Set<string>;
  /** Held plus confirmed units per buyer (buyers with none are absent). */
  units: Map<string, number>;
  confirmedUnits: Map<string, number>;
  /** `userId \n key` -> the hold it placed, and the journal sequence of that hold. */
  idempotency: Map<string, { reservationId: string; at: number; itemId: string; quantity: number; seq: number }>;
  /** Every recorded payment by event id, with the journal sequence that recorded it. */
  payments: Map<string, Payment & { seq: number }>;
  /** The succeeded payment of each payment id (at most one is ever recorded). */
  succeeded: Map<string, Payment>;
  holdSeq: number;
};

export type ModelBatch = { firstSeq: number; lastSeq: number; committedAt: number };

export class Model {
  readonly sales = new Map<string, ModelSale>();
  readonly reservations = new Map<string, ModelReservation>();
  /** Forwarding token -> the hold, or the release, it made. */
  readonly holdTokens = new Map<number, string>();
  readonly releaseTokens = new Map<number, string>();
  readonly batches: ModelBatch[] = [];
  seq = 0;
  lastEventAt = 0;
  lastCommittedAt = 0;
  /** Events committed since the driver last cleared the list (one step's worth). */
  stepEvents: SaleEvent[] = [];

  private queue: { events: readonly SaleEvent[]; lastSeq: number; committedAt: number }[] = [];

  /**
   * Called by the tap inside the journal's append: only queued, so that a failed check never runs
   * inside the engine's commit (where it would look like a failed journal write); `sync` applies.
   */
  committed(events: readonly SaleEvent[], lastSeq: number, committedAt: number): void {
    this.queue.push({ events, lastSeq, committedAt });
  }

  /** Apply every batch committed so far. */
  sync(): void {
    const queue = this.queue;
    this.queue = [];
    for (const batch of queue) this.commit(batch.events, batch.lastSeq, batch.committedAt);
  }

  /** A batch the journal committed: `events` numbered up to `lastSeq`, at `committedAt`. */
  private commit(events: readonly SaleEvent[], lastSeq: number, committedAt: number): void {
    check(lastSeq === this.seq + events.length, () => `journal numbered a batch ${lastSeq - events.length + 1}..${lastSeq} after ${this.seq}`);
    check(committedAt >= this.lastCommittedAt, () => `commit time went back: ${committedAt} after ${this.lastCommittedAt}`);
    this.batches.push({ firstSeq: this.seq + 1, lastSeq, committedAt });
    for (const event of events) {
      this.seq += 1;
      check(event.at <= committedAt, () => `event at ${event.at} committed earlier, at ${committedAt}`);
      check(event.at >= this.lastEventAt, () => `engine time ran back: event at ${event.at} after one at ${this.lastEventAt}`);
      this.lastEventAt = event.at;
      this.apply(event);
      this.stepEvents.push(event);
    }
    this.lastCommittedAt = committedAt;
  }

  sale(saleId: string): ModelSale {
    const sale = this.sales.get(saleId);
    check(sale !== undefined, () => `event for unknown sale ${saleId}`);
    return sale;
  }

  private item(sale: ModelSale, itemId: string): ModelItem {
    const item = sale.items.get(itemId);
    check(item !== undefined, () => `event for unknown item ${sale.id}/${itemId}`);
    return item;
  }

  private reservation(sale: ModelSale, id: string): ModelReservation {
    const found = this.reservations.get(id);
    check(found !== undefined && found.saleId === sale.id, () => `event names unknown reservation ${id}`);
    return found;
  }

  private addUnits(sale: ModelSale, userId: string, delta: number): void {
    const units = (sale.units.get(userId) ?? 0) + delta;
    check(units >= 0, () => `buyer ${userId} has negative units in ${sale.id}`);
    check(units <= sale.limitPerUser, () => `buyer ${userId} holds ${units} units of ${sale.id}, past the limit ${sale.limitPerUser}`);
    if (units === 0) sale.units.delete(userId);
    else sale.units.set(userId, units);
  }

  private apply(event: SaleEvent): void {
    if (event.type === "sale_created") {
      check(!this.sales.has(event.saleId), () => `sale ${event.saleId} created twice`);
      const spec = event.sale;
      const items = new Map<string, ModelItem>();
      for (const item of spec.items) {
        const stock = item.delivery === "codes" ? 0 : item.stock;
        const { id, delivery, price, currency } = item;
        items.set(id, { id, delivery, price, currency, stock, available: stock, held: 0, confirmed: 0, pool: [], known: new Set() });
      }
      const { id, name, startsAt, endsAt, holdSeconds, limitPerUser } = spec;
      this.sales.set(id, {
        ...{ id, name, startsAt, endsAt, holdSeconds, limitPerUser, paused: false, items, live: new Set<string>() },
        ...{ units: new Map(), confirmedUnits: new Map(), idempotency: new Map(), payments: new Map(), succeeded: new Map(), holdSeq: 0 },
      });
      return;
    }
    const sale = this.sale(event.saleId);
    switch (event.type) {
      case "sale_patched": {
        const patch = event.patch;
        if (patch.name !== undefined) sale.name = patch.name;
        if (patch.startsAt !== undefined) sale.startsAt = patch.startsAt;
        if (patch.endsAt !== undefined) sale.endsAt = patch.endsAt;
        if (patch.paused !== undefined) sale.paused = patch.paused;
        if (patch.holdSeconds !== undefined) sale.holdSeconds = patch.holdSeconds;
        if (patch.limitPerUser !== undefined) sale.limitPerUser = patch.limitPerUser;
        check(sale.startsAt < sale.endsAt, `sale ${sale.id} patched to an empty window`);
        for (const [userId, units] of sale.units) check(units <= sale.limitPerUser, `limit of ${sale.id} lowered below ${userId}'s ${units} units`);
        break;
      }
      case "stock_adjusted": {
        const item = this.item(sale, event.itemId);
        check(item.delivery === "none", "stock adjusted on a codes item");
        item.stock += event.delta;
        item.available += event.delta;
        this.checkItem(sale, item);
        break;
      }
      case "codes_added": {
        const item = this.item(sale, event.itemId);
        check(item.delivery === "codes", "codes added to a plain item");
        for (const code of event.codes) {
          check(!item.known.has(code), () => `code ${code} added twice to ${sale.id}/${item.id}`);
          item.known.add(code);
          item.pool.push(code);
        }
        item.stock += event.codes.length;
        item.available += event.codes.length;
        this.checkItem(sale, item);
        break;
      }
      case "hold_placed":
        this.applyHold(sale, event);
        break;
      case "hold_released":
      case "hold_expired": {
        const r = this.reservation(sale, event.reservationId);
        check(r.status === "held", () => `${event.type} of ${r.id}, which is ${r.status}`);
        check(event.itemId === r.itemId && event.quantity === r.quantity, `${event.type} of ${r.id} names another item or quantity`);
        if (event.type === "hold_expired") {
          check(event.at >= r.expiresAt, () => `hold ${r.id} expired at ${event.at}, before its expiresAt ${r.expiresAt}`);
        } else {
          check(event.at < r.expiresAt, () => `hold ${r.id} released at ${event.at}, past its expiresAt ${r.expiresAt}: it should have expired`);
          if (event.token !== 0) {
            check(!this.releaseTokens.has(event.token), () => `forwarded release ${event.token} done twice`);
            this.releaseTokens.set(event.token, r.id);
          }
          r.releasedSeq = this.seq;
        }
        r.status = event.type === "hold_expired" ? "expired" : "released";
        r.endedAt = event.at;
        sale.live.delete(r.id);
        const item = this.item(sale, r.itemId);
        item.held -= r.quantity;
        item.available += r.quantity;
        this.addUnits(sale, r.userId, -r.quantity);
        this.checkItem(sale, item);
        break;
      }
      case "payment_recorded":
        this.applyPayment(sale, event);
        break;
    }
  }

  private applyHold(sale: ModelSale, event: Extract<SaleEvent, { type: "hold_placed" }>): void {
    const at = event.at;
    check(!sale.paused && sale.startsAt <= at && at < sale.endsAt, () => `hold placed at ${at} in ${sale.id}, which is not open`);
    const item = this.item(sale, event.itemId);
    check(event.quantity >= 1, "hold of no units");
    check(item.available >= event.quantity, () => `oversold: hold of ${event.quantity} ${item.id} with ${item.available} available`);
    check(event.seq === sale.holdSeq + 1, () => `hold numbered ${event.seq} after ${sale.holdSeq}`);
    sale.holdSeq = event.seq;
    check(parseReservationId(reservationIdPrefix(sale.id), event.reservationId)?.seq === event.seq, "reservation id does not name its number");
    check(!this.reservations.has(event.reservationId), () => `reservation id ${event.reservationId} reused`);
    check(event.expiresAt === at + sale.holdSeconds * 1000, "hold expires at the wrong time");
    check(event.amount === item.price * event.quantity && event.currency === item.currency, "hold priced wrongly");
    if (event.idempotencyKey !== null) {
      const key = `${event.userId}\n${event.idempotencyKey}`;
      const earlier = sale.idempotency.get(key);
      check(earlier === undefined || earlier.at + DAY_MS <= at, () => `a second hold under idempotency key ${event.idempotencyKey} of ${event.userId}`);
      sale.idempotency.set(key, { reservationId: event.reservationId, at, itemId: event.itemId, quantity: event.quantity, seq: this.seq });
    }
    if (event.token !== 0) {
      check(!this.holdTokens.has(event.token), () => `forwarded hold ${event.token} placed twice`);
      this.holdTokens.set(event.token, event.reservationId);
    }
    this.reservations.set(event.reservationId, {
      id: event.reservationId,
      saleId: sale.id,
      itemId: event.itemId,
      userId: event.userId,
      quantity: event.quantity,
      amount: event.amount,
      currency: event.currency,
      createdAt: at,
      expiresAt: event.expiresAt,
      status: "held",
      endedAt: 0,
      codes: [],
      paymentId: null,
      idempotencyKey: event.idempotencyKey,
      token: event.token,
      placedSeq: this.seq,
      releasedSeq: 0,
    });
    sale.live.add(event.reservationId);
    item.available -= event.quantity;
    item.held += event.quantity;
    this.addUnits(sale, event.userId, event.quantity);
    this.checkItem(sale, item);
  }

  private applyPayment(sale: ModelSale, event: Extract<SaleEvent, { type: "payment_recorded" }>): void {
    const payment = event.payment;
    check(!sale.payments.has(payment.eventId), () => `payment event ${payment.eventId} recorded twice`);
    check(!sale.succeeded.has(payment.paymentId), () => `payment ${payment.paymentId} recorded again after it succeeded`);
    const r = this.reservation(sale, payment.reservationId);
    sale.payments.set(payment.eventId, { ...payment, seq: this.seq });
    if (payment.status === "succeeded") sale.succeeded.set(payment.paymentId, payment);
    check(payment.receivedAt === event.at, "payment received at another time than recorded");
    // Invariant 5: every reported payment ends as a confirmation or a listed refund.
    const expected = payment.status === "failed" ? ["ignored"] : ["confirmed", "confirmed_late", "refund_required"];
    check(expected.includes(payment.outcome), () => `a ${payment.status} payment ended as ${payment.outcome}`);
    const amountOk = payment.amount === r.amount && payment.currency === r.currency;
    const confirm = event.confirm;
    if (confirm === null) {
      check(payment.outcome !== "confirmed" && payment.outcome !== "confirmed_late", "confirmed without a confirmation");
      check(!(payment.status === "succeeded" && amountOk && r.status === "held"), () => `payment ${payment.paymentId} for live hold ${r.id} not applied`);
      return;
    }
    check(payment.status === "succeeded" && amountOk, () => `payment ${payment.paymentId} confirmed ${r.id} with a failed status or a wrong amount`);
    check(r.status !== "confirmed", () => `reservation ${r.id} confirmed twice (payment ${payment.paymentId} after ${r.paymentId})`);
    check(confirm.itemId === r.itemId && confirm.quantity === r.quantity && confirm.userId === r.userId, "confirmation disagrees with the hold");
    const item = this.item(sale, r.itemId);
    const codes = item.delivery === "codes" ? item.pool.slice(0, r.quantity) : [];
    check(JSON.stringify(confirm.codes) === JSON.stringify(codes), () => `codes ${confirm.codes} delivered to ${r.id}, expected the next ${codes}`);
    item.pool.splice(0, codes.length);
    if (!confirm.late) {
      check(r.status === "held" && event.at < r.expiresAt, () => `confirmation of ${r.id} in status ${r.status} at ${event.at} (expires ${r.expiresAt})`);
      check(payment.outcome === "confirmed", "a confirmation of a live hold not reported as confirmed");
      item.held -= r.quantity;
      sale.live.delete(r.id);
    } else {
      check(r.status === "released" || r.status === "expired", () => `late confirmation of ${r.id}, which is ${r.status}`);
      check(payment.outcome === "confirmed_late", "a late confirmation not reported as late");
      check(item.available >= r.quantity, () => `oversold: late confirmation of ${r.quantity} ${item.id} with ${item.available} available`);
      item.available -= r.quantity;
      this.addUnits(sale, r.userId, r.quantity);
    }
    item.confirmed += r.quantity;
    sale.confirmedUnits.set(r.userId, (sale.confirmedUnits.get(r.userId) ?? 0) + r.quantity);
    r.status = "confirmed";
    r.endedAt = event.at;
    r.codes = confirm.codes;
    r.paymentId = payment.paymentId;
    this.checkItem(sale, item);
  }

  /** Invariant 1 for one item, and a codes item's pool backs every unit not confirmed. */
  checkItem(sale: ModelSale, item: ModelItem): void {
    const where = `${sale.id}/${item.id}`;
    check(item.available >= 0 && item.held >= 0 && item.confirmed >= 0, () => `${where}: a negative count`);
    check(item.available + item.held + item.confirmed === item.stock, () => `${where}: available + held + confirmed != stock`);
    if (item.delivery === "codes") check(item.pool.length === item.available + item.held, () => `${where}: the code pool disagrees with the units`);
  }
}
