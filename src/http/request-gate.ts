// The gate every request passes before routing: a body-size bound, credentials (so an
// unauthenticated caller learns nothing from validation errors), and the per-address rate limit.
// It also parses JSON bodies itself, keeping the raw text for webhook signature checks.

import type { SaleGateway } from "../cluster/gateway.ts";
import type { ServerMetrics } from "../metrics/server-metrics.ts";
import { clientAddress } from "./client-address.ts";
import { problem, unauthorized } from "./problem.ts";
import type { TokenBuckets } from "./token-buckets.ts";

export type HttpDeps = {
  gateway: SaleGateway;
  /** Verifies a buyer's `Authorization` header; the user id or null. */
  buyer: (authorization: string | null) => string | null;
  admin: (authorization: string | null) => boolean;
  webhookSecret: string;
  buyerLimits: TokenBuckets;
  addressLimits: TokenBuckets;
  trustProxy: number;
  metrics?: ServerMetrics;
  clock?: () => number;
};

/** API.md via the core issue: bodies over 1 MiB get 413. */
export const BODY_MAX_BYTES = 1024 * 1024;
/** A codes upload carries up to 100000 codes, so its route takes more. */
export const CODES_BODY_MAX_BYTES = 16 * 1024 * 1024;

const decoder = new TextDecoder("utf-8", { fatal: true });

export class RequestGate {
  /** The buyer each authenticated request belongs to, set by the gate and read by the routes. */
  private readonly buyers = new WeakMap<Request, string>();
  private readonly rawBodies = new WeakMap<Request, string>();

  constructor(private readonly deps: HttpDeps) {}

  buyerOf(request: Request): string {
    const userId = this.buyers.get(request);
    if (userId === undefined) throw new Error("buyer route reached without the gate");
    return userId;
  }

  rawBodyOf(request: Request): string | undefined {
    return this.rawBodies.get(request);
  }

  /** `peer` is asked for only when the address limit is on: looking it up costs on every request. */
  check(request: Request, peer: () => string | undefined): Response | undefined {
    const url = request.url;
    const pathStart = url.indexOf("/", url.indexOf("//") + 2);
    const path = url.slice(pathStart, url.indexOf("?", pathStart) >>> 0);
    const length = request.headers.get("content-length");
    if (length !== null) {
      const limit = path.endsWith("/codes") ? CODES_BODY_MAX_BYTES : BODY_MAX_BYTES;
      if (Number(length) > limit) return problem(413, "payload_too_large", `Bodies are limited to ${limit} bytes.`);
    }
    if (path.startsWith("/v1/admin")) {
      return this.deps.admin(request.headers.get("authorization")) ? undefined : unauthorized();
    }
    if (!path.startsWith("/v1/sales/")) return undefined;
    if (this.deps.addressLimits.enabled) {
      const taken = this.deps.addressLimits.take(clientAddress(request, peer(), this.deps.trustProxy));
      if (!taken.ok) return rateLimited(taken.retryAfterSeconds, "this address");
    }
    // /v1/sales/:saleId/reservations[...] is the buyer's; /v1/sales/:saleId[/stream] is public.
    const rest = path.indexOf("/", 10);
    if (rest !== -1 && path.startsWith("/reservations", rest)) {
      const userId = this.deps.buyer(request.headers.get("authorization"));
      if (userId === null) return unauthorized();
      this.buyers.set(request, userId);
    }
    return undefined;
  }

  async parseJson(request: Request): Promise<unknown> {
    const bytes = await request.arrayBuffer();
    const limit = request.url.endsWith("/codes") ? CODES_BODY_MAX_BYTES : BODY_MAX_BYTES;
    if (bytes.byteLength > limit) {
      throw new ParseLimit(limit);
    }
    const text = decoder.decode(bytes);
    this.rawBodies.set(request, text);
    // No body at all (a DELETE, a bodyless POST) is not malformed JSON: the route's schema, if it
    // has one, says what is missing. Null, not undefined, so Elysia's own parsers never run.
    if (text.length === 0) return null;
    // JSON.parse makes "__proto__" an own key, but wherever the body is copied (Elysia's cleaning
    // does) it becomes the prototype, supplying fields that validation takes for the client's own.
    // The key may also be spelled with \u escapes, so those bodies take the slower path too.
    if (text.includes("__proto__") || text.includes("\\u")) return JSON.parse(text, withoutProtoKeys);
    return JSON.parse(text);
  }
}

function withoutProtoKeys(key: string, value: unknown): unknown {
  return key === "__proto__" ? undefined : value;
}

/** A body past its bound when no Content-Length announced it (chunked); rendered as 413. */
export class ParseLimit extends Error {
  readonly status = 413;
  constructor(limitBytes: number) {
    super(`Bodies are limited to ${limitBytes} bytes.`);
  }
}

export function rateLimited(retryAfterSeconds: number, who: string): Response {
  return problem(429, "rate_limited", `Too many requests from ${who}; retry after ${retryAfterSeconds} s.`, {
    headers: { "retry-after": String(retryAfterSeconds) },
  });
}
