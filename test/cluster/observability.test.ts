// What an operator sees of a drop on a 2-worker server, from the outside: the audit trail and the
// access log on stderr, refusals in bulk as a line and a count, and /metrics with every refused hold
// counted where it was decided, each worker's series apart, and no secret anywhere in the output.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { signBuyerToken } from "../../src/auth/buyer-token.ts";
import { type Sample, parseSamples, sumOf } from "../../src/http/dashboard/prometheus-text.ts";
import { SECRETS, tempDir } from "../support/harness.ts";
import { type ServerProcess, spawnServer } from "../support/process.ts";

const WORKERS = 2;
const admin = { authorization: `Bearer ${SECRETS.STAMPEDE_ADMIN_TOKEN}`, "content-type": "application/json" };
const CODE = "SECRET-CODE-0001";

type Line = Record<string, unknown> & { msg: string; event?: string };

describe("operators' view of a drop (2 workers, STAMPEDE_ACCESS_LOG=1)", () => {
  const dir = tempDir("stampede-observe-");
  let server: ServerProcess;
  const buyerTokens: string[] = [];

  beforeAll(async () => {
    server = await spawnServer(dir, { STAMPEDE_WORKERS: String(WORKERS), STAMPEDE_ACCESS_LOG: "1" });
    while (server.workerPids().size < WORKERS) await Bun.sleep(20);
  });
  afterAll(async () => {
    for (const pid of server.workerPids().values()) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {}
    }
    await server.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  // A connection per request, so that both workers take some (SO_REUSEPORT balances connections).
  const send = (path: string, init: RequestInit = {}) =>
    fetch(`${server.url}${path}`, { ...init, keepalive: false, headers: { ...(init.headers as Record<string, string>), connection: "close" } });
  const hold = (userId: string) => {
    const token = signBuyerToken(SECRETS.STAMPEDE_JWT_SECRET, userId, 600);
    buyerTokens.push(token);
    return send("/v1/sales/observed/reservations", {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: '{"itemId":"item","quantity":1}',
    });
  };
  const lines = (): Line[] =>
    server
      .output()
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as Line);
  const metrics = async (): Promise<Sample[]> => parseSamples(await (await send("/metrics")).text(), [""]);

  test("a drop: created, opened, sold out; refusals counted at the gate, from a copy and at the owner", async () => {
    const sale = { id: "observed", name: "Observed", limitPerUser: 1, items: [{ id: "item", name: "Item", price: 100, currency: "USD", stock: 3 }] };
    expect((await send("/v1/admin/sales", { method: "POST", headers: admin, body: JSON.stringify(sale) })).status).toBe(201);
    const codes = { id: "codes-sale", name: "Codes", items: [{ id: "gift", name: "Gift", price: 100, currency: "USD", delivery: "codes" }] };
    expect((await send("/v1/admin/sales", { method: "POST", headers: admin, body: JSON.stringify(codes) })).status).toBe(201);
    const upload = await send("/v1/admin/sales/codes-sale/items/gift/codes", { method: "POST", headers: admin, body: JSON.stringify({ codes: [CODE] }) });
    expect(upload.status).toBe(200);

    const first = await Promise.all(Array.from({ length: 3 }, (_, i) => hold(`buyer-${i}`)));
    expect(first.map((response) => response.status)).toEqual([201, 201, 201]);
    // Every worker's copy shows the sale sold out (owners publish at least once a second).
    await Bun.sleep(1_200);
    const late = await Promise.all(Array.from({ length: 30 }, (_, i) => hold(`late-${i}`)));
    for (const response of late) expect(response.status).toBe(409);
    const refusedTokens = await Promise.all(
      Array.from({ length: 40 }, () =>
        send("/v1/sales/observed/reservations", { method: "POST", headers: { authorization: "Bearer not-a-token", "content-type": "application/json" }, body: "{}" }),
      ),
    );
    for (const response of refusedTokens) expect(response.status).toBe(401);
    await Bun.sleep(200); // the loggers write once per event-loop turn

    const samples = await metrics();
    const refusals = (where: Record<string, string>) => sumOf(samples, "stampede_hold_refusals_total", where);
    expect(refusals({ code: "unauthorized", decided_by: "gate" })).toBe(40);
    expect(refusals({ code: "sold_out" })).toBe(30);
    // Holds that reached the worker not owning the sale were refused from its copy, the others by the owner.
    expect(refusals({ code: "sold_out", decided_by: "copy" })).toBeGreaterThan(0);
    expect(refusals({ code: "sold_out", decided_by: "owner" })).toBeGreaterThan(0);
    // The gate's refusals are in the latency histogram too, by status.
    expect(sumOf(samples, "stampede_http_request_duration_seconds_count", { route: "/v1/sales/:saleId/reservations", status: "401" })).toBe(40);

    const trail = lines();
    const events = (name: string) => trail.filter((line) => line.event === name);
    expect(events("admin.sale_created").map((line) => line.sale)).toEqual(["observed", "codes-sale"]);
    expect(events("admin.codes_added")).toMatchObject([{ sale: "codes-sale", item: "gift", added: 1, duplicates: 0 }]);
    expect(events("sale.opened").map((line) => line.sale).sort()).toEqual(["codes-sale", "observed"]);
    expect(events("sale.sold_out")).toMatchObject([{ sale: "observed", item: "item" }]);
    // 40 refused tokens are one line per worker that saw them (and a summary after 10 s), not 40.
    const refusedLines = events("auth.refused");
    expect(refusedLines.length).toBeGreaterThanOrEqual(1);
    expect(new Set(refusedLines.map((line) => line.pid)).size).toBe(refusedLines.length);
    expect(refusedLines.length).toBeLessThanOrEqual(WORKERS);

    // The access log: a line per request with its id, the route's template, never a path's ids.
    const requests = trail.filter((line) => line.msg === "request");
    expect(requests.filter((line) => line.route === "/v1/sales/:saleId/reservations" && line.status === 401)).toHaveLength(40);
    for (const line of requests) expect(typeof line.requestId).toBe("string");
  });

  test("the request id is the client's when it sends one, and comes back either way", async () => {
    const given = await send("/v1/sales/observed", { headers: { "x-request-id": "lb-1234" } });
    expect(given.headers.get("x-request-id")).toBe("lb-1234");
    const made = await send("/v1/sales/observed/reservations", { method: "POST", headers: { authorization: "Bearer nope" }, body: "{}" });
    expect(made.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });

  test("/metrics: each worker's series apart, process resources, the scrape not in the forward queue", async () => {
    for (let scrape = 0; scrape < 10; scrape++) {
      const samples = await metrics();
      const depth = samples.filter((sample) => sample.name === "stampede_forward_queue_depth");
      expect(depth.map((sample) => sample.labels.worker).sort()).toEqual(["0", "1"]);
      for (const sample of depth) expect(sample.value).toBe(0);
      for (const name of ["process_resident_memory_bytes", "process_cpu_seconds_total", "stampede_event_loop_lag_seconds"]) {
        expect(samples.filter((sample) => sample.name === name).map((sample) => sample.labels.worker).sort()).toEqual(["0", "1"]);
      }
    }
    const text = await (await send("/metrics")).text();
    // Every metric has its HELP and TYPE; every series names its worker.
    const types = [...text.matchAll(/^# TYPE (\S+) /gm)].map((match) => match[1]);
    const helps = [...text.matchAll(/^# HELP (\S+) /gm)].map((match) => match[1]);
    expect(helps).toEqual(types);
    for (const line of text.split("\n")) if (line !== "" && !line.startsWith("#")) expect(line).toMatch(/\{worker="[01]"/);
  });

  test("no secret, token or code anywhere in what the server wrote", () => {
    const output = server.output();
    for (const secret of [...Object.values(SECRETS), ...buyerTokens, CODE]) expect(output.includes(secret)).toBe(false);
  });
});
