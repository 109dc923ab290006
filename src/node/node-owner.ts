// The owner of a worker in node mode: the SaleOwner of one machine, whose set of sales changes while
// it runs. The lease keeper (leases.ts) hands it sales to adopt (loaded from PostgreSQL, which holds
// everything any earlier owner acknowledged) and to let go (another node should own them); its group
// commit goes through PostgreSQL first (node-commit.ts). It acknowledges nothing while it cannot prove
// its leases (a renewal older than ACK_WINDOW_MS), and answers 503 with Retry-After for a sale it
// does not hold right now: the sale is on its way to or from this worker, never "not found" (the
// node gateway asked PostgreSQL whether the sale exists before sending the command here).

import { Unavailable, type HoldReply, type PublicDocument, type QueueReply } from "../engine/gateway.ts";
import { SaleOwner, type SaleOwnerOptions } from "../engine/sale-owner.ts";
import { restoreSale } from "../ledger/restore.ts";
import { SaleLedger } from "../ledger/sale-ledger.ts";
import type { HoldCommand, Outcome, SaleCommand, SaleSpec } from "../ledger/types.ts";
import type { Store } from "../store/store.ts";
import type { LeaseKeeper } from "./leases.ts";

/** How long a buyer is told to wait while a sale moves or leases cannot be proven. */
const MOVING_RETRY_SECONDS = 1;

export type NodeOwnerOptions = SaleOwnerOptions & {
  /** The real store: SaleOwnerOptions.store is a view that recovers nothing at start (see startingEmpty). */
  nodeStore: Store;
};

export class NodeSaleOwner extends SaleOwner {
  private keeper: LeaseKeeper | null = null;
  /** Sales being let go: commands wait for their next owner. */
  private readonly leaving = new Set<string>();
  /** Sales whose create is claiming its lease now (a second create of the same id waits). */
  private readonly creating = new Set<string>();
  private draining = false;

  constructor(private readonly nodeOptions: NodeOwnerOptions) {
    super(nodeOptions);
  }

  attach(keeper: LeaseKeeper): void {
    this.keeper = keeper;
  }

  /** Why a command on `saleId` cannot be decided here now, or null. */
  private notHere(saleId: string): string | null {
    const keeper = this.keeper;
    if (this.draining) return "This node is shutting down.";
    if (keeper === null || !keeper.leaseValid()) return "This node cannot prove its ownership of sales right now (PostgreSQL is unreachable).";
    if (this.sales.get(saleId) === undefined || this.leaving.has(saleId)) return `Sale ${saleId} is moving between nodes.`;
    return null;
  }

  private ensureHere(saleId: string): void {
    const why = this.notHere(saleId);
    if (why !== null) throw new Unavailable(why, MOVING_RETRY_SECONDS);
  }

  override hold(saleId: string, command: HoldCommand, reply: HoldReply): void {
    const why = this.notHere(saleId);
    if (why !== null) return reply({ ok: false, refusal: "unavailable", detail: why, retryAfterSeconds: MOVING_RETRY_SECONDS });
    super.hold(saleId, command, reply);
  }

  /**
   * Joins and polls wait like holds while the sale is on its way here: the lease may already name
   * this node while its room is still loading from PostgreSQL, and a buyer told "not found" then
   * would believe their place gone.
   */
  override joinQueue(saleId: string, userId: string, reply: QueueReply): void {
    const why = this.notHere(saleId);
    if (why !== null) return reply({ ok: false, refusal: "unavailable", detail: why, retryAfterSeconds: MOVING_RETRY_SECONDS });
    super.joinQueue(saleId, userId, reply);
  }

  override queuePlace(saleId: string, userId: string, reply: QueueReply): void {
    const why = this.notHere(saleId);
    if (why !== null) return reply({ ok: false, refusal: "unavailable", detail: why, retryAfterSeconds: MOVING_RETRY_SECONDS });
    super.queuePlace(saleId, userId, reply);
  }

  override execute(saleId: string, command: SaleCommand): Promise<Outcome> {
    const why = this.notHere(saleId);
    if (why !== null) return Promise.reject(new Unavailable(why, MOVING_RETRY_SECONDS));
    return super.execute(saleId, command);
  }

