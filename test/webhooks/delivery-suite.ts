// Outbound webhooks end to end, against a real receiver on loopback: a server in this process, its
// sender thread, and a Bun.serve that refuses, times out or answers slowly as each test tells it.
// Run once per system of record (delivery-sqlite.test.ts, delivery-postgres.test.ts). The sender's
// timeout, retry delays and retry window are shortened through their variables.

import { afterEach, describe, expect, test } from "bun:test";
import { verifyWebhookSignature } from "../../src/auth/webhook-signature.ts";
import { expectStatus } from "../api/helpers.ts";
import { type Harness, saleBody, startHarness } from "../support/harness.ts";
import { type Receiver, startReceiver } from "./receiver.ts";

/** A database (or none) for one harness; `drop` removes it afterwards. */
export type StoreFixture = () => Promise<{ env: Record<string, string>; drop(): Promise<void> }>;

type Endpoint = { id: string; secret: string };
type DeliveryView = { id: string; status: string; attempts: number; lastStatus: number | null; lastError: string | null; event: { id: string } };

const FAST_RETRIES = { STAMPEDE_WEBHOOK_RETRY_MIN_MS: "50", STAMPEDE_WEBHOOK_RETRY_MAX_MS: "200", STAMPEDE_WEBHOOK_POLL_MS: "20" };

