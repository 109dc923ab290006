// Every metric the server exports, defined in one place. Hot-path children are bound once here so
// that counting a hold costs one addition; per-sale gauges and backlogs are read at scrape time.
//
// Every series carries `worker`, the index of the worker process that reports it ("0" for a lone
// server). Counters and histograms add up across workers with `sum without (worker)`; gauges that
// mean something per process only (event-loop lag, memory, CPU, the forward queue) stay apart; and a
// restarted worker's counters starting again from 0 show as that worker's, not as a dip in a sum.

import { readdirSync } from "node:fs";
import type { OwnerMetrics } from "../engine/owner-metrics.ts";
import type { SaleOwner } from "../engine/sale-owner.ts";
import type { SaleCommand } from "../ledger/types.ts";
import { type Counter, type CounterChild, type Gauge, type Histogram, type HistogramChild, LATENCY_BUCKETS_SECONDS, Registry } from "./registry.ts";

const QUEUE_WAIT_BUCKETS_SECONDS = [0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];
const COMMIT_BUCKETS_SECONDS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5];

/** Where a hold's refusal was decided (stampede_hold_refusals_total's `decided_by`). */
export type RefusalSite = "gate" | "copy" | "owner";

/** What the ledger answers a payment: outcomes, none of them a refusal of the request. */
const PAYMENT_OUTCOMES: ReadonlySet<string> = new Set(["confirmed", "already_confirmed", "confirmed_late", "refund_required", "ignored"]);

type OutcomeChildren = { outcome: CounterChild; refusal: CounterChild | null };

export class ServerMetrics implements OwnerMetrics {
  readonly registry: Registry;
  readonly httpSeconds: Histogram<"route" | "status">;
  readonly eventLoopLag: Gauge;
  private readonly outcomes: Counter<"command" | "outcome">;
  private readonly holdRefusals: Counter<"code" | "decided_by">;
  private readonly commitSeconds: Histogram;
  private readonly commitEvents: Counter;
  private readonly snapshotBytes: Counter;
  private readonly snapshotSeconds: Histogram;
  private readonly expiredHolds: Counter;
  private readonly queueJoins: Counter<"outcome">;
  private readonly queueAdmissions: Counter;
  private readonly queueWaitSeconds: Histogram;
  private readonly queueJoinChildren = new Map<string, CounterChild>();
  private readonly queuePolls: Counter<"answered_by">;
  /** Per command kind and outcome code: its commands_total child and, for a refused hold, its refusals child. */
  private readonly outcomeChildren = new Map<string, Map<string, OutcomeChildren>>();
  private readonly refusalChildren = new Map<string, CounterChild>();
  private readonly httpChildren = new Map<string, HistogramChild>();

  constructor(options: { worker?: number } = {}) {
    const registry = new Registry({ labels: { worker: String(options.worker ?? 0) } });
    this.registry = registry;
    this.outcomes = registry.counter({
      name: "stampede_commands_total",
      help: "Ledger commands decided by this worker as a sale's owner, by command kind and outcome (ok, a refusal's code, or a payment's outcome).",
      labelNames: ["command", "outcome"],
    });
    this.holdRefusals = registry.counter({
      name: "stampede_hold_refusals_total",
      help:
        "Holds refused, by problem code and where the refusal was decided: gate (credentials, address limit, shedding, " +
        "a malformed request: before any sale is looked at), copy (sold_out from this worker's copy of a sale another " +
        "worker owns), owner (the sale's ledger, the buyer's limit, or an owner that cannot decide now).",
      labelNames: ["code", "decided_by"],
    });
    this.commitSeconds = registry.histogram({
      name: "stampede_journal_commit_seconds",
      help: "Time of one group commit to the journal.",
      buckets: COMMIT_BUCKETS_SECONDS,
    });
    this.commitEvents = registry.counter({ name: "stampede_journal_events_total", help: "Events committed to the journal." });
    this.snapshotBytes = registry.counter({
      name: "stampede_snapshot_bytes_total",
      help: "Bytes of sale snapshots written (they let the journal be truncated).",
    });
    this.snapshotSeconds = registry.histogram({
      name: "stampede_snapshot_seconds",
      help: "Time the request thread spent copying a sale into a snapshot.",
      buckets: COMMIT_BUCKETS_SECONDS,
    });
    this.expiredHolds = registry.counter({ name: "stampede_holds_expired_total", help: "Holds that expired unpaid and returned their stock." });
    this.queueJoins = registry.counter({
      name: "stampede_queue_joins_total",
      help: "Joins of waiting rooms decided by this worker as the sales' owner, by outcome: waiting, admitted (at once), kept (joined again), or a refusal's code.",
      labelNames: ["outcome"],
    });
    this.queuePolls = registry.counter({
      name: "stampede_queue_polls_total",
      help:
        "Waiting-room polls a worker of a cluster answered, by where the answer came from: copy (this worker's copy of a sale " +
        "another worker owns: the serving counter and the buyer's remembered rank), owner (this worker owns the sale), " +
        "forwarded (asked the owner: a buyer new to this worker, or one the counter has reached).",
      labelNames: ["answered_by"],
    });
    this.queueAdmissions = registry.counter({
      name: "stampede_queue_admissions_total",
      help: "Buyers admitted from waiting rooms (its rate is the admission rate).",
    });
    this.queueWaitSeconds = registry.histogram({
      name: "stampede_queue_wait_seconds",
      help: "Time an admitted buyer spent in the waiting room, from joining to admission.",
      buckets: QUEUE_WAIT_BUCKETS_SECONDS,
    });
    this.httpSeconds = registry.histogram({
      name: "stampede_http_request_duration_seconds",
      help: "HTTP request latency by route (its template, or \"unmatched\") and status code.",
      labelNames: ["route", "status"],
      buckets: LATENCY_BUCKETS_SECONDS,
    });
    this.eventLoopLag = registry.gauge({
      name: "stampede_event_loop_lag_seconds",
      help: "How late this worker's event loop ran its last timer.",
      merge: "max",
    });
    this.watchProcess();
  }

