// One message of the operator stream (`GET /v1/admin/stream`): every sale as the admin view shows it,
// the server-wide counters the dashboard turns into per-second rates and latencies (taken from the
// `/metrics` text), and the server's health (what `/readyz` says, plus backlogs and shedding).
// Counters are cumulative since the server started; the page differences consecutive messages.

import type { AdminSaleView } from "../../ledger/views.ts";
import { type Sample, has, parseSamples, sumOf } from "./prometheus-text.ts";

/** Sales sent per message; past it the stream says how many it left out instead of growing without bound. */
export const STREAM_SALES_MAX = 500;

/** The hold route as the HTTP latency histogram labels it; a 201 there is an acknowledged hold. */
const HOLD_ROUTE = "/v1/sales/:saleId/reservations";

const COMMANDS = "stampede_commands_total";
/** Every refused hold, wherever it was decided (gate, a worker's copy, the owner), by problem code. */
const REFUSALS = "stampede_hold_refusals_total";
const HTTP_SECONDS = "stampede_http_request_duration_seconds";
const SHED = "stampede_shed_requests";
const BACKLOG = "stampede_write_behind_backlog_events";
const WRITE_BEHIND_LAG = "stampede_write_behind_lag_seconds";
const LOOP_LAG = "stampede_event_loop_lag_seconds";
const FORWARD_QUEUE = "stampede_forward_queue_depth";
const RESIDENT_MEMORY = "process_resident_memory_bytes";
const METRIC_PREFIXES = [
  COMMANDS,
  REFUSALS,
  `${HTTP_SECONDS}_bucket`,
  `${HTTP_SECONDS}_sum`,
  `${HTTP_SECONDS}_count`,
  SHED,
  BACKLOG,
  WRITE_BEHIND_LAG,
  LOOP_LAG,
  FORWARD_QUEUE,
  RESIDENT_MEMORY,
];

export type Readiness = { ready: boolean; reasons: string[]; journalBacklog: number; storeError: string | null };

export type DashboardSale = AdminSaleView & {
  /** The items' units added up, for the sale's headline numbers. */
  totals: { stock: number; available: number; held: number; confirmed: number };
};

export type DashboardCounters = {
  /** Holds the ledgers acknowledged. */
  holds: number;
  /** Payments that confirmed a reservation (`confirmed` and `confirmed_late`). */
  confirmations: number;
  refundsRequired: number;
  /** Holds refused, by problem code, wherever refused: 401s and 429s at the door and shed holds included. */
  refusals: Record<string, number>;
  /** Latency of acknowledged holds (201), as cumulative histogram buckets: [upper bound in s, count]. */
  holdLatency: { count: number; sumSeconds: number; buckets: [number, number][] };
};

export type DashboardHealth = Readiness & {
  /** Worker processes reporting metrics; null where the metrics do not say. */
  workers: number | null;
  writeBehindBacklogEvents: number;
  writeBehindLagSeconds: number | null;
  /** Requests refused by admission control since start, by kind (holds, reads, streams). */
  shed: Record<string, number>;
  eventLoopLagSeconds: number | null;
  residentMemoryBytes: number | null;
};

export type DashboardSnapshot = {
  sales: DashboardSale[];
  salesOmitted: number;
  counters: DashboardCounters;
  health: DashboardHealth;
  /** Why the sales could not be read this time (they are then the last ones read), or null. */
  salesError: string | null;
};

export function dashboardSale(view: AdminSaleView): DashboardSale {
  const totals = { stock: 0, available: 0, held: 0, confirmed: 0 };
  for (const item of view.items) {
    totals.stock += item.stock;
    totals.available += item.available;
    totals.held += item.held;
    totals.confirmed += item.confirmed;
  }
  return { ...view, totals };
}

export function buildSnapshot(input: {
  sales: readonly AdminSaleView[];
  salesError: string | null;
  readiness: Readiness;
  metricsText: string;
}): DashboardSnapshot {
  const samples = parseSamples(input.metricsText, METRIC_PREFIXES);
  const shown = input.sales.slice(0, STREAM_SALES_MAX);
  return {
    sales: shown.map(dashboardSale),
    salesOmitted: input.sales.length - shown.length,
    counters: counters(samples),
    health: health(samples, input.readiness),
    salesError: input.salesError,
  };
}

