// Seeded runs of the real ledger for the store conformance suite. `ledgerRun`: random holds,
// releases, payments (failed, wrong amount, repeated, late), expiries, codes, stock changes and
// patches from a few buyers, with a clock that always moves forward. `mostlyEndedRun`: a sale whose
// holds nearly all ended a day ago, with a few live ones, as a store holds it after a big drop. The
// events they record are what a store must turn back into the same sale.

import { RecentEnded } from "../../src/ledger/recent-ended.ts";
import { SaleLedger } from "../../src/ledger/sale-ledger.ts";
import type { SaleState } from "../../src/ledger/sale-state.ts";
import type { Outcome, Reservation, SaleCommand, SaleEvent } from "../../src/ledger/types.ts";
import { adminSaleView } from "../../src/ledger/views.ts";
import { mulberry32 } from "../../src/ledger/waiting-room.ts";

/** The seeded generator the waiting room draws with: a failure replays exactly from its seed. */
const random = mulberry32;

const T_START = 1_760_000_000_000;

export type LedgerRun = {
  ledger: SaleLedger;
  events: SaleEvent[];
  batchSizes: number[];
  now: number;
  /** Every reservation id the run made, in the order the holds were placed. */
  reservationIds: string[];
  /** What two sale states must agree on beyond holds, payments and idempotency keys. */
  view(state: SaleState): unknown;
};

/** Units per buyer (held plus confirmed), by buyer id. */
export function unitsByBuyer(state: SaleState): [string, number][] {
  return [...state.buyers.entries()].map(([index, name]): [string, number] => [name, state.buyers.units[index] as number]).sort();
}

/** The hold a hold command placed (a replay or a refusal places none). */
function placed(command: SaleCommand, outcome: Outcome): Reservation | undefined {
  if (command.kind !== "hold") return undefined;
  return outcome.ok && "reservation" in outcome && outcome.replayed !== true ? outcome.reservation : undefined;
}

export function ledgerRun(saleId: string, seed: number, steps: number): LedgerRun {
  const next = random(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)] as T;
  let now = T_START;
  const events: SaleEvent[] = [];
  // A window larger than the run: every ended reservation stays readable from memory, so the suite
  // can compare the store's history with the ledger's.
  const recent = new RecentEnded(steps + 1);
  const ledger = SaleLedger.create(
    {
      id: saleId, name: "Seeded", startsAt: now - 1_000, endsAt: now + 86_400_000, holdSeconds: 8, limitPerUser: 3,
      items: [
        { id: "plain", name: "Plain", price: 700, currency: "USD", delivery: "none", stock: 25 },
        { id: "coded", name: "Coded", price: 1200, currency: "USD", delivery: "codes", stock: 0 },
      ],
    },
    now,
    events,
    recent,
  );
  const reservations: Reservation[] = [];
  let counter = 0;
  const command = (): SaleCommand => {
    const roll = next();
    const userId = `u${Math.floor(next() * 12)}`;
    if (roll < 0.4) {
      const key = next() < 0.3 ? `k${Math.floor(next() * 5)}` : null;
      return { kind: "hold", userId, itemId: pick(["plain", "coded"]), quantity: 1 + Math.floor(next() * 2), idempotencyKey: key };
    }
    const reservation = reservations.length > 0 ? pick(reservations) : undefined;
    if (roll < 0.5 && reservation !== undefined) return { kind: "release", reservationId: reservation.id, userId: reservation.userId };
    if (roll < 0.72 && reservation !== undefined) {
      const wrongAmount = next() < 0.1;
      return {
        kind: "payment", eventId: `ev-${Math.floor(next() * 400)}`, paymentId: `pay-${Math.floor(next() * 300)}`,
        reservationId: reservation.id, status: next() < 0.85 ? "succeeded" : "failed",
        amount: reservation.amount + (wrongAmount ? 1 : 0), currency: "USD",
      };
    }
    if (roll < 0.82) return { kind: "expire" };
    if (roll < 0.9) return { kind: "codes", itemId: "coded", codes: Array.from({ length: 1 + Math.floor(next() * 3) }, () => `code-${seed}-${(counter += 1)}`) };
    if (roll < 0.96) return { kind: "stock", itemId: "plain", delta: Math.floor(next() * 8) - 2 };
    return { kind: "patch", patch: next() < 0.5 ? { name: `Seeded ${counter}` } : { limitPerUser: 2 + Math.floor(next() * 3), holdSeconds: 5 + Math.floor(next() * 6) } };
  };
  for (let step = 0; step < steps; step += 1) {
    // Strictly increasing time: events of different steps never tie on their timestamps.
    now += 1 + Math.floor(next() * 900);
    const chosen = command();
    const reservation = placed(chosen, ledger.execute(chosen, now, events));
    if (reservation !== undefined) reservations.push(reservation);
  }
  const batchSizes = Array.from({ length: 200 }, () => 1 + Math.floor(next() * 60));
  return {
    ledger,
    events,
    batchSizes,
    now,
    reservationIds: reservations.map((r) => r.id),
    view: (state) => ({
      sale: adminSaleView(state, now),
      codes: state.itemList.map((item) => item.unassignedCodeList()),
      units: unitsByBuyer(state),
      holdSeq: state.holdSeq,
    }),
  };
}

