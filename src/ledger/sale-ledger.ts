// The ledger of one sale: `(state, command, now) -> outcome + events`. It decides, records each
// decision as events, applies them through SaleState.apply, and checks the invariants of what it
// touched. Holds, confirmations, releases and expiries follow TigerBeetle's pending / post / void /
// timeout. Expected refusals are values; only a broken invariant throws.

import { invariant } from "./invariant.ts";
import { type JoinOutcome, type TickOutcome, joinQueue, queueTick } from "./queue-ledger.ts";
import type { RecentEnded } from "./recent-ended.ts";
import { formatWithPrefix, parseReservationId } from "./reservation-id.ts";
import { IDEMPOTENCY_KEEP_MS, type IdempotencyRecord, SaleState } from "./sale-state.ts";
import type {
  CodesCommand,
  Confirmation,
  HoldCommand,
  Outcome,
  PatchCommand,
  Payment,
  PaymentCommand,
  Refusal,
  ReleaseCommand,
  Reservation,
  SaleCommand,
  SaleEvent,
  SaleSpec,
  StockCommand,
} from "./types.ts";

/** Most holds one expiry pass turns into events, so one tick's transaction stays bounded. */
export const EXPIRE_BATCH_MAX = 10_000;

function refuse(refusal: Refusal, detail: string): Outcome {
  return { ok: false, refusal, detail };
}

/** The fingerprint of a hold's body, compared when an idempotency key comes back. */
export function holdFingerprint(itemId: string, quantity: number): string {
  return `${itemId}\n${quantity}`;
}

/** The reservation as its first answer showed it, for replaying an idempotent request. */
export function firstAnswerOf(saleId: string, userId: string, record: IdempotencyRecord): Reservation {
  return {
    id: record.reservationId,
    saleId,
    itemId: record.itemId,
    userId,
    quantity: record.quantity,
    status: "held",
    amount: record.amount,
    currency: record.currency,
    createdAt: record.at,
    expiresAt: record.expiresAt,
    endedAt: 0,
    codes: [],
    paymentId: null,
  };
}

export class SaleLedger {
  constructor(readonly state: SaleState) {}

  /** Create a sale: the one command that has no ledger yet. */
  static create(spec: SaleSpec, now: number, out: SaleEvent[], recent?: RecentEnded): SaleLedger {
    const event: SaleEvent = { type: "sale_created", saleId: spec.id, at: now, sale: spec };
    const ledger = SaleLedger.fromCreated(event, recent);
    out.push(event);
    return ledger;
  }

  static fromCreated(event: Extract<SaleEvent, { type: "sale_created" }>, recent?: RecentEnded): SaleLedger {
    const state = new SaleState(event.sale, event.at, recent);
    state.apply(event);
    return new SaleLedger(state);
  }

  /**
   * Decide `command` at `now`, appending the events of the decision to `out`. `known` is the
   * reservation a release or a payment names, when the owner had to fetch it from the store because
   * it is neither live nor in the recent window (needsHistory).
   */
  execute(command: SaleCommand, now: number, out: SaleEvent[], known?: Reservation): Outcome {
    switch (command.kind) {
      case "hold":
        return this.hold(command, now, out);
      case "release":
        return this.release(command, now, out, known);
      case "payment":
        return this.payment(command, now, out, known);
      case "patch":
        return this.patch(command, now, out);
      case "stock":
        return this.stock(command, now, out);
      case "codes":
        return this.codes(command, now, out);
      case "expire":
        this.expire(now, out);
        return { ok: true, sale: true };
    }
  }

