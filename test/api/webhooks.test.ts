// The payment provider (API.md, "Payment provider"): every outcome of the signed webhook, the
// refunds listed for operators, and the refusals (signature, unknown sale or reservation, bad body).

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { signWebhook } from "../../src/auth/webhook-signature.ts";
import { type Harness, SECRETS, saleBody, startHarness } from "../support/harness.ts";
import {
  type Reservation,
  counts,
  createSale,
  expectProblem,
  expectStatus,
  expectValidation,
  held,
  outcomeOf,
  paymentFor,
  payments,
  reservationOf,
  sleep,
} from "./helpers.ts";

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

const release = async (r: Reservation) =>
  expectStatus(await h.buyer(r.userId, "DELETE", `/v1/sales/${r.saleId}/reservations/${r.id}`), 200);

const adminReservations = async (saleId: string) =>
  (await expectStatus<{ reservations: (Reservation & { paymentId: string | null })[] }>(
    await h.admin("GET", `/v1/admin/sales/${saleId}/reservations`),
    200,
  )).reservations;

describe("outcomes", () => {
  test("confirmed: the hold becomes confirmed and a codes item delivers its codes, to its buyer only", async () => {
    await createSale(h, saleBody("wh-confirm", { limitPerUser: 2 }));
    const added = await h.admin("POST", "/v1/admin/sales/wh-confirm/items/gift-50/codes", { codes: ["G-1", "G-2", "G-3", "G-4"] });
    expect(await added.json()).toEqual({ added: 4, duplicates: 0 });
    const alices = await held(h, "alice", "wh-confirm", "gift-50", 2);
    const bobs = await held(h, "bob", "wh-confirm", "gift-50", 2);
    // Codes are not visible while the reservation is only held.
    expect((await reservationOf(h, alices)).codes).toEqual([]);
    expect(await outcomeOf(await h.webhook(paymentFor(alices)))).toBe("confirmed");
    expect(await outcomeOf(await h.webhook(paymentFor(bobs)))).toBe("confirmed");
    const alicesNow = await reservationOf(h, alices);
    const bobsNow = await reservationOf(h, bobs);
    expect(alicesNow.status).toBe("confirmed");
    expect(alicesNow.codes.length).toBe(2);
    expect(bobsNow.codes.length).toBe(2);
    // Each code goes to one reservation only.
    expect([...alicesNow.codes, ...bobsNow.codes].sort()).toEqual(["G-1", "G-2", "G-3", "G-4"]);
    expect(await counts(h, "wh-confirm", "gift-50")).toEqual({ stock: 4, available: 0, held: 0, confirmed: 4 });
    // Operators never see the codes in listings.
    for (const r of await adminReservations("wh-confirm")) {
      expect(r.codes).toEqual([]);
      expect(r.status).toBe("confirmed");
    }
    // A plain item confirms with no codes.
    const hoodie = await held(h, "carol", "wh-confirm", "hoodie-m", 1);
    expect(await outcomeOf(await h.webhook(paymentFor(hoodie)))).toBe("confirmed");
    expect(await reservationOf(h, hoodie)).toMatchObject({ status: "confirmed", codes: [] });
    expect(await counts(h, "wh-confirm", "hoodie-m")).toEqual({ stock: 10, available: 9, held: 0, confirmed: 1 });
  });

  test("already_confirmed: the same eventId again, or the same paymentId under a new eventId, changes nothing", async () => {
    await createSale(h, saleBody("wh-dup"));
    await h.admin("POST", "/v1/admin/sales/wh-dup/items/gift-50/codes", { codes: ["D-1", "D-2"] });
    const reservation = await held(h, "alice", "wh-dup", "gift-50", 1);
    const event = paymentFor(reservation);
    expect(await outcomeOf(await h.webhook(event))).toBe("confirmed");
    const codes = (await reservationOf(h, reservation)).codes;
    expect(codes.length).toBe(1);
    const after = await counts(h, "wh-dup", "gift-50");
    expect(await outcomeOf(await h.webhook(event))).toBe("already_confirmed");
    expect(await outcomeOf(await h.webhook({ ...event, eventId: `${event.eventId}-retry` }))).toBe("already_confirmed");
    expect(await counts(h, "wh-dup", "gift-50")).toEqual(after);
    expect((await reservationOf(h, reservation)).codes).toEqual(codes);
    const listed = await payments(h, "wh-dup");
    expect(listed.filter((p) => p.paymentId === event.paymentId).length).toBe(1);
    expect(await payments(h, "wh-dup", "refund_required")).toEqual([]);
  });

  test("a payment is applied at most once, however many retries arrive together", async () => {
    await createSale(h, saleBody("wh-storm"));
    await h.admin("POST", "/v1/admin/sales/wh-storm/items/gift-50/codes", { codes: ["S-1", "S-2", "S-3"] });
    const reservation = await held(h, "alice", "wh-storm", "gift-50", 1);
    const event = paymentFor(reservation);
    const retries = [event, event, event, { ...event, eventId: "evt-storm-2" }, { ...event, eventId: "evt-storm-3" }, event];
    const outcomes = await Promise.all(retries.map(async (retry) => outcomeOf(await h.webhook(retry))));
    expect(outcomes.filter((outcome) => outcome === "confirmed").length).toBe(1);
    expect(outcomes.filter((outcome) => outcome === "already_confirmed").length).toBe(retries.length - 1);
    expect((await reservationOf(h, reservation)).codes.length).toBe(1);
    expect(await counts(h, "wh-storm", "gift-50")).toEqual({ stock: 3, available: 2, held: 0, confirmed: 1 });
    expect((await payments(h, "wh-storm")).length).toBe(1);
  });

  test("confirmed_late: a released hold whose stock is still there is taken again and confirmed", async () => {
    await createSale(h, saleBody("wh-late"));
    const reservation = await held(h, "alice", "wh-late", "hoodie-m", 2);
    await release(reservation);
    expect(await counts(h, "wh-late", "hoodie-m")).toEqual({ stock: 10, available: 10, held: 0, confirmed: 0 });
    expect(await outcomeOf(await h.webhook(paymentFor(reservation)))).toBe("confirmed_late");
    expect((await reservationOf(h, reservation)).status).toBe("confirmed");
    expect(await counts(h, "wh-late", "hoodie-m")).toEqual({ stock: 10, available: 8, held: 0, confirmed: 2 });
    expect((await payments(h, "wh-late", "confirmed_late")).map((p) => p.reservationId)).toEqual([reservation.id]);
  });

  test("confirmed_late: an expired hold whose stock is still there", async () => {
    await createSale(h, saleBody("wh-late-expired", { holdSeconds: 1 }));
    const reservation = await held(h, "alice", "wh-late-expired", "hoodie-m", 1);
    await sleep(Date.parse(reservation.expiresAt) - Date.now() + 50);
    // The payment arrives after expiresAt: whether or not the tick has run, the hold is gone.
    expect(await outcomeOf(await h.webhook(paymentFor(reservation)))).toBe("confirmed_late");
    expect((await reservationOf(h, reservation)).status).toBe("confirmed");
    expect(await counts(h, "wh-late-expired", "hoodie-m")).toEqual({ stock: 10, available: 9, held: 0, confirmed: 1 });
  });

  describe("refund_required, recorded and listed for operators", () => {
    const refunds: { paymentId: string; eventId: string; reservationId: string; amount: number; currency: string }[] = [];

    test("the hold is gone and so is the stock", async () => {
      await createSale(h, saleBody("wh-refund", { items: [{ id: "last", name: "Last one", price: 700, currency: "EUR", stock: 1 }] }));
      const alices = await held(h, "alice", "wh-refund", "last", 1);
      await release(alices);
      await held(h, "bob", "wh-refund", "last", 1);
      const event = paymentFor(alices);
      expect(await outcomeOf(await h.webhook(event))).toBe("refund_required");
      refunds.push(event);
      expect((await reservationOf(h, alices)).status).toBe("released");
      expect(await counts(h, "wh-refund", "last")).toEqual({ stock: 1, available: 0, held: 1, confirmed: 0 });
    });

    test("the amount does not match", async () => {
      await createSale(h, saleBody("wh-refund-amount"));
      const reservation = await held(h, "alice", "wh-refund-amount", "hoodie-m", 1);
      const event = paymentFor(reservation, { amount: reservation.amount - 1 });
      expect(await outcomeOf(await h.webhook(event))).toBe("refund_required");
      expect((await reservationOf(h, reservation)).status).toBe("held");
      expect(await counts(h, "wh-refund-amount", "hoodie-m")).toMatchObject({ held: 1, confirmed: 0 });
      const listed = await payments(h, "wh-refund-amount", "refund_required");
      expect(listed).toEqual([
        expect.objectContaining({
          paymentId: event.paymentId,
          eventId: event.eventId,
          reservationId: reservation.id,
          amount: reservation.amount - 1,
          currency: "USD",
          outcome: "refund_required",
        }),
      ]);
    });

    test("the currency does not match", async () => {
      await createSale(h, saleBody("wh-refund-currency"));
      const reservation = await held(h, "alice", "wh-refund-currency", "hoodie-m", 1);
      const event = paymentFor(reservation, { currency: "EUR" });
      expect(await outcomeOf(await h.webhook(event))).toBe("refund_required");
      expect((await reservationOf(h, reservation)).status).toBe("held");
      const listed = await payments(h, "wh-refund-currency", "refund_required");
      expect(listed.map((p) => [p.paymentId, p.currency, p.outcome])).toEqual([[event.paymentId, "EUR", "refund_required"]]);
    });

    test("another payment already confirmed the reservation", async () => {
      await createSale(h, saleBody("wh-refund-second"));
      const reservation = await held(h, "alice", "wh-refund-second", "hoodie-m", 1);
      const first = paymentFor(reservation, { paymentId: "pay_first" });
      const second = paymentFor(reservation, { paymentId: "pay_second" });
      expect(await outcomeOf(await h.webhook(first))).toBe("confirmed");
      expect(await outcomeOf(await h.webhook(second))).toBe("refund_required");
      // The provider retrying the refused payment learns the same outcome; nothing changes.
      expect(await outcomeOf(await h.webhook(second))).toBe("refund_required");
      expect(await counts(h, "wh-refund-second", "hoodie-m")).toEqual({ stock: 10, available: 9, held: 0, confirmed: 1 });
      const all = await payments(h, "wh-refund-second");
      expect(all.map((p) => [p.paymentId, p.outcome]).sort()).toEqual([
        ["pay_first", "confirmed"],
        ["pay_second", "refund_required"],
      ]);
      const listed = await payments(h, "wh-refund-second", "refund_required");
      expect(listed.length).toBe(1);
      expect(listed[0]).toMatchObject({
        paymentId: "pay_second",
        eventId: second.eventId,
        reservationId: reservation.id,
        amount: 4900,
        currency: "USD",
        outcome: "refund_required",
      });
    });

    test("payments?outcome=refund_required lists exactly the refunds of the sale", async () => {
      const listed = await payments(h, "wh-refund", "refund_required");
      expect(listed.length).toBe(1);
      const [only] = refunds;
      expect(listed[0]).toMatchObject({
        paymentId: only?.paymentId,
        eventId: only?.eventId,
        reservationId: only?.reservationId,
        amount: 700,
        currency: "EUR",
        outcome: "refund_required",
      });
      await expectValidation(await h.admin("GET", "/v1/admin/sales/wh-refund/payments?outcome=lost"), "/outcome");
      await expectProblem(await h.admin("GET", "/v1/admin/sales/wh-nope/payments"), 404, "not_found");
    });
  });

  test("ignored: a failed payment leaves the hold as it is; a later success confirms it", async () => {
    await createSale(h, saleBody("wh-failed"));
    const reservation = await held(h, "alice", "wh-failed", "hoodie-m", 1);
    const failed = paymentFor(reservation, { status: "failed" });
    expect(await outcomeOf(await h.webhook(failed))).toBe("ignored");
    expect((await reservationOf(h, reservation)).status).toBe("held");
    expect(await counts(h, "wh-failed", "hoodie-m")).toEqual({ stock: 10, available: 9, held: 1, confirmed: 0 });
    expect((await payments(h, "wh-failed", "ignored")).map((p) => p.eventId)).toEqual([failed.eventId]);
    expect(await outcomeOf(await h.webhook(paymentFor(reservation)))).toBe("confirmed");
    expect(await counts(h, "wh-failed", "hoodie-m")).toEqual({ stock: 10, available: 9, held: 0, confirmed: 1 });
  });
});

