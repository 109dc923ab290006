// A worker's copies of the public documents of sales other workers own, as their owners publish
// them. They answer GET /v1/sales/:id and the SSE stream, and let a worker refuse a hold as sold out
// without asking the owner. A stale copy may refuse for a moment; it never accepts anything.

import type { Outcome } from "../ledger/types.ts";
import type { PublicSaleView } from "../ledger/views.ts";
import { ListenerSets } from "./listener-sets.ts";

export type Snapshot = { saleId: string; view: PublicSaleView; version: string };


export class SnapshotCache {
  private readonly snapshots = new Map<string, Snapshot & { endsAtMs: number; startsAtMs: number }>();
  private readonly listeners = new ListenerSets<PublicSaleView>();

  put(snapshot: Snapshot): void {
    const previous = this.snapshots.get(snapshot.saleId);
    this.snapshots.set(snapshot.saleId, {
      ...snapshot,
      endsAtMs: Date.parse(snapshot.view.endsAt),
      startsAtMs: Date.parse(snapshot.view.startsAt),
    });
    if (previous?.version === snapshot.version) return;
    this.listeners.emit(snapshot.saleId, snapshot.view);
  }

  get(saleId: string): Snapshot | undefined {
    return this.snapshots.get(saleId);
  }

  /**
   * A sold_out refusal when the copy shows fewer units than asked of an open sale; null when the
   * owner must decide (any doubt: unknown sale or item, not open, ended, or units shown).
   */
  soldOut(saleId: string, itemId: string, quantity: number, now: number): Outcome | null {
    const snapshot = this.snapshots.get(saleId);
    if (snapshot === undefined || snapshot.view.status !== "open") return null;
    if (now >= snapshot.endsAtMs || now < snapshot.startsAtMs) return null;
    const item = snapshot.view.items.find((candidate) => candidate.id === itemId);
    if (item === undefined || item.available >= quantity) return null;
    return { ok: false, refusal: "sold_out", detail: `Only ${item.available} units of ${itemId} are available.` };
  }

  watch(saleId: string, listener: (view: PublicSaleView) => void): (() => void) | null {
    return this.listeners.add(saleId, listener);
  }
}
