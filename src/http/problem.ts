// RFC 9457 problem documents: the one shape every error of the API takes. Expected refusals are
// returned as Responses (no exception, no stack trace on the hot path); `ProblemError` exists for the
// few places that must abort from deep inside a hook.

import type { Refusal } from "../ledger/types.ts";

export type ProblemCode =
  | Refusal
  | "unauthorized"
  | "already_exists"
  | "validation_failed"
  | "invalid_json"
  | "payload_too_large"
  | "rate_limited"
  | "overloaded"
  | "method_not_allowed"
  | "internal_error";

export type FieldError = { path: string; message: string };

const TITLES: Record<ProblemCode, string> = {
  not_found: "Not found",
  sale_not_open: "Sale not open",
  sale_ended: "Sale ended",
  sold_out: "Sold out",
  limit_exceeded: "Limit exceeded",
  idempotency_key_reused: "Idempotency key reused",
  not_held: "Reservation not held",
  insufficient_stock: "Insufficient stock",
  not_codes_item: "Item does not deliver codes",
  codes_item_stock: "Stock of a codes item comes from its codes",
  limit_below_holdings: "Limit below current holdings",
  invalid_window: "Invalid sale window",
  queue_not_open: "Queue not open",
  no_waiting_room: "No waiting room",
  admission_required: "Admission required",
  unauthorized: "Unauthorized",
  already_exists: "Already exists",
  validation_failed: "Validation failed",
  invalid_json: "Malformed JSON",
  payload_too_large: "Payload too large",
  rate_limited: "Too many requests",
  overloaded: "Overloaded",
  method_not_allowed: "Method not allowed",
  internal_error: "Internal error",
};

/** The HTTP status of each ledger refusal (API.md's tables). */
export const REFUSAL_STATUS: Record<Refusal, number> = {
  not_found: 404,
  sale_not_open: 409,
  sale_ended: 410,
  sold_out: 409,
  limit_exceeded: 409,
  idempotency_key_reused: 422,
  not_held: 409,
  insufficient_stock: 409,
  not_codes_item: 409,
  codes_item_stock: 409,
  limit_below_holdings: 409,
  invalid_window: 422,
  queue_not_open: 409,
  no_waiting_room: 409,
  admission_required: 403,
  rate_limited: 429,
};

const PROBLEM_HEADERS = { "content-type": "application/problem+json" };

export function problem(
  status: number,
  code: ProblemCode,
  detail: string,
  extra?: { errors?: FieldError[]; headers?: Record<string, string> },
): Response {
  const body: Record<string, unknown> = { type: `urn:stampede:problem:${code}`, title: TITLES[code], status, code, detail };
  if (extra?.errors !== undefined) body.errors = extra.errors;
  const headers = extra?.headers === undefined ? PROBLEM_HEADERS : { ...PROBLEM_HEADERS, ...extra.headers };
  return new Response(JSON.stringify(body), { status, headers });
}

export function refusalProblem(refusal: Refusal, detail: string): Response {
  return problem(REFUSAL_STATUS[refusal], refusal, detail);
}

/** Rendered refusal bodies by code and detail; a sold-out storm sends the same one a million times. */
const REFUSAL_BODIES_MAX = 1024;
const refusalBodies = new Map<string, { body: string; init: ResponseInit }>();

/** A ledger refusal as its problem Response, the body rendered once per (code, detail). */
export function refusalResponse(refusal: Refusal, detail: string): Response {
  const key = `${refusal}\n${detail}`;
  let cached = refusalBodies.get(key);
  if (cached === undefined) {
    const status = REFUSAL_STATUS[refusal];
    const body = JSON.stringify({ type: `urn:stampede:problem:${refusal}`, title: TITLES[refusal], status, code: refusal, detail });
    cached = { body, init: { status, headers: PROBLEM_HEADERS } };
    if (refusalBodies.size >= REFUSAL_BODIES_MAX) refusalBodies.clear();
    refusalBodies.set(key, cached);
  }
  return new Response(cached.body, cached.init);
}

/**
 * A refused outcome as its problem document. A `rate_limited` refusal (from the sale's owner) keeps
 * its Retry-After; the buyer route adds the RateLimit fields (rate-limit-headers.ts).
 */
export function outcomeProblem(outcome: { refusal: Refusal; detail: string; retryAfterSeconds?: number }): Response {
  if (outcome.retryAfterSeconds === undefined) return refusalProblem(outcome.refusal, outcome.detail);
  const headers = { "retry-after": String(Math.max(1, Math.ceil(outcome.retryAfterSeconds))) };
  return problem(REFUSAL_STATUS[outcome.refusal], outcome.refusal, outcome.detail, { headers });
}

/**
 * A jittered Retry-After between half and one and a half times `base`, rounded up to whole seconds
 * (at least 1), so that shed clients do not come back in one wave; rounding up keeps a base of 1
 * jittered too (1 or 2 s).
 */
export function retryAfterSeconds(base: number): string {
  return String(Math.max(1, Math.ceil(base * (0.5 + Math.random()))));
}

export function overloaded(detail: string, baseSeconds = 1): Response {
  return problem(503, "overloaded", detail, { headers: { "retry-after": retryAfterSeconds(baseSeconds) } });
}

export const unauthorized = (detail = "Missing or invalid credentials."): Response => problem(401, "unauthorized", detail);

/** Thrown where a Response cannot simply be returned; the app's error hook renders it. */
export class ProblemError extends Error {
  constructor(readonly response: Response) {
    super("problem");
  }
}
