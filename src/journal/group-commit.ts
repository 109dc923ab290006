// Group commit: the ledger decides each request at once, its events wait in `pending`, and once per
// event-loop turn all of them go into the journal in one transaction; only then are the callers told.
// One SQLite commit is shared by every request of the turn, which is what keeps durable holds cheap.

import type { SaleEvent } from "../ledger/types.ts";
import type { Journal } from "./journal.ts";

type Waiter = { resolve: () => void; reject: (error: unknown) => void };

/** Most events one transaction takes; a larger backlog commits over several turns. */
export const COMMIT_BATCH_MAX = 50_000;
/** A batch this large commits at once instead of at the end of the event-loop turn. */
export const COMMIT_EAGER_MIN = 256;

export class GroupCommit {
  /** Events decided but not yet committed; ledgers append to it directly. */
  readonly pending: SaleEvent[] = [];
  private waiters: Waiter[] = [];
  private scheduled = false;
  private failed: unknown = null;

  constructor(
    private readonly journal: Journal,
    private readonly hooks: {
      /** After each commit, with the last sequence number and the events it made durable. */
      committed: (lastSeq: number, events: readonly SaleEvent[], commitMs: number) => void;
      /** A commit failed: memory now holds decisions that are not durable. */
      failed: (error: unknown) => void;
    },
  ) {}

  /** Resolves once everything pending now is committed (at once when nothing is pending). */
  durable(): Promise<void> {
    if (this.failed !== null) return Promise.reject(this.failed);
    if (this.pending.length === 0 && this.waiters.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      // Under a flood of connections Bun runs setImmediate callbacks late (up to a second was
      // measured with 8000 clients), so a batch that is already large commits now.
      if (this.pending.length >= COMMIT_EAGER_MIN) this.commit();
      else this.schedule();
    });
  }

  /** Whether events are waiting for their commit. */
  get busy(): boolean {
    return this.pending.length > 0;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.commit());
  }

  /** Commit what is pending now; exposed so that shutdown can commit without waiting for a turn. */
  commit(): void {
    this.scheduled = false;
    if (this.failed !== null) return;
    const events = this.pending.splice(0, COMMIT_BATCH_MAX);
    const waiters = this.pending.length === 0 ? this.waiters : [];
    if (waiters === this.waiters) this.waiters = [];
    const started = performance.now();
    try {
      const lastSeq = this.journal.append(events);
      if (events.length > 0) this.hooks.committed(lastSeq, events, performance.now() - started);
    } catch (error) {
      this.failed = error;
      for (const waiter of this.waiters.concat(waiters)) waiter.reject(error);
      this.waiters = [];
      this.hooks.failed(error);
      return;
    }
    for (const waiter of waiters) waiter.resolve();
    if (this.pending.length > 0 || this.waiters.length > 0) this.schedule();
  }
}
