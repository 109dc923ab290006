// The hostile-input suite (invariant 7: bad input gets a clear 4xx and changes nothing). At least
// 10,000 generated malformed requests over every route (arbitraries.ts), several in flight at once,
// plus raw TCP requests that fetch would refuse to send and clients that stop halfway. Asserted:
//   - no answer is a 5xx, and every 4xx is an RFC 9457 problem document with a `code`;
//   - requests built to be refused are refused (`allow`), forged credentials never get through;
//   - no sale changes: the admin views, reservations, payments and the buyers' own lists are the
//     same before and after; the server still answers /healthz;
//   - a client that stops in the middle of its request is disconnected, not kept forever.
// Seeded and repeatable: FUZZ_SEED=<n> replays a run; a failure prints the seed and the requests.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import fc from "fast-check";
import { signBuyerToken } from "../../src/auth/buyer-token.ts";
import { signWebhook } from "../../src/auth/webhook-signature.ts";
import { type Harness, SECRETS, startHarness } from "../support/harness.ts";
import { createSale, expectStatus, held, paymentFor } from "../api/helpers.ts";
import { type FuzzContext, type HostileRequest, type RawHostileRequest, hostileRequests, rawHostileRequests } from "./arbitraries.ts";
import { type RawAnswer, rawRequest } from "./raw-http.ts";

const SEED = Number(process.env.FUZZ_SEED ?? 20_261_122);
const FETCH_REQUESTS = Number(process.env.FUZZ_REQUESTS ?? 20_000);
const RAW_REQUESTS = 400;
const IN_FLIGHT = 32;
/** Bun's default limit on a request head; past it Bun answers 431 itself, before any of our code. */
const HEADER_BYTES_MAX = 16 * 1024;
/** ...and on the number of header lines (about 200, counting the ones fetch adds). */
const HEADER_COUNT_MAX = 180;

let h: Harness;
let ctx: FuzzContext;
let port = 0;
let before: Snapshot;
const failures: string[] = [];
let sent = 0;

// ---------------------------------------------------------------------------------------------
// Credentials that must never pass

