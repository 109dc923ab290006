// Operations: liveness, readiness and Prometheus metrics (API.md, "Operations").

import { Elysia } from "elysia";
import { PROMETHEUS_CONTENT_TYPE } from "../../metrics/exposition.ts";
import { json } from "../json.ts";
import { jsonAnswer, textAnswer } from "../openapi-document.ts";
import { Health, Readiness } from "../schemas.ts";

const tags = ["operations"];
import type { HttpDeps } from "../request-gate.ts";

export function opsRoutes(deps: HttpDeps) {
  return new Elysia({ name: "ops" })
    .get("/healthz", () => json(200, { status: "ok" }), {
      detail: { tags, summary: "Liveness: 200 while the process runs", security: [], responses: { 200: jsonAnswer("Alive", Health) } },
    })
    .get(
      "/readyz",
      () => {
        const readiness = deps.gateway.readiness();
        return json(readiness.ready ? 200 : 503, { status: readiness.ready ? "ready" : "not_ready", ...readiness });
      },
      {
        detail: {
          tags,
          summary: "Readiness: 200 when reservations are accepted, 503 with reasons",
          security: [],
          responses: {
            200: jsonAnswer("Ready", Readiness),
            // Not a problem document: a load balancer's probe and an operator read the same shape either way.
            503: jsonAnswer("Not ready, and why (recovering, store unreachable with journal backlog, draining)", Readiness),
          },
        },
      },
    )
    .get(
      "/metrics",
      async () =>
        new Response(deps.renderMetrics === undefined ? (deps.metrics?.registry.render() ?? "") : await deps.renderMetrics(), {
          headers: { "content-type": PROMETHEUS_CONTENT_TYPE },
        }),
      {
        detail: {
          tags,
          summary: "Prometheus metrics of every worker",
          security: [],
          responses: { 200: textAnswer("Prometheus text exposition format 0.0.4", "text/plain") },
        },
      },
    );
}
