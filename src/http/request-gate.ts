// What every route checks before it does anything that costs: admission control (shedding new holds,
// then reads, when the process falls behind), the per-address rate limit, credentials (so that an
// unauthenticated caller learns nothing from validation errors), and bodies read with a bound that
// holds while a chunked body streams in. Each route group calls what it needs from here, first
// thing; nothing runs globally in front of every request, so the hold route pays for no hook.

import type { SaleGateway } from "../engine/gateway.ts";
import type { AddressLimits } from "../limits/address-limits.ts";
import type { TokenBuckets } from "../limits/token-buckets.ts";
import type { ServerMetrics } from "../metrics/server-metrics.ts";
import type { WebhookStore } from "../store/webhook-store.ts";
import type { Admission } from "./admission.ts";
import { clientAddress } from "./client-address.ts";
import { ProblemError, unauthorized } from "./problem.ts";
import { refusalLog } from "./refusal-log.ts";
import { rateLimited } from "./rate-limit-headers.ts";

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
  /** The per-address limit, shared with the other workers of the machine (limits/address-limits.ts). */
  addressLimits: AddressLimits;
  trustProxy: number;
  /** Load shedding and bounded event streams; absent, nothing is shed (streams are still bounded). */
  admission?: Admission;
  metrics?: ServerMetrics;
  /** STAMPEDE_ACCESS_LOG=1: one log line per request (access-log.ts). */
  accessLog?: boolean;
  /** Metrics of every worker of a cluster; without it /metrics shows this process alone. */
  renderMetrics?: () => Promise<string>;
  clock?: () => number;
  /** The store's outbound-webhook tables, for the operator routes (routes/webhooks-admin.ts). */
  webhooks?: WebhookStore;
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

/** Something with `requestIP`: Bun's server, as Elysia hands it to handlers. */
export type PeerSource = { requestIP(request: Request): { address: string } | null } | null | undefined;

export class RequestGate {
  /** The buyer of a request, found by the buyer routes' transform hook and read by their handlers. */
  private readonly buyers = new WeakMap<Request, string>();
  private readonly admins = new WeakSet<Request>();

  constructor(private readonly deps: HttpDeps) {}

  /** The client address the rate limits and stream bounds key on. */
  addressOf(request: Request, server: PeerSource): string {
    return clientAddress(request, server?.requestIP(request)?.address, this.deps.trustProxy);
  }

  /** The address limit (shared by the workers); undefined when the request may go on. */
  limitAddress(request: Request, server: PeerSource): Response | undefined {
    const limits = this.deps.addressLimits;
    if (!limits.enabled) return undefined;
    const address = this.addressOf(request, server);
    const taken = limits.take(address);
    if (taken.ok) return undefined;
    refusalLog.addressLimited(address);
    return rateLimited("address", taken.retryAfterSeconds, limits);
  }

  /** Shedding, then the address limit, for a new hold. */
  admitHold(request: Request, server: PeerSource): Response | undefined {
    const shed = this.deps.admission?.admitHold();
    if (shed === undefined) return this.limitAddress(request, server);
    refusalLog.shed("holds");
    return shed;
  }

  /** Shedding, then the address limit, for a read. */
  admitRead(request: Request, server: PeerSource): Response | undefined {
    const shed = this.deps.admission?.admitRead();
    if (shed === undefined) return this.limitAddress(request, server);
    refusalLog.shed("reads");
    return shed;
  }

  /** The buyer of a request on a buyer route, or a 401 thrown as a ProblemError. */
  buyerOf(request: Request): string {
    const known = this.buyers.get(request);
    if (known !== undefined) return known;
    const userId = this.deps.buyer(request.headers.get("authorization"));
    if (userId === null) {
      refusalLog.unauthorized("buyer routes");
      throw new ProblemError(unauthorized());
    }
    this.buyers.set(request, userId);
    return userId;
  }