  /**
   * A new sale: its lease first (so that its first commit passes the fence and no other node can
   * create it meanwhile), then the sale as on one machine.
   */
  override async createSale(spec: SaleSpec) {
    const keeper = this.keeper;
    if (this.draining || keeper === null || !keeper.leaseValid()) throw new Unavailable("This node cannot take new sales right now.", MOVING_RETRY_SECONDS);
    if (this.sales.get(spec.id) !== undefined) return super.createSale(spec);
    if (this.creating.has(spec.id)) throw new Unavailable(`Sale ${spec.id} is being created.`, MOVING_RETRY_SECONDS);
    this.creating.add(spec.id);
    try {
      const claim = await keeper.claimNew(spec.id);
      if (claim === "exists") return { ok: false as const, refusal: "already_exists" as const, detail: `Sale ${spec.id} exists.` };
      if (claim === "busy") throw new Unavailable(`Sale ${spec.id} is being created on another node.`, MOVING_RETRY_SECONDS);
      try {
        return await super.createSale(spec);
      } catch (error) {
        keeper.unclaim(spec.id);
        throw error;
      }
    } finally {
      this.creating.delete(spec.id);
    }
  }

  override async adminSale(saleId: string) {
    this.ensureHere(saleId);
    return super.adminSale(saleId);
  }

  override async publicSale(saleId: string): Promise<PublicDocument | null> {
    this.ensureHere(saleId);
    return super.publicSale(saleId);
  }

  /** Always through publicSale, which checks the lease first. */
  override publicSaleNow(): undefined {
    return undefined;
  }

  override async reservation(saleId: string, userId: string, reservationId: string) {
    this.ensureHere(saleId);
    return super.reservation(saleId, userId, reservationId);
  }

  override async reservationsOf(saleId: string, userId: string) {
    this.ensureHere(saleId);
    return super.reservationsOf(saleId, userId);
  }

  /** Load a sale whose lease this worker now holds, from PostgreSQL, and serve it. */
  async adopt(saleId: string): Promise<void> {
    const now = this.now();
    const [stored] = await this.nodeOptions.nodeStore.loadSales((id) => id === saleId, now);
    if (stored === undefined) throw new Error(`sale ${saleId} has a lease but no row`);
    const ledger = new SaleLedger(restoreSale(stored, now, this.recent));
    this.sales.add(saleId, ledger, 0, this.nodeOptions.journal.lastSeq);
    // Its copies everywhere (workers of this node, other nodes) are refreshed from this one.
    this.onCommitted(new Set([saleId]));
  }

  /** Stop serving a sale: new commands wait, what was decided for it commits, then it is forgotten. */
  async letGo(saleId: string): Promise<void> {
    if (this.sales.get(saleId) === undefined) return;
    this.leaving.add(saleId);
    try {
      // Expiries may still be decided for it while the first wait runs; wait until none is pending.
      do await this.commit.durable();
      while (this.commit.pending.some((event) => event.saleId === saleId));
      this.sales.remove(saleId);
    } finally {
      this.leaving.delete(saleId);
    }
  }

  /**
   * Leases another node took while this worker served them: forget those sales at once. A batch
   * still holding their events is refused by the fence (or by the gate, which finds no epoch), and
   * the owner stops: nothing decided on a lost lease is ever acknowledged.
   */
  forget(saleIds: readonly string[]): void {
    for (const saleId of saleIds) this.sales.remove(saleId);
  }

  /**
   * Node mode's stop: refuse new commands, let every gated batch land (the journal and the store
   * must not close under one), then stop as one machine does.
   */
  override async stop(drainTimeoutMs = 10_000): Promise<void> {
    this.draining = true;
    const deadline = performance.now() + drainTimeoutMs;
    while (this.commit.busy && performance.now() < deadline) {
      await Promise.race([this.commit.durable().catch(() => {}), Bun.sleep(Math.max(1, deadline - performance.now()))]);
    }
    return super.stop(drainTimeoutMs);
  }
}
