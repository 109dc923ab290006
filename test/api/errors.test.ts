// Errors (API.md, "Conventions"): every error is application/problem+json with type, title, status,
// code and detail; malformed JSON is 400, unknown routes 404, bodies over 1 MiB 413, validation 422
// with `errors[].path`; and no bad input ever gets a 5xx or changes anything.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type Harness, SECRETS, saleBody, startHarness } from "../support/harness.ts";
import { type AdminSale, adminSale, createSale, expectProblem, expectStatus, expectValidation, held } from "./helpers.ts";

let h: Harness;
let reservationId: string;
let before: AdminSale;
beforeAll(async () => {
  h = await startHarness();
  await createSale(h, saleBody("err-sale", { limitPerUser: 5 }));
  reservationId = (await held(h, "alice", "err-sale", "hoodie-m")).id;
  before = await adminSale(h, "err-sale");
});
afterAll(async () => {
  await h.close();
});

type RawBody = string | Uint8Array | ReadableStream<Uint8Array>;
const raw = (method: string, path: string, init: { body?: RawBody; headers?: Record<string, string> } = {}) =>
  fetch(`${h.url}${path}`, { method, ...init, ...(init.body instanceof ReadableStream ? { duplex: "half" } : {}) } as RequestInit);
const asAdmin = { authorization: `Bearer ${SECRETS.STAMPEDE_ADMIN_TOKEN}`, "content-type": "application/json" };
const asBuyer = () => ({ authorization: `Bearer ${h.token("alice")}`, "content-type": "application/json" });

describe("malformed JSON is 400 invalid_json", () => {
  const bodies = ["{", "{\"itemId\": }", "not json", "{\"a\":1}}", "[1,", "\u0000"];
  test("on the operator, buyer and payment routes", async () => {
    for (const body of bodies) {
      await expectProblem(await raw("POST", "/v1/admin/sales", { body, headers: asAdmin }), 400, "invalid_json");
      await expectProblem(await raw("PATCH", "/v1/admin/sales/err-sale", { body, headers: asAdmin }), 400, "invalid_json");
      await expectProblem(await raw("POST", "/v1/sales/err-sale/reservations", { body, headers: asBuyer() }), 400, "invalid_json");
      await expectProblem(await h.webhook(body), 400, "invalid_json");
    }
  });

  test("bytes that are not UTF-8", async () => {
    const body = new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]);
    await expectProblem(await raw("POST", "/v1/sales/err-sale/reservations", { body, headers: asBuyer() }), 400, "invalid_json");
  });
});

describe("unknown routes are 404 problems", () => {
  const paths: [string, string][] = [
    // `GET /` leads to the dashboard (302); its folder has no other files.
    ["GET", "/dashboard/assets/nope.js"],
    ["GET", "/nope"],
    ["GET", "/v1"],
    ["GET", "/v1/sales"],
    ["GET", "/v2/sales/err-sale"],
    ["POST", "/healthz"],
    ["PUT", "/v1/sales/err-sale/reservations"],
    ["GET", "/v1/webhooks/payments"],
    ["GET", "/v1/sales/err-sale/reservations/x/y"],
  ];
  for (const [method, path] of paths) {
    test(`${method} ${path}`, async () => {
      await expectProblem(await raw(method, path, { headers: asBuyer() }), 404, "not_found");
    });
  }
});

describe("bodies over 1 MiB are 413", () => {
  const big = () => JSON.stringify({ itemId: "hoodie-m", quantity: 1, padding: "x".repeat(1024 * 1024) });
  test("announced by Content-Length", async () => {
    await expectProblem(await raw("POST", "/v1/sales/err-sale/reservations", { body: big(), headers: asBuyer() }), 413, "payload_too_large");
    await expectProblem(await raw("POST", "/v1/admin/sales", { body: big(), headers: asAdmin }), 413, "payload_too_large");
    await expectProblem(await h.webhook(big()), 413, "payload_too_large");
  });

  test("sent chunked, with no Content-Length", async () => {
    const text = big();
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        const bytes = new TextEncoder().encode(text);
        for (let offset = 0; offset < bytes.length; offset += 64 * 1024) controller.enqueue(bytes.slice(offset, offset + 64 * 1024));
        controller.close();
      },
    });
    await expectProblem(await raw("POST", "/v1/sales/err-sale/reservations", { body, headers: asBuyer() }), 413, "payload_too_large");
  });

  test("a body just under the bound is read (extra fields are ignored)", async () => {
    const body = JSON.stringify({ itemId: "hoodie-m", quantity: 1, padding: "x".repeat(1000 * 1000) });
    const response = await raw("POST", "/v1/sales/err-sale/reservations", { body, headers: asBuyer() });
    expect(response.status).toBe(201);
    const { id } = (await response.json()) as { id: string };
    // Released again, so that the sale ends this file as it began.
    expect((await raw("DELETE", `/v1/sales/err-sale/reservations/${id}`, { headers: asBuyer() })).status).toBe(200);
  });
});