  /**
   * The reservation id a command names when this state does not know it (not live, not recent) and
   * it may still exist in the store: an id of this sale numbered at or below the last hold, or an id
   * of the older form when this sale was loaded with such ids. Null when memory decides alone.
   */
  needsHistory(command: SaleCommand): string | null {
    if (command.kind !== "release" && command.kind !== "payment") return null;
    const id = command.reservationId;
    const state = this.state;
    if (state.liveRow(id) !== -1 || state.recent.get(id)?.saleId === state.id) return null;
    const parsed = parseReservationId(state.idPrefix, id);
    if (parsed !== null) return parsed.seq <= state.holdSeq ? id : null;
    return state.legacyIdsLoaded ? id : null;
  }

  private emit(event: SaleEvent, out: SaleEvent[]): void {
    this.state.apply(event);
    out.push(event);
  }

  /** A buyer joins the sale's waiting room (queue-ledger.ts); `seed` draws the lottery if it is due. */
  join(userId: string, now: number, seed: number, out: SaleEvent[]): JoinOutcome {
    return joinQueue(this.state, userId, now, seed, (event) => this.emit(event, out));
  }

  /** The waiting room's work due at `now`: the draw, admissions at its pace, a sell-out. */
  queueTick(now: number, seed: number, out: SaleEvent[]): TickOutcome {
    return queueTick(this.state, now, seed, (event) => this.emit(event, out));
  }

  private hold(command: HoldCommand, now: number, out: SaleEvent[]): Outcome {
    const state = this.state;
    const { userId, itemId, quantity, idempotencyKey } = command;
    let fingerprint: string | null = null;
    if (idempotencyKey !== null) {
      fingerprint = holdFingerprint(itemId, quantity);
      const record = state.idempotency.get(SaleState.idempotencyKey(userId, idempotencyKey));
      if (record !== undefined && record.at + IDEMPOTENCY_KEEP_MS > now) {
        if (record.fingerprint !== fingerprint) {
          return refuse("idempotency_key_reused", "This Idempotency-Key was used with a different request body.");
        }
        return { ok: true, reservation: firstAnswerOf(state.id, userId, record), replayed: true };
      }
    }
    const item = state.items.get(itemId);
    if (item === undefined) return refuse("not_found", `Sale ${state.id} has no item ${itemId}.`);
    if (now >= state.endsAt) return refuse("sale_ended", `Sale ${state.id} has ended.`);
    if (state.paused) return refuse("sale_not_open", `Sale ${state.id} is paused.`);
    if (now < state.startsAt) return refuse("sale_not_open", `Sale ${state.id} has not started yet.`);
    if (item.available < quantity) return refuse("sold_out", `Only ${item.available} units of ${item.id} are available.`);
    const units = state.buyers.unitsOf(userId);
    if (units + quantity > state.limitPerUser) {
      return refuse("limit_exceeded", `The limit is ${state.limitPerUser} units per buyer; you have ${units}.`);
    }
    const seq = state.holdSeq + 1;
    const row = state.holds.peekFree();
    const event = {
      type: "hold_placed" as const,
      saleId: state.id,
      at: now,
      reservationId: formatWithPrefix(state.idPrefix, seq, row),
      seq,
      row,
      itemId,
      userId,
      quantity,
      amount: item.price * quantity,
      currency: item.currency,
      expiresAt: now + state.holdSeconds * 1000,
      idempotencyKey,
      fingerprint,
      token: command.token ?? 0,
    };
    this.emit(event, out);
    return {
      ok: true,
      reservation: {
        id: event.reservationId,
        saleId: event.saleId,
        itemId,
        userId,
        quantity,
        status: "held",
        amount: event.amount,
        currency: event.currency,
        createdAt: now,
        expiresAt: event.expiresAt,
        endedAt: 0,
        codes: [],
        paymentId: null,
      },
    };
  }

  /** A live hold whose time has come expires before anything else touches it (invariant 6). */
  private expireIfDue(row: number, now: number, out: SaleEvent[]): boolean {
    if (now < this.state.holds.expiresAt(row)) return false;
    this.emit(this.returnEvent("hold_expired", row, now, 0), out);
    return true;
  }

