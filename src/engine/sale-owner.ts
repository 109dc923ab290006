// The engine: the owner of a set of sales inside one worker process. It holds their ledgers (single
// writer, so decisions need no locks), decides every command at once, commits the tick's events to
// the worker's journal in one group commit and answers after it; it expires holds on time, snapshots
// sales so the journal stays short, and recovers them from the journal alone (recovery.ts). The
// store and the journal's upkeep run behind it, in the background thread (background.ts).
//
// Fail-stop: a broken invariant (or any exception out of a ledger) means memory may hold half a
// decision. The owner then commits nothing more and stops the process at once; recovery rebuilds
// the sales from what was committed.

import type { GroupCommit } from "../journal/group-commit.ts";
import type { Journal } from "../journal/journal.ts";
import type { SnapshotFile } from "../journal/snapshots.ts";
import { RecentEnded } from "../ledger/recent-ended.ts";
import { SaleLedger } from "../ledger/sale-ledger.ts";
import type { HoldCommand, Outcome, PaymentOutcome, Reservation, SaleCommand, SaleSpec } from "../ledger/types.ts";
import { adminSaleView } from "../ledger/views.ts";
import type { TokenBuckets } from "../limits/token-buckets.ts";
import type { ReservationQuery, Store } from "../store/store.ts";
import type { Background } from "./background.ts";
import { type Clock, engineClock } from "./clock.ts";
import { ForwardTokens, type Remembered } from "./forward-tokens.ts";
import {
  type CreateOutcome,
  type HoldAnswer,
  type HoldReply,
  type PublicDocument,
  type QueueReply,
  type RateLimitLeft,
  type Readiness,
  type SaleGateway,
  Unavailable,
} from "./gateway.ts";
import { OwnedSales, type OwnedSale } from "./owned-sales.ts";
import type { OwnerMetrics } from "./owner-metrics.ts";
import { OwnerQueue, QUEUE_TICK_MS } from "./owner-queue.ts";
import { OwnerReads } from "./owner-reads.ts";
import { recoverSales } from "./recovery.ts";
import { renderReservation } from "./render.ts";
import { type LifecycleEvent, SaleLifecycle } from "./sale-lifecycle.ts";

export type SaleOwnerOptions = {
  journal: Journal;
  snapshots: SnapshotFile;
  store: Store;
  background: Background;
  journalId: string;
  /** Whether this owner owns `saleId` (one worker: every sale). */
  owns?: (saleId: string) => boolean;
  /** The engine's clock; by default wall time anchored at start and advanced monotonically. */
  clock?: Clock;
  expiryIntervalMs?: number;
  /**
   * Leave the expiry and snapshot ticks to the caller (expireDue, snapshotDue) instead of timers: a
   * deterministic simulation decides when they run.
   */
  manualTicks?: boolean;
  /** How long a read of the store waits for it to catch up before answering 503. */
  storeReadWaitMs?: number;
  /** Past this many events not yet in the store, new holds are refused with 503 (bounded backlog). */
  journalBacklogMax?: number;
  /** Ended reservations kept in memory for buyers' reads and late payments. */
  recentEndedMax?: number;
  metrics?: OwnerMetrics;
  /** Stops the process: a journal commit failed or an invariant broke. Default: exit at once. */
  fatal?: (error: unknown) => void;
  /** The per-buyer hold limit, taken here where every worker's holds of a sale arrive (429 beyond). */
  buyerLimits?: TokenBuckets;
  log?: (level: "info" | "warn" | "error" | "fatal", msg: string, fields?: Record<string, unknown>) => void;
  /** Told when a sale changes status or an item sells out (the operators' trail; sale-lifecycle.ts). */
  lifecycle?: (event: LifecycleEvent) => void;
  /** The waiting rooms' draw seeds (owner-queue.ts); random by default. */
  queueSeed?: () => number;
};

