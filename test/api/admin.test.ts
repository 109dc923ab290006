// Operators (API.md, "Operators"): creating sales, the admin view and its exact counts, live
// changes, stock, codes, reservation paging, the CSV export.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type Harness, saleBody, startHarness } from "../support/harness.ts";
import {
  type AdminSale,
  type Reservation,
  adminSale,
  body,
  counts,
  createSale,
  expectBalanced,
  expectProblem,
  expectStatus,
  expectValidation,
  held,
  hold,
  iso,
  outcomeOf,
  parseCsv,
  paymentFor,
} from "./helpers.ts";

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

describe("POST /v1/admin/sales", () => {
  test("201 with the admin view of the new sale", async () => {
    const spec = saleBody("adm-create", { holdSeconds: 120, limitPerUser: 3 });
    const response = await h.admin("POST", "/v1/admin/sales", spec);
    expect(response.status).toBe(201);
    expect(response.headers.get("content-type")).toStartWith("application/json");
    expect(await body<AdminSale>(response)).toEqual({
      id: "adm-create",
      name: "Sale adm-create",
      startsAt: spec.startsAt,
      endsAt: spec.endsAt,
      holdSeconds: 120,
      limitPerUser: 3,
      paused: false,
      status: "open",
      items: [
        {
          id: "hoodie-m",
          name: "Hoodie M",
          price: 4900,
          currency: "USD",
          delivery: "none",
          stock: 10,
          available: 10,
          held: 0,
          confirmed: 0,
        },
        {
          id: "gift-50",
          name: "Gift card 50",
          price: 5000,
          currency: "USD",
          delivery: "codes",
          stock: 0,
          available: 0,
          held: 0,
          confirmed: 0,
        },
      ],
    });
    // The view answered at creation is the one the server keeps.
    expect((await adminSale(h, "adm-create")).holdSeconds).toBe(120);
  });

  test("without an id the server makes one; holdSeconds and limitPerUser default to 600 and 1", async () => {
    const { id: _omitted, holdSeconds: _h, limitPerUser: _l, ...spec } = saleBody("unused");
    const created = await createSale(h, { ...spec, name: "No id" });
    expect(typeof created.id).toBe("string");
    expect(created.id.length).toBeGreaterThan(0);
    expect(created.holdSeconds).toBe(600);
    expect(created.limitPerUser).toBe(1);
    const again = await adminSale(h, created.id);
    expect(again.name).toBe("No id");
    // Each creation gets its own id.
    const second = await createSale(h, { ...spec, name: "No id 2" });
    expect(second.id).not.toBe(created.id);
    // The default limit of 1 is live: a second unit is refused.
    await held(h, "default-limit", created.id, "hoodie-m");
    await expectProblem(await hold(h, "default-limit", created.id, "hoodie-m"), 409, "limit_exceeded");
  });

  test("a codes item starts with no stock whatever stock it was given", async () => {
    const created = await createSale(
      h,
      saleBody("adm-codes-stock", {
        items: [{ id: "key", name: "Key", price: 100, currency: "EUR", delivery: "codes", stock: 50 }],
      }),
    );
    expect(created.items[0]).toMatchObject({ delivery: "codes", stock: 0, available: 0 });
  });

  test("409 already_exists for a taken id, and the first sale is unchanged", async () => {
    await createSale(h, saleBody("adm-taken"));
    const response = await h.admin("POST", "/v1/admin/sales", saleBody("adm-taken", { name: "Impostor" }));
    await expectProblem(response, 409, "already_exists");
    expect((await adminSale(h, "adm-taken")).name).toBe("Sale adm-taken");
  });

  const invalid: [string, Record<string, unknown>, string][] = [
    ["missing name", { name: undefined }, "/name"],
    ["empty name", { name: "" }, "/name"],
    ["bad id", { id: "no spaces!" }, "/id"],
    ["id too long", { id: "x".repeat(65) }, "/id"],
    ["holdSeconds 0", { holdSeconds: 0 }, "/holdSeconds"],
    ["holdSeconds 86401", { holdSeconds: 86_401 }, "/holdSeconds"],
    ["limitPerUser 0", { limitPerUser: 0 }, "/limitPerUser"],
    ["limitPerUser 1001", { limitPerUser: 1001 }, "/limitPerUser"],
    ["startsAt not a time", { startsAt: "tomorrow" }, "/startsAt"],
    ["endsAt before startsAt", { startsAt: iso(Date.now() + 7_200_000), endsAt: iso(Date.now() + 3_600_000) }, "/endsAt"],
    ["no items", { items: [] }, "/items"],
    ["negative price", { items: [{ id: "a", name: "A", price: -1, currency: "USD", stock: 1 }] }, "/items/0/price"],
    ["bad currency", { items: [{ id: "a", name: "A", price: 1, currency: "usd", stock: 1 }] }, "/items/0/currency"],
    ["bad delivery", { items: [{ id: "a", name: "A", price: 1, currency: "USD", stock: 1, delivery: "email" }] }, "/items/0/delivery"],
    ["negative stock", { items: [{ id: "a", name: "A", price: 1, currency: "USD", stock: -1 }] }, "/items/0/stock"],
    ["plain item without stock", { items: [{ id: "a", name: "A", price: 1, currency: "USD" }] }, "/items/0/stock"],
    [
      "duplicate item ids",
      {
        items: [
          { id: "a", name: "A", price: 1, currency: "USD", stock: 1 },
          { id: "a", name: "B", price: 1, currency: "USD", stock: 1 },
        ],
      },
      "/items/1/id",
    ],
  ];
  for (const [label, change, path] of invalid) {
    test(`422 with errors[].path ${path}: ${label}`, async () => {
      const id = `adm-bad-${label.replaceAll(" ", "-")}`;
      const spec = { ...saleBody(id), ...change };
      if ("id" in change) spec.id = change.id as string;
      await expectValidation(await h.admin("POST", "/v1/admin/sales", spec), path);
      // Nothing was created.
      await expectProblem(await h.admin("GET", `/v1/admin/sales/${id}`), 404, "not_found");
    });
  }
});

