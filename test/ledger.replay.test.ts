// Replay of the ledger's events (DESIGN.md: "events carry enough data to rebuild state without the store").
// A deterministic stream of 200k holds, releases, payments and admin changes on one sale is replayed into a
// fresh ledger, which must rebuild the same sale; and a corrupted event must stop a replay with an
// InvariantViolation instead of building a sale that breaks an invariant.

import { describe, expect, test } from "bun:test";
import { InvariantViolation } from "../src/ledger/invariant.ts";
import { RecentEnded } from "../src/ledger/recent-ended.ts";
import { formatReservationId } from "../src/ledger/reservation-id.ts";
import { loadSale, saveSale } from "../src/ledger/sale-image.ts";
import { SaleLedger } from "../src/ledger/sale-ledger.ts";
import type { SaleState } from "../src/ledger/sale-state.ts";
import type { Confirmation, SaleCommand, SaleEvent, SalePatch, SaleSpec } from "../src/ledger/types.ts";
import { mulberry32 } from "../src/ledger/waiting-room.ts";

const T0 = Date.UTC(2026, 10, 22, 20, 0, 0);
/** The recent window of ended reservations, large enough to keep every one of a run for comparison. */
const WINDOW = 300_000;
const DAY_MS = 24 * 60 * 60 * 1000;

/** The seeded generator the waiting room draws with: a failure replays exactly from its seed. */
const random = mulberry32;

function rebuild(events: readonly SaleEvent[]): SaleLedger {
  const [first, ...rest] = events;
  if (first?.type !== "sale_created") throw new Error("the first event is not sale_created");
  const ledger = SaleLedger.fromCreated(first, new RecentEnded(WINDOW));
  for (const event of rest) ledger.state.apply(event);
  return ledger;
}

/** Everything a sale knows, as plain data; idempotency keys past their 24 h may or may not be pruned yet. */
function snapshot(s: SaleState, now: number) {
  const sorted = <T,>(list: T[]) => list.map((x) => JSON.stringify(x)).sort();
  return {
    sale: [s.name, s.startsAt, s.endsAt, s.holdSeconds, s.limitPerUser, s.paused, s.createdAt, s.version, s.status(now)],
    items: [...s.items.values()].map((i) => [i.id, i.stock, i.available, i.held, i.confirmed, i.unassignedCodeList()]),
    live: liveRows(s).map((row) => s.liveReservation(row)),
    ended: [...s.recent.values()].map((r) => ({ ...r, codes: [...r.codes] })),
    units: sorted([...s.buyers.entries()].map(([index, name]) => [name, s.buyers.units[index], s.liveOf(name).map((r) => r.id)])),
    holdSeq: s.holdSeq,
    nextRow: s.holds.peekFree(),
    payments: [...s.paymentsByEvent.values()].map((p) => ({ ...p })),
    paymentsById: sorted([...s.paymentsById].map(([id, p]) => [id, p.eventId])),
    idempotency: sorted([...s.idempotency].filter(([, rec]) => rec.at + DAY_MS > now)),
  };
}

function liveRows(s: SaleState): number[] {
  const rows: number[] = [];
  for (let row = 0; row < s.holds.usedRows; row += 1) if (s.holds.seq[row] !== 0) rows.push(row);
  return rows;
}

const BIG_SPEC: SaleSpec = {
  id: "big-drop",
  name: "Big drop",
  startsAt: T0,
  endsAt: T0 + 7 * DAY_MS,
  holdSeconds: 30,
  limitPerUser: 6,
  items: [
    { id: "hoodie", name: "Hoodie", price: 4900, currency: "USD", delivery: "none", stock: 60_000 },
    { id: "cap", name: "Cap", price: 1250, currency: "EUR", delivery: "none", stock: 5_000 },
    { id: "gift", name: "Gift card", price: 5000, currency: "USD", delivery: "codes", stock: 0 },
  ],
};

