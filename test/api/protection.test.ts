// Admission control through the HTTP layer (DESIGN.md, Protection; invariant 7): new holds are shed
// with 503 `overloaded` and a jittered Retry-After when the process is behind, reads only when it is
// far behind, payment webhooks and operators never; event streams are bounded and end on stop.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { createAdminCheck } from "../../src/auth/admin-token.ts";
import { createBuyerVerifier, signBuyerToken } from "../../src/auth/buyer-token.ts";
import { signWebhook } from "../../src/auth/webhook-signature.ts";
import { Admission } from "../../src/http/admission.ts";
import { createApp } from "../../src/http/app.ts";
import { AddressLimits } from "../../src/limits/address-limits.ts";
import { TokenBuckets } from "../../src/limits/token-buckets.ts";
import { Journal } from "../../src/journal/journal.ts";
import { openStore } from "../../src/store/open-store.ts";
import { SECRETS, saleBody, startHarness, tempDir } from "../support/harness.ts";
import { ownerIn } from "../support/owner.ts";
import { createSale, expectProblem, expectStatus, sseReader } from "./helpers.ts";

describe("shedding by load", () => {
  const dir = tempDir("stampede-admission-");
  const { owner, store, close } = ownerIn(dir);
  let lagSeconds = 0;
  // While the loop is late (past 200 ms here) the bound on holds in flight drops from 8 to 0: every hold is shed.
  const admission = new Admission(
    { lagSeconds: () => lagSeconds, pendingEvents: () => owner.pendingEvents },
    { holdsInFlightMax: 8, holdsInFlightLateMax: 0, holdLagMaxSeconds: 0.2, readLagMaxSeconds: 1 },
  );
  const limits = [new TokenBuckets(0, 0), new AddressLimits(0, 0)] as const;
  const app = createApp({
    version: "test",
    gateway: owner,
    buyer: createBuyerVerifier({ secret: SECRETS.STAMPEDE_JWT_SECRET }),
    admin: createAdminCheck(SECRETS.STAMPEDE_ADMIN_TOKEN),
    webhookSecret: SECRETS.STAMPEDE_WEBHOOK_SECRET,
    buyerLimits: limits[0],
    addressLimits: limits[1],
    trustProxy: 0,
    admission,
  });
  let url = "";
  const buyer = { authorization: `Bearer ${signBuyerToken(SECRETS.STAMPEDE_JWT_SECRET, "shed-buyer", 3600)}`, "content-type": "application/json" };
  const admin = { authorization: `Bearer ${SECRETS.STAMPEDE_ADMIN_TOKEN}`, "content-type": "application/json" };
  const holdRequest = () => fetch(`${url}/v1/sales/shed/reservations`, { method: "POST", headers: buyer, body: '{"itemId":"hoodie-m","quantity":1}' });
  const webhook = () => {
    const body = JSON.stringify({ eventId: "e1", paymentId: "p1", saleId: "shed", reservationId: "none", status: "succeeded", amount: 1, currency: "USD" });
    const signature = signWebhook(SECRETS.STAMPEDE_WEBHOOK_SECRET, body, Math.floor(Date.now() / 1000));
    return fetch(`${url}/v1/webhooks/payments`, { method: "POST", headers: { "content-type": "application/json", "stampede-signature": signature }, body });
  };

  beforeAll(async () => {
    await store.migrate();
    await owner.start();
    app.listen({ port: 0, hostname: "127.0.0.1", reusePort: false });
    url = `http://127.0.0.1:${app.server?.port}`;
    await expectStatus(await fetch(`${url}/v1/admin/sales`, { method: "POST", headers: admin, body: JSON.stringify(saleBody("shed", { limitPerUser: 100 })) }), 201);
  });
  afterAll(async () => {
    await app.stop(true);
    await close();
    for (const buckets of limits) buckets.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("past the lag bound: holds get 503 overloaded with Retry-After; reads, webhooks and operators go on", async () => {
    lagSeconds = 0.5;
    const retryAfters = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const response = await holdRequest();
      retryAfters.add(response.headers.get("retry-after") ?? "");
      await expectProblem(response, 503, "overloaded");
    }
    for (const value of retryAfters) expect(["1", "2"]).toContain(value);
    await expectStatus(await fetch(`${url}/v1/sales/shed`), 200);
    await expectStatus(await fetch(`${url}/v1/sales/shed/reservations`, { headers: buyer }), 200);
    await expectProblem(await webhook(), 404, "not_found");
    await expectStatus(await fetch(`${url}/v1/admin/sales/shed`, { headers: admin }), 200);
    lagSeconds = 0;
    await expectStatus(await holdRequest(), 201);
    expect(admission.holdsInFlight).toBe(0);
  });

  test("past the read bound: reads are shed too, webhooks and operators still never", async () => {
    lagSeconds = 5;
    await expectProblem(await fetch(`${url}/v1/sales/shed`), 503, "overloaded");
    await expectProblem(await fetch(`${url}/v1/sales/shed/reservations`, { headers: buyer }), 503, "overloaded");
    await expectProblem(await fetch(`${url}/v1/sales/shed/stream`), 503, "overloaded");
    await expectProblem(await webhook(), 404, "not_found");
    await expectStatus(await fetch(`${url}/v1/admin/sales/shed`, { headers: admin }), 200);
    await expectStatus(await fetch(`${url}/healthz`), 200);
    lagSeconds = 0;
    await expectStatus(await fetch(`${url}/v1/sales/shed`), 200);
  });

  test("a shed hold changes nothing", async () => {
    lagSeconds = 1;
    const before = await (await fetch(`${url}/v1/admin/sales/shed`, { headers: admin })).json();
    for (let i = 0; i < 5; i++) await expectProblem(await holdRequest(), 503, "overloaded");
    lagSeconds = 0;
    expect(await (await fetch(`${url}/v1/admin/sales/shed`, { headers: admin })).json()).toEqual(before);
  });
});

describe("event streams", () => {
  test("at most 8 per client address (429 beyond), a closed one frees its place, and stop ends them at once", async () => {
    const h = await startHarness();
    try {
      await createSale(h, saleBody("sse-cap"));
      const controllers: AbortController[] = [];
      const open = () => {
        const controller = new AbortController();
        controllers.push(controller);
        return fetch(`${h.url}/v1/sales/sse-cap/stream`, { signal: controller.signal });
      };
      const streams = [];
      for (let i = 0; i < 8; i++) {
        const response = await open();
        expect(response.status).toBe(200);
        streams.push(response);
      }
      const refused = await open();
      expect(refused.headers.get("retry-after")).toMatch(/^[1-9]\d*$/);
      expect(refused.headers.get("ratelimit-policy")).toBe('"streams";q=8');
      await expectProblem(refused, 429, "rate_limited");

      controllers[0]?.abort();
      let reopened: Response | undefined;
      for (let attempt = 0; attempt < 50 && reopened?.status !== 200; attempt++) {
        await Bun.sleep(20);
        reopened = await open();
      }
      expect(reopened?.status).toBe(200);

      const reader = sseReader(reopened as Response);
      expect((await reader.next<{ id: string }>()).id).toBe("sse-cap");
      const started = performance.now();
      await h.server.stop();
      // Without closing the streams the stop waits its full grace period (5 s) for them.
      expect(performance.now() - started).toBeLessThan(2_000);
      await expect(reader.next(1_000)).rejects.toThrow();
    } finally {
      await h.close();
    }
  });
});
