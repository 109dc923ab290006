// The gateway of a worker in a cluster: sales this worker owns go to its SaleOwner, the others are
// forwarded to their owner over the peer sockets (batched per tick by PeerLink). Public reads and
// sold-out refusals are answered from the snapshots owners publish, without a round trip.

import type { Outcome, PaymentOutcome, SaleCommand, SaleSpec } from "../ledger/types.ts";
import type { PublicSaleView } from "../ledger/views.ts";
import type { RegistrySnapshot } from "../metrics/exposition.ts";
import type { ReservationQuery } from "../store/store.ts";
import type { SaleGateway } from "./gateway.ts";
import { ownerOf } from "./ownership.ts";
import { PeerClient, type PeerHandler, PeerServer } from "./peers.ts";
import type { SaleOwner } from "./sale-owner.ts";
import { type Snapshot, SnapshotCache } from "./snapshots.ts";

export type ClusterOptions = {
  index: number;
  workers: number;
  /** Socket path of worker i. */
  socketPath: (index: number) => string;
  local: SaleOwner;
  /** This worker's metrics, for a scrape that lands on another worker. */
  metricsSnapshot: () => RegistrySnapshot;
  clock?: () => number;
};

type PeerArgs = {
  spec: SaleSpec;
  saleId: string;
  command: SaleCommand;
  userId: string;
  reservationId: string;
  query: ReservationQuery;
  outcome?: PaymentOutcome;
};

/** How often an owner republishes every sale it owns, so time-driven status changes spread. */
const SNAPSHOT_REFRESH_MS = 1_000;
/** A peer that has not said it serves for this long counts as not serving. */
const PEER_SERVING_STALE_MS = 3 * SNAPSHOT_REFRESH_MS;
/** Changes are published at most this often per sale. */
const SNAPSHOT_INTERVAL_MS = 20;

export class ClusterGateway implements SaleGateway {
  private readonly peers: (PeerClient | null)[];
  private readonly server: PeerServer;
  private readonly snapshots = new SnapshotCache();
  private readonly dirty = new Set<string>();
  private publishTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly refreshTimer: ReturnType<typeof setInterval>;
  private readonly clock: () => number;
  /** When each peer last said it serves its sales (0: never). */
  private readonly peerServingAt: number[];
  /** Set once every worker has served: from then on a peer's trouble is reported, not fatal. */
  private allServedOnce = false;

  constructor(private readonly options: ClusterOptions) {
    const { index, workers, socketPath, local } = options;
    this.clock = options.clock ?? Date.now;
    this.peerServingAt = new Array(workers).fill(0);
    this.server = new PeerServer(socketPath(index), this.handler());
    this.peers = Array.from({ length: workers }, (_, i) => {
      if (i === index) return null;
      const client = new PeerClient(i, socketPath(i));
      client.onConnect = () => {
        this.announce(client);
        this.publishAll(client);
      };
      return client;
    });
    local.onCommitted = (saleIds) => this.changed(saleIds);
    this.refreshTimer = setInterval(() => {
      this.announce(null);
      this.publishAll();
    }, SNAPSHOT_REFRESH_MS);
    this.refreshTimer.unref?.();
  }

  stop(): void {
    clearInterval(this.refreshTimer);
    if (this.publishTimer !== null) clearTimeout(this.publishTimer);
    for (const peer of this.peers) peer?.stop();
    this.server.stop();
  }

  /** Requests and events that other workers send to this one. */
  private handler(): PeerHandler {
    const local = this.options.local;
    return {
      request: async (op, args) => {
        // The peer is this same program, so the arguments have the shape the caller gave them.
        const a = args as PeerArgs;
        switch (op) {
          case "create":
            return local.createSale(a.spec);
          case "execute":
            return local.execute(a.saleId, a.command);
          case "adminSale":
            return local.adminSale(a.saleId);
          case "listSales":
            return local.listSales();
          case "publicSale":
            return local.publicSale(a.saleId);
          case "reservation":
            return local.reservation(a.saleId, a.userId, a.reservationId);
          case "reservationsOf":
            return local.reservationsOf(a.saleId, a.userId);
          case "storeReservations":
            return local.storeReservations(a.saleId, a.query);
          case "storePayments":
            return local.storePayments(a.saleId, a.outcome);
          case "metrics":
            return this.options.metricsSnapshot();
          default:
            throw new Error(`unknown peer operation ${op}`);
        }
      },
      event: (op, args) => {
        if (op === "snapshot") this.snapshots.put(args as Snapshot);
        if (op === "serving") this.peerServingAt[(args as { index: number }).index] = this.clock();
      },
    };
  }

  private owner(saleId: string): PeerClient | null {
    return this.peers[ownerOf(saleId, this.options.workers)] ?? null;
  }

  /** Run locally when this worker owns the sale, else forward `op` to its owner. */
  private route<T>(saleId: string, local: () => Promise<T>, op: string, args: unknown): Promise<T> {
    const peer = this.owner(saleId);
    return peer === null ? local() : (peer.call(op, args) as Promise<T>);
  }

  createSale(spec: SaleSpec) {
    return this.route(spec.id, () => this.options.local.createSale(spec), "create", { spec });
  }

