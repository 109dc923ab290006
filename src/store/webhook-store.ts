// The outbound webhooks' part of the system of record (both dialects implement it): endpoints, and
// the deliveries that the write-behind creates inside its batches (webhooks/outbox.ts). Operator
// routes use the first half, from whichever worker took the request; the sender (its own thread) uses
// the second, claiming deliveries under a lease so that only one sender delivers a given delivery
// and one that dies leaves its claims to another once the lease ends.

import type { DeliveryStatus, WebhookEventType } from "../webhooks/event-types.ts";

export type WebhookEndpoint = { id: string; url: string; events: WebhookEventType[]; createdAt: number };
/** The secret is stored to sign deliveries; the API shows it once, when the endpoint is registered. */
export type WebhookEndpointWithSecret = WebhookEndpoint & { secret: string };

export type WebhookDelivery = {
  endpointId: string;
  /** The event's id: the delivery's id within its endpoint, and the body's `id`. */
  id: string;
  type: WebhookEventType;
  status: DeliveryStatus;
  sequence: number;
  attempts: number;
  eventAt: number;
  createdAt: number;
  /** When the next attempt is due (null unless pending). */
  nextAttemptAt: number | null;
  lastAttemptAt: number | null;
  /** The HTTP status of the last answer; null when there was none (refused, timed out). */
  lastStatus: number | null;
  lastError: string | null;
  deliveredAt: number | null;
  /** The body exactly as sent (or to be sent); null only when it cannot be made (its reservation is missing). */
  payload: string | null;
};

export type DeliveryQuery = {
  status?: DeliveryStatus;
  /** 1..1000 */
  limit: number;
  /** Opaque: the id of the last delivery of the previous page. */
  cursor?: string;
};

export type DeliveryPage = { deliveries: WebhookDelivery[]; nextCursor: string | null };

/** A delivery a sender claimed: what it needs to send it and to record the outcome. */
export type ClaimedDelivery = {
  endpointId: string;
  id: string;
  sequence: number;
  payload: string;
  /** Attempts before this one. */
  attempts: number;
  /** When its retry window began (creation, or the operator's last retry). */
  windowStartedAt: number;
  eventAt: number;
  /** The lease this claim set; the outcome is recorded only while the claim is still this one. */
  claimedUntil: number;
  /** Whether the body was stored already; if not, it was made for this claim and the outcome stores it. */
  bodyStored: boolean;
};

/** The result of one attempt. `nextAttemptAt` null after a failure means the window is over: failed. */
export type DeliveryOutcome = {
  endpointId: string;
  id: string;
  claimedBy: string;
  claimedUntil: number;
  at: number;
  delivered: boolean;
  status: number | null;
  error: string | null;
  nextAttemptAt: number | null;
  /** The body as sent, to keep when the delivery had none stored (its first attempt); null otherwise. */
  body: string | null;
};

export interface WebhookStore {
  /** Register an endpoint unless `endpointsMax` live ones exist already (false then). */
  createEndpoint(endpoint: WebhookEndpointWithSecret, endpointsMax: number): Promise<boolean>;
  /** Live endpoints, oldest first. */
  listEndpoints(): Promise<WebhookEndpoint[]>;
  endpoint(id: string): Promise<WebhookEndpoint | null>;
  /**
   * Delete a live endpoint: no event is created for it from then on, nothing more is sent to it, and
   * its deliveries go with the sender's next prune (a request never deletes a whole backlog). False
   * when there is no such live endpoint.
   */
  deleteEndpoint(id: string, now: number): Promise<boolean>;
  /**
   * An endpoint's deliveries: by event id (the order events were made, per journal), or, for the
   * pending ones, in the order they will be sent (due time, then sequence).
   */
  listDeliveries(endpointId: string, query: DeliveryQuery): Promise<DeliveryPage>;
  delivery(endpointId: string, id: string): Promise<WebhookDelivery | null>;
  /**
   * Send a delivery again: pending, due now, with a fresh retry window (a delivery being sent right
   * now is left to that attempt). Null when there is no such delivery.
   */
  retryDelivery(endpointId: string, id: string, now: number): Promise<WebhookDelivery | null>;

  /** Live endpoints with their secrets, for the sender. */
  senderEndpoints(): Promise<WebhookEndpointWithSecret[]>;
  /**
   * Claim up to `limit` due deliveries of the endpoint, in order (due time, then sequence), for
   * `claimedBy` until `claimedUntil`. A claimed delivery is due again when its lease ends.
   */
  claimDeliveries(endpointId: string, claimedBy: string, now: number, claimedUntil: number, limit: number): Promise<ClaimedDelivery[]>;
  /** Record attempts' outcomes in one transaction; an outcome whose claim has moved on is dropped. */
  recordOutcomes(outcomes: readonly DeliveryOutcome[]): Promise<void>;
  /** Hand back every claim of `claimedBy` (a sender that starts, or stops), due at `now`. */
  releaseClaims(claimedBy: string, now: number): Promise<number>;
  /** When the oldest event not yet delivered (pending) happened, over every live endpoint; null when none. */
  oldestPendingEventAt(): Promise<number | null>;
  /** Delete up to `limit` deliveries of deleted endpoints, and delivered ones whose event is older than `before`. */
  pruneDelivered(before: number, limit: number): Promise<number>;
}