/** A sale is snapshotted once this many of its events follow its last snapshot... */
export const SNAPSHOT_AFTER_EVENTS = 200_000;
/** ...or once this long has passed with any change. */
export const SNAPSHOT_AFTER_MS = 30_000;
const SNAPSHOT_CHECK_MS = 250;
/** How often the engine's time is recorded in the journal: a restart never starts earlier than it. */
const CLOCK_MARK_MS = 1_000;
/** How often a sale's status is compared with the clock, for the changes time alone brings. */
const LIFECYCLE_CHECK_MS = 1_000;

type State = "recovering" | "serving" | "draining" | "failed";

export class SaleOwner implements SaleGateway {
  readonly sales: OwnedSales;
  readonly recent: RecentEnded;
  readonly tokens = new ForwardTokens();
  readonly background: Background;
  readonly reads: OwnerReads;
  /** The sales' waiting rooms: joins, polls, and the tick that admits (owner-queue.ts). */
  readonly queue: OwnerQueue;
  private clock: Clock;
  private state: State = "recovering";
  private timers: ReturnType<typeof setInterval>[] = [];
  /** Told which sales each commit changed (the cluster publishes their snapshots). */
  onCommitted: (saleIds: Set<string>) => void = () => {};
  /** Events replayed at the last start, for the log and the bench. */
  replayedAtStart = 0;
  private readonly lifecycle: SaleLifecycle | null;
  /** Where the last start's recovery spent its time. */
  recoveryMs = { snapshots: 0, replay: 0, tokens: 0 };
  /** Commands decided since start (the idle collector watches it). */
  decisions = 0;

  constructor(private readonly options: SaleOwnerOptions) {
    this.clock = options.clock ?? engineClock(options.journal.clockFloor);
    this.background = options.background;
    this.lifecycle = options.lifecycle === undefined ? null : new SaleLifecycle(options.lifecycle);
    this.recent = new RecentEnded(options.recentEndedMax);
    this.sales = new OwnedSales(options.journal, {
      now: () => this.clock(),
      committed: (events, commitMs, saleIds) => {
        options.metrics?.committed(events, commitMs);
        this.background.notify();
        this.reads.changed(saleIds);
        this.onCommitted(saleIds);
        // Once per commit (never per hold), and only when someone listens: see sale-lifecycle.ts.
        if (this.lifecycle !== null) this.lifecycleAfterCommit(saleIds);
      },
      failed: (error) => this.failStop(error, "journal commit failed"),
    });
    this.reads = new OwnerReads(this.sales, {
      now: () => this.clock(),
      store: options.store,
      background: options.background,
      journal: options.journal,
      storeReadWaitMs: options.storeReadWaitMs ?? 5_000,
      ensureServing: () => this.ensureServing(),
    });
    this.queue = new OwnerQueue(this.sales, {
      now: () => this.clock(),
      unavailable: () => this.unavailableReason(),
      decide: (decision) => this.decide(decision),
      ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
      ...(options.buyerLimits === undefined ? {} : { buyerLimits: options.buyerLimits }),
      ...(options.queueSeed === undefined ? {} : { seed: options.queueSeed }),
    });
  }

  get commit(): GroupCommit {
    return this.sales.commit;
  }

  now(): number {
    return this.clock();
  }

  /** Recover from the journal (recovery.ts), start the background thread, then serve. */
  async start(): Promise<void> {
    const recovery = await recoverSales({
      journal: this.options.journal,
      snapshots: this.options.snapshots,
      store: this.options.store,
      journalId: this.options.journalId,
      owns: this.options.owns ?? (() => true),
      recent: this.recent,
      tokens: this.tokens,
      now: this.clock(),
    });
    for (const [saleId, sale] of recovery.sales) this.sales.add(saleId, sale.ledger, sale.snapshotSeq, sale.lastEventSeq);
    this.replayedAtStart = recovery.replayed;
    this.recoveryMs = recovery.ms;
    // Replayed events and loaded images leave garbage like decisions do (hundreds of MiB after a
    // million holds): counted as such, the idle collector gives it back once the start is over.
    this.decisions += recovery.replayed + this.liveHolds();
    if (this.lifecycle !== null) for (const sale of this.sales.values()) this.lifecycle.baseline(sale, this.clock());
    this.background.start();
    this.state = "serving";
    if (this.options.manualTicks !== true) {
      this.timers.push(setInterval(() => this.expireDue(), this.options.expiryIntervalMs ?? 100));
      this.timers.push(setInterval(() => this.snapshotDue(), SNAPSHOT_CHECK_MS));
      this.timers.push(setInterval(() => this.queueDue(), QUEUE_TICK_MS));
      const lifecycle = this.lifecycle;
      if (lifecycle !== null) this.timers.push(setInterval(() => lifecycle.tick(this.sales.values(), this.clock()), LIFECYCLE_CHECK_MS));
    }
    for (const timer of this.timers) timer.unref?.();
    this.expireDue();
    // Sales loaded from the store, or replayed without a snapshot, get one now: the journal can then
    // be truncated behind them.
    this.snapshotDue(true);
  }