test("200k random commands on one sale, replayed from their events, rebuild the same sale", () => {
  const next = random(0x5eed);
  const int = (n: number) => Math.floor(next() * n);
  const events: SaleEvent[] = [];
  const ledger = SaleLedger.create(BIG_SPEC, T0, events, new RecentEnded(WINDOW));
  let now = T0;
  // Tracked from the events alone, independent of the ledger's own bookkeeping.
  const expiresAtOf = new Map<string, number>();
  const live = new Set<string>();
  // Holds of one length, in the order they were placed, are in expiry order (the clock only goes forward):
  // the oldest live one of each length is the only one that can be due first.
  const byHoldLength = new Map<number, { ids: string[]; head: number }>();
  const reservationIds: string[] = [];
  const paymentIds: string[] = [];
  const eventIds: string[] = [];
  const tally = new Map<string, number>();
  let codeSerial = 0;
  const addCodes = (count: number): SaleCommand => {
    const codes: string[] = [];
    for (let i = 0; i < count; i += 1) codes.push(`G-${next() < 0.05 && codeSerial > 0 ? int(codeSerial) : codeSerial++}`);
    return { kind: "codes", itemId: "gift", codes };
  };
  const anyReservation = () => reservationIds[Math.max(0, reservationIds.length - 1 - int(6000))] ?? "none";
  const nextCommand = (n: number): SaleCommand => {
    const roll = next();
    if (roll < 0.42) {
      const userId = `user-${int(20_000)}`;
      const itemId = ["hoodie", "hoodie", "cap", "gift"][int(4)] as string;
      const key = next() < 0.2 ? `key-${int(3)}` : null;
      return { kind: "hold", userId, itemId, quantity: 1 + int(3), idempotencyKey: key };
    }
    if (roll < 0.57) {
      const reservationId = anyReservation();
      const owner = ledger.state.findReservation(reservationId)?.userId ?? "nobody";
      return { kind: "release", reservationId, userId: next() < 0.9 ? owner : `user-${int(20_000)}` };
    }
    if (roll < 0.85) {
      const reservationId = anyReservation();
      const reservation = ledger.state.findReservation(reservationId);
      const eventId = next() < 0.08 && eventIds.length > 0 ? (eventIds[int(eventIds.length)] as string) : `evt-${n}`;
      const paymentId = next() < 0.08 && paymentIds.length > 0 ? (paymentIds[int(paymentIds.length)] as string) : `pay-${n}`;
      eventIds.push(eventId);
      paymentIds.push(paymentId);
      const amount = (reservation?.amount ?? 100) + (next() < 0.05 ? 1 : 0);
      const status = next() < 0.1 ? "failed" : "succeeded";
      return { kind: "payment", eventId, paymentId, reservationId, status, amount, currency: reservation?.currency ?? "USD" };
    }
    if (roll < 0.96) return { kind: "expire" };
    if (roll < 0.98) return { kind: "stock", itemId: next() < 0.5 ? "hoodie" : "cap", delta: int(101) - 50 };
    if (roll < 0.99) return addCodes(next() < 0.2 ? 40 : 0);
    const patches: SalePatch[] = [{ limitPerUser: 4 + int(5) }, { paused: next() < 0.1 }, { holdSeconds: [5, 30, 60][int(3)] }];
    return { kind: "patch", patch: patches[int(3)] as SalePatch };
  };

  for (let n = 0; n <= 200_000; n += 1) {
    const command = n === 0 ? addCodes(8_000) : nextCommand(n);
    now += int(3);
    const out: SaleEvent[] = [];
    const outcome = ledger.execute(command, now, out);
    const label = !outcome.ok ? outcome.refusal : "payment" in outcome ? outcome.payment : command.kind;
    tally.set(label, (tally.get(label) ?? 0) + 1);
    for (const event of out) {
      events.push(event);
      if (event.type === "hold_placed") {
        expiresAtOf.set(event.reservationId, event.expiresAt);
        live.add(event.reservationId);
        reservationIds.push(event.reservationId);
        const holdLength = event.expiresAt - event.at;
        const queue = byHoldLength.get(holdLength) ?? { ids: [], head: 0 };
        byHoldLength.set(holdLength, queue);
        queue.ids.push(event.reservationId);
      } else if (event.type === "hold_released" || event.type === "hold_expired") {
        if (!live.delete(event.reservationId)) throw new Error(`${event.type} of ${event.reservationId}, which is not held`);
        if (event.type === "hold_expired") {
          const expiresAt = expiresAtOf.get(event.reservationId) as number;
          if (event.at < expiresAt) throw new Error(`${event.reservationId} expired at ${event.at}, before ${expiresAt}`);
          tally.set("hold_expired", (tally.get("hold_expired") ?? 0) + 1);
        }
      } else if (event.type === "payment_recorded" && event.confirm !== null && !event.confirm.late) {
        if (!live.delete(event.payment.reservationId)) throw new Error(`confirmed ${event.payment.reservationId}, which is not held`);
      }
    }
    // Every hold that is due is gone after an expiry pass (invariant 6: its stock returns).
    if (command.kind === "expire") {
      for (const queue of byHoldLength.values()) {
        while (queue.head < queue.ids.length && !live.has(queue.ids[queue.head] as string)) queue.head += 1;
        const oldest = queue.ids[queue.head];
        if (oldest !== undefined && (expiresAtOf.get(oldest) as number) <= now) {
          throw new Error(`hold ${oldest} is due at ${now} and still held after an expiry pass`);
        }
      }
    }
  }
  ledger.state.assertAll();

  // The run covered what it should, so that an equal replay means something.
  for (const label of ["hold", "sold_out", "limit_exceeded", "release", "not_held", "confirmed", "confirmed_late",
                       "already_confirmed", "refund_required", "ignored", "hold_expired", "insufficient_stock"]) {
    expect(tally.get(label) ?? 0).toBeGreaterThan(50);
  }
  // Enough codes were delivered for the code pool to compact (past 4096 delivered and half the pool).
  const gift = ledger.state.items.get("gift");
  expect(gift?.confirmed).toBeGreaterThan(4096);
  expect((gift?.confirmed ?? 0) * 2).toBeGreaterThan(gift?.stock ?? 0);

  const replayed = rebuild(events);
  replayed.state.assertAll();
  expect(snapshot(replayed.state, now)).toEqual(snapshot(ledger.state, now));
  // The snapshot image recovery loads restores the same sale, but for the window of ended reservations.
  const image = saveSale(ledger.state);
  const imaged = new SaleLedger(loadSale(image));
  expect({ ...snapshot(imaged.state, now), ended: [] }).toEqual({ ...snapshot(ledger.state, now), ended: [] });

  // The rebuilt expiry schedule expires the same holds as the live one.
  const later = now + DAY_MS;
  const liveOut: SaleEvent[] = [];
  const replayOut: SaleEvent[] = [];
  ledger.execute({ kind: "expire" }, later, liveOut);
  replayed.execute({ kind: "expire" }, later, replayOut);
  const ids = (out: SaleEvent[]) => out.map((e) => (e.type === "hold_expired" ? e.reservationId : e.type)).sort();
  expect(ids(liveOut)).toEqual([...live].sort());
  expect(ids(replayOut)).toEqual([...live].sort());
  expect(snapshot(replayed.state, later)).toEqual(snapshot(ledger.state, later));
});

