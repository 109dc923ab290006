// POST /v1/sales/:saleId/reservations, the hot path (issue "engine speed"). It is still an Elysia
// route, documented like every other, but it takes no hook and no Elysia body parsing: in one
// function it sheds, checks the address limit and the JWT (cached), reads the body with its bound,
// checks the two fields by hand (the schema's compiled checker runs only to explain a refusal),
// hands the command to the gateway and turns the answer (JSON the owner rendered when it decided)
// into a Response whose init objects are made once.

import { TypeCompiler } from "@sinclair/typebox/compiler";
import { Elysia } from "elysia";
import type { AdmissionTokens } from "../../auth/admission-token.ts";
import type { HoldAnswer } from "../../engine/gateway.ts";
import type { HoldCommand } from "../../ledger/types.ts";
import { withAccessLog } from "../access-log.ts";
import type { Admission } from "../admission.ts";
import { refusalLog } from "../refusal-log.ts";
import { overloaded, problem, refusalResponse, unauthorized } from "../problem.ts";
import { rateLimitField, rateLimited } from "../rate-limit-headers.ts";
import { BODY_MAX_BYTES, BodyError, type HttpDeps, type RequestGate, parseJsonBytes, parseJsonText, readBodyText } from "../request-gate.ts";
import { BODY_PROBLEMS, CREDENTIAL_PROBLEMS, jsonAnswer, jsonRequest, problems } from "../openapi-document.ts";
import { HoldBody, ID_PATTERN, Reservation, SaleParams } from "../schemas.ts";
import { validationProblem } from "../validation-problem.ts";

export const HOLD_ROUTE = "/v1/sales/:saleId/reservations";

/** API.md: Idempotency-Key is 1..128 printable characters. */
const IDEMPOTENCY_KEY_PATTERN = /^[\x20-\x7E]{1,128}$/;
const ID = new RegExp(ID_PATTERN);
const holdBodyChecker = TypeCompiler.Compile(HoldBody);
const saleParamsChecker = TypeCompiler.Compile(SaleParams);

const CREATED: ResponseInit = { status: 201, headers: { "content-type": "application/json" } };

type HoldFields = { itemId: string; quantity: number };

function isHoldBody(body: unknown): body is HoldFields {
  if (typeof body !== "object" || body === null) return false;
  const { itemId, quantity } = body as Record<string, unknown>;
  return typeof itemId === "string" && ID.test(itemId) && Number.isInteger(quantity) && (quantity as number) >= 1 && (quantity as number) <= 100;
}

function holdResponse(answer: HoldAnswer, deps: HttpDeps): Response {
  if (answer.ok) {
    if (answer.rateLimit === null) return new Response(answer.body, CREATED);
    const ratelimit = rateLimitField("buyer", answer.rateLimit.remaining, answer.rateLimit.resetSeconds);
    return new Response(answer.body, { status: 201, headers: { "content-type": "application/json", ratelimit } });
  }
  switch (answer.refusal) {
    case "unavailable":
      return overloaded(answer.detail, answer.retryAfterSeconds ?? 1);
    case "rate_limited":
      return rateLimited("buyer", answer.retryAfterSeconds ?? 1, deps.buyerLimits.enabled ? deps.buyerLimits : undefined);
    default:
      return refusalResponse(answer.refusal, answer.detail);
  }
}

/** Something with `requestIP` (Bun's server). */
type Server = { requestIP(request: Request): { address: string } | null } | null | undefined;

