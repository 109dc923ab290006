// Admission control (DESIGN.md, "Protection"; invariant 7): when the process falls behind, new work
// is refused at once with 503 `overloaded` and a jittered Retry-After instead of queueing until every
// answer is late. Work is ranked:
//   - payment webhooks are never shed: a payment that arrives must be applied (invariant 5);
//   - operator routes are never shed: they are few, and they are how an operator gets out of trouble;
//   - reads (the sale document, a buyer's reservations, event streams) are shed only when the event
//     loop is far behind;
//   - new holds are shed first: past a limit on holds in flight, or while the journal is behind.
// The limit on holds in flight adapts to event-loop lag, as TCP's window does to loss: halved while
// the lag is past its bound, grown again by a tenth while it is well under. Shedding every hold as
// soon as the loop is late would be simpler and worse: the loop then spends itself answering 503s to
// clients that ask again at once, lag stays high, and almost nothing is served (measured with
// bench/overload.ts: 5k holds/s served out of a capacity of 30k). A limit that shrinks keeps some
// holds going at every moment, at a latency the bound allows, and sheds only the excess.
// Event streams are bounded too: per client address (429) and in all (503), and they all end when the
// server stops, so that a graceful stop does not wait for clients that never hang up.

import { overloaded } from "./problem.ts";
import { type RateLimitPolicyName, rateLimited } from "./rate-limit-headers.ts";

export type AdmissionLimits = {
  /** The limit on holds in flight shrinks while the event loop runs later than this (seconds). */
  holdLagMaxSeconds: number;
  /** Reads are shed while it runs later than this (seconds). */
  readLagMaxSeconds: number;
  /** Holds admitted and not yet answered, in this process: the limit starts here and never exceeds it... */
  holdsInFlightMax: number;
  /** ...and never shrinks below this, so a single late sample cannot stop every hold. */
  holdsInFlightMin: number;
  /** How often the limit follows the lag (the lag monitor samples every 100 ms). */
  adjustIntervalMs: number;
  /** Ledger events decided and waiting for their journal commit, at this process's owner. */
  pendingEventsMax: number;
  /** Open event streams per client address (429 beyond) and in all (503 beyond). */
  streamsPerAddressMax: number;
  streamsMax: number;
  /** Retry-After is jittered between half and one and a half times this. */
  retryAfterBaseSeconds: number;
};

export const ADMISSION_DEFAULTS: AdmissionLimits = {
  holdLagMaxSeconds: 0.2,
  readLagMaxSeconds: 1,
  // At the ~30k holds a second one worker answers here, 4096 waiting is ~150 ms of queue; more
  // would only make every answer later.
  holdsInFlightMax: Number(process.env.EXP_MAX ?? 4096),
  holdsInFlightMin: Number(process.env.EXP_MIN ?? 64),
  adjustIntervalMs: 100,
  // One group commit takes up to 50000 events (journal/group-commit.ts): beyond that, holds already
  // wait for more than one commit.
  pendingEventsMax: 50_000,
  streamsPerAddressMax: 8,
  streamsMax: 10_000,
  retryAfterBaseSeconds: 1,
};

/** Where the load is read from; each is optional so tests and tools can leave it out. */
export type AdmissionSignals = {
  /** The latest event-loop lag in seconds (startEventLoopLagMonitor's `lagSeconds`). */
  lagSeconds?: () => number;
  /** Events waiting for their journal commit (SaleOwner's `pendingEvents`). */
  pendingEvents?: () => number;
  /** Milliseconds, for the adjustment interval; performance.now by default. */
  now?: () => number;
};

/** One admitted event stream: it ends when `signal` aborts and must call `release` once when it ends. */
export type StreamLease = { signal: AbortSignal; release: () => void };

/** Counters of what was shed, by kind (read by tests; worth exporting as metrics). */
export type ShedCounts = { holds: number; reads: number; streams: number };

export class Admission {
  readonly limits: AdmissionLimits;
  readonly shed: ShedCounts = { holds: 0, reads: 0, streams: 0 };
  private holdsInFlightCount = 0;
  private holdLimit: number;
  private adjustedAtMs = Number.NEGATIVE_INFINITY;
  private sinceAdjusted = { admitted: 0, shed: 0 };
  private readonly now: () => number;
  private streamsOpen = 0;
  private readonly streamsByAddress = new Map<string, number>();
  private readonly closing = new AbortController();

