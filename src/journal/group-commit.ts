// Group commit: the ledger decides each request at once, its events wait in `pending`, and once per
// event-loop turn all of them go into the journal; only then are the callers told. One SQLite
// commit is shared by every request of the turn, which is what keeps durable holds cheap.
//
// Callers are told through replies queued with `defer(reply, value)`: a function and its argument,
// kept in two arrays, so that a hold costs no promise and no closure here (the HTTP layer makes the
// one promise a request needs). `durable()` is the promise form for the cold paths.

import type { SaleEvent } from "../ledger/types.ts";
import type { Journal } from "./journal.ts";

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
    if (this.pending.length === 0 && this.replies.length === 0) {
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
    return this.pending.length > 0;
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
    const committed = this.pending;
    const replies = this.replies;
    const values = this.values;
    this.pending = [];
    this.replies = [];
    this.values = [];
    if (committed.length > 0) {
      const started = performance.now();
      try {
        for (let from = 0; from < committed.length; from += COMMIT_BATCH_MAX) {
          this.journal.append(from === 0 && committed.length <= COMMIT_BATCH_MAX ? committed : committed.slice(from, from + COMMIT_BATCH_MAX), this.hooks.now());
        }
      } catch (error) {
        // Fail-stop: nothing decided in memory may be answered now. The hook stops the process.
        this.failed = error;
        this.hooks.failed(error);
        return;
      }
      this.hooks.committed(committed, performance.now() - started);
    }
    for (let index = 0; index < replies.length; index += 1) (replies[index] as Reply)(values[index] as never);
  }

  /** Refuse to commit anything again (an invariant broke: the process is stopping). */
  halt(error: unknown): void {
    this.failed ??= error;
    this.pending = [];
    this.replies = [];
    this.values = [];
  }
}
