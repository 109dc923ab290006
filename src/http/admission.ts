// Admission control (DESIGN.md, "Protection"; invariant 7): when the process falls behind, new work
// is refused at once with 503 `overloaded` and a jittered Retry-After instead of queueing until every
// answer is late. Work is ranked:
//   - payment webhooks are never shed: a payment that arrives must be applied (invariant 5);
//   - operator routes are never shed: they are few, and they are how an operator gets out of trouble;
//   - reads (the sale document, a buyer's reservations, event streams) are shed only when the event
//     loop is very far behind (5 s);
//   - new holds are shed first: past a bound on holds in flight (by Little's law a bound on their
//     latency: 4096 at the ~30k holds/s of one worker is ~130 ms of queue), while the journal's
//     commit queue is long, and all of them while the event loop is more than 2 s late.
// Why the lag bounds are so high and the holds-in-flight bound does the work, both measured here:
//   - In Bun 1.4.5 timers and immediates starve while many sockets stay readable. Under a flood from
//     2000 connections a 100 ms setInterval fired 41 times in 11 s (lag up to 0.84 s) while requests
//     were still answered in tens of milliseconds: the lag monitor then reports timer starvation,
//     not how long a request waits, and a 200 ms bound would shed on a false alarm.
//   - Under a flood of clients that ask again at once, the loop is busy with the 503s themselves, and
//     shedding more holds on lag starves them without making the loop any earlier. bench/overload.ts
//     (8000 connections, capacity ~33k holds/s, 2 cores): holds served per second were 10k with the
//     in-flight bound alone, 6k when every hold was also shed past 500 ms of lag, 5k past 200 ms,
//     3k when the bound halved past 200 ms, 1.4k when it kept halving (a TCP-like adaptive limit).
//     With clients that wait their Retry-After, every variant served 26-28k.
// Event streams are bounded too: per client address (429) and in all (503), and they all end when the
// server stops, so that a graceful stop does not wait for clients that never hang up.

import { overloaded } from "./problem.ts";
import { type RateLimitPolicyName, rateLimited } from "./rate-limit-headers.ts";

export type AdmissionLimits = {
  /** Holds admitted and not yet answered, in this process... */
  holdsInFlightMax: number;
  /**
   * ...and the bound while the event loop runs later than `holdLagMaxSeconds`: small, but not 0, so
   * that one late sample (a GC pause, a large upload) does not turn buyers away from an idle process.
   */
  holdsInFlightLateMax: number;
  holdLagMaxSeconds: number;
  /** Reads are shed while the loop runs later than this (seconds). */
  readLagMaxSeconds: number;
  /** Ledger events decided and waiting for their journal commit, at this process's owner. */
  pendingEventsMax: number;
  /** Open event streams per client address (429 beyond) and in all (503 beyond). */
  streamsPerAddressMax: number;
  streamsMax: number;
  /** Retry-After is jittered between half and one and a half times this. */
  retryAfterBaseSeconds: number;
};

export const ADMISSION_DEFAULTS: AdmissionLimits = {
  holdsInFlightMax: 4096,
  holdsInFlightLateMax: 16,
  holdLagMaxSeconds: 2,
  readLagMaxSeconds: 5,
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
};

/** One admitted event stream: it ends when `signal` aborts and must call `release` once when it ends. */
export type StreamLease = { signal: AbortSignal; release: () => void };

/** Counters of what was shed, by kind (read by tests; worth exporting as metrics). */
export type ShedCounts = { holds: number; reads: number; streams: number };

export class Admission {
  readonly limits: AdmissionLimits;
  readonly shed: ShedCounts = { holds: 0, reads: 0, streams: 0 };
  private holdsInFlightCount = 0;
  private streamsOpen = 0;
  private readonly streamsByAddress = new Map<string, number>();
  private readonly closing = new AbortController();

  constructor(
    private readonly signals: AdmissionSignals = {},
    limits: Partial<AdmissionLimits> = {},
  ) {
    this.limits = { ...ADMISSION_DEFAULTS, ...limits };
  }

  get holdsInFlight(): number {
    return this.holdsInFlightCount;
  }

  get streams(): number {
    return this.streamsOpen;
  }

  get closed(): boolean {
    return this.closing.signal.aborted;
  }

  /** Undefined when a new hold may go ahead; otherwise the 503 to answer. */
  admitHold(): Response | undefined {
    const limits = this.limits;
    let reason: string | undefined;
    if (this.holdsInFlightCount >= limits.holdsInFlightMax) {
      reason = "Too many holds are waiting for an answer.";
    } else if (
      this.holdsInFlightCount >= limits.holdsInFlightLateMax &&
      (this.signals.lagSeconds?.() ?? 0) > limits.holdLagMaxSeconds
    ) {
      reason = "The server is behind.";
    } else if ((this.signals.pendingEvents?.() ?? 0) > limits.pendingEventsMax) {
      reason = "The journal is behind.";
    }
    if (reason === undefined) return undefined;
    this.shed.holds += 1;
    return overloaded(`${reason} Try again shortly.`, limits.retryAfterBaseSeconds);
  }

  /** An admitted hold goes in flight (the hold route calls `leave` when it is answered). */
  enter(): void {
    this.holdsInFlightCount += 1;
  }

  leave(): void {
    this.holdsInFlightCount -= 1;
  }

  /** Runs an admitted hold, counting it as in flight until it is answered. */
  async hold<T>(work: () => Promise<T>): Promise<T> {
    this.enter();
    try {
      return await work();
    } finally {
      this.leave();
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
