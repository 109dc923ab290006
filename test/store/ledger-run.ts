// A seeded run of the real ledger for the store conformance suite: random holds, releases, payments
// (failed, wrong amount, repeated, late), expiries, codes, stock changes and patches from a few
// buyers, with a clock that always moves forward. The events it records are what a store must turn
// back into the same sale; the batch sizes say how the suite cuts them for apply().

import { SaleLedger } from "../../src/ledger/sale-ledger.ts";
import type { SaleState } from "../../src/ledger/sale-state.ts";
import type { Reservation, SaleCommand, SaleEvent } from "../../src/ledger/types.ts";
import { adminSaleView } from "../../src/ledger/views.ts";

/** mulberry32: small, fast, and the same sequence everywhere for a seed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export type LedgerRun = {
  ledger: SaleLedger;
  events: SaleEvent[];
  batchSizes: number[];
  now: number;
  /** What two sale states must agree on beyond reservations and payments. */
  view(state: SaleState): unknown;
};

export function ledgerRun(saleId: string, seed: number, steps: number): LedgerRun {
  const next = random(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)] as T;
  let now = 1_760_000_000_000;
  const events: SaleEvent[] = [];
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
  );
  const reservations: Reservation[] = [];
  let counter = 0;
  const command = (): SaleCommand => {
    const roll = next();
    const userId = `u${Math.floor(next() * 12)}`;
    if (roll < 0.4) {
      const key = next() < 0.3 ? `k${Math.floor(next() * 5)}` : null;
      return { kind: "hold", reservationId: `${saleId}.res-${(counter += 1)}`, userId, itemId: pick(["plain", "coded"]), quantity: 1 + Math.floor(next() * 2), idempotencyKey: key };
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
    const outcome = ledger.execute(command(), now, events);
    if (outcome.ok && "reservation" in outcome && outcome.replayed !== true) reservations.push(outcome.reservation);
  }
  const batchSizes = Array.from({ length: 200 }, () => 1 + Math.floor(next() * 60));
  return {
    ledger,
    events,
    batchSizes,
    now,
    view: (state) => ({
      sale: adminSaleView(state, now),
      codes: [...state.items.values()].map((item) => item.unassignedCodeList()),
      units: [...state.unitsByUser.entries()].sort(),
    }),
  };
}
