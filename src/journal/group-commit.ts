// Group commit: the ledger decides each request at once, its events wait in `pending`, and once per
// event-loop turn all of them go into the journal; only then are the callers told. One SQLite
// commit is shared by every request of the turn, which is what keeps durable holds cheap.
//
// Callers are told through replies queued with `defer(reply, value)`: a function and its argument,
// kept in two arrays, so that a hold costs no promise and no closure here (the HTTP layer makes the
// one promise a request needs). `durable()` is the promise form for the cold paths.
//
// Node mode sets a gate: each batch is first committed elsewhere (PostgreSQL, node/node-commit.ts),
// asynchronously, and only then appended to the journal (which holds only what the gate accepted:
// the audit log) and answered. One batch is in flight at a time; what is decided meanwhile waits in
// `pending` and goes as the next batch the moment the first one lands.

import { invariant } from "../ledger/invariant.ts";
import type { SaleEvent } from "../ledger/types.ts";
import type { Journal, JournalEntry } from "./journal.ts";

/**
 * Commits a batch, numbered as the journal will number it, before the journal and the replies; a
 * rejection is a failed commit (the owner stops: memory holds decisions that are not durable).
 */
export type CommitGate = (entries: readonly JournalEntry[]) => Promise<void>;

/** Most events one journal row takes; a larger turn writes several rows in the same call. */
export const COMMIT_BATCH_MAX = 50_000;
/** A batch this large commits at once instead of at the end of the event-loop turn. */
export const COMMIT_EAGER_MIN = 256;

type Reply = (value: never) => void;

export class GroupCommit {
  /** Events decided but not yet committed; ledgers append to it directly (read it anew each time: a commit swaps it). */
  pending: SaleEvent[] = [];
  private replies: Reply[] = [];
  private values: unknown[] = [];
  private scheduled = false;
  private failed: unknown = null;
  /** Node mode's gate (see above); null: the journal is the durability point. */
  gate: CommitGate | null = null;
  /** A gated batch is on its way: nothing may be answered as if nothing were pending. */
  private inFlight = false;

  constructor(
    private readonly journal: Journal,
    private readonly hooks: {
      /** After each commit, with the events it made durable. */
      committed: (events: readonly SaleEvent[], commitMs: number) => void;
      /** A commit failed: memory now holds decisions that are not durable. Must stop the process. */
      failed: (error: unknown) => void;
      /** The time a commit is recorded at (the engine's clock). */
      now: () => number;
    },
  ) {}

  /**
   * Call `reply(value)` once everything pending now is committed; at once when nothing is pending
   * and nothing waits (an answer may rest on events of this turn that are not yet durable).
   */
  defer<T>(reply: (value: T) => void, value: T): void {
    if (this.pending.length === 0 && this.replies.length === 0 && !this.inFlight) {
      reply(value);
      return;
    }
    this.replies.push(reply as Reply);
    this.values.push(value);
    // Under a flood of connections Bun runs setImmediate callbacks late (up to a second was
    // measured with 8000 clients), so a batch that is already large commits now.
    if (this.pending.length >= COMMIT_EAGER_MIN) this.commit();
    else this.schedule();
  }

  /** Resolves once everything pending now is committed. */
  durable(): Promise<void> {
    if (this.failed !== null) return Promise.reject(this.failed);
    return new Promise<void>((resolve) => this.defer(resolve, undefined));
  }

  get busy(): boolean {
    return this.pending.length > 0 || this.inFlight;
  }

  /** Make sure what is pending gets committed this turn even if nobody waits for it (expiries). */
  schedule(): void {
    if (this.scheduled || this.failed !== null) return;
    this.scheduled = true;
    setImmediate(() => this.commit());
  }

  /** Commit what is pending now and tell whoever waited; exposed for shutdown and snapshots. */
  commit(): void {
    this.scheduled = false;
    if (this.failed !== null) return;
    if (this.gate !== null) return this.commitGated(this.gate);
    const committed = this.pending;
    const replies = this.replies;
    const values = this.values;
    this.pending = [];
    this.replies = [];
    this.values = [];
    if (committed.length > 0) {
      const started = performance.now();
      if (!this.journaled(committed)) return;
      this.hooks.committed(committed, performance.now() - started);
    }
    answer(replies, values);
  }

  /** Append `committed` to the journal; false when that failed (the owner is told and stops). */
  private journaled(committed: SaleEvent[]): boolean {
    try {
      for (let from = 0; from < committed.length; from += COMMIT_BATCH_MAX) {
        this.journal.append(committed.length <= COMMIT_BATCH_MAX ? committed : committed.slice(from, from + COMMIT_BATCH_MAX), this.hooks.now());
      }
      return true;
    } catch (error) {
      // Fail-stop: nothing decided in memory may be answered now. The hook stops the process.
      this.fail(error);
      return false;
    }
  }

  private fail(error: unknown): void {
    this.failed = error;
    this.hooks.failed(error);
  }

  /**
   * The gated commit: take what is pending, have the gate commit it, then journal and answer it.
   * While a batch is in flight, a call only makes sure another batch follows.
   */
  private commitGated(gate: CommitGate): void {
    if (this.inFlight) return;
    const committed = this.pending;
    const replies = this.replies;
    const values = this.values;
    this.pending = [];
    this.replies = [];
    this.values = [];
    if (committed.length === 0) return answer(replies, values);
    this.inFlight = true;
    const first = this.journal.lastSeq + 1;
    const entries: JournalEntry[] = committed.map((event, index) => ({ seq: first + index, event }));
    const started = performance.now();
    gate(entries).then(
      () => {
        this.inFlight = false;
        if (this.failed !== null || !this.journaled(committed)) return;
        // The gate committed these numbers; the journal must have given them the same ones.
        invariant(this.journal.lastSeq === first + committed.length - 1, "the journal numbered a gated batch differently");
        this.hooks.committed(committed, performance.now() - started);
        answer(replies, values);
        // What was decided while this batch was away goes now, as one batch.
        if (this.pending.length > 0 || this.replies.length > 0) this.commit();
      },
      (error: unknown) => {
        this.inFlight = false;
        if (this.failed === null) this.fail(error);
      },
    );
  }

  /** Refuse to commit anything again (an invariant broke: the process is stopping). */
  halt(error: unknown): void {
    this.failed ??= error;
    this.pending = [];
    this.replies = [];
    this.values = [];
  }
}

function answer(replies: Reply[], values: unknown[]): void {
  for (let index = 0; index < replies.length; index += 1) (replies[index] as Reply)(values[index] as never);
}
