// The buyers, operators and payment provider of the simulation. They send commands to the owner,
// remember only what they were answered (what a real client can know), and judge every answer as
// it arrives against the model, which holds exactly what the journal committed:
//
// - an acknowledged change is durable (found in the model), with the fields it was answered with;
// - a retry under an Idempotency-Key replays the first answer byte for byte; a resent forwarded
//   command answers what its first send did;
// - a refusal is possible (a retry of a live key is never refused; not_found names no reservation);
// - once a step settles, every event it committed is explained by an acknowledged answer: nothing
//   is decided and then answered as refused, or not answered at all.
//
// An answer that arrives after its process was killed is dropped: it never left the machine.

import { Unavailable, type HoldAnswer } from "../../../src/engine/gateway.ts";
import { renderReservation } from "../../../src/engine/render.ts";
import type { HoldCommand, Outcome, PaymentCommand, ReleaseCommand, Reservation, SaleCommand, SaleEvent, SaleSpec } from "../../../src/ledger/types.ts";
import { check, DAY_MS, type Model, type ModelReservation, SimFailure } from "./model.ts";
import type { World } from "./world.ts";

export type Request = {
  n: number;
  saleId: string;
  /** The engine's time when it was sent (time stands still within a step). */
  now: number;
  generation: number;
  /** Whether it was sent again (a forwarder's resend, a client's retry) after an answer was lost. */
  again: boolean;
  /** A forwarded command whose answer the link between workers loses (its peer will send it again). */
  linkLost?: boolean;
} & ({ kind: "hold"; command: HoldCommand } | { kind: "execute"; command: SaleCommand } | { kind: "create"; spec: SaleSpec });

/** The reservation as the first answer to its hold showed it. */
export function firstAnswer(r: ModelReservation): Reservation {
  return { ...asReservation(r), status: "held", endedAt: 0, codes: [], paymentId: null };
}

export function asReservation(r: ModelReservation): Reservation {
  const { id, saleId, itemId, userId, quantity, status, amount, currency, createdAt, expiresAt, endedAt, codes, paymentId } = r;
  return { id, saleId, itemId, userId, quantity, status, amount, currency, createdAt, expiresAt, endedAt, codes, paymentId };
}

/** The first field in which two reservations differ, or null. */
export function diffReservation(actual: Reservation, expected: Reservation): string | null {
  for (const field of Object.keys(expected) as (keyof Reservation)[]) {
    const a = field === "codes" ? JSON.stringify(actual.codes) : actual[field];
    const b = field === "codes" ? JSON.stringify(expected.codes) : expected[field];
    if (a !== b) return `${field}: ${String(a)} != ${String(b)}`;
  }
  return null;
}

function eventKey(event: SaleEvent): string {
  switch (event.type) {
    case "sale_created":
    case "sale_patched":
      return `${event.type} ${event.saleId}`;
    case "hold_placed":
    case "hold_released":
    case "hold_expired":
      return `${event.type} ${event.reservationId}`;
    case "payment_recorded":
      return `${event.type} ${event.saleId}/${event.payment.eventId}`;
    case "stock_adjusted":
      return `${event.type} ${event.saleId}/${event.itemId}/${event.delta}`;
    case "codes_added":
      return `${event.type} ${event.saleId}/${event.itemId}`;
    case "queue_joined":
      return `${event.type} ${event.saleId}/${event.userId}/${event.at}`;
    case "queue_drawn":
    case "queue_admitted":
    case "queue_sold_out":
      return `${event.type} ${event.saleId}/${event.at}`;
  }
}

export class Clients {
  /** Holds acknowledged to their buyers: what releases and payments name. */
  readonly held: { id: string; saleId: string; userId: string }[] = [];
  private readonly heldIds = new Set<string>();
  /** `sale \n user \n key` -> the body first sent under it and the first answer. */
  readonly keys = new Map<string, { itemId: string; quantity: number; firstBody: string | null; firstAt: number }>();
  /** Requests of the running process not answered yet (at a kill, they are the lost ones). */
  open: Request[] = [];
  /** Forwarded commands answered while their link was down: their peers send them again. */
  lostOnLink: Request[] = [];
  /** A check that failed inside an answer callback (which runs inside the engine); settle() throws it. */
  failure: unknown = null;
  answered = 0;
  /** How often each kind of answer came (what a run covered: SIM_STATS=1 prints it). */
  readonly tally = new Map<string, number>();
  private explained = new Map<string, number>();
  private stepStartSeq = 0;
  private sentCount = 0;

