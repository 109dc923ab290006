// The sender: delivers what the outbox committed (webhooks/outbox.ts), off the hot path, in its own
// thread (sender-thread.ts). Per endpoint it claims due deliveries in order under a lease, keeps at
// most `concurrency` requests in flight, and records outcomes in batches. A failed attempt is retried
// after a growing, fully jittered delay until the retry window (24 h) is over; then it is `failed`.
//
// At least once, never lost: a delivery leaves `pending` only through an outcome recorded after a
// 2xx (or the end of its window). A sender that dies leaves its claims behind; they are due again when
// their lease ends, and at once when a sender of the same name starts (it releases its own claims
// first: the previous holder of the name is gone). Several senders (nodes) share the work through
// their claims, which never overlap.

import type { ClaimedDelivery, DeliveryOutcome, WebhookEndpointWithSecret, WebhookStore } from "../store/webhook-store.ts";
import { attemptDelivery } from "./attempt.ts";
import { type SenderOptions, retryDelayMs } from "./sender-options.ts";

/**
 * A lane claims again once fewer than this many rounds of its concurrency are queued, so that the
 * next claim's round trip overlaps the sends still queued instead of leaving the lane idle...
 */
const CLAIM_LOW_ROUNDS = 2;
/** ...and holds at most this many rounds claimed (its lease covers them all). */
const CLAIM_ROUNDS = 16;
/** Added to a lease beyond the time its deliveries can take, for the outcome to reach the store. */
const LEASE_MARGIN_MS = 5_000;
/** Outcomes wait this long to be recorded together (a killed sender resends at most these). */
const OUTCOME_FLUSH_MS = 50;
/** Past this many outcomes not yet recorded (the store is away), nothing more is claimed. */
const OUTCOMES_PENDING_MAX = 20_000;
const ENDPOINTS_REFRESH_MS = 1_000;
/** The oldest pending event is read from the whole pending part of an index: not more often than this. */
const OLDEST_REFRESH_MS = 5_000;
const PRUNE_INTERVAL_MS = 60_000;
const PRUNE_ROWS_MAX = 5_000;
/** After a store error, an endpoint's claims pause this long. */
const STORE_ERROR_PAUSE_MS = 1_000;

/** What the sender has done since it started (the thread reports it to /metrics). */
export type SenderCounters = {
  delivered: number;
  /** Attempts that failed and will be retried. */
  retrying: number;
  /** Deliveries that failed for good (their window ended). */
  failed: number;
  /** Attempts that were retries (not a delivery's first). */
  retries: number;
};

type Lane = {
  endpoint: WebhookEndpointWithSecret;
  queue: ClaimedDelivery[];
  inFlight: number;
  claiming: boolean;
  /** No claim before this time (nothing was due, or the store failed). */
  idleUntil: number;
};

