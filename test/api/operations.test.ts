// Public reads and operations (API.md, "Buyers" public document, "Operations"): the cacheable sale
// document, its SSE stream, health, readiness, metrics and the offline API documentation.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type Harness, saleBody, startHarness } from "../support/harness.ts";
import { type PublicSale, createSale, expectProblem, expectStatus, held, sseReader } from "./helpers.ts";

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
  await createSale(h, saleBody("ops-sale", { limitPerUser: 5 }));
});
afterAll(async () => {
  await h.close();
});

describe("GET /v1/sales/:saleId", () => {
  test("the public document, with ETag and Cache-Control, and no operator counts", async () => {
    const response = await fetch(`${h.url}/v1/sales/ops-sale`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toStartWith("application/json");
    expect(response.headers.get("etag")).toMatch(/^(W\/)?".+"$/);
    expect(response.headers.get("cache-control")).toMatch(/max-age=\d+/);
    const sale = (await response.json()) as PublicSale;
    const spec = saleBody("ops-sale");
    expect(sale).toEqual({
      id: "ops-sale",
      name: "Sale ops-sale",
      startsAt: expect.any(String),
      endsAt: expect.any(String),
      status: "open",
      items: [
        { id: "hoodie-m", name: "Hoodie M", price: 4900, currency: "USD", available: 10 },
        { id: "gift-50", name: "Gift card 50", price: 5000, currency: "USD", available: 0 },
      ],
    });
    expect(Date.parse(sale.endsAt)).toBeGreaterThan(Date.parse(sale.startsAt));
    expect(Date.parse(spec.endsAt) - Date.parse(sale.endsAt)).toBeLessThan(60_000);
  });

  test("If-None-Match with the current ETag is 304; after a change the old one gets the new document", async () => {
    const first = await fetch(`${h.url}/v1/sales/ops-sale`);
    const etag = first.headers.get("etag") as string;
    const before = (await first.json()) as PublicSale;
    const notModified = await fetch(`${h.url}/v1/sales/ops-sale`, { headers: { "if-none-match": etag } });
    expect(notModified.status).toBe(304);
    expect(await notModified.text()).toBe("");
    expect(notModified.headers.get("etag")).toBe(etag);
    await held(h, "etag-buyer", "ops-sale", "hoodie-m");
    const changed = await fetch(`${h.url}/v1/sales/ops-sale`, { headers: { "if-none-match": etag } });
    expect(changed.status).toBe(200);
    expect(changed.headers.get("etag")).not.toBe(etag);
    const after = (await changed.json()) as PublicSale;
    expect(after.items[0]?.available).toBe((before.items[0]?.available as number) - 1);
  });

  test("404 not_found for an unknown sale", async () => {
    await expectProblem(await fetch(`${h.url}/v1/sales/ops-nope`), 404, "not_found");
    await expectProblem(await fetch(`${h.url}/v1/sales/ops-nope/stream`), 404, "not_found");
  });
});

describe("GET /v1/sales/:saleId/stream", () => {
  test("Server-Sent Events: the document first, then a new one on each change", async () => {
    const controller = new AbortController();
    const response = await fetch(`${h.url}/v1/sales/ops-sale/stream`, { signal: controller.signal });
    const events = sseReader(response);
    try {
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toStartWith("text/event-stream");
      const first = await events.next<PublicSale>();
      const current = await expectStatus<PublicSale>(await fetch(`${h.url}/v1/sales/ops-sale`), 200);
      expect(first).toEqual(current);
      const available = first.items[0]?.available as number;
      await held(h, "sse-buyer", "ops-sale", "hoodie-m", 2);
      const next = await events.next<PublicSale>();
      expect(next.id).toBe("ops-sale");
      expect(next.items[0]?.available).toBe(available - 2);
      expect(next.items[1]).toEqual(first.items[1]);
    } finally {
      await events.cancel();
      controller.abort();
    }
  });
});

describe("operations", () => {
  test("/healthz is 200 while the process runs", async () => {
    const response = await fetch(`${h.url}/healthz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: "ok" });
  });

  test("/readyz is 200 with a JSON body while reservations are accepted", async () => {
    const response = await fetch(`${h.url}/readyz`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toStartWith("application/json");
    const readiness = (await response.json()) as { ready: boolean; reasons: string[] };
    expect(readiness.ready).toBe(true);
    expect(readiness.reasons).toEqual([]);
  });

  test("/metrics is Prometheus text with # TYPE lines and samples", async () => {
    await held(h, "metrics-buyer", "ops-sale", "hoodie-m");
    const response = await fetch(`${h.url}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toStartWith("text/plain");
    const text = await response.text();
    const types = text.split("\n").filter((line) => line.startsWith("# TYPE "));
    expect(types.length).toBeGreaterThan(3);
    for (const line of types) expect(line).toMatch(/^# TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (counter|gauge|histogram|summary|untyped)$/);
    // Every sample line is `name{labels} value`.
    const samples = text.split("\n").filter((line) => line.length > 0 && !line.startsWith("#"));
    expect(samples.length).toBeGreaterThan(0);
    for (const line of samples) expect(line).toMatch(/^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? [-+]?([0-9.eE+-]+|NaN|\+Inf|-Inf)$/);
    // The sale's units are there, and agree with the admin view.
    const held1 = samples.find((line) => line.includes('"ops-sale"') && line.includes('"hoodie-m"') && line.includes('"held"'));
    expect(held1).toBeDefined();
    const sale = await expectStatus<{ items: { held: number }[] }>(await h.admin("GET", "/v1/admin/sales/ops-sale"), 200);
    expect(Number(held1?.split(" ").pop())).toBe(sale.items[0]?.held as number);
  });
});

describe("API documentation", () => {
  test("/swagger is an HTML page whose every asset is served by this server", async () => {
    const response = await fetch(`${h.url}/swagger`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toStartWith("text/html");
    const html = await response.text();
    expect(html).not.toMatch(/https?:\/\//);
    const urls = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1] as string);
    expect(urls.length).toBeGreaterThanOrEqual(3);
    for (const url of urls) {
      expect(url).toStartWith("/");
      expect(url).not.toStartWith("//");
      const asset = await fetch(`${h.url}${url}`);
      expect({ url, status: asset.status }).toEqual({ url, status: 200 });
      const text = await asset.text();
      if (url.endsWith("initializer.js")) {
        expect(text).toContain("/swagger/json");
        expect(text).not.toMatch(/https?:\/\//);
      }
    }
  });

  test("/swagger/json is an OpenAPI 3 document listing every path of API.md", async () => {
    const doc = await expectStatus<{ openapi: string; paths: Record<string, Record<string, unknown>> }>(
      await fetch(`${h.url}/swagger/json`),
      200,
    );
    expect(doc.openapi).toStartWith("3.");
    const expected: [string, string[]][] = [
      ["/v1/admin/sales", ["get", "post"]],
      ["/v1/admin/sales/{saleId}", ["get", "patch"]],
      ["/v1/admin/sales/{saleId}/items/{itemId}/stock", ["post"]],
      ["/v1/admin/sales/{saleId}/items/{itemId}/codes", ["post"]],
      ["/v1/admin/sales/{saleId}/reservations", ["get"]],
      ["/v1/admin/sales/{saleId}/reservations.csv", ["get"]],
      ["/v1/admin/sales/{saleId}/payments", ["get"]],
      ["/v1/sales/{saleId}/reservations", ["get", "post"]],
      ["/v1/sales/{saleId}/reservations/{reservationId}", ["delete", "get"]],
      ["/v1/sales/{saleId}", ["get"]],
      ["/v1/sales/{saleId}/stream", ["get"]],
      ["/v1/webhooks/payments", ["post"]],
      ["/healthz", ["get"]],
      ["/readyz", ["get"]],
      ["/metrics", ["get"]],
    ];
    for (const [path, methods] of expected) {
      const operations = doc.paths[path];
      expect({ path, documented: operations !== undefined }).toEqual({ path, documented: true });
      for (const method of methods) expect({ path, method, documented: method in (operations ?? {}) }).toEqual({ path, method, documented: true });
    }
  });
});
