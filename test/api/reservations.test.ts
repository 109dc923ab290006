// Buyers (API.md, "Buyers"): holding stock and every refusal of the table, idempotency, reading and
// releasing one's own reservations, exact expiry, rate limits and load shedding.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type Harness, saleBody, startHarness } from "../support/harness.ts";
import {
  RESERVATION_FIELDS,
  type Reservation,
  adminSale,
  counts,
  createSale,
  expectProblem,
  expectStatus,
  expectValidation,
  held,
  hold,
  iso,
  outcomeOf,
  paymentFor,
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

const addCodes = async (saleId: string, codes: string[]) =>
  expectStatus(await h.admin("POST", `/v1/admin/sales/${saleId}/items/gift-50/codes`, { codes }), 200);

describe("POST /v1/sales/:saleId/reservations", () => {
  test("201 with the documented reservation, and the stock is held", async () => {
    await createSale(h, saleBody("res-hold", { holdSeconds: 300, limitPerUser: 3 }));
    const before = Date.now();
    const response = await hold(h, "alice", "res-hold", "hoodie-m", 3);
    const after = Date.now();
    expect(response.status).toBe(201);
    expect(response.headers.get("content-type")).toStartWith("application/json");
    const reservation = (await response.json()) as Reservation;
    expect(Object.keys(reservation).sort()).toEqual(RESERVATION_FIELDS);
    expect(typeof reservation.id).toBe("string");
    expect(reservation.id.length).toBeGreaterThan(0);
    expect(reservation).toMatchObject({
      saleId: "res-hold",
      itemId: "hoodie-m",
      userId: "alice",
      quantity: 3,
      status: "held",
      amount: 3 * 4900,
      currency: "USD",
      codes: [],
    });
    const createdAt = Date.parse(reservation.createdAt);
    expect(reservation.createdAt).toBe(iso(createdAt));
    expect(createdAt).toBeGreaterThanOrEqual(before - 5);
    expect(createdAt).toBeLessThanOrEqual(after + 5);
    expect(Date.parse(reservation.expiresAt) - createdAt).toBe(300_000);
    expect(await counts(h, "res-hold", "hoodie-m")).toEqual({ stock: 10, available: 7, held: 3, confirmed: 0 });
  });

  test("404 not_found for an unknown sale or item", async () => {
    await createSale(h, saleBody("res-404"));
    await expectProblem(await hold(h, "alice", "res-nope", "hoodie-m"), 404, "not_found");
    await expectProblem(await hold(h, "alice", "res-404", "no-such-item"), 404, "not_found");
    expect(await counts(h, "res-404", "hoodie-m")).toMatchObject({ available: 10, held: 0 });
  });

  test("409 sale_not_open before startsAt and while paused", async () => {
    const now = Date.now();
    await createSale(h, saleBody("res-early", { startsAt: iso(now + 3_600_000), endsAt: iso(now + 7_200_000) }));
    expect((await adminSale(h, "res-early")).status).toBe("scheduled");
    await expectProblem(await hold(h, "alice", "res-early", "hoodie-m"), 409, "sale_not_open");
    await createSale(h, saleBody("res-paused"));
    await expectStatus(await h.admin("PATCH", "/v1/admin/sales/res-paused", { paused: true }), 200);
    await expectProblem(await hold(h, "alice", "res-paused", "hoodie-m"), 409, "sale_not_open");
    expect(await counts(h, "res-paused", "hoodie-m")).toMatchObject({ available: 10, held: 0 });
  });

  test("410 sale_ended after endsAt", async () => {
    const now = Date.now();
    await createSale(h, saleBody("res-ended", { startsAt: iso(now - 7_200_000), endsAt: iso(now - 1000) }));
    expect((await adminSale(h, "res-ended")).status).toBe("ended");
    await expectProblem(await hold(h, "alice", "res-ended", "hoodie-m"), 410, "sale_ended");
  });

  test("409 sold_out when fewer units are available than asked", async () => {
    await createSale(h, saleBody("res-soldout", { limitPerUser: 10 }));
    await held(h, "alice", "res-soldout", "hoodie-m", 8);
    await expectProblem(await hold(h, "bob", "res-soldout", "hoodie-m", 3), 409, "sold_out");
    await held(h, "bob", "res-soldout", "hoodie-m", 2);
    await expectProblem(await hold(h, "carol", "res-soldout", "hoodie-m", 1), 409, "sold_out");
    // A codes item with no codes has nothing to sell.
    await expectProblem(await hold(h, "carol", "res-soldout", "gift-50", 1), 409, "sold_out");
    expect(await counts(h, "res-soldout", "hoodie-m")).toEqual({ stock: 10, available: 0, held: 10, confirmed: 0 });
  });

  test("409 limit_exceeded counts held plus confirmed units across every item of the sale", async () => {
    await createSale(h, saleBody("res-limit", { limitPerUser: 3 }));
    await addCodes("res-limit", ["L-1", "L-2", "L-3"]);
    await expectProblem(await hold(h, "alice", "res-limit", "hoodie-m", 4), 409, "limit_exceeded");
    const hoodies = await held(h, "alice", "res-limit", "hoodie-m", 2);
    await expectProblem(await hold(h, "alice", "res-limit", "gift-50", 2), 409, "limit_exceeded");
    const gift = await held(h, "alice", "res-limit", "gift-50", 1);
    expect(await outcomeOf(await h.webhook(paymentFor(gift)))).toBe("confirmed");
    // One confirmed gift plus two held hoodies: the limit is reached on either item.
    await expectProblem(await hold(h, "alice", "res-limit", "gift-50", 1), 409, "limit_exceeded");
    await expectProblem(await hold(h, "alice", "res-limit", "hoodie-m", 1), 409, "limit_exceeded");
    // Another buyer is not affected.
    await held(h, "bob", "res-limit", "hoodie-m", 3);
    // Releasing frees the units of the limit.
    await expectStatus(await h.buyer("alice", "DELETE", `/v1/sales/res-limit/reservations/${hoodies.id}`), 200);
    await held(h, "alice", "res-limit", "hoodie-m", 2);
    expect(await counts(h, "res-limit", "hoodie-m")).toEqual({ stock: 10, available: 5, held: 5, confirmed: 0 });
  });

  test("quantity must be an integer 1..100", async () => {
    await createSale(h, saleBody("res-quantity", { limitPerUser: 100, items: [{ id: "bulk", name: "Bulk", price: 1, currency: "USD", stock: 100 }] }));
    for (const quantity of [0, -1, 101, 1.5, "ten", null]) {
      await expectValidation(
        await h.buyer("alice", "POST", "/v1/sales/res-quantity/reservations", { itemId: "bulk", quantity }),
        "/quantity",
      );
    }
    await expectValidation(await h.buyer("alice", "POST", "/v1/sales/res-quantity/reservations", { itemId: "bulk" }), "/quantity");
    await expectValidation(await h.buyer("alice", "POST", "/v1/sales/res-quantity/reservations", { quantity: 1 }), "/itemId");
    expect(await counts(h, "res-quantity", "bulk")).toMatchObject({ available: 100, held: 0 });
    const all = await held(h, "alice", "res-quantity", "bulk", 100);
    expect(all.quantity).toBe(100);
    expect(all.amount).toBe(100);
    expect(await counts(h, "res-quantity", "bulk")).toEqual({ stock: 100, available: 0, held: 100, confirmed: 0 });
  });
});

describe("concurrent buyers", () => {
  test("a crowd racing for the last units: exactly the stock is held, the rest is sold_out", async () => {
    await createSale(h, saleBody("res-race", { items: [{ id: "drop", name: "Drop", price: 100, currency: "USD", stock: 5 }] }));
    const responses = await Promise.all(Array.from({ length: 40 }, (_, i) => hold(h, `racer-${i}`, "res-race", "drop")));
    const statuses = await Promise.all(
      responses.map(async (response) => {
        const answer = (await response.json()) as { code?: string };
        return response.status === 201 ? "held" : (answer.code ?? String(response.status));
      }),
    );
    expect(statuses.filter((status) => status === "held").length).toBe(5);
    expect(statuses.filter((status) => status === "sold_out").length).toBe(35);
    expect(await counts(h, "res-race", "drop")).toEqual({ stock: 5, available: 0, held: 5, confirmed: 0 });
  });

  test("one buyer's concurrent retries with one Idempotency-Key hold once", async () => {
    await createSale(h, saleBody("res-race-idem", { limitPerUser: 10 }));
    const headers = { "idempotency-key": "double-click" };
    const answers = await Promise.all(
      Array.from({ length: 10 }, async () => expectStatus<Reservation>(await hold(h, "alice", "res-race-idem", "hoodie-m", 2, headers), 201)),
    );
    expect(new Set(answers.map((answer) => answer.id)).size).toBe(1);
    expect(await counts(h, "res-race-idem", "hoodie-m")).toEqual({ stock: 10, available: 8, held: 2, confirmed: 0 });
  });

  test("one buyer's concurrent holds never pass limitPerUser", async () => {
    await createSale(h, saleBody("res-race-limit", { limitPerUser: 3 }));
    const responses = await Promise.all(Array.from({ length: 10 }, () => hold(h, "greedy", "res-race-limit", "hoodie-m")));
    const created = responses.filter((response) => response.status === 201).length;
    for (const response of responses) await response.arrayBuffer();
    expect(created).toBe(3);
    expect(await counts(h, "res-race-limit", "hoodie-m")).toMatchObject({ available: 7, held: 3 });
  });
});

describe("Idempotency-Key", () => {
  test("a retry with the same key replays the first answer and takes nothing more", async () => {
    await createSale(h, saleBody("res-idem", { limitPerUser: 5 }));
    const headers = { "idempotency-key": "order-7f3a" };
    const first = await expectStatus<Reservation>(await hold(h, "alice", "res-idem", "hoodie-m", 2, headers), 201);
    const again = await expectStatus<Reservation>(await hold(h, "alice", "res-idem", "hoodie-m", 2, headers), 201);
    expect(again).toEqual(first);
    expect(await counts(h, "res-idem", "hoodie-m")).toEqual({ stock: 10, available: 8, held: 2, confirmed: 0 });
    // Even once the hold is released, the key still names that first reservation.
    await expectStatus(await h.buyer("alice", "DELETE", `/v1/sales/res-idem/reservations/${first.id}`), 200);
    const late = await expectStatus<Reservation>(await hold(h, "alice", "res-idem", "hoodie-m", 2, headers), 201);
    expect(late.id).toBe(first.id);
    expect(await counts(h, "res-idem", "hoodie-m")).toEqual({ stock: 10, available: 10, held: 0, confirmed: 0 });
    const own = await expectStatus<{ reservations: Reservation[] }>(await h.buyer("alice", "GET", "/v1/sales/res-idem/reservations"), 200);
    expect(own.reservations.length).toBe(1);
  });

  test("the same key with a different body is 422 idempotency_key_reused", async () => {
    await createSale(h, saleBody("res-idem-reuse", { limitPerUser: 5 }));
    const headers = { "idempotency-key": "k-1" };
    await expectStatus(await hold(h, "alice", "res-idem-reuse", "hoodie-m", 1, headers), 201);
    await expectProblem(await hold(h, "alice", "res-idem-reuse", "hoodie-m", 2, headers), 422, "idempotency_key_reused");
    await expectProblem(await hold(h, "alice", "res-idem-reuse", "gift-50", 1, headers), 422, "idempotency_key_reused");
    expect(await counts(h, "res-idem-reuse", "hoodie-m")).toMatchObject({ available: 9, held: 1 });
    // Keys belong to their buyer: bob's "k-1" is a new request.
    const bobs = await expectStatus<Reservation>(await hold(h, "bob", "res-idem-reuse", "hoodie-m", 2, headers), 201);
    expect(bobs.userId).toBe("bob");
    expect(await counts(h, "res-idem-reuse", "hoodie-m")).toMatchObject({ available: 7, held: 3 });
  });

  test("a key must be 1..128 printable characters", async () => {
    await createSale(h, saleBody("res-idem-bad", { limitPerUser: 5 }));
    const problem = await expectProblem(
      await hold(h, "alice", "res-idem-bad", "hoodie-m", 1, { "idempotency-key": "k".repeat(129) }),
      422,
      "validation_failed",
    );
    expect(problem.errors?.length).toBeGreaterThan(0);
    await expectProblem(await hold(h, "alice", "res-idem-bad", "hoodie-m", 1, { "idempotency-key": "tab\there" }), 422, "validation_failed");
    expect(await counts(h, "res-idem-bad", "hoodie-m")).toMatchObject({ available: 10, held: 0 });
    await expectStatus(await hold(h, "alice", "res-idem-bad", "hoodie-m", 1, { "idempotency-key": "k".repeat(128) }), 201);
    await expectStatus(await hold(h, "alice", "res-idem-bad", "hoodie-m", 1, { "idempotency-key": "x" }), 201);
  });
});

describe("reading and releasing one's own reservations", () => {
  let alices: Reservation;
  let bobs: Reservation;
  beforeAll(async () => {
    await createSale(h, saleBody("res-own", { limitPerUser: 5 }));
    alices = await held(h, "alice", "res-own", "hoodie-m", 2);
    bobs = await held(h, "bob", "res-own", "hoodie-m", 1);
  });

  test("GET one: the buyer's own reservation; another buyer's or an unknown one is 404", async () => {
    expect(await reservationOf(h, alices)).toEqual(alices);
    await expectProblem(await h.buyer("bob", "GET", `/v1/sales/res-own/reservations/${alices.id}`), 404, "not_found");
    await expectProblem(await h.buyer("alice", "GET", "/v1/sales/res-own/reservations/nope"), 404, "not_found");
    await expectProblem(await h.buyer("alice", "GET", `/v1/sales/res-nope/reservations/${alices.id}`), 404, "not_found");
  });

  test("GET list: only the buyer's own reservations in that sale", async () => {
    const second = await held(h, "alice", "res-own", "hoodie-m", 1);
    const list = await expectStatus<{ reservations: Reservation[] }>(await h.buyer("alice", "GET", "/v1/sales/res-own/reservations"), 200);
    expect(list.reservations.map((r) => r.id).sort()).toEqual([alices.id, second.id].sort());
    for (const r of list.reservations) expect(r.userId).toBe("alice");
    const bobsList = await expectStatus<{ reservations: Reservation[] }>(await h.buyer("bob", "GET", "/v1/sales/res-own/reservations"), 200);
    expect(bobsList.reservations).toEqual([bobs]);
    const nobody = await expectStatus<{ reservations: Reservation[] }>(await h.buyer("dave", "GET", "/v1/sales/res-own/reservations"), 200);
    expect(nobody.reservations).toEqual([]);
    await expectProblem(await h.buyer("alice", "GET", "/v1/sales/res-nope/reservations"), 404, "not_found");
  });

  test("DELETE: 200 released and the stock is back at once; again 409 not_held; another buyer's 404", async () => {
    await expectProblem(await h.buyer("alice", "DELETE", `/v1/sales/res-own/reservations/${bobs.id}`), 404, "not_found");
    expect((await reservationOf(h, bobs)).status).toBe("held");
    const before = await counts(h, "res-own", "hoodie-m");
    const released = await expectStatus<Reservation>(await h.buyer("bob", "DELETE", `/v1/sales/res-own/reservations/${bobs.id}`), 200);
    expect(released).toMatchObject({ id: bobs.id, status: "released", quantity: 1, userId: "bob" });
    expect(await counts(h, "res-own", "hoodie-m")).toEqual({
      ...before,
      available: before.available + 1,
      held: before.held - 1,
    });
    expect((await reservationOf(h, bobs)).status).toBe("released");
    await expectProblem(await h.buyer("bob", "DELETE", `/v1/sales/res-own/reservations/${bobs.id}`), 409, "not_held");
    await expectProblem(await h.buyer("bob", "DELETE", "/v1/sales/res-own/reservations/nope"), 404, "not_found");
  });

  test("DELETE of a confirmed reservation is 409 not_held and keeps it confirmed", async () => {
    expect(await outcomeOf(await h.webhook(paymentFor(alices)))).toBe("confirmed");
    await expectProblem(await h.buyer("alice", "DELETE", `/v1/sales/res-own/reservations/${alices.id}`), 409, "not_held");
    expect((await reservationOf(h, alices)).status).toBe("confirmed");
  });
});

describe("expiry", () => {
  test("a hold expires exactly: its stock returns soon after expiresAt and never before", async () => {
    await createSale(h, saleBody("res-expiry", { holdSeconds: 1, limitPerUser: 1 }));
    const reservation = await held(h, "alice", "res-expiry", "hoodie-m");
    const expiresAt = Date.parse(reservation.expiresAt);
    expect(expiresAt - Date.parse(reservation.createdAt)).toBe(1000);
    let heldSeen = 0;
    let returnedAt: number | null = null;
    while (Date.now() < expiresAt + 2000) {
      const sentAt = Date.now();
      const { available, held: heldUnits } = await counts(h, "res-expiry", "hoodie-m");
      const receivedAt = Date.now();
      if (available === 10) {
        expect(heldUnits).toBe(0);
        // The answer was decided no later than it arrived, which must not be before expiresAt.
        expect(receivedAt).toBeGreaterThanOrEqual(expiresAt);
        returnedAt = sentAt;
        break;
      }
      expect({ available, heldUnits }).toEqual({ available: 9, heldUnits: 1 });
      heldSeen += 1;
      await sleep(20);
    }
    expect(heldSeen).toBeGreaterThan(5);
    expect(returnedAt).not.toBeNull();
    expect(returnedAt as number).toBeLessThanOrEqual(expiresAt + 1000);
    expect((await reservationOf(h, reservation)).status).toBe("expired");
    await expectProblem(await h.buyer("alice", "DELETE", `/v1/sales/res-expiry/reservations/${reservation.id}`), 409, "not_held");
    // An expired hold no longer counts toward the limit.
    await held(h, "alice", "res-expiry", "hoodie-m");
  });
});

describe("rate limits", () => {
  let perBuyer: Harness;
  let perAddress: Harness;
  let behindProxy: Harness;
  beforeAll(async () => {
    perBuyer = await startHarness({ env: { STAMPEDE_RATE_LIMIT_BUYER: "1" } });
    perAddress = await startHarness({ env: { STAMPEDE_RATE_LIMIT_ADDRESS: "1" } });
    behindProxy = await startHarness({ env: { STAMPEDE_RATE_LIMIT_ADDRESS: "1", STAMPEDE_TRUST_PROXY: "1" } });
  });
  afterAll(async () => {
    await Promise.all([perBuyer.close(), perAddress.close(), behindProxy.close()]);
  });

  test("STAMPEDE_RATE_LIMIT_BUYER: 429 rate_limited with Retry-After, per buyer, taking nothing", async () => {
    await createSale(perBuyer, saleBody("res-rl-buyer", { limitPerUser: 10 }));
    // One a second with bursts of two: the third attempt in a row is refused.
    await expectStatus(await hold(perBuyer, "alice", "res-rl-buyer", "hoodie-m"), 201);
    await expectStatus(await hold(perBuyer, "alice", "res-rl-buyer", "hoodie-m"), 201);
    const refused = await hold(perBuyer, "alice", "res-rl-buyer", "hoodie-m");
    const retryAfter = Number(refused.headers.get("retry-after"));
    await expectProblem(refused, 429, "rate_limited");
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    // Another buyer has a bucket of their own.
    await expectStatus(await hold(perBuyer, "bob", "res-rl-buyer", "hoodie-m"), 201);
    expect(await counts(perBuyer, "res-rl-buyer", "hoodie-m")).toMatchObject({ available: 7, held: 3 });
  });

  test("STAMPEDE_RATE_LIMIT_ADDRESS: 429 rate_limited with Retry-After for the client address", async () => {
    await createSale(perAddress, saleBody("res-rl-address", { limitPerUser: 10 }));
    await expectStatus(await hold(perAddress, "alice", "res-rl-address", "hoodie-m"), 201);
    await expectStatus(await fetch(`${perAddress.url}/v1/sales/res-rl-address`), 200);
    // A different buyer from the same address shares the address's bucket.
    const refused = await hold(perAddress, "bob", "res-rl-address", "hoodie-m");
    const retryAfter = Number(refused.headers.get("retry-after"));
    await expectProblem(refused, 429, "rate_limited");
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(await counts(perAddress, "res-rl-address", "hoodie-m")).toMatchObject({ available: 9, held: 1 });
  });

  test("STAMPEDE_TRUST_PROXY: the address is read from X-Forwarded-For, as deep as the proxies trusted", async () => {
    await createSale(behindProxy, saleBody("res-rl-proxy"));
    const from = (forwarded: string) =>
      fetch(`${behindProxy.url}/v1/sales/res-rl-proxy`, { headers: { "x-forwarded-for": forwarded } });
    // The client may write anything before what our one proxy appended; only the last entry counts.
    for (let i = 0; i < 2; i++) await expectStatus(await from(`198.51.100.${i}, 203.0.113.7`), 200);
    await expectProblem(await from("198.51.100.99, 203.0.113.7"), 429, "rate_limited");
    // Another client address behind the same proxy has a bucket of its own.
    await expectStatus(await from("203.0.113.8"), 200);
  });
});

describe("load shedding", () => {
  let draining: Harness;
  beforeAll(async () => {
    draining = await startHarness();
  });
  afterAll(async () => {
    await draining.close();
  });

  test("a draining server answers 503 overloaded with a jittered Retry-After, and /readyz says why", async () => {
    await createSale(draining, saleBody("res-503"));
    await expectStatus(await hold(draining, "alice", "res-503", "hoodie-m"), 201);
    // What SIGTERM does after it stops accepting: the sale owner drains and takes no new command.
    // Here the HTTP server keeps accepting, to show what a request reaching a draining owner gets.
    // The harness's close() stops the owner again; like server.stop(), that second stop must wait
    // for the first rather than start over (SaleOwner.stop is not idempotent by itself).
    const owner = draining.server.owner;
    const stopped = owner.stop();
    owner.stop = () => stopped;
    await stopped;
    const retryAfters = new Set<string>();
    for (let i = 0; i < 30; i++) {
      const response = await hold(draining, `buyer-${i}`, "res-503", "hoodie-m");
      const retryAfter = response.headers.get("retry-after") ?? "";
      expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
      retryAfters.add(retryAfter);
      await expectProblem(response, 503, "overloaded");
    }
    expect(retryAfters.size).toBeGreaterThan(1);
    const ready = await fetch(`${draining.url}/readyz`);
    expect(ready.status).toBe(503);
    const why = (await ready.json()) as { ready: boolean; reasons: string[] };
    expect(why.ready).toBe(false);
    expect(why.reasons).toContain("draining");
    expect((await fetch(`${draining.url}/healthz`)).status).toBe(200);
  });
});
