// The outbox's hand-written JSON of a reservation must be the buyer's view (ledger/views.ts) as
// JSON.stringify writes it, byte for byte: receivers verify signatures over these exact bytes, and
// the API promises the same shape everywhere.

import { expect, test } from "bun:test";
import fc from "fast-check";
import { type ReservationBase, reservationJson, reservationViewOf } from "../../src/webhooks/outbox.ts";

const base = (userId: string, saleId = "drop-42"): ReservationBase => ({
  id: `${saleId}.00000007.3`,
  saleId,
  itemId: "hoodie-m",
  userId,
  quantity: 2,
  amount: 9_800,
  currency: "USD",
  createdAt: Date.UTC(2026, 10, 22, 20, 0, 0, 123),
  expiresAt: Date.UTC(2026, 10, 22, 20, 10, 0, 123),
});

test("reservationJson is JSON.stringify of the buyer's view, for every status and any buyer id", () => {
  for (const status of ["held", "confirmed", "released", "expired"] as const) {
    for (const userId of ["u1", 'quote"back\\slash', "tab\tnew\nline", "ünï €", "\u2028\u2029", "emoji 🎟️", "\u0000\u001f"]) {
      const codes = ["C-1", 'Q"{,}\\', "x"];
      expect(reservationJson(base(userId), status, codes)).toBe(JSON.stringify(reservationViewOf(base(userId), status, codes)));
    }
  }
  fc.assert(
    fc.property(fc.string(), fc.string(), fc.array(fc.string(), { maxLength: 3 }), (userId, saleId, codes) => {
      const b = base(userId, saleId);
      return reservationJson(b, "confirmed", codes) === JSON.stringify(reservationViewOf(b, "confirmed", codes));
    }),
    { numRuns: 500 },
  );
});