  constructor(
    private readonly signals: AdmissionSignals = {},
    limits: Partial<AdmissionLimits> = {},
  ) {
    const merged = { ...ADMISSION_DEFAULTS, ...limits };
    // A floor above the ceiling (a small max with the default min) means the max.
    this.limits = { ...merged, holdsInFlightMin: Math.min(merged.holdsInFlightMin, merged.holdsInFlightMax) };
    this.holdLimit = this.limits.holdsInFlightMax;
    this.now = signals.now ?? (() => performance.now());
  }

  get holdsInFlight(): number {
    return this.holdsInFlightCount;
  }

  /** The current limit on holds in flight. */
  get holdsInFlightLimit(): number {
    return this.holdLimit;
  }

  get streams(): number {
    return this.streamsOpen;
  }

  get closed(): boolean {
    return this.closing.signal.aborted;
  }

  /** Undefined when a new hold may go ahead; otherwise the 503 to answer. Cheapest checks first. */
  admitHold(): Response | undefined {
    this.followLag();
    let reason: string | undefined;
    if (this.holdsInFlightCount >= this.holdLimit) reason = "Too many holds are waiting for an answer.";
    else if ((this.signals.pendingEvents?.() ?? 0) > this.limits.pendingEventsMax) reason = "The journal is behind.";
    if (reason === undefined) {
      this.sinceAdjusted.admitted += 1;
      return undefined;
    }
    this.sinceAdjusted.shed += 1;
    this.shed.holds += 1;
    const r = overloaded(`${reason} Try again shortly.`, this.limits.retryAfterBaseSeconds);
    if (process.env.EXP_CLOSE === "1") r.headers.set("connection", "close");
    return r;
  }

  /** At most once an interval: halve the limit while the loop is late, grow it while it is well on time. */
  private followLag(): void {
    const lagSeconds = process.env.EXP_NO_LAG === "1" ? undefined : this.signals.lagSeconds;
    if (lagSeconds === undefined) return;
    const now = this.now();
    if (now - this.adjustedAtMs < this.limits.adjustIntervalMs) return;
    this.adjustedAtMs = now;
    const { holdLagMaxSeconds, holdsInFlightMin, holdsInFlightMax } = this.limits;
    const lag = lagSeconds();
    const { admitted, shed } = this.sinceAdjusted;
    this.sinceAdjusted = { admitted: 0, shed: 0 };
    if (lag > holdLagMaxSeconds) {
      if (process.env.EXP_RATIO === "0" || shed <= admitted) this.holdLimit = Math.max(holdsInFlightMin, Math.floor(this.holdLimit / 2));
    } else if (lag < holdLagMaxSeconds / 2 && this.holdLimit < holdsInFlightMax) {
      this.holdLimit = Math.min(holdsInFlightMax, this.holdLimit + Math.max(1, Math.ceil(this.holdLimit / 10)));
    }
  }

  /** Runs an admitted hold, counting it as in flight until it is answered. */
  async hold<T>(work: () => Promise<T>): Promise<T> {
    this.holdsInFlightCount += 1;
    try {
      return await work();
    } finally {
      this.holdsInFlightCount -= 1;
    }
  }

  /** Undefined when a read may go ahead; otherwise the 503 to answer. */
  admitRead(): Response | undefined {
    if ((this.signals.lagSeconds?.() ?? 0) <= this.limits.readLagMaxSeconds) return undefined;
    this.shed.reads += 1;
    return overloaded("The server is far behind. Try again shortly.", this.limits.retryAfterBaseSeconds);
  }

  /** A lease for one more event stream from `address`, or the 429/503 to answer instead. */
  openStream(address: string): StreamLease | Response {
    const limits = this.limits;
    if (this.closed) return overloaded("The server is shutting down.", 2);
    const fromAddress = this.streamsByAddress.get(address) ?? 0;
    if (fromAddress >= limits.streamsPerAddressMax) {
      this.shed.streams += 1;
      return rateLimited(STREAMS, 5, { burst: limits.streamsPerAddressMax, windowSeconds: 0 });
    }
    if (this.streamsOpen >= limits.streamsMax) {
      this.shed.streams += 1;
      return overloaded("Too many open event streams. Try again later.", 5);
    }
    this.streamsOpen += 1;
    this.streamsByAddress.set(address, fromAddress + 1);
    let released = false;
    return {
      signal: this.closing.signal,
      release: () => {
        if (released) return;
        released = true;
        this.streamsOpen -= 1;
        const left = (this.streamsByAddress.get(address) ?? 1) - 1;
        if (left <= 0) this.streamsByAddress.delete(address);
        else this.streamsByAddress.set(address, left);
      },
    };
  }

  /** Ends every open stream and refuses new ones; called first when the server stops. */
  close(): void {
    this.closing.abort();
  }
}

const STREAMS: RateLimitPolicyName = "streams";
