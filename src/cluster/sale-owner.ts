// The owner of a set of sales inside one worker process: their ledgers (single writer, so decisions
// need no locks), the worker's journal with group commit, the expiry tick and the write-behind
// flusher. Every command is decided at once and answered after the tick's journal commit.

import { GroupCommit } from "../journal/group-commit.ts";
import type { Journal } from "../journal/journal.ts";
import { restoreSale } from "../ledger/restore.ts";
import { SaleLedger } from "../ledger/sale-ledger.ts";
import { log } from "../log.ts";
import type { Outcome, PaymentOutcome, SaleCommand, SaleSpec } from "../ledger/types.ts";
import { type PublicSaleView, adminSaleView, publicSaleView, reservationView } from "../ledger/views.ts";
import type { TokenBuckets } from "../http/token-buckets.ts";
import type { ReservationQuery, Store } from "../store/store.ts";
import { type Flusher, WriteBehind } from "../store/write-behind.ts";
import type { CreateOutcome, SaleGateway } from "./gateway.ts";
import { Unavailable } from "./gateway.ts";
import type { OwnerMetrics } from "./owner-metrics.ts";
import { SaleWatchers } from "./sale-watchers.ts";

export type SaleOwnerOptions = {
  journal: Journal;
  store: Store;
  journalId: string;
  /** Whether this owner owns `saleId` (one worker: every sale). */
  owns?: (saleId: string) => boolean;
  clock?: () => number;
  expiryIntervalMs?: number;
  /** How long an operator read waits for the store to catch up before answering 503. */
  storeReadWaitMs?: number;
  /** Past this many unflushed journal entries, new holds are refused with 503 (bounded backlog). */
  journalBacklogMax?: number;
  metrics?: OwnerMetrics;
  /** Where the journal is flushed into the store; by default on this event loop. */
  flusher?: Flusher;
  /** Called when a journal commit fails: memory holds decisions that are not durable. */
  fatal?: (error: unknown) => void;
  /** The per-buyer hold limit, taken here where every worker's holds of a sale arrive (429 beyond). */
  buyerLimits?: TokenBuckets;
};

export class SaleOwner implements SaleGateway {
  private readonly ledgers = new Map<string, SaleLedger>();
  private readonly commit: GroupCommit;
  readonly writeBehind: Flusher;
  private readonly watchers: SaleWatchers;
  private readonly clock: () => number;
  private lastNow = 0;
  private expiryTimer: ReturnType<typeof setInterval> | null = null;
  private state: "recovering" | "serving" | "draining" = "recovering";
  private readonly epoch = Date.now().toString(36);
  /** The last public document of each sale, reused while its version stands (reads are hot). */
  private readonly publicViews = new Map<string, { view: PublicSaleView; version: string }>();
  /** Told which sales each commit changed (the cluster publishes their snapshots). */
  onCommitted: (saleIds: Set<string>) => void = () => {};

  constructor(private readonly options: SaleOwnerOptions) {
    this.clock = options.clock ?? Date.now;
    this.writeBehind = options.flusher ?? new WriteBehind(options.journal, options.store, options.journalId);
    this.watchers = new SaleWatchers((saleId) => {
      const ledger = this.ledgers.get(saleId);
      return ledger === undefined ? null : publicSaleView(ledger.state, this.now());
    });
    this.commit = new GroupCommit(options.journal, {
      committed: (_lastSeq, events, commitMs) => {
        options.metrics?.committed(events.length, commitMs);
        this.writeBehind.notify();
        this.watchers.changed(events);
        const saleIds = new Set<string>();
        for (const event of events) saleIds.add(event.saleId);
        this.onCommitted(saleIds);
      },
      failed: (error) => (options.fatal ?? defaultFatal)(error),
    });
  }

  /** Time for the ledgers: the wall clock, never going backwards within this process. */
  now(): number {
    const now = this.clock();
    if (now > this.lastNow) this.lastNow = now;
    return this.lastNow;
  }

