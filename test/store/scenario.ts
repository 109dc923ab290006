// A hand-built sale history for the store conformance suite, with what a store must give back after
// applying it: the live part (StoredSale, for recovery) and every reservation in its final state (for
// the history reads). It touches every event type and the cases that make batching tricky: a hold
// placed and released in the same batch, an expired hold confirmed late, codes added and delivered,
// a failed payment, a second payment for a confirmed reservation, patches before and after holds.
// The events are exactly what the ledger would record (ids, sequence numbers and rows included):
// the suite replays them through SaleState.apply, which checks that.

import type { StoredSale } from "../../src/ledger/restore.ts";
import { formatReservationId } from "../../src/ledger/reservation-id.ts";
import { holdFingerprint } from "../../src/ledger/sale-ledger.ts";
import type { Payment, Reservation, SaleEvent } from "../../src/ledger/types.ts";

export const T0 = 1_760_000_000_000;
const HOLD_MS = 600_000;
/** When r3's hold runs out. */
const E = T0 + 13 + HOLD_MS;
/** When the suite loads the scenario: every keyed hold of it is younger than 24 h. */
export const LOAD_AT = T0 + 700_000;

/** A code with every character an array literal, CSV or COPY has to escape. */
export const AWKWARD_CODE = `Q"{,}\\'x\t`;
/** A buyer id that reads as NULL in COPY's text format unless escaped, and a key full of escapes. */
export const AWKWARD_USER = "\\N";
const AWKWARD_KEY = `k\\1\t"{x}"\r\n`;

type HoldName = "r1" | "r2" | "r3" | "r4" | "r5";
type HoldPlaced = Extract<SaleEvent, { type: "hold_placed" }>;

export type Scenario = {
  events: SaleEvent[];
  /** What loadSales must return at LOAD_AT. */
  expected: StoredSale;
  /** Every reservation in its final state, in creation order, codes included. */
  reservations: Reservation[];
  /** The reservation ids, by the names this file gives the holds. */
  ids: Record<HoldName, string>;
};

