// Every metric the server exports, defined in one place. Hot-path children are bound once here so
// that counting a hold costs one addition; per-sale gauges and backlogs are read at scrape time.

import type { SaleOwner } from "../engine/sale-owner.ts";
import type { OwnerMetrics } from "../engine/owner-metrics.ts";
import type { SaleCommand } from "../ledger/types.ts";
import { type CounterChild, type HistogramChild, LATENCY_BUCKETS_SECONDS, Registry } from "./registry.ts";

const COMMIT_BUCKETS_SECONDS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5];

export class ServerMetrics implements OwnerMetrics {
  readonly registry = new Registry();
  private readonly outcomes = this.registry.counter({
    name: "stampede_commands_total",
    help: "Ledger commands by kind and outcome code (ok, or the refusal's code).",
    labelNames: ["command", "outcome"],
  });
  private readonly outcomeChildren = new Map<string, Map<string, CounterChild>>();
  private readonly commitSeconds = this.registry.histogram({
    name: "stampede_journal_commit_seconds",
    help: "Time of one group commit to the journal.",
    buckets: COMMIT_BUCKETS_SECONDS,
  });
  private readonly commitEvents = this.registry.counter({
    name: "stampede_journal_events_total",
    help: "Events committed to the journal.",
  });
  private readonly snapshotBytes = this.registry.counter({
    name: "stampede_snapshot_bytes_total",
    help: "Bytes of sale snapshots written (they let the journal be truncated).",
  });
  private readonly snapshotSeconds = this.registry.histogram({
    name: "stampede_snapshot_seconds",
    help: "Time the request thread spent copying a sale into a snapshot.",
    buckets: COMMIT_BUCKETS_SECONDS,
  });
  private readonly expiredHolds = this.registry.counter({
    name: "stampede_holds_expired_total",
    help: "Holds that expired unpaid and returned their stock.",
  });
  readonly httpSeconds = this.registry.histogram({
    name: "stampede_http_request_duration_seconds",
    help: "HTTP request latency by route and status class.",
    labelNames: ["route", "status"],
    buckets: LATENCY_BUCKETS_SECONDS,
  });
  private readonly httpChildren = new Map<string, HistogramChild>();
  readonly eventLoopLag = this.registry.gauge({
    name: "stampede_event_loop_lag_seconds",
    help: "How late the event loop ran its last timer.",
    merge: "max",
  });

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
      help: "Holds held now (live rows of the hold tables), summed over sales.",
      collect: () => owner.liveHolds(),
    });
    this.registry.gauge({
      name: "stampede_sale_units",
      help: "Units of each item by state (available, held, confirmed).",
      labelNames: ["sale", "item", "state"],
      seriesMax: 300_000,
      collect: () => owner.unitGauges(),
    });
  }

  /** What admission control has shed since start, by kind (holds, reads, streams). */
  watchAdmission(admission: { shed: { holds: number; reads: number; streams: number } }): void {
    this.registry.gauge({
      name: "stampede_shed_requests",
      help: "Requests refused by admission control since start (503 overloaded, or 429 for streams per address), by kind.",
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
      help: "Commands forwarded to other workers and not yet answered (or waiting to be sent again).",
      collect: () => cluster.forwardQueueDepth(),
    });
    const perPeer = (name: string, help: string, value: (peer: ReturnType<typeof cluster.peerStates>[number]) => number) =>
      this.registry.gauge({
        name,
        help,
        labelNames: ["peer"],
        collect: () => cluster.peerStates().map((peer) => ({ labels: [String(peer.index)], value: value(peer) })),
      });
    perPeer("stampede_peer_connected", "1 while this worker is connected to the peer worker.", (p) => (p.connected ? 1 : 0));
    perPeer("stampede_peer_in_flight", "Calls to the peer waiting for an answer or a resend (bounded by PEER_PENDING_MAX).", (p) => p.inFlight);
    perPeer("stampede_peer_queued_bytes", "Bytes queued on the link to the peer (bounded by LINK_BUFFER_BYTES_MAX).", (p) => p.queuedBytes);
    perPeer("stampede_peer_connect_attempts", "Connection attempts to the peer since start.", (p) => p.attempts);
    perPeer("stampede_peer_resends", "Commands sent to the peer again after it restarted.", (p) => p.resends);
  }

  outcome(kind: SaleCommand["kind"], code: string): void {
    // Two lookups, no string built: this runs once per hold.
    let byCode = this.outcomeChildren.get(kind);
    if (byCode === undefined) this.outcomeChildren.set(kind, (byCode = new Map()));
    let child = byCode.get(code);
    if (child === undefined) byCode.set(code, (child = this.outcomes.labels(kind, code)));
    child.inc();
  }

  committed(events: number, commitMs: number): void {
    this.commitEvents.inc(events);
    this.commitSeconds.observe(commitMs / 1000);
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