  private returnEvent(type: "hold_released" | "hold_expired", row: number, at: number, token: number): SaleEvent {
    const state = this.state;
    const base = {
      saleId: state.id,
      at,
      reservationId: state.idOf(row),
      seq: state.holds.seq[row] as number,
      row,
      itemId: state.itemList[state.holds.item[row] as number]!.id,
      quantity: state.holds.quantity[row] as number,
    };
    return type === "hold_released" ? { type, ...base, token } : { type, ...base };
  }

  /** The reservation a command names: live, recent, or the one the owner fetched. */
  private reservationOf(id: string, known: Reservation | undefined): Reservation | undefined {
    const found = this.state.findReservation(id);
    if (found !== undefined) return found;
    return known?.id === id && known.saleId === this.state.id ? known : undefined;
  }

  private release(command: ReleaseCommand, now: number, out: SaleEvent[], known?: Reservation): Outcome {
    const state = this.state;
    const notFound = () => refuse("not_found", `No reservation ${command.reservationId} in sale ${state.id}.`);
    const row = state.liveRow(command.reservationId);
    if (row === -1) {
      const ended = this.reservationOf(command.reservationId, known);
      if (ended === undefined || ended.userId !== command.userId) return notFound();
      return refuse("not_held", `The reservation is ${ended.status}.`);
    }
    if (state.buyers.name(state.holds.buyer[row] as number) !== command.userId) return notFound();
    if (this.expireIfDue(row, now, out)) return refuse("not_held", "The reservation is expired.");
    const released = state.liveReservation(row);
    this.emit(this.returnEvent("hold_released", row, now, command.token ?? 0), out);
    return { ok: true, reservation: { ...released, status: "released", endedAt: now } };
  }

  private payment(command: PaymentCommand, now: number, out: SaleEvent[], known?: Reservation): Outcome {
    const state = this.state;
    let row = state.liveRow(command.reservationId);
    let reservation = row === -1 ? this.reservationOf(command.reservationId, known) : state.liveReservation(row);
    if (reservation === undefined) {
      return refuse("not_found", `No reservation ${command.reservationId} in sale ${state.id}.`);
    }
    if (row === -1 && reservation.status !== "confirmed" && state.confirmedByPayment(reservation.id)) {
      // A copy from the store may predate a confirmation decided since it was read: memory's record
      // of payments is newer, and a reservation is confirmed once.
      reservation = { ...reservation, status: "confirmed" };
    }
    const replay = state.paymentsByEvent.get(command.eventId) ?? state.paymentsById.get(command.paymentId);
    if (replay !== undefined && (replay.status === "succeeded" || replay.eventId === command.eventId)) {
      const applied = replay.outcome === "confirmed" || replay.outcome === "confirmed_late";
      return { ok: true, payment: applied ? "already_confirmed" : replay.outcome, reservationId: reservation.id };
    }
    const payment: Payment = {
      paymentId: command.paymentId,
      eventId: command.eventId,
      saleId: state.id,
      reservationId: reservation.id,
      amount: command.amount,
      currency: command.currency,
      status: command.status,
      outcome: "ignored",
      receivedAt: now,
    };
    let confirm: Confirmation | null = null;
    if (command.status === "succeeded") {
      if (row !== -1 && this.expireIfDue(row, now, out)) {
        reservation = { ...reservation, status: "expired", endedAt: now };
        row = -1;
      }
      const item = state.item(reservation.itemId);
      const parsed = parseReservationId(state.idPrefix, reservation.id);
      const named: Reservation = reservation;
      const confirmation = (late: boolean): Confirmation => ({
        late,
        itemId: item.id,
        quantity: named.quantity,
        codes: item.delivery === "codes" ? item.peekCodes(named.quantity) : [],
        userId: named.userId,
        seq: late ? (parsed?.seq ?? 0) : (state.holds.seq[row] as number),
        row: late ? (parsed?.row ?? 0) : row,
      });
      if (command.amount !== reservation.amount || command.currency !== reservation.currency) {
        payment.outcome = "refund_required";
      } else if (reservation.status === "held") {
        invariant(row !== -1, "a held reservation has no row");
        payment.outcome = "confirmed";
        confirm = confirmation(false);
      } else if (reservation.status === "confirmed") {
        payment.outcome = "refund_required"; // another payment confirmed it first
      } else if (
        item.available >= reservation.quantity &&
        state.unitsOf(reservation.userId) + reservation.quantity <= state.limitPerUser
      ) {
        payment.outcome = "confirmed_late";
        confirm = confirmation(true);
      } else {
        payment.outcome = "refund_required";
      }
    }
    this.emit({ type: "payment_recorded", saleId: state.id, at: now, payment, confirm }, out);
    return { ok: true, payment: payment.outcome, reservationId: reservation.id };
  }