const b64 = (value: unknown) => Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");
function hs256(header: unknown, payload: unknown, key: string, algorithm = "sha256"): string {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${createHmac(algorithm, key).update(input).digest("base64url")}`;
}

function forgedBuyerTokens(): string[] {
  const secret = SECRETS.STAMPEDE_JWT_SECRET;
  const now = Math.floor(Date.now() / 1000);
  const exp = now + 3600;
  const good = signBuyerToken(secret, "alice", 3600);
  const [header, , signature] = good.split(".");
  return [
    `${b64({ alg: "none", typ: "JWT" })}.${b64({ sub: "alice", exp })}.`,
    `${b64({ alg: "None" })}.${b64({ sub: "alice", exp })}.`,
    `${b64({ alg: "NONE" })}.${b64({ sub: "alice", exp })}.${signature}`,
    hs256({ alg: "HS512" }, { sub: "alice", exp }, secret, "sha512"),
    hs256({ alg: "HS384" }, { sub: "alice", exp }, secret, "sha384"),
    hs256({ alg: "HS256" }, { sub: "alice", exp }, "wrong-secret-0123456789abcdef"),
    hs256({ alg: "HS256" }, { sub: "alice", exp }, SECRETS.STAMPEDE_ADMIN_TOKEN),
    hs256({ alg: "HS256" }, { sub: "alice", exp }, SECRETS.STAMPEDE_WEBHOOK_SECRET),
    hs256({ alg: "RS256" }, { sub: "alice", exp }, secret),
    hs256({ alg: "ES256" }, { sub: "alice", exp }, secret),
    `${header}.${b64({ sub: "bob", exp })}.${signature}`,
    hs256({ alg: "HS256" }, { sub: "alice", exp: now - 600 }, secret),
    hs256({ alg: "HS256" }, { sub: "alice" }, secret),
    hs256({ alg: "HS256" }, { sub: "alice", exp, nbf: now + 3600 }, secret),
    hs256({ alg: "HS256" }, { sub: "alice", exp, iat: now + 86_400 }, secret),
    hs256({ alg: "HS256" }, `{"sub":"alice","exp":1e309}`, secret),
    hs256({ alg: "HS256" }, { sub: "alice", exp: String(exp) }, secret),
    hs256({ alg: "HS256", jku: "https://evil.example/jwks.json" }, { sub: "alice", exp }, secret),
    hs256({ alg: "HS256", jwk: { kty: "oct", k: "AAAA" } }, { sub: "alice", exp }, secret),
    hs256({ alg: "HS256", x5u: "https://evil.example/cert.pem" }, { sub: "alice", exp }, secret),
    hs256({ alg: "HS256", x5c: ["MIIB"] }, { sub: "alice", exp }, secret),
    hs256({ alg: "HS256", crit: ["x-unknown"], "x-unknown": true }, { sub: "alice", exp }, secret),
    hs256({ alg: "HS256" }, `{"exp":${exp},"__proto__":{"sub":"alice"}}`, secret),
    hs256({ alg: "HS256" }, { sub: 42, exp }, secret),
    hs256({ alg: "HS256" }, { sub: "", exp }, secret),
    hs256({ alg: "HS256" }, { sub: "a".repeat(257), exp }, secret),
    hs256({ alg: "HS256" }, { sub: "ali\nce", exp }, secret),
    hs256({ alg: "HS256" }, { sub: "\u202ealice", exp }, secret),
    hs256({ alg: "HS256" }, `{"sub":"\\ud800","exp":${exp}}`, secret),
    hs256({ alg: "HS256" }, { sub: ["alice"], exp }, secret),
    hs256([1], { sub: "alice", exp }, secret),
    hs256({ alg: "HS256" }, [1], secret),
    good.slice(0, -1),
    `${good}.x`,
    good.split(".").slice(0, 2).join("."),
    `${good.slice(0, 20)} ${good.slice(20)}`,
    "x".repeat(9_000),
  ];
}

function forgedAdminTokens(): string[] {
  const token = SECRETS.STAMPEDE_ADMIN_TOKEN;
  return [
    token.toUpperCase(),
    token.slice(0, -1),
    `${token}x`,
    `x${token}`,
    Buffer.from(token).toString("base64"),
    SECRETS.STAMPEDE_JWT_SECRET,
    SECRETS.STAMPEDE_WEBHOOK_SECRET,
    "admin",
    "null",
    "undefined",
  ];
}

function forgedSignatures(rawBody: string): string[] {
  const secret = SECRETS.STAMPEDE_WEBHOOK_SECRET;
  const now = Math.floor(Date.now() / 1000);
  const good = signWebhook(secret, rawBody, now);
  const v1 = good.split("v1=")[1] ?? "";
  return [
    signWebhook("wrong-webhook-secret-0123456789", rawBody, now),
    // Well past the 300 s either way: the requests go out up to a minute after they are made.
    signWebhook(secret, rawBody, now - 600),
    signWebhook(secret, rawBody, now + 600),
    signWebhook(secret, `${rawBody} `, now),
    `t=${now + 1},v1=${v1}`,
    `v1=${v1}`,
    `t=${now}`,
    `t=${now},v0=${v1}`,
    `t=${now},t=${now},v1=${v1}`,
    `t=${now}.0,v1=${v1}`,
    `t=${now},v1=${v1.slice(0, -2)}`,
    `t=${now},${Array.from({ length: 9 }, () => `v1=${v1}`).join(",")}`,
    `t=${now},v1=${createHmac("sha256", secret).update(rawBody).digest("hex")}`,
    `t=${now},v1=${createHmac("sha1", secret).update(`${now}.${rawBody}`).digest("hex")}`,
  ];
}

// ---------------------------------------------------------------------------------------------
// State that must not change

type Snapshot = Record<string, unknown>;

async function snapshot(): Promise<Snapshot> {
  const get = async (response: Promise<Response>) => expectStatus<unknown>(await response, 200);
  const state: Snapshot = { sales: await get(h.admin("GET", "/v1/admin/sales")) };
  for (const saleId of Object.values(ctx.sales)) {
    state[`${saleId}/reservations`] = await get(h.admin("GET", `/v1/admin/sales/${saleId}/reservations?limit=1000`));
    state[`${saleId}/payments`] = await get(h.admin("GET", `/v1/admin/sales/${saleId}/payments`));
    state[`${saleId}/public`] = await get(fetch(`${h.url}/v1/sales/${saleId}`));
    for (const buyer of ["alice", "bob", "mallory"]) {
      state[`${saleId}/${buyer}`] = await get(h.buyer(buyer, "GET", `/v1/sales/${saleId}/reservations`));
    }
  }
  return state;
}

// ---------------------------------------------------------------------------------------------
// Checks

function describeRequest(index: number, request: HostileRequest): string {
  const entries = Object.entries(request.headers);
  const headers = entries.slice(0, 8).map(([name, value]) => `${name}: ${value.length > 80 ? `${value.slice(0, 80)}…(${value.length})` : value}`);
  if (entries.length > 8) headers.push(`…${entries.length - 8} more`);
  const body = request.body === undefined ? "" : typeof request.body === "string" ? request.body : `bytes[${Buffer.from(request.body).toString("hex").slice(0, 120)}]`;
  return `#${index} ${request.kind}: ${request.method} ${request.path.slice(0, 200)} {${headers.join("; ")}} ${JSON.stringify(body.slice(0, 200))}${body.length > 200 ? `…(${body.length})` : ""}`;
}

