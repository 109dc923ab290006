// The journal's binary batches give back exactly the events that went in, for every kind of event
// and for strings outside ASCII; JSON batches of the first format still decode.

import { expect, test } from "bun:test";
import { SaleLedger } from "../ledger/sale-ledger.ts";
import type { SaleCommand, SaleEvent } from "../ledger/types.ts";
import { BatchWriter, batchTokens, decodeBatch } from "./codec.ts";

const T0 = Date.UTC(2026, 11, 1);

function events(): SaleEvent[] {
  const out: SaleEvent[] = [];
  const ledger = SaleLedger.create(
    {
      id: "drop-ü",
      name: "Drop ü 名前",
      startsAt: T0,
      endsAt: T0 + 86_400_000,
      holdSeconds: 86_400,
      limitPerUser: 5,
      items: [
        { id: "a", name: "A", price: 4900, currency: "USD", delivery: "none", stock: 100 },
        { id: "c", name: "C", price: 100, currency: "EUR", delivery: "codes", stock: 0 },
      ],
    },
    T0,
    out,
  );
  const ids: string[] = [];
  const run = (command: SaleCommand, at: number) => {
    const outcome = ledger.execute(command, at, out);
    if (outcome.ok && "reservation" in outcome) ids.push(outcome.reservation.id);
  };
  run({ kind: "codes", itemId: "c", codes: ["X-1", "X-2", "Ç-3"] }, T0 + 1);
  run({ kind: "hold", userId: "ålice", itemId: "a", quantity: 2, idempotencyKey: "key 1 ☃", token: 7 * 2 ** 32 + 99 }, T0 + 2);
  run({ kind: "hold", userId: "bob", itemId: "c", quantity: 1, idempotencyKey: null }, T0 + 3);
  run({ kind: "hold", userId: "carol", itemId: "a", quantity: 1, idempotencyKey: null }, T0 + 4);
  run({ kind: "release", reservationId: ids[0] as string, userId: "ålice", token: 12345 }, T0 + 5);
  run({ kind: "payment", eventId: "e1", paymentId: "p1", reservationId: ids[1] as string, status: "succeeded", amount: 100, currency: "EUR" }, T0 + 6);
  run({ kind: "patch", patch: { paused: true, name: "Paused" } }, T0 + 7);
  run({ kind: "stock", itemId: "a", delta: -3 }, T0 + 8);
  run({ kind: "expire" }, T0 + 86_400_000 + 10);
  return out;
}

test("a binary batch decodes to the events it was made from", () => {
  const all = events();
  expect(new Set(all.map((e) => e.type)).size).toBe(8);
  const writer = new BatchWriter();
  const bytes = writer.encode(all).slice();
  expect(decodeBatch(bytes)).toEqual(all);
  // Reused buffer: a second, smaller batch decodes on its own.
  expect(decodeBatch(writer.encode(all.slice(2, 4)).slice())).toEqual(all.slice(2, 4));
  expect(batchTokens(bytes).map((t) => [t.token, t.released])).toEqual([
    [7 * 2 ** 32 + 99, false],
    [12345, true],
  ]);
});

test("a large rare event (100000 codes) survives the u32-length JSON path", () => {
  const codes = Array.from({ length: 100_000 }, (_, i) => `CODE-${i.toString(36).padStart(8, "0")}`);
  const event: SaleEvent = { type: "codes_added", saleId: "s", at: T0, itemId: "c", codes };
  expect(decodeBatch(new BatchWriter().encode([event]).slice())).toEqual([event]);
});

test("a JSON batch of the first format still decodes", () => {
  const old: SaleEvent[] = [{ type: "stock_adjusted", saleId: "s", at: T0, itemId: "a", delta: 5 }];
  expect(decodeBatch(Buffer.from(JSON.stringify(old)))).toEqual(old);
});

test("the waiting room's events decode to themselves, joins in their binary form", () => {
  const out: SaleEvent[] = [];
  const ledger = SaleLedger.create(
    {
      id: "drop-q",
      name: "Queue",
      startsAt: T0 + 1_000,
      endsAt: T0 + 86_400_000,
      holdSeconds: 600,
      limitPerUser: 1,
      items: [{ id: "a", name: "A", price: 100, currency: "USD", delivery: "none", stock: 10 }],
      waitingRoom: { admitPerSecond: 5, admissionSeconds: 600, opensSecondsBefore: 900 },
    },
    T0,
    out,
  );
  ledger.join("ålice", T0 + 1, 1, out);
  ledger.join("bob", T0 + 2, 2, out);
  ledger.queueTick(T0 + 5_000, 0xfeedbeef, out);
  ledger.join("carol 名前", T0 + 5_001, 3, out);
  expect(out.map((e) => e.type)).toEqual(["sale_created", "queue_joined", "queue_joined", "queue_drawn", "queue_admitted", "queue_joined"]);
  expect(decodeBatch(new BatchWriter().encode(out).slice())).toEqual(out);
  const soldOut: SaleEvent = { type: "queue_sold_out", saleId: "drop-q", at: T0 + 9 };
  expect(decodeBatch(new BatchWriter().encode([soldOut]).slice())).toEqual([soldOut]);
});
