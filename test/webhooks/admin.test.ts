// The operator routes of outbound webhooks (API.md, "Events to your systems"): the token first,
// validation with the failing path, the secret shown once, listings without secrets, 404s for what
// does not exist, the delivery listing's pages, and the document that describes them.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { expectProblem, expectStatus, expectValidation } from "../api/helpers.ts";
import { type Harness, startHarness } from "../support/harness.ts";

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

type Created = { id: string; url: string; events: string[]; secret: string; createdAt: string };

const register = (body: unknown) => h.admin("POST", "/v1/admin/webhooks", body);

test("every route asks for the operator token first", async () => {
  const paths: [string, string][] = [
    ["POST", "/v1/admin/webhooks"],
    ["GET", "/v1/admin/webhooks"],
    ["GET", "/v1/admin/webhooks/whe_x"],
    ["DELETE", "/v1/admin/webhooks/whe_x"],
    ["GET", "/v1/admin/webhooks/whe_x/deliveries?status=failed"],
    ["POST", "/v1/admin/webhooks/whe_x/deliveries/evt_j_1/retry"],
  ];
  for (const [method, path] of paths) {
    const response = await fetch(`${h.url}${path}`, { method, headers: { "content-type": "application/json" }, body: method === "POST" ? "{}" : undefined });
    await expectProblem(response, 401, "unauthorized");
  }
});

test("registering answers 201 with the secret once; listings never show it", async () => {
  const created = await expectStatus<Created>(await register({ url: "https://hooks.example.com/stampede?x=1", events: ["reservation.confirmed", "sale.sold_out"] }), 201);
  expect(Object.keys(created).sort()).toEqual(["createdAt", "events", "id", "secret", "url"]);
  expect(created.secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
  expect(created.events).toEqual(["reservation.confirmed", "sale.sold_out"]);
  const listed = await expectStatus<{ webhooks: Record<string, unknown>[] }>(await h.admin("GET", "/v1/admin/webhooks"), 200);
  const mine = listed.webhooks.find((w) => w.id === created.id);
  expect(mine).toEqual({ id: created.id, url: created.url, events: created.events, createdAt: created.createdAt });
  expect(await expectStatus(await h.admin("GET", `/v1/admin/webhooks/${created.id}`), 200)).toEqual(mine);
  expect((await h.admin("DELETE", `/v1/admin/webhooks/${created.id}`)).status).toBe(204);
  await expectProblem(await h.admin("DELETE", `/v1/admin/webhooks/${created.id}`), 404, "not_found");
  await expectProblem(await h.admin("GET", `/v1/admin/webhooks/${created.id}`), 404, "not_found");
  await expectProblem(await h.admin("GET", `/v1/admin/webhooks/${created.id}/deliveries`), 404, "not_found");
});

test("bad URLs, unknown or repeated event types and bad ids are 422 naming the field", async () => {
  for (const url of ["ftp://hooks.example.com/x", "javascript:alert(1)", "not a url", "/relative", "https://user:pw@hooks.example.com/", "", `https://x.example/${"a".repeat(2100)}`]) {
    await expectValidation(await register({ url, events: ["reservation.held"] }), "/url");
  }
  await expectValidation(await register({ url: "https://x.example/", events: ["reservation.nope"] }), "/events/0");
  await expectValidation(await register({ url: "https://x.example/", events: [] }), "/events");
  await expectValidation(await register({ url: "https://x.example/", events: ["sale.sold_out", "sale.sold_out"] }), "/events");
  await expectValidation(await register({ events: ["sale.sold_out"] }), "/url");
  await expectProblem(await h.admin("POST", "/v1/admin/webhooks", "{not json"), 400, "invalid_json");
  await expectValidation(await h.admin("GET", "/v1/admin/webhooks/bad%20id"), "/id");
  const created = await expectStatus<Created>(await register({ url: "http://127.0.0.1:9/", events: ["reservation.held"] }), 201);
  await expectValidation(await h.admin("GET", `/v1/admin/webhooks/${created.id}/deliveries?status=lost`), "/status");
  await expectValidation(await h.admin("GET", `/v1/admin/webhooks/${created.id}/deliveries?limit=0`), "/limit");
  await expectValidation(await h.admin("GET", `/v1/admin/webhooks/${created.id}/deliveries?cursor=x%00y`), "/cursor");
  await expectValidation(await h.admin("POST", `/v1/admin/webhooks/${created.id}/deliveries/not-an-event/retry`), "/deliveryId");
  await expectProblem(await h.admin("POST", `/v1/admin/webhooks/${created.id}/deliveries/evt_journal-0_1/retry`), 404, "not_found");
  expect((await h.admin("DELETE", `/v1/admin/webhooks/${created.id}`)).status).toBe(204);
});

test("deliveries page through with a cursor, by status", async () => {
  const created = await expectStatus<Created>(await register({ url: "http://127.0.0.1:9/", events: ["reservation.held"] }), 201);
  await expectStatus(await h.admin("POST", "/v1/admin/sales", { id: "paged", name: "Paged", items: [{ id: "i", name: "I", price: 1, currency: "USD", stock: 10 }], limitPerUser: 10 }), 201);
  for (let i = 0; i < 5; i += 1) await expectStatus(await h.buyer(`u${i}`, "POST", "/v1/sales/paged/reservations", { itemId: "i", quantity: 1 }), 201);
  type Page = { deliveries: { id: string; status: string; type: string }[]; nextCursor: string | null };
  const seen: string[] = [];
  let cursor: string | null = null;
  const deadline = Date.now() + 10_000;
  while (seen.length < 5 && Date.now() < deadline) {
    seen.length = 0;
    cursor = null;
    do {
      const query: string = cursor === null ? "" : `&cursor=${cursor}`;
      const page: Page = await expectStatus<Page>(await h.admin("GET", `/v1/admin/webhooks/${created.id}/deliveries?limit=2${query}`), 200);
      seen.push(...page.deliveries.map((d) => d.id));
      cursor = page.nextCursor;
    } while (cursor !== null);
    await Bun.sleep(50);
  }
  expect(seen.length).toBe(5);
  expect(new Set(seen).size).toBe(5);
  const delivered = await expectStatus<Page>(await h.admin("GET", `/v1/admin/webhooks/${created.id}/deliveries?status=delivered`), 200);
  expect(delivered.deliveries).toEqual([]);
  expect((await h.admin("DELETE", `/v1/admin/webhooks/${created.id}`)).status).toBe(204);
});

test("the OpenAPI document describes the webhook routes with their schemas", async () => {
  const document = (await (await fetch(`${h.url}/swagger/json`)).json()) as { paths: Record<string, Record<string, { responses?: Record<string, unknown> }>> };
  expect(Object.keys(document.paths["/v1/admin/webhooks"] ?? {}).sort()).toEqual(["get", "post"]);
  expect(document.paths["/v1/admin/webhooks"]?.post?.responses?.["201"]).toBeDefined();
  expect(document.paths["/v1/admin/webhooks/{id}/deliveries"]?.get?.responses?.["200"]).toBeDefined();
  expect(document.paths["/v1/admin/webhooks/{id}/deliveries/{deliveryId}/retry"]?.post).toBeDefined();
  expect(document.paths["/v1/admin/webhooks/{id}"]?.delete).toBeDefined();
});
