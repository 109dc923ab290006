// The gate every request passes before routing: a body-size bound, credentials (so an
// unauthenticated caller learns nothing from validation errors), admission control (shedding new
// holds, then reads, when the process falls behind) and the per-address rate limit.
// It also parses JSON bodies itself, keeping the raw text for webhook signature checks.

import type { SaleGateway } from "../cluster/gateway.ts";
import type { ServerMetrics } from "../metrics/server-metrics.ts";
import type { Admission } from "./admission.ts";
import { clientAddress } from "./client-address.ts";
import { ProblemError, problem, unauthorized } from "./problem.ts";
import { rateLimited } from "./rate-limit-headers.ts";
import type { TokenBuckets } from "./token-buckets.ts";

export type HttpDeps = {
  gateway: SaleGateway;
  /** Verifies a buyer's `Authorization` header; the user id or null. */
  buyer: (authorization: string | null) => string | null;
  admin: (authorization: string | null) => boolean;
  webhookSecret: string;
  /**
   * The per-buyer hold limit, taken by the sale's owner (SaleOwnerOptions.buyerLimits), where every
   * worker's holds of the sale arrive; here only for its policy in RateLimit-Policy.
   */
  buyerLimits: TokenBuckets;
  addressLimits: TokenBuckets;
  trustProxy: number;
  /** Load shedding and bounded event streams; absent, nothing is shed (streams are still bounded). */
  admission?: Admission;
  metrics?: ServerMetrics;
  /** Metrics of every worker of a cluster; without it /metrics shows this process alone. */
  renderMetrics?: () => Promise<string>;
  clock?: () => number;
};

/** API.md via the core issue: bodies over 1 MiB get 413. */
export const BODY_MAX_BYTES = 1024 * 1024;
/** A codes upload carries up to 100000 codes, so its route takes more. */
export const CODES_BODY_MAX_BYTES = 16 * 1024 * 1024;
/**
 * No request of API.md nests deeper than 4 levels. Deeper bodies are refused before validation:
 * the schema checks recurse, and 50000 nested arrays sent to the operator routes cost them seconds
 * of the event loop and then a stack overflow (a 500).
 */
export const JSON_DEPTH_MAX = 32;

const decoder = new TextDecoder("utf-8", { fatal: true });

export class RequestGate {
  /** The buyer each authenticated request belongs to, set by the gate and read by the routes. */
  private readonly buyers = new WeakMap<Request, string>();
  private readonly admins = new WeakSet<Request>();
  private readonly rawBodies = new WeakMap<Request, string>();

  constructor(private readonly deps: HttpDeps) {}

  /**
   * The buyer of a request on a buyer route. The gate decides from the URL as the Request holds it,
   * with dot segments removed, while the router matches the raw path: for `/v1/sales/x/reservations/%2e%2e`
   * the gate sees `/v1/sales/x/` and the router a reservation id "..". Where the two disagree the
   * credential is checked here instead, and a request without one fails closed with 401.
   */
  buyerOf(request: Request): string {
    const known = this.buyers.get(request);
    if (known !== undefined) return known;
    const userId = this.deps.buyer(request.headers.get("authorization"));
    if (userId === null) throw new ProblemError(unauthorized());
    this.buyers.set(request, userId);
    return userId;
  }

  /** For the operator routes' own check, behind the gate's, for the same reason as buyerOf. */
  isAdmin(request: Request): boolean {
    return this.admins.has(request) || this.deps.admin(request.headers.get("authorization"));
  }

  /** The client address the rate limits and stream bounds key on. */
  addressOf(request: Request, peer: string | undefined): string {
    return clientAddress(request, peer, this.deps.trustProxy);
  }

  rawBodyOf(request: Request): string | undefined {
    return this.rawBodies.get(request);
  }

