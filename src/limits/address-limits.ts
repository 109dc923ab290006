// The per-address rate limit of a whole machine (API.md: STAMPEDE_RATE_LIMIT_ADDRESS), though each
// worker process keeps its own buckets. A client's connections land on any worker (SO_REUSEPORT), so
// a limit kept per process alone would give an address N times its rate. Each worker therefore tells
// the others, every GOSSIP_INTERVAL_MS, how many units it granted to which address, and debits what
// the others granted from its own buckets. A client on one connection still gets its full rate from
// the one worker it talks to; one spread over all workers gets the rate plus at most what the
// workers grant in one gossip interval before they hear of each other.

import { type TakeResult, TokenBuckets } from "./token-buckets.ts";

/** How often a worker shares the units it granted. */
export const GOSSIP_INTERVAL_MS = 25;
/** Addresses one share carries at most; past it the rest of the interval's grants go unshared. */
export const GOSSIP_ADDRESSES_MAX = 20_000;

export type AddressGrants = [address: string, units: number][];

export class AddressLimits {
  private readonly buckets: TokenBuckets;
  private granted = new Map<string, number>();
  private timer: ReturnType<typeof setInterval> | null = null;
  /** Grants that did not fit a share (a flood from very many addresses), for the metric. */
  unshared = 0;

  constructor(
    readonly ratePerSecond: number,
    readonly burst: number,
    clock?: () => number,
  ) {
    this.buckets = new TokenBuckets(ratePerSecond, burst, undefined, clock);
  }

  get enabled(): boolean {
    return this.buckets.enabled;
  }

  get windowSeconds(): number {
    return this.buckets.windowSeconds;
  }

  /** Start sharing grants with the other workers through `share`. */
  shareWith(share: (grants: AddressGrants) => void): void {
    if (!this.enabled || this.timer !== null) return;
    this.timer = setInterval(() => {
      if (this.granted.size === 0) return;
      const grants = [...this.granted];
      this.granted = new Map();
      share(grants);
    }, GOSSIP_INTERVAL_MS);
    this.timer.unref?.();
  }

  take(address: string): TakeResult {
    const taken = this.buckets.take(address);
    if (taken.ok && this.timer !== null) {
      const count = this.granted.get(address);
      if (count !== undefined) this.granted.set(address, count + 1);
      else if (this.granted.size < GOSSIP_ADDRESSES_MAX) this.granted.set(address, 1);
      else this.unshared += 1;
    }
    return taken;
  }

  /** Units other workers granted: they come out of this worker's buckets too. */
  absorb(grants: AddressGrants): void {
    for (const [address, units] of grants) this.buckets.debit(address, units);
  }

  close(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.buckets.close();
  }
}
