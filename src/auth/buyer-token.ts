// Buyer authentication: turns an `Authorization: Bearer <JWT>` header into a user id.
//
// The key material is fixed at start-up (an HS256 secret or one PEM public key), so the set of
// acceptable algorithms is decided once from the key itself and never from the token. That is
// what closes `alg: none` and algorithm confusion: a token can only choose among algorithms that
// the configured key can actually verify. Verified tokens are cached by fast-jwt, which bounds
// every cache entry by the token's own `exp`, so a repeated token costs a hash and a lookup.
import { createPublicKey, type KeyObject } from "node:crypto";
import { createSigner, createVerifier, type Algorithm } from "fast-jwt";

export type BuyerAuthConfig = {
  secret?: string;
  publicKeyPem?: string;
  issuer?: string;
  audience?: string;
};

/** Clocks of the token issuer and of this server may disagree by this much. */
const clock_tolerance_ms = 30_000;
/** Verified tokens kept for reuse; at roughly 300 bytes an entry this is a few MiB. */
const cache_entries_max = 100_000;
/** A real buyer JWT is a few hundred bytes; anything far longer is refused before any hashing. */
const token_length_max = 8_192;
const user_id_length_max = 256;

/**
 * Header parameters that tell a verifier where to fetch or find a key. We never use them (the
 * key is configured), and a token that carries them was made by someone hoping we would.
 */
const key_locating_headers = ["jku", "jwk", "x5u", "x5c"] as const;

// C0 and C1 control characters and DEL: a user id ends up in logs, journal rows and SSE frames.
// Bidirectional overrides and isolates too: they make one id display as another in an export.
const control_characters = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;
const bearer_header = /^bearer +(\S+)$/i;

/**
 * Returns the credential of a `Bearer` authorization header, or null when the header is absent,
 * uses another scheme, or is longer than any credential we issue or accept.
 */
export function bearerCredential(authorization: string | null | undefined): string | null {
  if (typeof authorization !== "string" || authorization.length > token_length_max + 16) {
    return null;
  }
  const match = bearer_header.exec(authorization);
  return match?.[1] ?? null;
}

/**
 * The algorithms a PEM public key can verify. Throws on a key we cannot use, so a bad
 * `STAMPEDE_JWT_PUBLIC_KEY` stops the server at start-up rather than refusing every buyer.
 */
export function publicKeyAlgorithms(publicKeyPem: string): Algorithm[] {
  if (publicKeyPem.includes("PRIVATE KEY")) {
    throw new Error("the JWT public key is a private key; configure only the public half");
  }
  let key: KeyObject;
  try {
    key = createPublicKey(publicKeyPem);
  } catch {
    throw new Error("the JWT public key is not a readable PEM public key");
  }
  const keyType = key.asymmetricKeyType;
  if (keyType === "rsa") {
    const modulusBits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (modulusBits < 2048) {
      throw new Error(`the JWT public key is a ${modulusBits}-bit RSA key; at least 2048 bits are required`);
    }
    return ["RS256", "RS384", "RS512"];
  }
  if (keyType === "ec" && key.asymmetricKeyDetails?.namedCurve === "prime256v1") return ["ES256"];
  if (keyType === "ed25519") return ["EdDSA"];
  throw new Error("the JWT public key must be RSA, EC P-256 or Ed25519");
}

type DecodedToken = { header: Record<string, unknown>; payload: Record<string, unknown> };

function isUserId(value: unknown): value is string {
  return (
    typeof value === "string" &&
    value.length >= 1 &&
    value.length <= user_id_length_max &&
    !control_characters.test(value) &&
    // A lone surrogate has no UTF-8 form: the store would keep U+FFFD instead, and after a restart
    // the buyer's holds would belong to another id (and no longer count against their limit).
    value.isWellFormed()
  );
}

/**
 * Builds the per-request buyer check. Throws when the configuration is unusable (no key, both
 * kinds of key, an unsupported public key); after that it never throws, it answers null.
 */