describe("GET /v1/admin/sales[/:saleId]", () => {
  test("exact counts with stock == available + held + confirmed, in the view and in the list", async () => {
    await createSale(h, saleBody("adm-counts", { limitPerUser: 2 }));
    await held(h, "alice", "adm-counts", "hoodie-m", 2);
    const bob = await held(h, "bob", "adm-counts", "hoodie-m", 1);
    const carol = await held(h, "carol", "adm-counts", "hoodie-m", 1);
    expect(await outcomeOf(await h.webhook(paymentFor(bob)))).toBe("confirmed");
    expect((await h.buyer("carol", "DELETE", `/v1/sales/adm-counts/reservations/${carol.id}`)).status).toBe(200);
    expect(await counts(h, "adm-counts", "hoodie-m")).toEqual({ stock: 10, available: 7, held: 2, confirmed: 1 });

    const list = await expectStatus<{ sales: AdminSale[] }>(await h.admin("GET", "/v1/admin/sales"), 200);
    const ids = list.sales.map((sale) => sale.id);
    expect(ids).toContain("adm-counts");
    expect(ids).toContain("adm-create");
    for (const sale of list.sales) expectBalanced(sale);
    const listed = list.sales.find((sale) => sale.id === "adm-counts");
    expect(listed?.items[0]).toMatchObject({ stock: 10, available: 7, held: 2, confirmed: 1 });
  });

  test("404 not_found for an unknown sale", async () => {
    await expectProblem(await h.admin("GET", "/v1/admin/sales/adm-nope"), 404, "not_found");
  });
});

