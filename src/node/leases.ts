// One worker's leases on the sales it owns in node mode (DESIGN.md, "Beyond one machine"). Each sale
// has one lease row (node/schema.ts) naming its owner node and an epoch, the fencing token its
// commits check. Every TICK_MS this keeper, in each worker, heartbeats the node, renews the leases it
// holds, reads who owns what (the directory the gateway routes by), and then:
//   - takes a sale that rendezvous hashing gives to this node and, inside it, to this worker, when its
//     lease is free, run out, or left by an earlier run of this node (epoch + 1), then loads the sale
//     from PostgreSQL and serves it;
//   - hands a sale over when another live, settled node should own it (it joined or came back):
//     stops taking commands for it, lets what is decided commit, then releases the lease.
// The owner acknowledges only while its leases are provably its own: a renewal sent less than
// ACK_WINDOW_MS ago succeeded, and a lease lasts LEASE_MS from the moment PostgreSQL renewed it,
// which is later than the moment the renewal was sent. A renewal that finds a lease taken means
// another node owns the sale now: `lost` is told (the owner stops).

import { ownerOf } from "../cluster/ownership.ts";
import { invariant } from "../ledger/invariant.ts";
import type { StoreSql } from "../store/postgres/apply-batch.ts";
import { heartbeat, type LiveNode, liveNodes, markGone, type NodeIdentity } from "./node-registry.ts";
import { preferredNode } from "./rendezvous.ts";

/** How long a lease lasts past its last renewal (PostgreSQL's clock). */
export const LEASE_MS = 6_000;
/** An owner stops acknowledging once its last successful renewal was sent this long ago. */
export const ACK_WINDOW_MS = 4_000;
/** How often leases are renewed and the directory read. */
export const TICK_MS = 500;
/** A tick that takes longer than this is abandoned (its connection dropped): PostgreSQL is away. */
const TICK_TIMEOUT_MS = 2_000;

invariant(ACK_WINDOW_MS + TICK_TIMEOUT_MS <= LEASE_MS, "an owner must stop acknowledging before its lease can run out");

/** Who owns a sale, as the directory last read it; `live` is false once its lease ran out. */
export type Lease = { nodeId: string | null; epoch: number; live: boolean };