export function runDeliverySuite(name: string, fixture: StoreFixture): void {
  describe(`outbound webhooks: ${name}`, () => {
    let cleanups: (() => Promise<void> | void)[] = [];
    afterEach(async () => {
      for (const cleanup of cleanups.reverse()) await cleanup();
      cleanups = [];
    });

    async function setup(env: Record<string, string> = {}) {
      const store = await fixture();
      cleanups.push(() => store.drop());
      const receiver = startReceiver();
      cleanups.push(() => receiver.stop());
      const h = await startHarness({ env: { ...store.env, ...FAST_RETRIES, ...env } });
      cleanups.push(() => h.close());
      await expectStatus(await h.admin("POST", "/v1/admin/sales", saleBody("drop")), 201);
      return { h, receiver };
    }

    async function register(h: Harness, receiver: Receiver, events = ["reservation.held"]): Promise<Endpoint> {
      return expectStatus<Endpoint>(await h.admin("POST", "/v1/admin/webhooks", { url: receiver.url, events }), 201);
    }

    async function deliveries(h: Harness, endpoint: Endpoint, status?: string): Promise<DeliveryView[]> {
      const query = status === undefined ? "" : `?status=${status}`;
      return (await expectStatus<{ deliveries: DeliveryView[] }>(await h.admin("GET", `/v1/admin/webhooks/${endpoint.id}/deliveries${query}`), 200)).deliveries;
    }

    async function until<T>(read: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 15_000): Promise<T> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const value = await read();
        if (ok(value)) return value;
        if (Date.now() > deadline) throw new Error(`not reached in ${timeoutMs} ms: ${JSON.stringify(value).slice(0, 500)}`);
        await Bun.sleep(25);
      }
    }

    /** Waits until /metrics shows `pattern` (the sender thread reports a few times a second). */
    async function expectMetric(h: Harness, pattern: RegExp): Promise<void> {
      const text = await until(() => fetch(`${h.url}/metrics`).then((r) => r.text()), (metrics) => pattern.test(metrics), 5_000).catch(() => null);
      expect(text === null ? `no ${pattern} in /metrics` : "found").toBe("found");
    }

    test("an acknowledged hold is POSTed as the buyer saw it, signed with the endpoint's secret, then listed delivered", async () => {
      const { h, receiver } = await setup();
      const endpoint = await register(h, receiver, ["reservation.held", "reservation.released"]);
      const held = await h.buyer("u1", "POST", "/v1/sales/drop/reservations", { itemId: "hoodie-m", quantity: 1 });
      const reservation = await expectStatus<{ id: string }>(held, 201);
      await expectStatus(await h.buyer("u1", "DELETE", `/v1/sales/drop/reservations/${reservation.id}`), 200);
      await receiver.until((r) => r.length === 2);
      const [first, second] = receiver.received as [Receiver["received"][0], Receiver["received"][0]];
      expect(verifyWebhookSignature(endpoint.secret, first.signature, first.body, Math.floor(Date.now() / 1000))).toBe(true);
      expect(verifyWebhookSignature("another-secret", first.signature, first.body, Math.floor(Date.now() / 1000))).toBe(false);
      const body = JSON.parse(first.body) as { id: string; type: string; createdAt: string; data: unknown };
      expect(Object.keys(body)).toEqual(["id", "type", "createdAt", "data"]);
      expect(body.type).toBe("reservation.held");
      expect(body.data).toEqual(reservation);
      expect(JSON.parse(second.body)).toMatchObject({ type: "reservation.released", data: { id: reservation.id, status: "released" } });
      const listed = await until(() => deliveries(h, endpoint), (list) => list.every((d) => d.status === "delivered"));
      expect(listed.map((d) => [d.id, d.attempts, d.lastStatus])).toEqual([
        [first.id, 1, 200],
        [second.id, 1, 200],
      ]);
      await expectMetric(h, /stampede_webhook_deliveries_total\{[^}]*outcome="delivered"\} 2\n/);
    });

    test("a receiver that refuses (500) gets the same event, byte for byte, until it answers 2xx", async () => {
      const { h, receiver } = await setup();
      receiver.answer = (_, attempt) => ({ status: attempt <= 2 ? 500 : 200 });
      const endpoint = await register(h, receiver);
      await expectStatus(await h.buyer("u1", "POST", "/v1/sales/drop/reservations", { itemId: "hoodie-m", quantity: 1 }), 201);
      await receiver.until((r) => r.length === 3);
      const [a, b, c] = receiver.received as [Receiver["received"][0], Receiver["received"][0], Receiver["received"][0]];
      expect(new Set([a.id, b.id, c.id]).size).toBe(1);
      expect(b.body).toBe(a.body);
      expect(c.body).toBe(a.body);
      const [delivery] = await until(() => deliveries(h, endpoint), (list) => list[0]?.status === "delivered");
      expect(delivery).toMatchObject({ id: a.id, attempts: 3, lastStatus: 200, lastError: null });
      await expectMetric(h, /stampede_webhook_retries_total\{[^}]*\} 2\n/);
      await expectMetric(h, /stampede_webhook_deliveries_total\{[^}]*outcome="retrying"\} 2\n/);
    });

    test("a receiver that never answers: timed out, retried, failed after the window; the operator's retry sends it again", async () => {
      const { h, receiver } = await setup({ STAMPEDE_WEBHOOK_TIMEOUT_MS: "300", STAMPEDE_WEBHOOK_RETRY_WINDOW_MS: "1500" });
      let hang = true;
      receiver.answer = () => (hang ? "hang" : { status: 204 });
      const endpoint = await register(h, receiver);
      await expectStatus(await h.buyer("u1", "POST", "/v1/sales/drop/reservations", { itemId: "hoodie-m", quantity: 1 }), 201);
      const [failed] = await until(() => deliveries(h, endpoint, "failed"), (list) => list.length === 1);
      if (failed === undefined) throw new Error("no failed delivery");
      expect(failed.attempts).toBeGreaterThanOrEqual(2);
      expect(failed.lastError).toBe("no answer within 300 ms");
      expect(receiver.received.length).toBe(failed.attempts);
      expect(new Set(receiver.received.map((r) => r.id))).toEqual(new Set([failed.id]));
      // A dead endpoint is the operator's business, not the reservations': the server stays ready.
      expect((await fetch(`${h.url}/readyz`)).status).toBe(200);
      await expectMetric(h, /stampede_webhook_deliveries_total\{[^}]*outcome="failed"\} 1\n/);
      hang = false;
      const retried = await h.admin("POST", `/v1/admin/webhooks/${endpoint.id}/deliveries/${failed.id}/retry`);
      expect((await expectStatus<DeliveryView>(retried, 202)).status).toBe("pending");
      await until(() => deliveries(h, endpoint, "delivered"), (list) => list.length === 1);
      expect(receiver.received.at(-1)?.body).toBe(receiver.received[0]?.body);
      await expectStatus(await h.admin("POST", `/v1/admin/webhooks/${endpoint.id}/deliveries/evt_none_1/retry`), 404);
    }, 30_000);

    test("a slow receiver, answering within the timeout, is delivered once", async () => {
      const { h, receiver } = await setup({ STAMPEDE_WEBHOOK_TIMEOUT_MS: "3000" });
      receiver.answer = () => ({ delayMs: 1_200, status: 200 });
      const endpoint = await register(h, receiver);
      for (const user of ["u1", "u2", "u3"]) {
        await expectStatus(await h.buyer(user, "POST", "/v1/sales/drop/reservations", { itemId: "hoodie-m", quantity: 1 }), 201);
      }
      const listed = await until(() => deliveries(h, endpoint, "delivered"), (list) => list.length === 3);
      expect(listed.map((d) => d.attempts)).toEqual([1, 1, 1]);
      expect(receiver.received.length).toBe(3);
    });

    test("an endpoint gets only its types; a deleted endpoint gets nothing more", async () => {
      const { h, receiver } = await setup();
      const soldOut = await register(h, receiver, ["sale.sold_out"]);
      const held = await register(h, receiver, ["reservation.held"]);
      await expectStatus(await h.admin("POST", "/v1/admin/sales", saleBody("tiny", { items: [{ id: "one", name: "One", price: 100, currency: "USD", stock: 1 }] })), 201);
      await expectStatus(await h.buyer("u1", "POST", "/v1/sales/tiny/reservations", { itemId: "one", quantity: 1 }), 201);
      await receiver.until((r) => r.length === 2);
      expect(receiver.received.map((r) => r.type).sort()).toEqual(["reservation.held", "sale.sold_out"]);
      expect(JSON.parse(receiver.received.find((r) => r.type === "sale.sold_out")?.body ?? "{}").data).toMatchObject({
        id: "tiny",
        status: "open",
        items: [{ id: "one", available: 0 }],
      });
      expect((await h.admin("DELETE", `/v1/admin/webhooks/${held.id}`)).status).toBe(204);
      await expectStatus(await h.buyer("u2", "POST", "/v1/sales/drop/reservations", { itemId: "hoodie-m", quantity: 1 }), 201);
      await Bun.sleep(400);
      expect(receiver.received.length).toBe(2);
      expect((await deliveries(h, soldOut)).length).toBe(1);
    });
  });
}