  private stopping: Promise<void> | null = null;

  /** Stop taking commands, commit what was decided, flush the store (bounded), stop the thread. */
  stop(drainTimeoutMs = 10_000): Promise<void> {
    this.stopping ??= this.drainAndStop(drainTimeoutMs);
    return this.stopping;
  }

  private async drainAndStop(drainTimeoutMs: number): Promise<void> {
    if (this.state !== "failed") this.state = "draining";
    for (const timer of this.timers) clearInterval(timer);
    this.reads.close();
    this.commit.commit();
    // Everything acknowledged is in the journal already; the store catching up is best effort here
    // and a drain that cannot finish (the store is away) is reported, not waited for forever.
    let drainError: unknown = null;
    const drained = await Promise.race([
      this.background.drain().then(
        () => true,
        (error: unknown) => {
          drainError = error;
          return false;
        },
      ),
      Bun.sleep(drainTimeoutMs).then(() => false),
    ]);
    await this.background.stop();
    if (!drained) {
      throw new Error(`the store did not catch up with the journal before stopping: ${drainError === null ? "timed out" : String(drainError)}`);
    }
  }

  ownedSaleIds(): string[] {
    return this.sales.ids();
  }

  /** Events decided and waiting for their journal commit (admission control sheds holds past a bound). */
  get pendingEvents(): number {
    return this.commit.pending.length;
  }

  get saleCount(): number {
    return this.sales.size;
  }

  /** Holds held now, over every sale (a gauge). */
  liveHolds(): number {
    let live = 0;
    for (const sale of this.sales.values()) live += sale.ledger.state.holds.size;
    return live;
  }

  private unavailableReason(): string | null {
    if (this.state === "recovering") return "The server is recovering its sales.";
    if (this.state === "draining" || this.state === "failed") return "The server is shutting down.";
    return null;
  }

  private ensureServing(): void {
    const reason = this.unavailableReason();
    if (reason !== null) throw new Unavailable(reason, this.state === "recovering" ? 1 : 2);
  }

  async createSale(spec: SaleSpec): Promise<CreateOutcome> {
    this.ensureServing();
    if (this.sales.get(spec.id) !== undefined) {
      // The sale may exist only in a pending commit: a retried create answered 409 before it is
      // durable would tell an operator the sale exists when a crash could still lose it.
      await this.commit.durable();
      return { ok: false, refusal: "already_exists", detail: `Sale ${spec.id} exists.` };
    }
    const ledger = this.decide(() => SaleLedger.create(spec, this.clock(), this.commit.pending, this.recent));
    this.sales.add(spec.id, ledger, 0, this.options.journal.lastSeq + 1);
    await this.commit.durable();
    return { ok: true, sale: adminSaleView(ledger.state, this.clock()) };
  }