describe("refusals", () => {
  let reservation: Reservation;
  beforeAll(async () => {
    await createSale(h, saleBody("wh-refuse"));
    reservation = await held(h, "alice", "wh-refuse", "hoodie-m", 1);
  });

  const send = (raw: string, signature: string | null) =>
    fetch(`${h.url}/v1/webhooks/payments`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(signature === null ? {} : { "stampede-signature": signature }) },
      body: raw,
    });

  test("401 unauthorized for a missing, wrong, tampered or stale signature, and nothing changes", async () => {
    const event = JSON.stringify(paymentFor(reservation));
    const now = Math.floor(Date.now() / 1000);
    await expectProblem(await send(event, null), 401, "unauthorized");
    await expectProblem(await send(event, "garbage"), 401, "unauthorized");
    await expectProblem(await send(event, signWebhook("not-the-secret", event, now)), 401, "unauthorized");
    const tampered = JSON.stringify({ ...JSON.parse(event), amount: 1 });
    await expectProblem(await send(tampered, signWebhook(SECRETS.STAMPEDE_WEBHOOK_SECRET, event, now)), 401, "unauthorized");
    await expectProblem(await h.webhook(event, { t: now - 301 }), 401, "unauthorized");
    await expectProblem(await h.webhook(event, { t: now + 301 }), 401, "unauthorized");
    await expectProblem(await h.webhook(event, { t: now - 3600 }), 401, "unauthorized");
    expect((await reservationOf(h, reservation)).status).toBe("held");
    expect(await payments(h, "wh-refuse")).toEqual([]);
    // Inside the 300 s window the same event is taken.
    expect(await outcomeOf(await h.webhook(event, { t: now - 250 }))).toBe("confirmed");
  });

  test("404 not_found for an unknown sale or reservation", async () => {
    await expectProblem(await h.webhook(paymentFor(reservation, { saleId: "wh-no-such-sale" })), 404, "not_found");
    await expectProblem(await h.webhook(paymentFor(reservation, { reservationId: "no-such-reservation" })), 404, "not_found");
  });

  test("422 for a signed body that is not a payment event; 400 for signed malformed JSON", async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ eventId: undefined }, "/eventId"],
      [{ paymentId: "" }, "/paymentId"],
      [{ status: "pending" }, "/status"],
      [{ amount: -1 }, "/amount"],
      [{ amount: "4900" }, "/amount"],
      [{ amount: 49.5 }, "/amount"],
      [{ currency: "usd" }, "/currency"],
      [{ saleId: "not a sale id" }, "/saleId"],
      [{ reservationId: 42 }, "/reservationId"],
    ];
    for (const [change, path] of cases) {
      await expectValidation(await h.webhook({ ...paymentFor(reservation), ...change }), path);
    }
    await expectProblem(await h.webhook([]), 422, "validation_failed");
    await expectProblem(await h.webhook("{\"eventId\": "), 400, "invalid_json");
  });
});