describe("422 validation_failed names the failing paths", () => {
  test("hold, patch, stock and codes bodies, path and query parameters", async () => {
    await expectValidation(
      await raw("POST", "/v1/sales/err-sale/reservations", { body: JSON.stringify({ itemId: "bad id!", quantity: 1 }), headers: asBuyer() }),
      "/itemId",
    );
    await expectValidation(
      await raw("POST", "/v1/sales/err-sale/reservations", { body: JSON.stringify({ itemId: "hoodie-m", quantity: 0 }), headers: asBuyer() }),
      "/quantity",
    );
    await expectValidation(await raw("PATCH", "/v1/admin/sales/err-sale", { body: JSON.stringify({ name: "" }), headers: asAdmin }), "/name");
    await expectValidation(
      await raw("PATCH", "/v1/admin/sales/err-sale", { body: JSON.stringify({ startsAt: "soon" }), headers: asAdmin }),
      "/startsAt",
    );
    await expectValidation(
      await raw("POST", "/v1/admin/sales/err-sale/items/hoodie-m/stock", { body: JSON.stringify({ delta: "many" }), headers: asAdmin }),
      "/delta",
    );
    await expectValidation(
      await raw("POST", "/v1/admin/sales/err-sale/items/gift-50/codes", { body: JSON.stringify({ codes: "A-1" }), headers: asAdmin }),
      "/codes",
    );
    await expectValidation(await raw("GET", `/v1/sales/${"x".repeat(65)}`), "/saleId");
    await expectValidation(await raw("GET", `/v1/sales/err-sale/reservations/${"r".repeat(129)}`, { headers: asBuyer() }), "/reservationId");
    await expectValidation(await raw("GET", "/v1/admin/sales/err-sale/reservations?limit=many", { headers: asAdmin }), "/limit");
  });
});