function headerBytes(request: HostileRequest): number {
  return Object.entries(request.headers).reduce((sum, [name, value]) => sum + name.length + value.length + 4, request.path.length);
}

/** What is wrong with this answer, or null. */
async function verdict(request: HostileRequest, response: Response): Promise<string | null> {
  const status = response.status;
  const contentType = response.headers.get("content-type") ?? "";
  // An event stream never ends by itself: its headers are the answer.
  if (contentType.startsWith("text/event-stream")) await response.body?.cancel();
  const text = contentType.startsWith("text/event-stream") ? "" : await response.text();
  if (status >= 500) return `answered ${status}: ${text.slice(0, 300)}`;
  if (request.allow !== undefined && !request.allow.includes(status)) return `answered ${status}, expected one of ${request.allow.join(", ")}: ${text.slice(0, 300)}`;
  if (status === 431) {
    const count = Object.keys(request.headers).length;
    return headerBytes(request) > HEADER_BYTES_MAX || count > HEADER_COUNT_MAX ? null : `431 for a head of only ${headerBytes(request)} bytes`;
  }
  if (status < 400) return null;
  if (!contentType.startsWith("application/problem+json")) return `a ${status} that is not problem+json (${contentType}): ${text.slice(0, 200)}`;
  if (request.method === "HEAD") return null;
  try {
    const problem = JSON.parse(text) as { code?: unknown; status?: unknown; title?: unknown; type?: unknown };
    if (typeof problem.code !== "string" || !/^[a-z]+(_[a-z]+)*$/.test(problem.code)) return `problem without a snake_case code: ${text.slice(0, 200)}`;
    if (problem.status !== status) return `problem status ${String(problem.status)} on a ${status}`;
    if (typeof problem.title !== "string" || typeof problem.type !== "string") return `problem without title or type: ${text.slice(0, 200)}`;
  } catch {
    return `a ${status} whose body is not JSON: ${text.slice(0, 200)}`;
  }
  return null;
}

function rawVerdict(request: RawHostileRequest, answer: RawAnswer): string | null {
  if (!answer.closed) return `still open after ${Math.round(answer.elapsedMs)} ms`;
  const status = answer.status;
  if (request.allow !== undefined && !request.allow.includes(status)) return `answered ${status}, expected one of ${request.allow.join(", ")}: ${answer.body.slice(0, 200)}`;
  if (status === null) return null;
  const contentType = answer.headers.get("content-type");
  // Bun refuses what its parser cannot read (400, 431, and 505 for a version that is not HTTP/1.x)
  // before any of our code runs, with no body: a 505 is allowed only there, and only where expected.
  const fromBun = contentType === undefined && answer.body === "";
  if (status >= 500 && !(status === 505 && fromBun && request.allow?.includes(505))) return `answered ${status}: ${answer.body.slice(0, 300)}`;
  if (status < 400) return null;
  if (fromBun) return null;
  if (!contentType?.startsWith("application/problem+json")) return `a ${status} that is not problem+json: ${contentType}`;
  if (answer.body !== "" && !/"code":"[a-z_]+"/.test(answer.body)) return `problem without a code: ${answer.body.slice(0, 200)}`;
  return null;
}