describe("PATCH /v1/admin/sales/:saleId applies live", () => {
  test("paused: holds get 409 sale_not_open until it is unpaused", async () => {
    await createSale(h, saleBody("adm-pause"));
    const paused = await expectStatus<AdminSale>(await h.admin("PATCH", "/v1/admin/sales/adm-pause", { paused: true }), 200);
    expect(paused).toMatchObject({ paused: true, status: "paused" });
    await expectProblem(await hold(h, "alice", "adm-pause", "hoodie-m"), 409, "sale_not_open");
    expect((await counts(h, "adm-pause", "hoodie-m")).available).toBe(10);
    const resumed = await expectStatus<AdminSale>(await h.admin("PATCH", "/v1/admin/sales/adm-pause", { paused: false }), 200);
    expect(resumed).toMatchObject({ paused: false, status: "open" });
    await held(h, "alice", "adm-pause", "hoodie-m");
  });

  test("the window: moved to the past gives 410 sale_ended, to the future 409 sale_not_open", async () => {
    await createSale(h, saleBody("adm-window"));
    const now = Date.now();
    const ended = await expectStatus<AdminSale>(
      await h.admin("PATCH", "/v1/admin/sales/adm-window", { startsAt: iso(now - 7_200_000), endsAt: iso(now - 3_600_000) }),
      200,
    );
    expect(ended).toMatchObject({ status: "ended", endsAt: iso(now - 3_600_000) });
    await expectProblem(await hold(h, "alice", "adm-window", "hoodie-m"), 410, "sale_ended");

    const scheduled = await expectStatus<AdminSale>(
      await h.admin("PATCH", "/v1/admin/sales/adm-window", { startsAt: iso(now + 3_600_000), endsAt: iso(now + 7_200_000) }),
      200,
    );
    expect(scheduled).toMatchObject({ status: "scheduled", startsAt: iso(now + 3_600_000) });
    await expectProblem(await hold(h, "alice", "adm-window", "hoodie-m"), 409, "sale_not_open");

    await h.admin("PATCH", "/v1/admin/sales/adm-window", { startsAt: iso(now - 1000) });
    await held(h, "alice", "adm-window", "hoodie-m");
    expect(await counts(h, "adm-window", "hoodie-m")).toMatchObject({ available: 9, held: 1 });
  });

  test("limitPerUser: raised lets a buyer take more; below someone's holdings is refused", async () => {
    await createSale(h, saleBody("adm-limit", { limitPerUser: 1 }));
    await held(h, "alice", "adm-limit", "hoodie-m");
    await expectProblem(await hold(h, "alice", "adm-limit", "hoodie-m"), 409, "limit_exceeded");
    const raised = await expectStatus<AdminSale>(await h.admin("PATCH", "/v1/admin/sales/adm-limit", { limitPerUser: 3 }), 200);
    expect(raised.limitPerUser).toBe(3);
    await held(h, "alice", "adm-limit", "hoodie-m", 2);
    await expectProblem(await hold(h, "alice", "adm-limit", "hoodie-m"), 409, "limit_exceeded");
    await expectProblem(await h.admin("PATCH", "/v1/admin/sales/adm-limit", { limitPerUser: 2 }), 409, "limit_below_holdings");
    expect((await adminSale(h, "adm-limit")).limitPerUser).toBe(3);
  });

  test("holdSeconds and name: new holds run for the new time", async () => {
    await createSale(h, saleBody("adm-holdtime", { holdSeconds: 600 }));
    const before = await held(h, "alice", "adm-holdtime", "hoodie-m");
    expect(Date.parse(before.expiresAt) - Date.parse(before.createdAt)).toBe(600_000);
    const patched = await expectStatus<AdminSale>(
      await h.admin("PATCH", "/v1/admin/sales/adm-holdtime", { holdSeconds: 45, name: "Renamed" }),
      200,
    );
    expect(patched).toMatchObject({ holdSeconds: 45, name: "Renamed" });
    const after = await held(h, "bob", "adm-holdtime", "hoodie-m");
    expect(Date.parse(after.expiresAt) - Date.parse(after.createdAt)).toBe(45_000);
    const pub = await expectStatus<{ name: string }>(await fetch(`${h.url}/v1/sales/adm-holdtime`), 200);
    expect(pub.name).toBe("Renamed");
  });

  test("refusals: 404 unknown sale, 422 bad fields, 422 startsAt after endsAt", async () => {
    await createSale(h, saleBody("adm-patch-bad"));
    await expectProblem(await h.admin("PATCH", "/v1/admin/sales/adm-nope", { paused: true }), 404, "not_found");
    await expectValidation(await h.admin("PATCH", "/v1/admin/sales/adm-patch-bad", { holdSeconds: 0 }), "/holdSeconds");
    await expectValidation(await h.admin("PATCH", "/v1/admin/sales/adm-patch-bad", { limitPerUser: 1001 }), "/limitPerUser");
    await expectValidation(await h.admin("PATCH", "/v1/admin/sales/adm-patch-bad", { paused: "yes" }), "/paused");
    const now = Date.now();
    const window = { startsAt: iso(now + 7_200_000), endsAt: iso(now + 3_600_000) };
    const problem = await expectProblem(await h.admin("PATCH", "/v1/admin/sales/adm-patch-bad", window), 422, "invalid_window");
    expect(problem.status).toBe(422);
    expect((await adminSale(h, "adm-patch-bad")).status).toBe("open");
  });
});

