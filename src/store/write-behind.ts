// The write-behind flusher: moves committed journal entries into the system of record in large
// batches, behind the hot path. The journal is its queue, so a slow or absent store never stops
// sales: the backlog waits in the journal, the flusher retries with jittered exponential backoff, and
// each batch records how far it got in the same store transaction (exactly-once on replay).

import type { Journal, JournalEntry } from "../journal/journal.ts";
import { SeqWaiters } from "./seq-waiters.ts";
import type { Store } from "./store.ts";

export type WriteBehindOptions = {
  /** Entries one store transaction takes at most. */
  batchMax: number;
  /** Wait this long after a commit before flushing, so batches grow under load. */
  delayMs: number;
  /** Backoff bounds after a failed batch. */
  retryMinMs: number;
  retryMaxMs: number;
};

// Batches wait up to 50 ms to grow: the store's cost is per row, but each transaction and item-count
// merge costs too, and a lag of 50 ms is nothing to the operator reads that wait for it.
export const WRITE_BEHIND_DEFAULTS: WriteBehindOptions = { batchMax: 20_000, delayMs: 50, retryMinMs: 50, retryMaxMs: 5_000 };


/** The flusher's state after a batch or a failure, as a thread reports it to its owner. */
export type FlusherProgress = {
  applied: number;
  rowsFlushed: number;
  lastLagMs: number;
  lastError: string | null;
  /** Whether the store has answered since the flusher started (until then `applied` is a lower bound). */
  connected: boolean;
};

export class WriteBehind {
  private applied = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private running = false;
  private failures = 0;
  private readonly waiters = new SeqWaiters();
  private stopped = false;
  /** Whether the store has told how far it applied this journal (start, open). */
  opened = false;
  /** The last store error, while the store is failing; null once a batch succeeds. */
  lastError: string | null = null;
  rowsFlushed = 0;
  batchesFlushed = 0;
  /** Milliseconds between an event's decision and its arrival in the store, for the last batch. */
  lastLagMs = 0;

  constructor(
    private readonly journal: Journal,
    private readonly store: Store,
    readonly journalId: string,
    private readonly options: WriteBehindOptions = WRITE_BEHIND_DEFAULTS,
    /** The last committed sequence number; in a flusher thread it arrives by message. */
    private readonly lastSeq: () => number = () => journal.lastSeq,
    /** Called after every batch and every failure. */
    private readonly progress: (state: FlusherProgress) => void = () => {},
  ) {}

  /** Read how far the store has applied this journal; call once before anything else. */
  async open(): Promise<void> {
    this.applied = await this.store.appliedSeq(this.journalId);
    if (this.applied > this.journal.lastSeq) this.journal.advanceTo(this.applied);
    this.opened = true;
  }

  /**
   * Open in the background, retrying with backoff while the store is unreachable, then flush as
   * commits arrive: the worker serves from its journal meanwhile (a store outage at start stops
   * nothing). Until the store answers, everything still in the journal counts as not applied.
   */
  async start(): Promise<void> {
    this.applied = Math.max(this.applied, this.journal.firstSeq() - 1);
    while (!this.stopped && !this.opened) {
      try {
        this.applied = Math.max(this.applied, await this.store.appliedSeq(this.journalId));
        this.opened = true;
        this.lastError = null;
        this.failures = 0;
      } catch (error) {
        this.failures += 1;
        this.lastError = error instanceof Error ? error.message : String(error);
        this.report();
        await Bun.sleep(this.backoffMs());
      }
    }
    this.report();
    this.notify();
  }

  get appliedSeq(): number {
    return this.applied;
  }

  /** Entries committed to the journal and not yet in the store. */
  get backlog(): number {
    return this.lastSeq() - this.applied;
  }

  /**
   * The store holds the journal through `seq` already (node mode commits each batch there before
   * journaling it): nothing up to it is flushed, and truncation may go that far.
   */
  appliedElsewhere(seq: number): void {
    if (seq <= this.applied) return;
    this.applied = seq;
    this.report();
    this.waiters.reached(seq);
  }

  /** Called after each journal commit. */
  notify(): void {
    if (this.stopped || !this.opened || this.running || this.timer !== null) return;
    this.timer = setTimeout(() => void this.run(), this.options.delayMs);
  }

  /** Resolves true once the store holds everything up to `seq`, or false after `timeoutMs`. */
  caughtUp(seq: number, timeoutMs: number): Promise<boolean> {
    if (this.applied >= seq) return Promise.resolve(true);
    const caughtUp = this.waiters.wait(seq, timeoutMs);
    this.notify();
    return caughtUp;
  }

  /** Flush until the store holds everything committed so far (start-up replay, shutdown). */
  async drain(): Promise<void> {
    if (!this.opened) await this.open();
    while (this.applied < this.lastSeq()) {
      await this.flushBatch();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private async run(): Promise<void> {
    this.timer = null;
    if (this.running || this.stopped) return;
    this.running = true;
    try {
      while (!this.stopped && this.applied < this.lastSeq()) {
        await this.flushBatch();
        this.failures = 0;
        this.lastError = null;
      }
    } catch (error) {
      this.failures += 1;
      this.lastError = error instanceof Error ? error.message : String(error);
      this.report();
      this.running = false;
      if (!this.stopped) this.timer = setTimeout(() => void this.run(), this.backoffMs());
      return;
    }
    this.running = false;
  }

  /** Jittered exponential backoff after `failures` failures in a row, within the configured bounds. */
  private backoffMs(): number {
    const ceiling = Math.min(this.options.retryMaxMs, this.options.retryMinMs * 2 ** Math.min(this.failures, 16));
    return ceiling / 2 + Math.random() * (ceiling / 2);
  }

  private report(): void {
    const { applied, rowsFlushed, lastLagMs, lastError, opened } = this;
    this.progress({ applied, rowsFlushed, lastLagMs, lastError, connected: opened });
  }

  /** A batch read but not yet applied (the store failed): the retry sends it again as it is. */
  private unapplied: JournalEntry[] | null = null;

  private async flushBatch(): Promise<void> {
    // While the store is away the same batch is retried: read (and decoded) once, not per attempt.
    const entries = this.unapplied ?? this.journal.readAfter(this.applied, this.options.batchMax);
    const last = entries[entries.length - 1];
    if (last === undefined) return;
    this.unapplied = entries;
    await this.store.apply(this.journalId, entries);
    this.unapplied = null;
    this.applied = last.seq;
    this.lastError = null;
    this.rowsFlushed += entries.length;
    this.batchesFlushed += 1;
    this.lastLagMs = Math.max(0, Date.now() - (entries[0]?.event.at ?? Date.now()));
    this.report();
    this.waiters.reached(this.applied);
  }
}
