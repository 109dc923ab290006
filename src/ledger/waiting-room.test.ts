// The waiting room's tables at scale (issue 11: a million waiting buyers in at most 150 MB), its draw
// over all of them (a permutation, the seed's alone), and a snapshot image of a room that size.

import { expect, test } from "bun:test";
import { loadSale, saveSale } from "./sale-image.ts";
import { SaleLedger } from "./sale-ledger.ts";
import type { SaleEvent } from "./types.ts";

const T0 = Date.UTC(2026, 11, 1);
const MILLION = 1_000_000;

function crowd(count: number): SaleLedger {
  const out: SaleEvent[] = [];
  const ledger = SaleLedger.create(
    {
      id: "drop-m",
      name: "A million",
      startsAt: T0 + 3_600_000,
      endsAt: T0 + 7_200_000,
      holdSeconds: 600,
      limitPerUser: 1,
      items: [{ id: "a", name: "A", price: 100, currency: "USD", delivery: "none", stock: 1_000 }],
      waitingRoom: { admitPerSecond: 500, admissionSeconds: 600, opensSecondsBefore: 7_200 },
    },
    T0,
    out,
  );
  for (let i = 0; i < count; i += 1) {
    ledger.join(`buyer-${i}`, T0 + 1 + Math.floor(i / 1_000), 0, out);
    if (out.length >= 10_000) out.length = 0;
  }
  return ledger;
}

test("a million buyers waiting for the draw take at most 150 MB of tables, and the draw ranks each once", () => {
  const ledger = crowd(MILLION);
  const room = ledger.state.room;
  if (room === null) throw new Error("no room");
  expect(room.waiting).toBe(MILLION);
  expect(room.bytes).toBeLessThan(150 * 1024 * 1024);
  const out: SaleEvent[] = [];
  ledger.queueTick(T0 + 3_600_000, 0x5eed, out);
  expect(out.map((e) => e.type)).toEqual(["queue_drawn"]);
  expect(room.nextRank).toBe(MILLION + 1);
  // assertAll checks every place's rank against the order: each rank held by exactly one buyer.
  ledger.state.assertAll();
  const firstTen = Array.from({ length: 10 }, (_, i) => room.place(`buyer-${i}`, T0 + 3_600_000));
  expect(firstTen.map((p) => (p.status === "waiting" ? p.rank : -1))).not.toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
}, 60_000);

test("the same joins and seed draw the same order; another seed draws another", () => {
  const ranks = (seed: number) => {
    const ledger = crowd(1_000);
    ledger.queueTick(T0 + 3_600_000, seed, []);
    return Array.from({ length: 1_000 }, (_, i) => {
      const place = ledger.state.room?.place(`buyer-${i}`, T0 + 3_600_000);
      return place?.status === "waiting" ? place.rank : -1;
    });
  };
  const a = ranks(7);
  expect(ranks(7)).toEqual(a);
  expect(ranks(8)).not.toEqual(a);
  expect([...a].sort((x, y) => x - y)).toEqual(Array.from({ length: 1_000 }, (_, i) => i + 1));
});

test("a snapshot image of a room of a million restores every place", () => {
  const ledger = crowd(MILLION);
  ledger.queueTick(T0 + 3_600_000, 99, []);
  const bytes = saveSale(ledger.state);
  const loaded = loadSale(bytes);
  const now = T0 + 3_600_000;
  for (const i of [0, 1, 77, 500_000, MILLION - 1]) expect(loaded.room?.place(`buyer-${i}`, now)).toEqual(ledger.state.room?.place(`buyer-${i}`, now));
  expect(loaded.room?.waiting).toBe(MILLION);
}, 60_000);