  constructor(
    private readonly world: World,
    private readonly model: Model,
  ) {}

  beginStep(): void {
    this.model.sync();
    this.model.stepEvents = [];
    this.explained.clear();
    this.stepStartSeq = this.model.seq;
  }

  private request<T extends Request>(fields: Omit<T, "n" | "now" | "generation">): T {
    this.sentCount += 1;
    const request = { ...fields, n: this.sentCount, now: this.world.owner.now(), generation: this.world.generation } as T;
    this.open.push(request);
    return request;
  }

  /** Whether an answer to `request` reaches its client: its process still runs. */
  private count(what: string): void {
    this.tally.set(what, (this.tally.get(what) ?? 0) + 1);
  }

  private delivered(request: Request): boolean {
    if (request.generation !== this.world.generation || this.world.process.dead) return false;
    this.open = this.open.filter((r) => r !== request);
    // The owner answered; the link lost it on the way. The answer is judged all the same (it is
    // what the owner decided), and the peer will send the command again.
    if (request.linkLost === true) this.lostOnLink.push(request);
    this.answered += 1;
    return true;
  }

  private guard(run: () => void): void {
    try {
      run();
    } catch (error) {
      this.failure ??= error;
    }
  }

  sendHold(saleId: string, command: HoldCommand, again = false, linkLost = false): void {
    const request = this.request<Request & { kind: "hold" }>({ kind: "hold", saleId, command, again, linkLost });
    this.world.owner.hold(saleId, command, (answer) => {
      if (this.delivered(request)) this.guard(() => this.onHold(request, answer));
    });
  }

  sendExecute(saleId: string, command: SaleCommand, again = false, linkLost = false): void {
    const request = this.request<Request & { kind: "execute" }>({ kind: "execute", saleId, command, again, linkLost });
    this.world.owner.execute(saleId, command).then(
      (outcome) => {
        if (this.delivered(request)) this.guard(() => this.onOutcome(request, outcome));
      },
      (error: unknown) => {
        if (!this.delivered(request)) return;
        this.count(`${command.kind} unavailable`);
        this.guard(() => check(error instanceof Unavailable, () => `command ${request.n} failed: ${String(error)}`));
      },
    );
  }

  sendCreate(spec: SaleSpec): void {
    const request = this.request<Request & { kind: "create" }>({ kind: "create", saleId: spec.id, spec, again: false });
    this.world.owner.createSale(spec).then(
      (outcome) => {
        if (!this.delivered(request)) return;
        this.guard(() => {
          this.model.sync();
          const sale = this.model.sales.get(spec.id);
          check(sale !== undefined, () => `acknowledged sale ${spec.id} is not in the journal`);
          if (outcome.ok) {
            check(sale.name === spec.name && sale.limitPerUser === spec.limitPerUser, "the created sale differs from its spec");
            this.explain(`sale_created ${spec.id}`);
          }
        });
      },
      (error: unknown) => {
        if (this.delivered(request)) this.guard(() => check(error instanceof Unavailable, () => `create failed: ${String(error)}`));
      },
    );
  }

  private explain(key: string): void {
    this.explained.set(key, (this.explained.get(key) ?? 0) + 1);
  }

