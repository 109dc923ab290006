// Generators of hostile requests over every route of API.md, for the hostile-input suite.
//
// Every request is built so that, if the server is right, it changes nothing: a request that carries
// valid credentials and targets something that could change either has a body broken on purpose (at
// least one field that no schema admits) or aims at a sale that refuses every hold (sold out, paused,
// ended, not yet open) or at a sale that does not exist. A 2xx to a broken body is therefore a bug,
// and the suite says so through `allow`.

import fc from "fast-check";

export type HostileRequest = {
  /** Which generator made it, for the failure report. */
  kind: string;
  method: string;
  /** Path and query, already percent-encoded as it goes on the wire. */
  path: string;
  headers: Record<string, string>;
  body?: string | Uint8Array;
  /** When set, the only statuses a correct server may answer. */
  allow?: readonly number[];
};

export type FuzzContext = {
  sales: { open: string; soldOut: string; paused: string; ended: string; scheduled: string };
  item: string;
  codesItem: string;
  /** A valid buyer JWT. */
  buyerToken: (userId: string) => string;
  /** Tokens every verifier must refuse. */
  forgedBuyerTokens: readonly string[];
  adminToken: string;
  forgedAdminTokens: readonly string[];
  /** A valid Stampede-Signature for a raw body. */
  sign: (rawBody: string) => string;
  /** Signatures that must never pass for the body they come with. */
  forgedSignatures: (rawBody: string) => readonly string[];
  /** Alice's held reservation and Bob's confirmed one, both in the open sale. */
  reservations: { alice: string; bob: string };
};

// ---------------------------------------------------------------------------------------------
// Building blocks

/** What fetch may carry in a header value: Latin-1 without NUL, CR or LF (the raw suite does the rest). */
const headerChar = fc.oneof(
  fc.integer({ min: 0x20, max: 0x7e }),
  fc.integer({ min: 0xa0, max: 0xff }),
  fc.constant(0x09),
).map((code) => String.fromCharCode(code));
const headerValue = fc.string({ unit: headerChar, maxLength: 300 });

/** Text as strange as Unicode allows: lone surrogates, bidi overrides, NUL, joiners, astral planes. */
export const strangeText = fc.oneof(
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.constantFrom(
    "\ud800",
    "\udfff",
    "a\ud800b",
    "\u202eevil\u202c",
    "\u200f\u05e9\u05dc\u05d5\u05dd",
    "\u0000",
    "a\u0000b",
    "\u200b\u200c\u200d\ufeff",
    "e\u0301\u0301\u0301",
    "\u{1f600}\u{1f4a9}",
    "\uffff\ufffe",
    "%00",
    "<script>alert(1)</script>",
    "'; DROP TABLE reservations; --",
    "${7*7}{{7*7}}",
    "../../etc/passwd",
    " ".repeat(65),
    "x".repeat(5000),
  ),
);

/** A path segment as it goes on the wire; lone surrogates cannot be percent-encoded, so they go as raw bytes. */
function segment(text: string): string {
  try {
    return encodeURIComponent(text);
  } catch {
    return `${encodeURIComponent(text.replace(/[\ud800-\udfff]/g, ""))}%ED%A0%80`;
  }
}

const oddSegment = fc.oneof(
  strangeText.map(segment),
  fc.constantFrom("%", "%zz", "%00", "%ff%fe", "%2F", "%5C", "%E2%80%AE", "a".repeat(65), "a%20b", "%2e", "-", "_"),
);

/** Ids that are valid but name nothing, including the names of Object.prototype's members. */
const unknownId = fc.constantFrom("nope", "__proto__", "constructor", "prototype", "toString", "hasOwnProperty", "valueOf", "a".repeat(64), "A-_9");

function saleIdOf(ctx: FuzzContext) {
  return fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...Object.values(ctx.sales)) },
    { weight: 2, arbitrary: unknownId },
    { weight: 2, arbitrary: oddSegment },
  );
}

function itemIdOf(ctx: FuzzContext) {
  return fc.oneof(fc.constantFrom(ctx.item, ctx.codesItem), unknownId, oddSegment);
}

function reservationIdOf(ctx: FuzzContext) {
  return fc.oneof(
    fc.constantFrom(ctx.reservations.alice, ctx.reservations.bob),
    unknownId,
    oddSegment,
    fc.constant("r".repeat(129)),
  );
}

const queryString = fc.oneof(
  fc.constant(""),
  fc.constantFrom(
    "?",
    "?&&&==",
    "?a=%",
    "?__proto__=x",
    "?__proto__[admin]=1",
    "?constructor[prototype][admin]=1",
    "?limit=1e309",
    "?limit=-0",
    "?limit=9007199254740993",
    "?limit=0",
    "?limit=1001",
    "?limit=abc",
    "?limit=1.5",
    "?limit=0x10",
    "?limit=&limit=",
    "?status=__proto__",
    "?status=held&status=confirmed",
    "?status=toString",
    "?outcome=constructor",
    "?outcome=refund_required",
    `?cursor=${"c".repeat(129)}`,
    "?cursor=%ED%A0%80",
    "?cursor=%00",
    "?cursor=eyJhIjoxfQ",
  ),
  fc.tuple(fc.constantFrom("status", "limit", "cursor", "outcome", "x"), strangeText).map(([key, value]) => `?${key}=${segment(value)}`),
);

