// The outbound webhooks' part of the Store conformance suite: every system of record must create the
// same deliveries inside its write-behind batches (the outbox), whatever the batch boundaries, exactly
// once on replays, for the endpoints registered when the batch ran; and its claims, outcomes, listings
// and retries must behave alike. Stores of one suite may share a database, so each test registers
// endpoints of its own and deletes them at the end.

import { afterAll, describe, expect, test } from "bun:test";
import type { SaleEvent } from "../../src/ledger/types.ts";
import type { Store } from "../../src/store/store.ts";
import type { WebhookEndpointWithSecret } from "../../src/store/webhook-store.ts";
import { WEBHOOK_EVENT_TYPES, type WebhookEventType } from "../../src/webhooks/event-types.ts";
import { applyInBatches, entriesOf, freshId } from "./suite-support.ts";
import type { NewStore } from "./store-suite.ts";

const T0 = 1_760_000_000_000;
/** The id of the event numbered `seq` in `journalId` (fixed-width numbers, webhooks/outbox.ts). */
const eventId = (journalId: string, seq: number, suffix = "") => `evt_${journalId}_${String(seq).padStart(12, "0")}${suffix}`;

function endpoint(events: readonly WebhookEventType[] = WEBHOOK_EVENT_TYPES): WebhookEndpointWithSecret {
  return { id: freshId("whe"), url: "http://127.0.0.1:9/hook", events: [...events], secret: "whsec_test", createdAt: T0 };
}

/**
 * A sale of 2 units that sells out three times: two holds; a release and a third hold; a payment
 * that confirms late after an expiry. Plus a refund asked for a released hold, and a codes item.
 */
function soldOutThrice(saleId: string): SaleEvent[] {
  const at = (i: number) => T0 + i * 1000;
  const hold = (i: number, r: number, userId: string): SaleEvent => ({
    type: "hold_placed", saleId, at: at(i), reservationId: `${saleId}.r${r}`, seq: r, row: r, itemId: "a", userId, quantity: 1,
    amount: 100, currency: "USD", expiresAt: at(i) + 600_000, idempotencyKey: null, fingerprint: null, token: 0,
  });
  const payment = (i: number, r: number, outcome: "confirmed" | "confirmed_late" | "refund_required", late: boolean): SaleEvent => ({
    type: "payment_recorded", saleId, at: at(i),
    payment: { paymentId: `pay-${r}`, eventId: `pe-${r}-${i}`, saleId, reservationId: `${saleId}.r${r}`, amount: 100, currency: "USD",
      status: "succeeded", outcome, receivedAt: at(i) },
    confirm: outcome === "refund_required" ? null : { late, itemId: "a", quantity: 1, codes: [], userId: "u", seq: r, row: r },
  });
  return [
    { type: "sale_created", saleId, at: at(1), sale: { id: saleId, name: "Drop", startsAt: T0, endsAt: T0 + 86_400_000, holdSeconds: 600, limitPerUser: 1,
      items: [{ id: "a", name: "A", price: 100, currency: "USD", delivery: "none", stock: 2 }, { id: "c", name: "C", price: 5, currency: "USD", delivery: "codes", stock: 0 }] } },
    hold(2, 1, "u1"),
    hold(3, 2, "u2"),
    { type: "hold_released", saleId, at: at(4), reservationId: `${saleId}.r1`, seq: 1, row: 1, itemId: "a", quantity: 1, token: 0 },
    hold(5, 3, "u3"),
    payment(6, 2, "confirmed", false),
    { type: "hold_expired", saleId, at: at(7), reservationId: `${saleId}.r3`, seq: 3, row: 3, itemId: "a", quantity: 1 },
    payment(8, 3, "confirmed_late", true),
    payment(9, 1, "refund_required", false),
  ];
}

const EXPECTED_TYPES: WebhookEventType[] = [
  "reservation.held", "reservation.held", "sale.sold_out", "reservation.released", "reservation.held", "sale.sold_out",
  "reservation.confirmed", "reservation.expired", "reservation.confirmed", "sale.sold_out", "payment.refund_required",
];

