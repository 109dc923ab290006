// The state of one sale and the one function that changes it: `apply(event)`. Live decisions and
// journal replay both go through `apply`, so a replayed sale is the sale that was decided.
// No I/O, no clock, no randomness: times and ids arrive inside the events.
//
// Live holds sit in dense tables (HoldTable, BuyerTable, ExpiryHeap); a hold that ends leaves them
// for the owner's window of recent ones (RecentEnded), so memory follows what is live. Per-buyer
// totals (held plus confirmed units) stay exact for as long as a buyer has any.

import { BuyerTable } from "./buyer-table.ts";
import { ExpiryHeap } from "./expiry-heap.ts";
import { HoldTable, NO_ROW } from "./hold-table.ts";
import { invariant } from "./invariant.ts";
import { ItemState } from "./item-state.ts";
import { RecentEnded } from "./recent-ended.ts";
import { formatWithPrefix, parseReservationId, reservationIdPrefix } from "./reservation-id.ts";
import type { Confirmation, Payment, Reservation, ReservationStatus, SaleEvent, SalePatch, SaleSpec } from "./types.ts";
import { type RoomSale, WaitingRoom } from "./waiting-room.ts";

/** How long an idempotency key is remembered (API.md: kept 24 h). */
export const IDEMPOTENCY_KEEP_MS = 24 * 60 * 60 * 1000;

/**
 * The codes of every reservation that has none yet. Shared and frozen; confirmation replaces it,
 * never mutates it.
 */
export const NO_CODES: string[] = Object.freeze([]) as unknown as string[];

/**
 * What an idempotent retry needs: the body's fingerprint and the reservation as its first answer
 * showed it (held, no codes), kept even after the hold has ended and left the tables.
 */
export type IdempotencyRecord = {
  fingerprint: string;
  reservationId: string;
  itemId: string;
  quantity: number;
  amount: number;
  currency: string;
  /** When the key was recorded: the hold's creation. */
  at: number;
  expiresAt: number;
};

export type HoldPlaced = Extract<SaleEvent, { type: "hold_placed" }>;

export class SaleState implements RoomSale {
  readonly id: string;
  name: string;
  startsAt: number;
  endsAt: number;
  holdSeconds: number;
  limitPerUser: number;
  paused = false;
  readonly createdAt: number;
  readonly items = new Map<string, ItemState>();
  /** The items in the sale's order; a hold row names its item by position. */
  readonly itemList: ItemState[] = [];
  holds = new HoldTable();
  buyers = new BuyerTable();
  expiries = new ExpiryHeap(this.holds);
  /** Sequence number of the last hold placed (ids are made from it). */
  holdSeq = 0;
  /** Every reservation id of this sale starts with it. */
  readonly idPrefix: string;
  /** Keyed by `userId + "\n" + key`; a newline cannot occur in either part. */
  readonly idempotency = new Map<string, IdempotencyRecord>();
  /** Idempotency keys in the order they were recorded, for pruning after 24 h. */
  private idempotencyQueue: { at: number; key: string }[] = [];
  private idempotencyQueueHead = 0;
  readonly paymentsByEvent = new Map<string, Payment>();
  /** Succeeded payments only: a paymentId is applied at most once. */
  readonly paymentsById = new Map<string, Payment>();
  /**
   * Reservations a recorded payment confirmed, built from the payments on first use and kept up to
   * date by apply. Asked only for a reservation that has left memory: the store's copy of it, read
   * before the decision, may predate a confirmation decided meanwhile (two payments of one ended
   * reservation racing through the store both confirmed it, the simulation found).
   */
  private confirmedIndex: Set<string> | null = null;
  /**
   * Ids of live holds loaded from a store that predate row-naming ids (reservation-id.ts), both
   * ways. Empty unless such a store was loaded; such holds end like any other.
   */
  readonly legacyRowById = new Map<string, number>();
  readonly legacyIdByRow = new Map<number, string>();
  /** Whether this sale was ever loaded with such ids (some may now be ended, in the store). */
  legacyIdsLoaded = false;
  /** Count of applied events, for tests, metrics and document versions. */
  version = 0;
  /** The sale's waiting room, or null when it has none (waiting-room.ts). */
  room: WaitingRoom | null = null;
  /** Rooms this sale has had: each new one gets the next number, so copies can tell them apart. */
  roomEpoch = 0;