/** The hold, as one function of the request, its sale id and the server (for the client address). */
export function holdHandler(
  deps: HttpDeps,
  gate: RequestGate,
  tokens: AdmissionTokens,
): (request: Request, saleId: string, server: Server) => Response | Promise<Response> {
  const { gateway } = deps;
  const clock = deps.clock ?? Date.now;
  const admission: Admission | undefined = deps.admission;
  const observe = deps.metrics?.httpRoute(HOLD_ROUTE);
  const metrics = deps.metrics;
  /**
   * A hold refused before any sale is looked at: counted as the gate's refusal (by its problem code,
   * which the status names here) with its latency, and written to the log in bulk (refusal-log.ts).
   */
  const atGate = (response: Response, started: number): Response => {
    if (metrics !== undefined) {
      metrics.refusalChild("gate", GATE_CODES[response.status] ?? `${response.status}`).inc();
      observe?.(response.status, (performance.now() - started) / 1000);
    }
    return response;
  };

  const afterBody = (saleId: string, userId: string, idempotencyKey: string | null, started: number, admitted: boolean) => (body: unknown) => {
    if (!isHoldBody(body)) return atGate(validationProblem(holdBodyChecker, body, "request"), started);
    const command: HoldCommand = { kind: "hold", userId, itemId: body.itemId, quantity: body.quantity, idempotencyKey };
    if (admitted) command.admitted = true;
    admission?.enter();
    return new Promise<Response>((resolve) =>
      gateway.hold(saleId, command, (answer) => {
        admission?.leave();
        const response = holdResponse(answer, deps);
        observe?.(response.status, (performance.now() - started) / 1000);
        resolve(response);
      }),
    );
  };
  /** A body that cannot be read or parsed: 400 or 413, refused at the gate. */
  const bodyProblem = (error: unknown, started: number): Response => {
    if (error instanceof BodyError) return atGate(problem(error.status, error.code, error.message), started);
    throw error;
  };
  // One handler for every failed read (no closure per hold, as on the rest of this path): it counts
  // the refusal but has no start time, so the latency histogram leaves these few out (NaN is dropped).
  const bodyError = (error: unknown) => bodyProblem(error, Number.NaN);

  const handle = (request: Request, saleId: string, server: Server): Response | Promise<Response> => {
    const started = performance.now();
    const shed = gate.admitHold(request, server);
    if (shed !== undefined) return atGate(shed, started);
    const userId = deps.buyer(request.headers.get("authorization"));
    if (userId === null) {
      refusalLog.unauthorized(HOLD_ROUTE);
      return atGate(unauthorized(), started);
    }
    if (saleId.length > 64 || !ID.test(saleId)) return atGate(validationProblem(saleParamsChecker, { saleId }, "path"), started);
    const idempotencyKey = request.headers.get("idempotency-key");
    if (idempotencyKey !== null && !IDEMPOTENCY_KEY_PATTERN.test(idempotencyKey)) {
      const invalid = problem(422, "validation_failed", "Idempotency-Key must be 1..128 printable characters.", {
        errors: [{ path: "/headers/idempotency-key", message: "1..128 printable ASCII characters" }],
      });
      return atGate(invalid, started);
    }
    // A sale with a waiting room takes holds from admitted buyers only; for every other sale this is
    // the one check the waiting room adds here (an empty set's size when no sale has a room).
    let admitted = false;
    if (gateway.admissionRequired(saleId)) {
      if (!tokens.verify(request.headers.get("stampede-admission"), saleId, userId, clock())) {
        const detail = "This sale has a waiting room: hold with the Stampede-Admission token it gave you (missing, expired or not yours).";
        return atGate(problem(403, "admission_required", detail), started);
      }
      admitted = true;
    }
    const decide = afterBody(saleId, userId, idempotencyKey, started, admitted);
    // A body whose length is announced and within the bound (every client's hold): one native read,
    // then the checked decode and parse; a chunked one goes through the counting reader.
    const length = request.headers.get("content-length");
    if (length !== null && Number(length) <= BODY_MAX_BYTES) {
      return request.arrayBuffer().then((bytes) => {
        let body: unknown;
        try {
          body = parseJsonBytes(bytes);
        } catch (error) {
          return bodyProblem(error, started);
        }
        return decide(body);
      }, bodyError);
    }
    return readBodyText(request, BODY_MAX_BYTES).then(parseJsonText).then(decide, bodyError);
  };
  // Decided once: with the access log off the route is `handle` itself, at no cost per request.
  return deps.accessLog === true ? withAccessLog(HOLD_ROUTE, handle) : handle;
}

/** The problem code of each status the gate answers a hold with. */
const GATE_CODES: Readonly<Record<number, string>> = {
  400: "invalid_json",
  401: "unauthorized",
  403: "admission_required",
  413: "payload_too_large",
  422: "validation_failed",
  429: "rate_limited",
  503: "overloaded",
};

/**
 * The route as Elysia knows it: routed, documented in the OpenAPI document. `server.ts` may also
 * hand the same handler to Bun's own router (see app.ts, nativeRoutes), which skips Elysia's
 * per-request context for the hottest route.
 */
export function holdRoute(deps: HttpDeps, gate: RequestGate, tokens: AdmissionTokens) {
  const handle = holdHandler(deps, gate, tokens);
  return new Elysia({ name: "hold" }).post(
    HOLD_ROUTE,
    ({ request, params, server }) => handle(request, params.saleId, server),
    {
      // The body is this handler's to read (bounded, raw): Elysia must not parse it first.
      parse: "none",
      detail: {
        tags: ["buyers"],
        summary: "Hold stock (201 means durable)",
        description:
          "Holds `quantity` units of `itemId` for the buyer named by the token's `sub` until `expiresAt`; " +
          "pay through the payment provider's webhook before then. A 201 survives a crash of the server that sent it.",
        security: [{ buyer: [] }],
        parameters: [
          { name: "saleId", in: "path", required: true, schema: SaleParams.properties.saleId },
          {
            name: "Idempotency-Key",
            in: "header",
            required: false,
            description:
              "1..128 printable characters. A retry by the same buyer with the same key replays the first answer " +
              "and takes nothing more; the same key with a different body is 422 `idempotency_key_reused`.",
            schema: { type: "string", minLength: 1, maxLength: 128, pattern: IDEMPOTENCY_KEY_PATTERN.source },
            example: "order-7f3a",
          },
          {
            name: "Stampede-Admission",
            in: "header",
            required: false,
            description:
              "Required while the sale has a waiting room: the `admissionToken` its queue gave the buyer. Missing, expired, " +
              "forged or another buyer's: 403 `admission_required`.",
            schema: { type: "string", maxLength: 1024 },
          },
        ],
        requestBody: jsonRequest(HoldBody, { itemId: "hoodie-m", quantity: 1 }),
        responses: {
          201: jsonAnswer("The reservation, held and durable", Reservation),
          ...problems({
            ...BODY_PROBLEMS,
            ...CREDENTIAL_PROBLEMS,
            403: ["admission_required"],
            404: ["not_found"],
            409: ["sale_not_open", "sold_out", "limit_exceeded"],
            410: ["sale_ended"],
            422: ["validation_failed", "idempotency_key_reused"],
            429: ["rate_limited"],
            503: ["overloaded"],
          }),
        },
      },
    },
  );
}
