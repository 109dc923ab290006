// What happens to a sale that no operator asked for at that moment, seen by its owner: it opens (its
// `startsAt` passes, or it is resumed), pauses, ends, and its items sell out. The owner reports
// these for the operators' trail (log.ts, audit). Each sale's status and sold-out items are kept
// here and compared after each commit that touched the sale, and once a second for the changes that
// come with time alone. A sale's check is its status (two comparisons with the clock) and a pass
// over its items' `available`; it runs per commit, never per hold.

import type { OwnedSale } from "./owned-sales.ts";

export type SaleStatus = "scheduled" | "open" | "paused" | "ended";

export type LifecycleEvent =
  | { kind: "status"; saleId: string; from: SaleStatus | null; to: SaleStatus }
  | { kind: "sold_out"; saleId: string; itemId: string };

type Seen = { status: SaleStatus; soldOut: Set<string> };

export class SaleLifecycle {
  private readonly seen = new Map<string, Seen>();

  constructor(private readonly report: (event: LifecycleEvent) => void) {}

  /** A sale as it was recovered at start: its state is where the trail goes on from, not news. */
  baseline(sale: OwnedSale, now: number): void {
    const state = sale.ledger.state;
    const soldOut = new Set<string>();
    for (const item of state.itemList) if (item.available === 0) soldOut.add(item.id);
    this.seen.set(state.id, { status: state.status(now), soldOut });
  }

  /**
   * After a commit that touched the sale: report a new status and each item whose last unit just
   * went. A sale seen for the first time (created since start) reports its status from null.
   */
  afterCommit(sale: OwnedSale, now: number): void {
    const state = sale.ledger.state;
    let seen = this.seen.get(state.id);
    if (seen === undefined) {
      const status = state.status(now);
      seen = { status, soldOut: new Set() };
      this.seen.set(state.id, seen);
      this.report({ kind: "status", saleId: state.id, from: null, to: status });
    } else {
      this.statusOf(state.id, seen, state.status(now));
    }
    for (const item of state.itemList) {
      if (item.available === 0) {
        if (!seen.soldOut.has(item.id) && item.stock > 0) {
          seen.soldOut.add(item.id);
          this.report({ kind: "sold_out", saleId: state.id, itemId: item.id });
        }
      } else if (seen.soldOut.size > 0) {
        // Stock came back (added, released, expired): the next time it runs out is news again.
        seen.soldOut.delete(item.id);
      }
    }
  }

  /** The changes time alone brings (startsAt, endsAt): every owned sale's status, once a second. */
  tick(sales: Iterable<OwnedSale>, now: number): void {
    for (const sale of sales) {
      const state = sale.ledger.state;
      const seen = this.seen.get(state.id);
      if (seen !== undefined) this.statusOf(state.id, seen, state.status(now));
    }
  }

  private statusOf(saleId: string, seen: Seen, status: SaleStatus): void {
    if (status === seen.status) return;
    const from = seen.status;
    seen.status = status;
    this.report({ kind: "status", saleId, from, to: status });
  }
}