function counters(samples: readonly Sample[]): DashboardCounters {
  const refusals: Record<string, number> = {};
  let holds = 0;
  let confirmations = 0;
  let refundsRequired = 0;
  for (const sample of samples) {
    if (sample.name === REFUSALS) {
      const code = sample.labels.code;
      if (code !== undefined) refusals[code] = (refusals[code] ?? 0) + sample.value;
      continue;
    }
    if (sample.name !== COMMANDS) continue;
    const { command, outcome } = sample.labels;
    if (outcome === undefined) continue;
    if (command === "hold") {
      if (outcome === "ok") holds += sample.value;
    } else if (command === "payment") {
      if (outcome === "confirmed" || outcome === "confirmed_late") confirmations += sample.value;
      else if (outcome === "refund_required") refundsRequired += sample.value;
    }
  }
  return { holds, confirmations, refundsRequired, refusals, holdLatency: holdLatency(samples) };
}

function holdLatency(samples: readonly Sample[]): DashboardCounters["holdLatency"] {
  const where = { route: HOLD_ROUTE, status: "201" };
  // Summed by bound across any other label (a worker label, say); +Inf is `count`, so it is left out.
  const byBound = new Map<number, number>();
  for (const sample of samples) {
    if (sample.name !== `${HTTP_SECONDS}_bucket` || sample.labels.route !== where.route || sample.labels.status !== where.status) {
      continue;
    }
    const bound = Number(sample.labels.le);
    if (!Number.isFinite(bound)) continue;
    byBound.set(bound, (byBound.get(bound) ?? 0) + sample.value);
  }
  return {
    count: sumOf(samples, `${HTTP_SECONDS}_count`, where),
    sumSeconds: sumOf(samples, `${HTTP_SECONDS}_sum`, where),
    buckets: [...byBound.entries()].sort((a, b) => a[0] - b[0]),
  };
}

function health(samples: readonly Sample[], readiness: Readiness): DashboardHealth {
  const workerLabels = new Set<string>();
  for (const sample of samples) if (sample.labels.worker !== undefined) workerLabels.add(sample.labels.worker);
  // Without a worker label, a server with no forwarding queue is one process; a cluster's size is unknown.
  const workers = workerLabels.size > 0 ? workerLabels.size : has(samples, FORWARD_QUEUE) ? null : 1;
  const shed: Record<string, number> = {};
  for (const sample of samples) {
    const kind = sample.labels.kind;
    if (sample.name === SHED && kind !== undefined) shed[kind] = (shed[kind] ?? 0) + sample.value;
  }
  return {
    ready: readiness.ready,
    reasons: readiness.reasons,
    journalBacklog: readiness.journalBacklog,
    storeError: readiness.storeError,
    workers,
    writeBehindBacklogEvents: has(samples, BACKLOG) ? sumOf(samples, BACKLOG) : readiness.journalBacklog,
    // Rounded, so that an idle server's jitter does not count as a change worth a message.
    writeBehindLagSeconds: maxOf(samples, WRITE_BEHIND_LAG, 0.1),
    shed,
    eventLoopLagSeconds: maxOf(samples, LOOP_LAG, 0.05),
    // To 4 MiB: an idle process's RSS wanders by a MiB or two (allocator, timers), not worth a message.
    residentMemoryBytes: has(samples, RESIDENT_MEMORY) ? roundTo(sumOf(samples, RESIDENT_MEMORY), 4 * 1024 * 1024) : null,
  };
}

/** The largest sample of a gauge (a lag is as bad as the worst worker's), rounded to `step`; null when absent. */
function maxOf(samples: readonly Sample[], name: string, step: number): number | null {
  let max: number | null = null;
  for (const sample of samples) if (sample.name === name && (max === null || sample.value > max)) max = sample.value;
  return max === null ? null : roundTo(max, step);
}

function roundTo(value: number, step: number): number {
  return Math.round(Math.round(value / step) * step * 1000) / 1000;
}
