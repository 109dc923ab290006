// The availability snapshots of one node's sales, for the other nodes (reads, event streams, the
// waiting room's numbers). The owner worker renders a sale's snapshot after its commits (at most
// every PUBLISH_INTERVAL_MS) and at least every REFRESH_MS when it changed; it hands it to the other
// workers of its node (the cluster's broadcast), and every worker pushes what it knows down the node
// links it accepted (node-links.ts). Each snapshot carries its lease epoch: a copy from an owner that
// has since lost the sale is older than its new owner's and never overwrites it.

import type { Snapshot } from "../cluster/snapshots.ts";
import { roomNumbers } from "../engine/owner-queue.ts";
import type { LeaseKeeper } from "./leases.ts";
import type { NodeSaleOwner } from "./node-owner.ts";

export type NodeSnapshot = Snapshot & { epoch: number };

const PUBLISH_INTERVAL_MS = 20;
const REFRESH_MS = 1_000;

export type NodeSnapshotSinks = {
  /** To the other workers of this node. */
  broadcast: (snapshot: NodeSnapshot) => void;
  /** To the node links this worker accepted. */
  links: (snapshot: NodeSnapshot) => void;
  /** To this worker's own copies (its gateway's reads and streams). */
  local: (snapshot: NodeSnapshot) => void;
};

export class NodeSnapshots {
  /** The latest snapshot of each sale this node owns or owned, highest epoch first to last. */
  private readonly own = new Map<string, NodeSnapshot>();
  private readonly dirty = new Set<string>();
  private timer: ReturnType<typeof setTimeout> | null = null;
  private readonly refresh: ReturnType<typeof setInterval>;

  constructor(
    private readonly owner: NodeSaleOwner,
    private readonly keeper: LeaseKeeper,
    private readonly sinks: NodeSnapshotSinks,
  ) {
    this.refresh = setInterval(() => this.publish(this.owner.ownedSaleIds(), false), REFRESH_MS);
    this.refresh.unref?.();
  }

  /** Sales this worker's commits changed: publish them shortly. */
  changed(saleIds: Iterable<string>): void {
    for (const saleId of saleIds) this.dirty.add(saleId);
    if (this.timer !== null || this.dirty.size === 0) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      const saleIds = [...this.dirty];
      this.dirty.clear();
      this.publish(saleIds, true);
    }, PUBLISH_INTERVAL_MS);
  }

  private publish(saleIds: readonly string[], always: boolean): void {
    const now = this.owner.now();
    for (const saleId of saleIds) {
      const sale = this.owner.sales.get(saleId);
      const epoch = this.keeper.epochOf(saleId);
      if (sale === undefined || epoch === undefined) continue;
      const { document, etag } = this.owner.reads.document(sale);
      const room = roomNumbers(sale.ledger.state, now);
      const previous = this.own.get(saleId);
      // The refresh sends what changed by time alone (a sale that opened); the rest went already.
      if (!always && previous?.etag === etag && previous.epoch === epoch && room === null) continue;
      const snapshot: NodeSnapshot = { saleId, document, etag, room, epoch };
      this.accept(snapshot);
      this.sinks.broadcast(snapshot);
    }
  }

  /** A snapshot of this node's sales, from this worker or another one of the node. */
  accept(snapshot: NodeSnapshot): void {
    const previous = this.own.get(snapshot.saleId);
    if (previous !== undefined && previous.epoch > snapshot.epoch) return;
    this.own.set(snapshot.saleId, snapshot);
    this.sinks.links(snapshot);
    this.sinks.local(snapshot);
  }

  /** Everything known of this node's sales (for a link that just opened). */
  current(): Iterable<NodeSnapshot> {
    return this.own.values();
  }

  stop(): void {
    clearInterval(this.refresh);
    if (this.timer !== null) clearTimeout(this.timer);
  }
}