export function scenario(saleId: string): Scenario {
  // Sequence numbers count holds; rows are the ones the hold table hands out (a freed row is reused
  // first, last freed first): r3 reuses r2's row, r5 reuses r4's.
  const place = { r1: [1, 0], r2: [2, 1], r3: [3, 1], r4: [4, 2], r5: [5, 2] } as const;
  const ids = Object.fromEntries(
    Object.entries(place).map(([name, [seq, row]]) => [name, formatReservationId(saleId, seq, row)]),
  ) as Record<HoldName, string>;
  const hold = (name: HoldName, at: number, userId: string, itemId: string, quantity: number, key: string | null): HoldPlaced => {
    const price = itemId === "tee" ? 2500 : 5000;
    const [seq, row] = place[name];
    return {
      type: "hold_placed", saleId, at, reservationId: ids[name], seq, row, itemId, userId, quantity, amount: price * quantity,
      currency: "EUR", expiresAt: at + HOLD_MS, idempotencyKey: key, fingerprint: key === null ? null : holdFingerprint(itemId, quantity),
      token: 0,
    };
  };
  const ended = (type: "hold_released" | "hold_expired", name: HoldName, at: number, itemId: string, quantity: number): SaleEvent => {
    const [seq, row] = place[name];
    const base = { saleId, at, reservationId: ids[name], seq, row, itemId, quantity };
    return type === "hold_released" ? { type, ...base, token: 7 } : { type, ...base };
  };
  const confirm = (name: HoldName, late: boolean, userId: string, itemId: string, quantity: number, codes: string[]) => {
    const [seq, row] = place[name];
    return { late, itemId, quantity, codes, userId, seq, row };
  };
  const payment = (eventId: string, paymentId: string, name: HoldName, amount: number, at: number,
    status: Payment["status"], outcome: Payment["outcome"]): Payment => ({
    paymentId, eventId, saleId, reservationId: ids[name], amount, currency: "EUR", status, outcome, receivedAt: at,
  });
  const payments = [
    payment("ev1", "p1", "r1", 5000, E + 1, "succeeded", "confirmed"),
    payment("ev2", "p2", "r4", 10000, E + 2, "succeeded", "confirmed"),
    payment("ev3", "p3", "r2", 2500, E + 3, "failed", "ignored"),
    payment("ev4", "p4", "r3", 2500, E + 4, "succeeded", "confirmed_late"),
    payment("ev5", "p5", "r1", 5000, E + 5, "succeeded", "refund_required"),
  ] as const;
  const holds = {
    r1: hold("r1", T0 + 10, "alice", "tee", 2, AWKWARD_KEY),
    r2: hold("r2", T0 + 11, AWKWARD_USER, "tee", 1, null),
    r3: hold("r3", T0 + 13, "carol", "tee", 1, null),
    r4: hold("r4", T0 + 14, "dave", "card", 2, null),
    r5: hold("r5", E + 6, "erin", "card", 1, "key-5"),
  };
  const events: SaleEvent[] = [
    {
      type: "sale_created", saleId, at: T0,
      sale: {
        id: saleId, name: "Drop", startsAt: T0, endsAt: T0 + 3_600_000, holdSeconds: 600, limitPerUser: 5,
        items: [
          { id: "tee", name: "Tee", price: 2500, currency: "EUR", delivery: "none", stock: 10 },
          { id: "card", name: "Gift card", price: 5000, currency: "EUR", delivery: "codes", stock: 0 },
        ],
      },
    },
    { type: "sale_patched", saleId, at: T0 + 1, patch: { name: "Renamed drop", limitPerUser: 4 } },
    { type: "stock_adjusted", saleId, at: T0 + 2, itemId: "tee", delta: 5 },
    { type: "codes_added", saleId, at: T0 + 3, itemId: "card", codes: ["C-1", "C-2", "C-3", AWKWARD_CODE] },
    holds.r1,
    holds.r2,
    ended("hold_released", "r2", T0 + 12, "tee", 1),
    holds.r3,
    holds.r4,
    ended("hold_expired", "r3", E, "tee", 1),
    { type: "payment_recorded", saleId, at: E + 1, payment: payments[0], confirm: confirm("r1", false, "alice", "tee", 2, []) },
    { type: "payment_recorded", saleId, at: E + 2, payment: payments[1], confirm: confirm("r4", false, "dave", "card", 2, ["C-1", "C-2"]) },
    { type: "payment_recorded", saleId, at: E + 3, payment: payments[2], confirm: null },
    { type: "payment_recorded", saleId, at: E + 4, payment: payments[3], confirm: confirm("r3", true, "carol", "tee", 1, []) },
    { type: "payment_recorded", saleId, at: E + 5, payment: payments[4], confirm: null },
    holds.r5,
    { type: "sale_patched", saleId, at: E + 7, patch: { paused: true, endsAt: T0 + 7_200_000 } },
  ];
  const reservation = (
    event: HoldPlaced,
    end: { status: Reservation["status"]; endedAt: number; paymentId: string | null; codes: string[] },
  ): Reservation => {
    const { reservationId: id, itemId, userId, quantity, amount, currency, at: createdAt, expiresAt } = event;
    return { id, saleId, itemId, userId, quantity, amount, currency, createdAt, expiresAt, ...end };
  };
  const final = {
    r1: reservation(holds.r1, { status: "confirmed", endedAt: E + 1, paymentId: "p1", codes: [] }),
    r2: reservation(holds.r2, { status: "released", endedAt: T0 + 12, paymentId: null, codes: [] }),
    r3: reservation(holds.r3, { status: "confirmed", endedAt: E + 4, paymentId: "p4", codes: [] }),
    r4: reservation(holds.r4, { status: "confirmed", endedAt: E + 2, paymentId: "p2", codes: ["C-1", "C-2"] }),
    r5: reservation(holds.r5, { status: "held", endedAt: 0, paymentId: null, codes: [] }),
  };
  const keyed = (name: "r1" | "r5") => {
    const placed = holds[name];
    // A key is remembered with the reservation's first answer; codes delivered since are not part of it.
    return { ...final[name], codes: [], idempotencyKey: placed.idempotencyKey as string, fingerprint: placed.fingerprint as string };
  };
  const expected: StoredSale = {
    sale: { id: saleId, name: "Renamed drop", startsAt: T0, endsAt: T0 + 7_200_000, holdSeconds: 600, limitPerUser: 4, paused: true, createdAt: T0 },
    items: [
      { id: "tee", name: "Tee", price: 2500, currency: "EUR", delivery: "none", stock: 15, available: 12, held: 0, confirmed: 3, codes: [] },
      {
        id: "card", name: "Gift card", price: 5000, currency: "EUR", delivery: "codes", stock: 4, available: 1, held: 1, confirmed: 2,
        codes: [
          { code: "C-1", assigned: true },
          { code: "C-2", assigned: true },
          { code: "C-3", assigned: false },
          { code: AWKWARD_CODE, assigned: false },
        ],
      },
    ],
    holds: [final.r5],
    // r2's buyer released theirs and owns nothing; erin only holds. In byte order of the buyer id.
    confirmedUnits: [
      { userId: "alice", units: 2 },
      { userId: "carol", units: 1 },
      { userId: "dave", units: 2 },
    ],
    keyed: [keyed("r1"), keyed("r5")],
    payments: [...payments],
    holdCount: 5,
  };
  return { events, expected, reservations: [final.r1, final.r2, final.r3, final.r4, final.r5], ids };
}
