// Rate limits (API.md, Configuration; DESIGN.md, Protection): 429 `rate_limited` with Retry-After and
// the IETF RateLimit / RateLimit-Policy fields, per buyer and per client address, STAMPEDE_TRUST_PROXY,
// and the per-buyer limit taken at the sale's owner (as the cluster does it).

import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { SaleOwner } from "../../src/engine/sale-owner.ts";
import { createApp } from "../../src/http/app.ts";
import { AddressLimits } from "../../src/limits/address-limits.ts";
import { TokenBuckets } from "../../src/limits/token-buckets.ts";
import { ownerIn } from "../support/owner.ts";
import { Journal } from "../../src/journal/journal.ts";
import { openStore } from "../../src/store/open-store.ts";
import { type Harness, SECRETS, saleBody, startHarness, tempDir } from "../support/harness.ts";
import { adminSale, createSale, expectProblem, expectStatus, hold } from "./helpers.ts";

const harnesses: Harness[] = [];
async function harness(env: Record<string, string>): Promise<Harness> {
  const h = await startHarness({ env });
  harnesses.push(h);
  return h;
}
afterEach(async () => {
  for (const h of harnesses.splice(0)) await h.close();
});

/** RateLimit as draft-ietf-httpapi-ratelimit-headers writes it: `"name";r=<int>;t=<int>`. */
function parseRateLimit(value: string | null): { name: string; r: number; t: number } {
  const match = /^"([a-z]+)";r=(\d+);t=(\d+)$/.exec(value ?? "");
  if (match === null) throw new Error(`not a RateLimit field: ${value}`);
  return { name: match[1] as string, r: Number(match[2]), t: Number(match[3]) };
}

describe("per-buyer limit (STAMPEDE_RATE_LIMIT_BUYER)", () => {
  test("holds past the burst get 429 with Retry-After, RateLimit and RateLimit-Policy; others are unaffected", async () => {
    // 1 a second, bursts of 2.
    const h = await harness({ STAMPEDE_RATE_LIMIT_BUYER: "1" });
    await createSale(h, saleBody("rl-buyer", { limitPerUser: 100, items: [{ id: "i", name: "I", price: 1, currency: "USD", stock: 100 }] }));
    const first = await hold(h, "alice", "rl-buyer", "i");
    expect(parseRateLimit(first.headers.get("ratelimit"))).toEqual({ name: "buyer", r: 1, t: 1 });
    await expectStatus(first, 201);
    const second = await hold(h, "alice", "rl-buyer", "i");
    expect(parseRateLimit(second.headers.get("ratelimit")).r).toBe(0);
    await expectStatus(second, 201);

    const refused = await hold(h, "alice", "rl-buyer", "i");
    const retryAfter = refused.headers.get("retry-after");
    expect(retryAfter).toMatch(/^[1-9]\d*$/);
    expect(refused.headers.get("ratelimit-policy")).toBe('"buyer";q=2;w=2');
    // The draft: with Retry-After present, `t` names the same moment.
    expect(parseRateLimit(refused.headers.get("ratelimit"))).toEqual({ name: "buyer", r: 0, t: Number(retryAfter) });
    await expectProblem(refused, 429, "rate_limited");

    await expectStatus(await hold(h, "bob", "rl-buyer", "i"), 201);
    const item = (await adminSale(h, "rl-buyer")).items[0];
    expect(item?.held).toBe(3);
  });

  test("0 turns it off", async () => {
    const h = await harness({ STAMPEDE_RATE_LIMIT_BUYER: "0" });
    await createSale(h, saleBody("rl-off", { limitPerUser: 100, items: [{ id: "i", name: "I", price: 1, currency: "USD", stock: 100 }] }));
    for (let i = 0; i < 30; i++) {
      const response = await hold(h, "alice", "rl-off", "i");
      expect(response.headers.get("ratelimit")).toBeNull();
      await expectStatus(response, 201);
    }
  });
});

describe("per-address limit (STAMPEDE_RATE_LIMIT_ADDRESS)", () => {
  test("requests past the burst get 429 with the address policy; operators and webhooks are not limited", async () => {
    // 2 a second, bursts of 4.
    const h = await harness({ STAMPEDE_RATE_LIMIT_ADDRESS: "2" });
    await createSale(h, saleBody("rl-addr"));
    for (let i = 0; i < 4; i++) await expectStatus(await fetch(`${h.url}/v1/sales/rl-addr`), 200);
    const refused = await fetch(`${h.url}/v1/sales/rl-addr`);
    expect(refused.headers.get("ratelimit-policy")).toBe('"address";q=4;w=2');
    expect(parseRateLimit(refused.headers.get("ratelimit")).name).toBe("address");
    expect(refused.headers.get("retry-after")).toMatch(/^[1-9]\d*$/);
    await expectProblem(refused, 429, "rate_limited");
    // Buyers from the same address share it.
    await expectProblem(await hold(h, "carol", "rl-addr", "hoodie-m"), 429, "rate_limited");
    for (let i = 0; i < 10; i++) await expectStatus(await h.admin("GET", "/v1/admin/sales/rl-addr"), 200);
    for (let i = 0; i < 10; i++) {
      await expectProblem(await h.webhook({ eventId: "e", paymentId: "p", saleId: "rl-addr", reservationId: "nope", status: "succeeded", amount: 1, currency: "USD" }), 404, "not_found");
    }
    await expectStatus(await fetch(`${h.url}/healthz`), 200);
  });
});

