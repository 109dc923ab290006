// Payment-provider webhooks are authenticated by an HMAC over the raw body, in the header
// `Stampede-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`.
// The timestamp is signed too, so a captured request cannot be replayed outside the tolerance
// window. Several `v1=` entries may appear so a provider can sign with an old and a new secret
// while rotating; any one matching is enough. Unknown keys (a future `v2=`) are ignored.
import { createHmac, timingSafeEqual } from "node:crypto";

/** Real headers are under 200 bytes; the cap keeps parsing cost fixed for hostile input. */
const header_length_max = 2_048;
/** More candidate signatures than this is not rotation, it is someone fishing. */
const signatures_max = 8;
const timestamp_pattern = /^\d{1,12}$/;
const signature_pattern = /^[0-9a-fA-F]{64}$/;

type ParsedHeader = { timestampSeconds: number; signatures: Buffer[] };

function hmac(secret: string, timestampSeconds: number, rawBody: string): Buffer {
  return createHmac("sha256", secret).update(`${timestampSeconds}.${rawBody}`, "utf8").digest();
}

function parseHeader(header: string): ParsedHeader | null {
  if (header.length > header_length_max) return null;
  let timestampSeconds: number | null = null;
  const signatures: Buffer[] = [];
  for (const part of header.split(",")) {
    const separator = part.indexOf("=");
    if (separator <= 0) return null;
    const key = part.slice(0, separator).trim();
    const value = part.slice(separator + 1).trim();
    if (key === "t") {
      // Two timestamps would leave it ambiguous which one was signed.
      if (timestampSeconds !== null || !timestamp_pattern.test(value)) return null;
      timestampSeconds = Number(value);
    } else if (key === "v1") {
      if (!signature_pattern.test(value) || signatures.length >= signatures_max) return null;
      signatures.push(Buffer.from(value, "hex"));
    }
  }
  if (timestampSeconds === null || signatures.length === 0) return null;
  return { timestampSeconds, signatures };
}

/**
 * True when the header carries a fresh timestamp and at least one valid signature of the body.
 * Never throws: a malformed header is simply not a valid signature.
 */
export function verifyWebhookSignature(
  secret: string,
  header: string | null | undefined,
  rawBody: string,
  nowSeconds: number,
  toleranceSeconds = 300,
): boolean {
  if (!secret || typeof header !== "string" || typeof rawBody !== "string") return false;
  const parsed = parseHeader(header);
  if (parsed === null) return false;
  if (!(Math.abs(nowSeconds - parsed.timestampSeconds) <= toleranceSeconds)) return false;
  const expected = hmac(secret, parsed.timestampSeconds, rawBody);
  // Every candidate is compared, so the time taken does not say which one matched.
  let matched = false;
  for (const candidate of parsed.signatures) {
    if (timingSafeEqual(candidate, expected)) matched = true;
  }
  return matched;
}

/** The full `Stampede-Signature` header value for a body sent at `tSeconds`. */
export function signWebhook(secret: string, rawBody: string, tSeconds: number): string {
  if (!Number.isSafeInteger(tSeconds) || tSeconds < 0) {
    throw new Error("the webhook timestamp must be a whole, non-negative number of seconds");
  }
  return `t=${tSeconds},v1=${hmac(secret, tSeconds, rawBody).toString("hex")}`;
}
