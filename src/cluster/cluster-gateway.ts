// The gateway of a worker in a cluster: sales this worker owns go to its SaleOwner, the others are
// forwarded to their owner over the peer sockets (batched per tick by PeerLink, holds in binary).
// Public reads and sold-out refusals are answered from the snapshots owners publish, without a round
// trip. Forwarded holds and releases carry a token, so that a command resent after its owner
// restarted is answered once (peers.ts, engine/forward-tokens.ts).

import { TokenSource } from "../engine/forward-tokens.ts";
import type { HoldReply, PublicDocument, QueueAnswer, QueueReply, Readiness, RoomNumbers, SaleGateway } from "../engine/gateway.ts";
import { roomNumbers } from "../engine/owner-queue.ts";
import type { SaleOwner } from "../engine/sale-owner.ts";
import type { HoldCommand, Outcome, PaymentOutcome, SaleCommand, SaleSpec } from "../ledger/types.ts";
import type { AdminSaleView } from "../ledger/views.ts";
import type { RegistrySnapshot } from "../metrics/exposition.ts";
import type { ReservationQuery } from "../store/store.ts";
import { ownerOf } from "./ownership.ts";
import { PeerClient, type PeerHandler, PeerServer } from "./peers.ts";
import { QueuePlaces } from "./queue-places.ts";
import { type Snapshot, SnapshotCache } from "./snapshots.ts";

