// Token buckets keyed by buyer or client address (API.md: STAMPEDE_RATE_LIMIT_BUYER / _ADDRESS).
// Each key refills at `ratePerSecond` up to `burst`. Memory is bounded: a periodic sweep forgets
// buckets that are full again (they behave exactly like new ones), and past `keysMax` live keys the
// oldest are dropped first. The buckets are plain data with no I/O, so the same class serves the
// HTTP gate of a single process and the owner worker of a sale in the cluster (where every hold of
// a buyer arrives, whichever worker took the request, so the limit cannot be multiplied by workers).

/**
 * A granted take says how many whole units are left and in how many seconds the bucket is full
 * again; a refused one says when the next unit comes (Retry-After).
 */
export type TakeResult = { ok: true; remaining: number; resetSeconds: number } | { ok: false; retryAfterSeconds: number };

type Bucket = { tokens: number; updatedMs: number };

const UNLIMITED: TakeResult = Object.freeze({ ok: true, remaining: Number.MAX_SAFE_INTEGER, resetSeconds: 0 });

export class TokenBuckets {
  private buckets = new Map<string, Bucket>();
  private readonly sweepTimer: ReturnType<typeof setInterval>;

  constructor(
    readonly ratePerSecond: number,
    readonly burst: number,
    private readonly keysMax = 1_000_000,
    private readonly clock: () => number = Date.now,
  ) {
    this.sweepTimer = setInterval(() => this.sweep(), 10_000);
    this.sweepTimer.unref?.();
  }

  get enabled(): boolean {
    return this.ratePerSecond > 0;
  }

  /** Seconds an empty bucket takes to fill: the window of the RateLimit-Policy this bucket is. */
  get windowSeconds(): number {
    return this.enabled ? Math.max(1, Math.ceil(this.burst / this.ratePerSecond)) : 0;
  }

  take(key: string): TakeResult {
    if (this.ratePerSecond <= 0) return UNLIMITED;
    const bucket = this.refilled(key);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      const resetSeconds = Math.ceil((this.burst - bucket.tokens) / this.ratePerSecond);
      return { ok: true, remaining: Math.floor(bucket.tokens), resetSeconds };
    }
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / this.ratePerSecond)) };
  }

  /**
   * Take `count` units that were spent elsewhere (another worker's share of the same key), whether
   * or not the bucket has them: it may go into debt down to minus its burst, refusing takes until
   * it refills.
   */
  debit(key: string, count: number): void {
    if (this.ratePerSecond <= 0 || count <= 0) return;
    const bucket = this.refilled(key);
    bucket.tokens = Math.max(-this.burst, bucket.tokens - count);
  }

  /** The key's bucket as of now: made full when new, refilled for the time since it was last used. */
  private refilled(key: string): Bucket {
    const now = this.clock();
    let bucket = this.buckets.get(key);
    if (bucket === undefined) {
      if (this.buckets.size >= this.keysMax) this.evictOldest();
      bucket = { tokens: this.burst, updatedMs: now };
      this.buckets.set(key, bucket);
    } else {
      bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.updatedMs) / 1000) * this.ratePerSecond);
      bucket.updatedMs = now;
    }
    return bucket;
  }

  /** Live buckets (those not yet full again); for tests and metrics. */
  get size(): number {
    return this.buckets.size;
  }

  private sweep(): void {
    const now = this.clock();
    for (const [key, bucket] of this.buckets) {
      if (bucket.tokens + ((now - bucket.updatedMs) / 1000) * this.ratePerSecond >= this.burst) this.buckets.delete(key);
    }
  }

  private evictOldest(): void {
    // Map iteration follows insertion order: drop the oldest tenth in one go.
    let drop = Math.max(1, Math.floor(this.keysMax / 10));
    for (const key of this.buckets.keys()) {
      this.buckets.delete(key);
      if (--drop === 0) break;
    }
  }

  close(): void {
    clearInterval(this.sweepTimer);
  }
}
