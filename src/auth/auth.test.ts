// Tests for the auth building blocks: each refusal listed in API.md "Who may call what" has a
// case here, and every forged token is built by hand so the test does not trust the signer.
import { afterAll, describe, expect, setSystemTime, test } from "bun:test";
import { createHmac, generateKeyPairSync, type KeyObject } from "node:crypto";
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSigner } from "fast-jwt";
import {
  createAdminCheck,
  createBuyerVerifier,
  loadSecrets,
  secretProblems,
  signBuyerToken,
  signWebhook,
  verifyWebhookSignature,
} from "./index.ts";

const secret = "test-secret-that-is-long-enough-0123456789";
const nowSeconds = () => Math.floor(Date.now() / 1000);
const bearer = (token: string) => `Bearer ${token}`;
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

/** An HS256 token with any header and payload, signed with any key. */
function handMadeHs256(header: object, payload: object, key: string): string {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${createHmac("sha256", key).update(input).digest("base64url")}`;
}

describe("buyer tokens (HS256)", () => {
  const verify = createBuyerVerifier({ secret });

  test("a good token yields its sub", () => {
    expect(verify(bearer(signBuyerToken(secret, "user-1", 3600)))).toBe("user-1");
    expect(verify(`bearer ${signBuyerToken(secret, "user-2", 3600)}`)).toBe("user-2");
  });

  test("a repeated token is answered from the cache and still verifies", () => {
    const header = bearer(signBuyerToken(secret, "user-3", 3600));
    for (let i = 0; i < 3; i++) expect(verify(header)).toBe("user-3");
  });

  test("alg none is refused", () => {
    const exp = nowSeconds() + 3600;
    const token = `${b64({ alg: "none", typ: "JWT" })}.${b64({ sub: "mallory", exp })}.`;
    expect(verify(bearer(token))).toBeNull();
  });

  test("a token without exp is refused", () => {
    expect(verify(bearer(handMadeHs256({ alg: "HS256" }, { sub: "user-1" }, secret)))).toBeNull();
  });

  test("an expired token is refused, within the tolerance it passes", () => {
    const tenMinutesAgo = Date.now() - 600_000;
    expect(verify(bearer(signBuyerToken(secret, "user-1", 60, { now: tenMinutesAgo })))).toBeNull();
    // Expired 10 s ago: inside the 30 s clock tolerance.
    expect(verify(bearer(signBuyerToken(secret, "user-1", 50, { now: Date.now() - 60_000 })))).toBe("user-1");
  });

  test("a token that is not yet valid is refused, and accepted once it is", () => {
    const start = Date.now();
    const startSeconds = Math.floor(start / 1000);
    const token = handMadeHs256({ alg: "HS256" }, { sub: "u", exp: startSeconds + 7200, nbf: startSeconds + 40 }, secret);
    try {
      expect(verify(bearer(token))).toBeNull();
      // nbf minus the 30 s tolerance has passed; a cached refusal must not linger.
      setSystemTime(new Date(start + 15_000));
      expect(verify(bearer(token))).toBe("u");
    } finally {
      setSystemTime();
    }
  });

  test("a bad signature is refused", () => {
    expect(verify(bearer(signBuyerToken("another-secret-of-good-length", "user-1", 3600)))).toBeNull();
    const token = signBuyerToken(secret, "user-1", 3600);
    const flipped = token.slice(0, -2) + (token.endsWith("AA") ? "BB" : "AA");
    expect(verify(bearer(flipped))).toBeNull();
  });

  test("a tampered payload is refused", () => {
    const [header, , signature] = signBuyerToken(secret, "user-1", 3600).split(".");
    const forged = `${header}.${b64({ sub: "admin", exp: nowSeconds() + 3600 })}.${signature}`;
    expect(verify(bearer(forged))).toBeNull();
  });

  test("other HMAC algorithms are refused even with the right secret", () => {
    const sign = createSigner({ key: secret, algorithm: "HS512" });
    expect(verify(bearer(sign({ sub: "user-1", exp: nowSeconds() + 3600 })))).toBeNull();
  });

  test("sub must be a reasonable string", () => {
    const exp = nowSeconds() + 3600;
    // Lone surrogates would come back from the store as U+FFFD (another buyer); bidi overrides spoof ids.
    for (const sub of [42, "", "a".repeat(257), "bad\nid", "bad\u0000id", ["x"], "a\ud800", "\udc00a", "\u202eecila", "a\u2066b"]) {
      expect(verify(bearer(handMadeHs256({ alg: "HS256" }, { sub, exp }, secret)))).toBeNull();
    }
    expect(verify(bearer(handMadeHs256({ alg: "HS256" }, { exp }, secret)))).toBeNull();
    expect(verify(bearer(handMadeHs256({ alg: "HS256" }, { sub: "a".repeat(256), exp }, secret)))).toBe("a".repeat(256));
  });

  test("an exp that never comes (Infinity) is refused, a far one is not", () => {
    const raw = (payload: string) => {
      const input = `${b64({ alg: "HS256" })}.${Buffer.from(payload).toString("base64url")}`;
      return `${input}.${createHmac("sha256", secret).update(input).digest("base64url")}`;
    };
    expect(verify(bearer(raw('{"sub":"u","exp":1e309}')))).toBeNull();
    expect(verify(bearer(raw(`{"sub":"u","exp":${nowSeconds() + 86_400 * 365}}`)))).toBe("u");
  });

  test("a token issued in the future beyond the clock tolerance is refused", () => {
    const now = nowSeconds();
    expect(verify(bearer(handMadeHs256({ alg: "HS256" }, { sub: "u", exp: now + 7200, iat: now + 3600 }, secret)))).toBeNull();
    expect(verify(bearer(handMadeHs256({ alg: "HS256" }, { sub: "u", exp: now + 7200, iat: now + 10 }, secret)))).toBe("u");
  });

  test("a sub hidden under __proto__ is no sub, and crit extensions are refused", () => {
    const exp = nowSeconds() + 3600;
    const input = `${b64({ alg: "HS256" })}.${Buffer.from(`{"exp":${exp},"__proto__":{"sub":"alice"}}`).toString("base64url")}`;
    expect(verify(bearer(`${input}.${createHmac("sha256", secret).update(input).digest("base64url")}`))).toBeNull();
    expect(verify(bearer(handMadeHs256({ alg: "HS256", crit: ["x-ext"], "x-ext": 1 }, { sub: "u", exp }, secret)))).toBeNull();
  });

  test("key-locating headers are refused, kid is ignored", () => {
    const exp = nowSeconds() + 3600;
    const withJku = handMadeHs256({ alg: "HS256", jku: "https://evil.example/jwks" }, { sub: "u", exp }, secret);
    const withX5u = handMadeHs256({ alg: "HS256", x5u: "https://evil.example/cert" }, { sub: "u", exp }, secret);
    const withKid = handMadeHs256({ alg: "HS256", kid: "../../dev/null" }, { sub: "u", exp }, secret);
    expect(verify(bearer(withJku))).toBeNull();
    expect(verify(bearer(withX5u))).toBeNull();
    expect(verify(bearer(withKid))).toBe("u");
  });

  test("garbage authorization headers are refused without throwing", () => {
    const good = signBuyerToken(secret, "user-1", 3600);
    const headers = [
      undefined,
      null,
      "",
      "Bearer",
      "Bearer ",
      good,
      `Basic ${good}`,
      `Bearer ${good} extra`,
      `Bearer\t${good}`,
      "Bearer a.b.c",
      "Bearer ....",
      "Bearer !!!.###.$$$",
      `Bearer ${"x".repeat(20_000)}`,
      `Bearer ${b64("not an object")}.${b64({ sub: "u" })}.sig`,
    ];
    for (const header of headers) expect(verify(header)).toBeNull();
  });

  test("the cache does not outlive exp", () => {
    const start = Date.now();
    try {
      const header = bearer(signBuyerToken(secret, "user-1", 60, { now: start }));
      expect(verify(header)).toBe("user-1");
      setSystemTime(new Date(start + 60_000 + 29_000));
      expect(verify(header)).toBe("user-1");
      setSystemTime(new Date(start + 60_000 + 31_000));
      expect(verify(header)).toBeNull();
    } finally {
      setSystemTime();
    }
  });
});

describe("buyer tokens: issuer and audience", () => {
  const verify = createBuyerVerifier({ secret, issuer: "https://id.example", audience: "stampede" });
  const opts = { issuer: "https://id.example", audience: "stampede" };

  test("matching iss and aud pass", () => {
    expect(verify(bearer(signBuyerToken(secret, "user-1", 3600, opts)))).toBe("user-1");
  });

  test("a wrong or missing iss or aud is refused", () => {
    expect(verify(bearer(signBuyerToken(secret, "u", 3600, { ...opts, issuer: "https://evil.example" })))).toBeNull();
    expect(verify(bearer(signBuyerToken(secret, "u", 3600, { ...opts, audience: "other" })))).toBeNull();
    expect(verify(bearer(signBuyerToken(secret, "u", 3600, { issuer: opts.issuer })))).toBeNull();
    expect(verify(bearer(signBuyerToken(secret, "u", 3600, { audience: opts.audience })))).toBeNull();
  });
});

describe("buyer tokens (public keys)", () => {
  const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const ec = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const ed = generateKeyPairSync("ed25519");
  const pem = (pair: { publicKey: KeyObject; privateKey: KeyObject }) => ({
    publicPem: pair.publicKey.export({ type: "spki", format: "pem" }).toString(),
    privatePem: pair.privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
  });
  const cases = [
    { name: "RS256", keys: pem(rsa) },
    { name: "ES256", keys: pem(ec) },
    { name: "EdDSA", keys: pem(ed) },
  ] as const;

  for (const { name, keys } of cases) {
    test(`${name} verifies with the PEM public key`, () => {
      const verify = createBuyerVerifier({ publicKeyPem: keys.publicPem });
      const sign = createSigner({ key: keys.privatePem, algorithm: name });
      expect(verify(bearer(sign({ sub: `user-${name}`, exp: nowSeconds() + 3600 })))).toBe(`user-${name}`);
      expect(verify(bearer(sign({ sub: "no-exp" })))).toBeNull();
    });

    test(`${name}: HS256 signed with the public key PEM (algorithm confusion) is refused`, () => {
      const verify = createBuyerVerifier({ publicKeyPem: keys.publicPem });
      const forged = handMadeHs256({ alg: "HS256" }, { sub: "mallory", exp: nowSeconds() + 3600 }, keys.publicPem);
      expect(verify(bearer(forged))).toBeNull();
    });
  }

  test("RS384 and RS512 verify with an RSA key, PS256 does not", () => {
    const verify = createBuyerVerifier({ publicKeyPem: pem(rsa).publicPem });
    const exp = nowSeconds() + 3600;
    for (const algorithm of ["RS384", "RS512"] as const) {
      const sign = createSigner({ key: pem(rsa).privatePem, algorithm });
      expect(verify(bearer(sign({ sub: "u", exp })))).toBe("u");
    }
    const sign = createSigner({ key: pem(rsa).privatePem, algorithm: "PS256" });
    expect(verify(bearer(sign({ sub: "u", exp })))).toBeNull();
  });

  test("a token signed by another key is refused", () => {
    const verify = createBuyerVerifier({ publicKeyPem: pem(ec).publicPem });
    const other = pem(generateKeyPairSync("ec", { namedCurve: "P-256" }));
    const sign = createSigner({ key: other.privatePem, algorithm: "ES256" });
    expect(verify(bearer(sign({ sub: "u", exp: nowSeconds() + 3600 })))).toBeNull();
  });

  test("unusable configurations fail at creation", () => {
    expect(() => createBuyerVerifier({})).toThrow();
    expect(() => createBuyerVerifier({ secret, publicKeyPem: pem(ec).publicPem })).toThrow();
    expect(() => createBuyerVerifier({ publicKeyPem: pem(ec).privatePem })).toThrow();
    expect(() => createBuyerVerifier({ publicKeyPem: "not a pem" })).toThrow();
    const p384 = pem(generateKeyPairSync("ec", { namedCurve: "P-384" }));
    expect(() => createBuyerVerifier({ publicKeyPem: p384.publicPem })).toThrow();
  });
});

describe("admin token", () => {
  const check = createAdminCheck("admin-token-0123456789abcdef");

  test("the right token passes, case-insensitive scheme", () => {
    expect(check("Bearer admin-token-0123456789abcdef")).toBe(true);
    expect(check("BEARER admin-token-0123456789abcdef")).toBe(true);
  });

  test("anything else fails", () => {
    for (const header of [
      undefined,
      null,
      "",
      "Bearer",
      "admin-token-0123456789abcdef",
      "Basic admin-token-0123456789abcdef",
      "Bearer admin-token-0123456789abcde",
      "Bearer admin-token-0123456789abcdef0",
      "Bearer ADMIN-TOKEN-0123456789ABCDEF",
    ]) {
      expect(check(header)).toBe(false);
    }
  });

  test("an empty admin token is a configuration bug", () => {
    expect(() => createAdminCheck("")).toThrow();
  });
});

describe("webhook signatures", () => {
  const webhookSecret = "whsec-0123456789abcdef";
  const body = JSON.stringify({ reservationId: "r1", status: "paid", amount: 1999 });
  const t = 1_800_000_000;

  test("a valid signature passes", () => {
    expect(verifyWebhookSignature(webhookSecret, signWebhook(webhookSecret, body, t), body, t)).toBe(true);
    expect(verifyWebhookSignature(webhookSecret, signWebhook(webhookSecret, body, t), body, t + 300)).toBe(true);
    expect(verifyWebhookSignature(webhookSecret, signWebhook(webhookSecret, body, t), body, t - 300)).toBe(true);
  });

  test("matches the documented formula", () => {
    const hex = createHmac("sha256", webhookSecret).update(`${t}.${body}`).digest("hex");
    expect(signWebhook(webhookSecret, body, t)).toBe(`t=${t},v1=${hex}`);
  });

  test("a tampered body or a wrong secret fails", () => {
    const header = signWebhook(webhookSecret, body, t);
    expect(verifyWebhookSignature(webhookSecret, header, body.replace("1999", "1"), t)).toBe(false);
    expect(verifyWebhookSignature(webhookSecret, header, `${body} `, t)).toBe(false);
    expect(verifyWebhookSignature("another-secret-123456", header, body, t)).toBe(false);
  });

  test("a stale or future timestamp fails", () => {
    const header = signWebhook(webhookSecret, body, t);
    expect(verifyWebhookSignature(webhookSecret, header, body, t + 301)).toBe(false);
    expect(verifyWebhookSignature(webhookSecret, header, body, t - 301)).toBe(false);
  });

  test("a re-signed timestamp without the secret fails", () => {
    const v1 = signWebhook(webhookSecret, body, t).split("v1=")[1];
    expect(verifyWebhookSignature(webhookSecret, `t=${t + 1000},v1=${v1}`, body, t + 1000)).toBe(false);
  });

  test("several v1 entries: any match passes", () => {
    const good = signWebhook(webhookSecret, body, t).split("v1=")[1];
    const old = signWebhook("old-secret-0123456789", body, t).split("v1=")[1];
    expect(verifyWebhookSignature(webhookSecret, `t=${t},v1=${old},v1=${good}`, body, t)).toBe(true);
    expect(verifyWebhookSignature(webhookSecret, `t=${t}, v1=${good}, v0=whatever`, body, t)).toBe(true);
    expect(verifyWebhookSignature(webhookSecret, `t=${t},v1=${old},v1=${old}`, body, t)).toBe(false);
  });

  test("malformed headers fail without throwing", () => {
    const v1 = signWebhook(webhookSecret, body, t).split("v1=")[1] ?? "";
    for (const header of [
      undefined,
      null,
      "",
      "garbage",
      `v1=${v1}`,
      `t=${t}`,
      `t=${t},v1=`,
      `t=${t},v1=${v1.slice(2)}`,
      `t=${t},v1=${v1}zz`,
      `t=abc,v1=${v1}`,
      `t=-${t},v1=${v1}`,
      `t=${t}.5,v1=${v1}`,
      `t=${t},t=${t},v1=${v1}`,
      `t=${t},,v1=${v1}`,
      `t=${t},v1=${v1},`,
      `t=${t},${Array.from({ length: 9 }, () => `v1=${v1}`).join(",")}`,
      `t=${t},v1=${v1},x=${"y".repeat(5000)}`,
    ]) {
      expect(verifyWebhookSignature(webhookSecret, header, body, t)).toBe(false);
    }
  });
});

describe("secrets", () => {
  const dirs: string[] = [];
  const freshDir = () => {
    const dir = mkdtempSync(join(tmpdir(), "stampede-secrets-"));
    dirs.push(dir);
    return join(dir, "data");
  };
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  test("generated once, persisted with mode 0600, stable across calls", () => {
    const dataDir = freshDir();
    const first = loadSecrets(dataDir, {});
    expect(first.generated.sort()).toEqual(["STAMPEDE_ADMIN_TOKEN", "STAMPEDE_JWT_SECRET", "STAMPEDE_WEBHOOK_SECRET"]);
    expect(first.secrets.adminToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(first.secrets.jwtSecret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(first.secrets.webhookSecret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(new Set([first.secrets.adminToken, first.secrets.jwtSecret, first.secrets.webhookSecret]).size).toBe(3);
    expect(statSync(join(dataDir, "secrets.json")).mode & 0o777).toBe(0o600);
    expect(secretProblems(first.secrets)).toEqual([]);

    const second = loadSecrets(dataDir, {});
    expect(second.generated).toEqual([]);
    expect(second.secrets).toEqual(first.secrets);
  });

  test("env values override, are not written to disk, and generated ones are kept", () => {
    const dataDir = freshDir();
    const first = loadSecrets(dataDir, {});
    const env = {
      STAMPEDE_ADMIN_TOKEN: "env-admin-token-0123456789",
      STAMPEDE_JWT_SECRET: "env-jwt-secret-0123456789",
      STAMPEDE_WEBHOOK_SECRET: "env-webhook-secret-0123456789",
    };
    const overridden = loadSecrets(dataDir, env);
    expect(overridden.generated).toEqual([]);
    expect(overridden.secrets).toEqual({
      adminToken: env.STAMPEDE_ADMIN_TOKEN,
      jwtSecret: env.STAMPEDE_JWT_SECRET,
      webhookSecret: env.STAMPEDE_WEBHOOK_SECRET,
    });
    expect(readFileSync(join(dataDir, "secrets.json"), "utf8")).not.toContain("env-");
    expect(loadSecrets(dataDir, {}).secrets).toEqual(first.secrets);
  });

  test("only the missing ones are generated", () => {
    const dataDir = freshDir();
    const result = loadSecrets(dataDir, { STAMPEDE_ADMIN_TOKEN: "env-admin-token-0123456789" });
    expect(result.generated.sort()).toEqual(["STAMPEDE_JWT_SECRET", "STAMPEDE_WEBHOOK_SECRET"]);
    expect(result.secrets.adminToken).toBe("env-admin-token-0123456789");
    const stored = JSON.parse(readFileSync(join(dataDir, "secrets.json"), "utf8"));
    expect(Object.keys(stored).sort()).toEqual(["STAMPEDE_JWT_SECRET", "STAMPEDE_WEBHOOK_SECRET"]);
    // Later the operator drops the env override: a token is generated now, and reported once.
    expect(loadSecrets(dataDir, {}).generated).toEqual(["STAMPEDE_ADMIN_TOKEN"]);
    expect(loadSecrets(dataDir, {}).generated).toEqual([]);
  });

  test("a JWT public key suppresses the generated JWT secret", () => {
    const dataDir = freshDir();
    const publicPem = generateKeyPairSync("ed25519").publicKey.export({ type: "spki", format: "pem" }).toString();
    const oneLine = publicPem.trim().replace(/\n/g, "\\n");
    const result = loadSecrets(dataDir, { STAMPEDE_JWT_PUBLIC_KEY: oneLine });
    expect(result.generated.sort()).toEqual(["STAMPEDE_ADMIN_TOKEN", "STAMPEDE_WEBHOOK_SECRET"]);
    expect(result.secrets.jwtSecret).toBeUndefined();
    expect(result.secrets.jwtPublicKey).toBe(publicPem.trim());
    expect(secretProblems(result.secrets)).toEqual([]);
    expect(() => createBuyerVerifier({ publicKeyPem: result.secrets.jwtPublicKey })).not.toThrow();
  });

  test("weak or conflicting env secrets are reported without their values", () => {
    const problems = secretProblems({ adminToken: "pw1", jwtSecret: "s3cr3t", webhookSecret: "0123456789abcdef" });
    expect(problems).toHaveLength(2);
    expect(problems.join(" ")).not.toContain("pw1");
    expect(problems.join(" ")).not.toContain("s3cr3t");
    expect(secretProblems({ adminToken: "a".repeat(16), webhookSecret: "b".repeat(16) })).toHaveLength(1);
    expect(
      secretProblems({ adminToken: "a".repeat(16), webhookSecret: "b".repeat(16), jwtPublicKey: "nope" }),
    ).toHaveLength(1);
  });

  test("a loose file mode is tightened", () => {
    const dataDir = freshDir();
    loadSecrets(dataDir, {});
    chmodSync(join(dataDir, "secrets.json"), 0o644);
    loadSecrets(dataDir, {});
    expect(statSync(join(dataDir, "secrets.json")).mode & 0o777).toBe(0o600);
  });
});
