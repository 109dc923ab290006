// Operator routes of the outbound webhooks (API.md, "Events to your systems"): register, list and
// delete endpoints, list an endpoint's deliveries and send one again. They read and write the system
// of record directly (the store is per process), so any worker answers them without the sales'
// owners. The token is checked first, as on every operator route (routes/admin.ts).

import { randomBytes } from "node:crypto";
import { Elysia, t } from "elysia";
import type { WebhookDelivery as StoredDelivery, WebhookEndpoint as StoredEndpoint, WebhookStore } from "../../store/webhook-store.ts";
import { json } from "../json.ts";
import { jsonRequest } from "../openapi-document.ts";
import { problem } from "../problem.ts";
import type { HttpDeps, RequestGate } from "../request-gate.ts";
import { routeTiming } from "../route-timing.ts";
import { Problem } from "../schemas.ts";
import {
  DELIVERIES_PAGE_MAX,
  WebhookDelivery,
  WebhookDeliveryPage,
  WebhookDeliveryParams,
  WebhookDeliveryQuery,
  WebhookEndpoint,
  WebhookEndpointBody,
  WebhookEndpointCreated,
  WebhookEndpointList,
  WebhookEndpointParams,
} from "../webhook-schemas.ts";

const security = [{ admin: [] }];
const tags = ["webhooks"];
/** Live endpoints at most: every batch of the write-behind creates a delivery per matching endpoint. */
export const WEBHOOK_ENDPOINTS_MAX = 100;

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function endpointView(endpoint: StoredEndpoint) {
  return { id: endpoint.id, url: endpoint.url, events: endpoint.events, createdAt: iso(endpoint.createdAt) };
}

function deliveryView(delivery: StoredDelivery) {
  return {
    id: delivery.id,
    endpointId: delivery.endpointId,
    type: delivery.type,
    status: delivery.status,
    attempts: delivery.attempts,
    createdAt: iso(delivery.eventAt),
    nextAttemptAt: delivery.status === "pending" ? iso(delivery.nextAttemptAt) : null,
    lastAttemptAt: iso(delivery.lastAttemptAt),
    lastStatus: delivery.lastStatus,
    lastError: delivery.lastError,
    deliveredAt: iso(delivery.deliveredAt),
    event: delivery.payload === null ? null : (JSON.parse(delivery.payload) as unknown),
  };
}

function invalid(path: string, message: string): Response {
  return problem(422, "validation_failed", message, { errors: [{ path, message }] });
}

/** Why `raw` cannot receive deliveries, or null: an absolute http(s) URL with a host and no credentials. */
export function webhookUrlProblem(raw: string): string | null {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return "Not a valid URL.";
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return "The URL must be http:// or https://.";
  if (url.hostname.length === 0) return "The URL has no host.";
  // Credentials in a URL would be listed to every operator and logged with every failure.
  if (url.username !== "" || url.password !== "") return "The URL must not carry credentials.";
  return null;
}

const notFound = (what: string) => problem(404, "not_found", `No ${what}.`);