  constructor(
    spec: SaleSpec,
    createdAt: number,
    /** Where ended reservations go; an owner shares one window across its sales. */
    readonly recent: RecentEnded = new RecentEnded(),
  ) {
    this.id = spec.id;
    this.name = spec.name;
    this.startsAt = spec.startsAt;
    this.endsAt = spec.endsAt;
    this.holdSeconds = spec.holdSeconds;
    this.limitPerUser = spec.limitPerUser;
    this.createdAt = createdAt;
    this.idPrefix = reservationIdPrefix(spec.id);
    invariant(spec.items.length <= 255, "a sale has at most 255 items");
    for (const item of spec.items) {
      const state = new ItemState(item, this.itemList.length);
      this.items.set(item.id, state);
      this.itemList.push(state);
    }
    if (spec.waitingRoom !== undefined && spec.waitingRoom !== null) this.openRoom(spec.waitingRoom, createdAt);
  }

  /** Whether any item has a unit to sell (the waiting room admits only then). */
  anyAvailable(): boolean {
    for (const item of this.itemList) if (item.available > 0) return true;
    return false;
  }

  /** Nothing available and nothing held: nothing a waiting buyer could ever get, short of new stock. */
  soldOut(): boolean {
    for (const item of this.itemList) if (item.available > 0 || item.held > 0) return false;
    return true;
  }

  private openRoom(settings: NonNullable<SaleSpec["waitingRoom"]>, at: number): void {
    this.roomEpoch += 1;
    // A room that opens once the sale has started has no one to draw: it is first come, first served.
    this.room = new WaitingRoom(settings, this.roomEpoch, at, at >= this.startsAt);
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
    return this.buyers.unitsOf(userId);
  }

  maxUnitsOfAnyUser(): number {
    let max = 0;
    for (const index of this.buyers.indexes()) max = Math.max(max, this.buyers.units[index] as number);
    return max;
  }

  item(itemId: string): ItemState {
    const item = this.items.get(itemId);
    invariant(item !== undefined, () => `sale ${this.id}: event names unknown item ${itemId}`);
    return item;
  }

  /** The id of the live hold in `row`. */
  idOf(row: number): string {
    return this.legacyIdByRow.get(row) ?? formatWithPrefix(this.idPrefix, this.holds.seq[row] as number, row);
  }

  /** The row of the live hold `id` names, or -1 when it names no live hold of this sale. */
  liveRow(id: string): number {
    const parsed = parseReservationId(this.idPrefix, id);
    if (parsed !== null) return this.holds.holds(parsed.row, parsed.seq) && !this.legacyIdByRow.has(parsed.row) ? parsed.row : -1;
    return this.legacyRowById.get(id) ?? -1;
  }

  /** The live hold in `row` as a reservation value (a copy: later events do not change it). */
  liveReservation(row: number): Reservation {
    const holds = this.holds;
    const item = this.itemList[holds.item[row] as number] as ItemState;
    const quantity = holds.quantity[row] as number;
    return {
      id: this.idOf(row),
      saleId: this.id,
      itemId: item.id,
      userId: this.buyers.name(holds.buyer[row] as number),
      quantity,
      status: "held",
      amount: item.price * quantity,
      currency: item.currency,
      createdAt: holds.createdAt[row] as number,
      expiresAt: holds.expiresAt(row),
      endedAt: 0,
      codes: NO_CODES,
      paymentId: null,
    };
  }

  /** A reservation this state still knows: live, or ended within the recent window. */
  findReservation(id: string): Reservation | undefined {
    const row = this.liveRow(id);
    if (row !== -1) return this.liveReservation(row);
    const ended = this.recent.get(id);
    return ended?.saleId === this.id ? { ...ended } : undefined;
  }

  /** Whether a recorded payment confirmed the reservation (see confirmedIndex). */
  confirmedByPayment(reservationId: string): boolean {
    if (this.confirmedIndex === null) {
      this.confirmedIndex = new Set();
      for (const payment of this.paymentsByEvent.values()) {
        if (payment.outcome === "confirmed" || payment.outcome === "confirmed_late") this.confirmedIndex.add(payment.reservationId);
      }
    }
    return this.confirmedIndex.has(reservationId);
  }

