// One item of a sale: its counts and, for a "codes" item, the pool of codes not yet delivered.
// The counts obey `available + held + confirmed == stock` at every moment (invariant 1); for a
// "codes" item every unit not confirmed is backed by exactly one unassigned code in the pool.

import { invariant } from "./invariant.ts";
import type { Delivery, ItemSpec } from "./types.ts";

/** Compact the code pool's array once this many delivered codes sit at its head. */
const CODE_POOL_COMPACT_MIN = 4096;

export class ItemState {
  readonly id: string;
  readonly name: string;
  readonly price: number;
  readonly currency: string;
  readonly delivery: Delivery;
  /** Position in the sale's item list (a hold row names its item by it). */
  readonly index: number;
  stock: number;
  available: number;
  held = 0;
  confirmed = 0;
  /** Unassigned codes in the order they were added; codes before `poolHead` are delivered. */
  private pool: string[] = [];
  private poolHead = 0;
  /** Every code ever added to this item, delivered or not, so that no code is added twice. */
  private readonly codesKnown = new Set<string>();

  constructor(spec: ItemSpec, index = 0) {
    this.index = index;
    this.id = spec.id;
    this.name = spec.name;
    this.price = spec.price;
    this.currency = spec.currency;
    this.delivery = spec.delivery;
    this.stock = spec.delivery === "codes" ? 0 : spec.stock;
    this.available = this.stock;
  }

  get unassignedCodes(): number {
    return this.pool.length - this.poolHead;
  }

  hasCode(code: string): boolean {
    return this.codesKnown.has(code);
  }

  addCodes(codes: readonly string[]): void {
    for (const code of codes) {
      invariant(!this.codesKnown.has(code), () => `code added twice to item ${this.id}`);
      this.codesKnown.add(code);
      this.pool.push(code);
    }
    this.stock += codes.length;
    this.available += codes.length;
  }

  /** The codes the next confirmation of `quantity` units will receive, without taking them. */
  peekCodes(quantity: number): string[] {
    invariant(this.unassignedCodes >= quantity, () => `item ${this.id} has too few codes`);
    return this.pool.slice(this.poolHead, this.poolHead + quantity);
  }

  /** Take codes for a confirmation; they must be exactly the next ones in the pool. */
  takeCodes(codes: readonly string[]): void {
    for (const code of codes) {
      invariant(this.pool[this.poolHead] === code, () => `item ${this.id}: codes delivered out of order`);
      this.poolHead += 1;
    }
    if (this.poolHead >= CODE_POOL_COMPACT_MIN && this.poolHead * 2 >= this.pool.length) {
      this.pool = this.pool.slice(this.poolHead);
      this.poolHead = 0;
    }
  }

  /**
   * Set counts and codes loaded from a store. `codes` come in delivery order; assigned ones are only
   * remembered (so they are never added again), unassigned ones form the pool.
   */
  restore(counts: { stock: number; available: number; held: number; confirmed: number }, codes: Iterable<{ code: string; assigned: boolean }>): void {
    this.stock = counts.stock;
    this.available = counts.available;
    this.held = counts.held;
    this.confirmed = counts.confirmed;
    this.pool = [];
    this.poolHead = 0;
    for (const { code, assigned } of codes) {
      invariant(!this.codesKnown.has(code), () => `item ${this.id}: code stored twice`);
      this.codesKnown.add(code);
      if (!assigned) this.pool.push(code);
    }
  }

  /** Every code ever added that is no longer in the pool (delivered), for a sale snapshot. */
  deliveredCodeList(): string[] {
    const pool = new Set(this.unassignedCodeList());
    return [...this.codesKnown].filter((code) => !pool.has(code));
  }

  /** Unassigned codes, for tests and for loading state into a store. */
  unassignedCodeList(): string[] {
    return this.pool.slice(this.poolHead);
  }

  assertCounts(): void {
    invariant(
      this.available >= 0 && this.held >= 0 && this.confirmed >= 0,
      () => `item ${this.id}: negative count (available ${this.available}, held ${this.held}, confirmed ${this.confirmed})`,
    );
    invariant(
      this.available + this.held + this.confirmed === this.stock,
      () =>
        `item ${this.id}: available ${this.available} + held ${this.held} + confirmed ${this.confirmed} != stock ${this.stock}`,
    );
    if (this.delivery === "codes") {
      invariant(
        this.unassignedCodes === this.available + this.held,
        () => `item ${this.id}: ${this.unassignedCodes} unassigned codes for ${this.available + this.held} units`,
      );
    }
  }
}