export function createBuyerVerifier(
  config: BuyerAuthConfig,
): (authorization: string | null | undefined) => string | null {
  const { secret, publicKeyPem } = config;
  if (secret && publicKeyPem) {
    throw new Error("configure either a JWT secret or a JWT public key, not both");
  }
  let key: string;
  let algorithms: Algorithm[];
  if (secret) {
    key = secret;
    algorithms = ["HS256"];
  } else if (publicKeyPem) {
    key = publicKeyPem;
    algorithms = publicKeyAlgorithms(publicKeyPem);
  } else {
    throw new Error("buyer authentication needs a JWT secret or a JWT public key");
  }

  // fast-jwt checks allowedIss/allowedAud only when the claim is present, so a configured
  // issuer or audience must also be listed as required or a token without it would pass.
  const requiredClaims = ["exp", "sub"];
  if (config.issuer) requiredClaims.push("iss");
  if (config.audience) requiredClaims.push("aud");
  const verify = createVerifier({
    key,
    algorithms,
    complete: true,
    requiredClaims,
    clockTolerance: clock_tolerance_ms,
    // Accepted tokens are cached below, keyed by the token itself; fast-jwt's own cache hashes
    // every token twice with SHA-2 (a third of the cost of a hold here), so it stays off.
    cache: false,
    ...(config.issuer ? { allowedIss: config.issuer } : {}),
    ...(config.audience ? { allowedAud: config.audience } : {}),
  });

  // token -> buyer and the moment the token stops being valid, at most cache_entries_max of them;
  // the oldest is evicted first, which bounds memory without an LRU's bookkeeping.
  const accepted = new Map<string, { userId: string; validUntilMs: number }>();
  /** The cached tokens in the order they were added; the slot at orderNext is the oldest. */
  const order: (string | undefined)[] = new Array(cache_entries_max);
  let orderNext = 0;

  return (authorization) => {
    const token = bearerCredential(authorization);
    if (token === null || token.length > token_length_max) return null;
    const hit = accepted.get(token);
    if (hit !== undefined) {
      if (Date.now() < hit.validUntilMs) return hit.userId;
      accepted.delete(token);
      return null;
    }
    let decoded: DecodedToken;
    try {
      decoded = verify(token) as DecodedToken;
    } catch {
      return null;
    }
    // Only tokens that pass these checks are cached, so a cache hit has passed them too.
    for (const name of key_locating_headers) {
      if (name in decoded.header) return null;
    }
    const userId = decoded.payload.sub;
    if (!isUserId(userId)) return null;
    const { exp, iat } = decoded.payload;
    // fast-jwt takes `"exp": 1e309` (Infinity) as a valid expiry and never looks at `iat`: a token
    // that never expires, or one issued later than now by more than the clocks may disagree, is refused.
    if (typeof exp !== "number" || !Number.isFinite(exp)) return null;
    if (typeof iat === "number" && iat * 1000 > Date.now() + clock_tolerance_ms) return null;
    // Evict the oldest entry through a ring of keys: asking a Map for its first key after many
    // deletions walks the deleted slots, which profiling showed at ~16 µs a token once full.
    const evicted = order[orderNext];
    if (evicted !== undefined) accepted.delete(evicted);
    order[orderNext] = token;
    orderNext = (orderNext + 1) % cache_entries_max;
    accepted.set(token, { userId, validUntilMs: exp * 1000 + clock_tolerance_ms });
    return userId;
  };
}

/**
 * Signs an HS256 buyer token. `opts.now` is milliseconds since the epoch (like `Date.now()`),
 * so tests can mint tokens that are already expired or not yet valid.
 */
export function signBuyerToken(
  secret: string,
  userId: string,
  ttlSeconds: number,
  opts: { issuer?: string; audience?: string; now?: number } = {},
): string {
  if (!secret) throw new Error("a JWT secret is required to sign buyer tokens");
  if (!isUserId(userId)) throw new Error("the user id must be 1 to 256 characters without control characters");
  if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds <= 0) {
    throw new Error("the token lifetime must be a positive whole number of seconds");
  }
  const issuedAtSeconds = Math.floor((opts.now ?? Date.now()) / 1000);
  const sign = createSigner({ key: secret, algorithm: "HS256" });
  return sign({
    sub: userId,
    iat: issuedAtSeconds,
    exp: issuedAtSeconds + ttlSeconds,
    ...(opts.issuer ? { iss: opts.issuer } : {}),
    ...(opts.audience ? { aud: opts.audience } : {}),
  });
}
