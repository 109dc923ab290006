// The endpoints the write-behind creates deliveries for, cached per store connection. Registering or
// deleting an endpoint bumps a version number in the store (webhook_state) in the same transaction;
// the apply transaction reads that number in the statement that already reads the journal's
// progress, so the write-behind runs no extra statement per batch, and reloads the list only when the
// number moved. An endpoint registered before a batch's transaction began is in that batch: every
// event acknowledged after its 201 reaches it, on every worker and every node sharing the store.

import { type WebhookEventType, isWebhookEventType } from "./event-types.ts";
import type { Subscription } from "./outbox.ts";

export class SubscriptionCache {
  /** 0 is the version of a store where no endpoint was ever registered (no webhook_state row). */
  private version = 0;
  private list: Subscription[] = [];

  /** Whether the list must be reloaded before use (the store's version differs from the cached one). */
  stale(storeVersion: number | null): boolean {
    return (storeVersion ?? 0) !== this.version;
  }

  replace(storeVersion: number | null, subscriptions: Subscription[]): void {
    this.version = storeVersion ?? 0;
    this.list = subscriptions;
  }

  get subscriptions(): readonly Subscription[] {
    return this.list;
  }
}

/** A stored endpoint row's events column (a JSON array of type names) as a subscription. */
export function subscriptionOf(endpointId: string, eventsJson: string): Subscription {
  const parsed: unknown = JSON.parse(eventsJson);
  const events = new Set<WebhookEventType>();
  if (Array.isArray(parsed)) for (const type of parsed) if (typeof type === "string" && isWebhookEventType(type)) events.add(type);
  return { endpointId, events };
}