  hold(saleId: string, command: HoldCommand, reply: HoldReply): void {
    const reason = this.unavailableReason();
    // Refusals before the ledger are counted too (as their problem codes), so that /metrics shows
    // every hold this owner refused, not only those its ledgers decided.
    if (reason !== null) {
      this.options.metrics?.outcome("hold", "overloaded");
      return reply({ ok: false, refusal: "unavailable", detail: reason, retryAfterSeconds: 1 });
    }
    let rateLimit: RateLimitLeft | null = null;
    const limits = this.options.buyerLimits;
    if (limits?.enabled === true) {
      const taken = limits.take(command.userId);
      if (!taken.ok) {
        const detail = `Too many holds from this buyer; retry after ${taken.retryAfterSeconds} s.`;
        this.options.metrics?.outcome("hold", "rate_limited");
        return reply({ ok: false, refusal: "rate_limited", detail, retryAfterSeconds: taken.retryAfterSeconds });
      }
      rateLimit = { remaining: taken.remaining, resetSeconds: taken.resetSeconds };
    }
    const sale = this.sales.get(saleId);
    if (sale === undefined) {
      this.options.metrics?.outcome("hold", "not_found");
      return reply({ ok: false, refusal: "not_found", detail: `No sale ${saleId}.` });
    }
    // The HTTP layer checks the admission token; this catches a worker whose copy of the sale did not
    // show its room yet (it checked nothing). One field read for a sale without a room.
    if (sale.ledger.state.room !== null && command.admitted !== true) {
      this.options.metrics?.outcome("hold", "admission_required");
      return reply({ ok: false, refusal: "admission_required", detail: "This sale has a waiting room: hold with the admission token it gave you." });
    }
    this.decisions += 1;
    const token = command.token ?? 0;
    if (token !== 0) {
      const seen = this.tokens.find(token);
      if (seen !== undefined && seen.saleId === saleId) return this.answerResend(seen, sale, rateLimit, reply);
    }
    if (this.background.backlog > (this.options.journalBacklogMax ?? Number.POSITIVE_INFINITY)) {
      const detail = "The system of record is behind; holds pause until it catches up.";
      this.options.metrics?.outcome("hold", "overloaded");
      return reply({ ok: false, refusal: "unavailable", detail, retryAfterSeconds: 5 });
    }
    let outcome: Outcome;
    try {
      outcome = this.sales.execute(sale, command, this.clock());
    } catch (error) {
      return this.failStop(error, "ledger");
    }
    let answer: HoldAnswer;
    if (outcome.ok && "reservation" in outcome) {
      answer = { ok: true, body: renderReservation(outcome.reservation), replayed: outcome.replayed === true, rateLimit };
      if (token !== 0 && outcome.replayed !== true) this.tokens.remember(token, { saleId, reservationId: outcome.reservation.id, kind: "hold" });
    } else if (!outcome.ok) {
      answer = { ok: false, refusal: outcome.refusal, detail: outcome.detail };
    } else {
      return this.failStop(new Error("a hold was answered without a reservation"), "ledger");
    }
    this.options.metrics?.outcome("hold", outcome.ok ? "ok" : outcome.refusal);
    this.commit.defer(reply, answer);
  }

  /**
   * A command sent again under a token seen before: the first send's hold or release happened (its
   * answer was lost with a peer or a previous process of this owner). Answer what it answered.
   */
  private answerResend(seen: Remembered, sale: OwnedSale, rateLimit: RateLimitLeft | null, reply: HoldReply): void {
    const answer = (found: Reservation): HoldAnswer => {
      const first = seen.kind === "hold" ? { ...found, status: "held" as const, codes: [], endedAt: 0, paymentId: null } : found;
      return { ok: true, body: renderReservation(first), replayed: false, rateLimit };
    };
    const found = sale.ledger.state.findReservation(seen.reservationId);
    // Once its first send's commit is durable (it may still wait for it).
    if (found !== undefined) return this.commit.defer(reply, answer(found));
    // The hold ended and left memory since (a busy owner ends tens of thousands a second): the store
    // has it. Answering "unavailable" instead made the buyer's retry a second hold.
    const lookingUp: HoldAnswer = { ok: false, refusal: "unavailable", detail: "The first attempt of this request is being looked up.", retryAfterSeconds: 1 };
    this.reads.storedReservation(seen.saleId, seen.reservationId).then(
      (stored) => reply(stored === null ? lookingUp : answer(stored)),
      () => reply(lookingUp),
    );
  }

