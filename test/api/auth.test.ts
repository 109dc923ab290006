// Who may call what (API.md): buyer JWTs, the operator token, and the public routes that need
// neither. Every refusal is 401 `unauthorized` and changes nothing.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type KeyObject, createHmac, generateKeyPairSync, sign } from "node:crypto";
import { statSync } from "node:fs";
import { join } from "node:path";
import { signBuyerToken } from "../../src/auth/buyer-token.ts";
import { type Harness, SECRETS, saleBody, startHarness } from "../support/harness.ts";
import { type Reservation, counts, createSale, expectProblem, expectStatus, held } from "./helpers.ts";

let h: Harness;
let reservation: Reservation;
beforeAll(async () => {
  h = await startHarness();
  await createSale(h, saleBody("auth-sale", { limitPerUser: 5 }));
  reservation = await held(h, "alice", "auth-sale", "hoodie-m");
});
afterAll(async () => {
  await h.close();
});

const base64url = (value: unknown) => Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");

/** A JWT with any header and claims, signed with HMAC-SHA256 under `secret` (or unsigned). */
function craft(header: Record<string, unknown>, claims: Record<string, unknown>, secret: string | null): string {
  const unsigned = `${base64url(header)}.${base64url(claims)}`;
  if (secret === null) return `${unsigned}.`;
  return `${unsigned}.${createHmac("sha256", secret).update(unsigned).digest("base64url")}`;
}

const nowSeconds = () => Math.floor(Date.now() / 1000);
const validClaims = () => ({ sub: "alice", iat: nowSeconds(), exp: nowSeconds() + 3600 });