describe("STAMPEDE_TRUST_PROXY", () => {
  const get = (h: Harness, forwardedFor?: string) =>
    fetch(`${h.url}/v1/sales/rl-proxy`, { headers: forwardedFor === undefined ? {} : { "x-forwarded-for": forwardedFor } });

  test("0: X-Forwarded-For is ignored, every request is the TCP peer's", async () => {
    const h = await harness({ STAMPEDE_RATE_LIMIT_ADDRESS: "1" });
    await createSale(h, saleBody("rl-proxy"));
    await expectStatus(await get(h, "203.0.113.1"), 200);
    await expectStatus(await get(h, "203.0.113.2"), 200);
    await expectProblem(await get(h, "203.0.113.3"), 429, "rate_limited");
  });

  test("1: the entry our proxy appended is the client; what the client wrote before it is not", async () => {
    const h = await harness({ STAMPEDE_RATE_LIMIT_ADDRESS: "1", STAMPEDE_TRUST_PROXY: "1" });
    await createSale(h, saleBody("rl-proxy"));
    await expectStatus(await get(h, "203.0.113.1"), 200);
    await expectStatus(await get(h, "203.0.113.1"), 200);
    await expectProblem(await get(h, "203.0.113.1"), 429, "rate_limited");
    // A client that forges entries in front of the real one still lands in its own bucket.
    await expectProblem(await get(h, "198.51.100.7, 203.0.113.1"), 429, "rate_limited");
    await expectProblem(await get(h, "10.0.0.1,10.0.0.2, 203.0.113.1"), 429, "rate_limited");
    // Another client behind the proxy has its own bucket.
    await expectStatus(await get(h, "203.0.113.2"), 200);
    // No header: the peer (the proxy itself, here the test) is the key.
    await expectStatus(await get(h), 200);
  });

  test("2: two proxies deep; a shorter chain did not come through both and keys on the peer", async () => {
    const h = await harness({ STAMPEDE_RATE_LIMIT_ADDRESS: "1", STAMPEDE_TRUST_PROXY: "2" });
    await createSale(h, saleBody("rl-proxy"));
    // client 203.0.113.5 -> proxy A (appends it) -> proxy B (appends A's address 10.0.0.9) -> us
    await expectStatus(await get(h, "203.0.113.5, 10.0.0.9"), 200);
    await expectStatus(await get(h, "spoofed, 203.0.113.5, 10.0.0.9"), 200);
    await expectProblem(await get(h, "203.0.113.5, 10.0.0.10"), 429, "rate_limited");
    await expectStatus(await get(h, "203.0.113.6, 10.0.0.9"), 200);
    // One entry only: not trusted, so all such requests share the peer's bucket.
    await expectStatus(await get(h, "198.51.100.1"), 200);
    await expectStatus(await get(h, "198.51.100.2"), 200);
    await expectProblem(await get(h, "198.51.100.3"), 429, "rate_limited");
  });
});

describe("the per-buyer limit taken at the sale's owner", () => {
  const dir = tempDir("stampede-owner-limit-");
  const buyerLimits = new TokenBuckets(1, 2);
  const { owner, store, close } = ownerIn(dir, { buyerLimits });
  afterAll(async () => {
    await close();
    buyerLimits.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("the owner refuses the third hold in a burst of two as rate_limited, and the HTTP layer answers 429", async () => {
    await store.migrate();
    await owner.start();
    const spec = { id: "own", name: "Own", startsAt: Date.now() - 1000, endsAt: Date.now() + 3_600_000, holdSeconds: 600, limitPerUser: 100 };
    const created = await owner.createSale({ ...spec, items: [{ id: "i", name: "I", price: 1, currency: "USD", delivery: "none", stock: 10 }] });
    expect(created.ok).toBe(true);
    const holdCommand = (userId: string) => ({ kind: "hold", userId, itemId: "i", quantity: 1, idempotencyKey: null }) as const;
    expect((await owner.execute("own", holdCommand("dave"))).ok).toBe(true);
    expect((await owner.execute("own", holdCommand("dave"))).ok).toBe(true);
    const refused = await owner.execute("own", holdCommand("dave"));
    expect(refused).toMatchObject({ ok: false, refusal: "rate_limited" });
    expect(refused.ok === false && refused.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    // Releases and payments are not holds: not limited.
    expect((await owner.execute("own", { kind: "release", reservationId: "nope", userId: "dave" })).ok).toBe(false);

    // The same owner behind the HTTP layer, with the limit taken there and not in the route.
    const app = createApp({
      version: "test",
      gateway: owner,
      buyer: (authorization) => (authorization?.startsWith("Bearer ") ? authorization.slice(7) : null),
      admin: () => false,
      webhookSecret: SECRETS.STAMPEDE_WEBHOOK_SECRET,
      buyerLimits: new TokenBuckets(1, 2),
      addressLimits: new AddressLimits(0, 0),
      trustProxy: 0,
    });
    app.listen({ port: 0, hostname: "127.0.0.1", reusePort: false });
    try {
      const url = `http://127.0.0.1:${app.server?.port}/v1/sales/own/reservations`;
      const post = () =>
        fetch(url, { method: "POST", headers: { authorization: "Bearer erin", "content-type": "application/json" }, body: '{"itemId":"i","quantity":1}' });
      await expectStatus(await post(), 201);
      await expectStatus(await post(), 201);
      const response = await post();
      expect(response.headers.get("retry-after")).toMatch(/^[1-9]\d*$/);
      expect(response.headers.get("ratelimit-policy")).toBe('"buyer";q=2;w=2');
      expect(parseRateLimit(response.headers.get("ratelimit"))).toMatchObject({ name: "buyer", r: 0 });
      await expectProblem(response, 429, "rate_limited");
    } finally {
      await app.stop(true);
    }
  });
});