  /** `peer` is asked for only when the address limit is on: looking it up costs on every request. */
  check(request: Request, peer: () => string | undefined): Response | undefined {
    const path = requestPath(request.url);
    const length = request.headers.get("content-length");
    if (length !== null) {
      const limit = path.endsWith("/codes") ? CODES_BODY_MAX_BYTES : BODY_MAX_BYTES;
      if (Number(length) > limit) return problem(413, "payload_too_large", `Bodies are limited to ${limit} bytes.`);
    }
    // Operator routes and payment webhooks are never shed (admission.ts says why).
    if (path.startsWith("/v1/admin")) {
      if (!this.deps.admin(request.headers.get("authorization"))) return unauthorized();
      this.admins.add(request);
      return undefined;
    }
    if (!path.startsWith("/v1/sales/")) return undefined;
    // /v1/sales/:saleId/reservations[...] is the buyer's; /v1/sales/:saleId[/stream] is public.
    const rest = path.indexOf("/", 10);
    const buyerRoute = rest !== -1 && path.startsWith("/reservations", rest);
    const admission = this.deps.admission;
    if (admission !== undefined) {
      // Shedding comes before anything that costs: a token lookup, a JWT verification, the body.
      const method = request.method;
      const shed =
        method === "POST" && buyerRoute
          ? admission.admitHold()
          : method === "GET" || method === "HEAD"
            ? admission.admitRead()
            : undefined;
      if (shed !== undefined) return shed;
    }
    if (this.deps.addressLimits.enabled) {
      const taken = this.deps.addressLimits.take(clientAddress(request, peer(), this.deps.trustProxy));
      if (!taken.ok) return rateLimited("address", taken.retryAfterSeconds, this.deps.addressLimits);
    }
    if (buyerRoute) {
      const userId = this.deps.buyer(request.headers.get("authorization"));
      if (userId === null) return unauthorized();
      this.buyers.set(request, userId);
    }
    return undefined;
  }

  async parseJson(request: Request): Promise<unknown> {
    let bytes: ArrayBuffer;
    try {
      bytes = await request.arrayBuffer();
    } catch (error) {
      if (error instanceof ParseLimit) throw error;
      // The client hung up (or the idle timeout closed it) in the middle of its body.
      throw new BodyAborted();
    }
    const path = requestPath(request.url);
    const limit = path.endsWith("/codes") ? CODES_BODY_MAX_BYTES : BODY_MAX_BYTES;
    if (bytes.byteLength > limit) {
      throw new ParseLimit(limit);
    }
    const text = decoder.decode(bytes);
    // Only the webhook's signature covers the raw text; no other route needs it kept.
    if (path.startsWith("/v1/webhooks/")) this.rawBodies.set(request, text);
    // No body at all (a DELETE, a bodyless POST) is not malformed JSON: the route's schema, if it
    // has one, says what is missing. Null, not undefined, so Elysia's own parsers never run.
    if (text.length === 0) return null;
    // Nesting deeper than the bound needs two characters a level: short bodies (every hold) skip the scan.
    if (text.length > 2 * JSON_DEPTH_MAX && nestingDepthOver(text, JSON_DEPTH_MAX)) throw new JsonTooDeep();
    // JSON.parse makes "__proto__" an own key, but wherever the body is copied (Elysia's cleaning
    // does) it becomes the prototype, supplying fields that validation takes for the client's own.
    // The key may also be spelled with \u escapes, so those bodies take the slower path too.
    if (text.includes("__proto__") || text.includes("\\u")) return JSON.parse(text, withoutProtoKeys);
    return JSON.parse(text);
  }
}

/**
 * The path of a request URL. Bun gives an absolute URL, but only the path when the Host header is no
 * valid host (`Host: evil/x`): reading that as absolute once made `/v1/admin/sales` look like
 * `/admin/sales` here while the router still ran the operator route, without a token.
 */
export function requestPath(url: string): string {
  const pathStart = url.startsWith("/") ? 0 : url.indexOf("/", url.indexOf("//") + 2);
  if (pathStart === -1) return "/";
  return url.slice(pathStart, url.indexOf("?", pathStart) >>> 0);
}

function withoutProtoKeys(key: string, value: unknown): unknown {
  return key === "__proto__" ? undefined : value;
}

/** A body the gate's parser refuses, with the answer it gets; Elysia may wrap it as `cause`. */
export abstract class BodyError extends Error {
  abstract readonly status: 400 | 413;
  abstract readonly code: "invalid_json" | "payload_too_large";
}

/** A body past its bound when no Content-Length announced it (chunked); rendered as 413. */
export class ParseLimit extends BodyError {
  readonly status = 413;
  readonly code = "payload_too_large";
  constructor(limitBytes: number) {
    super(`Bodies are limited to ${limitBytes} bytes.`);
  }
}

/** Whether JSON text nests arrays and objects deeper than `max`; strings are skipped over. */
export function nestingDepthOver(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // a backslash escapes the next character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return false;
}

/** Valid JSON, perhaps, but nested past JSON_DEPTH_MAX; rendered as 400 invalid_json. */
export class JsonTooDeep extends BodyError {
  readonly status = 400;
  readonly code = "invalid_json";
  constructor() {
    super(`The request body nests deeper than ${JSON_DEPTH_MAX} levels.`);
  }
}

/** A body that never arrived in full: the client is gone, so the answer is for the record only. */
export class BodyAborted extends BodyError {
  readonly status = 400;
  readonly code = "invalid_json";
  constructor() {
    super("The request body was cut off.");
  }
}