describe("POST /v1/admin/sales/:saleId/items/:itemId/stock", () => {
  test("adds and removes stock; 409 insufficient_stock past what is available", async () => {
    await createSale(h, saleBody("adm-stock", { limitPerUser: 5 }));
    const added = await expectStatus<AdminSale>(
      await h.admin("POST", "/v1/admin/sales/adm-stock/items/hoodie-m/stock", { delta: 5 }),
      200,
    );
    expect(added.items[0]).toMatchObject({ stock: 15, available: 15 });
    await held(h, "alice", "adm-stock", "hoodie-m", 5);
    const removed = await expectStatus<AdminSale>(
      await h.admin("POST", "/v1/admin/sales/adm-stock/items/hoodie-m/stock", { delta: -3 }),
      200,
    );
    expect(removed.items[0]).toMatchObject({ stock: 12, available: 7, held: 5, confirmed: 0 });
    // Held units cannot be removed: only the 7 available can.
    await expectProblem(
      await h.admin("POST", "/v1/admin/sales/adm-stock/items/hoodie-m/stock", { delta: -8 }),
      409,
      "insufficient_stock",
    );
    expect(await counts(h, "adm-stock", "hoodie-m")).toEqual({ stock: 12, available: 7, held: 5, confirmed: 0 });
    await expectStatus(await h.admin("POST", "/v1/admin/sales/adm-stock/items/hoodie-m/stock", { delta: -7 }), 200);
    expect(await counts(h, "adm-stock", "hoodie-m")).toEqual({ stock: 5, available: 0, held: 5, confirmed: 0 });
    await expectProblem(await hold(h, "bob", "adm-stock", "hoodie-m"), 409, "sold_out");
  });

  test("refusals: unknown item or sale 404, codes item 409, non-integer delta 422", async () => {
    await createSale(h, saleBody("adm-stock-bad"));
    await expectProblem(await h.admin("POST", "/v1/admin/sales/adm-stock-bad/items/nope/stock", { delta: 1 }), 404, "not_found");
    await expectProblem(await h.admin("POST", "/v1/admin/sales/adm-nope/items/hoodie-m/stock", { delta: 1 }), 404, "not_found");
    await expectProblem(
      await h.admin("POST", "/v1/admin/sales/adm-stock-bad/items/gift-50/stock", { delta: 1 }),
      409,
      "codes_item_stock",
    );
    await expectValidation(await h.admin("POST", "/v1/admin/sales/adm-stock-bad/items/hoodie-m/stock", { delta: 1.5 }), "/delta");
    await expectValidation(await h.admin("POST", "/v1/admin/sales/adm-stock-bad/items/hoodie-m/stock", {}), "/delta");
    expect(await counts(h, "adm-stock-bad", "hoodie-m")).toEqual({ stock: 10, available: 10, held: 0, confirmed: 0 });
  });
});