  private patch(command: PatchCommand, now: number, out: SaleEvent[]): Outcome {
    const state = this.state;
    const startsAt = command.patch.startsAt ?? state.startsAt;
    const endsAt = command.patch.endsAt ?? state.endsAt;
    if (startsAt >= endsAt) return refuse("invalid_window", "startsAt must come before endsAt.");
    const limit = command.patch.limitPerUser;
    if (limit !== undefined && limit < state.maxUnitsOfAnyUser()) {
      return refuse("limit_below_holdings", `A buyer already holds or owns more than ${limit} units.`);
    }
    this.emit({ type: "sale_patched", saleId: state.id, at: now, patch: command.patch }, out);
    return { ok: true, sale: true };
  }

  private stock(command: StockCommand, now: number, out: SaleEvent[]): Outcome {
    const item = this.state.items.get(command.itemId);
    if (item === undefined) return refuse("not_found", `Sale ${this.state.id} has no item ${command.itemId}.`);
    if (item.delivery === "codes") {
      return refuse("codes_item_stock", "The stock of a codes item is its code pool: add codes instead.");
    }
    if (command.delta < 0 && item.available < -command.delta) {
      return refuse("insufficient_stock", `Only ${item.available} units are available to remove.`);
    }
    if (command.delta !== 0) {
      this.emit({ type: "stock_adjusted", saleId: this.state.id, at: now, itemId: item.id, delta: command.delta }, out);
    }
    return { ok: true, sale: true };
  }

  private codes(command: CodesCommand, now: number, out: SaleEvent[]): Outcome {
    const item = this.state.items.get(command.itemId);
    if (item === undefined) return refuse("not_found", `Sale ${this.state.id} has no item ${command.itemId}.`);
    if (item.delivery !== "codes") return refuse("not_codes_item", `Item ${item.id} does not deliver codes.`);
    const fresh: string[] = [];
    const seen = new Set<string>();
    for (const code of command.codes) {
      if (seen.has(code) || item.hasCode(code)) continue;
      seen.add(code);
      fresh.push(code);
    }
    if (fresh.length > 0) {
      this.emit({ type: "codes_added", saleId: this.state.id, at: now, itemId: item.id, codes: fresh }, out);
    }
    return { ok: true, added: fresh.length, duplicates: command.codes.length - fresh.length };
  }

  /** Expire every hold that is due, oldest first, at most EXPIRE_BATCH_MAX a call. */
  expire(now: number, out: SaleEvent[]): number {
    const state = this.state;
    let expired = 0;
    while (expired < EXPIRE_BATCH_MAX) {
      const due = state.expiries.peekKey();
      if (due === undefined || due > now) break;
      this.emit(this.returnEvent("hold_expired", state.expiries.peekRow(), now, 0), out);
      expired += 1;
    }
    state.pruneIdempotency(now);
    return expired;
  }

  /** The earliest moment a live hold expires; undefined when nothing is held. */
  nextExpiry(): number | undefined {
    return this.state.expiries.peekKey();
  }
}
