// The Elysia application: one gate in front of every route (body size, credentials, admission
// control, address rate limit), one JSON parser that keeps the raw body for webhook signatures, one
// error hook that turns everything into problem+json, and the route groups of API.md.

import { Elysia } from "elysia";
import { log } from "../log.ts";
import type { SaleGateway } from "../cluster/gateway.ts";
import type { ServerMetrics } from "../metrics/server-metrics.ts";
import { Admission } from "./admission.ts";
import { docsPlugin } from "./docs.ts";
import { type FieldError, ProblemError, overloaded, problem } from "./problem.ts";
import { adminRoutes } from "./routes/admin.ts";
import { buyerRoutes } from "./routes/buyer.ts";
import { dashboardRoutes } from "./routes/dashboard.ts";
import { opsRoutes } from "./routes/ops.ts";
import { publicRoutes } from "./routes/public.ts";
import { webhookRoutes } from "./routes/webhook.ts";
import { BodyError, type HttpDeps, RequestGate } from "./request-gate.ts";

export type AppOptions = HttpDeps & { version: string };

export { type HttpDeps } from "./request-gate.ts";

/**
 * Seconds a connection may stay silent before Bun closes it: a client that stops sending in the
 * middle of a body, or keeps an idle keep-alive socket, lets go of it after this long. (A client
 * that never completes its request head is closed by Bun after about 10 s whatever this says.)
 * It must stay above the longest a handler waits before answering (an operator read waits up to
 * 5 s for the store) and above the event streams' heartbeat (5 s), or Bun cuts those off too.
 */
export const IDLE_TIMEOUT_SECONDS = 10;

export function createApp(options: AppOptions) {
  // Without an Admission from the caller nothing is shed, but event streams are still bounded.
  const deps: HttpDeps = options.admission === undefined ? { ...options, admission: new Admission() } : options;
  const gate = new RequestGate(deps);
  const metrics = deps.metrics;
  // When each request arrived, for the latency histogram by route (stampede_http_request_duration_seconds).
  const arrived = new WeakMap<Request, number>();
  return new Elysia({ name: "stampede", serve: { idleTimeout: IDLE_TIMEOUT_SECONDS } })
    .onRequest(({ request, server }) => {
      if (metrics !== undefined) arrived.set(request, performance.now());
      return gate.check(request, () => server?.requestIP(request)?.address);
    })
    .onAfterResponse(({ request, route, set, response }) => {
      const start = arrived.get(request);
      if (metrics === undefined || start === undefined) return;
      const status = response instanceof Response ? response.status : Number(set.status) || 200;
      metrics.observeHttp(route || "unmatched", status, (performance.now() - start) / 1000);
    })
    .onParse(({ request }) => gate.parseJson(request))
    .onError(({ code, error }) => errorResponse(code, error))
    .use(docsPlugin({ title: "Stampede", version: options.version, description: DESCRIPTION }))
    .use(opsRoutes(deps))
    .use(dashboardRoutes(deps))
    .use(publicRoutes(deps, gate))
    .use(buyerRoutes(deps, gate))
    .use(webhookRoutes(deps, gate))
    .use(adminRoutes(deps, gate));
}

const DESCRIPTION =
  "Flash-sale stock server. Buyers hold stock with a JWT, payment providers confirm through signed webhooks, " +
  "operators manage sales with the admin token. Every error is application/problem+json with a stable `code`.";

type ValidationIssue = { path?: string; message?: string; summary?: string };

function errorResponse(code: string | number, error: unknown): Response {
  if (error instanceof ProblemError) return error.response;
  const body = error instanceof BodyError ? error : (error as { cause?: unknown })?.cause;
  if (body instanceof BodyError) return problem(body.status, body.code, body.message);
  switch (code) {
    case "VALIDATION": {
      const all = (error as { all?: ValidationIssue[] }).all ?? [];
      const seen = new Set<string>();
      const errors: FieldError[] = [];
      for (const issue of all) {
        const path = issue.path || "/";
        if (seen.has(path)) continue;
        seen.add(path);
        errors.push({ path, message: issue.summary ?? issue.message ?? "invalid" });
      }
      return problem(422, "validation_failed", "The request does not match the schema.", { errors });
    }
    case "PARSE":
      return problem(400, "invalid_json", "The request body is not valid JSON.");
    case "NOT_FOUND":
      return problem(404, "not_found", "No such route.");
    case "INVALID_COOKIE_SIGNATURE":
    case "INVALID_FILE_TYPE":
      return problem(400, "validation_failed", "The request is malformed.");
    default: {
      if ((error as { name?: string })?.name === "InvariantViolation") {
        // A broken invariant is a bug: stop loudly and let recovery rebuild from the journal.
        log("fatal", "invariant violated", { error: String(error) });
        setTimeout(() => process.exit(1), 10);
        return problem(500, "internal_error", "An internal check failed; the server restarts.");
      }
      const unavailable = error as { retryAfterSeconds?: number; message?: string };
      if (typeof unavailable?.retryAfterSeconds === "number") {
        // Jittered (API.md), so that the clients shed together do not come back together.
        return overloaded(unavailable.message ?? "Unavailable.", unavailable.retryAfterSeconds);
      }
      // The id ties the answer the client saw to the log line an operator reads.
      const requestId = Bun.randomUUIDv7();
      log("error", "unhandled error", { requestId, error: String(error) });
      return problem(500, "internal_error", `An unexpected error occurred (request ${requestId}).`);
    }
  }
}

export type { SaleGateway, ServerMetrics };