describe("POST /v1/admin/sales/:saleId/items/:itemId/codes", () => {
  test("answers added and duplicates; a code is never added twice", async () => {
    await createSale(h, saleBody("adm-codes"));
    const path = "/v1/admin/sales/adm-codes/items/gift-50/codes";
    expect(await expectStatus(await h.admin("POST", path, { codes: ["AAAA-1111", "BBBB-2222", "AAAA-1111"] }), 200)).toEqual({
      added: 2,
      duplicates: 1,
    });
    expect(await expectStatus(await h.admin("POST", path, { codes: ["BBBB-2222", "CCCC-3333"] }), 200)).toEqual({
      added: 1,
      duplicates: 1,
    });
    expect(await expectStatus(await h.admin("POST", path, { codes: ["AAAA-1111"] }), 200)).toEqual({ added: 0, duplicates: 1 });
    expect(await counts(h, "adm-codes", "gift-50")).toEqual({ stock: 3, available: 3, held: 0, confirmed: 0 });
  });

  test("refusals: plain item 409 not_codes_item, unknown item 404, empty or bad codes 422", async () => {
    await createSale(h, saleBody("adm-codes-bad"));
    await expectProblem(
      await h.admin("POST", "/v1/admin/sales/adm-codes-bad/items/hoodie-m/codes", { codes: ["X"] }),
      409,
      "not_codes_item",
    );
    await expectProblem(await h.admin("POST", "/v1/admin/sales/adm-codes-bad/items/nope/codes", { codes: ["X"] }), 404, "not_found");
    await expectValidation(await h.admin("POST", "/v1/admin/sales/adm-codes-bad/items/gift-50/codes", { codes: [] }), "/codes");
    await expectValidation(await h.admin("POST", "/v1/admin/sales/adm-codes-bad/items/gift-50/codes", { codes: [""] }), "/codes/0");
    await expectValidation(
      await h.admin("POST", "/v1/admin/sales/adm-codes-bad/items/gift-50/codes", { codes: ["ok", "has space"] }),
      "/codes/1",
    );
    expect((await counts(h, "adm-codes-bad", "gift-50")).stock).toBe(0);
  });

  test("100000 codes in one call are taken; 100001 are 422 and add nothing", async () => {
    await createSale(h, saleBody("adm-codes-max"));
    const path = "/v1/admin/sales/adm-codes-max/items/gift-50/codes";
    const codes = Array.from({ length: 100_000 }, (_, i) => `CODE-${String(i).padStart(6, "0")}`);
    expect(await expectStatus(await h.admin("POST", path, { codes }), 200)).toEqual({ added: 100_000, duplicates: 0 });
    const over = [...codes.map((code) => `X${code}`), "ONE-MORE"];
    await expectValidation(await h.admin("POST", path, { codes: over }), "/codes");
    expect(await counts(h, "adm-codes-max", "gift-50")).toEqual({ stock: 100_000, available: 100_000, held: 0, confirmed: 0 });
  });
});