  async execute(saleId: string, command: SaleCommand): Promise<Outcome> {
    this.ensureServing();
    let sale = this.sales.get(saleId);
    if (sale === undefined) return { ok: false, refusal: "not_found", detail: `No sale ${saleId}.` };
    if (command.kind === "hold") {
      return new Promise((resolve, reject) =>
        this.hold(saleId, command, (answer) => {
          try {
            resolve(this.reads.holdOutcome(answer));
          } catch (error) {
            reject(error);
          }
        }),
      );
    }
    const token = command.kind === "release" ? (command.token ?? 0) : 0;
    if (token !== 0) {
      const seen = this.tokens.find(token);
      const id = seen?.kind === "release" && seen.saleId === saleId ? seen.reservationId : null;
      // A release that left memory since is answered from the store (not refused as not_held).
      const found = id === null ? undefined : (sale.ledger.state.findReservation(id) ?? (await this.reads.storedReservation(saleId, id)) ?? undefined);
      // The first send's release may still wait for its group commit: answer once it is durable,
      // as every 2xx is (the simulation caught an answer sent before the commit it rests on).
      if (found !== undefined) {
        await this.commit.durable();
        return { ok: true, reservation: found };
      }
    }
    // Holds due now expire first, as before any decision, but before asking what memory knows: a
    // hold that expires now may leave the window of recent ones at once, and a payment for it must
    // then find it in the store, not be answered not_found (the simulation found such a lost payment).
    const current = sale;
    this.decide(() => this.sales.expireSale(current, this.clock()));
    // A release or payment naming a reservation that has left memory: fetch it from the store first.
    const historyId = sale.ledger.needsHistory(command);
    const known = historyId === null ? undefined : ((await this.reads.storedReservation(saleId, historyId)) ?? undefined);
    this.ensureServing();
    sale = this.sales.get(saleId);
    if (sale === undefined) return { ok: false, refusal: "not_found", detail: `No sale ${saleId}.` };
    const owned = sale;
    const outcome = this.decide(() => this.sales.execute(owned, command, this.clock(), known));
    this.options.metrics?.outcome(command.kind, outcome.ok ? ("payment" in outcome ? outcome.payment : "ok") : outcome.refusal);
    if (token !== 0 && outcome.ok && "reservation" in outcome) {
      this.tokens.remember(token, { saleId, reservationId: outcome.reservation.id, kind: "release" });
    }
    await this.commit.durable();
    return outcome;
  }

  private lifecycleAfterCommit(saleIds: Set<string>): void {
    const now = this.clock();
    for (const saleId of saleIds) {
      const sale = this.sales.get(saleId);
      if (sale !== undefined) this.lifecycle?.afterCommit(sale, now);
    }
  }

  /** Run a decision; anything it throws stops the process before anything else is committed. */
  private decide<T>(decision: () => T): T {
    try {
      return decision();
    } catch (error) {
      return this.failStop(error, "ledger");
    }
  }