  /**
   * The process's own resources, under the names Prometheus' client libraries use, so that the usual
   * dashboards and alerts work: CPU, resident memory, JavaScript heap, open files, start time.
   */
  private watchProcess(): void {
    const registry = this.registry;
    const cpu = () => process.cpuUsage();
    registry.counter({ name: "process_cpu_user_seconds_total", help: "User CPU time spent, in seconds.", collect: () => cpu().user / 1e6 });
    registry.counter({ name: "process_cpu_system_seconds_total", help: "System CPU time spent, in seconds.", collect: () => cpu().system / 1e6 });
    registry.counter({
      name: "process_cpu_seconds_total",
      help: "User and system CPU time spent, in seconds.",
      collect: () => {
        const used = cpu();
        return (used.user + used.system) / 1e6;
      },
    });
    registry.gauge({ name: "process_resident_memory_bytes", help: "Resident memory size in bytes.", collect: () => process.memoryUsage.rss() });
    registry.gauge({
      name: "process_heap_bytes",
      help: "JavaScript heap in bytes, by use: used (live objects and garbage not yet collected) and total (reserved).",
      labelNames: ["use"],
      collect: () => {
        const memory = process.memoryUsage();
        return [
          { labels: ["used"], value: memory.heapUsed },
          { labels: ["total"], value: memory.heapTotal },
        ];
      },
    });
    const startSeconds = Math.round((Date.now() - performance.now()) / 1000);
    registry.gauge({ name: "process_start_time_seconds", help: "Start time of the process since the Unix epoch, in seconds.", collect: () => startSeconds });
    registry.gauge({
      name: "process_open_fds",
      help: "Open file descriptors (sockets, journal and store files); -1 where /proc is not there to count them.",
      collect: () => {
        try {
          return readdirSync("/proc/self/fd").length;
        } catch {
          return -1;
        }
      },
    });
  }

  /** Scrape-time gauges that read the owner's state. */
  watch(owner: SaleOwner): void {
    this.registry.gauge({
      name: "stampede_write_behind_backlog_events",
      help: "Journal events committed but not yet applied to the system of record.",
      collect: () => owner.background.backlog,
    });
    this.registry.gauge({
      name: "stampede_write_behind_lag_seconds",
      help: "Age of the oldest event of the last batch applied to the store, at the time it was applied.",
      collect: () => owner.background.lastLagMs / 1000,
      merge: "max",
    });
    this.registry.gauge({
      name: "stampede_write_behind_rows_total",
      help: "Journal events applied to the system of record since start.",
      collect: () => owner.background.rowsFlushed,
    });
    this.registry.gauge({
      name: "stampede_journal_bytes",
      help: "Bytes of events left in the journal after its last truncation (bounded: flushed and snapshotted batches go).",
      collect: () => owner.background.journalSize.bytes,
    });
    this.registry.gauge({
      name: "stampede_store_unreachable",
      help: "1 while the system of record does not answer the write-behind (holds go on from the journal), 0 while it does.",
      collect: () => (owner.background.connected && owner.background.lastError === null ? 0 : 1),
      merge: "max",
    });
    this.registry.gauge({
      name: "stampede_live_holds",
      help: "Holds held now (live rows of the hold tables), summed over the sales this worker owns.",
      collect: () => owner.liveHolds(),
    });
    this.registry.gauge({
      name: "stampede_queue_waiting",
      help: "Buyers waiting in each waiting room of the sales this worker owns.",
      labelNames: ["sale"],
      collect: () => owner.queue.gauges().map((room) => ({ labels: [room.saleId], value: room.waiting })),
    });
    this.registry.gauge({
      name: "stampede_queue_admitted",
      help: "Admissions issued so far by each waiting room of the sales this worker owns.",
      labelNames: ["sale"],
      collect: () => owner.queue.gauges().map((room) => ({ labels: [room.saleId], value: room.admitted })),
    });
    this.registry.gauge({
      name: "stampede_sale_units",
      help: "Units of each item of the sales this worker owns, by sale, item and state (available, held, confirmed).",
      labelNames: ["sale", "item", "state"],
      seriesMax: 300_000,
      collect: () => owner.unitGauges(),
    });
  }

