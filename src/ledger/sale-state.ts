// The state of one sale and the one function that changes it: `apply(event)`. Live decisions and
// journal replay both go through `apply`, so a replayed sale is the sale that was decided.
// No I/O, no clock, no randomness: times and ids arrive inside the events.

import { invariant } from "./invariant.ts";
import { ItemState } from "./item-state.ts";
import { MinHeap } from "./min-heap.ts";
import type { Confirmation, Payment, Reservation, SaleEvent, SalePatch, SaleSpec } from "./types.ts";

/** How long an idempotency key is remembered (API.md: kept 24 h). */
export const IDEMPOTENCY_KEEP_MS = 24 * 60 * 60 * 1000;

/**
 * The codes of every reservation that has none yet. Shared and frozen: a million live holds would
 * otherwise carry a million empty arrays (~70 bytes each); confirmation replaces it, never mutates.
 */
const NO_CODES: string[] = Object.freeze([]) as unknown as string[];

export type IdempotencyRecord = { fingerprint: string; reservationId: string; at: number };

export class SaleState {
  readonly id: string;
  name: string;
  startsAt: number;
  endsAt: number;
  holdSeconds: number;
  limitPerUser: number;
  paused = false;
  readonly createdAt: number;
  readonly items = new Map<string, ItemState>();
  readonly reservations = new Map<string, Reservation>();
  /** Units each buyer holds plus owns across the whole sale (invariant 2). */
  readonly unitsByUser = new Map<string, number>();
  readonly reservationsByUser = new Map<string, Reservation[]>();
  /** Keyed by `userId + "\n" + key`; a newline cannot occur in either part. */
  readonly idempotency = new Map<string, IdempotencyRecord>();
  /** Idempotency keys in the order they were recorded, for pruning after 24 h. */
  private readonly idempotencyQueue: { at: number; key: string }[] = [];
  private idempotencyQueueHead = 0;
  readonly paymentsByEvent = new Map<string, Payment>();
  /** Succeeded payments only: a paymentId is applied at most once. */
  readonly paymentsById = new Map<string, Payment>();
  /** Live holds by `expiresAt`; entries whose reservation is no longer held are skipped on pop. */
  readonly expiries = new MinHeap<Reservation>();
  /** Count of applied events, for tests and metrics. */
  version = 0;

  constructor(spec: SaleSpec, createdAt: number) {
    this.id = spec.id;
    this.name = spec.name;
    this.startsAt = spec.startsAt;
    this.endsAt = spec.endsAt;
    this.holdSeconds = spec.holdSeconds;
    this.limitPerUser = spec.limitPerUser;
    this.createdAt = createdAt;
    for (const item of spec.items) this.items.set(item.id, new ItemState(item));
  }

  static idempotencyKey(userId: string, key: string): string {
    return `${userId}\n${key}`;
  }

  status(now: number): "scheduled" | "open" | "paused" | "ended" {
    if (now >= this.endsAt) return "ended";
    if (this.paused) return "paused";
    if (now < this.startsAt) return "scheduled";
    return "open";
  }

  unitsOf(userId: string): number {
    return this.unitsByUser.get(userId) ?? 0;
  }

  maxUnitsOfAnyUser(): number {
    let max = 0;
    for (const units of this.unitsByUser.values()) if (units > max) max = units;
    return max;
  }

  item(itemId: string): ItemState {
    const item = this.items.get(itemId);
    invariant(item !== undefined, () => `sale ${this.id}: event names unknown item ${itemId}`);
    return item;
  }

  reservation(reservationId: string): Reservation {
    const reservation = this.reservations.get(reservationId);
    invariant(reservation !== undefined, () => `sale ${this.id}: event names unknown reservation ${reservationId}`);
    return reservation;
  }

