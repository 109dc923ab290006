// A worker's copies of the public documents of sales other workers own, as their owners publish
// them (rendered JSON and its ETag). They answer GET /v1/sales/:id and the SSE stream as they are,
// and let a worker refuse a hold as sold out without asking the owner. A stale copy may refuse for
// a moment; it never accepts anything. With a sale's copy comes its waiting room's numbers
// (RoomNumbers): holds of a sale with a room need an admission token, and polls of its buyers are
// answered from the serving counter (queue-places.ts).

import type { HoldAnswer, PublicDocument, RoomNumbers } from "../engine/gateway.ts";
import { ListenerSets } from "../engine/listener-sets.ts";
import type { PublicSaleView } from "../ledger/views.ts";

export type Snapshot = { saleId: string; document: string; etag: string; room?: RoomNumbers | null };

type Copy = Snapshot & { status: string; startsAtMs: number; endsAtMs: number; available: Map<string, number>; soldOut: Map<string, HoldAnswer> };

export class SnapshotCache {
  private readonly copies = new Map<string, Copy>();
  private readonly listeners = new ListenerSets<string>();
  /** The rooms of the copies, apart: they move on every admission, the document only when it is rendered anew. */
  private readonly rooms = new Map<string, RoomNumbers>();

  put(snapshot: Snapshot): void {
    const room = snapshot.room ?? null;
    if (room === null) this.rooms.delete(snapshot.saleId);
    else this.rooms.set(snapshot.saleId, room);
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

  /** A room's numbers on their own, as its owner sends them after each commit. */
  putRoom(saleId: string, room: RoomNumbers | null): void {
    if (room === null) this.rooms.delete(saleId);
    else this.rooms.set(saleId, room);
  }

  /** The room's numbers of the copy, when the sale has a room. */
  room(saleId: string): RoomNumbers | undefined {
    return this.rooms.get(saleId);
  }

  /** Whether the copy shows a waiting room (the hold path's check: nothing when no copy has one). */
  admissionRequired(saleId: string): boolean {
    return this.rooms.size !== 0 && this.rooms.has(saleId);
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