  /** The buyer's live holds, oldest first. */
  liveOf(userId: string): Reservation[] {
    const buyer = this.buyers.find(userId);
    if (buyer === -1) return [];
    const list: Reservation[] = [];
    for (let row = this.buyers.liveHead[buyer] as number; row !== NO_ROW; row = this.holds.nextOfBuyer[row] as number) {
      list.push(this.liveReservation(row));
    }
    return list.sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1));
  }

  apply(event: SaleEvent): void {
    invariant(event.saleId === this.id, () => `event for sale ${event.saleId} applied to sale ${this.id}`);
    // The room's pace runs on the sale as it was up to this event (waiting-room.ts).
    if (this.room !== null) this.room.accrue(this, event.at);
    switch (event.type) {
      case "sale_created":
        invariant(this.version === 0, `sale ${this.id} created twice`);
        break;
      case "sale_patched":
        this.applyPatch(event.patch, event.at);
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
      case "queue_joined":
        this.roomOf(event.type).applyJoined(event.userId, event.at, event.rank, event.admitted);
        break;
      case "queue_drawn":
        invariant(event.at >= this.startsAt, "the queue was drawn before the sale started");
        this.roomOf(event.type).applyDrawn(event.seed);
        break;
      case "queue_admitted":
        this.roomOf(event.type).applyAdmitted(event.at, event.count);
        break;
      case "queue_sold_out":
        this.roomOf(event.type).applySoldOut();
        break;
    }
    this.version += 1;
  }

  private roomOf(type: string): WaitingRoom {
    invariant(this.room !== null, () => `sale ${this.id}: ${type} without a waiting room`);
    return this.room;
  }

  private applyPatch(patch: SalePatch, at: number): void {
    if (patch.name !== undefined) this.name = patch.name;
    if (patch.startsAt !== undefined) this.startsAt = patch.startsAt;
    if (patch.endsAt !== undefined) this.endsAt = patch.endsAt;
    if (patch.paused !== undefined) this.paused = patch.paused;
    if (patch.holdSeconds !== undefined) this.holdSeconds = patch.holdSeconds;
    if (patch.limitPerUser !== undefined) this.limitPerUser = patch.limitPerUser;
    if (patch.waitingRoom === null) this.room = null;
    else if (patch.waitingRoom !== undefined && this.room === null) this.openRoom(patch.waitingRoom, at);
    else if (patch.waitingRoom !== undefined && this.room !== null) this.room.changeSettings(patch.waitingRoom);
    invariant(this.startsAt < this.endsAt, `sale ${this.id}: startsAt must come before endsAt`);
    invariant(this.maxUnitsOfAnyUser() <= this.limitPerUser, `sale ${this.id}: limit lowered below holdings`);
  }

  private applyHold(event: HoldPlaced): void {
    const holds = this.holds;
    invariant(event.seq === this.holdSeq + 1, () => `sale ${this.id}: hold ${event.seq} placed after hold ${this.holdSeq}`);
    invariant(event.row === holds.peekFree(), () => `sale ${this.id}: hold ${event.seq} placed in row ${event.row}, not the free one`);
    const item = this.item(event.itemId);
    invariant(event.quantity >= 1 && event.quantity <= 255, "hold of a bad quantity");
    const row = holds.allocate();
    this.holdSeq = event.seq;
    const buyer = this.fillRow(row, event.seq, event.userId, item, event.quantity, event.at, event.expiresAt);
    item.available -= event.quantity;
    item.held += event.quantity;
    this.addUnits(buyer, event.quantity);
    if (event.idempotencyKey !== null && event.fingerprint !== null) {
      this.rememberIdempotencyKey(event.userId, event.idempotencyKey, {
        fingerprint: event.fingerprint,
        reservationId: event.reservationId,
        itemId: event.itemId,
        quantity: event.quantity,
        amount: event.amount,
        currency: event.currency,
        at: event.at,
        expiresAt: event.expiresAt,
      });
    }
    item.assertCounts();
  }

  /**
   * Write a live hold into `row` (taken already): its fields, its buyer's list, the expiry heap.
   * Returns the buyer's index; the caller counts the units (apply checks them against the limit).
   */
  fillRow(row: number, seq: number, userId: string, item: ItemState, quantity: number, createdAt: number, expiresAt: number): number {
    const holds = this.holds;
    const buyer = this.buyers.intern(userId);
    holds.seq[row] = seq;
    holds.createdAt[row] = createdAt;
    invariant(expiresAt - createdAt >= 0 && expiresAt - createdAt <= 0xffffffff, "a hold's length is out of range");
    holds.holdMs[row] = expiresAt - createdAt;
    holds.buyer[row] = buyer;
    holds.item[row] = item.index;
    holds.quantity[row] = quantity;
    holds.nextOfBuyer[row] = this.buyers.liveHead[buyer] as number;
    this.buyers.liveHead[buyer] = row;
    this.expiries.push(row);
    return buyer;
  }

  /** Load an idempotency record (live, or from a snapshot or a store); records arrive in time order. */
  rememberIdempotencyKey(userId: string, key: string, record: IdempotencyRecord): void {
    const mapKey = SaleState.idempotencyKey(userId, key);
    this.idempotency.set(mapKey, record);
    this.idempotencyQueue.push({ at: record.at, key: mapKey });
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
      this.idempotencyQueue = queue.slice(this.idempotencyQueueHead);
      this.idempotencyQueueHead = 0;
    }
  }

  /** The live row an event names, checked: the row holds that hold, of that item and quantity. */
  private eventRow(event: { reservationId: string; seq: number; row: number; itemId: string; quantity: number }): number {
    const { row, seq, reservationId } = event;
    invariant(this.holds.holds(row, seq), () => `sale ${this.id}: event names reservation ${reservationId}, which is not held`);
    invariant(this.idOf(row) === reservationId, () => `sale ${this.id}: event names reservation ${reservationId} by the wrong row`);
    const item = this.itemList[this.holds.item[row] as number] as ItemState;
    invariant(
      event.itemId === item.id && event.quantity === this.holds.quantity[row],
      () => `event for reservation ${reservationId} disagrees with it`,
    );
    return row;
  }

  private applyReturn(event: Extract<SaleEvent, { type: "hold_released" | "hold_expired" }>, status: "released" | "expired"): void {
    const row = this.eventRow(event);
    invariant(status !== "expired" || event.at >= this.holds.expiresAt(row), () => `reservation ${event.reservationId} expired early`);
    const quantity = this.holds.quantity[row] as number;
    const item = this.itemList[this.holds.item[row] as number] as ItemState;
    const buyer = this.holds.buyer[row] as number;
    item.held -= quantity;
    item.available += quantity;
    this.endHold(row, status, event.at, NO_CODES, null);
    this.addUnits(buyer, -quantity);
    item.assertCounts();
  }

  /** Take a live hold out of the tables into the recent window, in its final status. */
  private endHold(row: number, status: ReservationStatus, at: number, codes: string[], paymentId: string | null): void {
    const ended = this.liveReservation(row);
    ended.status = status;
    ended.endedAt = at;
    ended.codes = codes;
    ended.paymentId = paymentId;
    this.recent.put(ended);
    const holds = this.holds;
    const buyer = holds.buyer[row] as number;
    // Unlink from the buyer's list (short: a buyer holds at most limitPerUser units).
    const next = holds.nextOfBuyer[row] as number;
    if (this.buyers.liveHead[buyer] === row) {
      this.buyers.liveHead[buyer] = next;
    } else {
      let previous = this.buyers.liveHead[buyer] as number;
      while (holds.nextOfBuyer[previous] !== row) {
        invariant(previous !== NO_ROW, "hold missing from its buyer's list");
        previous = holds.nextOfBuyer[previous] as number;
      }
      holds.nextOfBuyer[previous] = next;
    }
    this.expiries.remove(row);
    const legacy = this.legacyIdByRow.get(row);
    if (legacy !== undefined) {
      this.legacyIdByRow.delete(row);
      this.legacyRowById.delete(legacy);
    }
    holds.free(row);
  }

  private applyPayment(payment: Payment, confirm: Confirmation | null, at: number): void {
    invariant(!this.paymentsByEvent.has(payment.eventId), () => `payment event ${payment.eventId} recorded twice`);
    this.paymentsByEvent.set(payment.eventId, payment);
    if (payment.status === "succeeded" && !this.paymentsById.has(payment.paymentId)) {
      this.paymentsById.set(payment.paymentId, payment);
    }
    if (confirm === null) return;
    this.confirmedIndex?.add(payment.reservationId);
    const item = this.item(confirm.itemId);
    invariant(
      confirm.codes.length === (item.delivery === "codes" ? confirm.quantity : 0),
      `confirmation delivers the wrong number of codes`,
    );
    if (confirm.late) {
      // The hold had ended: its units come back out of what is available, to its buyer.
      invariant(this.liveRow(payment.reservationId) === -1, "late confirmation of a live hold");
      item.available -= confirm.quantity;
      this.addUnits(this.buyers.intern(confirm.userId), confirm.quantity);
      const ended = this.recent.get(payment.reservationId);
      if (ended !== undefined) {
        invariant(ended.status === "released" || ended.status === "expired", () => `late confirmation of a ${ended.status} reservation`);
        this.recent.put({ ...ended, status: "confirmed", endedAt: at, codes: confirm.codes, paymentId: payment.paymentId });
      }
    } else {
      const row = this.eventRow({ ...confirm, reservationId: payment.reservationId });
      invariant(this.buyers.name(this.holds.buyer[row] as number) === confirm.userId, "confirmation names the wrong buyer");
      item.held -= confirm.quantity;
      this.endHold(row, "confirmed", at, confirm.codes, payment.paymentId);
    }
    item.confirmed += confirm.quantity;
    item.takeCodes(confirm.codes);
    item.assertCounts();
  }

  private addUnits(buyer: number, delta: number): void {
    const units = (this.buyers.units[buyer] as number) + delta;
    invariant(units >= 0, () => `buyer ${this.buyers.name(buyer)} holds negative units`);
    invariant(units <= this.limitPerUser || delta < 0, () => `buyer ${this.buyers.name(buyer)} past limitPerUser in sale ${this.id}`);
    this.buyers.units[buyer] = units;
    if (units === 0) {
      invariant(this.buyers.liveHead[buyer] === NO_ROW, "a buyer with live holds has no units");
      this.buyers.release(buyer);
    }
  }

  /** Check every invariant of the whole sale: after loading or replaying, and in tests. */
  assertAll(): void {
    for (const item of this.itemList) item.assertCounts();
    const held = new Array<number>(this.itemList.length).fill(0);
    // Units held per buyer index, in a typed array: this runs over a million holds at recovery.
    const heldOf = new Int32Array(this.buyers.indexLimit);
    const holds = this.holds;
    let live = 0;
    for (let row = 0; row < holds.usedRows; row += 1) {
      if (holds.seq[row] === 0) continue;
      live += 1;
      const quantity = holds.quantity[row] as number;
      const item = holds.item[row] as number;
      const buyer = holds.buyer[row] as number;
      held[item] = (held[item] as number) + quantity;
      invariant(buyer >= 0 && buyer < heldOf.length, "a hold names a buyer outside the table");
      heldOf[buyer] = (heldOf[buyer] as number) + quantity;
      invariant((holds.seq[row] as number) <= this.holdSeq, "a hold is numbered past the last one placed");
      invariant(holds.heapIndex[row] !== -1, "a live hold is missing from the expiry heap");
    }
    invariant(live === holds.size && live === this.expiries.size, "live hold counts disagree");
    for (const item of this.itemList) {
      invariant(held[item.index] === item.held, () => `item ${item.id}: held count disagrees with live holds`);
    }
    let units = 0;
    let confirmed = 0;
    const buyers = this.buyers;
    const liveIndexes = buyers.liveIndexes();
    // A plain loop and checks that build nothing unless they fail: this runs for every buyer of a
    // sale at recovery (half a million in the bench), where a closure per buyer showed in the profile.
    const limit = this.limitPerUser;
    for (let i = 0; i < liveIndexes.length; i += 1) {
      const index = liveIndexes[i] as number;
      const total = buyers.units[index] as number;
      const heldByBuyer = heldOf[index] as number;
      if (total <= 0 || total > limit || total < heldByBuyer) {
        invariant(total > 0, () => `buyer ${buyers.name(index)} kept in the table with no units`);
        invariant(total <= limit, () => `buyer ${buyers.name(index)} past limitPerUser`);
        invariant(false, () => `buyer ${buyers.name(index)}: total below what is held`);
      }
      let listed = 0;
      for (let row = buyers.liveHead[index] as number; row !== NO_ROW; row = holds.nextOfBuyer[row] as number) {
        if (holds.buyer[row] !== index || holds.seq[row] === 0) invariant(false, () => `buyer ${buyers.name(index)}: list names another's hold`);
        listed += holds.quantity[row] as number;
      }
      if (listed !== heldByBuyer) invariant(false, () => `buyer ${buyers.name(index)}: live list disagrees with the table`);
      units += total;
    }
    for (const item of this.itemList) confirmed += item.confirmed;
    let heldTotal = 0;
    for (const count of held) heldTotal += count;
    invariant(units === heldTotal + confirmed, `per-buyer totals disagree with held plus confirmed units`);
    this.room?.assertAll();
  }
}
