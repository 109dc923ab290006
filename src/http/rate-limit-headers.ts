// The rate-limit answer: 429 `rate_limited` with Retry-After and the IETF RateLimit fields.
//
// Syntax from draft-ietf-httpapi-ratelimit-headers-10 (September 2025; §3 RateLimit-Policy, §4
// RateLimit): each field is a Structured Field List (RFC 9651) whose items name a policy as an
// sf-String, with parameters `q` (quota units), `w` (window, seconds) on the policy and `r` (units
// remaining), `t` (seconds until the quota resets) on the current state, for example
//   RateLimit-Policy: "buyer";q=10;w=2
//   RateLimit: "buyer";r=0;t=1
// A token bucket refilling at `rate` up to `burst` is advertised as `burst` units per the time an
// empty bucket takes to fill. `t` is the seconds until the bucket is full again, except on a 429,
// where the draft asks it to name the same moment as Retry-After (the next unit).

import { problem } from "./problem.ts";
import type { TokenBuckets } from "../limits/token-buckets.ts";

/** The policies the server advertises; a name is a fixed token, so it needs no escaping. */
export type RateLimitPolicyName = "buyer" | "address" | "streams";

export function rateLimitPolicyField(name: RateLimitPolicyName, buckets: Pick<TokenBuckets, "burst" | "windowSeconds">): string {
  // A concurrency limit (open streams) has no window: `w` is optional in the draft.
  const window = buckets.windowSeconds > 0 ? `;w=${buckets.windowSeconds}` : "";
  return `"${name}";q=${Math.floor(buckets.burst)}${window}`;
}

export function rateLimitField(name: RateLimitPolicyName, remaining: number, resetSeconds: number): string {
  return `"${name}";r=${Math.max(0, Math.floor(remaining))};t=${Math.max(0, Math.ceil(resetSeconds))}`;
}

const WHO: Record<RateLimitPolicyName, string> = {
  buyer: "this buyer",
  address: "this address",
  streams: "this address (open event streams)",
};

/**
 * 429 for a refused take. `policy` is omitted where the answering process does not know the bucket
 * (a refusal decided by the sale's owner in another worker still carries RateLimit and Retry-After).
 */
export function rateLimited(
  name: RateLimitPolicyName,
  retryAfterSeconds: number,
  policy?: Pick<TokenBuckets, "burst" | "windowSeconds">,
): Response {
  const seconds = Math.max(1, Math.ceil(retryAfterSeconds));
  const headers: Record<string, string> = {
    "retry-after": String(seconds),
    ratelimit: rateLimitField(name, 0, seconds),
  };
  if (policy !== undefined) headers["ratelimit-policy"] = rateLimitPolicyField(name, policy);
  return problem(429, "rate_limited", `Too many requests from ${WHO[name]}; retry after ${seconds} s.`, { headers });
}
