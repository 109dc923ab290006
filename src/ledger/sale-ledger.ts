// The ledger of one sale: `(state, command, now) -> outcome + events`. It decides, records each
// decision as events, applies them through SaleState.apply, and checks the invariants of what it
// touched. Holds, confirmations, releases and expiries follow TigerBeetle's pending / post / void /
// timeout. Expected refusals are values; only a broken invariant throws.

import { invariant } from "./invariant.ts";
import { IDEMPOTENCY_KEEP_MS, SaleState } from "./sale-state.ts";
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
export function firstAnswerOf(reservation: Reservation): Reservation {
  return { ...reservation, status: "held", endedAt: 0, codes: [], paymentId: null };
}

function returnEvent(type: "hold_released" | "hold_expired", reservation: Reservation, at: number): SaleEvent {
  const { saleId, id: reservationId, itemId, quantity } = reservation;
  return { type, saleId, at, reservationId, itemId, quantity };
}

export class SaleLedger {
  constructor(readonly state: SaleState) {}

  /** Create a sale: the one command that has no ledger yet. */
  static create(spec: SaleSpec, now: number, out: SaleEvent[]): SaleLedger {
    const event: SaleEvent = { type: "sale_created", saleId: spec.id, at: now, sale: spec };
    const ledger = SaleLedger.fromCreated(event);
    out.push(event);
    return ledger;
  }

  static fromCreated(event: Extract<SaleEvent, { type: "sale_created" }>): SaleLedger {
    const state = new SaleState(event.sale, event.at);
    state.apply(event);
    return new SaleLedger(state);
  }

  execute(command: SaleCommand, now: number, out: SaleEvent[]): Outcome {
    switch (command.kind) {
      case "hold":
        return this.hold(command, now, out);
      case "release":
        return this.release(command, now, out);
      case "payment":
        return this.payment(command, now, out);
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

  private emit(event: SaleEvent, out: SaleEvent[]): void {
    this.state.apply(event);
    out.push(event);
  }

  private hold(command: HoldCommand, now: number, out: SaleEvent[]): Outcome {
    const state = this.state;
    const fingerprint = command.idempotencyKey === null ? null : holdFingerprint(command.itemId, command.quantity);
    if (command.idempotencyKey !== null) {
      const record = state.idempotency.get(SaleState.idempotencyKey(command.userId, command.idempotencyKey));
      if (record !== undefined && record.at + IDEMPOTENCY_KEEP_MS > now) {
        if (record.fingerprint !== fingerprint) {
          return refuse("idempotency_key_reused", "This Idempotency-Key was used with a different request body.");
        }
        return { ok: true, reservation: firstAnswerOf(state.reservation(record.reservationId)), replayed: true };
      }
    }
    const item = state.items.get(command.itemId);
    if (item === undefined) return refuse("not_found", `Sale ${state.id} has no item ${command.itemId}.`);
    if (now >= state.endsAt) return refuse("sale_ended", `Sale ${state.id} has ended.`);
    if (state.paused) return refuse("sale_not_open", `Sale ${state.id} is paused.`);
    if (now < state.startsAt) return refuse("sale_not_open", `Sale ${state.id} has not started yet.`);
    if (item.available < command.quantity) {
      return refuse("sold_out", `Only ${item.available} units of ${item.id} are available.`);
    }
    const units = state.unitsOf(command.userId);
    if (units + command.quantity > state.limitPerUser) {
      return refuse("limit_exceeded", `The limit is ${state.limitPerUser} units per buyer; you have ${units}.`);
    }
    invariant(!state.reservations.has(command.reservationId), "reservation id reused");
    this.emit(
      {
        type: "hold_placed",
        saleId: state.id,
        at: now,
        reservationId: command.reservationId,
        itemId: item.id,
        userId: command.userId,
        quantity: command.quantity,
        amount: item.price * command.quantity,
        currency: item.currency,
        expiresAt: now + state.holdSeconds * 1000,
        idempotencyKey: command.idempotencyKey,
        fingerprint,
      },
      out,
    );
    return { ok: true, reservation: state.reservation(command.reservationId) };
  }

  /** A hold whose time has come expires before anything else touches it (invariant 6). */
  private expireIfDue(reservation: Reservation, now: number, out: SaleEvent[]): void {
    if (reservation.status === "held" && now >= reservation.expiresAt) {
      this.emit(returnEvent("hold_expired", reservation, now), out);
    }
  }

  private release(command: ReleaseCommand, now: number, out: SaleEvent[]): Outcome {
    const reservation = this.state.reservations.get(command.reservationId);
    if (reservation === undefined || reservation.userId !== command.userId) {
      return refuse("not_found", `No reservation ${command.reservationId} in sale ${this.state.id}.`);
    }
    this.expireIfDue(reservation, now, out);
    if (reservation.status !== "held") return refuse("not_held", `The reservation is ${reservation.status}.`);
    this.emit(returnEvent("hold_released", reservation, now), out);
    return { ok: true, reservation };
  }

  private payment(command: PaymentCommand, now: number, out: SaleEvent[]): Outcome {
    const state = this.state;
    const reservation = state.reservations.get(command.reservationId);
    if (reservation === undefined) {
      return refuse("not_found", `No reservation ${command.reservationId} in sale ${state.id}.`);
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
      this.expireIfDue(reservation, now, out);
      const item = state.item(reservation.itemId);
      const confirmation = (late: boolean): Confirmation => ({
        late,
        itemId: item.id,
        quantity: reservation.quantity,
        codes: item.delivery === "codes" ? item.peekCodes(reservation.quantity) : [],
      });
      if (command.amount !== reservation.amount || command.currency !== reservation.currency) {
        payment.outcome = "refund_required";
      } else if (reservation.status === "held") {
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
      this.emit(
        { type: "stock_adjusted", saleId: this.state.id, at: now, itemId: item.id, delta: command.delta },
        out,
      );
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
      const reservation = state.expiries.pop() as Reservation;
      if (reservation.status !== "held") continue;
      this.emit(returnEvent("hold_expired", reservation, now), out);
      expired += 1;
    }
    state.pruneIdempotency(now);
    return expired;
  }

  /**
   * No live hold expires before this moment; undefined when no hold is queued. Holds released or
   * confirmed since they were queued still count until an expiry pass drops them, so the answer may
   * be earlier than the first real expiry, never later.
   */
  nextExpiry(): number | undefined {
    return this.state.expiries.peekKey();
  }
}
