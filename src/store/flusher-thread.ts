// The event loop's handle on its flusher thread (flusher-worker.ts). It mirrors the thread's
// progress from messages, tells it about each commit, and offers the same Flusher interface as the
// in-loop WriteBehind, so the sale owner does not care where the flushing happens.

import type { Journal } from "../journal/journal.ts";
import type { FromFlusher, ToFlusher } from "./flusher-messages.ts";
import { SeqWaiters } from "./seq-waiters.ts";
import { type Flusher, type FlusherProgress, WRITE_BEHIND_DEFAULTS, type WriteBehindOptions } from "./write-behind.ts";


/** The thread learns of new commits at most this often; it batches behind the hot path anyway. */
const NOTIFY_INTERVAL_MS = 5;

export type FlusherThreadOptions = {
  journal: Journal;
  durability: "process" | "fsync";
  journalId: string;
  dataDir: string;
  databaseUrl: string | undefined;
  options?: WriteBehindOptions;
};

export class FlusherThread implements Flusher {
  private worker: Worker | null = null;
  private state: FlusherProgress = { applied: 0, rowsFlushed: 0, lastLagMs: 0, lastError: null };
  private readonly waiters = new SeqWaiters();
  private drains = new Map<number, { resolve: () => void; reject: (error: Error) => void }>();
  private drainIds = 0;
  private notified = 0;
  private notifyTimer: ReturnType<typeof setTimeout> | null = null;
  private opened: { resolve: () => void; reject: (error: Error) => void } | null = null;
  private stopped: (() => void) | null = null;

  constructor(private readonly config: FlusherThreadOptions) {}

  get appliedSeq(): number {
    return this.state.applied;
  }
  get backlog(): number {
    return this.config.journal.lastSeq - this.state.applied;
  }
  get lastError(): string | null {
    return this.state.lastError;
  }
  get rowsFlushed(): number {
    return this.state.rowsFlushed;
  }
  get lastLagMs(): number {
    return this.state.lastLagMs;
  }

  open(): Promise<void> {
    const worker = new Worker(new URL("./flusher-worker.ts", import.meta.url).href);
    this.worker = worker;
    worker.onmessage = (event: MessageEvent<FromFlusher>) => this.receive(event.data);
    worker.onerror = (event) => this.fail(new Error(`flusher thread failed: ${event.message}`));
    const { journal, durability, journalId, dataDir, databaseUrl } = this.config;
    this.send({
      type: "init",
      journalPath: journal.path,
      durability,
      journalId,
      dataDir,
      databaseUrl,
      lastSeq: journal.lastSeq,
      options: this.config.options ?? WRITE_BEHIND_DEFAULTS,
    });
    return new Promise((resolve, reject) => {
      this.opened = { resolve, reject };
    });
  }

  /**
   * Tell the thread how far the journal reaches. Called after every commit, but a message costs a
   * structured clone and a wake-up, so notifications are coalesced to one per NOTIFY_INTERVAL_MS.
   */
  notify(): void {
    if (this.notifyTimer !== null) return;
    this.notifyTimer = setTimeout(() => {
      this.notifyTimer = null;
      this.notifyNow();
    }, NOTIFY_INTERVAL_MS);
  }

  private notifyNow(): void {
    const lastSeq = this.config.journal.lastSeq;
    if (lastSeq === this.notified) return;
    this.notified = lastSeq;
    this.send({ type: "notify", lastSeq });
  }

  caughtUp(seq: number, timeoutMs: number): Promise<boolean> {
    if (this.state.applied >= seq) return Promise.resolve(true);
    this.notifyNow();
    return this.waiters.wait(seq, timeoutMs);
  }

  drain(): Promise<void> {
    this.notifyNow();
    const id = ++this.drainIds;
    return new Promise((resolve, reject) => {
      this.drains.set(id, { resolve, reject });
      this.send({ type: "drain", id });
    });
  }

  async stop(): Promise<void> {
    const worker = this.worker;
    if (worker === null) return;
    if (this.notifyTimer !== null) clearTimeout(this.notifyTimer);
    await new Promise<void>((resolve) => {
      this.stopped = resolve;
      this.send({ type: "stop" });
    });
    worker.terminate();
    this.worker = null;
  }

  private send(message: ToFlusher): void {
    this.worker?.postMessage(message);
  }

  private receive(message: FromFlusher): void {
    switch (message.type) {
      case "opened":
        this.update(message);
        if (message.applied > this.config.journal.lastSeq) this.config.journal.advanceTo(message.applied);
        this.opened?.resolve();
        this.opened = null;
        return;
      case "progress":
        this.update(message);
        return;
      case "drained": {
        this.update(message);
        const drain = this.drains.get(message.id);
        this.drains.delete(message.id);
        if (message.error === null) drain?.resolve();
        else drain?.reject(new Error(message.error));
        return;
      }
      case "stopped":
        this.stopped?.();
        return;
      case "failed":
        this.fail(new Error(message.error));
        return;
    }
  }

  private update(progress: FlusherProgress): void {
    this.state = {
      applied: progress.applied,
      rowsFlushed: progress.rowsFlushed,
      lastLagMs: progress.lastLagMs,
      lastError: progress.lastError,
    };
    this.waiters.reached(progress.applied);
  }

  private fail(error: Error): void {
    this.state = { ...this.state, lastError: error.message };
    this.opened?.reject(error);
    this.opened = null;
    for (const drain of this.drains.values()) drain.reject(error);
    this.drains.clear();
  }
}