export type MostlyEndedRun = {
  ledger: SaleLedger;
  events: SaleEvent[];
  now: number;
  /** Confirmed units per buyer, as the run counted them, in byte order of the buyer id. */
  confirmedUnits: { userId: string; units: number }[];
  /** Ids of the keyed holds of the last 24 h, oldest first. */
  recentKeyedIds: string[];
  holdsPlaced: number;
};

/**
 * `ended` holds that end a day before `now` (a third released, a third paid, a third expired; every
 * fourth with an Idempotency-Key, long forgotten by `now`), then `live` holds placed in the last
 * hour (every fourth keyed), a few of which are paid. Buyers are `b0` to `b<buyers - 1>`, in turn.
 */
export function mostlyEndedRun(saleId: string, ended: number, live: number, buyers = 50): MostlyEndedRun {
  let now = T_START;
  const events: SaleEvent[] = [];
  const ledger = SaleLedger.create(
    {
      id: saleId, name: "Big drop", startsAt: now, endsAt: now + 7 * 86_400_000, holdSeconds: 60, limitPerUser: ended + live,
      items: [{ id: "plain", name: "Plain", price: 900, currency: "USD", delivery: "none", stock: ended + live }],
    },
    now,
    events,
  );
  const confirmed = new Map<string, number>();
  const recentKeyedIds: string[] = [];
  let paid = 0;
  const run = (command: SaleCommand) => ledger.execute(command, now, events);
  const hold = (i: number, keyed: boolean): Reservation => {
    const command: SaleCommand = { kind: "hold", userId: `b${i % buyers}`, itemId: "plain", quantity: 1, idempotencyKey: keyed ? `key-${i}` : null };
    const reservation = placed(command, run(command));
    if (reservation === undefined) throw new Error(`hold ${i} was refused`);
    return reservation;
  };
  const pay = (reservation: Reservation) => {
    paid += 1;
    const outcome = run({
      kind: "payment", eventId: `ev-${paid}`, paymentId: `pay-${paid}`, reservationId: reservation.id,
      status: "succeeded", amount: reservation.amount, currency: reservation.currency,
    });
    if (!outcome.ok || !("payment" in outcome) || outcome.payment !== "confirmed") throw new Error(`payment of ${reservation.id} failed`);
    confirmed.set(reservation.userId, (confirmed.get(reservation.userId) ?? 0) + reservation.quantity);
  };
  for (let i = 0; i < ended; i += 1) {
    now += 1;
    const reservation = hold(i, i % 4 === 0);
    if (i % 3 === 0) run({ kind: "release", reservationId: reservation.id, userId: reservation.userId });
    else if (i % 3 === 1) pay(reservation);
  }
  // The unpaid rest expires; a day later every key of those holds has aged out.
  now += 61_000;
  while (ledger.expire(now, events) > 0) now += 1;
  now += 86_400_000;
  for (let i = ended; i < ended + live; i += 1) {
    now += 1;
    const keyed = i % 4 === 0;
    const reservation = hold(i, keyed);
    if (keyed) recentKeyedIds.push(reservation.id);
    if (i % 10 === 0) pay(reservation);
  }
  now += 1;
  // Nothing is due, so this only makes the ledger forget the keys older than 24 h, as its owner's
  // next expiry pass would: the ledger then remembers what a restore at `now` must.
  if (ledger.expire(now, events) !== 0) throw new Error("a live hold expired early");
  return {
    ledger,
    events,
    now,
    confirmedUnits: [...confirmed.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([userId, units]) => ({ userId, units })),
    recentKeyedIds,
    holdsPlaced: ended + live,
  };
}