describe("a corrupted event stops the replay with an InvariantViolation", () => {
  // A small sale with one of everything: holds, a release, a confirmation with codes, an expiry.
  const spec: SaleSpec = {
    id: "small-drop",
    name: "Small drop",
    startsAt: T0,
    endsAt: T0 + DAY_MS,
    holdSeconds: 30,
    limitPerUser: 3,
    items: [
      { id: "hoodie", name: "Hoodie", price: 4900, currency: "USD", delivery: "none", stock: 4 },
      { id: "gift", name: "Gift card", price: 5000, currency: "USD", delivery: "codes", stock: 0 },
    ],
  };
  const events: SaleEvent[] = [];
  const ledger = SaleLedger.create(spec, T0, events, new RecentEnded(WINDOW));
  /** Reservation ids by the names the setup gives them (the ledger makes the ids). */
  const ids: Record<string, string> = {};
  const run = (command: SaleCommand, at: number, name?: string) => {
    const outcome = ledger.execute(command, at, events);
    if (!outcome.ok) throw new Error(`setup command refused: ${outcome.refusal}`);
    if (name !== undefined && "reservation" in outcome) ids[name] = outcome.reservation.id;
  };
  run({ kind: "codes", itemId: "gift", codes: ["G1", "G2", "G3", "G4", "G5"] }, T0);
  run({ kind: "hold", userId: "alice", itemId: "hoodie", quantity: 2, idempotencyKey: "k1" }, T0 + 1_000, "r1");
  run({ kind: "hold", userId: "bob", itemId: "hoodie", quantity: 1, idempotencyKey: null }, T0 + 2_000, "r2");
  run({ kind: "hold", userId: "carol", itemId: "gift", quantity: 2, idempotencyKey: null }, T0 + 3_000, "r3");
  run({ kind: "release", reservationId: ids.r2 as string, userId: "bob" }, T0 + 4_000);
  run({ kind: "payment", eventId: "evt1", paymentId: "pay1", reservationId: ids.r3 as string, status: "succeeded", amount: 10_000, currency: "USD" }, T0 + 5_000);
  run({ kind: "expire" }, T0 + 31_000);
  run({ kind: "hold", userId: "alice", itemId: "hoodie", quantity: 3, idempotencyKey: null }, T0 + 32_000, "r4");
  /** A well-formed next hold after the setup (number and row as the ledger would give them), changed by `changes`. */
  const nextHold = (changes: Partial<Extract<SaleEvent, { type: "hold_placed" }>>) => {
    const seq = ledger.state.holdSeq + 1;
    const row = ledger.state.holds.peekFree();
    return { ...placed("r4"), seq, row, reservationId: formatReservationId(spec.id, seq, row), at: T0 + 40_000, ...changes };
  };

  const indexOf = (match: (e: SaleEvent) => boolean) => {
    const index = events.findIndex(match);
    if (index < 0) throw new Error("setup lacks an event");
    return index;
  };
  const find = <K extends SaleEvent["type"]>(type: K, match: (e: Extract<SaleEvent, { type: K }>) => boolean = () => true) =>
    events[indexOf((e) => e.type === type && match(e as Extract<SaleEvent, { type: K }>))] as Extract<SaleEvent, { type: K }>;
  const placed = (name: string) => find("hold_placed", (e) => e.reservationId === ids[name]);
  const expired = find("hold_expired");
  const released = find("hold_released");
  const paid = find("payment_recorded");
  const codesAdded = find("codes_added");

  /** The events before `index` replay cleanly; the corrupted event after them must throw. */
  function expectViolation(index: number, corrupted: SaleEvent): void {
    const prefix = events.slice(0, index);
    const ledgerBefore = rebuild(prefix);
    ledgerBefore.state.assertAll();
    expect(() => ledgerBefore.state.apply(corrupted)).toThrow(InvariantViolation);
  }
  const atEnd = events.length;

  test("the uncorrupted stream replays to the same sale", () => {
    const replayed = rebuild(events);
    replayed.state.assertAll();
    expect(snapshot(replayed.state, T0 + 32_000)).toEqual(snapshot(ledger.state, T0 + 32_000));
    expect(replayed.state.findReservation(ids.r1 as string)?.status).toBe("expired");
    expect(replayed.state.findReservation(ids.r3 as string)?.codes).toEqual(["G1", "G2"]);
  });

  test("hold_expired before expiresAt", () => {
    const r1 = placed("r1");
    expectViolation(indexOf((e) => e === expired), { ...expired, at: r1.expiresAt - 1 });
  });

  test("hold_placed taking more than is available", () => {
    // After the expiry 4 hoodies are available, then r4 holds 3: one is left.
    expect(() => rebuild([...events, nextHold({ userId: "dave", quantity: 1, amount: 4_900 })]).state.assertAll()).not.toThrow();
    expectViolation(atEnd, nextHold({ userId: "dave", quantity: 2, amount: 9_800 }));
  });

  test("hold_placed taking a buyer past limitPerUser", () => {
    // alice holds 3, the limit
    expectViolation(atEnd, nextHold({ quantity: 1, amount: 4_900 }));
  });

  test("hold_placed reusing a reservation id, a number or a row out of turn", () => {
    const r2 = placed("r2");
    expectViolation(atEnd, { ...r2, at: T0 + 40_000 });
    const next = nextHold({ userId: "dave", quantity: 1, amount: 4_900 });
    expectViolation(atEnd, { ...next, seq: next.seq + 1, reservationId: formatReservationId(spec.id, next.seq + 1, next.row) });
    expectViolation(atEnd, { ...next, row: next.row + 1, reservationId: formatReservationId(spec.id, next.seq, next.row + 1) });
  });

  test("hold_released of a reservation that is no longer held", () => {
    expectViolation(atEnd, { ...released, at: T0 + 40_000 });
    const r1 = placed("r1"); // expired
    expectViolation(atEnd, { ...released, reservationId: r1.reservationId, seq: r1.seq, row: r1.row, quantity: 2, at: T0 + 40_000 });
  });

  test("hold_released or hold_expired that disagrees with its reservation", () => {
    const r4 = placed("r4");
    const release = { ...released, reservationId: r4.reservationId, seq: r4.seq, row: r4.row, itemId: r4.itemId, quantity: r4.quantity, at: T0 + 40_000 };
    expect(() => rebuild([...events, release]).state.assertAll()).not.toThrow(); // as it should be
    expectViolation(atEnd, { ...release, quantity: 2 });
    expectViolation(atEnd, { ...release, itemId: "gift" });
    expectViolation(atEnd, { ...release, type: "hold_expired", quantity: 1, at: r4.expiresAt });
    const confirm = paid.confirm as Confirmation;
    expectViolation(indexOf((e) => e === paid), { ...paid, confirm: { ...confirm, quantity: 1, codes: ["G1"] } });
  });

  test("hold_expired of an unknown reservation", () => {
    expectViolation(atEnd, { ...expired, reservationId: "nope", at: T0 + 90_000 });
    expectViolation(atEnd, { ...expired, seq: 99, at: T0 + 90_000 });
  });

  test("payment_recorded twice with the same eventId", () => {
    expectViolation(atEnd, { ...paid, at: T0 + 40_000 });
  });

  test("payment_recorded confirming a hold that has expired, as if it were live", () => {
    const r1 = placed("r1");
    const payment = { ...paid.payment, eventId: "evt9", paymentId: "pay9", reservationId: r1.reservationId, amount: 9_800 };
    const confirm = { late: false, itemId: "hoodie", quantity: 2, codes: [], userId: "alice", seq: r1.seq, row: r1.row };
    expectViolation(atEnd, { ...paid, at: T0 + 40_000, payment, confirm });
  });

  test("payment_recorded delivering codes out of order or too few", () => {
    const index = indexOf((e) => e === paid);
    const confirm = paid.confirm as Confirmation;
    expectViolation(index, { ...paid, confirm: { ...confirm, codes: ["G2", "G1"] } });
    expectViolation(index, { ...paid, confirm: { ...confirm, codes: ["G1"] } });
    expectViolation(index, { ...paid, confirm: { ...confirm, codes: ["G1", "G1"] } });
    expectViolation(index, { ...paid, confirm: { ...confirm, late: true } });
  });

  test("codes_added with a code the item already has", () => {
    expectViolation(atEnd, { ...codesAdded, at: T0 + 40_000, codes: ["G9", "G1"] });
  });

  test("stock_adjusted removing more than is available", () => {
    const event: SaleEvent = { type: "stock_adjusted", saleId: spec.id, at: T0 + 40_000, itemId: "hoodie", delta: -2 };
    expectViolation(atEnd, event);
    expectViolation(atEnd, { ...event, itemId: "gift", delta: 1 }); // a codes item's stock is its codes
  });

  test("sale_patched below holdings or with an empty window", () => {
    const event: SaleEvent = { type: "sale_patched", saleId: spec.id, at: T0 + 40_000, patch: { limitPerUser: 2 } };
    expectViolation(atEnd, event);
    expectViolation(atEnd, { ...event, patch: { endsAt: T0 } });
  });

  test("an event of another sale, or a second sale_created", () => {
    expectViolation(atEnd, { ...nextHold({ userId: "dave", quantity: 1, amount: 4_900 }), saleId: "other-drop" });
    expectViolation(atEnd, { ...(events[0] as SaleEvent), at: T0 + 40_000 });
  });
});

