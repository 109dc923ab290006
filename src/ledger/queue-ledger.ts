// The waiting room's decisions (API.md, "Waiting room"), the counterpart of sale-ledger.ts for the
// queue: `(state, command, now, seed) -> outcome + events`, pure and synchronous. A join gets a place
// (or the one the buyer has); the owner's tick draws the lottery at startsAt, admits ranks at the
// room's pace while the sale is open and has units, and tells everyone waiting sold_out once nothing
// is available or held (or the sale has ended). Randomness arrives as `seed`, from the owner, and is
// recorded in the draw's event, so a replay draws the same order.

import type { SaleState } from "./sale-state.ts";
import type { Refusal, SaleEvent } from "./types.ts";
import { ADMIT_BATCH_MAX, type PlaceView, RANKS_MAX, type WaitingRoom } from "./waiting-room.ts";

export type JoinOutcome =
  | { ok: true; place: Extract<PlaceView, { status: "waiting" | "admitted" }>; joined: boolean }
  | { ok: false; refusal: Refusal; detail: string };

/** What a tick did: admissions, and how long each admitted buyer waited (ms), for the metrics. */
export type TickOutcome = { admitted: number; waitedMs: number[]; soldOut: number; drawn: number };

type Emit = (event: SaleEvent) => void;

const refuse = (refusal: Refusal, detail: string): JoinOutcome => ({ ok: false, refusal, detail });

/** The draw happens at startsAt, before anything else the room decides from then on. */
function drawIfDue(state: SaleState, room: WaitingRoom, now: number, seed: number, emit: Emit): number {
  if (room.drawn || now < state.startsAt) return 0;
  const drawn = room.drawingCount;
  emit({ type: "queue_drawn", saleId: state.id, at: now, seed: seed >>> 0 });
  return drawn;
}

/**
 * Whether the room may admit at `now`: the sale is open and has a unit to sell. Admission pauses
 * while nothing is available (the credit saved so far waits, within its second's worth) and goes on
 * when held units come back.
 */
function admitsNow(state: SaleState, room: WaitingRoom, now: number): boolean {
  return room.drawn && state.status(now) === "open" && state.anyAvailable();
}

export function joinQueue(state: SaleState, userId: string, now: number, seed: number, emit: Emit): JoinOutcome {
  const room = state.room;
  if (room === null) return refuse("no_waiting_room", `Sale ${state.id} has no waiting room.`);
  if (now >= state.endsAt) return refuse("sale_ended", `Sale ${state.id} has ended.`);
  const opensAt = state.startsAt - room.settings.opensSecondsBefore * 1000;
  if (now < opensAt) return refuse("queue_not_open", `The queue of sale ${state.id} opens at ${new Date(opensAt).toISOString()}.`);
  drawIfDue(state, room, now, seed, emit);
  const current = room.place(userId, now);
  // Joining again returns the place the buyer has, never a second one.
  if (current.status === "waiting" || current.status === "admitted") return { ok: true, place: current, joined: false };
  if (now >= state.startsAt && state.soldOut()) return refuse("sold_out", `Sale ${state.id} is sold out.`);
  if (room.nextRank > RANKS_MAX) return refuse("sold_out", `The queue of sale ${state.id} is full.`);
  const rank = room.drawn ? room.nextRank : 0;
  // Admitted at once only when nobody waits and the pace allows it now.
  const admitted = room.drawn && room.waitingRanked === 0 && admitsNow(state, room, now) && room.admissionsAt(state, now) >= 1;
  emit({ type: "queue_joined", saleId: state.id, at: now, userId, rank, admitted });
  const place = room.place(userId, now);
  if (place.status !== "waiting" && place.status !== "admitted") throw new Error("a join left the buyer without a place");
  return { ok: true, place, joined: true };
}

/** Draw, sell out or admit what is due at `now`: what the owner runs on every tick of a sale with a room. */
export function queueTick(state: SaleState, now: number, seed: number, emit: Emit): TickOutcome {
  const outcome: TickOutcome = { admitted: 0, waitedMs: [], soldOut: 0, drawn: 0 };
  const room = state.room;
  if (room === null) return outcome;
  outcome.drawn = drawIfDue(state, room, now, seed, emit);
  if (room.waiting > 0 && (now >= state.endsAt || (now >= state.startsAt && state.soldOut()))) {
    outcome.soldOut = room.waiting;
    emit({ type: "queue_sold_out", saleId: state.id, at: now });
    return outcome;
  }
  if (room.waitingRanked === 0 || !admitsNow(state, room, now)) return outcome;
  const count = Math.min(room.admissionsAt(state, now), room.waitingRanked, ADMIT_BATCH_MAX);
  if (count < 1) return outcome;
  const from = room.served + 1;
  for (let rank = from; rank < from + count; rank += 1) outcome.waitedMs.push(now - room.joinedAtOfRank(rank));
  emit({ type: "queue_admitted", saleId: state.id, at: now, count });
  outcome.admitted = count;
  return outcome;
}