describe("reservations: paging and CSV", () => {
  const reservations: Reservation[] = [];
  const users = ["u1", "u2", "u3", "u4", "u5", 'o"neil,jr', "=SUM(A1)"];

  beforeAll(async () => {
    await createSale(h, saleBody("adm-pages", { limitPerUser: 1 }));
    for (const user of users) reservations.push(await held(h, user, "adm-pages", "hoodie-m"));
    // Two released, one confirmed, four still held.
    for (const r of reservations.slice(0, 2)) {
      expect((await h.buyer(r.userId, "DELETE", `/v1/sales/adm-pages/reservations/${r.id}`)).status).toBe(200);
    }
    expect(await outcomeOf(await h.webhook(paymentFor(reservations[2] as Reservation)))).toBe("confirmed");
  });

  type Page = { reservations: (Reservation & { paymentId: string | null })[]; nextCursor: string | null };

  async function allPages(query: string): Promise<{ pages: number; rows: Page["reservations"] }> {
    const rows: Page["reservations"] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const suffix = cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`;
      const page: Page = await expectStatus<Page>(
        await h.admin("GET", `/v1/admin/sales/adm-pages/reservations?${query}${suffix}`),
        200,
      );
      pages += 1;
      expect(pages).toBeLessThan(20);
      rows.push(...page.reservations);
      cursor = page.nextCursor;
    } while (cursor !== null);
    return { pages, rows };
  }

  test("limit and cursor page through every reservation once, until nextCursor is null", async () => {
    const { pages, rows } = await allPages("limit=3");
    expect(pages).toBeGreaterThanOrEqual(3);
    expect(rows.map((r) => r.id).sort()).toEqual(reservations.map((r) => r.id).sort());
    const first = rows.find((r) => r.id === reservations[2]?.id);
    expect(first).toMatchObject({
      saleId: "adm-pages",
      itemId: "hoodie-m",
      userId: "u3",
      quantity: 1,
      status: "confirmed",
      amount: 4900,
      currency: "USD",
      paymentId: `pay_${reservations[2]?.id}`,
    });
    const single = await expectStatus<Page>(await h.admin("GET", "/v1/admin/sales/adm-pages/reservations?limit=2"), 200);
    expect(single.reservations.length).toBe(2);
    expect(single.nextCursor).not.toBeNull();
  });

  test("status filters the listing", async () => {
    const byStatus = async (status: string) => (await allPages(`status=${status}&limit=2`)).rows.map((r) => r.id).sort();
    expect(await byStatus("held")).toEqual(reservations.slice(3).map((r) => r.id).sort());
    expect(await byStatus("released")).toEqual(reservations.slice(0, 2).map((r) => r.id).sort());
    expect(await byStatus("confirmed")).toEqual([reservations[2]?.id as string]);
    expect(await byStatus("expired")).toEqual([]);
  });

  test("bad query values are 422; an unknown sale is 404", async () => {
    await expectValidation(await h.admin("GET", "/v1/admin/sales/adm-pages/reservations?limit=0"), "/limit");
    await expectValidation(await h.admin("GET", "/v1/admin/sales/adm-pages/reservations?limit=1001"), "/limit");
    await expectValidation(await h.admin("GET", "/v1/admin/sales/adm-pages/reservations?status=lost"), "/status");
    await expectProblem(await h.admin("GET", "/v1/admin/sales/adm-nope/reservations"), 404, "not_found");
    await expectProblem(await h.admin("GET", "/v1/admin/sales/adm-nope/reservations.csv"), 404, "not_found");
  });

  test("the CSV export has a header and one properly quoted row per reservation", async () => {
    const response = await h.admin("GET", "/v1/admin/sales/adm-pages/reservations.csv");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toStartWith("text/csv");
    const text = await response.text();
    // RFC 4180 quoting of the awkward user id.
    expect(text).toContain('"o""neil,jr"');
    const rows = parseCsv(text);
    const header = rows[0] as string[];
    expect(header).toEqual(expect.arrayContaining(["id", "saleId", "itemId", "userId", "quantity", "status", "amount", "currency"]));
    expect(rows.length).toBe(1 + reservations.length);
    const column = (name: string) => header.indexOf(name);
    const byId = new Map(rows.slice(1).map((row) => [row[column("id")] as string, row]));
    expect([...byId.keys()].sort()).toEqual(reservations.map((r) => r.id).sort());
    for (const r of reservations) {
      const row = byId.get(r.id) as string[];
      expect(row.length).toBe(header.length);
      expect(row[column("saleId")]).toBe("adm-pages");
      expect(row[column("quantity")]).toBe("1");
      expect(row[column("amount")]).toBe("4900");
      // A cell a spreadsheet would run as a formula is defused with a leading quote.
      expect(row[column("userId")]).toBe(r.userId.startsWith("=") ? `'${r.userId}` : r.userId);
    }
    expect(byId.get(reservations[2]?.id as string)?.[column("status")]).toBe("confirmed");
    expect(byId.get(reservations[0]?.id as string)?.[column("status")]).toBe("released");
  });
});
