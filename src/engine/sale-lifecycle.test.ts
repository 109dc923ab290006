// The owner's part of the operators' trail: a sale's status changes and items selling out are
// reported once each, after the commit that caused them or on the clock's tick, and never again
// for a state the owner already reported (or recovered at start).

import { describe, expect, test } from "bun:test";
import { SaleLedger } from "../ledger/sale-ledger.ts";
import type { SaleEvent, SaleSpec } from "../ledger/types.ts";
import type { OwnedSale } from "./owned-sales.ts";
import { type LifecycleEvent, SaleLifecycle } from "./sale-lifecycle.ts";

const T0 = Date.parse("2026-12-01T20:00:00.000Z");
const spec: SaleSpec = {
  id: "drop",
  name: "Drop",
  startsAt: T0 + 60_000,
  endsAt: T0 + 3_600_000,
  holdSeconds: 600,
  limitPerUser: 5,
  items: [
    { id: "a", name: "A", price: 100, currency: "USD", delivery: "none", stock: 2 },
    { id: "codes", name: "Codes", price: 100, currency: "USD", delivery: "codes", stock: 0 },
  ],
};

function owned(): OwnedSale {
  const ledger = SaleLedger.create(spec, T0, []);
  return { ledger, snapshotSeq: 0, lastEventSeq: 0, changedSinceSnapshot: 0, snapshotTakenAt: 0, snapshotting: false, document: null };
}

function run(sale: OwnedSale, now: number, command: Parameters<SaleLedger["execute"]>[0]) {
  const out: SaleEvent[] = [];
  return sale.ledger.execute(command, now, out);
}

const hold = (userId: string, quantity = 1) => ({ kind: "hold" as const, userId, itemId: "a", quantity, idempotencyKey: null });

describe("SaleLifecycle", () => {
  test("a new sale, its opening on the clock, a pause and a resume, selling out once, restocked and sold out again", () => {
    const events: LifecycleEvent[] = [];
    const lifecycle = new SaleLifecycle((event) => events.push(event));
    const sale = owned();
    lifecycle.afterCommit(sale, T0);
    expect(events).toEqual([{ kind: "status", saleId: "drop", from: null, to: "scheduled" }]);

    lifecycle.tick([sale], T0 + 30_000);
    expect(events).toHaveLength(1);
    lifecycle.tick([sale], T0 + 60_000);
    expect(events.at(-1)).toEqual({ kind: "status", saleId: "drop", from: "scheduled", to: "open" });

    run(sale, T0 + 61_000, { kind: "patch", patch: { paused: true } });
    lifecycle.afterCommit(sale, T0 + 61_000);
    run(sale, T0 + 62_000, { kind: "patch", patch: { paused: false } });
    lifecycle.afterCommit(sale, T0 + 62_000);
    expect(events.slice(-2).map((event) => (event.kind === "status" ? event.to : event.kind))).toEqual(["paused", "open"]);

    expect(run(sale, T0 + 63_000, hold("u1")).ok).toBe(true);
    lifecycle.afterCommit(sale, T0 + 63_000);
    expect(events).toHaveLength(4); // one unit left: nothing to say
    expect(run(sale, T0 + 63_000, hold("u2")).ok).toBe(true);
    lifecycle.afterCommit(sale, T0 + 63_000);
    lifecycle.afterCommit(sale, T0 + 63_001);
    // The codes item has no stock at all: it was never "sold out", so it is never reported.
    expect(events.filter((event) => event.kind === "sold_out")).toEqual([{ kind: "sold_out", saleId: "drop", itemId: "a" }]);

    run(sale, T0 + 64_000, { kind: "stock", itemId: "a", delta: 1 });
    lifecycle.afterCommit(sale, T0 + 64_000);
    expect(run(sale, T0 + 65_000, hold("u3")).ok).toBe(true);
    lifecycle.afterCommit(sale, T0 + 65_000);
    expect(events.filter((event) => event.kind === "sold_out")).toHaveLength(2);

    lifecycle.tick([sale], T0 + 3_600_000);
    expect(events.at(-1)).toEqual({ kind: "status", saleId: "drop", from: "open", to: "ended" });
  });

  test("a sale recovered at start is where the trail goes on from: nothing is reported for it until it changes", () => {
    const events: LifecycleEvent[] = [];
    const lifecycle = new SaleLifecycle((event) => events.push(event));
    const sale = owned();
    run(sale, T0 + 61_000, hold("u1", 2));
    lifecycle.baseline(sale, T0 + 61_000);
    lifecycle.afterCommit(sale, T0 + 61_000);
    lifecycle.tick([sale], T0 + 62_000);
    expect(events).toEqual([]);
  });
});