async function inParallel<T>(items: readonly T[], limit: number, run: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      await run(items[index] as T, index);
    }
  };
  await Promise.all(Array.from({ length: limit }, worker));
}

// ---------------------------------------------------------------------------------------------
// Clients that stop halfway: opened first, checked last, so the wait overlaps the fuzzing.

type SlowClient = { label: string; answer: Promise<RawAnswer>; boundMs: number };
let slowClients: SlowClient[] = [];

function openSlowClients(): SlowClient[] {
  // Bun drops a connection whose request head is incomplete after about 10 s, and one that goes
  // silent in its body after the idle timeout (app.ts, 10 s); its timer ticks every 4 s or so.
  const boundMs = 17_000;
  const slow = (label: string, bytes: string): SlowClient => ({ label, answer: rawRequest(port, bytes, 25_000), boundMs });
  return [
    slow("nothing sent", ""),
    slow("half a request line", "GET /v1/sa"),
    slow("half the headers", `GET /v1/sales/${ctx.sales.open} HTTP/1.1\r\nHost: x\r\nX-Slow`),
    slow("half a body", `POST /v1/sales/${ctx.sales.open}/reservations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ctx.buyerToken("mallory")}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"itemId":`),
    slow("half a webhook", `POST /v1/webhooks/payments HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{`),
  ];
}

// ---------------------------------------------------------------------------------------------

beforeAll(async () => {
  h = await startHarness();
  port = Number(new URL(h.url).port);
  const now = Date.now();
  const items = [
    { id: "hoodie-m", name: "Hoodie M", price: 4900, currency: "USD", stock: 10 },
    { id: "gift-50", name: "Gift card 50", price: 5000, currency: "USD", delivery: "codes" },
  ];
  const sale = (id: string, extra: Record<string, unknown> = {}) => ({ id, name: `Sale ${id}`, holdSeconds: 3600, limitPerUser: 5, items, startsAt: new Date(now - 60_000).toISOString(), endsAt: new Date(now + 3_600_000).toISOString(), ...extra });
  const sales = { open: "fz-open", soldOut: "fz-soldout", paused: "fz-paused", ended: "fz-ended", scheduled: "fz-future" };
  await createSale(h, sale(sales.open));
  await createSale(h, sale(sales.soldOut, { items: [{ ...items[0], stock: 0 }, items[1]] }));
  await createSale(h, sale(sales.paused));
  await createSale(h, sale(sales.ended, { startsAt: new Date(now - 7_200_000).toISOString(), endsAt: new Date(now - 3_600_000).toISOString() }));
  await createSale(h, sale(sales.scheduled, { startsAt: new Date(now + 3_600_000).toISOString(), endsAt: new Date(now + 7_200_000).toISOString() }));
  await expectStatus(await h.admin("PATCH", `/v1/admin/sales/${sales.paused}`, { paused: true }), 200);
  await expectStatus(await h.admin("POST", `/v1/admin/sales/${sales.open}/items/gift-50/codes`, { codes: ["CODE-1", "CODE-2", "CODE-3"] }), 200);
  const alice = await held(h, "alice", sales.open, "hoodie-m");
  const bob = await held(h, "bob", sales.open, "gift-50");
  expect(await (await h.webhook(paymentFor(bob))).json()).toEqual({ outcome: "confirmed" });
  ctx = {
    sales,
    item: "hoodie-m",
    codesItem: "gift-50",
    buyerToken: (userId) => signBuyerToken(SECRETS.STAMPEDE_JWT_SECRET, userId, 3600),
    forgedBuyerTokens: forgedBuyerTokens(),
    adminToken: SECRETS.STAMPEDE_ADMIN_TOKEN,
    forgedAdminTokens: forgedAdminTokens(),
    sign: (rawBody) => signWebhook(SECRETS.STAMPEDE_WEBHOOK_SECRET, rawBody, Math.floor(Date.now() / 1000)),
    forgedSignatures,
    reservations: { alice: alice.id, bob: bob.id },
  };
  before = await snapshot();
  slowClients = openSlowClients();
});

afterAll(async () => {
  await h.close();
});

