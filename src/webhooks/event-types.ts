// The event types an operator's endpoint can subscribe to (API.md, "Events to your systems"), and
// the few names every part of the outbound webhooks shares.

export const WEBHOOK_EVENT_TYPES = [
  "reservation.held",
  "reservation.confirmed",
  "reservation.released",
  "reservation.expired",
  "payment.refund_required",
  "sale.sold_out",
] as const;

export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

const KNOWN: ReadonlySet<string> = new Set(WEBHOOK_EVENT_TYPES);

export function isWebhookEventType(value: string): value is WebhookEventType {
  return KNOWN.has(value);
}

export type DeliveryStatus = "pending" | "delivered" | "failed";