describe("no bad input gets a 5xx or changes anything", () => {
  const hostile: unknown[] = [
    null,
    [],
    0,
    "string",
    true,
    {},
    { itemId: null, quantity: null },
    { itemId: "hoodie-m", quantity: 1e308 },
    { itemId: "hoodie-m", quantity: -1e308 },
    { itemId: "hoodie-m", quantity: "1e2" },
    { itemId: "hoodie-m", quantity: [1] },
    { itemId: "hoodie-m", quantity: { $gt: 0 } },
    { itemId: ["hoodie-m"], quantity: 1 },
    { itemId: "../../etc/passwd", quantity: 1 },
    { itemId: "hoodie-m\u0000", quantity: 1 },
    { itemId: "ä".repeat(64), quantity: 1 },
    { itemId: "x".repeat(10_000), quantity: 1 },
    JSON.parse('{"__proto__": {"quantity": 1}, "itemId": "hoodie-m"}'),
    { constructor: { prototype: { admin: true } }, itemId: "hoodie-m", quantity: 0 },
    { id: "err-sale", name: "Again", items: [{ id: "a", name: "A", price: 1, currency: "USD", stock: 1 }] },
    { name: "x", items: [{ id: "a", name: "A", price: 1e300, currency: "USD", stock: 1 }] },
    { name: "x", items: [{ id: "a", name: "A", price: 1, currency: "USD", stock: 1e12 }] },
    { name: "x", startsAt: "2026-13-45T99:99:99Z", items: [{ id: "a", name: "A", price: 1, currency: "USD", stock: 1 }] },
    { name: "x", startsAt: "+275760-09-13T00:00:00.001Z", items: [{ id: "a", name: "A", price: 1, currency: "USD", stock: 1 }] },
    { name: "x", items: Array.from({ length: 101 }, (_, i) => ({ id: `i${i}`, name: "A", price: 1, currency: "USD", stock: 1 })) },
    { delta: 1e18 },
    { delta: -1e18 },
    { codes: [null] },
    { codes: Array.from({ length: 10 }, () => "x".repeat(257)) },
    { eventId: "e", paymentId: "p", saleId: "err-sale", reservationId: "r", status: "succeeded", amount: 1e300, currency: "USD" },
    { eventId: "e".repeat(10_000), paymentId: "p", saleId: "err-sale", reservationId: "r", status: "succeeded", amount: 1, currency: "USD" },
  ];
  const targets = () =>
    [
      ["POST", "/v1/sales/err-sale/reservations", asBuyer()],
      ["POST", "/v1/admin/sales", asAdmin],
      ["POST", "/v1/admin/sales/err-sale/items/hoodie-m/stock", asAdmin],
      ["POST", "/v1/admin/sales/err-sale/items/gift-50/codes", asAdmin],
    ] as const;

  test("hostile JSON bodies on every writing route", async () => {
    let refused = 0;
    for (const body of hostile) {
      const text = JSON.stringify(body);
      for (const [method, path, headers] of targets()) {
        const response = await raw(method, path, { body: text, headers });
        const label = `${method} ${path} ${text.slice(0, 80)}`;
        expect({ label, serverError: response.status >= 500 }).toEqual({ label, serverError: false });
        if (response.status >= 400) {
          refused += 1;
          expect({ label, type: response.headers.get("content-type") }).toEqual({ label, type: "application/problem+json" });
        }
        await response.arrayBuffer();
      }
      const webhook = await h.webhook(text);
      expect({ text: text.slice(0, 80), status: webhook.status >= 500 }).toEqual({ text: text.slice(0, 80), status: false });
      await webhook.arrayBuffer();
    }
    expect(refused).toBeGreaterThan(hostile.length * 3);
  });

  test("a __proto__ key supplies no field, however it is spelled, and pollutes nothing", async () => {
    for (const key of ["__proto__", "\\u005f_proto__", "\\u005F\\u005Fproto\\u005f\\u005f"]) {
      const body = `{"${key}": {"quantity": 1, "admin": true}, "itemId": "hoodie-m"}`;
      await expectValidation(await raw("POST", "/v1/sales/err-sale/reservations", { body, headers: asBuyer() }), "/quantity");
    }
    const patch = '{"__proto__": {"paused": true}}';
    await expectStatus(await raw("PATCH", "/v1/admin/sales/err-sale", { body: patch, headers: asAdmin }), 200);
    expect((await adminSale(h, "err-sale")).paused).toBe(false);
    // The server runs in this process: its objects' prototype is ours.
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
    expect(({} as Record<string, unknown>).quantity).toBeUndefined();
  });

  test("hostile patches: anything but an object of valid fields", async () => {
    const patches = [
      null,
      [],
      [1, 2],
      0,
      "string",
      true,
      { paused: null },
      { paused: "true" },
      { holdSeconds: -5 },
      { holdSeconds: 86_401 },
      { limitPerUser: 1e9 },
      { limitPerUser: 0.5 },
      { endsAt: "yesterday" },
      { startsAt: "2026-13-45T99:99:99Z" },
      { name: "" },
      { name: "x".repeat(201) },
      { name: 42 },
    ];
    for (const patch of patches) {
      const text = JSON.stringify(patch);
      const response = await raw("PATCH", "/v1/admin/sales/err-sale", { body: text, headers: asAdmin });
      const problem = await expectProblem(response, 422, "validation_failed");
      expect({ text, errors: (problem.errors?.length ?? 0) > 0 }).toEqual({ text, errors: true });
    }
    await expectProblem(await raw("PATCH", "/v1/admin/sales/err-sale", { headers: asAdmin }), 422, "validation_failed");
  });

  test("hostile paths, queries and headers", async () => {
    const requests: [string, string, Record<string, string>][] = [
      ["GET", "/v1/sales/%00", {}],
      ["GET", "/v1/sales/%E0%A4%A", {}],
      ["GET", "/v1/sales/err-sale/reservations/%2e%2e%2f%2e%2e", asBuyer()],
      ["DELETE", "/v1/sales/err-sale/reservations/%20", asBuyer()],
      ["GET", "/v1/admin/sales/err-sale/reservations?limit=-1&status=held&cursor=", asAdmin],
      ["GET", "/v1/admin/sales/err-sale/reservations?cursor=%00%01%02", asAdmin],
      ["GET", `/v1/admin/sales/err-sale/reservations?cursor=${"z".repeat(500)}`, asAdmin],
      ["GET", "/v1/admin/sales/err-sale/reservations?limit=99999999999999999999999", asAdmin],
      ["GET", "/v1/admin/sales/err-sale/payments?outcome[]=refund_required", asAdmin],
      ["GET", "/v1/sales/err-sale", { "if-none-match": "x".repeat(8000) }],
      ["GET", "/v1/sales/err-sale/reservations", { authorization: `Bearer ${"a".repeat(9000)}` }],
      ["GET", "/v1/sales/err-sale/reservations", { authorization: "Bearer a.b.c" }],
      ["GET", "/v1/sales/err-sale/reservations", { authorization: "Bearer eyJhbGciOiJIUzI1NiJ9.e30.AAAA" }],
      ["POST", "/v1/webhooks/payments", { "stampede-signature": `t=${"9".repeat(20)},v1=${"0".repeat(64)}`, "content-type": "application/json" }],
      ["POST", "/v1/webhooks/payments", { "stampede-signature": "t=1,t=2,v1=zz", "content-type": "application/json" }],
    ];
    for (const [method, path, headers] of requests) {
      const response = await raw(method, path, { headers, ...(method === "POST" ? { body: "{}" } : {}) });
      const label = `${method} ${path.slice(0, 80)}`;
      expect({ label, serverError: response.status >= 500 }).toEqual({ label, serverError: false });
      if (response.status >= 400) {
        expect({ label, type: response.headers.get("content-type") }).toEqual({ label, type: "application/problem+json" });
      }
      await response.arrayBuffer();
    }
  });

  test("a buyer reservation id that is not there, or is someone else's, in every shape", async () => {
    for (const id of ["nope", reservationId.toUpperCase(), `${reservationId}x`, reservationId.slice(0, -1)]) {
      await expectProblem(await raw("GET", `/v1/sales/err-sale/reservations/${id}`, { headers: asBuyer() }), 404, "not_found");
      await expectProblem(await raw("DELETE", `/v1/sales/err-sale/reservations/${id}`, { headers: asBuyer() }), 404, "not_found");
    }
  });

  test("after all of it the sale is exactly as it was", async () => {
    const after = await adminSale(h, "err-sale");
    expect(after).toEqual(before);
  });
});