  /** Operator routes check the token before anything else (their parse and their transform). */
  requireAdmin(request: Request): void {
    if (this.admins.has(request)) return;
    if (!this.deps.admin(request.headers.get("authorization"))) {
      refusalLog.unauthorized("/v1/admin");
      throw new ProblemError(unauthorized());
    }
    this.admins.add(request);
  }

  /** The JSON body of an operator route: the token first, then the body, bounded, then the parse. */
  async parseAdminJson(request: Request): Promise<unknown> {
    const path = requestPath(request.url);
    if (path.startsWith("/v1/admin")) this.requireAdmin(request);
    const limit = path.endsWith("/codes") ? CODES_BODY_MAX_BYTES : BODY_MAX_BYTES;
    return parseJsonText(await readBodyText(request, limit));
  }
}

/**
 * The body as text, refused with 413 past `limitBytes` whether or not a Content-Length announced it:
 * a chunked body is counted as it streams in and dropped at the bound, never buffered whole.
 */
export async function readBodyText(request: Request, limitBytes: number): Promise<string> {
  const length = request.headers.get("content-length");
  if (length !== null) {
    if (Number(length) > limitBytes) throw new ParseLimit(limitBytes);
    // Announced and within the bound (Bun reads no more than announced): one native read.
    let bytes: ArrayBuffer;
    try {
      bytes = await request.arrayBuffer();
    } catch {
      throw new BodyAborted();
    }
    return decodeUtf8(new Uint8Array(bytes));
  }
  const body = request.body;
  if (body === null) return "";
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > limitBytes) {
        void reader.cancel().catch(() => {});
        throw new ParseLimit(limitBytes);
      }
      chunks.push(value);
    }
  } catch (error) {
    if (error instanceof ParseLimit) throw error;
    // The client hung up (or the idle timeout closed it) in the middle of its body.
    throw new BodyAborted();
  }
  return decodeUtf8(chunks.length === 1 ? (chunks[0] as Uint8Array) : Buffer.concat(chunks, total));
}

function decodeUtf8(bytes: Uint8Array): string {
  try {
    return decoder.decode(bytes);
  } catch {
    throw new InvalidJson("The request body is not valid UTF-8.");
  }
}

/** A whole body's bytes to a value: UTF-8 checked, then as parseJsonText. */
export function parseJsonBytes(bytes: ArrayBuffer): unknown {
  return parseJsonText(decodeUtf8(new Uint8Array(bytes)));
}

/** JSON text to a value: empty is null, too deep is 400, `__proto__` keys are dropped. */
export function parseJsonText(text: string): unknown {
  // No body at all (a DELETE, a bodyless POST) is not malformed JSON: the route's schema, if it
  // has one, says what is missing. Null, not undefined, so Elysia's own parsers never run.
  if (text.length === 0) return null;
  // Nesting deeper than the bound needs two characters a level: short bodies (every hold) skip the scan.
  if (text.length > 2 * JSON_DEPTH_MAX && nestingDepthOver(text, JSON_DEPTH_MAX)) throw new JsonTooDeep();
  try {
    // JSON.parse makes "__proto__" an own key, but wherever the body is copied (Elysia's cleaning
    // does) it becomes the prototype, supplying fields that validation takes for the client's own.
    // The key may also be spelled with \u escapes, so those bodies take the slower path too.
    if (text.includes("__proto__") || text.includes("\\u")) return JSON.parse(text, withoutProtoKeys);
    return JSON.parse(text);
  } catch {
    throw new InvalidJson("The request body is not valid JSON.");
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

/** A body past its bound (announced or streamed); rendered as 413. */
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

/** Not JSON (or not UTF-8); rendered as 400 invalid_json. */
export class InvalidJson extends BodyError {
  readonly status = 400;
  readonly code = "invalid_json";
}

/** A body that never arrived in full: the client is gone, so the answer is for the record only. */
export class BodyAborted extends BodyError {
  readonly status = 400;
  readonly code = "invalid_json";
  constructor() {
    super("The request body was cut off.");
  }
}