describe("assertAll finds per-buyer state that disagrees with the holds", () => {
  // The checks recovery runs over every buyer (half a million in the bench) are written to build
  // nothing unless they fail: each must still fail on the state it guards.
  const spec: SaleSpec = {
    id: "buyers-drop",
    name: "Buyers drop",
    startsAt: T0,
    endsAt: T0 + DAY_MS,
    holdSeconds: 30,
    limitPerUser: 3,
    items: [{ id: "tee", name: "Tee", price: 1500, currency: "USD", delivery: "none", stock: 10 }],
  };
  const build = () => {
    const events: SaleEvent[] = [];
    const ledger = SaleLedger.create(spec, T0, events, new RecentEnded(WINDOW));
    for (const [userId, quantity] of [["alice", 2], ["bob", 1], ["alice", 1]] as const) {
      const outcome = ledger.execute({ kind: "hold", userId, itemId: "tee", quantity, idempotencyKey: null }, T0 + 1_000, events);
      if (!outcome.ok) throw new Error(`setup hold refused: ${outcome.refusal}`);
    }
    ledger.state.assertAll();
    return ledger.state;
  };
  const cases: [string, (state: SaleState) => void, RegExp][] = [
    ["a buyer kept with no units", (s) => void (s.buyers.units[s.buyers.find("bob")] = 0), /bob kept in the table with no units/],
    ["a buyer past the limit", (s) => void (s.buyers.units[s.buyers.find("alice")] = 4), /alice past limitPerUser/],
    ["a buyer's total below what is held", (s) => void (s.buyers.units[s.buyers.find("alice")] = 2), /alice: total below what is held/],
    ["a buyer's list cut short", (s) => {
      const alice = s.buyers.find("alice");
      s.holds.nextOfBuyer[s.buyers.liveHead[alice] as number] = -1;
    }, /alice: live list disagrees with the table/],
  ];
  for (const [name, tamper, message] of cases) {
    test(name, () => {
      const state = build();
      tamper(state);
      expect(() => state.assertAll()).toThrow(message);
    });
  }
});