  /** What admission control has shed since start, by kind (holds, reads, streams). */
  watchAdmission(admission: { shed: { holds: number; reads: number; streams: number } }): void {
    this.registry.gauge({
      name: "stampede_shed_requests",
      help: "Requests refused by admission control since start, by kind: holds and reads shed (503 overloaded), streams refused (429 past the per-address bound, 503 past the total).",
      labelNames: ["kind"],
      collect: () => [
        { labels: ["holds"], value: admission.shed.holds },
        { labels: ["reads"], value: admission.shed.reads },
        { labels: ["streams"], value: admission.shed.streams },
      ],
    });
  }

  /** Scrape-time gauges of a worker in a cluster. */
  watchCluster(cluster: {
    forwardQueueDepth(): number;
    peerStates(): { index: number; connected: boolean; inFlight: number; queuedBytes: number; attempts: number; resends: number }[];
  }): void {
    this.registry.gauge({
      name: "stampede_forward_queue_depth",
      help: "Commands this worker forwarded to the owners of their sales and has no answer for yet (or waits to send again); the scrape's own calls are not counted.",
      collect: () => cluster.forwardQueueDepth(),
    });
    const perPeer = (name: string, help: string, value: (peer: ReturnType<typeof cluster.peerStates>[number]) => number) =>
      this.registry.gauge({
        name,
        help,
        labelNames: ["peer"],
        collect: () => cluster.peerStates().map((peer) => ({ labels: [String(peer.index)], value: value(peer) })),
      });
    perPeer("stampede_peer_connected", "1 while this worker is connected to the peer worker (by its index), 0 otherwise.", (p) => (p.connected ? 1 : 0));
    perPeer("stampede_peer_in_flight", "Commands forwarded to the peer waiting for an answer or a resend (bounded by PEER_PENDING_MAX).", (p) => p.inFlight);
    perPeer("stampede_peer_queued_bytes", "Bytes queued on the link to the peer (bounded by LINK_BUFFER_BYTES_MAX).", (p) => p.queuedBytes);
    perPeer("stampede_peer_connect_attempts", "Connection attempts to the peer since start.", (p) => p.attempts);
    perPeer("stampede_peer_resends", "Commands sent to the peer again after it restarted, since start.", (p) => p.resends);
  }

  outcome(kind: SaleCommand["kind"], code: string): void {
    // Two lookups, no string built: this runs once per hold.
    let byCode = this.outcomeChildren.get(kind);
    if (byCode === undefined) this.outcomeChildren.set(kind, (byCode = new Map()));
    let children = byCode.get(code);
    if (children === undefined) {
      const refused = kind === "hold" && code !== "ok" && !PAYMENT_OUTCOMES.has(code);
      children = { outcome: this.outcomes.labels(kind, code), refusal: refused ? this.refusalChild("owner", code) : null };
      byCode.set(code, children);
    }
    children.outcome.inc();
    children.refusal?.inc();
  }

  /** The counter of holds refused with `code` where `site` decided it; bind it once and keep it. */
  refusalChild(site: RefusalSite, code: string): CounterChild {
    const key = `${site}\n${code}`;
    let child = this.refusalChildren.get(key);
    if (child === undefined) this.refusalChildren.set(key, (child = this.holdRefusals.labels(code, site)));
    return child;
  }

  committed(events: number, commitMs: number): void {
    this.commitEvents.inc(events);
    this.commitSeconds.observe(commitMs / 1000);
  }

  queueJoined(code: string): void {
    let child = this.queueJoinChildren.get(code);
    if (child === undefined) this.queueJoinChildren.set(code, (child = this.queueJoins.labels(code)));
    child.inc();
  }

  /** The counters of polls by where they were answered (ClusterGateway's queuePolls). */
  queuePollChildren(): Record<"copy" | "owner" | "forwarded", CounterChild> {
    return { copy: this.queuePolls.labels("copy"), owner: this.queuePolls.labels("owner"), forwarded: this.queuePolls.labels("forwarded") };
  }

  queueAdmitted(count: number, waitedMs: readonly number[]): void {
    this.queueAdmissions.inc(count);
    for (const ms of waitedMs) this.queueWaitSeconds.observe(ms / 1000);
  }

  expired(count: number): void {
    this.expiredHolds.inc(count);
  }

  snapshot(bytes: number, ms: number): void {
    this.snapshotBytes.inc(bytes);
    this.snapshotSeconds.observe(ms / 1000);
  }

  /** A latency recorder for one route, its children bound per status as they first appear. */
  httpRoute(route: string): (status: number, seconds: number) => void {
    const children = new Map<number, HistogramChild>();
    return (status, seconds) => {
      let child = children.get(status);
      if (child === undefined) children.set(status, (child = this.httpSeconds.labels(route, `${status}`)));
      child.observe(seconds);
    };
  }

  observeHttp(route: string, status: number, seconds: number): void {
    const key = `${route}\n${status}`;
    let child = this.httpChildren.get(key);
    if (child === undefined) this.httpChildren.set(key, (child = this.httpSeconds.labels(route, `${status}`)));
    child.observe(seconds);
  }
}
