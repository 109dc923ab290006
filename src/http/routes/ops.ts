// Operations: liveness, readiness and Prometheus metrics (API.md, "Operations").

import { Elysia } from "elysia";
import { PROMETHEUS_CONTENT_TYPE } from "../../metrics/exposition.ts";
import { json } from "../json.ts";
import type { HttpDeps } from "../request-gate.ts";

export function opsRoutes(deps: HttpDeps) {
  return new Elysia({ name: "ops" })
    .get("/healthz", () => json(200, { status: "ok" }), {
      detail: { tags: ["operations"], summary: "Liveness: 200 while the process runs" },
    })
    .get(
      "/readyz",
      () => {
        const readiness = deps.gateway.readiness();
        return json(readiness.ready ? 200 : 503, { status: readiness.ready ? "ready" : "not_ready", ...readiness });
      },
      { detail: { tags: ["operations"], summary: "Readiness: 200 when reservations are accepted, 503 with reasons" } },
    )
    .get(
      "/metrics",
      async () =>
        new Response(deps.renderMetrics === undefined ? (deps.metrics?.registry.render() ?? "") : await deps.renderMetrics(), {
          headers: { "content-type": PROMETHEUS_CONTENT_TYPE },
        }),
      { detail: { tags: ["operations"], summary: "Prometheus metrics" } },
    );
}