  apply(event: SaleEvent): void {
    invariant(event.saleId === this.id, () => `event for sale ${event.saleId} applied to sale ${this.id}`);
    switch (event.type) {
      case "sale_created":
        invariant(this.version === 0, `sale ${this.id} created twice`);
        break;
      case "sale_patched":
        this.applyPatch(event.patch);
        break;
      case "stock_adjusted": {
        const item = this.item(event.itemId);
        invariant(item.delivery === "none", `stock of a codes item changes only through its codes`);
        item.stock += event.delta;
        item.available += event.delta;
        item.assertCounts();
        break;
      }
      case "codes_added": {
        const item = this.item(event.itemId);
        invariant(item.delivery === "codes", `codes added to item ${item.id}, which does not deliver codes`);
        item.addCodes(event.codes);
        item.assertCounts();
        break;
      }
      case "hold_placed":
        this.applyHold(event);
        break;
      case "hold_released":
      case "hold_expired":
        this.applyReturn(event, event.type === "hold_released" ? "released" : "expired");
        break;
      case "payment_recorded":
        this.applyPayment(event.payment, event.confirm, event.at);
        break;
    }
    this.version += 1;
  }

  private applyPatch(patch: SalePatch): void {
    if (patch.name !== undefined) this.name = patch.name;
    if (patch.startsAt !== undefined) this.startsAt = patch.startsAt;
    if (patch.endsAt !== undefined) this.endsAt = patch.endsAt;
    if (patch.paused !== undefined) this.paused = patch.paused;
    if (patch.holdSeconds !== undefined) this.holdSeconds = patch.holdSeconds;
    if (patch.limitPerUser !== undefined) this.limitPerUser = patch.limitPerUser;
    invariant(this.startsAt < this.endsAt, `sale ${this.id}: startsAt must come before endsAt`);
    invariant(this.maxUnitsOfAnyUser() <= this.limitPerUser, `sale ${this.id}: limit lowered below holdings`);
  }

  private applyHold(event: Extract<SaleEvent, { type: "hold_placed" }>): void {
    invariant(!this.reservations.has(event.reservationId), `reservation ${event.reservationId} placed twice`);
    const item = this.item(event.itemId);
    const reservation: Reservation = {
      id: event.reservationId,
      saleId: this.id,
      itemId: event.itemId,
      userId: event.userId,
      quantity: event.quantity,
      status: "held",
      amount: event.amount,
      currency: event.currency,
      createdAt: event.at,
      expiresAt: event.expiresAt,
      endedAt: 0,
      codes: NO_CODES,
      paymentId: null,
    };
    this.reservations.set(reservation.id, reservation);
    let own = this.reservationsByUser.get(event.userId);
    if (own === undefined) this.reservationsByUser.set(event.userId, (own = []));
    own.push(reservation);
    item.available -= event.quantity;
    item.held += event.quantity;
    this.addUnits(event.userId, event.quantity);
    this.expiries.push(event.expiresAt, reservation);
    if (event.idempotencyKey !== null && event.fingerprint !== null) {
      this.rememberIdempotencyKey(event.userId, event.idempotencyKey, event.fingerprint, reservation.id, event.at);
    }
    item.assertCounts();
  }

  /** Load an idempotency record (live or from a store); records arrive in time order. */
  rememberIdempotencyKey(userId: string, key: string, fingerprint: string, reservationId: string, at: number): void {
    const mapKey = SaleState.idempotencyKey(userId, key);
    this.idempotency.set(mapKey, { fingerprint, reservationId, at });
    this.idempotencyQueue.push({ at, key: mapKey });
  }

  /** Forget idempotency keys older than 24 h. Pure cache eviction: no event, no effect on counts. */
  pruneIdempotency(now: number): void {
    const queue = this.idempotencyQueue;
    while (this.idempotencyQueueHead < queue.length) {
      const entry = queue[this.idempotencyQueueHead] as { at: number; key: string };
      if (entry.at + IDEMPOTENCY_KEEP_MS > now) break;
      const record = this.idempotency.get(entry.key);
      if (record !== undefined && record.at === entry.at) this.idempotency.delete(entry.key);
      this.idempotencyQueueHead += 1;
    }
    if (this.idempotencyQueueHead > 1024 && this.idempotencyQueueHead * 2 > queue.length) {
      queue.splice(0, this.idempotencyQueueHead);
      this.idempotencyQueueHead = 0;
    }
  }

