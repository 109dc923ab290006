// The dashboard's server side without a browser: `/` leads to it, the page and every file it loads
// are served from this process under a strict Content-Security-Policy, and `GET /v1/admin/stream`
// takes the admin token only and sends each change within a second.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { DASHBOARD_ASSETS } from "../../src/http/dashboard/assets.ts";
import type { DashboardSnapshot } from "../../src/http/dashboard/snapshot.ts";
import { createSale, expectProblem, held, sseReader } from "../api/helpers.ts";
import { type Harness, SECRETS, saleBody, startHarness } from "../support/harness.ts";

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

const admin = { authorization: `Bearer ${SECRETS.STAMPEDE_ADMIN_TOKEN}` };

describe("the page", () => {
  test("/ redirects to /dashboard", async () => {
    const response = await fetch(`${h.url}/`, { redirect: "manual" });
    expect(response.status).toBe(302);
    expect(response.headers.get("location")).toBe("/dashboard");
  });

  test("/dashboard is HTML under a CSP that allows this origin only and nothing inline", async () => {
    const response = await fetch(`${h.url}/dashboard`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toStartWith("text/html");
    const csp = response.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain("unsafe-inline");
    expect(csp).not.toContain("unsafe-eval");
    const html = await response.text();
    // No inline script or style, and no address of another host.
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toMatch(/<style|\sstyle=/);
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
  });

  test("every file the page and its scripts load is served, with its type", async () => {
    const html = await (await fetch(`${h.url}/dashboard`)).text();
    const wanted = new Set([...html.matchAll(/(?:src|href)="(\/dashboard\/assets\/[^"]+)"/g)].map((m) => m[1] as string));
    for (const asset of DASHBOARD_ASSETS.filter((a) => a.name.endsWith(".js"))) {
      for (const m of readFileSync(asset.path, "utf8").matchAll(/from "\.\/([\w.-]+)"/g)) wanted.add(`/dashboard/assets/${m[1]}`);
    }
    expect(wanted.size).toBeGreaterThanOrEqual(8);
    for (const path of wanted) {
      const response = await fetch(`${h.url}${path}`);
      expect({ path, status: response.status }).toEqual({ path, status: 200 });
      const type = response.headers.get("content-type") ?? "";
      const expected = path.endsWith(".js") ? "text/javascript" : path.endsWith(".css") ? "text/css" : "image/svg+xml";
      expect({ path, type }).toEqual({ path, type: expect.stringContaining(expected) });
      expect(response.headers.get("content-security-policy")).not.toBeNull();
      expect((await response.arrayBuffer()).byteLength).toBeGreaterThan(100);
    }
  });
});

describe("GET /v1/admin/stream", () => {
  test("needs the admin token", async () => {
    await expectProblem(await fetch(`${h.url}/v1/admin/stream`), 401, "unauthorized");
    const buyer = { authorization: `Bearer ${h.token("alice")}` };
    await expectProblem(await fetch(`${h.url}/v1/admin/stream`, { headers: buyer }), 401, "unauthorized");
  });

  test("sends every sale with counters and health at once, then each change within a second", async () => {
    await createSale(h, saleBody("stream-a", { limitPerUser: 5 }));
    const response = await fetch(`${h.url}/v1/admin/stream`, { headers: admin });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toStartWith("text/event-stream");
    const events = sseReader(response);
    try {
      const first = await events.next<DashboardSnapshot>();
      const sale = first.sales.find((s) => s.id === "stream-a");
      expect(sale?.status).toBe("open");
      expect(sale?.totals).toEqual({ stock: 10, available: 10, held: 0, confirmed: 0 });
      expect(first.health.ready).toBe(true);
      expect(first.health.shed).toEqual({ holds: 0, reads: 0, streams: 0 });
      const holdsBefore = first.counters.holds;

      await held(h, "bob", "stream-a", "hoodie-m", 3);
      const heldAt = Date.now();
      let next = await events.next<DashboardSnapshot>(1_500);
      // A message may already have been on its way; the one showing the hold follows within a second.
      while (next.sales.find((s) => s.id === "stream-a")?.totals.held !== 3) next = await events.next<DashboardSnapshot>(1_500);
      expect(Date.now() - heldAt).toBeLessThan(1_500);
      expect(next.counters.holds).toBe(holdsBefore + 1);
      expect(next.counters.holdLatency.count).toBeGreaterThanOrEqual(1);
      expect(next.counters.holdLatency.buckets.length).toBeGreaterThan(0);

      // A refusal is counted by its code.
      const refused = await h.buyer("bob", "POST", "/v1/sales/stream-a/reservations", { itemId: "hoodie-m", quantity: 8 });
      expect(refused.status).toBe(409);
      do next = await events.next<DashboardSnapshot>(1_500);
      while ((next.counters.refusals.sold_out ?? 0) === 0);
    } finally {
      await events.cancel();
    }
  });

  test("a quiet server sends nothing but heartbeats", async () => {
    const response = await fetch(`${h.url}/v1/admin/stream`, { headers: admin });
    const events = sseReader(response);
    try {
      await events.next();
      // The poller reads every 500 ms; were it to send each reading, 10 would arrive in 5 s. A gauge
      // may still move now and then (the event loop's lag crossing a step, RSS a 4 MiB step), more
      // often on a machine busy with other work: CI saw 4 in 2.5 s once, so the bound is half the
      // readings, which sending every reading would exceed.
      let sent = 0;
      const deadline = Date.now() + 5_000;
      for (;;) {
        const left = deadline - Date.now();
        if (left <= 0) break;
        try {
          await events.next(left);
          sent += 1;
        } catch {
          break;
        }
      }
      expect(sent).toBeLessThanOrEqual(4);
    } finally {
      await events.cancel();
    }
  }, 15_000);
});
