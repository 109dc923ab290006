// The operator dashboard (API.md, "Operator dashboard"): the page at `/dashboard` (and `/` leads
// there), its embedded assets, and `GET /v1/admin/stream`, the Server-Sent Events stream it reads.
// The page and assets need no credential: they hold none, and everything they show comes through
// the stream and the admin API, which check the admin token. They are served under a strict
// Content-Security-Policy: scripts, styles and connections to this origin only, nothing inline.

import { Elysia } from "elysia";
import { Admission } from "../admission.ts";
import { clientAddress } from "../client-address.ts";
import { DASHBOARD_ASSETS, DASHBOARD_PAGE, type DashboardAsset } from "../dashboard/assets.ts";
import { DashboardFeed } from "../dashboard/feed.ts";
import { unauthorized } from "../problem.ts";
import type { HttpDeps } from "../request-gate.ts";

export const DASHBOARD_PATH = "/dashboard";
const ASSETS_PATH = `${DASHBOARD_PATH}/assets`;

/**
 * No inline script or style, no other host, no framing (clickjacking of the pause button), no
 * plugins, and forms that can only post here. uPlot sets styles through the CSSOM, which
 * `style-src 'self'` allows; the chart canvases need nothing more.
 */
export const DASHBOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

const SECURITY_HEADERS = {
  "content-security-policy": DASHBOARD_CSP,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  // The assets change with the executable and are small: revalidate rather than risk a stale script.
  "cache-control": "no-cache",
};

function serve(asset: DashboardAsset): Response {
  // Bun.file streams from disk, or from the executable's embedded files, per request.
  return new Response(Bun.file(asset.path), { headers: { "content-type": asset.contentType, ...SECURITY_HEADERS } });
}

export function dashboardRoutes(deps: HttpDeps) {
  const admission = deps.admission ?? new Admission();
  const feed = new DashboardFeed({
    listSales: () => deps.gateway.listSales(),
    readiness: () => deps.gateway.readiness(),
    // The same text `GET /metrics` answers: every worker's metrics in a cluster, this process's otherwise.
    metricsText: () => deps.renderMetrics?.() ?? deps.metrics?.registry.render() ?? "",
  });
  const hide = { detail: { hide: true } };
  const app = new Elysia({ name: "dashboard" })
    .get("/", () => new Response(null, { status: 302, headers: { location: DASHBOARD_PATH } }), hide)
    .get(DASHBOARD_PATH, () => serve(DASHBOARD_PAGE), hide)
    .get(
      "/v1/admin/stream",
      ({ request, server }) => {
        // The gate checks /v1/admin/* too; this check keeps the stream closed should that move.
        if (!deps.admin(request.headers.get("authorization"))) return unauthorized();
        const lease = admission.openStream(clientAddress(request, server?.requestIP(request)?.address, deps.trustProxy));
        if (lease instanceof Response) return lease;
        return feed.response(request.signal, lease);
      },
      {
        detail: {
          tags: ["operators"],
          security: [{ admin: [] }],
          summary: "Server-Sent Events for the dashboard: every sale's admin view, counters and server health",
          description:
            "Each `data:` line is one JSON snapshot: `sales` (admin views with `totals`), `counters` (holds, " +
            "confirmations, refusals by code, hold latency histogram; cumulative since start) and `health` " +
            "(readiness, workers, write-behind backlog, shed requests). Sent when it changes, checked every 500 ms; " +
            "a comment line every 5 s keeps the connection open.",
          responses: {
            200: { description: "text/event-stream of snapshots", content: { "text/event-stream": {} } },
            401: { description: "Missing or wrong admin token" },
          },
        },
      },
    );
  for (const asset of DASHBOARD_ASSETS) app.get(`${ASSETS_PATH}/${asset.name}`, () => serve(asset), hide);
  return app;
}
