// The gateway of a worker in node mode (API.md, "Several machines"): any node answers any request.
// A command for a sale this node owns goes to the node's own gateway (the cluster of its workers, as
// on one machine); one for a sale another node owns goes over the link to that node (node-links.ts);
// one for a sale that is between owners (its lease ran out, it is being handed over) is answered 503
// with Retry-After at once. Who owns what comes from the lease keeper's directory (leases.ts), read
// from PostgreSQL every TICK_MS; a sale the directory does not know is looked up there before the
// answer is "not found", so a sale created on another node a moment ago is found.
//
// Reads and event streams come from the copies every node receives of every sale (node-snapshots.ts).
// Holds are never refused from a copy of another node's sale: such a copy may lag an operator's stock
// change on its owner by a few milliseconds, and "in force once its 2xx is sent" forbids a refusal
// on a stale copy. The owner node refuses sold out itself, from memory or its own workers' copies.

import { SnapshotCache } from "../cluster/snapshots.ts";
import {
  type CreateOutcome,
  type HoldAnswer,
  type HoldReply,
  type PublicDocument,
  type QueueAnswer,
  type QueueReply,
  type Readiness,
  type SaleGateway,
  Unavailable,
} from "../engine/gateway.ts";
import type { HoldCommand, Outcome, PaymentOutcome, SaleCommand, SaleSpec } from "../ledger/types.ts";
import type { AdminSaleView } from "../ledger/views.ts";
import type { ReservationQuery, Store } from "../store/store.ts";
import type { Lease, LeaseKeeper } from "./leases.ts";
import { NodeLink } from "./node-links.ts";
import type { NodeSnapshot } from "./node-snapshots.ts";

/** How often the links follow the live node list (new nodes, moved addresses). */
const LINK_SYNC_MS = 500;
/** A link to a node that has not been live for this long is closed. */
const LINK_GONE_MS = 30_000;