  private failStop(error: unknown, where: string): never {
    this.state = "failed";
    this.commit.halt(error);
    this.options.log?.("fatal", `${where}: the process stops`, { error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
    (this.options.fatal ?? defaultFatal)(error);
    // The fatal hook of a test returns; nothing may go on from here either way.
    throw error;
  }

  adminSale(saleId: string) {
    return this.reads.adminSale(saleId);
  }
  listSales() {
    return this.reads.listSales();
  }
  publicSale(saleId: string): Promise<PublicDocument | null> {
    return this.reads.publicSale(saleId);
  }
  publicSaleNow(saleId: string): PublicDocument | null | undefined {
    // What publicSale would answer after its wait, when there is nothing to wait for.
    if (this.state !== "serving" || this.commit.busy) return undefined;
    return this.reads.documentOf(saleId);
  }
  watchSale(saleId: string, listener: (document: string) => void) {
    return this.reads.watchSale(saleId, listener);
  }
  reservation(saleId: string, userId: string, reservationId: string) {
    return this.reads.reservation(saleId, userId, reservationId);
  }
  reservationsOf(saleId: string, userId: string) {
    return this.reads.reservationsOf(saleId, userId);
  }
  storeReservations(saleId: string, query: ReservationQuery) {
    return this.reads.storeReservations(saleId, query);
  }
  storePayments(saleId: string, outcome?: PaymentOutcome) {
    return this.reads.storePayments(saleId, outcome);
  }
  unitGauges() {
    return this.reads.unitGauges();
  }

  readiness(): Readiness {
    const reasons: string[] = [];
    if (this.state === "recovering") reasons.push("recovering");
    if (this.state === "draining" || this.state === "failed") reasons.push("draining");
    const backlog = this.background.backlog;
    const max = this.options.journalBacklogMax ?? Number.POSITIVE_INFINITY;
    if (backlog > max) reasons.push("store unreachable with journal backlog past its bound");
    const storeError = this.background.connected ? this.background.lastError : (this.background.lastError ?? "not connected yet");
    return { ready: reasons.length === 0, reasons, journalBacklog: backlog, storeError };
  }

  joinQueue(saleId: string, userId: string, reply: QueueReply): void {
    this.queue.join(saleId, userId, reply);
  }

  queuePlace(saleId: string, userId: string, reply: QueueReply): void {
    this.queue.place(saleId, userId, reply);
  }

  admissionRequired(saleId: string): boolean {
    const rooms = this.sales.roomSaleIds;
    return rooms.size !== 0 && rooms.has(saleId);
  }

  /** The waiting rooms' tick: draws, admissions at each room's pace, sell-outs. */
  queueDue(): void {
    if (this.state === "serving") this.queue.tick();
  }

  /** The expiry tick: every hold past its `expiresAt` returns its stock (invariant 6). */
  expireDue(): void {
    if (this.state !== "serving") return;
    const now = this.clock();
    const expired = this.decide(() => this.sales.expireDue(now));
    if (expired > 0) this.options.metrics?.expired(expired);
    if (now - this.clockMarked >= CLOCK_MARK_MS) this.markClock(now);
  }

  /** When engine time was last recorded in the journal (clockFloor, the next start's anchor). */
  private clockMarked = 0;

  private markClock(now: number): void {
    try {
      this.options.journal.markClock(now);
      this.clockMarked = now;
    } catch (error) {
      this.failStop(error, "journal clock mark failed");
    }
  }

  /** The bound last handed to the background thread: a message only when it moves. */
  private truncationSent = -1;

  /** Let the background thread delete the journal batches every sale's snapshot covers. */
  private truncate(): void {
    const bound = this.sales.truncationBound();
    if (bound === this.truncationSent) return;
    this.truncationSent = bound;
    this.background.truncate(bound);
  }

  /**
   * The snapshot tick: write a snapshot of each sale that has changed enough (or long enough ago),
   * then let the background thread delete the journal batches every snapshot covers.
   */
  snapshotDue(all = false): void {
    if (this.state !== "serving") return;
    const now = this.clock();
    const due = this.sales.snapshotsDue(now, all ? 0 : SNAPSHOT_AFTER_EVENTS, all ? 0 : SNAPSHOT_AFTER_MS);
    if (due.length === 0) {
      this.truncate();
      return;
    }
    // Snapshots describe committed state only: commit what is pending first.
    this.commit.commit();
    for (const sale of due) {
      const started = performance.now();
      const taken = this.sales.takeSnapshot(sale, now);
      this.options.metrics?.snapshot(taken.bytes.byteLength, performance.now() - started);
      this.background.snapshot(sale.ledger.state.id, taken.seq, taken.bytes).then(
        () => {
          this.sales.snapshotDurable(sale, taken.seq);
          this.truncate();
        },
        (error: unknown) => {
          this.sales.snapshotFailed(sale);
          this.options.log?.("error", "snapshot failed", { sale: sale.ledger.state.id, error: String(error) });
        },
      );
    }
  }
}

function defaultFatal(): void {
  // Synchronous: no event-loop turn may run (and commit) after this.
  process.exit(70);
}