const contentTypes = [
  "application/json",
  "application/json; charset=utf-8",
  "application/json; charset=utf-16",
  "text/plain",
  "application/x-www-form-urlencoded",
  "multipart/form-data",
  "multipart/form-data; boundary=x",
  "application/octet-stream",
  "application/json, text/html",
  "application/problem+json",
  "*/*",
  "",
  "garbage/\u00ff",
];

/** Extra headers: odd values for the headers the server reads, and random ones. */
const extraHeaders = fc
  .array(
    fc.oneof(
      fc.tuple(fc.constantFrom("idempotency-key"), fc.oneof(headerValue, fc.constantFrom("", " ", "k".repeat(129), "\u00e9", "\t"))),
      fc.tuple(fc.constantFrom("x-forwarded-for"), fc.oneof(headerValue, fc.constantFrom("1.1.1.1, 2.2.2.2", ",,,", "a".repeat(100)))),
      fc.tuple(fc.constantFrom("if-none-match", "accept", "accept-encoding", "cookie", "origin", "referer", "range", "expect"), headerValue),
      fc.tuple(fc.constantFrom("x-http-method-override", "x-original-url", "x-rewrite-url", "forwarded"), fc.constantFrom("DELETE", "/v1/admin/sales", "for=1.2.3.4;host=evil")),
      fc.tuple(fc.constantFrom("x-fuzz", "__proto__", "constructor", "prototype"), headerValue),
    ),
    { maxLength: 4 },
  )
  .map((pairs) => Object.fromEntries(pairs.filter(([name]) => name !== "__proto__")) as Record<string, string>);

/** A header past Bun's 16 KiB limit on a request head, or more header lines than its ~200 (both 431). */
const hugeHeaders = fc.oneof(
  fc.integer({ min: 17_000, max: 81_920 }).map((size) => ({ "x-big": "b".repeat(size) })),
  fc.integer({ min: 220, max: 400 }).map((count) => Object.fromEntries(Array.from({ length: count }, (_, i) => [`x-h${i}`, "v".repeat(60)]))),
);

// ---------------------------------------------------------------------------------------------
// Bodies

/** A field that no schema admits: the raw JSON text of its value. */
type Breaker = { path: (string | number)[]; raw: readonly string[] } | { path: (string | number)[]; remove: true };

const NOT_A_STRING = ["1", "null", "true", "[]", "{}", '["x"]'];
const NOT_AN_INTEGER = ['"1"', '" 1"', '"0x1"', "null", "true", "[]", "{}", "1.5", "1e309", "-1e309", "9007199254740993", "NaN", "Infinity", "-Infinity", "0x10", "1_0"];
const BAD_ID = [...NOT_A_STRING, '""', `"${"a".repeat(65)}"`, '"bad id"', '"\\ud800"', '"\\u202eabc"', '"a\\u0000b"', '"\u00e9"', '"a/b"', '"a.b"'];