  execute(saleId: string, command: SaleCommand): Promise<Outcome> {
    if (command.kind === "hold" && command.idempotencyKey === null && this.owner(saleId) !== null) {
      const refusal = this.snapshots.soldOut(saleId, command.itemId, command.quantity, this.clock());
      if (refusal !== null) return Promise.resolve(refusal);
    }
    return this.route(saleId, () => this.options.local.execute(saleId, command), "execute", { saleId, command });
  }

  adminSale(saleId: string) {
    return this.route(saleId, () => this.options.local.adminSale(saleId), "adminSale", { saleId });
  }

  async listSales() {
    const lists = await Promise.all(
      this.peers.map((peer) =>
        peer === null ? this.options.local.listSales() : (peer.call("listSales", null) as ReturnType<SaleOwner["listSales"]>),
      ),
    );
    return lists.flat().sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async publicSale(saleId: string) {
    if (this.owner(saleId) !== null) {
      const cached = this.snapshots.get(saleId);
      if (cached !== undefined) return { view: cached.view, version: cached.version };
    }
    return this.route(saleId, () => this.options.local.publicSale(saleId), "publicSale", { saleId });
  }

  watchSale(saleId: string, listener: (view: PublicSaleView) => void) {
    if (this.owner(saleId) === null) return this.options.local.watchSale(saleId, listener);
    return this.snapshots.watch(saleId, listener);
  }

  reservation(saleId: string, userId: string, reservationId: string) {
    const local = () => this.options.local.reservation(saleId, userId, reservationId);
    return this.route(saleId, local, "reservation", { saleId, userId, reservationId });
  }

  reservationsOf(saleId: string, userId: string) {
    return this.route(saleId, () => this.options.local.reservationsOf(saleId, userId), "reservationsOf", { saleId, userId });
  }

  storeReservations(saleId: string, query: ReservationQuery) {
    const local = () => this.options.local.storeReservations(saleId, query);
    return this.route(saleId, local, "storeReservations", { saleId, query });
  }

  storePayments(saleId: string, outcome?: PaymentOutcome) {
    return this.route(saleId, () => this.options.local.storePayments(saleId, outcome), "storePayments", { saleId, outcome });
  }

  /** Forwarded calls waiting for their owner's answer, over all peers (a metrics gauge). */
  forwardQueueDepth(): number {
    let depth = 0;
    for (const peer of this.peers) depth += peer?.inFlight ?? 0;
    return depth;
  }

  /** Metrics of every worker, for one scrape; a worker that does not answer is left out. */
  async metricsSnapshots(): Promise<RegistrySnapshot[]> {
    const snapshots = await Promise.all(
      this.peers.map((peer) =>
        peer === null
          ? Promise.resolve(this.options.metricsSnapshot())
          : (peer.call("metrics", null) as Promise<RegistrySnapshot>).catch(() => null),
      ),
    );
    return snapshots.filter((snapshot): snapshot is RegistrySnapshot => snapshot !== null);
  }

  readiness() {
    const local = this.options.local.readiness();
    const now = this.clock();
    const down = this.peers
      .filter((peer) => peer !== null && (!peer.connected || now - (this.peerServingAt[peer.index] ?? 0) > PEER_SERVING_STALE_MS))
      .map((peer) => peer?.index);
    const reasons = [...local.reasons];
    if (down.length > 0) reasons.push(`workers ${down.join(", ")} not serving (their sales answer 503)`);
    if (down.length === 0 && local.ready) this.allServedOnce = true;
    // Until every worker has recovered once, the server is not ready (a sale could still answer
    // 503). After that a worker that restarts is reported, but the others keep the server ready:
    // they sell their sales, and taking the whole node out of rotation would stop those too.
    return { ...local, reasons, ready: local.ready && (this.allServedOnce || down.length === 0) };
  }

  /** Tell every peer at once that this worker now serves its sales (after recovery). */
  announceServing(): void {
    this.announce(null);
  }

  /** Tell peers (one, or all) that this worker serves its sales, once it does. */
  private announce(only: PeerClient | null): void {
    if (!this.options.local.readiness().ready) return;
    for (const peer of only === null ? this.peers : [only]) peer?.emit("serving", { index: this.options.index });
  }

  /** Owner side: note changed sales and publish them within SNAPSHOT_INTERVAL_MS. */
  private changed(saleIds: Iterable<string>): void {
    for (const saleId of saleIds) this.dirty.add(saleId);
    if (this.publishTimer === null && this.dirty.size > 0) {
      this.publishTimer = setTimeout(() => this.publishDirty(), SNAPSHOT_INTERVAL_MS);
    }
  }

  private publishDirty(): void {
    this.publishTimer = null;
    const saleIds = [...this.dirty];
    this.dirty.clear();
    void this.publish(saleIds, null);
  }

  private publishAll(only: PeerClient | null = null): void {
    void this.publish(this.options.local.ownedSaleIds(), only);
  }

  private async publish(saleIds: readonly string[], only: PeerClient | null): Promise<void> {
    for (const saleId of saleIds) {
      const found = await this.options.local.publicSale(saleId).catch(() => null);
      if (found === null) continue;
      const snapshot: Snapshot = { saleId, view: found.view, version: found.version };
      for (const peer of only === null ? this.peers : [only]) peer?.emit("snapshot", snapshot);
    }
  }
}

