// The owner's side of its sales' waiting rooms (API.md, "Waiting room"): joins decided by the ledger
// and answered once durable, like holds; polls answered from the room's dense table; and the tick
// that draws the lottery at startsAt, admits ranks at each room's pace and tells everyone waiting
// sold_out when nothing is left. The draw's randomness is made here, outside the ledger, and travels
// in its event (queue-ledger.ts), so a replay draws the same order.

import type { GroupCommit } from "../journal/group-commit.ts";
import type { JoinOutcome } from "../ledger/queue-ledger.ts";
import type { SaleState } from "../ledger/sale-state.ts";
import type { PlaceView } from "../ledger/waiting-room.ts";
import type { TokenBuckets } from "../limits/token-buckets.ts";
import type { QueueAnswer, QueuePlace, QueueReply, RoomNumbers } from "./gateway.ts";
import type { OwnedSale, OwnedSales } from "./owned-sales.ts";
import type { OwnerMetrics } from "./owner-metrics.ts";

/** How often the rooms admit: each tick admits what the pace has saved up since the last one. */
export const QUEUE_TICK_MS = 50;

export type OwnerQueueOptions = {
  now: () => number;
  /** Why the owner cannot decide now (recovering, draining), or null. */
  unavailable: () => string | null;
  /** Runs a decision; a broken invariant stops the process (SaleOwner.decide). */
  decide: <T>(decision: () => T) => T;
  metrics?: OwnerMetrics;
  /** The buyer's limit: a join is an attempt, as a hold is (429 beyond). */
  buyerLimits?: TokenBuckets;
  /** The draw's seed; by default 32 random bits (a simulation passes its own). */
  seed?: () => number;
};

function randomSeed(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0] as number;
}

/** The room's numbers answers are made from (published with the sale's copy, gateway.ts). */
export function roomNumbers(state: SaleState, now: number): RoomNumbers | null {
  const room = state.room;
  if (room === null) return null;
  return {
    epoch: room.epoch,
    served: room.served,
    waiting: room.waiting,
    admitPerSecond: room.settings.admitPerSecond,
    admissionSeconds: room.settings.admissionSeconds,
    startsAt: state.startsAt,
    drawn: room.drawn,
    open: state.status(now) === "open",
    soldOutFrom: room.soldOutFrom,
    soldOutTo: room.soldOutTo,
  };
}

function queuePlace(place: PlaceView): QueuePlace {
  switch (place.status) {
    case "waiting":
      return { status: "waiting", rank: place.rank };
    case "admitted":
      return { status: "admitted", rank: place.rank, admissionExpiresAt: place.admissionExpiresAt };
    case "sold_out":
      return { status: "sold_out" };
    default:
      return { status: "not_joined" };
  }
}

export class OwnerQueue {
  private readonly seed: () => number;

  constructor(
    private readonly sales: OwnedSales,
    private readonly options: OwnerQueueOptions,
  ) {
    this.seed = options.seed ?? randomSeed;
  }

  private get commit(): GroupCommit {
    return this.sales.commit;
  }

  /** A seed only when the draw may be due: random bits cost more than the join itself. */
  private seedFor(state: SaleState, now: number): number {
    return state.room !== null && !state.room.drawn && now >= state.startsAt ? this.seed() : 0;
  }

  /** Answers that need no decision: the owner cannot decide now, or the sale is unknown. */
  private precheck(saleId: string, reply: QueueReply): OwnedSale | null {
    const reason = this.options.unavailable();
    if (reason !== null) {
      reply({ ok: false, refusal: "unavailable", detail: reason, retryAfterSeconds: 1 });
      return null;
    }
    const sale = this.sales.get(saleId);
    if (sale === undefined) {
      reply({ ok: false, refusal: "not_found", detail: `No sale ${saleId}.` });
      return null;
    }
    return sale;
  }

  join(saleId: string, userId: string, reply: QueueReply): void {
    const limits = this.options.buyerLimits;
    if (limits?.enabled === true && this.options.unavailable() === null) {
      const taken = limits.take(userId);
      if (!taken.ok) {
        this.options.metrics?.queueJoined?.("rate_limited");
        const detail = `Too many attempts from this buyer; retry after ${taken.retryAfterSeconds} s.`;
        return reply({ ok: false, refusal: "rate_limited", detail, retryAfterSeconds: taken.retryAfterSeconds });
      }
    }
    const sale = this.precheck(saleId, reply);
    if (sale === null) return;
    const state = sale.ledger.state;
    const now = this.options.now();
    const outcome: JoinOutcome = this.options.decide(() => {
      // A hold that expired just now may be what keeps the sale from being sold out.
      this.sales.expireSale(sale, now);
      return sale.ledger.join(userId, now, this.seedFor(state, now), this.commit.pending);
    });
    this.options.metrics?.queueJoined?.(outcome.ok ? (outcome.joined ? outcome.place.status : "kept") : outcome.refusal);
    const numbers = roomNumbers(state, now);
    const answer: QueueAnswer =
      outcome.ok && numbers !== null
        ? { ok: true, place: queuePlace(outcome.place), room: numbers, joined: outcome.joined }
        : outcome.ok
          ? { ok: false, refusal: "no_waiting_room", detail: `Sale ${saleId} has no waiting room.` }
          : { ok: false, refusal: outcome.refusal, detail: outcome.detail };
    // Durable before it is answered, like a hold: a killed server forgets no one who was told.
    this.commit.defer(reply, answer);
  }

  place(saleId: string, userId: string, reply: QueueReply): void {
    const sale = this.precheck(saleId, reply);
    if (sale === null) return;
    const state = sale.ledger.state;
    const now = this.options.now();
    const numbers = roomNumbers(state, now);
    if (numbers === null || state.room === null) return reply({ ok: false, refusal: "no_waiting_room", detail: `Sale ${saleId} has no waiting room.` });
    const answer: QueueAnswer = { ok: true, place: queuePlace(state.room.place(userId, now)), room: numbers, joined: false };
    // An admission decided this turn is shown (with its token) only once it is durable.
    this.commit.defer(reply, answer);
  }

  /** Every room's due work: the draw, the sell-out, admissions at its pace. */
  tick(): void {
    if (this.options.unavailable() !== null) return;
    const now = this.options.now();
    const before = this.commit.pending.length;
    for (const sale of this.sales.values()) {
      const state = sale.ledger.state;
      if (state.room === null) continue;
      const outcome = this.options.decide(() => {
        this.sales.expireSale(sale, now);
        return sale.ledger.queueTick(now, this.seedFor(state, now), this.commit.pending);
      });
      if (outcome.admitted > 0) this.options.metrics?.queueAdmitted?.(outcome.admitted, outcome.waitedMs);
    }
    if (this.commit.pending.length > before) this.commit.schedule();
  }

  /** Buyers waiting and admissions issued, per sale with a room (gauges at scrape time). */
  gauges(): { saleId: string; waiting: number; admitted: number }[] {
    const readings: { saleId: string; waiting: number; admitted: number }[] = [];
    for (const sale of this.sales.values()) {
      const room = sale.ledger.state.room;
      if (room !== null) readings.push({ saleId: sale.ledger.state.id, waiting: room.waiting, admitted: room.admitted });
    }
    return readings;
  }
}
