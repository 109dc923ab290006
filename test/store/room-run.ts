// Seeded runs of the real ledger with a waiting room, for the store tests: buyers join before and
// after the draw, the owner's tick admits at the pace and sells out, holds, releases, payments,
// expiries and stock changes move what is available (which pauses and resumes the pace), admissions
// lapse and buyers join again, and operators pause the sale, change the room's pace, or turn the
// room off and on. The clock always moves forward. `roomView` is what a room restored from the store
// must share with the ledger that decided it.

import { SaleLedger } from "../../src/ledger/sale-ledger.ts";
import type { SaleState } from "../../src/ledger/sale-state.ts";
import type { SaleEvent, WaitingRoomSettings } from "../../src/ledger/types.ts";
import { mulberry32 } from "../../src/ledger/waiting-room.ts";

const T_START = 1_770_000_000_000;
const PACES: WaitingRoomSettings[] = [
  { admitPerSecond: 1, admissionSeconds: 10, opensSecondsBefore: 60 },
  { admitPerSecond: 3, admissionSeconds: 20, opensSecondsBefore: 60 },
  { admitPerSecond: 7, admissionSeconds: 10, opensSecondsBefore: 0 },
];

export type RoomRun = {
  ledger: SaleLedger;
  events: SaleEvent[];
  /** After how many events the run may be checked (each a moment it stood still), with the time then. */
  checkpoints: { events: number; now: number }[];
  batchSizes: number[];
  now: number;
};

export function roomRun(saleId: string, seed: number, steps: number): RoomRun {
  const next = mulberry32(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)] as T;
  const users = Array.from({ length: 24 }, (_, i) => `buyer-${i}`);
  let now = T_START;
  const events: SaleEvent[] = [];
  const ledger = SaleLedger.create(
    {
      id: saleId,
      name: "Queued",
      // Half the runs open the room before startsAt (a draw), half on a sale already selling.
      startsAt: now + (seed % 2 === 0 ? 20_000 : -1_000),
      endsAt: now + 86_400_000,
      holdSeconds: 6,
      limitPerUser: 2,
      items: [
        { id: "tee", name: "Tee", price: 2_500, currency: "USD", delivery: "none", stock: 4 },
        { id: "cap", name: "Cap", price: 1_000, currency: "USD", delivery: "none", stock: 1 },
      ],
      waitingRoom: pick(PACES),
    },
    now,
    events,
  );
  const live: { id: string; userId: string; amount: number }[] = [];
  const checkpoints: RoomRun["checkpoints"] = [];
  let payments = 0;
  for (let step = 0; step < steps; step += 1) {
    now += next() < 0.1 ? 12_000 : Math.floor(next() * 1_500);
    const roll = next();
    const state = ledger.state;
    if (roll < 0.3) {
      if (state.room !== null) ledger.join(pick(users), now, Math.floor(next() * 2 ** 32), events);
    } else if (roll < 0.5) {
      if (state.room !== null) ledger.queueTick(now, Math.floor(next() * 2 ** 32), events);
    } else if (roll < 0.62) {
      const outcome = ledger.execute({ kind: "hold", userId: pick(users), itemId: pick(["tee", "tee", "cap"]), quantity: 1, idempotencyKey: null }, now, events);
      if (outcome.ok && "reservation" in outcome) live.push({ id: outcome.reservation.id, userId: outcome.reservation.userId, amount: outcome.reservation.amount });
    } else if (roll < 0.7) {
      const hold = live.splice(Math.floor(next() * live.length), 1)[0];
      if (hold !== undefined) ledger.execute({ kind: "release", reservationId: hold.id, userId: hold.userId }, now, events);
    } else if (roll < 0.78) {
      const hold = live.splice(Math.floor(next() * live.length), 1)[0];
      if (hold !== undefined) {
        payments += 1;
        ledger.execute(
          { kind: "payment", eventId: `ev-${payments}`, paymentId: `pay-${payments}`, reservationId: hold.id, status: "succeeded", amount: hold.amount, currency: "USD" },
          now,
          events,
        );
      }
    } else if (roll < 0.84) {
      ledger.expire(now, events);
    } else if (roll < 0.9) {
      ledger.execute({ kind: "stock", itemId: "tee", delta: pick([2, -1, -1]) }, now, events);
    } else if (roll < 0.94) {
      ledger.execute({ kind: "patch", patch: { paused: !state.paused } }, now, events);
    } else if (roll < 0.98) {
      ledger.execute({ kind: "patch", patch: { waitingRoom: pick(PACES) } }, now, events);
    } else {
      // Off, and on again: the next room is a new one, numbered after it.
      ledger.execute({ kind: "patch", patch: { waitingRoom: state.room === null ? pick(PACES) : null } }, now, events);
    }
    if (next() < 0.15) checkpoints.push({ events: events.length, now });
  }
  checkpoints.push({ events: events.length, now });
  const batchSizes = Array.from({ length: 12 }, () => 1 + Math.floor(next() * 40));
  return { ledger, events, checkpoints, batchSizes, now };
}

/** Everything a restored room must share with the live one: its counters, its pace, and every buyer's place. */
export function roomView(state: SaleState, now: number) {
  const room = state.room;
  if (room === null) return { epoch: state.roomEpoch, room: null };
  const places: [string, unknown][] = [];
  for (let index = 0; index < room.names.size; index += 1) {
    const userId = room.names.name(index);
    places.push([userId, room.place(userId, now)]);
  }
  places.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return { epoch: state.roomEpoch, header: room.save().header, waiting: room.waiting, places };
}

/** What the owner decides next on a sale: ticks and joins from `now` on, as events. */
export function nextDecisions(state: SaleState, now: number): SaleEvent[] {
  const ledger = new SaleLedger(state);
  const out: SaleEvent[] = [];
  if (state.room === null) return out;
  for (let i = 0; i < 6; i += 1) {
    const at = now + i * 700;
    ledger.queueTick(at, 11 + i, out);
    ledger.join(`late-${i}`, at, 5, out);
  }
  return out;
}