export function runWebhookStoreSuite(name: string, newStore: NewStore): void {
  describe(`Store conformance, webhooks: ${name}`, () => {
    const opened: Store[] = [];
    const open = async () => {
      const store = await newStore();
      opened.push(store);
      return store;
    };
    afterAll(async () => {
      for (const store of opened) await store.close();
    });

    /** Every delivery of an endpoint, in listing order, paging through with small pages. */
    async function allDeliveries(store: Store, endpointId: string, status?: "pending" | "delivered" | "failed") {
      const all = [];
      let cursor: string | undefined;
      do {
        const page = await store.webhooks.listDeliveries(endpointId, { limit: 3, ...(status === undefined ? {} : { status }), ...(cursor === undefined ? {} : { cursor }) });
        all.push(...page.deliveries);
        cursor = page.nextCursor ?? undefined;
      } while (cursor !== undefined);
      return all;
    }

    test("each event becomes one delivery per matching endpoint, the same whatever the batches", async () => {
      const store = await open();
      const everything = endpoint();
      const soldOutOnly = endpoint(["sale.sold_out"]);
      expect(await store.webhooks.createEndpoint(everything, 100)).toBe(true);
      expect(await store.webhooks.createEndpoint(soldOutOnly, 100)).toBe(true);
      const payloads: string[][] = [];
      for (const sizes of [[100], [1], [2, 3, 1]]) {
        const saleId = freshId("sale");
        const journalId = freshId("journal");
        await applyInBatches(store, journalId, soldOutThrice(saleId), sizes);
        const deliveries = (await allDeliveries(store, everything.id)).filter((d) => d.id.startsWith(`evt_${journalId}_`));
        expect(deliveries.map((d) => d.type)).toEqual(EXPECTED_TYPES);
        expect(deliveries.every((d) => d.status === "pending" && d.attempts === 0 && d.nextAttemptAt !== null)).toBe(true);
        const soldOut = (await allDeliveries(store, soldOutOnly.id)).filter((d) => d.id.startsWith(`evt_${journalId}_`));
        expect(soldOut.map((d) => d.id)).toEqual([3, 5, 8].map((seq) => eventId(journalId, seq, "_sold_out")));
        payloads.push(deliveries.map((d) => (d.payload ?? "").replaceAll(saleId, "S").replaceAll(journalId, "J")));
        const bodies = deliveries.map((d) => JSON.parse(d.payload ?? "null"));
        expect(bodies[0]).toEqual({
          id: eventId(journalId, 2), type: "reservation.held", createdAt: new Date(T0 + 2000).toISOString(),
          data: { id: `${saleId}.r1`, saleId, itemId: "a", userId: "u1", quantity: 1, status: "held", amount: 100, currency: "USD",
            createdAt: new Date(T0 + 2000).toISOString(), expiresAt: new Date(T0 + 602_000).toISOString(), codes: [] },
        });
        // A released hold, read back from the row an earlier batch wrote (or placed in this one).
        expect(bodies[3].data).toMatchObject({ id: `${saleId}.r1`, userId: "u1", status: "released", codes: [] });
        expect(bodies[6].data).toMatchObject({ id: `${saleId}.r2`, userId: "u2", status: "confirmed", codes: [] });
        expect(bodies[8].data).toMatchObject({ id: `${saleId}.r3`, userId: "u3", status: "confirmed" });
        expect(bodies[9].data).toEqual({
          id: saleId, name: "Drop", startsAt: new Date(T0).toISOString(), endsAt: new Date(T0 + 86_400_000).toISOString(), status: "open",
          items: [{ id: "a", name: "A", price: 100, currency: "USD", available: 0 }, { id: "c", name: "C", price: 5, currency: "USD", available: 0 }],
        });
        expect(bodies[10].data).toEqual({
          paymentId: "pay-1", eventId: "pe-1-9", saleId, reservationId: `${saleId}.r1`, amount: 100, currency: "USD",
          status: "succeeded", outcome: "refund_required", receivedAt: new Date(T0 + 9000).toISOString(),
        });
      }
      expect(payloads[1]).toEqual(payloads[0] as string[]);
      expect(payloads[2]).toEqual(payloads[0] as string[]);
      await store.webhooks.deleteEndpoint(everything.id, T0);
      await store.webhooks.deleteEndpoint(soldOutOnly.id, T0);
    });

    test("a confirmed reservation's event carries its delivered codes, in delivery order", async () => {
      const store = await open();
      const hook = endpoint(["reservation.held", "reservation.confirmed"]);
      await store.webhooks.createEndpoint(hook, 100);
      const saleId = freshId("sale");
      const journalId = freshId("journal");
      const at = T0 + 1000;
      const events: SaleEvent[] = [
        { type: "sale_created", saleId, at, sale: { id: saleId, name: "Codes", startsAt: T0, endsAt: T0 + 86_400_000, holdSeconds: 600, limitPerUser: 2,
          items: [{ id: "c", name: "C", price: 5, currency: "USD", delivery: "codes", stock: 0 }] } },
        { type: "codes_added", saleId, at, itemId: "c", codes: ["K-1", "K-2", "K-3"] },
        { type: "hold_placed", saleId, at, reservationId: `${saleId}.r1`, seq: 1, row: 1, itemId: "c", userId: "u1", quantity: 2, amount: 10,
          currency: "USD", expiresAt: at + 600_000, idempotencyKey: null, fingerprint: null, token: 0 },
        { type: "payment_recorded", saleId, at: at + 1,
          payment: { paymentId: "p1", eventId: "e1", saleId, reservationId: `${saleId}.r1`, amount: 10, currency: "USD", status: "succeeded", outcome: "confirmed", receivedAt: at + 1 },
          confirm: { late: false, itemId: "c", quantity: 2, codes: ["K-1", "K-2"], userId: "u1", seq: 1, row: 1 } },
      ];
      await applyInBatches(store, journalId, events, [3, 1]);
      const bodies = (await allDeliveries(store, hook.id)).map((d) => JSON.parse(d.payload ?? "null"));
      expect(bodies.map((b) => [b.type, b.data.status, b.data.codes])).toEqual([
        ["reservation.held", "held", []],
        ["reservation.confirmed", "confirmed", ["K-1", "K-2"]],
      ]);
      // The body a sender claims is the one listed, and it stays that one from then on.
      const now = Date.now() + 1000;
      const claimed = await store.webhooks.claimDeliveries(hook.id, "s", now, now + 60_000, 10);
      expect(claimed.map((d) => JSON.parse(d.payload))).toEqual(bodies);
      expect((await allDeliveries(store, hook.id)).map((d) => JSON.parse(d.payload ?? "null"))).toEqual(bodies);
      await store.webhooks.deleteEndpoint(hook.id, T0);
    });

    test("exactly once: a replayed batch creates nothing twice; no endpoint, nothing at all", async () => {
      const store = await open();
      const saleId = freshId("sale");
      const journalId = freshId("journal");
      const entries = entriesOf(soldOutThrice(saleId));
      // Before any endpoint: nothing is created, and nothing later for what was applied then.
      await store.apply(journalId, entries.slice(0, 3));
      const hook = endpoint(["reservation.held", "reservation.released"]);
      await store.webhooks.createEndpoint(hook, 100);
      await store.apply(journalId, entries.slice(0, 5));
      await store.apply(journalId, entries.slice(2, 5));
      await store.apply(journalId, entries);
      const deliveries = await allDeliveries(store, hook.id);
      expect(deliveries.map((d) => d.id)).toEqual([eventId(journalId, 4), eventId(journalId, 5)]);
      expect(deliveries.map((d) => d.type)).toEqual(["reservation.released", "reservation.held"]);
      // A deleted endpoint gets nothing from the next batch and is no longer listed.
      await store.webhooks.deleteEndpoint(hook.id, T0);
      expect(await store.webhooks.deleteEndpoint(hook.id, T0)).toBe(false);
      await applyInBatches(store, freshId("journal"), soldOutThrice(freshId("sale")), [4]);
      expect(await allDeliveries(store, hook.id)).toHaveLength(2);
      expect((await store.webhooks.listEndpoints()).some((e) => e.id === hook.id)).toBe(false);
      expect(await store.webhooks.endpoint(hook.id)).toBeNull();
    });

    test("endpoints: registered up to the bound, listed without secrets, the sender sees secrets", async () => {
      const store = await open();
      const before = (await store.webhooks.listEndpoints()).length;
      const first = endpoint(["reservation.held"]);
      expect(await store.webhooks.createEndpoint(first, before + 1)).toBe(true);
      expect(await store.webhooks.createEndpoint(endpoint(), before + 1)).toBe(false);
      const listed = (await store.webhooks.listEndpoints()).find((e) => e.id === first.id);
      expect(listed).toEqual({ id: first.id, url: first.url, events: ["reservation.held"], createdAt: T0 });
      expect(listed !== undefined && "secret" in listed).toBe(false);
      expect((await store.webhooks.senderEndpoints()).find((e) => e.id === first.id)?.secret).toBe("whsec_test");
      await store.webhooks.deleteEndpoint(first.id, T0);
    });

    test("claims: in order, never twice at once, due again after the lease; outcomes only for the current claim", async () => {
      const store = await open();
      const hook = endpoint(["reservation.held"]);
      await store.webhooks.createEndpoint(hook, 100);
      const journalId = freshId("journal");
      await applyInBatches(store, journalId, soldOutThrice(freshId("sale")), [100]);
      const now = Date.now() + 1000;
      const w = store.webhooks;
      const first = await w.claimDeliveries(hook.id, "a", now, now + 10_000, 2);
      expect(first.map((d) => d.sequence)).toEqual([2, 3]);
      const second = await w.claimDeliveries(hook.id, "b", now, now + 10_000, 10);
      expect(second.map((d) => d.sequence)).toEqual([5]);
      expect(await w.claimDeliveries(hook.id, "b", now, now + 10_000, 10)).toEqual([]);
      // "a" delivers one and fails the other (retry later); "b" lost its lease, and "c" took it over.
      const [d2, d3] = first as [(typeof first)[0], (typeof first)[0]];
      const taken = await w.claimDeliveries(hook.id, "c", now + 10_001, now + 30_000, 10);
      expect(taken.map((d) => d.sequence)).toEqual([2, 3, 5]);
      await w.recordOutcomes([{ endpointId: hook.id, id: d2.id, claimedBy: "a", claimedUntil: d2.claimedUntil, at: now, delivered: true, status: 200, error: null, nextAttemptAt: null, body: d2.payload }]);
      expect((await w.delivery(hook.id, d2.id))?.status).toBe("pending"); // a stale claim records nothing
      const [c2, c3, c5] = taken as [(typeof taken)[0], (typeof taken)[0], (typeof taken)[0]];
      await w.recordOutcomes([
        { endpointId: hook.id, id: c2.id, claimedBy: "c", claimedUntil: c2.claimedUntil, at: now + 1, delivered: true, status: 204, error: null, nextAttemptAt: null, body: c2.payload },
        { endpointId: hook.id, id: c3.id, claimedBy: "c", claimedUntil: c3.claimedUntil, at: now + 1, delivered: false, status: 500, error: "HTTP 500", nextAttemptAt: now + 50, body: c3.payload },
        { endpointId: hook.id, id: c5.id, claimedBy: "c", claimedUntil: c5.claimedUntil, at: now + 1, delivered: false, status: null, error: "no answer", nextAttemptAt: null, body: c5.payload },
      ]);
      expect(await w.delivery(hook.id, c2.id)).toMatchObject({ status: "delivered", attempts: 1, lastStatus: 204, deliveredAt: now + 1, nextAttemptAt: null });
      // The first attempts' bodies are kept: a retry claims them stored, byte for byte.
      expect(taken.map((d) => d.bodyStored)).toEqual([false, false, false]);
      expect(await w.delivery(hook.id, c3.id)).toMatchObject({ status: "pending", attempts: 1, lastStatus: 500, lastError: "HTTP 500", nextAttemptAt: now + 50 });
      expect(await w.delivery(hook.id, c5.id)).toMatchObject({ status: "failed", attempts: 1, lastStatus: null, lastError: "no answer", nextAttemptAt: null });
      expect(d3.id).toBe(c3.id);
      expect(await w.claimDeliveries(hook.id, "c", now + 49, now + 60_000, 10)).toEqual([]);
      expect((await w.claimDeliveries(hook.id, "c", now + 50, now + 60_000, 10)).map((d) => [d.id, d.attempts, d.bodyStored, d.payload])).toEqual([
        [c3.id, 1, true, c3.payload],
      ]);
      // A sender that starts again hands back what its earlier run claimed: due at once.
      expect(await w.releaseClaims("c", now + 51)).toBe(1);
      expect((await w.claimDeliveries(hook.id, "d", now + 51, now + 60_000, 10)).map((d) => d.id)).toEqual([c3.id]);
      expect((await allDeliveries(store, hook.id, "failed")).map((d) => d.id)).toEqual([c5.id]);
      expect((await allDeliveries(store, hook.id, "delivered")).map((d) => d.id)).toEqual([c2.id]);
      // The operator's retry: pending and due now, with a fresh window; one claimed right now is left alone.
      expect(await w.retryDelivery(hook.id, c5.id, now + 60)).toMatchObject({ status: "pending", nextAttemptAt: now + 60 });
      expect(await w.retryDelivery(hook.id, c3.id, now + 60)).toMatchObject({ status: "pending", nextAttemptAt: now + 60_000 });
      expect(await w.retryDelivery(hook.id, "evt_nope_1", now)).toBeNull();
      expect(await w.oldestPendingEventAt()).toBe(Math.min(...[c3, c5].map((d) => d.eventAt), ...(await otherPending(store, hook.id))));
      await w.deleteEndpoint(hook.id, now);
    });

    test("pruning removes delivered deliveries past retention and every delivery of a deleted endpoint", async () => {
      const store = await open();
      const kept = endpoint(["reservation.held"]);
      const gone = endpoint(["reservation.held"]);
      await store.webhooks.createEndpoint(kept, 100);
      await store.webhooks.createEndpoint(gone, 100);
      await applyInBatches(store, freshId("journal"), soldOutThrice(freshId("sale")), [100]);
      const now = Date.now() + 1000;
      const [one] = await store.webhooks.claimDeliveries(kept.id, "p", now, now + 10_000, 1);
      if (one === undefined) throw new Error("nothing to claim");
      await store.webhooks.recordOutcomes([{ endpointId: kept.id, id: one.id, claimedBy: "p", claimedUntil: one.claimedUntil, at: now, delivered: true, status: 200, error: null, nextAttemptAt: null, body: null }]);
      await store.webhooks.deleteEndpoint(gone.id, now);
      let pruned = 0;
      for (let removed = -1; removed !== 0; ) pruned += removed = await store.webhooks.pruneDelivered(one.eventAt + 1, 2);
      expect(pruned).toBeGreaterThanOrEqual(4);
      expect((await allDeliveries(store, kept.id)).map((d) => d.status)).toEqual(["pending", "pending"]);
      expect(await allDeliveries(store, gone.id)).toEqual([]);
      await store.webhooks.deleteEndpoint(kept.id, now);
    });
  });
}

/** Event times of pending deliveries of other live endpoints (stores may share a database). */
async function otherPending(store: Store, except: string): Promise<number[]> {
  const times: number[] = [];
  for (const e of await store.webhooks.listEndpoints()) {
    if (e.id === except) continue;
    const page = await store.webhooks.listDeliveries(e.id, { status: "pending", limit: 1 });
    if (page.deliveries[0] !== undefined) times.push(page.deliveries[0].eventAt);
  }
  return times;
}
