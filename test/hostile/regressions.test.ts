// One test for each hole the protection issue found and closed, so that none of them comes back:
// named requests, where the fuzz suite (fuzz.test.ts) only finds them by chance.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { type Harness, SECRETS, saleBody, startHarness } from "../support/harness.ts";
import { adminSale, createSale, expectProblem, expectStatus, held, paymentFor } from "../api/helpers.ts";
import { rawRequest } from "./raw-http.ts";

let h: Harness;
let port = 0;
beforeAll(async () => {
  h = await startHarness();
  port = Number(new URL(h.url).port);
  await createSale(h, saleBody("reg-sale", { limitPerUser: 5 }));
});
afterAll(async () => {
  await h.close();
});

const raw = (head: string, body = "") =>
  rawRequest(port, `${head}\r\n${body === "" ? "" : `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n`}Connection: close\r\n\r\n${body}`);

describe("the gate and the router agree on the path", () => {
  test("a Host that is no host does not hide an operator route from the token check", async () => {
    // Bun then gives the Request a bare path as its URL; the gate once read "/v1/admin/sales" as
    // "/admin/sales" and let the operator routes run without a token.
    for (const host of ["evil/x", "evil?a=", "evil#", "a/v1/sales/x"]) {
      const list = await raw(`GET /v1/admin/sales HTTP/1.1\r\nHost: ${host}`);
      expect(list.status).toBe(401);
      const create = await raw(`POST /v1/admin/sales HTTP/1.1\r\nHost: ${host}`, JSON.stringify(saleBody("reg-bypass")));
      expect(create.status).toBe(401);
      const hold = await raw(`POST /v1/sales/reg-sale/reservations HTTP/1.1\r\nHost: ${host}`, '{"itemId":"hoodie-m","quantity":1}');
      expect(hold.status).toBe(401);
    }
    await expectProblem(await h.admin("GET", "/v1/admin/sales/reg-bypass"), 404, "not_found");
  });

  test("dot segments the URL removes but the router keeps are authenticated, not a 500", async () => {
    const routes = [
      ["GET", "/v1/sales/reg-sale/reservations/%2e%2e"],
      ["DELETE", "/v1/sales/reg-sale/reservations/%2E%2e"],
      ["GET", "/v1/sales/%2e%2e/reservations"],
      ["POST", "/v1/sales/%2e%2e/reservations"],
    ];
    for (const [method, path] of routes) {
      const answer = await raw(`${method} ${path} HTTP/1.1\r\nHost: x`, method === "POST" ? "{}" : "");
      // 401 before anything else: no 500, and no validation error for a caller without a token.
      expect(`${method} ${path} ${answer.status}`).toBe(`${method} ${path} 401`);
    }
    const withToken = await raw(`GET /v1/sales/reg-sale/reservations/%2e%2e HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${h.token("alice")}`);
    expect(withToken.status).toBe(404);
  });
});