  /** Recovery: apply the journal's unflushed tail to the store, load the owned sales, then serve. */
  async start(): Promise<void> {
    await this.writeBehind.open();
    await this.writeBehind.drain();
    const owns = this.options.owns ?? (() => true);
    const now = this.now();
    for (const snapshot of await this.options.store.loadSales(owns)) {
      this.ledgers.set(snapshot.sale.id, new SaleLedger(restoreSale(snapshot, now)));
    }
    this.state = "serving";
    this.expiryTimer = setInterval(() => this.expireDue(), this.options.expiryIntervalMs ?? 100);
    this.expireDue();
  }

  private stopping: Promise<void> | null = null;

  /** Stop taking commands, commit what was decided, flush the store. Safe to call twice. */
  stop(): Promise<void> {
    this.stopping ??= this.drainAndStop();
    return this.stopping;
  }

  private async drainAndStop(): Promise<void> {
    this.state = "draining";
    if (this.expiryTimer !== null) clearInterval(this.expiryTimer);
    this.watchers.close();
    this.commit.commit();
    await this.writeBehind.drain();
    await this.writeBehind.stop();
  }

  ownedSaleIds(): string[] {
    return [...this.ledgers.keys()];
  }

  /** Events decided and waiting for their journal commit (admission control sheds holds past a bound). */
  get pendingEvents(): number {
    return this.commit.pending.length;
  }

  get saleCount(): number {
    return this.ledgers.size;
  }

  private ensureServing(): void {
    if (this.state === "recovering") throw new Unavailable("The server is recovering its sales.", 1);
    if (this.state === "draining") throw new Unavailable("The server is shutting down.", 2);
  }

  async createSale(spec: SaleSpec): Promise<CreateOutcome> {
    this.ensureServing();
    if (this.ledgers.has(spec.id)) return { ok: false, refusal: "already_exists", detail: `Sale ${spec.id} exists.` };
    const now = this.now();
    const ledger = SaleLedger.create(spec, now, this.commit.pending);
    this.ledgers.set(spec.id, ledger);
    await this.commit.durable();
    return { ok: true, sale: adminSaleView(ledger.state, this.now()) };
  }

  async execute(saleId: string, command: SaleCommand): Promise<Outcome> {
    this.ensureServing();
    let rateLimit: { remaining: number; resetSeconds: number } | undefined;
    if (command.kind === "hold" && this.options.buyerLimits?.enabled === true) {
      const taken = this.options.buyerLimits.take(command.userId);
      if (!taken.ok) {
        const detail = `Too many holds from this buyer; retry after ${taken.retryAfterSeconds} s.`;
        return { ok: false, refusal: "rate_limited", detail, retryAfterSeconds: taken.retryAfterSeconds };
      }
      rateLimit = { remaining: taken.remaining, resetSeconds: taken.resetSeconds };
    }
    const ledger = this.ledgers.get(saleId);
    if (ledger === undefined) return { ok: false, refusal: "not_found", detail: `No sale ${saleId}.` };
    if (command.kind === "hold") this.admitHold();
    const now = this.now();
    // Holds past their time go first, so a unit whose hold just expired is never refused as sold out.
    const due = ledger.nextExpiry();
    if (due !== undefined && due <= now) ledger.expire(now, this.commit.pending);
    const outcome = frozen(ledger.execute(command, now, this.commit.pending), rateLimit);
    this.options.metrics?.outcome(command.kind, outcome);
    // Wait even when nothing changed: an answer may rest on events still waiting for their commit.
    await this.commit.durable();
    return outcome;
  }

  /** New holds stop when the store has fallen too far behind (the journal's bound). */
  private admitHold(): void {
    const max = this.options.journalBacklogMax ?? Number.POSITIVE_INFINITY;
    if (this.writeBehind.backlog > max) {
      throw new Unavailable("The system of record is behind; holds pause until it catches up.", 5);
    }
  }

  private async readLedger(saleId: string): Promise<SaleLedger | null> {
    this.ensureServing();
    // Reads wait for the pending commit, so nobody sees a decision that could still be lost.
    await this.commit.durable();
    return this.ledgers.get(saleId) ?? null;
  }

  async adminSale(saleId: string) {
    const ledger = await this.readLedger(saleId);
    return ledger === null ? null : adminSaleView(ledger.state, this.now());
  }

  async listSales() {
    this.ensureServing();
    await this.commit.durable();
    const now = this.now();
    return [...this.ledgers.values()].map((ledger) => adminSaleView(ledger.state, now));
  }