const buyerCall = (method: string, path: string, authorization: string | null, body?: unknown) =>
  fetch(`${h.url}${path}`, {
    method,
    headers: {
      ...(authorization === null ? {} : { authorization }),
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

describe("buyers", () => {
  const routes = () => [
    ["POST", "/v1/sales/auth-sale/reservations", { itemId: "hoodie-m", quantity: 1 }],
    ["GET", "/v1/sales/auth-sale/reservations", undefined],
    ["GET", `/v1/sales/auth-sale/reservations/${reservation.id}`, undefined],
    ["DELETE", `/v1/sales/auth-sale/reservations/${reservation.id}`, undefined],
  ] as const;

  const bad: [string, () => string | null][] = [
    ["no Authorization header", () => null],
    ["an empty bearer", () => "Bearer "],
    ["garbage", () => "Bearer not-a-jwt"],
    ["another scheme", () => `Basic ${Buffer.from("alice:pw").toString("base64")}`],
    ["the token without its scheme", () => h.token("alice")],
    ["an expired token", () => `Bearer ${signBuyerToken(SECRETS.STAMPEDE_JWT_SECRET, "alice", 60, { now: Date.now() - 3_600_000 })}`],
    ["a token signed with another secret", () => `Bearer ${signBuyerToken("some-other-secret-0123456789abcdef", "alice", 3600)}`],
    ["alg none", () => `Bearer ${craft({ alg: "none", typ: "JWT" }, validClaims(), null)}`],
    ["alg none with a signature", () => `Bearer ${craft({ alg: "none", typ: "JWT" }, validClaims(), SECRETS.STAMPEDE_JWT_SECRET)}`],
    ["algorithm confusion (RS256 label, HMAC signature)", () => `Bearer ${craft({ alg: "RS256", typ: "JWT" }, validClaims(), SECRETS.STAMPEDE_JWT_SECRET)}`],
    ["HS512 instead of HS256", () => {
      const unsigned = `${base64url({ alg: "HS512", typ: "JWT" })}.${base64url(validClaims())}`;
      return `Bearer ${unsigned}.${createHmac("sha512", SECRETS.STAMPEDE_JWT_SECRET).update(unsigned).digest("base64url")}`;
    }],
    ["no exp", () => `Bearer ${craft({ alg: "HS256", typ: "JWT" }, { sub: "alice", iat: nowSeconds() }, SECRETS.STAMPEDE_JWT_SECRET)}`],
    ["no sub", () => `Bearer ${craft({ alg: "HS256", typ: "JWT" }, { iat: nowSeconds(), exp: nowSeconds() + 3600 }, SECRETS.STAMPEDE_JWT_SECRET)}`],
    ["a non-string sub", () => `Bearer ${craft({ alg: "HS256", typ: "JWT" }, { ...validClaims(), sub: 42 }, SECRETS.STAMPEDE_JWT_SECRET)}`],
    ["a tampered payload", () => {
      const [header, , signature] = h.token("alice").split(".");
      return `Bearer ${header}.${base64url({ ...validClaims(), sub: "mallory" })}.${signature}`;
    }],
    ["the admin token", () => `Bearer ${SECRETS.STAMPEDE_ADMIN_TOKEN}`],
  ];

  for (const [label, authorization] of bad) {
    test(`401 unauthorized on every buyer route: ${label}`, async () => {
      for (const [method, path, body] of routes()) {
        await expectProblem(await buyerCall(method, path, authorization(), body), 401, "unauthorized");
      }
    });
  }

  test("the refusals changed nothing, and a well-made token from the same secret is accepted", async () => {
    expect(await counts(h, "auth-sale", "hoodie-m")).toEqual({ stock: 10, available: 9, held: 1, confirmed: 0 });
    const crafted = craft({ alg: "HS256", typ: "JWT" }, validClaims(), SECRETS.STAMPEDE_JWT_SECRET);
    const own = await expectStatus<Reservation>(
      await buyerCall("GET", `/v1/sales/auth-sale/reservations/${reservation.id}`, `Bearer ${crafted}`),
      200,
    );
    expect(own.status).toBe("held");
    // The scheme is case-insensitive.
    await expectStatus(await buyerCall("GET", "/v1/sales/auth-sale/reservations", `bearer ${crafted}`), 200);
  });
});

describe("buyers with a public key, issuer and audience", () => {
  // One server per key kind: the key decides the algorithms, never the token.
  const servers: { label: string; alg: string; h: Harness; privateKey: KeyObject; otherKey: KeyObject; publicPem: string }[] = [];
  const issuer = "https://id.example.test";
  const audience = "stampede-tests";

  beforeAll(async () => {
    const kinds = [
      { label: "EdDSA", alg: "EdDSA", pair: generateKeyPairSync("ed25519"), other: generateKeyPairSync("ed25519") },
      {
        label: "RS256",
        alg: "RS256",
        pair: generateKeyPairSync("rsa", { modulusLength: 2048 }),
        other: generateKeyPairSync("rsa", { modulusLength: 2048 }),
      },
    ];
    for (const { label, alg, pair, other } of kinds) {
      const publicPem = pair.publicKey.export({ type: "spki", format: "pem" }).toString();
      const server = await startHarness({
        env: {
          STAMPEDE_JWT_SECRET: "",
          STAMPEDE_JWT_PUBLIC_KEY: publicPem,
          STAMPEDE_JWT_ISSUER: issuer,
          STAMPEDE_JWT_AUDIENCE: audience,
        },
      });
      await createSale(server, saleBody(`auth-pk-${label}`));
      servers.push({ label, alg, h: server, privateKey: pair.privateKey, otherKey: other.privateKey, publicPem });
    }
  });
  afterAll(async () => {
    for (const server of servers) await server.h.close();
  });

  function signAsymmetric(alg: string, privateKey: KeyObject, claims: Record<string, unknown>): string {
    const unsigned = `${base64url({ alg, typ: "JWT" })}.${base64url(claims)}`;
    const signature = sign(alg === "EdDSA" ? null : "sha256", Buffer.from(unsigned), privateKey);
    return `${unsigned}.${signature.toString("base64url")}`;
  }

  test("a token signed by the key with the configured iss and aud is accepted; anything else is 401", async () => {
    for (const { label, alg, h: server, privateKey, otherKey, publicPem } of servers) {
      const path = `/v1/sales/auth-pk-${label}/reservations`;
      const call = (token: string) => fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
      const good = { ...validClaims(), iss: issuer, aud: audience };
      const list = await expectStatus<{ reservations: unknown[] }>(await call(signAsymmetric(alg, privateKey, good)), 200);
      expect(list.reservations).toEqual([]);
      const refused: [string, string][] = [
        ["no iss", signAsymmetric(alg, privateKey, { ...good, iss: undefined })],
        ["wrong iss", signAsymmetric(alg, privateKey, { ...good, iss: "https://evil.example.test" })],
        ["no aud", signAsymmetric(alg, privateKey, { ...good, aud: undefined })],
        ["wrong aud", signAsymmetric(alg, privateKey, { ...good, aud: "someone-else" })],
        ["expired", signAsymmetric(alg, privateKey, { ...good, exp: nowSeconds() - 3600 })],
        ["another key", signAsymmetric(alg, otherKey, good)],
        // The classic confusion: HS256 with the public key's PEM text as the HMAC secret.
        ["HS256 keyed with the public key", craft({ alg: "HS256", typ: "JWT" }, good, publicPem)],
        ["HS256 with the old shared secret", craft({ alg: "HS256", typ: "JWT" }, good, SECRETS.STAMPEDE_JWT_SECRET)],
        ["alg none", craft({ alg: "none", typ: "JWT" }, good, null)],
      ];
      for (const [why, token] of refused) {
        const response = await call(token);
        expect({ label, why, status: response.status }).toEqual({ label, why, status: 401 });
        await expectProblem(response, 401, "unauthorized");
      }
    }
  });
});

describe("operators", () => {
  const routes: [string, string, unknown][] = [
    ["POST", "/v1/admin/sales", saleBody("auth-admin-new")],
    ["GET", "/v1/admin/sales", undefined],
    ["GET", "/v1/admin/sales/auth-sale", undefined],
    ["PATCH", "/v1/admin/sales/auth-sale", { paused: true }],
    ["POST", "/v1/admin/sales/auth-sale/items/hoodie-m/stock", { delta: -5 }],
    ["POST", "/v1/admin/sales/auth-sale/items/gift-50/codes", { codes: ["SNEAKY"] }],
    ["GET", "/v1/admin/sales/auth-sale/reservations", undefined],
    ["GET", "/v1/admin/sales/auth-sale/reservations.csv", undefined],
    ["GET", "/v1/admin/sales/auth-sale/payments?outcome=refund_required", undefined],
    // Even a route that does not exist under /v1/admin says nothing to a stranger.
    ["GET", "/v1/admin/nothing-here", undefined],
  ];
  const bad: [string, string | null][] = [
    ["no Authorization header", null],
    ["a wrong token", "Bearer wrong-admin-token"],
    ["the token with one character changed", `Bearer ${SECRETS.STAMPEDE_ADMIN_TOKEN.slice(0, -1)}X`],
    ["the token without its scheme", SECRETS.STAMPEDE_ADMIN_TOKEN],
    ["a buyer's JWT", null],
  ];

  for (const [label, fixed] of bad) {
    test(`401 unauthorized on every admin route: ${label}`, async () => {
      const authorization = label === "a buyer's JWT" ? `Bearer ${h.token("alice")}` : fixed;
      for (const [method, path, body] of routes) {
        await expectProblem(await buyerCall(method, path, authorization, body), 401, "unauthorized");
      }
    });
  }

  test("a stranger's invalid body is refused as 401 before it is validated", async () => {
    await expectProblem(await buyerCall("POST", "/v1/admin/sales", null, { nonsense: true }), 401, "unauthorized");
  });

  test("the refusals changed nothing", async () => {
    await expectProblem(await h.admin("GET", "/v1/admin/sales/auth-admin-new"), 404, "not_found");
    const sale = await expectStatus<{ paused: boolean; items: { stock: number }[] }>(await h.admin("GET", "/v1/admin/sales/auth-sale"), 200);
    expect(sale.paused).toBe(false);
    expect(sale.items.map((item) => item.stock)).toEqual([10, 0]);
  });
});

describe("generated secrets", () => {
  let fresh: Harness;
  beforeAll(async () => {
    fresh = await startHarness({ env: { STAMPEDE_ADMIN_TOKEN: "", STAMPEDE_JWT_SECRET: "", STAMPEDE_WEBHOOK_SECRET: "" } });
  });
  afterAll(async () => {
    await fresh.close();
  });

  test("unset, the admin token is generated, kept in the data dir with mode 0600, and the same after a restart", async () => {
    const generated = fresh.server.secrets.adminToken;
    expect(generated.length).toBeGreaterThanOrEqual(32);
    expect(generated).not.toBe(SECRETS.STAMPEDE_ADMIN_TOKEN);
    // The harness's well-known token is not it.
    await expectProblem(await fresh.admin("GET", "/v1/admin/sales"), 401, "unauthorized");
    const asGenerated = () => fetch(`${fresh.url}/v1/admin/sales`, { headers: { authorization: `Bearer ${generated}` } });
    expect(await expectStatus(await asGenerated(), 200)).toEqual({ sales: [] });
    const path = join(fresh.dataDir, "secrets.json");
    expect((statSync(path).mode & 0o777).toString(8)).toBe("600");
    expect(await Bun.file(path).text()).toContain(generated);
    await fresh.restart();
    expect(fresh.server.secrets.adminToken).toBe(generated);
    await expectStatus(await asGenerated(), 200);
  });
});

describe("payment provider", () => {
  test("only the webhook secret signs payments: an admin or buyer credential is not a signature", async () => {
    const event = {
      eventId: "evt_auth",
      paymentId: "pay_auth",
      saleId: "auth-sale",
      reservationId: reservation.id,
      status: "succeeded",
      amount: reservation.amount,
      currency: "USD",
    };
    for (const authorization of [`Bearer ${SECRETS.STAMPEDE_ADMIN_TOKEN}`, `Bearer ${h.token("alice")}`]) {
      await expectProblem(await buyerCall("POST", "/v1/webhooks/payments", authorization, event), 401, "unauthorized");
    }
    expect(await counts(h, "auth-sale", "hoodie-m")).toMatchObject({ held: 1, confirmed: 0 });
  });
});

describe("anyone", () => {
  test("public routes need no credential", async () => {
    for (const path of ["/v1/sales/auth-sale", "/healthz", "/readyz", "/metrics", "/swagger", "/swagger/json"]) {
      const response = await fetch(`${h.url}${path}`);
      expect({ path, status: response.status }).toEqual({ path, status: 200 });
      await response.arrayBuffer();
    }
    const controller = new AbortController();
    const stream = await fetch(`${h.url}/v1/sales/auth-sale/stream`, { signal: controller.signal });
    expect(stream.status).toBe(200);
    controller.abort();
  });
});