  private onHold(request: Request & { kind: "hold" }, answer: HoldAnswer): void {
    const { command, saleId } = request;
    this.model.sync();
    const sale = this.model.sales.get(saleId);
    const keyName = command.idempotencyKey === null ? null : `${command.userId}\n${command.idempotencyKey}`;
    const record = keyName === null ? undefined : sale?.idempotency.get(keyName);
    const liveBefore = record !== undefined && record.seq <= this.stepStartSeq && record.at + DAY_MS > request.now ? record : undefined;
    const clientKey = `${saleId}\n${keyName}`;
    const token = command.token ?? 0;
    const tokenHold = token === 0 ? undefined : this.model.holdTokens.get(token);
    this.count(`hold ${answer.ok ? (answer.replayed ? "replayed" : request.again ? "ok again" : "ok") : answer.refusal}`);
    if (!answer.ok) {
      if (answer.refusal === "unavailable") return;
      if (liveBefore !== undefined) {
        check(liveBefore.itemId !== command.itemId || liveBefore.quantity !== command.quantity, () => `retry ${request.n} under a live key refused (${answer.refusal}) instead of replayed`);
        check(answer.refusal === "idempotency_key_reused", () => `a key reused with another body refused as ${answer.refusal}`);
      }
      const placedBefore = tokenHold !== undefined && (this.model.reservations.get(tokenHold)?.placedSeq ?? Infinity) <= this.stepStartSeq;
      check(!placedBefore, () => `resent forwarded hold ${token} refused (${answer.refusal}) although its first send placed ${tokenHold}`);
      return;
    }
    const id = (JSON.parse(answer.body) as { id: string }).id;
    const r = this.model.reservations.get(id);
    check(r !== undefined, () => `acknowledged hold ${id} is not in the journal`);
    check(r.saleId === saleId && r.userId === command.userId, () => `hold ${id} answered to another buyer or sale`);
    check(answer.body === renderReservation(firstAnswer(r)), () => `the answer to hold ${id} disagrees with the journal: ${answer.body}`);
    if (answer.replayed) {
      check(record !== undefined && record.reservationId === id, () => `replayed answer ${id} is not the hold of its key`);
      check(record.itemId === command.itemId && record.quantity === command.quantity, "a key replayed for another body");
      // The first answer this client saw, unless its key has expired since (a later hold under it was lost).
      const known = this.keys.get(clientKey);
      const first = known !== undefined && known.firstAt + DAY_MS > request.now ? known.firstBody : null;
      check(first === null || first === answer.body, () => `replay differs from the first answer:\n${first}\n${answer.body}`);
    } else if (token !== 0) {
      check(tokenHold === id, () => `forwarded hold ${token} answered with ${id}, the journal has ${tokenHold}`);
    } else {
      check(liveBefore === undefined, () => `hold ${id} placed under a key already in use`);
      check(r.createdAt === request.now && r.itemId === command.itemId && r.quantity === command.quantity, () => `hold ${id} is not the one asked for`);
    }
    this.explain(`hold_placed ${id}`);
    if (!this.heldIds.has(id)) {
      this.heldIds.add(id);
      this.held.push({ id, saleId, userId: command.userId });
    }
    if (keyName !== null && (!answer.replayed || this.keys.get(clientKey)?.firstBody == null)) {
      // A fresh hold under a key (a new key, or one older than 24 h) is what its retries replay from now on.
      this.keys.set(clientKey, { itemId: command.itemId, quantity: command.quantity, firstBody: answer.body, firstAt: r.createdAt });
    }
  }

  private onOutcome(request: Request & { kind: "execute" }, outcome: Outcome): void {
    this.model.sync();
    const { command, saleId } = request;
    const sale = this.model.sales.get(saleId);
    this.count(`${command.kind} ${outcome.ok ? ("payment" in outcome ? outcome.payment : "ok") : outcome.refusal}${request.again ? " again" : ""}`);
    switch (command.kind) {
      case "release":
        return this.onRelease(request, command, outcome);
      case "payment":
        return this.onPayment(request, command, outcome);
      case "patch":
        if (outcome.ok) {
          check(sale !== undefined, "patch acknowledged for an unknown sale");
          for (const [field, value] of Object.entries(command.patch)) {
            check((sale as Record<string, unknown>)[field] === value, () => `acknowledged patch of ${field} is not in the journal`);
          }
          this.explain(`sale_patched ${saleId}`);
        } else {
          check(["not_found", "invalid_window", "limit_below_holdings"].includes(outcome.refusal), () => `patch refused as ${outcome.refusal}`);
        }
        return;
      case "stock":
        if (outcome.ok) {
          if (command.delta !== 0) this.explain(`stock_adjusted ${saleId}/${command.itemId}/${command.delta}`);
        } else {
          check(["not_found", "codes_item_stock", "insufficient_stock"].includes(outcome.refusal), () => `stock change refused as ${outcome.refusal}`);
        }
        return;
      case "codes":
        if (outcome.ok && "added" in outcome) {
          check(outcome.added + outcome.duplicates === command.codes.length, "codes added and duplicates do not add up");
          const item = sale?.items.get(command.itemId);
          check(item !== undefined && command.codes.every((code) => item.known.has(code)), "acknowledged codes are not in the journal");
          if (outcome.added > 0) this.explain(`codes_added ${saleId}/${command.itemId}`);
        } else {
          check(!outcome.ok && ["not_found", "not_codes_item"].includes(outcome.refusal), "codes refused unexpectedly");
        }
        return;
      default:
        throw new SimFailure(`unexpected command ${command.kind}`);
    }
  }