export type SenderLog = (level: "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>) => void;

export class WebhookSender {
  readonly counters: SenderCounters = { delivered: 0, retrying: 0, failed: 0, retries: 0 };
  /** Seconds from event to recorded delivery, since the last drain (the thread turns them into a histogram). */
  lagSeconds: number[] = [];
  /** When the oldest pending event happened, as of the last check; null when none. */
  oldestPendingAt: number | null = null;
  private readonly lanes = new Map<string, Lane>();
  private outcomes: DeliveryOutcome[] = [];
  private flushing: Promise<void> | null = null;
  private flushTimer: ReturnType<typeof setTimeout> | null = null;
  private tickTimer: ReturnType<typeof setTimeout> | null = null;
  private stopping = false;
  private readonly sends = new Set<Promise<void>>();
  private lastEndpointsAt = 0;
  private lastOldestAt = 0;
  private lastPruneAt = 0;

  constructor(
    private readonly store: WebhookStore,
    private readonly options: SenderOptions,
    /** This sender's name in claims; stable across restarts of the same sender. */
    private readonly name: string,
    private readonly userAgent: string,
    private readonly log: SenderLog = () => {},
  ) {}

  /** Take back what an earlier run of this sender had claimed, then start delivering. */
  async start(): Promise<void> {
    const released = await this.store.releaseClaims(this.name, Date.now());
    if (released > 0) this.log("info", "webhook claims of an earlier run released", { deliveries: released });
    this.lastPruneAt = Date.now();
    void this.tick();
  }

  /** Stop claiming, let the attempts in flight finish (each within the timeout), record, release the rest. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.tickTimer !== null) clearTimeout(this.tickTimer);
    await Promise.all([...this.sends]);
    await this.flush();
    await this.store.releaseClaims(this.name, Date.now()).catch(() => 0);
  }

  get inFlight(): number {
    let total = 0;
    for (const lane of this.lanes.values()) total += lane.inFlight;
    return total;
  }

  private async tick(): Promise<void> {
    if (this.stopping) return;
    const now = Date.now();
    try {
      if (now - this.lastEndpointsAt >= ENDPOINTS_REFRESH_MS) await this.refreshEndpoints(now);
      if (now - this.lastOldestAt >= OLDEST_REFRESH_MS) {
        this.lastOldestAt = now;
        this.oldestPendingAt = await this.store.oldestPendingEventAt();
      }
      if (now - this.lastPruneAt >= PRUNE_INTERVAL_MS) {
        this.lastPruneAt = now;
        await this.store.pruneDelivered(now - this.options.retentionMs, PRUNE_ROWS_MAX);
      }
    } catch (error) {
      this.log("warn", "webhook sender cannot read the store", { error: String(error) });
    }
    for (const lane of this.lanes.values()) void this.fill(lane);
    if (!this.stopping) this.tickTimer = setTimeout(() => void this.tick(), this.options.pollMs);
  }

  private async refreshEndpoints(now: number): Promise<void> {
    const endpoints = await this.store.senderEndpoints();
    this.lastEndpointsAt = now;
    const live = new Set<string>();
    for (const endpoint of endpoints) {
      live.add(endpoint.id);
      const lane = this.lanes.get(endpoint.id);
      if (lane === undefined) this.lanes.set(endpoint.id, { endpoint, queue: [], inFlight: 0, claiming: false, idleUntil: 0 });
      else lane.endpoint = endpoint;
    }
    // A deleted endpoint gets nothing more; what was queued for it is dropped with its lane.
    for (const id of this.lanes.keys()) if (!live.has(id)) this.lanes.delete(id);
  }

  /** Claim more of the lane's due deliveries when it has room, then send. */
  private async fill(lane: Lane): Promise<void> {
    const { concurrency } = this.options;
    const now = Date.now();
    if (this.stopping || lane.claiming || now < lane.idleUntil || this.outcomes.length >= OUTCOMES_PENDING_MAX) return;
    const held = lane.queue.length + lane.inFlight;
    if (held >= concurrency * CLAIM_LOW_ROUNDS) return;
    const limit = concurrency * CLAIM_ROUNDS - held;
    // Each claimed delivery may wait for every round ahead of it in the lane, each up to the timeout.
    const claimedUntil = now + this.options.timeoutMs * (Math.ceil((held + limit) / concurrency) + 1) + LEASE_MARGIN_MS;
    lane.claiming = true;
    try {
      const claimed = await this.store.claimDeliveries(lane.endpoint.id, this.name, now, claimedUntil, limit);
      if (claimed.length === 0) lane.idleUntil = now + this.options.pollMs;
      lane.queue.push(...claimed);
    } catch (error) {
      lane.idleUntil = now + STORE_ERROR_PAUSE_MS;
      this.log("warn", "webhook claim failed", { endpoint: lane.endpoint.id, error: String(error) });
    } finally {
      lane.claiming = false;
    }
    this.dispatch(lane);
  }

  private dispatch(lane: Lane): void {
    while (lane.inFlight < this.options.concurrency && lane.queue.length > 0 && !this.stopping) {
      const delivery = lane.queue.shift() as ClaimedDelivery;
      // A claim whose lease could end before this attempt does is left alone: it may be another's by then.
      if (Date.now() + this.options.timeoutMs > delivery.claimedUntil) continue;
      lane.inFlight += 1;
      const send = this.send(lane, delivery).finally(() => {
        this.sends.delete(send);
        lane.inFlight -= 1;
        this.dispatch(lane);
        if (this.lanes.get(lane.endpoint.id) === lane) void this.fill(lane);
      });
      this.sends.add(send);
    }
  }

  private async send(lane: Lane, delivery: ClaimedDelivery): Promise<void> {
    const result = await attemptDelivery(lane.endpoint, delivery.payload, this.options.timeoutMs, this.userAgent);
    const at = Date.now();
    let nextAttemptAt: number | null = null;
    if (delivery.attempts > 0) this.counters.retries += 1;
    if (result.delivered) {
      this.counters.delivered += 1;
      this.lagSeconds.push(Math.max(0, at - delivery.eventAt) / 1000);
    } else {
      const next = at + retryDelayMs(this.options, delivery.attempts + 1);
      if (next <= delivery.windowStartedAt + this.options.retryWindowMs) {
        nextAttemptAt = next;
        this.counters.retrying += 1;
      } else {
        this.counters.failed += 1;
      }
    }
    const { endpointId, id, claimedUntil } = delivery;
    this.outcomes.push({ endpointId, id, claimedBy: this.name, claimedUntil, at, ...result, nextAttemptAt });
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushTimer !== null || this.flushing !== null) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = null;
      void this.flush();
    }, OUTCOME_FLUSH_MS);
  }

  /** Record every outcome gathered so far (one transaction); kept for a later try should it fail. */
  private async flush(): Promise<void> {
    while (this.flushing !== null) await this.flushing;
    if (this.outcomes.length === 0) return;
    const batch = this.outcomes;
    this.outcomes = [];
    let failed = false;
    this.flushing = this.store.recordOutcomes(batch).catch((error: unknown) => {
      failed = true;
      this.outcomes = batch.concat(this.outcomes);
      this.log("warn", "webhook outcomes not recorded; retrying", { outcomes: batch.length, error: String(error) });
    });
    await this.flushing;
    this.flushing = null;
    if (this.outcomes.length === 0 || this.stopping) return;
    if (failed) setTimeout(() => void this.flush(), STORE_ERROR_PAUSE_MS);
    else this.scheduleFlush();
  }
}
