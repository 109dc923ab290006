// The webhook sender's metrics, registered on the worker that runs it: deliveries by outcome,
// retries, delivery lag, attempts in flight and the age of the oldest event not yet delivered.

import type { Registry } from "../metrics/registry.ts";
import type { WebhookSenderThread } from "./sender-handle.ts";

/** From a few milliseconds to the hours a dead endpoint's backlog can wait. */
const LAG_BUCKETS_SECONDS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600, 86_400];

export function watchWebhookSender(registry: Registry, sender: WebhookSenderThread, now: () => number = Date.now): void {
  const deliveries = registry.counter({
    name: "stampede_webhook_deliveries_total",
    help: "Webhook delivery attempts by outcome: delivered (2xx), retrying (failed, retried later), failed (its 24 h window ended).",
    labelNames: ["outcome"],
  });
  const byOutcome = { delivered: deliveries.labels("delivered"), retrying: deliveries.labels("retrying"), failed: deliveries.labels("failed") };
  const retries = registry.counter({
    name: "stampede_webhook_retries_total",
    help: "Webhook delivery attempts that were retries of an earlier failed attempt.",
  });
  registry.gauge({
    name: "stampede_webhook_oldest_undelivered_seconds",
    help: "Age of the oldest event not yet delivered to a live endpoint (0 when none).",
    merge: "max",
    collect: () => (sender.oldestPendingAt === null ? 0 : Math.max(0, now() - sender.oldestPendingAt) / 1000),
  });
  registry.gauge({
    name: "stampede_webhook_in_flight",
    help: "Webhook requests waiting for an answer now.",
    collect: () => sender.inFlight,
  });
  const lag = registry.histogram({
    name: "stampede_webhook_delivery_lag_seconds",
    help: "Time from an event to the 2xx that delivered it, retries included.",
    buckets: LAG_BUCKETS_SECONDS,
  });
  sender.onReport = (report, before) => {
    const delta = (key: keyof typeof before) => Math.max(0, report.counters[key] - before[key]);
    byOutcome.delivered.inc(delta("delivered"));
    byOutcome.retrying.inc(delta("retrying"));
    byOutcome.failed.inc(delta("failed"));
    retries.inc(delta("retries"));
    for (const seconds of report.lagSeconds) lag.observe(seconds);
  };
}
