// Request and response schemas of the outbound webhooks' operator routes (API.md, "Events to your
// systems"), in Elysia's TypeBox like schemas.ts: they validate input (422 with the failing paths)
// and document the routes in the OpenAPI document.

import { Type } from "@sinclair/typebox";
import { t } from "elysia";
import { WEBHOOK_EVENT_TYPES } from "../webhooks/event-types.ts";
import { ID_PATTERN } from "./schemas.ts";

/** Longest endpoint URL accepted; longer ones are not addresses anyone types or routes. */
export const WEBHOOK_URL_LENGTH_MAX = 2048;
/** Most deliveries one page lists. */
export const DELIVERIES_PAGE_MAX = 1000;
/** Event ids the server makes: `evt_<journalId>_<seq>`, with a suffix for derived events. */
export const EVENT_ID_PATTERN = "^evt_[A-Za-z0-9_.-]{1,200}$";

const Int = () => Type.Integer();
const Time = t.String({ format: "date-time" });
const NullableTime = t.Union([Time, t.Null()]);
const EventType = t.Union(WEBHOOK_EVENT_TYPES.map((type) => t.Literal(type)));
const DeliveryStatus = t.Union([t.Literal("pending"), t.Literal("delivered"), t.Literal("failed")]);

export const WebhookEndpointBody = t.Object({
  url: t.String({ minLength: 1, maxLength: WEBHOOK_URL_LENGTH_MAX, description: "http:// or https:// URL that receives the POSTs" }),
  events: t.Array(EventType, { minItems: 1, maxItems: WEBHOOK_EVENT_TYPES.length, uniqueItems: true }),
});

export const WebhookEndpointParams = t.Object({ id: t.String({ pattern: ID_PATTERN, minLength: 1, maxLength: 64 }) });
export const WebhookDeliveryParams = t.Object({
  id: t.String({ pattern: ID_PATTERN, minLength: 1, maxLength: 64 }),
  deliveryId: t.String({ pattern: EVENT_ID_PATTERN, maxLength: 256 }),
});

export const WebhookDeliveryQuery = t.Object({
  status: t.Optional(DeliveryStatus),
  // The bounds are checked by the route, which can then name `/limit` in its 422 (see schemas.ts).
  limit: t.Optional(t.Integer({ description: `1..${DELIVERIES_PAGE_MAX}, default 100` })),
  cursor: t.Optional(t.String({ pattern: EVENT_ID_PATTERN, maxLength: 256 })),
});

export const WebhookEndpoint = t.Object({
  id: t.String(),
  url: t.String(),
  events: t.Array(EventType),
  createdAt: Time,
});

export const WebhookEndpointCreated = t.Composite([
  WebhookEndpoint,
  t.Object({ secret: t.String({ description: "Signs every delivery (Stampede-Signature); shown only in this answer." }) }),
]);

export const WebhookEndpointList = t.Object({ webhooks: t.Array(WebhookEndpoint) });

export const WebhookDelivery = t.Object({
  id: t.String({ description: "The event's id, the same on every attempt" }),
  endpointId: t.String(),
  type: EventType,
  status: DeliveryStatus,
  attempts: Int(),
  createdAt: Time,
  nextAttemptAt: NullableTime,
  lastAttemptAt: NullableTime,
  lastStatus: t.Union([Int(), t.Null()]),
  lastError: t.Union([t.String(), t.Null()]),
  deliveredAt: NullableTime,
  event: t.Union(
    [t.Object({ id: t.String(), type: EventType, createdAt: Time, data: t.Object({}, { additionalProperties: true }) }), t.Null()],
    { description: "The body as sent (null only when it cannot be made: its reservation is missing from the store)" },
  ),
});

export const WebhookDeliveryPage = t.Object({ deliveries: t.Array(WebhookDelivery), nextCursor: t.Union([t.String(), t.Null()]) });