export function webhookAdminRoutes(deps: HttpDeps, gate: RequestGate) {
  const clock = deps.clock ?? Date.now;
  const store = (): WebhookStore => {
    if (deps.webhooks === undefined) throw new Error("this server was started without a webhook store");
    return deps.webhooks;
  };
  const timing = routeTiming(deps.metrics);
  return (
    new Elysia({ name: "webhooks-admin", prefix: "/v1/admin/webhooks" })
      .onTransform(({ request, set }) => {
        timing.start(request, set);
        gate.requireAdmin(request);
      })
      .onAfterResponse(timing.finish)
      .onParse(({ request }) => gate.parseAdminJson(request))
      .post(
        "",
        async ({ body }) => {
          const urlProblem = webhookUrlProblem(body.url);
          if (urlProblem !== null) return invalid("/url", urlProblem);
          const endpoint = {
            id: `whe_${Bun.randomUUIDv7().replaceAll("-", "")}`,
            url: body.url,
            events: body.events,
            secret: `whsec_${randomBytes(32).toString("base64url")}`,
            createdAt: clock(),
          };
          if (!(await store().createEndpoint(endpoint, WEBHOOK_ENDPOINTS_MAX))) {
            return problem(409, "limit_exceeded", `At most ${WEBHOOK_ENDPOINTS_MAX} endpoints; delete one first.`);
          }
          return json(201, { ...endpointView(endpoint), secret: endpoint.secret });
        },
        {
          body: WebhookEndpointBody,
          response: { 201: WebhookEndpointCreated, 401: Problem, 409: Problem, 422: Problem },
          detail: {
            tags,
            security,
            summary: "Register an endpoint; its secret is in this answer only",
            // What Swagger UI's "Try it out" sends (openapi-document.ts).
            requestBody: jsonRequest(WebhookEndpointBody, {
              url: "https://shop.example/hooks/stampede",
              events: ["reservation.confirmed", "payment.refund_required"],
            }),
            description:
              "Each event of the subscribed types is POSTed as `{ id, type, createdAt, data }`, signed with " +
              '`Stampede-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`. A 2xx delivers it; ' +
              "anything else, or no answer in 10 s, is retried with growing, jittered delays for up to 24 h, with the same `id`.",
          },
        },
      )
      .get("", async () => json(200, { webhooks: (await store().listEndpoints()).map(endpointView) }), {
        response: { 200: WebhookEndpointList, 401: Problem },
        detail: { tags, security, summary: "List endpoints (never their secrets)" },
      })
      .get(
        "/:id",
        async ({ params }) => {
          const endpoint = await store().endpoint(params.id);
          return endpoint === null ? notFound(`endpoint ${params.id}`) : json(200, endpointView(endpoint));
        },
        {
          params: WebhookEndpointParams,
          response: { 200: WebhookEndpoint, 401: Problem, 404: Problem },
          detail: { tags, security, summary: "One endpoint" },
        },
      )
      .delete(
        "/:id",
        async ({ params }) =>
          (await store().deleteEndpoint(params.id, clock())) ? new Response(null, { status: 204 }) : notFound(`endpoint ${params.id}`),
        {
          params: WebhookEndpointParams,
          response: { 204: t.Null({ description: "No content" }), 401: Problem, 404: Problem },
          detail: { tags, security, summary: "Delete an endpoint: nothing more is sent to it" },
        },
      )
      .get(
        "/:id/deliveries",
        async ({ params, query }) => {
          if (query.limit !== undefined && (query.limit < 1 || query.limit > DELIVERIES_PAGE_MAX)) {
            return invalid("/limit", `limit must be 1..${DELIVERIES_PAGE_MAX}.`);
          }
          if ((await store().endpoint(params.id)) === null) return notFound(`endpoint ${params.id}`);
          const page = await store().listDeliveries(params.id, {
            limit: query.limit ?? 100,
            ...(query.status === undefined ? {} : { status: query.status }),
            ...(query.cursor === undefined ? {} : { cursor: query.cursor }),
          });
          return json(200, { deliveries: page.deliveries.map(deliveryView), nextCursor: page.nextCursor });
        },
        {
          params: WebhookEndpointParams,
          query: WebhookDeliveryQuery,
          response: { 200: WebhookDeliveryPage, 401: Problem, 404: Problem, 422: Problem },
          detail: { tags, security, summary: "Page through an endpoint's deliveries, e.g. ?status=failed" },
        },
      )
      .post(
        "/:id/deliveries/:deliveryId/retry",
        async ({ params }) => {
          if ((await store().endpoint(params.id)) === null) return notFound(`endpoint ${params.id}`);
          const delivery = await store().retryDelivery(params.id, params.deliveryId, clock());
          return delivery === null ? notFound(`delivery ${params.deliveryId}`) : json(202, deliveryView(delivery));
        },
        {
          params: WebhookDeliveryParams,
          response: { 202: WebhookDelivery, 401: Problem, 404: Problem },
          detail: { tags, security, summary: "Send a delivery again (now, with a fresh 24 h of retries)" },
        },
      )
  );
}