describe("bodies", () => {
  test("JSON nested past 32 levels is 400 at once (it was seconds of work, then a 500)", async () => {
    const started = performance.now();
    for (const body of ["[".repeat(50_000) + "]".repeat(50_000), '{"a":'.repeat(20_000) + "1" + "}".repeat(20_000)]) {
      await expectProblem(await h.admin("POST", "/v1/admin/sales", body), 400, "invalid_json");
      await expectProblem(await h.buyer("alice", "POST", "/v1/sales/reg-sale/reservations", body), 400, "invalid_json");
    }
    expect(performance.now() - started).toBeLessThan(1_000);
    // 32 levels is still JSON the schema judges.
    await expectProblem(await h.admin("POST", "/v1/admin/sales", "[".repeat(32) + "]".repeat(32)), 422, "validation_failed");
  });

  test("numbers written as strings are 422, not quietly converted", async () => {
    for (const quantity of ['"1"', '" 1"', '"0x1"', '"1e0"']) {
      await expectProblem(await h.buyer("alice", "POST", "/v1/sales/reg-sale/reservations", `{"itemId":"hoodie-m","quantity":${quantity}}`), 422, "validation_failed");
    }
    await expectProblem(await h.admin("POST", "/v1/admin/sales/reg-sale/items/hoodie-m/stock", '{"delta":"5"}'), 422, "validation_failed");
    await expectProblem(await h.admin("PATCH", "/v1/admin/sales/reg-sale", '{"limitPerUser":"3"}'), 422, "validation_failed");
    const sale = await adminSale(h, "reg-sale");
    expect(sale.limitPerUser).toBe(5);
    expect(sale.items[0]?.stock).toBe(10);
    expect(sale.items[0]?.held).toBe(0);
  });

  test("ids a store cannot keep as they are (lone surrogates, control characters) are 422", async () => {
    const reservation = await held(h, "carol", "reg-sale", "hoodie-m");
    for (const eventId of ["evt\\ud800", "evt\\u0000x", "evt\\nx"]) {
      const body = JSON.stringify(paymentFor(reservation)).replace(/"eventId":"[^"]*"/, `"eventId":"${eventId}"`);
      await expectProblem(await h.webhook(body), 422, "validation_failed");
    }
    await expectProblem(await h.admin("POST", "/v1/admin/sales", JSON.stringify(saleBody("reg-name")).replace('"Sale reg-name"', '"bad\\udc00name"')), 422, "validation_failed");
  });

  test("a lone-surrogate or bidi-spoofed buyer id is not a buyer", async () => {
    const exp = Math.floor(Date.now() / 1000) + 3600;
    const b64 = (text: string) => Buffer.from(text).toString("base64url");
    for (const sub of ['"a\\ud800"', '"\\u202eecila"']) {
      const input = `${b64('{"alg":"HS256"}')}.${b64(`{"sub":${sub},"exp":${exp}}`)}`;
      const token = `${input}.${createHmac("sha256", SECRETS.STAMPEDE_JWT_SECRET).update(input).digest("base64url")}`;
      const response = await fetch(`${h.url}/v1/sales/reg-sale/reservations`, { headers: { authorization: `Bearer ${token}` } });
      await expectProblem(response, 401, "unauthorized");
    }
  });
});

describe("who sees a code", () => {
  test("only its buyer, once confirmed: not before, not another buyer, not the operator's listings", async () => {
    await createSale(h, saleBody("reg-codes"));
    await expectStatus(await h.admin("POST", "/v1/admin/sales/reg-codes/items/gift-50/codes", { codes: ["SECRET-CODE-1", "SECRET-CODE-2"] }), 200);
    const reservation = await held(h, "dora", "reg-codes", "gift-50");
    expect(reservation.codes).toEqual([]);
    const own = `/v1/sales/reg-codes/reservations/${reservation.id}`;
    expect((await expectStatus<{ codes: string[] }>(await h.buyer("dora", "GET", own), 200)).codes).toEqual([]);
    expect(await (await h.webhook(paymentFor(reservation))).json()).toEqual({ outcome: "confirmed" });
    const codes = (await expectStatus<{ codes: string[] }>(await h.buyer("dora", "GET", own), 200)).codes;
    expect(codes).toHaveLength(1);
    const code = codes[0] as string;
    await expectProblem(await h.buyer("eve", "GET", own), 404, "not_found");
    const everywhere = [
      await (await h.buyer("eve", "GET", "/v1/sales/reg-codes/reservations")).text(),
      await (await fetch(`${h.url}/v1/sales/reg-codes`)).text(),
      await (await h.admin("GET", "/v1/admin/sales/reg-codes")).text(),
      await (await h.admin("GET", "/v1/admin/sales")).text(),
      await (await h.admin("GET", "/v1/admin/sales/reg-codes/reservations")).text(),
      await (await h.admin("GET", "/v1/admin/sales/reg-codes/reservations.csv")).text(),
      await (await h.admin("GET", "/v1/admin/sales/reg-codes/payments")).text(),
      await (await fetch(`${h.url}/metrics`)).text(),
    ];
    for (const text of everywhere) expect(text).not.toContain(code);
    // The admin listing names the reservation, with its codes left out.
    expect(everywhere[4]).toContain(reservation.id);
  });
});

describe("heads", () => {
  test("an 80 KB header is refused at once with 431, not a hang", async () => {
    const answer = await rawRequest(port, `GET /v1/sales/reg-sale HTTP/1.1\r\nHost: x\r\nX-Big: ${"b".repeat(80 * 1024)}\r\nConnection: close\r\n\r\n`, 5_000);
    expect(answer.closed).toBe(true);
    expect(answer.status).toBe(431);
    expect(answer.elapsedMs).toBeLessThan(2_000);
    await expectStatus(await fetch(`${h.url}/healthz`), 200);
  });
});
