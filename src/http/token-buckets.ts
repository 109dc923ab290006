// Token buckets keyed by buyer or client address (API.md: STAMPEDE_RATE_LIMIT_BUYER / _ADDRESS).
// Each key refills at `ratePerSecond` up to `burst`. Memory is bounded: a periodic sweep forgets
// buckets that are full again (they behave exactly like new ones), and past `keysMax` live keys the
// oldest are dropped first.

export type TakeResult = { ok: true } | { ok: false; retryAfterSeconds: number };

type Bucket = { tokens: number; updatedMs: number };

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

  take(key: string): TakeResult {
    if (this.ratePerSecond <= 0) return { ok: true };
    const now = this.clock();
    let bucket = this.buckets.get(key);
    if (bucket === undefined) {
      if (this.buckets.size >= this.keysMax) this.evictOldest();
      bucket = { tokens: this.burst, updatedMs: now };
      this.buckets.set(key, bucket);
    } else {
      const refill = ((now - bucket.updatedMs) / 1000) * this.ratePerSecond;
      bucket.tokens = Math.min(this.burst, bucket.tokens + refill);
      bucket.updatedMs = now;
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / this.ratePerSecond)) };
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
