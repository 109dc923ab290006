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
 * A lease covers this many rounds of the endpoint's concurrency, each up to the timeout. A lane may
 * hold more than that claimed when its endpoint answers fast; should it slow down, what is queued
 * past its lease's reach is not sent (dispatch checks) and is claimed again once the lease ends.
 */
const LEASE_ROUNDS = 16;
/**
 * A lane claims what it sends in this long at its recent pace (at least LEASE_ROUNDS rounds, at most
 * CLAIM_MAX), so that one claim's round trip serves thousands of deliveries a second...
 */
const CLAIM_AHEAD_MS = 500;
const CLAIM_MAX = 4_096;
/** ...and claims again once what it holds would last less than this, so the next claim overlaps the sends. */
const CLAIM_LOW_MS = 100;
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
  /** Claimed deliveries not sent yet: queue[head..]. */
  queue: ClaimedDelivery[];
  head: number;
  inFlight: number;
  /** Deliveries this lane finished a second (smoothed), and the count since `countedSince`. */
  rate: number;
  finished: number;
  countedSince: number;
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
  /** The last tick could not read the store (logged once; ticks then pause a second). */
  private storeAway = false;
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
    let next = this.options.pollMs;
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
      if (this.storeAway) {
        this.storeAway = false;
        this.log("info", "webhook sender reads the store again");
      }
    } catch (error) {
      // Once per outage, and then a pause between tries: every 50 ms, a store that is away (a
      // PostgreSQL outage) cost a connection attempt and a log line each, 11% of a core in all.
      if (!this.storeAway) this.log("warn", "webhook sender cannot read the store; trying again every second", { error: String(error) });
      this.storeAway = true;
      next = STORE_ERROR_PAUSE_MS;
    }
    for (const lane of this.lanes.values()) void this.fill(lane);
    if (!this.stopping) this.tickTimer = setTimeout(() => void this.tick(), next);
  }

  private async refreshEndpoints(now: number): Promise<void> {
    const endpoints = await this.store.senderEndpoints();
    this.lastEndpointsAt = now;
    const live = new Set<string>();
    for (const endpoint of endpoints) {
      live.add(endpoint.id);
      const lane = this.lanes.get(endpoint.id);
      if (lane === undefined) {
        this.lanes.set(endpoint.id, { endpoint, queue: [], head: 0, inFlight: 0, rate: 0, finished: 0, countedSince: now, claiming: false, idleUntil: 0 });
      }
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
    if (now - lane.countedSince >= 1_000) {
      lane.rate = lane.rate / 2 + (lane.finished * 1_000) / (now - lane.countedSince) / 2;
      lane.finished = 0;
      lane.countedSince = now;
    }
    const held = lane.queue.length - lane.head + lane.inFlight;
    if (held >= Math.max(2 * concurrency, Math.ceil((lane.rate * CLAIM_LOW_MS) / 1_000))) return;
    const limit = Math.min(CLAIM_MAX, Math.max(concurrency * LEASE_ROUNDS, Math.ceil((lane.rate * CLAIM_AHEAD_MS) / 1_000))) - held;
    if (limit <= 0) return;
    const claimedUntil = now + this.options.timeoutMs * (LEASE_ROUNDS + 1) + LEASE_MARGIN_MS;
    lane.claiming = true;
    try {
      const claimed = await this.store.claimDeliveries(lane.endpoint.id, this.name, now, claimedUntil, limit);
      if (claimed.length === 0) lane.idleUntil = now + this.options.pollMs;
      // Drop what was sent before appending, so the array does not grow without end.
      if (lane.head > 0) {
        lane.queue = lane.queue.slice(lane.head);
        lane.head = 0;
      }
      for (const delivery of claimed) lane.queue.push(delivery);
    } catch (error) {
      lane.idleUntil = now + STORE_ERROR_PAUSE_MS;
      this.log("warn", "webhook claim failed", { endpoint: lane.endpoint.id, error: String(error) });
    } finally {
      lane.claiming = false;
    }
    this.dispatch(lane);
  }

  private dispatch(lane: Lane): void {
    while (lane.inFlight < this.options.concurrency && lane.head < lane.queue.length && !this.stopping) {
      const delivery = lane.queue[lane.head] as ClaimedDelivery;
      lane.head += 1;
      // A claim whose lease could end before this attempt does is left alone: it may be another's by then.
      if (Date.now() + this.options.timeoutMs > delivery.claimedUntil) continue;
      lane.inFlight += 1;
      const send = this.send(lane, delivery).finally(() => {
        this.sends.delete(send);
        lane.inFlight -= 1;
        lane.finished += 1;
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
    // A body made for this claim is kept with the outcome: every later attempt sends these bytes.
    const body = delivery.bodyStored ? null : delivery.payload;
    this.outcomes.push({ endpointId, id, claimedBy: this.name, claimedUntil, at, ...result, nextAttemptAt, body });
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
