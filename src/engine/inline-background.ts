// A `Background` (background.ts) that runs on the owner's own event loop, for tests and tools: the
// write-behind goes through WriteBehind here, snapshots are written straight into the SnapshotFile,
// and truncation runs straight on the owner's Journal connection. The rules are the background
// thread's (background-thread.ts): never truncate past what the store has applied, never into the
// window of recent batches whose forwarding tokens recovery reads, and since the owner sends a
// bound only when it moves, truncate again up to the latest bound once the store catches up.
//
// "auto" flushing follows commits as the thread does (with WriteBehind's timers). "manual" flushing
// leaves every flush to the caller (`flush`), so that a deterministic simulation decides when the
// store catches up; a read that needs the store then flushes first, at once, and reports a store
// error as "not caught up" instead of waiting for a timer.

import type { Journal } from "../journal/journal.ts";
import type { SnapshotFile } from "../journal/snapshots.ts";
import type { Store } from "../store/store.ts";
import { WRITE_BEHIND_DEFAULTS, WriteBehind, type WriteBehindOptions } from "../store/write-behind.ts";
import { type Background, KEEP_RECENT_BATCHES_MS } from "./background.ts";

export type InlineBackgroundOptions = {
  journal: Journal;
  snapshots: SnapshotFile;
  store: Store;
  journalId: string;
  flushing?: "auto" | "manual";
  writeBehind?: WriteBehindOptions;
  /** Batches committed this recently (ms of the journal's clock) are kept for recovery's token look-back. */
  keepRecentMs?: number;
};

export class InlineBackground implements Background {
  readonly writeBehind: WriteBehind;
  journalSize = { batches: 0, bytes: 0 };
  /** Until the store has answered, what the journal no longer holds is all that is known applied. */
  private appliedFloor = 0;
  private flushError: string | null = null;
  /** The owner's latest bound, and how far the journal was truncated. */
  private latestBound = 0;
  private truncatedThrough = 0;
  private readonly manual: boolean;

  constructor(private readonly config: InlineBackgroundOptions) {
    this.manual = config.flushing === "manual";
    this.writeBehind = new WriteBehind(config.journal, config.store, config.journalId, config.writeBehind ?? WRITE_BEHIND_DEFAULTS);
  }

  get appliedSeq(): number {
    return Math.max(this.writeBehind.appliedSeq, this.appliedFloor);
  }
  get backlog(): number {
    return Math.max(0, this.config.journal.lastSeq - this.appliedSeq);
  }
  get connected(): boolean {
    return this.writeBehind.opened;
  }
  get lastError(): string | null {
    return this.flushError ?? this.writeBehind.lastError;
  }
  get rowsFlushed(): number {
    return this.writeBehind.rowsFlushed;
  }
  get lastLagMs(): number {
    return this.writeBehind.lastLagMs;
  }

  start(): void {
    this.appliedFloor = this.config.journal.firstSeq() - 1;
    if (!this.manual) void this.writeBehind.start();
  }

  notify(): void {
    if (!this.manual) this.writeBehind.notify();
  }

  /** Flush everything committed so far into the store (manual flushing); rejects on a store error. */
  async flush(): Promise<void> {
    try {
      await this.writeBehind.drain();
      this.flushError = null;
      this.truncate(this.latestBound);
    } catch (error) {
      this.flushError = error instanceof Error ? error.message : String(error);
      throw error;
    }
  }

  async caughtUp(seq: number, timeoutMs: number): Promise<boolean> {
    if (this.appliedSeq >= seq) return true;
    if (!this.manual) return this.writeBehind.caughtUp(seq, timeoutMs);
    try {
      await this.flush();
    } catch {
      return false;
    }
    return this.appliedSeq >= seq;
  }

  drain(): Promise<void> {
    return this.flush();
  }

  snapshot(saleId: string, seq: number, bytes: Uint8Array): Promise<void> {
    try {
      this.config.snapshots.put(saleId, seq, bytes);
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  truncate(bound: number): void {
    this.latestBound = Math.max(this.latestBound, bound);
    if (!this.writeBehind.opened) return;
    const journal = this.config.journal;
    const recent = journal.lastSeqBefore(journal.lastCommittedAtOnDisk() - (this.config.keepRecentMs ?? KEEP_RECENT_BATCHES_MS));
    const through = Math.min(this.latestBound, this.writeBehind.appliedSeq, recent);
    if (through <= this.truncatedThrough) return;
    this.truncatedThrough = through;
    if (journal.truncateThrough(through) > 0) journal.checkpoint();
    this.journalSize = journal.size();
  }

  async stop(): Promise<void> {
    await this.writeBehind.stop();
  }
}
