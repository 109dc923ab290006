// A worker's copies of the public documents of sales other workers own, as their owners publish
// them (rendered JSON and its ETag). They answer GET /v1/sales/:id and the SSE stream as they are,
// and let a worker refuse a hold as sold out without asking the owner. A stale copy may refuse for
// a moment; it never accepts anything.

import type { HoldAnswer, PublicDocument } from "../engine/gateway.ts";
import { ListenerSets } from "../engine/listener-sets.ts";
import type { PublicSaleView } from "../ledger/views.ts";

export type Snapshot = { saleId: string; document: string; etag: string };

type Copy = Snapshot & { status: string; startsAtMs: number; endsAtMs: number; available: Map<string, number>; soldOut: Map<string, HoldAnswer> };

export class SnapshotCache {
  private readonly copies = new Map<string, Copy>();
  private readonly listeners = new ListenerSets<string>();

  put(snapshot: Snapshot): void {
    const previous = this.copies.get(snapshot.saleId);
    if (previous?.etag === snapshot.etag) return;
    const view = JSON.parse(snapshot.document) as PublicSaleView;
    this.copies.set(snapshot.saleId, {
      ...snapshot,
      status: view.status,
      startsAtMs: Date.parse(view.startsAt),
      endsAtMs: Date.parse(view.endsAt),
      available: new Map(view.items.map((item) => [item.id, item.available])),
      soldOut: new Map(),
    });
    this.listeners.emit(snapshot.saleId, snapshot.document);
  }

  get(saleId: string): PublicDocument | undefined {
    return this.copies.get(saleId);
  }

  /**
   * A sold_out refusal when the copy shows fewer units than asked of an open sale; null when the
   * owner must decide (any doubt: unknown sale or item, not open, ended, or units shown). The
   * refusal of an item is made once per copy: a sold-out storm repeats it.
   */
  soldOut(saleId: string, itemId: string, quantity: number, now: number): HoldAnswer | null {
    const copy = this.copies.get(saleId);
    if (copy === undefined || copy.status !== "open") return null;
    if (now >= copy.endsAtMs || now < copy.startsAtMs) return null;
    const available = copy.available.get(itemId);
    if (available === undefined || available >= quantity) return null;
    let refusal = copy.soldOut.get(itemId);
    if (refusal === undefined) {
      refusal = { ok: false, refusal: "sold_out", detail: `Only ${available} units of ${itemId} are available.` };
      copy.soldOut.set(itemId, refusal);
    }
    return refusal;
  }

  watch(saleId: string, listener: (document: string) => void): (() => void) | null {
    return this.listeners.add(saleId, listener);
  }
}
