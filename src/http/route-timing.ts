// Latency by route for the route groups off the hot path (stampede_http_request_duration_seconds):
// a transform hook notes when the route started and an after-response hook observes the time. The
// hold route records its own latency inline instead, since hooks cost on every request. With the
// access log on (STAMPEDE_ACCESS_LOG=1, access-log.ts) the same two hooks give each request its id,
// send it back in X-Request-Id and write the request's line.
//
// The hooks name the context's fields they use (`({ request, set }) => ...`), never the whole
// context: Elysia reads a handler's parameters to decide what to prepare for each request, and a
// context passed on as a whole makes it parse cookies, query and headers on every request (that
// cost public reads a third of their throughput).

import type { ServerMetrics } from "../metrics/server-metrics.ts";
import { REQUEST_ID_HEADER, accessLine, requestIdOf } from "./access-log.ts";

export type RouteTiming = {
  start: (request: Request, set: { headers: Record<string, unknown> }) => void;
  finish: (context: { request: Request; route: string; set: { status?: number | string }; response: unknown }) => void;
};

type TimingDeps = { metrics?: ServerMetrics | undefined; accessLog?: boolean | undefined };

/** Takes the routes' deps (metrics and the access log), or their metrics alone (no access log). */
export function routeTiming(from: TimingDeps | ServerMetrics | undefined): RouteTiming {
  const deps: TimingDeps = from === undefined || "registry" in from ? { metrics: from } : from;
  const { metrics } = deps;
  const accessLog = deps.accessLog === true;
  const started = new WeakMap<Request, { at: number; requestId: string }>();
  return {
    start: (request, set) => {
      if (metrics === undefined && !accessLog) return;
      const requestId = accessLog ? requestIdOf(request) : "";
      if (accessLog) set.headers[REQUEST_ID_HEADER] = requestId;
      started.set(request, { at: performance.now(), requestId });
    },
    finish: ({ request, route, set, response }) => {
      const begun = started.get(request);
      if (begun === undefined) return;
      const status = response instanceof Response ? response.status : Number(set.status) || 200;
      const seconds = (performance.now() - begun.at) / 1000;
      metrics?.observeHttp(route || "unmatched", status, seconds);
      if (accessLog) accessLine(begun.requestId, request.method, route || "unmatched", status, seconds);
    },
  };
}