export type LeaseKeeperOptions = {
  /** A client of this keeper's own (a small pool), never the commits' connection. */
  sql: () => StoreSql;
  /** Drop the client after a timeout (a connection to a vanished server would hang the next tick too). */
  resetSql: () => void;
  me: NodeIdentity;
  /** This worker's index inside its node. */
  index: number;
  /** Load the sale from PostgreSQL and serve it (its lease is held). */
  adopt: (saleId: string) => Promise<void>;
  /** Stop serving the sale and let what was decided commit; the lease is released after. */
  letGo: (saleId: string) => Promise<void>;
  /** Leases found taken by another node while this worker served them: the owner must stop. */
  lost: (saleIds: string[]) => void;
  /** Called before the first lease is taken: the journal's numbers must follow the store's. */
  beforeFirstLease: () => Promise<void>;
  log: (level: "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>) => void;
};

export class LeaseKeeper {
  /** Sales whose lease this worker holds, with the epoch it holds them at. */
  readonly held = new Map<string, number>();
  /** Every sale the directory knows, with its lease (the gateway's routing table). */
  readonly directory = new Map<string, Lease>();
  /** The live nodes, this one always among them. */
  nodes = new Map<string, LiveNode>();
  private readonly moving = new Set<string>();
  /** performance.now() when the last tick whose renewal succeeded was sent. */
  private renewedAt = Number.NEGATIVE_INFINITY;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;
  private aligned = false;
  /** Ticks that failed in a row (for the log: the first and every 20th). */
  private failures = 0;

  constructor(private readonly options: LeaseKeeperOptions) {
    const { me } = options;
    this.nodes.set(me.nodeId, { id: me.nodeId, advertiseUrl: me.advertiseUrl, workers: me.workers, settled: true });
  }

  get nodeId(): string {
    return this.options.me.nodeId;
  }

  start(): void {
    void this.loop();
  }

  /** Whether this worker may acknowledge now: its last renewal was sent within ACK_WINDOW_MS. */
  leaseValid(now = performance.now()): boolean {
    return now - this.renewedAt < ACK_WINDOW_MS;
  }

  /** Milliseconds since the last successful renewal was sent (for /readyz and metrics). */
  renewAgeMs(now = performance.now()): number {
    return now - this.renewedAt;
  }

  epochOf(saleId: string): number | undefined {
    return this.held.get(saleId);
  }

  /** The node that should own a sale now among the live ones (where a create goes). */
  preferred(saleId: string): string {
    return preferredNode(saleId, [...this.nodes.keys()]) ?? this.options.me.nodeId;
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      const started = performance.now();
      try {
        await withTimeout(this.tick(started), TICK_TIMEOUT_MS);
        if (this.failures > 0) this.options.log("info", "PostgreSQL answers the lease keeper again", { failedTicks: this.failures });
        this.failures = 0;
      } catch (error) {
        this.failures += 1;
        this.options.resetSql();
        if (this.failures === 1 || this.failures % 20 === 0) {
          this.options.log("warn", "lease tick failed", { error: error instanceof Error ? error.message : String(error), failedTicks: this.failures });
        }
      }
      const wait = Math.max(0, TICK_MS - (performance.now() - started));
      await new Promise<void>((resolve) => {
        this.timer = setTimeout(resolve, wait);
      });
    }
  }

  private async tick(sentAt: number): Promise<void> {
    const sql = this.options.sql();
    if (!this.aligned) {
      await this.options.beforeFirstLease();
      this.aligned = true;
    }
    const renewing = [...this.held].filter(([saleId]) => !this.moving.has(saleId));
    const [, nodes, renewed, leases] = await Promise.all([
      heartbeat(sql, this.options.me),
      liveNodes(sql),
      renewing.length === 0
        ? Promise.resolve([])
        : sql`
          UPDATE sale_leases AS l SET expires_at = now() + make_interval(secs => ${LEASE_MS / 1000})
          FROM unnest(${renewing.map(([saleId]) => saleId)}::text[], ${renewing.map(([, epoch]) => epoch)}::int8[]) AS u(sale_id, epoch)
          WHERE l.sale_id = u.sale_id AND l.epoch = u.epoch AND l.node_id = ${this.nodeId}
          RETURNING l.sale_id`,
      sql`
        SELECT s.id, l.node_id, l.epoch, (l.node_id IS NOT NULL AND l.expires_at > now()) AS live
        FROM sales s LEFT JOIN sale_leases l ON l.sale_id = s.id`,
    ]);
    const kept = new Set(renewed.map((row) => row.sale_id as string));
    const lost = renewing.filter(([saleId, epoch]) => !kept.has(saleId) && this.held.get(saleId) === epoch && !this.moving.has(saleId));
    if (lost.length > 0) {
      for (const [saleId] of lost) this.held.delete(saleId);
      this.options.lost(lost.map(([saleId]) => saleId));
    }
    this.renewedAt = sentAt;
    this.nodes = new Map(nodes.map((node) => [node.id, node]));
    if (!this.nodes.has(this.nodeId)) {
      const { me } = this.options;
      this.nodes.set(me.nodeId, { id: me.nodeId, advertiseUrl: me.advertiseUrl, workers: me.workers, settled: true });
    }
    this.directory.clear();
    for (const row of leases) {
      const saleId = row.id as string;
      const nodeId = (row.node_id as string | null) ?? null;
      this.directory.set(saleId, { nodeId, epoch: (row.epoch as number | null) ?? 0, live: row.live === true });
    }
    // What this worker holds is its own, whatever a read that raced a takeover of ours said.
    for (const [saleId, epoch] of this.held) this.directory.set(saleId, { nodeId: this.nodeId, epoch, live: true });
    if (!this.stopped) this.rebalance();
  }

  /** Take what should be this worker's and is free; hand over what should be another node's. */
  private rebalance(): void {
    const nodeIds = [...this.nodes.keys()];
    const { me, index } = this.options;
    for (const [saleId, lease] of this.directory) {
      if (this.moving.has(saleId)) continue;
      const preferred = preferredNode(saleId, nodeIds);
      const mine = preferred === me.nodeId && ownerOf(saleId, me.workers) === index;
      const held = this.held.has(saleId);
      if (mine && !held && (lease.nodeId === null || !lease.live || lease.nodeId === me.nodeId)) {
        void this.acquire(saleId, lease.nodeId === null && lease.epoch === 0 ? null : lease.epoch);
      } else if (!mine && held && preferred !== null && preferred !== me.nodeId && this.nodes.get(preferred)?.settled === true) {
        void this.release(saleId);
      }
    }
  }

  private async acquire(saleId: string, seenEpoch: number | null): Promise<void> {
    this.moving.add(saleId);
    try {
      const sql = this.options.sql();
      const rows =
        seenEpoch === null
          ? await sql`
            INSERT INTO sale_leases (sale_id, node_id, epoch, expires_at)
            VALUES (${saleId}, ${this.nodeId}, 1, now() + make_interval(secs => ${LEASE_MS / 1000}))
            ON CONFLICT (sale_id) DO NOTHING RETURNING epoch`
          : await sql`
            UPDATE sale_leases SET node_id = ${this.nodeId}, epoch = epoch + 1,
              expires_at = now() + make_interval(secs => ${LEASE_MS / 1000})
            WHERE sale_id = ${saleId} AND epoch = ${seenEpoch}
              AND (node_id IS NULL OR node_id = ${this.nodeId} OR expires_at <= now())
            RETURNING epoch`;
      const epoch = rows[0]?.epoch as number | undefined;
      if (epoch === undefined || this.stopped) return;
      this.held.set(saleId, epoch);
      this.directory.set(saleId, { nodeId: this.nodeId, epoch, live: true });
      const started = performance.now();
      try {
        await this.options.adopt(saleId);
      } catch (error) {
        // The lease stays ours and runs out unless a later tick adopts the sale again.
        this.held.delete(saleId);
        this.options.log("warn", "could not load a leased sale", { sale: saleId, error: error instanceof Error ? error.message : String(error) });
        return;
      }
      this.options.log("info", "sale taken over", { sale: saleId, epoch, from: seenEpoch === null ? null : "earlier owner", loadMs: Math.round(performance.now() - started) });
    } catch (error) {
      this.options.log("warn", "lease take-over failed", { sale: saleId, error: error instanceof Error ? error.message : String(error) });
    } finally {
      this.moving.delete(saleId);
    }
  }

  /** Hand a sale over: stop serving it, let its decisions commit, then free the lease at once. */
  async release(saleId: string): Promise<void> {
    const epoch = this.held.get(saleId);
    if (epoch === undefined || this.moving.has(saleId)) return;
    this.moving.add(saleId);
    try {
      await this.options.letGo(saleId);
      this.held.delete(saleId);
      this.directory.set(saleId, { nodeId: null, epoch, live: false });
      await this.options.sql()`
        UPDATE sale_leases SET node_id = NULL, expires_at = now()
        WHERE sale_id = ${saleId} AND node_id = ${this.nodeId} AND epoch = ${epoch}`;
      this.options.log("info", "sale handed over", { sale: saleId, epoch });
    } catch (error) {
      // The lease runs out by itself within LEASE_MS; the new owner takes it then.
      this.options.log("warn", "lease release failed", { sale: saleId, error: error instanceof Error ? error.message : String(error) });
    } finally {
      this.moving.delete(saleId);
    }
  }

  /**
   * A new sale's lease, taken before the sale exists (createSale): "claimed" with its epoch; "exists"
   * when the sale does; "busy" when another node is creating it now.
   */
  async claimNew(saleId: string): Promise<{ claimed: number } | "exists" | "busy"> {
    const sql = this.options.sql();
    const rows = await sql`
      INSERT INTO sale_leases (sale_id, node_id, epoch, expires_at)
      SELECT ${saleId}, ${this.nodeId}, 1, now() + make_interval(secs => ${LEASE_MS / 1000})
      WHERE NOT EXISTS (SELECT 1 FROM sales WHERE id = ${saleId})
      ON CONFLICT (sale_id) DO UPDATE SET node_id = EXCLUDED.node_id, epoch = sale_leases.epoch + 1, expires_at = EXCLUDED.expires_at
        WHERE (sale_leases.node_id IS NULL OR sale_leases.expires_at <= now())
          AND NOT EXISTS (SELECT 1 FROM sales WHERE id = ${saleId})
      RETURNING epoch`;
    const epoch = rows[0]?.epoch as number | undefined;
    if (epoch !== undefined) {
      this.held.set(saleId, epoch);
      this.directory.set(saleId, { nodeId: this.nodeId, epoch, live: true });
      return { claimed: epoch };
    }
    const [found] = await sql`SELECT 1 FROM sales WHERE id = ${saleId}`;
    return found === undefined ? "busy" : "exists";
  }

  /** A create that failed after its claim: the lease goes back (the sale was never made). */
  unclaim(saleId: string): void {
    this.held.delete(saleId);
    this.directory.delete(saleId);
  }

  /** The directory's entry of one sale, read now (a miss of the routing table); null: no such sale. */
  async lookup(saleId: string): Promise<Lease | null> {
    const [row] = await this.options.sql()`
      SELECT l.node_id, l.epoch, (l.node_id IS NOT NULL AND l.expires_at > now()) AS live
      FROM sales s LEFT JOIN sale_leases l ON l.sale_id = s.id WHERE s.id = ${saleId}`;
    if (row === undefined) return null;
    const lease: Lease = this.held.has(saleId)
      ? { nodeId: this.nodeId, epoch: this.held.get(saleId) as number, live: true }
      : { nodeId: (row.node_id as string | null) ?? null, epoch: (row.epoch as number | null) ?? 0, live: row.live === true };
    this.directory.set(saleId, lease);
    return lease;
  }

  /**
   * Stop: no more ticks; release every lease held (the owner has drained, so nothing is pending) and
   * mark the node gone, so that other nodes take the sales over at once rather than after LEASE_MS.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    const held = [...this.held];
    this.held.clear();
    try {
      const sql = this.options.sql();
      await withTimeout(
        Promise.all([
          held.length === 0
            ? Promise.resolve()
            : sql`
              UPDATE sale_leases AS l SET node_id = NULL, expires_at = now()
              FROM unnest(${held.map(([saleId]) => saleId)}::text[], ${held.map(([, epoch]) => epoch)}::int8[]) AS u(sale_id, epoch)
              WHERE l.sale_id = u.sale_id AND l.epoch = u.epoch AND l.node_id = ${this.nodeId}`,
          markGone(sql, this.nodeId),
        ]),
        TICK_TIMEOUT_MS,
      );
    } catch (error) {
      this.options.log("warn", "leases not released at stop (they run out by themselves)", { error: error instanceof Error ? error.message : String(error) });
    }
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer from PostgreSQL within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}