describe(`hostile input (FUZZ_SEED=${SEED})`, () => {
  test("every route, malformed every way: no 5xx, only problem documents, refusals where due", async () => {
    const requests = fc.sample(hostileRequests(ctx), { seed: SEED, numRuns: FETCH_REQUESTS });
    const byKind = new Map<string, number>();
    const byStatus = new Map<number, number>();
    const slowest: { tookMs: number; request: string }[] = [];
    const started = performance.now();
    await inParallel(requests, IN_FLIGHT, async (request, index) => {
      byKind.set(request.kind, (byKind.get(request.kind) ?? 0) + 1);
      let problem: string | null;
      const sentAt = performance.now();
      try {
        const response = await fetch(`${h.url}${request.path}`, {
          method: request.method,
          headers: request.headers,
          ...(request.body === undefined ? {} : { body: request.body }),
          signal: AbortSignal.timeout(10_000),
        });
        byStatus.set(response.status, (byStatus.get(response.status) ?? 0) + 1);
        problem = await verdict(request, response);
        const tookMs = performance.now() - sentAt;
        if (tookMs > (slowest[slowest.length - 1]?.tookMs ?? 0) || slowest.length < 5) {
          slowest.push({ tookMs, request: describeRequest(index, request).slice(0, 300) });
          slowest.sort((a, b) => b.tookMs - a.tookMs);
          slowest.length = Math.min(slowest.length, 5);
        }
      } catch (error) {
        problem = `no answer: ${String(error).slice(0, 200)}`;
      }
      sent += 1;
      if (problem !== null) failures.push(`${describeRequest(index, request)}\n    -> ${problem}`);
    });
    const elapsed = Math.round(performance.now() - started);
    console.log(`hostile: ${requests.length} requests in ${elapsed} ms, ${byKind.size} kinds, by status ${JSON.stringify(Object.fromEntries(byStatus))}`);
    if (process.env.FUZZ_VERBOSE) {
      console.log(JSON.stringify(Object.fromEntries(byKind)));
      for (const { tookMs, request } of slowest) console.log(`slow: ${Math.round(tookMs)} ms ${request}`);
    }
    // Every generator had its turn.
    expect(byKind.size).toBeGreaterThanOrEqual(30);
  }, 120_000);

  test("raw requests fetch would not send: answered or closed, never admitted where they should not be", async () => {
    const requests = fc.sample(rawHostileRequests(ctx), { seed: SEED, numRuns: RAW_REQUESTS });
    await inParallel(requests, 16, async (request, index) => {
      const answer = await rawRequest(port, request.bytes, 5_000);
      sent += 1;
      const problem = rawVerdict(request, answer);
      if (problem !== null) failures.push(`#raw${index} ${request.kind}: ${JSON.stringify(request.bytes.slice(0, 200))}\n    -> ${problem}`);
    });
  }, 60_000);

  test("clients that stop halfway are disconnected", async () => {
    for (const client of slowClients) {
      const answer = await client.answer;
      if (!answer.closed || answer.elapsedMs > client.boundMs) {
        failures.push(`slow client "${client.label}": ${answer.closed ? `closed after ${Math.round(answer.elapsedMs)} ms` : "never closed"}`);
      }
      // Nothing it sent was a whole request, so nothing may have been answered with a success.
      if (answer.status !== null && answer.status < 400) failures.push(`slow client "${client.label}" got ${answer.status}`);
    }
  }, 30_000);

  test("afterwards: the server is up, nothing changed, at least 10,000 requests were sent, no failures", async () => {
    await expectStatus(await fetch(`${h.url}/healthz`), 200);
    if (failures.length > 0) {
      const kinds = new Map<string, number>();
      for (const failure of failures) {
        const kind = /^#\S+ (\S+):/.exec(failure)?.[1] ?? "other";
        kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
      }
      const firstOfKind = new Map<string, string>();
      for (const failure of failures) firstOfKind.set(/^#\S+ (\S+):/.exec(failure)?.[1] ?? "other", firstOfKind.get(/^#\S+ (\S+):/.exec(failure)?.[1] ?? "other") ?? failure);
      const shown = `by kind: ${JSON.stringify(Object.fromEntries(kinds))}\n${[...firstOfKind.values()].join("\n")}`;
      throw new Error(`${failures.length} hostile requests were mishandled (replay: FUZZ_SEED=${SEED}):\n${shown}`);
    }
    expect(await snapshot()).toEqual(before);
    expect(sent).toBeGreaterThanOrEqual(10_000);
  });
});
