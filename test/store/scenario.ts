// A hand-built sale history for the store conformance suite, with the snapshot a store must load
// back after applying it. It touches every event type and the cases that make batching tricky: a hold
// placed and released in the same batch, an expired hold confirmed late, codes added and delivered,
// a failed payment, a second payment for a confirmed reservation, patches before and after holds.

import { holdFingerprint } from "../../src/ledger/sale-ledger.ts";
import type { SaleSnapshot } from "../../src/ledger/restore.ts";
import type { Payment, SaleEvent } from "../../src/ledger/types.ts";

export const T0 = 1_760_000_000_000;
const HOLD_MS = 600_000;
/** When r3's hold runs out. */
const E = T0 + 13 + HOLD_MS;

/** A code with every character an array literal, CSV or COPY has to escape. */
export const AWKWARD_CODE = `Q"{,}\\'x\t`;
/** A buyer id that reads as NULL in COPY's text format unless escaped, and a key full of escapes. */
const AWKWARD_USER = "\\N";
const AWKWARD_KEY = `k\\1\t"{x}"\r\n`;

/** Reservation ids are global in a store, so each run's carry its sale id: `<saleId>.r1`. */
export const rid = (saleId: string, name: string) => `${saleId}.${name}`;

export function scenario(saleId: string): { events: SaleEvent[]; expected: SaleSnapshot } {
  const r = (name: string) => rid(saleId, name);
  const hold = (reservationId: string, at: number, userId: string, itemId: string, quantity: number, key: string | null) => {
    const price = itemId === "tee" ? 2500 : 5000;
    const event: SaleEvent = {
      type: "hold_placed", saleId, at, reservationId, itemId, userId, quantity, amount: price * quantity,
      currency: "EUR", expiresAt: at + HOLD_MS, idempotencyKey: key, fingerprint: key === null ? null : holdFingerprint(itemId, quantity),
    };
    return event;
  };
  const payment = (eventId: string, paymentId: string, reservationId: string, amount: number, at: number,
    status: Payment["status"], outcome: Payment["outcome"]): Payment => ({
    paymentId, eventId, saleId, reservationId, amount, currency: "EUR", status, outcome, receivedAt: at,
  });
  const payments = [
    payment("ev1", "p1", r("r1"), 5000, E + 1, "succeeded", "confirmed"),
    payment("ev2", "p2", r("r4"), 10000, E + 2, "succeeded", "confirmed"),
    payment("ev3", "p3", r("r2"), 2500, E + 3, "failed", "ignored"),
    payment("ev4", "p4", r("r3"), 2500, E + 4, "succeeded", "confirmed_late"),
    payment("ev5", "p5", r("r1"), 5000, E + 5, "succeeded", "refund_required"),
  ] as const;
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
    hold(r("r1"), T0 + 10, "alice", "tee", 2, AWKWARD_KEY),
    hold(r("r2"), T0 + 11, AWKWARD_USER, "tee", 1, null),
    { type: "hold_released", saleId, at: T0 + 12, reservationId: r("r2"), itemId: "tee", quantity: 1 },
    hold(r("r3"), T0 + 13, "carol", "tee", 1, null),
    hold(r("r4"), T0 + 14, "dave", "card", 2, null),
    { type: "hold_expired", saleId, at: E, reservationId: r("r3"), itemId: "tee", quantity: 1 },
    { type: "payment_recorded", saleId, at: E + 1, payment: payments[0], confirm: { late: false, itemId: "tee", quantity: 2, codes: [] } },
    { type: "payment_recorded", saleId, at: E + 2, payment: payments[1], confirm: { late: false, itemId: "card", quantity: 2, codes: ["C-1", "C-2"] } },
    { type: "payment_recorded", saleId, at: E + 3, payment: payments[2], confirm: null },
    { type: "payment_recorded", saleId, at: E + 4, payment: payments[3], confirm: { late: true, itemId: "tee", quantity: 1, codes: [] } },
    { type: "payment_recorded", saleId, at: E + 5, payment: payments[4], confirm: null },
    hold(r("r5"), E + 6, "erin", "card", 1, "key-5"),
    { type: "sale_patched", saleId, at: E + 7, patch: { paused: true, endsAt: T0 + 7_200_000 } },
  ];
  const reservation = (event: SaleEvent, end: { status: "held" | "confirmed" | "released" | "expired"; endedAt: number; paymentId: string | null; codes: string[] }) => {
    if (event.type !== "hold_placed") throw new Error("not a hold");
    const { reservationId: id, itemId, userId, quantity, amount, currency, at: createdAt, expiresAt, idempotencyKey, fingerprint } = event;
    return { id, saleId, itemId, userId, quantity, amount, currency, createdAt, expiresAt, idempotencyKey, fingerprint, ...end };
  };
  const holdAt = (i: number) => events[i] as SaleEvent;
  const expected: SaleSnapshot = {
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
    reservations: [
      reservation(holdAt(4), { status: "confirmed", endedAt: E + 1, paymentId: "p1", codes: [] }),
      reservation(holdAt(5), { status: "released", endedAt: T0 + 12, paymentId: null, codes: [] }),
      reservation(holdAt(7), { status: "confirmed", endedAt: E + 4, paymentId: "p4", codes: [] }),
      reservation(holdAt(8), { status: "confirmed", endedAt: E + 2, paymentId: "p2", codes: ["C-1", "C-2"] }),
      reservation(holdAt(15), { status: "held", endedAt: 0, paymentId: null, codes: [] }),
    ],
    payments: [...payments],
  };
  return { events, expected };
}