export type NodeGatewayOptions = {
  /** This node's own gateway: its cluster of workers, or its one owner. */
  inner: SaleGateway;
  keeper: LeaseKeeper;
  store: Store;
  /** The shared secret of the links (the admin token, the same on every node). */
  token: string;
  log: (level: "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>) => void;
};

type Target = "local" | NodeLink | null;

function unavailableAnswer(error: unknown): HoldAnswer & QueueAnswer {
  const retryAfterSeconds = error instanceof Unavailable ? error.retryAfterSeconds : 1;
  const detail = error instanceof Error ? error.message : String(error);
  return { ok: false, refusal: "unavailable", detail, retryAfterSeconds };
}

export class NodeGateway implements SaleGateway {
  private readonly copies = new SnapshotCache();
  /** The lease epoch of each copy: a copy from an earlier owner never replaces a later one's. */
  private readonly copyEpochs = new Map<string, number>();
  private readonly links = new Map<string, { link: NodeLink; seenAt: number }>();
  private readonly lookups = new Map<string, Promise<Lease | null>>();
  private readonly linkTimer: ReturnType<typeof setInterval>;
  private readonly me: string;

  constructor(private readonly options: NodeGatewayOptions) {
    this.me = options.keeper.nodeId;
    this.linkTimer = setInterval(() => this.syncLinks(), LINK_SYNC_MS);
    this.linkTimer.unref?.();
  }

  stop(): void {
    clearInterval(this.linkTimer);
    for (const { link } of this.links.values()) link.stop();
  }

  /** A copy of a sale's availability, from its owner (this node's or another's). */
  putCopy(snapshot: NodeSnapshot): void {
    const known = this.copyEpochs.get(snapshot.saleId);
    if (known !== undefined && known > snapshot.epoch) return;
    this.copyEpochs.set(snapshot.saleId, snapshot.epoch);
    this.copies.put(snapshot);
  }

  /** Follow the live nodes: a link to each other one, retargeted when its address moves. */
  private syncLinks(): void {
    const now = performance.now();
    for (const node of this.options.keeper.nodes.values()) {
      if (node.id === this.me) continue;
      const entry = this.links.get(node.id);
      if (entry === undefined) {
        const link = new NodeLink(node.id, node.advertiseUrl, {
          myNodeId: this.me,
          token: this.options.token,
          onSnapshot: (snapshot) => this.putCopy(snapshot),
          log: this.options.log,
        });
        this.links.set(node.id, { link, seenAt: now });
      } else {
        entry.seenAt = now;
        entry.link.retarget(node.advertiseUrl);
      }
    }
    for (const [nodeId, entry] of this.links) {
      if (now - entry.seenAt < LINK_GONE_MS) continue;
      entry.link.stop();
      this.links.delete(nodeId);
    }
  }

  /** The directory's entry, looked up in PostgreSQL on a miss (concurrent misses share one query). */
  private async lease(saleId: string): Promise<Lease | null> {
    const known = this.options.keeper.directory.get(saleId);
    if (known !== undefined) return known;
    let lookup = this.lookups.get(saleId);
    if (lookup === undefined) {
      lookup = this.options.keeper.lookup(saleId).finally(() => this.lookups.delete(saleId));
      this.lookups.set(saleId, lookup);
    }
    try {
      return await lookup;
    } catch {
      throw new Unavailable("PostgreSQL is unreachable; try again shortly.", 2);
    }
  }

  /** Where commands for the sale go now; null: there is no such sale. Throws Unavailable while it moves. */
  private async target(saleId: string): Promise<Target> {
    const lease = await this.lease(saleId);
    if (lease === null) return null;
    return this.targetOf(saleId, lease);
  }

  private targetOf(saleId: string, lease: Lease): Target {
    if (lease.nodeId === null || !lease.live) throw new Unavailable(`Sale ${saleId} is moving between nodes; try again shortly.`, 1);
    if (lease.nodeId === this.me) return "local";
    const link = this.links.get(lease.nodeId)?.link;
    if (link === undefined || !link.connected) throw new Unavailable(`Node ${lease.nodeId}, which owns sale ${saleId}, is not reachable.`, 1);
    return link;
  }

  private async route<T>(saleId: string, local: () => Promise<T>, op: string, args: unknown, absent: T): Promise<T> {
    const target = await this.target(saleId);
    if (target === null) return absent;
    if (target === "local") return local();
    return (await target.call(op, args)) as T;
  }

  async createSale(spec: SaleSpec): Promise<CreateOutcome> {
    const preferred = this.options.keeper.preferred(spec.id);
    if (preferred === this.me) return this.options.inner.createSale(spec);
    const link = this.links.get(preferred)?.link;
    if (link === undefined || !link.connected) throw new Unavailable(`Node ${preferred}, which should own sale ${spec.id}, is not reachable.`, 1);
    return (await link.call("create", { spec })) as CreateOutcome;
  }

  hold(saleId: string, command: HoldCommand, reply: HoldReply): void {
    const lease = this.options.keeper.directory.get(saleId);
    // The common case first, with no promise: this node owns the sale.
    if (lease !== undefined && lease.live && lease.nodeId === this.me) return this.options.inner.hold(saleId, command, reply);
    this.target(saleId).then(
      (target) => {
        if (target === null) return reply({ ok: false, refusal: "not_found", detail: `No sale ${saleId}.` });
        if (target === "local") return this.options.inner.hold(saleId, command, reply);
        target.call("hold", { saleId, command }).then((answer) => reply(answer as HoldAnswer), (error: unknown) => reply(unavailableAnswer(error)));
      },
      (error: unknown) => reply(unavailableAnswer(error)),
    );
  }

  execute(saleId: string, command: SaleCommand): Promise<Outcome> {
    const absent: Outcome = { ok: false, refusal: "not_found", detail: `No sale ${saleId}.` };
    return this.route(saleId, () => this.options.inner.execute(saleId, command), "execute", { saleId, command }, absent);
  }

  adminSale(saleId: string): Promise<AdminSaleView | null> {
    return this.route(saleId, () => this.options.inner.adminSale(saleId), "adminSale", { saleId }, null);
  }

  /** Every node's sales: this node's from its workers, the others' over their links. */
  async listSales(): Promise<AdminSaleView[]> {
    const remote = [...this.links.values()].filter(({ link }) => link.connected).map(({ link }) => link.call("listSales", null) as Promise<AdminSaleView[]>);
    const lists = await Promise.all([this.options.inner.listSales(), ...remote]);
    const byId = new Map<string, AdminSaleView>();
    for (const sale of lists.flat()) byId.set(sale.id, sale);
    return [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async publicSale(saleId: string): Promise<PublicDocument | null> {
    const lease = this.options.keeper.directory.get(saleId);
    if (lease !== undefined && lease.live && lease.nodeId === this.me) return this.options.inner.publicSale(saleId);
    const copy = this.copies.get(saleId);
    if (copy !== undefined) return copy;
    return this.route(saleId, () => this.options.inner.publicSale(saleId), "publicSale", { saleId }, null);
  }

  watchSale(saleId: string, listener: (document: string) => void): (() => void) | null {
    return this.copies.watch(saleId, listener);
  }

  reservation(saleId: string, userId: string, reservationId: string): Promise<string | null> {
    const local = () => this.options.inner.reservation(saleId, userId, reservationId);
    return this.route(saleId, local, "reservation", { saleId, userId, reservationId }, null);
  }

  reservationsOf(saleId: string, userId: string): Promise<string | null> {
    return this.route(saleId, () => this.options.inner.reservationsOf(saleId, userId), "reservationsOf", { saleId, userId }, null);
  }

  /** The store holds everything any node acknowledged (node mode commits there first): read it here. */
  storeReservations(saleId: string, query: ReservationQuery) {
    return storeRead(() => this.options.store.listReservations(saleId, query));
  }

  storePayments(saleId: string, outcome?: PaymentOutcome) {
    return storeRead(() => this.options.store.listPayments(saleId, outcome));
  }

  readiness(): Readiness {
    const inner = this.options.inner.readiness();
    const keeper = this.options.keeper;
    if (keeper.leaseValid()) return inner;
    const reasons = [...inner.reasons, "node leases unproven (PostgreSQL has not answered the lease keeper recently)"];
    return { ...inner, ready: false, reasons };
  }

  joinQueue(saleId: string, userId: string, reply: QueueReply): void {
    this.queueCall(saleId, userId, reply, "joinQueue", (r) => this.options.inner.joinQueue(saleId, userId, r));
  }

  queuePlace(saleId: string, userId: string, reply: QueueReply): void {
    this.queueCall(saleId, userId, reply, "queuePlace", (r) => this.options.inner.queuePlace(saleId, userId, r));
  }

  private queueCall(saleId: string, userId: string, reply: QueueReply, op: string, local: (reply: QueueReply) => void): void {
    this.target(saleId).then(
      (target) => {
        if (target === null) return reply({ ok: false, refusal: "not_found", detail: `No sale ${saleId}.` });
        if (target === "local") return local(reply);
        target.call(op, { saleId, userId }).then((answer) => reply(answer as QueueAnswer), (error: unknown) => reply(unavailableAnswer(error)));
      },
      (error: unknown) => reply(unavailableAnswer(error)),
    );
  }

  admissionRequired(saleId: string): boolean {
    return this.options.inner.admissionRequired(saleId) || this.copies.admissionRequired(saleId);
  }

  /**
   * A command another node sent over its link: run on this node's own gateway only, never forwarded
   * again (a sale that moved meanwhile answers 503 from its former owner, and the sender retries).
   */
  serveLink(op: string, args: unknown): Promise<unknown> {
    const inner = this.options.inner;
    const a = args as { saleId: string; userId: string; reservationId: string; command: SaleCommand; spec: SaleSpec };
    switch (op) {
      case "hold":
        return new Promise((resolve) => inner.hold(a.saleId, a.command as HoldCommand, resolve));
      case "execute":
        return inner.execute(a.saleId, a.command);
      case "create":
        return inner.createSale(a.spec);
      case "adminSale":
        return inner.adminSale(a.saleId);
      case "listSales":
        return inner.listSales();
      case "publicSale":
        return inner.publicSale(a.saleId);
      case "reservation":
        return inner.reservation(a.saleId, a.userId, a.reservationId);
      case "reservationsOf":
        return inner.reservationsOf(a.saleId, a.userId);
      case "joinQueue":
        return new Promise((resolve) => inner.joinQueue(a.saleId, a.userId, resolve));
      case "queuePlace":
        return new Promise((resolve) => inner.queuePlace(a.saleId, a.userId, resolve));
      default:
        return Promise.reject(new Error(`unknown node operation ${op}`));
    }
  }

  /** Links and their calls in flight (metrics). */
  linkStates(): { node: string; connected: boolean; inFlight: number }[] {
    return [...this.links.values()].map(({ link }) => ({ node: link.nodeId, connected: link.connected, inFlight: link.inFlight }));
  }
}

async function storeRead<T>(read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch {
    throw new Unavailable("The system of record is unreachable; try again shortly.", 2);
  }
}