/** Builds JSON text from `base` with `breaker` applied and, sometimes, hostile extras around it. */
function brokenJson(base: Record<string, unknown>, breakers: readonly Breaker[]): fc.Arbitrary<string> {
  const extras = fc.record({
    pollute: fc.constantFrom("", '"__proto__":{"admin":true,"quantity":1},', '"constructor":{"prototype":{"admin":true}},', '"prototype":{"x":1},', '"\\u005f_proto__":{"paused":true},'),
    duplicate: fc.boolean(),
    strangeName: fc.option(strangeText, { nil: undefined }),
  });
  return fc.tuple(fc.constantFrom(...breakers), fc.nat(), extras).map(([breaker, pick, extra]) => {
    const copy = structuredClone(base);
    if (extra.strangeName !== undefined && "name" in copy) copy.name = extra.strangeName;
    const placeholder = "\u0001FUZZ\u0001";
    let parent: Record<string | number, unknown> = copy;
    for (const key of breaker.path.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>;
    const last = breaker.path[breaker.path.length - 1] as string | number;
    let raw = "";
    if ("remove" in breaker) delete parent[last];
    else {
      raw = breaker.raw[pick % breaker.raw.length] as string;
      parent[last] = placeholder;
    }
    let text = JSON.stringify(copy).replace(JSON.stringify(placeholder), raw);
    // A duplicate key keeps the broken value last: JSON.parse keeps the last of duplicates.
    if (extra.duplicate && !("remove" in breaker) && breaker.path.length === 1) {
      text = `{${JSON.stringify(last)}:${JSON.stringify((base as Record<string, unknown>)[last as string])},${text.slice(1)}`;
    }
    return extra.pollute === "" ? text : `{${extra.pollute}${text.slice(1)}`;
  });
}

/** Text that is not JSON at all, or not only JSON. */
function notJson(base: Record<string, unknown>): fc.Arbitrary<string | Uint8Array> {
  const text = JSON.stringify(base);
  return fc.oneof(
    fc.nat({ max: text.length - 1 }).map((end) => text.slice(0, end)),
    fc.constantFrom(`${text}}`, `${text},`, `${text}x`, text.replace(/:/g, "="), text.replace(/"/g, "'"), `${text.slice(0, -1)},}`, `/*c*/${text}`, `\ufeff${text.slice(0, -1)}`, "{", "[", "nul", "{'a':1}", "{a:1}", '{"a":NaN}', '{"a":Infinity}', '{"a":undefined}', '{"a":01}', '{"a":.5}', '{"a":"\\x41"}', '{"a":"\\u12"}', "\u0000", " \n\t "),
    fc.uint8Array({ minLength: 1, maxLength: 64 }),
    fc.constant(new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d])),
    fc.constant(new Uint8Array([0xef, 0xbb, 0xbf, 0x7b])),
    fc.constant(new Uint8Array([0xed, 0xa0, 0x80])),
  );
}

/** Random JSON of any shape (only sent where a valid body could change nothing). */
const anyJson = fc.jsonValue({ maxDepth: 4 }).map((value) => JSON.stringify(value) ?? "null");

const deepOrHuge = fc.constantFrom(
  () => "[".repeat(50_000) + "]".repeat(50_000),
  () => '{"a":'.repeat(20_000) + "1" + "}".repeat(20_000),
  () => `{"itemId":"${"x".repeat(1_100_000)}","quantity":1}`,
  () => `[${"1,".repeat(200_000)}1]`,
);

// ---------------------------------------------------------------------------------------------
// Credentials

function buyerAuth(ctx: FuzzContext) {
  return {
    valid: fc.constantFrom("alice", "bob", "mallory").map((user) => `Bearer ${ctx.buyerToken(user)}`),
    forged: fc.oneof(
      fc.constantFrom(...ctx.forgedBuyerTokens).map((token) => `Bearer ${token}`),
      fc.constantFrom("", "Bearer", "Bearer ", "Basic YWxpY2U6cHc=", `Bearer ${ctx.adminToken}`, "Bearer a.b.c", "Bearer ....", `bearer  ${ctx.buyerToken("alice")}x`, `Bearer ${ctx.buyerToken("alice")} extra`),
      headerValue.map((value) => `Bearer ${value}`),
    ),
  };
}

function adminAuth(ctx: FuzzContext) {
  return {
    valid: fc.constant(`Bearer ${ctx.adminToken}`),
    forged: fc.oneof(
      fc.constantFrom(...ctx.forgedAdminTokens).map((token) => `Bearer ${token}`),
      fc.constantFrom("", "Bearer", ctx.adminToken, `Basic ${ctx.adminToken}`, `Bearer ${ctx.buyerToken("alice")}`),
      headerValue.map((value) => `Bearer ${value}`),
    ),
  };
}

// ---------------------------------------------------------------------------------------------
// Routes

type Parts = { method: string; path: string; auth?: string; contentType?: string; body?: string | Uint8Array; extra?: Record<string, string>; allow?: readonly number[] };

function request(kind: string, parts: Parts): HostileRequest {
  const headers: Record<string, string> = { ...parts.extra };
  if (parts.auth !== undefined) headers.authorization = parts.auth;
  if (parts.body !== undefined) headers["content-type"] = parts.contentType ?? "application/json";
  return { kind, method: parts.method, path: parts.path, headers, ...(parts.body === undefined ? {} : { body: parts.body }), ...(parts.allow === undefined ? {} : { allow: parts.allow }) };
}

/** Forged credentials: refused, unless the body is refused first for its size or the path names no route. */
const REFUSED = [401, 404, 413] as const;
/** Valid credentials with a body broken on purpose: the body is refused, or the target does not exist. */
const BROKEN = [400, 404, 413, 422] as const;

const HOLD_BREAKERS: Breaker[] = [
  { path: ["itemId"], raw: BAD_ID },
  { path: ["quantity"], raw: [...NOT_AN_INTEGER, "0", "-0", "-1", "101", "1e400", "100.0000001"] },
  { path: ["itemId"], remove: true },
  { path: ["quantity"], remove: true },
];

function holdRequests(ctx: FuzzContext) {
  const base = { itemId: ctx.item, quantity: 1 };
  const auth = buyerAuth(ctx);
  const closedSale = fc.constantFrom(ctx.sales.soldOut, ctx.sales.paused, ctx.sales.ended, ctx.sales.scheduled, "nope", "__proto__");
  const path = (saleId: string) => `/v1/sales/${saleId}/reservations`;
  return fc.oneof(
    // Valid buyer, broken body, any sale.
    fc.record({ sale: saleIdOf(ctx), auth: auth.valid, body: fc.oneof(brokenJson(base, HOLD_BREAKERS), notJson(base)), ct: fc.constantFrom(...contentTypes), extra: extraHeaders })
      .map((r) => request("hold/broken-body", { method: "POST", path: path(r.sale), auth: r.auth, body: r.body, contentType: r.ct, extra: r.extra, allow: BROKEN })),
    // Valid buyer, any body, a sale that refuses every hold.
    fc.record({ sale: closedSale, auth: auth.valid, body: fc.oneof(anyJson, fc.constant(JSON.stringify(base)), fc.constant(JSON.stringify({ itemId: ctx.codesItem, quantity: 100 }))), extra: extraHeaders })
      .map((r) => request("hold/closed-sale", { method: "POST", path: path(r.sale), auth: r.auth, body: r.body, extra: r.extra, allow: [400, 404, 409, 410, 422] })),
    // Forged credentials, even with a valid body on the open sale.
    fc.record({ sale: saleIdOf(ctx), auth: auth.forged, body: fc.oneof(fc.constant(JSON.stringify(base)), anyJson), extra: extraHeaders })
      .map((r) => request("hold/forged-token", { method: "POST", path: path(r.sale), auth: r.auth, body: r.body, extra: r.extra, allow: REFUSED })),
    // No credentials at all.
    fc.record({ sale: saleIdOf(ctx), body: fc.constant(JSON.stringify(base)) })
      .map((r) => request("hold/anonymous", { method: "POST", path: path(r.sale), body: r.body, allow: REFUSED })),
  );
}

function buyerReadRequests(ctx: FuzzContext) {
  const auth = buyerAuth(ctx);
  return fc.oneof(
    fc.record({ sale: saleIdOf(ctx), auth: fc.oneof(auth.valid, auth.forged), query: queryString, extra: extraHeaders })
      .map((r) => request("buyer/list", { method: "GET", path: `/v1/sales/${r.sale}/reservations${r.query}`, auth: r.auth, extra: r.extra })),
    fc.record({ sale: saleIdOf(ctx), id: reservationIdOf(ctx), auth: fc.oneof(auth.valid, auth.forged), extra: extraHeaders })
      .map((r) => request("buyer/get", { method: "GET", path: `/v1/sales/${r.sale}/reservations/${r.id}`, auth: r.auth, extra: r.extra })),
    // Releasing: forged credentials, or a real buyer touching someone else's (or no) reservation.
    fc.record({ sale: saleIdOf(ctx), id: reservationIdOf(ctx), auth: auth.forged })
      .map((r) => request("buyer/release-forged", { method: "DELETE", path: `/v1/sales/${r.sale}/reservations/${r.id}`, auth: r.auth, allow: REFUSED })),
    fc.record({ sale: saleIdOf(ctx), id: fc.oneof(fc.constant(ctx.reservations.alice), unknownId, oddSegment), user: fc.constantFrom("bob", "mallory") })
      .map((r) => request("buyer/release-other", { method: "DELETE", path: `/v1/sales/${r.sale}/reservations/${r.id}`, auth: `Bearer ${ctx.buyerToken(r.user)}`, allow: [404, 409, 422] })),
    fc.record({ id: reservationIdOf(ctx) })
      .map((r) => request("buyer/release-bob-confirmed", { method: "DELETE", path: `/v1/sales/${ctx.sales.open}/reservations/${ctx.reservations.bob}`, auth: `Bearer ${ctx.buyerToken("bob")}`, allow: [409] })),
  );
}

function publicRequests(ctx: FuzzContext) {
  return fc.oneof(
    fc.record({ sale: saleIdOf(ctx), query: queryString, extra: extraHeaders, method: fc.constantFrom("GET", "GET", "HEAD") })
      .map((r) => request("public/sale", { method: r.method, path: `/v1/sales/${r.sale}${r.query}`, extra: r.extra })),
    fc.record({ sale: saleIdOf(ctx), extra: extraHeaders })
      .map((r) => request("public/stream", { method: "GET", path: `/v1/sales/${r.sale}/stream`, extra: r.extra })),
  );
}

function createBreakers(): Breaker[] {
  return [
    { path: ["id"], raw: BAD_ID },
    { path: ["name"], raw: [...NOT_A_STRING, '""', `"${"n".repeat(201)}"`] },
    { path: ["name"], remove: true },
    { path: ["items"], raw: ["[]", "null", '"x"', "{}", "[{}]", '[{"id":"a"}]', "[1]"] },
    { path: ["items"], remove: true },
    { path: ["items", 0, "price"], raw: [...NOT_AN_INTEGER, "-1", "1000000000001"] },
    { path: ["items", 0, "currency"], raw: ['"usd"', '"US"', '""', "1", '"US\\u0000"'] },
    { path: ["items", 0, "stock"], raw: [...NOT_AN_INTEGER, "-1", "1000000001"] },
    { path: ["items", 0, "delivery"], raw: ['"email"', '"__proto__"', "1"] },
    { path: ["items", 0, "id"], raw: BAD_ID },
    { path: ["holdSeconds"], raw: [...NOT_AN_INTEGER, "0", "86401"] },
    { path: ["limitPerUser"], raw: [...NOT_AN_INTEGER, "0", "1001"] },
    { path: ["startsAt"], raw: ['"nope"', "1", '"2026-13-45T99:99:99Z"', '""', `"${"2".repeat(41)}"`] },
    { path: ["endsAt"], raw: ['"1970-01-01T00:00:00Z"', '"yesterday"', "null"] },
  ];
}

function adminRequests(ctx: FuzzContext) {
  const auth = adminAuth(ctx);
  const now = Date.now();
  const createBase = {
    id: "fuzz-new",
    name: "Fuzz",
    startsAt: new Date(now - 60_000).toISOString(),
    endsAt: new Date(now + 3_600_000).toISOString(),
    holdSeconds: 60,
    limitPerUser: 1,
    items: [{ id: "i", name: "I", price: 1, currency: "USD", stock: 1 }],
  };
  const patchBreakers: Breaker[] = [
    { path: ["name"], raw: [...NOT_A_STRING, '""', `"${"n".repeat(201)}"`] },
    { path: ["paused"], raw: ['"true"', "1", "0", "null", "[]"] },
    { path: ["limitPerUser"], raw: [...NOT_AN_INTEGER, "0", "1001"] },
    { path: ["holdSeconds"], raw: [...NOT_AN_INTEGER, "0", "86401"] },
    { path: ["startsAt"], raw: ['"nope"', "1", '"2026-13-45T99:99:99Z"'] },
  ];
  const stockBreakers: Breaker[] = [{ path: ["delta"], raw: [...NOT_AN_INTEGER, "1000000001", "-1000000001"] }, { path: ["delta"], remove: true }];
  const codesBreakers: Breaker[] = [
    { path: ["codes"], raw: ["[]", "null", '"CODE"', "[1]", '[""]', '["has space"]', `["${"c".repeat(257)}"]`, '["\\u0000"]', '["\\ud800"]', '["\u00e9"]', "[null]"] },
    { path: ["codes"], remove: true },
  ];
  const write = (kind: string, method: string, path: fc.Arbitrary<string>, base: Record<string, unknown>, breakers: Breaker[]) =>
    fc.oneof(
      fc.record({ path, body: fc.oneof(brokenJson(base, breakers), notJson(base)), ct: fc.constantFrom(...contentTypes), extra: extraHeaders })
        .map((r) => request(`${kind}/broken-body`, { method, path: r.path, auth: `Bearer ${ctx.adminToken}`, body: r.body, contentType: r.ct, extra: r.extra, allow: BROKEN })),
      fc.record({ path, auth: auth.forged, body: fc.oneof(fc.constant(JSON.stringify(base)), anyJson) })
        .map((r) => request(`${kind}/forged-token`, { method, path: r.path, auth: r.auth, body: r.body, allow: REFUSED })),
    );
  const sale = saleIdOf(ctx);
  const item = fc.tuple(sale, itemIdOf(ctx));
  const read = (kind: string, path: fc.Arbitrary<string>) =>
    fc.record({ path, auth: fc.oneof(auth.valid, auth.forged), query: queryString, extra: extraHeaders, method: fc.constantFrom("GET", "GET", "GET", "HEAD") })
      .map((r) => request(kind, { method: r.method, path: `${r.path}${r.query}`, auth: r.auth, extra: r.extra }));
  return fc.oneof(
    write("admin/create", "POST", fc.constant("/v1/admin/sales"), createBase, createBreakers()),
    write("admin/patch", "PATCH", sale.map((id) => `/v1/admin/sales/${id}`), { name: "Renamed" }, patchBreakers),
    // An empty patch is valid and changes nothing; a patch of a sale that does not exist is 404.
    fc.record({ id: unknownId, body: fc.constantFrom("{}", '{"paused":true}', '{"name":"x"}') })
      .map((r) => request("admin/patch-unknown", { method: "PATCH", path: `/v1/admin/sales/${r.id}`, auth: `Bearer ${ctx.adminToken}`, body: r.body, allow: [404] })),
    write("admin/stock", "POST", item.map(([s, i]) => `/v1/admin/sales/${s}/items/${i}/stock`), { delta: 1 }, stockBreakers),
    write("admin/codes", "POST", item.map(([s, i]) => `/v1/admin/sales/${s}/items/${i}/codes`), { codes: ["FUZZ-1"] }, codesBreakers),
    read("admin/list", fc.constant("/v1/admin/sales")),
    read("admin/sale", sale.map((id) => `/v1/admin/sales/${id}`)),
    read("admin/reservations", sale.map((id) => `/v1/admin/sales/${id}/reservations`)),
    read("admin/csv", sale.map((id) => `/v1/admin/sales/${id}/reservations.csv`)),
    read("admin/payments", sale.map((id) => `/v1/admin/sales/${id}/payments`)),
  );
}

function webhookRequests(ctx: FuzzContext) {
  const base = { eventId: "evt_fuzz", paymentId: "pay_fuzz", saleId: ctx.sales.open, reservationId: ctx.reservations.alice, status: "succeeded", amount: 4900, currency: "USD" };
  const breakers: Breaker[] = [
    { path: ["amount"], raw: [...NOT_AN_INTEGER, "-1", "1000000000001"] },
    { path: ["currency"], raw: ['"usd"', "1", '""'] },
    { path: ["status"], raw: ['"paid"', '"SUCCEEDED"', "true", "null"] },
    { path: ["saleId"], raw: BAD_ID },
    { path: ["reservationId"], raw: [...NOT_A_STRING, '""', `"${"r".repeat(129)}"`] },
    { path: ["eventId"], raw: [...NOT_A_STRING, '""', `"${"e".repeat(257)}"`] },
    { path: ["paymentId"], remove: true },
  ];
  const path = "/v1/webhooks/payments";
  const post = (kind: string, body: string | Uint8Array, signature: string | undefined, allow: readonly number[], contentType = "application/json") =>
    request(kind, { method: "POST", path, body, contentType, extra: signature === undefined ? {} : { "stampede-signature": signature }, allow });
  return fc.oneof(
    // Correctly signed, broken body: the signature passes, the body does not.
    fc.tuple(brokenJson(base, breakers), fc.constantFrom(...contentTypes)).map(([body, ct]) => post("webhook/broken-body", body, ctx.sign(body), [400, 404, 413, 422], ct)),
    // Correctly signed, well formed, about a reservation that does not exist.
    fc.tuple(unknownId, fc.constantFrom(ctx.sales.open, ctx.sales.soldOut, "nope")).map(([reservationId, saleId]) => {
      const body = JSON.stringify({ ...base, eventId: `evt_${reservationId}`, paymentId: `pay_${reservationId}`, saleId, reservationId });
      return post("webhook/unknown-reservation", body, ctx.sign(body), [404]);
    }),
    // A real payment for Alice's hold, but never validly signed for the body that is sent.
    fc.tuple(fc.nat(), fc.boolean()).map(([pick, tamper]) => {
      const body = JSON.stringify(base);
      const signatures = ctx.forgedSignatures(body);
      const signature = tamper ? ctx.sign(body.replace("4900", "4901")) : (signatures[pick % signatures.length] as string);
      return post("webhook/forged-signature", body, signature, [401]);
    }),
    fc.tuple(headerValue, notJson(base)).map(([signature, body]) => post("webhook/garbage-signature", body, signature, [400, 401, 413])),
    notJson(base).map((body) => post("webhook/unsigned", body, undefined, [400, 401, 413])),
  );
}

function opsRequests() {
  return fc.record({ path: fc.constantFrom("/healthz", "/readyz", "/metrics", "/swagger", "/swagger/json", "/healthz?x=%", "/metrics?__proto__=1"), method: fc.constantFrom("GET", "HEAD", "POST", "DELETE") })
    .map((r) => request("ops", { method: r.method, path: r.path }));
}

function oddRequests(ctx: FuzzContext) {
  const paths = fc.oneof(
    fc.constantFrom("/", "/v1", "/v1/", "/v1/sales", "/v1/admin", "/v1/adminx", "/v1/admin/", "/v1/admin/sales/", "/V1/ADMIN/SALES", "/v1/webhooks", "/v1/webhooks/payments/x", "/swagger/../../etc/passwd", `/v1/sales/${ctx.sales.open}/reservations/x/y`, `/v1/sales/${ctx.sales.open}/stream/x`, `/${"p".repeat(8_000)}`, "/v1/sales/%2F%2F/reservations", "/favicon.ico", "/.env", "/v1/admin%2Fsales"),
    fc.array(oddSegment, { minLength: 1, maxLength: 5 }).map((segments) => `/${segments.join("/")}`),
  );
  const methods = fc.constantFrom("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "PROPFIND", "MKCOL", "M-SEARCH", "FOO", "CONNECT");
  return fc.record({ path: paths, method: methods, query: queryString, auth: fc.oneof(fc.constant(undefined), adminAuth(ctx).forged, buyerAuth(ctx).forged), extra: extraHeaders })
    // Bun's fetch sends a method it does not know (FOO) as GET, and `/` is a route now (it leads to the dashboard).
    .map((r) => request("odd/route", { method: r.method, path: `${r.path}${r.query}`, ...(r.auth === undefined ? {} : { auth: r.auth }), extra: r.extra, ...(r.method === "GET" || r.method === "HEAD" || r.method === "FOO" ? {} : { allow: [401, 404, 413, 422] }) }));
}

function hugeHeaderRequests(ctx: FuzzContext) {
  return fc.record({ headers: hugeHeaders, sale: saleIdOf(ctx) }).map((r) => request("huge-headers", { method: "GET", path: `/v1/sales/${r.sale}`, extra: r.headers, allow: [431] }));
}

function bigBodyRequests(ctx: FuzzContext) {
  return fc.record({ make: deepOrHuge, admin: fc.boolean() }).map((r) =>
    r.admin
      ? request("big-body/admin", { method: "POST", path: "/v1/admin/sales", auth: `Bearer ${ctx.adminToken}`, body: r.make(), allow: BROKEN })
      : request("big-body/hold", { method: "POST", path: `/v1/sales/${ctx.sales.open}/reservations`, auth: `Bearer ${ctx.buyerToken("mallory")}`, body: r.make(), allow: BROKEN }),
  );
}

/** Every route of API.md, weighted towards the ones that change state. */
export function hostileRequests(ctx: FuzzContext): fc.Arbitrary<HostileRequest> {
  return fc.oneof(
    { weight: 24, arbitrary: holdRequests(ctx) },
    { weight: 12, arbitrary: buyerReadRequests(ctx) },
    { weight: 8, arbitrary: publicRequests(ctx) },
    { weight: 26, arbitrary: adminRequests(ctx) },
    { weight: 16, arbitrary: webhookRequests(ctx) },
    { weight: 3, arbitrary: opsRequests() },
    { weight: 9, arbitrary: oddRequests(ctx) },
    { weight: 1, arbitrary: hugeHeaderRequests(ctx) },
    { weight: 1, arbitrary: bigBodyRequests(ctx) },
  );
}

// ---------------------------------------------------------------------------------------------
// Raw requests: what fetch will not send

export type RawHostileRequest = {
  kind: string;
  bytes: string;
  /** When set, the only statuses a correct server may answer (null: closed without an answer). */
  allow?: readonly (number | null)[];
};

/** Bun answers a request line that is not HTTP/1.x (or ends its lines with a bare LF) 505 itself. */
const BAD_VERSION = [400, 505, null] as const;

/** An answer that reaches the operator routes without the token would be a 2xx here. */
const NEVER_ADMITTED = [400, 401, 404, 405, 413, 414, 431, 505, null] as const;

export function rawHostileRequests(ctx: FuzzContext): fc.Arbitrary<RawHostileRequest> {
  const open = ctx.sales.open;
  const protectedTargets = fc.constantFrom(
    "/v1/admin/sales",
    `/v1/admin/sales/${open}`,
    `/v1/admin/sales/${open}/reservations`,
    `/v1/admin/sales/%2e%2e`,
    `/v1/admin/sales/${open}/items/%2e%2e/stock`,
    `/v1/sales/${open}/reservations`,
    `/v1/sales/${open}/reservations/%2e%2e`,
    `/v1/sales/${open}/reservations/%2E%2e`,
    `/v1/sales/%2e%2e/reservations`,
    `/v1/sales/${open}/reservations/${ctx.reservations.alice}`,
    "http://evil.example/v1/admin/sales",
    "//v1/admin/sales",
    "/v1//admin/sales",
    "/v1/./admin/sales",
    "/v1/x/../admin/sales",
    "/v1/admin/sales;x",
    "/v1/admin/sales%00",
    "/v1/admin\\sales",
  );
  const hosts = fc.constantFrom("x", "evil/x", "evil?a=", "evil#", "", "[::1", "a@b", "x:99999", "\u00ff", `x/v1/sales/${open}`, "%2f");
  const forgedAuth = fc.oneof(
    fc.constant(""),
    fc.constantFrom(...ctx.forgedAdminTokens, ...ctx.forgedBuyerTokens).map((token) => `Authorization: Bearer ${token}\r\n`),
  );
  const bypass = fc.record({ method: fc.constantFrom("GET", "POST", "PATCH", "DELETE", "HEAD"), target: protectedTargets, host: hosts, auth: forgedAuth }).map((r) => {
    const body = r.method === "POST" || r.method === "PATCH" ? `{"name":"x","itemId":"${ctx.item}","quantity":1,"delta":1}` : "";
    const length = body === "" ? "" : `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n`;
    return { kind: "raw/bypass", bytes: `${r.method} ${r.target} HTTP/1.1\r\nHost: ${r.host}\r\n${r.auth}${length}Connection: close\r\n\r\n${body}`, allow: NEVER_ADMITTED };
  });

  const line = (method: string, target: string, version = "HTTP/1.1") => `${method} ${target} ${version}\r\n`;
  const framing = fc.constantFrom<RawHostileRequest>(
    { kind: "raw/two-lengths", bytes: `${line("POST", `/v1/sales/${open}/reservations`)}Host: x\r\nContent-Length: 5\r\nContent-Length: 6\r\nConnection: close\r\n\r\n{"a":1}` },
    { kind: "raw/length-and-chunked", bytes: `${line("POST", "/v1/webhooks/payments")}Host: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\nGET /v1/admin/sales HTTP/1.1\r\nHost: x\r\n\r\n` },
    { kind: "raw/bad-chunk", bytes: `${line("POST", "/v1/webhooks/payments")}Host: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n{}\r\n0\r\n\r\n` },
    { kind: "raw/huge-chunk", bytes: `${line("POST", "/v1/webhooks/payments")}Host: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nFFFFFFFFFFFFFFFFFF\r\n{}\r\n0\r\n\r\n` },
    { kind: "raw/gzip-coding", bytes: `${line("POST", "/v1/webhooks/payments")}Host: x\r\nTransfer-Encoding: gzip\r\nConnection: close\r\n\r\n{}` },
    { kind: "raw/negative-length", bytes: `${line("POST", "/v1/webhooks/payments")}Host: x\r\nContent-Length: -1\r\nConnection: close\r\n\r\n{}` },
    { kind: "raw/float-length", bytes: `${line("POST", "/v1/webhooks/payments")}Host: x\r\nContent-Length: 1e3\r\nConnection: close\r\n\r\n{}` },
    { kind: "raw/huge-length", bytes: `${line("POST", `/v1/sales/${open}/reservations`)}Host: x\r\nContent-Length: 99999999999999999999\r\nConnection: close\r\n\r\n{}` },
    { kind: "raw/get-with-body", bytes: `${line("GET", `/v1/sales/${open}`)}Host: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello` },
    { kind: "raw/expect-continue", bytes: `${line("POST", "/v1/webhooks/payments")}Host: x\r\nExpect: 100-continue\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}` },
    { kind: "raw/nul-in-header", bytes: `${line("GET", `/v1/sales/${open}`)}Host: x\r\nX-A: a\u0000b\r\nConnection: close\r\n\r\n` },
    { kind: "raw/obs-fold", bytes: `${line("GET", "/v1/admin/sales")}Host: x\r\nAuthorization: Bearer\r\n ${ctx.adminToken}\r\nConnection: close\r\n\r\n`, allow: NEVER_ADMITTED },
    { kind: "raw/space-before-colon", bytes: `${line("GET", "/v1/admin/sales")}Host: x\r\nAuthorization : Bearer nope\r\nConnection: close\r\n\r\n`, allow: NEVER_ADMITTED },
    { kind: "raw/no-colon", bytes: `${line("GET", `/v1/sales/${open}`)}Host: x\r\nNoColonHere\r\nConnection: close\r\n\r\n` },
    { kind: "raw/space-in-name", bytes: `${line("GET", `/v1/sales/${open}`)}Host: x\r\nX A: b\r\nConnection: close\r\n\r\n` },
    { kind: "raw/bare-lf", bytes: `GET /v1/sales/${open} HTTP/1.1\nHost: x\nConnection: close\n\n`, allow: BAD_VERSION },
    { kind: "raw/no-host", bytes: `${line("GET", `/v1/sales/${open}`)}Connection: close\r\n\r\n` },
    { kind: "raw/two-hosts", bytes: `${line("GET", "/v1/admin/sales")}Host: x\r\nHost: evil/x\r\nConnection: close\r\n\r\n`, allow: NEVER_ADMITTED },
    { kind: "raw/http10", bytes: `GET /v1/sales/${open} HTTP/1.0\r\n\r\n` },
    { kind: "raw/http2-version", bytes: `${line("GET", `/v1/sales/${open}`, "HTTP/2.0")}Host: x\r\n\r\n`, allow: BAD_VERSION },
    { kind: "raw/http99", bytes: `${line("GET", `/v1/sales/${open}`, "HTTP/9.9")}Host: x\r\n\r\n`, allow: BAD_VERSION },
    { kind: "raw/http09", bytes: `GET /v1/sales/${open}\r\n\r\n`, allow: BAD_VERSION },
    { kind: "raw/no-version", bytes: `GET\r\n\r\n` },
    { kind: "raw/lowercase-method", bytes: `${line("get", `/v1/sales/${open}`)}Host: x\r\nConnection: close\r\n\r\n` },
    { kind: "raw/trace", bytes: `${line("TRACE", "/v1/admin/sales")}Host: x\r\nAuthorization: Bearer nope\r\nConnection: close\r\n\r\n`, allow: NEVER_ADMITTED },
    { kind: "raw/connect", bytes: `${line("CONNECT", "evil.example:443")}Host: evil.example:443\r\nConnection: close\r\n\r\n` },
    { kind: "raw/asterisk", bytes: `${line("OPTIONS", "*")}Host: x\r\nConnection: close\r\n\r\n` },
    { kind: "raw/long-method", bytes: `${line("A".repeat(2000), "/")}Host: x\r\nConnection: close\r\n\r\n` },
    { kind: "raw/long-target", bytes: `${line("GET", `/${"a".repeat(20_000)}`)}Host: x\r\nConnection: close\r\n\r\n` },
    { kind: "raw/80k-header", bytes: `${line("GET", `/v1/sales/${open}`)}Host: x\r\nX-Big: ${"b".repeat(80 * 1024)}\r\nConnection: close\r\n\r\n`, allow: [431] },
    { kind: "raw/many-headers", bytes: `${line("GET", `/v1/sales/${open}`)}Host: x\r\n${Array.from({ length: 500 }, (_, i) => `X-H${i}: v\r\n`).join("")}Connection: close\r\n\r\n`, allow: [431] },
    { kind: "raw/high-bytes", bytes: `${line("GET", "/v1/sales/\u00ff\u00fe")}Host: x\r\nX-A: \u00ff\r\nConnection: close\r\n\r\n` },
    { kind: "raw/binary", bytes: "\u0016\u0003\u0001\u0002\u0000\u0001\u0000\u01fc\u0003\u0003" },
    { kind: "raw/garbage", bytes: "\r\n\r\n\r\n" },
  );
  return fc.oneof({ weight: 3, arbitrary: bypass }, { weight: 2, arbitrary: framing });
}
