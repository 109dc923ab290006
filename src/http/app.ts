// The Elysia application: route groups that each check what they need first (request-gate.ts), and
// one error hook that turns everything into problem+json. No hook runs globally in front of every request:
// the hold route (routes/hold.ts) pays only for what it does itself.

import { Elysia } from "elysia";
import { AdmissionTokens } from "../auth/admission-token.ts";
import type { SaleGateway } from "../engine/gateway.ts";
import type { ServerMetrics } from "../metrics/server-metrics.ts";
import { Admission } from "./admission.ts";
import { docsPlugin } from "./docs.ts";
import { errorResponse } from "./error-response.ts";
import { unauthorized } from "./problem.ts";
import { adminRoutes } from "./routes/admin.ts";
import { buyerRoutes } from "./routes/buyer.ts";
import { dashboardRoutes } from "./routes/dashboard.ts";
import { HOLD_ROUTE, holdHandler, holdRoute } from "./routes/hold.ts";
import { opsRoutes } from "./routes/ops.ts";
import { PUBLIC_SALE_ROUTE, publicRoutes, publicSaleHandler, publicSaleRoute } from "./routes/public.ts";
import { QUEUE_ROUTE, queueHandlers, queueRoutes } from "./routes/queue.ts";
import { webhookRoutes } from "./routes/webhook.ts";
import { webhookAdminRoutes } from "./routes/webhooks-admin.ts";
import { type HttpDeps, RequestGate, requestPath } from "./request-gate.ts";

export type AppOptions = HttpDeps & {
  version: string;
  /** Signs and checks waiting-room admissions; absent (tests), a key of this process alone. */
  admissionTokens?: AdmissionTokens;
};


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
  const tokens = options.admissionTokens ?? new AdmissionTokens(Bun.randomUUIDv7() + crypto.randomUUID());
  const hold = holdHandler(deps, gate, tokens);
  const queue = queueHandlers(deps, gate, tokens);
  const read = publicSaleHandler(deps, gate);
  // The hold also goes to Bun's own router (Elysia merges `serve.routes` over its own table): Elysia
  // routes and documents it, but its per-request context (a copy of every header, cookies, query,
  // an awaited parse step) cost a fifth of a hold. NATIVE_HOLD=0 keeps Elysia's handler, to compare.
  // The waiting room's join and poll go the same way: half a million buyers poll during a drop, and
  // so does the public sale document, which the crowd reads while it waits.
  type Native = (request: Bun.BunRequest<"/v1/sales/:saleId">, server: Bun.Server<unknown>) => Response | Promise<Response>;
  const routes: Record<string, { POST?: Native; GET?: Native }> =
    process.env.STAMPEDE_NATIVE_HOLD === "0"
      ? {}
      : {
          [HOLD_ROUTE]: { POST: (request, server) => hold(request, request.params.saleId, server) },
          [PUBLIC_SALE_ROUTE]: { GET: (request, server) => read(request, request.params.saleId, server) },
          [QUEUE_ROUTE]: {
            POST: (request, server) => queue.join(request, request.params.saleId, server),
            GET: (request, server) => queue.poll(request, request.params.saleId, server),
          },
        };
  return new Elysia({ name: "stampede", serve: { idleTimeout: IDLE_TIMEOUT_SECONDS, routes: routes as never } })
    .onError(({ code, error, request }) => {
      // A path under /v1/admin that names no route says nothing to a caller without the token.
      if (code === "NOT_FOUND" && requestPath(request.url).startsWith("/v1/admin") && !deps.admin(request.headers.get("authorization"))) {
        return unauthorized();
      }
      return errorResponse(code, error);
    })
    .use(docsPlugin({ title: "Stampede", version: options.version, description: DESCRIPTION }))
    .use(opsRoutes(deps))
    .use(dashboardRoutes(deps))
    .use(holdRoute(deps, gate, tokens))
    .use(queueRoutes(deps, gate, tokens))
    .use(publicSaleRoute(deps, gate))
    .use(publicRoutes(deps, gate))
    .use(buyerRoutes(deps, gate))
    .use(webhookRoutes(deps, gate))
    .use(adminRoutes(deps, gate))
    .use(webhookAdminRoutes(deps, gate));
}

const DESCRIPTION =
  "Flash-sale stock server. Buyers hold stock with a JWT, payment providers confirm through signed webhooks, " +
  "operators manage sales with the admin token. Every error is application/problem+json with a stable `code`.";

export type { SaleGateway, ServerMetrics };