  private applyReturn(
    event: Extract<SaleEvent, { type: "hold_released" | "hold_expired" }>,
    status: "released" | "expired",
  ): void {
    const { reservationId, at } = event;
    const reservation = this.reservation(reservationId);
    invariant(
      event.itemId === reservation.itemId && event.quantity === reservation.quantity,
      () => `event for reservation ${reservationId} disagrees with it`,
    );
    invariant(reservation.status === "held", () => `reservation ${reservationId} ${status} while ${reservation.status}`);
    invariant(status !== "expired" || at >= reservation.expiresAt, () => `reservation ${reservationId} expired early`);
    const item = this.item(reservation.itemId);
    reservation.status = status;
    reservation.endedAt = at;
    item.held -= reservation.quantity;
    item.available += reservation.quantity;
    this.addUnits(reservation.userId, -reservation.quantity);
    item.assertCounts();
  }

  private applyPayment(payment: Payment, confirm: Confirmation | null, at: number): void {
    invariant(!this.paymentsByEvent.has(payment.eventId), () => `payment event ${payment.eventId} recorded twice`);
    this.paymentsByEvent.set(payment.eventId, payment);
    if (payment.status === "succeeded" && !this.paymentsById.has(payment.paymentId)) {
      this.paymentsById.set(payment.paymentId, payment);
    }
    if (confirm === null) return;
    const reservation = this.reservation(payment.reservationId);
    invariant(
      confirm.itemId === reservation.itemId && confirm.quantity === reservation.quantity,
      () => `confirmation of reservation ${reservation.id} disagrees with it`,
    );
    const item = this.item(reservation.itemId);
    if (confirm.late) {
      invariant(reservation.status === "released" || reservation.status === "expired", "late confirmation of a live hold");
      item.available -= reservation.quantity;
      this.addUnits(reservation.userId, reservation.quantity);
    } else {
      invariant(reservation.status === "held", () => `confirmation of a ${reservation.status} reservation`);
      item.held -= reservation.quantity;
    }
    item.confirmed += reservation.quantity;
    invariant(
      confirm.codes.length === (item.delivery === "codes" ? reservation.quantity : 0),
      `confirmation delivers the wrong number of codes`,
    );
    item.takeCodes(confirm.codes);
    reservation.status = "confirmed";
    reservation.endedAt = at;
    reservation.codes = confirm.codes;
    reservation.paymentId = payment.paymentId;
    item.assertCounts();
  }

  private addUnits(userId: string, delta: number): void {
    const units = (this.unitsByUser.get(userId) ?? 0) + delta;
    invariant(units >= 0, () => `buyer ${userId} holds negative units`);
    invariant(units <= this.limitPerUser || delta < 0, () => `buyer ${userId} past limitPerUser in sale ${this.id}`);
    if (units === 0) this.unitsByUser.delete(userId);
    else this.unitsByUser.set(userId, units);
  }

  /** Check every invariant of the whole sale: after loading or replaying, and in tests. */
  assertAll(): void {
    for (const item of this.items.values()) item.assertCounts();
    const held = new Map<string, number>();
    const confirmed = new Map<string, number>();
    const units = new Map<string, number>();
    for (const r of this.reservations.values()) {
      if (r.status === "held") held.set(r.itemId, (held.get(r.itemId) ?? 0) + r.quantity);
      if (r.status === "confirmed") confirmed.set(r.itemId, (confirmed.get(r.itemId) ?? 0) + r.quantity);
      if (r.status === "held" || r.status === "confirmed") units.set(r.userId, (units.get(r.userId) ?? 0) + r.quantity);
    }
    for (const item of this.items.values()) {
      invariant((held.get(item.id) ?? 0) === item.held, () => `item ${item.id}: held count disagrees with reservations`);
      invariant(
        (confirmed.get(item.id) ?? 0) === item.confirmed,
        () => `item ${item.id}: confirmed count disagrees with reservations`,
      );
    }
    invariant(units.size === this.unitsByUser.size, `per-buyer totals disagree with reservations`);
    for (const [userId, total] of units) {
      invariant(this.unitsByUser.get(userId) === total, () => `buyer ${userId}: total disagrees with reservations`);
      invariant(total <= this.limitPerUser, () => `buyer ${userId} past limitPerUser`);
    }
  }
}