export type ClusterOptions = {
  index: number;
  workers: number;
  /** Socket path of worker i. */
  socketPath: (index: number) => string;
  local: SaleOwner;
  /** This worker's metrics, for a scrape that lands on another worker. */
  metricsSnapshot: () => RegistrySnapshot;
  /** Events peers send that are not this gateway's (the shared address limit's gossip). */
  onEvent?: (op: string, args: unknown) => void;
  log?: (level: "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>) => void;
  /** Counts holds refused sold_out from this worker's copy, without their owner (a metrics child). */
  refusedFromCopy?: { inc(): void };
  /** Counts waiting-room polls by where they were answered (stampede_queue_polls_total). */
  queuePolls?: Record<"copy" | "owner" | "forwarded", { inc(): void }>;
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
/** Changes are published at most this often per sale. */
const SNAPSHOT_INTERVAL_MS = 20;
/**
 * Most an operator's change waits for every connected peer to acknowledge the sale's new copy
 * before its 2xx goes out. A peer that does not answer in this time is stuck or going away; the
 * change is committed either way, and answering an error would invite a retry of a stock delta.
 */
export const ADMIN_SYNC_WAIT_MS = 1_000;

/**
 * Commands by operators. Their answer is sent only once every connected worker holds the sale's
 * copy that shows them (API.md: "in force on every worker once its 2xx is sent"), so that a hold
 * right after a stock or codes upload is never refused sold_out on a stale copy (SnapshotCache).
 * Holds, releases and payments do not wait: they are not operators' writes, and the hot path
 * stays free of any round trip.
 */
const ADMIN_COMMANDS: ReadonlySet<SaleCommand["kind"]> = new Set(["stock", "codes", "patch"]);

export class ClusterGateway implements SaleGateway {
  private readonly peers: (PeerClient | null)[];
  private server: PeerServer | null = null;
  private readonly snapshots = new SnapshotCache();
  private readonly dirty = new Set<string>();
  private readonly tokens: TokenSource;
  private publishTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly refreshTimer: ReturnType<typeof setInterval>;
  private readonly clock: () => number;
  /** Set once every worker has served: from then on a peer's trouble is reported, not fatal. */
  private allServedOnce = false;
  /** Where buyers stand in the rooms of sales other workers own (polls answered here). */
  private readonly places = new QueuePlaces();
  /**
   * The room numbers this worker last published for each sale it owns. Its own buyers' answers use
   * them too, not the live ones, so that a buyer whose polls land on different workers never sees
   * their position grow: every worker then answers from the same serving counter.
   */
  private readonly published = new Map<string, RoomNumbers>();

  constructor(private readonly options: ClusterOptions) {
    const { index, workers, socketPath, local } = options;
    this.clock = options.clock ?? Date.now;
    this.tokens = new TokenSource(index);
    this.peers = Array.from({ length: workers }, (_, i) => {
      if (i === index) return null;
      const client = new PeerClient(i, socketPath(i));
      client.onConnect = () => this.publishAll(client);
      client.onEvent = (op, args) => this.event(op, args);
      return client;
    });
    local.onCommitted = (saleIds) => this.changed(saleIds);
    this.refreshTimer = setInterval(() => this.publishAll(), SNAPSHOT_REFRESH_MS);
    this.refreshTimer.unref?.();
  }

  /** Open this worker's socket to its peers: call once its sales are recovered. */
  listen(): void {
    this.server ??= new PeerServer(this.options.socketPath(this.options.index), this.handler());
  }

  stop(): void {
    clearInterval(this.refreshTimer);
    if (this.publishTimer !== null) clearTimeout(this.publishTimer);
    for (const peer of this.peers) peer?.stop();
    this.server?.stop();
  }

  /** Send a one-way event to every connected peer. */
  broadcast(op: string, args: unknown): void {
    for (const peer of this.peers) peer?.emit(op, args);
  }

  /** Requests and events that other workers send to this one. */
  private handler(): PeerHandler {
    const local = this.options.local;
    return {
      hold: (saleId, command, reply) => local.hold(saleId, command, reply),
      request: async (op, args) => {
        // The peer is this same program, so the arguments have the shape the caller gave them.
        const a = args as PeerArgs;
        switch (op) {
          case "create":
            return this.createOwned(a.spec);
          case "joinQueue":
            return new Promise<QueueAnswer>((resolve) => local.joinQueue(a.saleId, a.userId, resolve));
          case "queuePlace":
            return new Promise<QueueAnswer>((resolve) => local.queuePlace(a.saleId, a.userId, resolve));
          case "execute":
            return this.executeOwned(a.saleId, a.command);
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
          case "snapshot":
            // Put at once (this runs before any later message of the link): the owner is waiting
            // for this answer to send an operator's 2xx.
            this.snapshots.put(a as unknown as Snapshot);
            return true;
          default:
            throw new Error(`unknown peer operation ${op}`);
        }
      },
      event: (op, args) => this.event(op, args),
    };
  }

  private event(op: string, args: unknown): void {
    if (op === "snapshot") this.snapshots.put(args as Snapshot);
    else if (op === "room") {
      const { saleId, room } = args as { saleId: string; room: RoomNumbers | null };
      this.snapshots.putRoom(saleId, room);
    }
    else this.options.onEvent?.(op, args);
  }

  private owner(saleId: string): PeerClient | null {
    return this.peers[ownerOf(saleId, this.options.workers)] ?? null;
  }

  /** Run locally when this worker owns the sale, else forward `op` to its owner. */
  private route<T>(saleId: string, local: () => Promise<T>, op: string, args: unknown, resendable = false): Promise<T> {
    const peer = this.owner(saleId);
    return peer === null ? local() : (peer.call(op, args, resendable) as Promise<T>);
  }

  createSale(spec: SaleSpec) {
    return this.route(spec.id, () => this.createOwned(spec), "create", { spec });
  }

  /**
   * A sale this worker owns is created, and answered once every worker holds its copy: a sale with a
   * waiting room must not take a hold without a token on a worker that has not heard of its room.
   */
  private async createOwned(spec: SaleSpec) {
    const created = await this.options.local.createSale(spec);
    if (created.ok) await this.inForceEverywhere(spec.id);
    return created;
  }

  joinQueue(saleId: string, userId: string, reply: QueueReply): void {
    const peer = this.owner(saleId);
    if (peer === null) return this.options.local.joinQueue(saleId, userId, (answer) => reply(this.asPublished(saleId, answer)));
    // A join sent again after its owner restarted is answered with the place the first one made.
    this.askOwner(peer.call("joinQueue", { saleId, userId }, true), saleId, userId, reply);
  }

  queuePlace(saleId: string, userId: string, reply: QueueReply): void {
    const peer = this.owner(saleId);
    const counted = this.options.queuePolls;
    if (peer === null) {
      counted?.owner.inc();
      return this.options.local.queuePlace(saleId, userId, (answer) => reply(this.asPublished(saleId, answer)));
    }
    const room = this.snapshots.room(saleId);
    const known = room === undefined ? null : this.places.answer(saleId, userId, room, this.clock());
    if (known !== null) {
      counted?.copy.inc();
      return reply(known);
    }
    counted?.forwarded.inc();
    this.askOwner(peer.call("queuePlace", { saleId, userId }, true), saleId, userId, reply);
  }

  private askOwner(call: Promise<unknown>, saleId: string, userId: string, reply: QueueReply): void {
    call.then(
      (value) => {
        const answer = this.asPublished(saleId, value as QueueAnswer);
        this.places.remember(saleId, userId, answer);
        reply(answer);
      },
      (error: unknown) => {
        const retryAfterSeconds = (error as { retryAfterSeconds?: number }).retryAfterSeconds ?? 1;
        reply({ ok: false, refusal: "unavailable", detail: error instanceof Error ? error.message : String(error), retryAfterSeconds });
      },
    );
  }

  /**
   * The owner's answer told with the serving counter every worker has (the published one), never a
   * newer one, so that a position counted here is never smaller than one another worker counts
   * later. An admission is told as soon as the owner has it (its token is good at once).
   */
  private asPublished(saleId: string, answer: QueueAnswer): QueueAnswer {
    if (!answer.ok) return answer;
    const room = this.published.get(saleId) ?? this.snapshots.room(saleId);
    if (room === undefined || room.epoch !== answer.room.epoch) return answer;
    return { ...answer, room };
  }

  admissionRequired(saleId: string): boolean {
    // A sale is this worker's or another's: it is in at most one of the two, and each is a size check when empty.
    return this.options.local.admissionRequired(saleId) || this.snapshots.admissionRequired(saleId);
  }

  hold(saleId: string, command: HoldCommand, reply: HoldReply): void {
    const peer = this.owner(saleId);
    if (peer === null) return this.options.local.hold(saleId, command, reply);
    if (command.idempotencyKey === null) {
      const refusal = this.snapshots.soldOut(saleId, command.itemId, command.quantity, this.clock());
      if (refusal !== null) {
        this.options.refusedFromCopy?.inc();
        return reply(refusal);
      }
    }
    command.token = this.tokens.next();
    peer.hold(saleId, command, reply);
  }

  execute(saleId: string, command: SaleCommand): Promise<Outcome> {
    const peer = this.owner(saleId);
    if (peer === null) return this.executeOwned(saleId, command);
    // A release under a token, and a payment (deduplicated by its event id), are safe to send again
    // after the owner restarted; stock and codes changes are not, and fail if their owner goes away.
    const resendable = command.kind === "release" || command.kind === "payment";
    const sent = command.kind === "release" ? { ...command, token: this.tokens.next() } : command;
    return peer.call("execute", { saleId, command: sent }, resendable) as Promise<Outcome>;
  }

  /** A command on a sale this worker owns; an operator's change answers once every peer shows it. */
  private async executeOwned(saleId: string, command: SaleCommand): Promise<Outcome> {
    const outcome = await this.options.local.execute(saleId, command);
    if (outcome.ok && ADMIN_COMMANDS.has(command.kind)) await this.inForceEverywhere(saleId);
    return outcome;
  }

  /**
   * Hand every connected peer the sale's copy as it is now (committed: `execute` resolved after
   * the commit) and wait for each to acknowledge it, at most ADMIN_SYNC_WAIT_MS. A peer that is not
   * connected has no copy to be stale about: it gets every sale's copy when it connects, before it
   * can answer a hold from one (publishAll on connect).
   */
  private async inForceEverywhere(saleId: string): Promise<void> {
    const sale = this.options.local.sales.get(saleId);
    if (sale === undefined) return;
    const { document, etag } = this.options.local.reads.document(sale);
    const snapshot: Snapshot = { saleId, document, etag, room: this.publishedRoom(saleId, sale.ledger.state) };
    const acknowledged = this.peers.map((peer) =>
      peer === null || !peer.connected ? Promise.resolve(true) : peer.probe("snapshot", snapshot).then(() => true, () => false),
    );
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"late">((resolve) => {
      timer = setTimeout(() => resolve("late"), ADMIN_SYNC_WAIT_MS);
    });
    const result = await Promise.race([Promise.all(acknowledged), late]);
    clearTimeout(timer);
    if (result === "late" || result.includes(false)) {
      this.options.log?.("warn", "admin change answered before every worker acknowledged it", { sale: saleId, waitMs: ADMIN_SYNC_WAIT_MS });
    }
  }

  adminSale(saleId: string) {
    return this.route(saleId, () => this.options.local.adminSale(saleId), "adminSale", { saleId });
  }

  async listSales(): Promise<AdminSaleView[]> {
    const lists = await Promise.all(
      this.peers.map((peer) => (peer === null ? this.options.local.listSales() : (peer.call("listSales", null) as Promise<AdminSaleView[]>))),
    );
    return lists.flat().sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async publicSale(saleId: string): Promise<PublicDocument | null> {
    if (this.owner(saleId) !== null) {
      const cached = this.snapshots.get(saleId);
      if (cached !== undefined) return cached;
    }
    return this.route(saleId, () => this.options.local.publicSale(saleId), "publicSale", { saleId });
  }

  publicSaleNow(saleId: string): PublicDocument | null | undefined {
    if (this.owner(saleId) !== null) return this.snapshots.get(saleId);
    return this.options.local.publicSaleNow(saleId);
  }

  watchSale(saleId: string, listener: (document: string) => void) {
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

  /** Commands forwarded to other workers and not yet answered, over all peers (a metrics gauge). */
  forwardQueueDepth(): number {
    let depth = 0;
    for (const peer of this.peers) depth += peer?.inFlight ?? 0;
    return depth;
  }

  /** Per peer: connected, calls in flight, bytes queued, connection attempts, resends (metrics). */
  peerStates(): { index: number; connected: boolean; inFlight: number; queuedBytes: number; attempts: number; resends: number }[] {
    return this.peers
      .filter((peer): peer is PeerClient => peer !== null)
      .map((peer) => ({
        index: peer.index,
        connected: peer.connected,
        inFlight: peer.inFlight,
        queuedBytes: peer.queuedBytes,
        attempts: peer.attempts,
        resends: peer.resends,
      }));
  }

  /** Metrics of every worker, for one scrape; a worker that does not answer is left out. */
  async metricsSnapshots(): Promise<RegistrySnapshot[]> {
    // This worker's own picture is taken before any peer is asked, and the asking is a probe, not
    // a forwarded command: the scrape never counts itself in stampede_forward_queue_depth.
    const own = this.options.metricsSnapshot();
    const snapshots = await Promise.all(
      this.peers.map((peer) => (peer === null ? Promise.resolve(own) : (peer.probe("metrics", null) as Promise<RegistrySnapshot>).catch(() => null))),
    );
    return snapshots.filter((snapshot): snapshot is RegistrySnapshot => snapshot !== null);
  }

  readiness(): Readiness {
    const local = this.options.local.readiness();
    const down = this.peers.filter((peer) => peer !== null && !peer.connected).map((peer) => peer?.index);
    const reasons = [...local.reasons];
    if (down.length > 0) reasons.push(`workers ${down.join(", ")} not serving (their sales answer 503)`);
    if (down.length === 0 && local.ready) this.allServedOnce = true;
    // Until every worker has recovered once, the server is not ready (a sale could still answer
    // 503). After that a worker that restarts is reported, but the others keep the server ready:
    // they sell their sales, and taking the whole node out of rotation would stop those too.
    return { ...local, reasons, ready: local.ready && (this.allServedOnce || down.length === 0) };
  }

  /** Owner side: note changed sales and publish them within SNAPSHOT_INTERVAL_MS. */
  private changed(saleIds: Iterable<string>): void {
    for (const saleId of saleIds) {
      this.dirty.add(saleId);
      // A room's numbers go out with every commit, not 20 ms later with the document: a buyer told
      // their position here may poll another worker next, which must count from the same counter.
      if (this.options.local.admissionRequired(saleId) || this.published.has(saleId)) this.publishRoomNow(saleId);
    }
    if (this.publishTimer === null && this.dirty.size > 0) {
      this.publishTimer = setTimeout(() => this.publishDirty(), SNAPSHOT_INTERVAL_MS);
    }
  }

  private publishDirty(): void {
    this.publishTimer = null;
    const saleIds = [...this.dirty];
    this.dirty.clear();
    this.publish(saleIds, null);
  }

  private publishAll(only: PeerClient | null = null): void {
    this.publish(this.options.local.ownedSaleIds(), only);
  }

  private publish(saleIds: readonly string[], only: PeerClient | null): void {
    const local = this.options.local;
    for (const saleId of saleIds) {
      const sale = local.sales.get(saleId);
      if (sale === undefined) continue;
      const { document, etag } = local.reads.document(sale);
      const snapshot: Snapshot = { saleId, document, etag, room: this.publishedRoom(saleId, sale.ledger.state) };
      for (const peer of only === null ? this.peers : [only]) peer?.emit("snapshot", snapshot);
    }
  }

  private publishRoomNow(saleId: string): void {
    const sale = this.options.local.sales.get(saleId);
    if (sale === undefined) return;
    const room = this.publishedRoom(saleId, sale.ledger.state);
    for (const peer of this.peers) peer?.emit("room", { saleId, room });
  }

  /** The room numbers of a sale this worker owns, as it publishes them now (and remembers them). */
  private publishedRoom(saleId: string, state: Parameters<typeof roomNumbers>[0]): RoomNumbers | null {
    const room = roomNumbers(state, this.options.local.now());
    if (room === null) this.published.delete(saleId);
    else this.published.set(saleId, room);
    return room;
  }
}
