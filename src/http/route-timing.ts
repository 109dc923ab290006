// Latency by route for the route groups off the hot path (stampede_http_request_duration_seconds):
// a transform hook notes when the route started and an after-response hook observes the time. The
// hold route records its own latency inline instead, since hooks cost on every request.

import type { ServerMetrics } from "../metrics/server-metrics.ts";

export type RouteTiming = {
  start: (context: { request: Request }) => void;
  finish: (context: { request: Request; route: string; set: { status?: number | string }; response: unknown }) => void;
};

export function routeTiming(metrics: ServerMetrics | undefined): RouteTiming {
  const started = new WeakMap<Request, number>();
  return {
    start: ({ request }) => {
      if (metrics !== undefined) started.set(request, performance.now());
    },
    finish: ({ request, route, set, response }) => {
      const at = started.get(request);
      if (metrics === undefined || at === undefined) return;
      const status = response instanceof Response ? response.status : Number(set.status) || 200;
      metrics.observeHttp(route || "unmatched", status, (performance.now() - at) / 1000);
    },
  };
}