  async publicSale(saleId: string) {
    const ledger = await this.readLedger(saleId);
    if (ledger === null) return null;
    const now = this.now();
    // The epoch makes a version unique across restarts of this owner (the ledger's count restarts).
    const version = `${this.epoch}.${ledger.state.version}-${ledger.state.status(now)}`;
    const cached = this.publicViews.get(saleId);
    if (cached?.version === version) return cached;
    const found = { view: publicSaleView(ledger.state, now), version };
    this.publicViews.set(saleId, found);
    return found;
  }

  watchSale(saleId: string, listener: (view: PublicSaleView) => void): (() => void) | null {
    if (!this.ledgers.has(saleId)) return null;
    return this.watchers.watch(saleId, listener);
  }

  async reservation(saleId: string, userId: string, reservationId: string) {
    const ledger = await this.readLedger(saleId);
    const reservation = ledger?.state.reservations.get(reservationId);
    return reservation === undefined || reservation.userId !== userId ? null : reservationView(reservation);
  }

  async reservationsOf(saleId: string, userId: string) {
    const ledger = await this.readLedger(saleId);
    if (ledger === null) return null;
    return (ledger.state.reservationsByUser.get(userId) ?? []).map(reservationView);
  }

  private async storeBarrier(): Promise<void> {
    this.ensureServing();
    await this.commit.durable();
    const caughtUp = await this.writeBehind.caughtUp(this.options.journal.lastSeq, this.options.storeReadWaitMs ?? 5000);
    if (!caughtUp) throw new Unavailable("The system of record is behind the journal; try again shortly.", 2);
  }

  async storeReservations(saleId: string, query: ReservationQuery) {
    await this.storeBarrier();
    return this.options.store.listReservations(saleId, query);
  }

  async storePayments(saleId: string, outcome?: PaymentOutcome) {
    await this.storeBarrier();
    return this.options.store.listPayments(saleId, outcome);
  }

  /** Per-item unit counts for the metrics scrape. */
  unitGauges(): { labels: string[]; value: number }[] {
    const readings: { labels: string[]; value: number }[] = [];
    for (const ledger of this.ledgers.values()) {
      for (const item of ledger.state.items.values()) {
        const labels = (state: string) => [ledger.state.id, item.id, state];
        readings.push({ labels: labels("available"), value: item.available });
        readings.push({ labels: labels("held"), value: item.held });
        readings.push({ labels: labels("confirmed"), value: item.confirmed });
      }
    }
    return readings;
  }

  readiness() {
    const reasons: string[] = [];
    if (this.state === "recovering") reasons.push("recovering");
    if (this.state === "draining") reasons.push("draining");
    const backlog = this.writeBehind.backlog;
    const max = this.options.journalBacklogMax ?? Number.POSITIVE_INFINITY;
    if (backlog > max) reasons.push("store unreachable with journal backlog past its bound");
    return { ready: reasons.length === 0, reasons, journalBacklog: backlog, storeError: this.writeBehind.lastError };
  }

  /** The expiry tick: every hold past its `expiresAt` returns its stock (invariant 6). */
  private expireDue(): void {
    if (this.state !== "serving") return;
    const now = this.now();
    const before = this.commit.pending.length;
    for (const ledger of this.ledgers.values()) {
      const due = ledger.nextExpiry();
      if (due !== undefined && due <= now) ledger.expire(now, this.commit.pending);
    }
    const expired = this.commit.pending.length - before;
    if (expired > 0) {
      this.options.metrics?.expired(expired);
      this.commit.durable().catch(() => {});
    }
  }
}

/**
 * The outcome as it is now: the answer goes out after the commit, and another command of the same
 * tick (a release, a late payment) must not change what this one answers. With it goes what is left
 * of the buyer's hold budget, when the owner took a token.
 */
function frozen(outcome: Outcome, rateLimit?: { remaining: number; resetSeconds: number }): Outcome {
  if (!outcome.ok || !("reservation" in outcome)) return outcome;
  const reservation = { ...outcome.reservation };
  return rateLimit === undefined ? { ...outcome, reservation } : { ...outcome, reservation, rateLimit };
}

function defaultFatal(error: unknown): void {
  log("fatal", "journal commit failed", { error: String(error) });
  setTimeout(() => process.exit(1), 50);
}