  private onRelease(request: Request, command: ReleaseCommand, outcome: Outcome): void {
    const r = this.model.reservations.get(command.reservationId);
    const mine = r !== undefined && r.saleId === request.saleId && r.userId === command.userId;
    if (!outcome.ok) {
      const token = command.token ?? 0;
      const releasedBefore = token !== 0 && this.model.releaseTokens.get(token) === command.reservationId && r !== undefined && r.releasedSeq <= this.stepStartSeq;
      check(!releasedBefore || !request.again, () => `resent forwarded release ${token} refused (${outcome.refusal}) although its first send released ${command.reservationId}`);
      if (outcome.refusal === "not_found") check(!mine, () => `release of ${command.reservationId} answered not_found; the journal has it`);
      else check(outcome.refusal === "not_held" && mine && r.status !== "held", () => `release of ${command.reservationId} refused as ${outcome.refusal}`);
      return;
    }
    check("reservation" in outcome && outcome.reservation.id === command.reservationId, "a release answered with another reservation");
    check(mine && r.releasedSeq > 0, () => `acknowledged release of ${command.reservationId} is not in the journal`);
    if (!request.again) {
      const answered = outcome.reservation;
      check(answered.status === "released" && answered.endedAt === request.now, () => `release of ${r.id} answered ${answered.status}`);
      const differs = diffReservation(answered, { ...asReservation(r), status: "released", endedAt: request.now, codes: [], paymentId: null });
      check(differs === null, () => `the released reservation differs from the journal's in ${differs}`);
    }
    this.explain(`hold_released ${r.id}`);
  }

  private onPayment(request: Request, command: PaymentCommand, outcome: Outcome): void {
    const sale = this.model.sales.get(request.saleId);
    const r = this.model.reservations.get(command.reservationId);
    if (!outcome.ok) {
      check(outcome.refusal === "not_found" && (r === undefined || r.saleId !== request.saleId), () => `payment refused as ${outcome.refusal}`);
      return;
    }
    check("payment" in outcome && outcome.reservationId === command.reservationId, "a payment answered for another reservation");
    check(sale !== undefined, "payment acknowledged for an unknown sale");
    const byEvent = sale.payments.get(command.eventId);
    const prior = byEvent ?? sale.succeeded.get(command.paymentId);
    const answered = outcome.payment;
    if (answered === "already_confirmed") {
      check(prior !== undefined && (prior.outcome === "confirmed" || prior.outcome === "confirmed_late"), () => `payment ${command.eventId} answered already_confirmed; nothing confirmed under it`);
    } else {
      check(prior !== undefined && prior.outcome === answered, () => `payment ${command.eventId} answered ${answered}; the journal has ${prior?.outcome}`);
      if (answered === "confirmed" || answered === "confirmed_late") {
        check(byEvent !== undefined && byEvent.seq > this.stepStartSeq, () => `payment ${command.eventId} answered ${answered} for a confirmation recorded before`);
      }
    }
    this.explain(`payment_recorded ${request.saleId}/${command.eventId}`);
  }

  /** A settled step: every event it committed (expiries aside) answers an acknowledged request. */
  endSettledStep(): void {
    this.model.sync();
    for (const event of this.model.stepEvents) {
      if (event.type === "hold_expired") continue;
      const key = eventKey(event);
      const left = this.explained.get(key) ?? 0;
      check(left > 0, () => `committed ${key} without an acknowledged answer`);
      this.explained.set(key, left - 1);
    }
  }
}
