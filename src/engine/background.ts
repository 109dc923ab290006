// The owner's handle on its background thread (background-thread.ts): it mirrors the thread's
// progress from messages, tells it about commits, hands it snapshots to write and journal batches to
// delete. `Background` is what the owner needs; a test may give it an in-loop implementation.

import type { Journal } from "../journal/journal.ts";
import { SeqWaiters } from "../store/seq-waiters.ts";
import { type FlusherProgress, WRITE_BEHIND_DEFAULTS, type WriteBehindOptions } from "../store/write-behind.ts";
import type { FromBackground, ToBackground } from "./background-messages.ts";

/** The thread learns of new commits at most this often; it batches behind the hot path anyway. */
const NOTIFY_INTERVAL_MS = 5;
/** Journal batches committed within this window stay: recovery reads their forwarding tokens. */
export const KEEP_RECENT_BATCHES_MS = 10_000;

export interface Background {
  /** How far the store has applied the journal (a lower bound until it has answered once). */
  readonly appliedSeq: number;
  /** Committed events not yet in the store. */
  readonly backlog: number;
  /** Whether the store has answered since the thread started. */
  readonly connected: boolean;
  readonly lastError: string | null;
  readonly rowsFlushed: number;
  readonly lastLagMs: number;
  /** Journal batches and bytes left after the last truncation. */
  readonly journalSize: { batches: number; bytes: number };
  start(): void;
  notify(): void;
  caughtUp(seq: number, timeoutMs: number): Promise<boolean>;
  /** Flush everything committed so far into the store; rejects on a store error. */
  drain(): Promise<void>;
  /** Write a sale's snapshot; resolves once it is durable. */
  snapshot(saleId: string, seq: number, bytes: Uint8Array): Promise<void>;
  /** Delete batches through `bound` as far as the store and the recent window allow. */
  truncate(bound: number): void;
  stop(): Promise<void>;
}

export type BackgroundThreadOptions = {
  journal: Journal;
  snapshotsPath: string;
  durability: "process" | "fsync";
  journalId: string;
  dataDir: string;
  databaseUrl: string | undefined;
  options?: WriteBehindOptions;
  /**
   * Node mode: each batch is in the store before it is journaled (node/node-commit.ts), so the
   * thread never copies the journal into the store; it still writes snapshots and truncates.
   */
  storeCommittedByOwner?: boolean;
};

export class BackgroundThread implements Background {
  private worker: Worker | null = null;
  private state: FlusherProgress;
  private readonly waiters = new SeqWaiters();
  private readonly drains = new Map<number, { resolve: () => void; reject: (error: Error) => void }>();
  private readonly snapshots = new Map<string, { seq: number; resolve: () => void; reject: (error: Error) => void }[]>();
  private drainIds = 0;
  private notified = 0;
  private notifyTimer: ReturnType<typeof setTimeout> | null = null;
  private stopped: (() => void) | null = null;
  private failure: Error | null = null;
  journalSize = { batches: 0, bytes: 0 };

  constructor(private readonly config: BackgroundThreadOptions) {
    // Until the store answers, everything still in the journal counts as not applied.
    this.state = { applied: config.journal.firstSeq() - 1, rowsFlushed: 0, lastLagMs: 0, lastError: null, connected: false };
  }

  get appliedSeq(): number {
    return this.state.applied;
  }
  get backlog(): number {
    if (this.config.storeCommittedByOwner === true) return 0;
    return Math.max(0, this.config.journal.lastSeq - this.state.applied);
  }
  get connected(): boolean {
    return this.state.connected;
  }
  get lastError(): string | null {
    return this.failure?.message ?? this.state.lastError;
  }
  get rowsFlushed(): number {
    return this.state.rowsFlushed;
  }
  get lastLagMs(): number {
    return this.state.lastLagMs;
  }

  start(): void {
    const worker = new Worker(new URL("./background-thread.ts", import.meta.url).href);
    this.worker = worker;
    worker.onmessage = (event: MessageEvent<FromBackground>) => this.receive(event.data);
    worker.onerror = (event) => this.fail(new Error(`background thread failed: ${event.message}`));
    const { journal, snapshotsPath, durability, journalId, dataDir, databaseUrl } = this.config;
    this.send({
      type: "init",
      journalPath: journal.path,
      snapshotsPath,
      durability,
      journalId,
      dataDir,
      databaseUrl,
      lastSeq: journal.lastSeq,
      options: this.config.options ?? WRITE_BEHIND_DEFAULTS,
      keepRecentMs: KEEP_RECENT_BATCHES_MS,
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
    this.send(this.config.storeCommittedByOwner === true ? { type: "notify", lastSeq, applied: lastSeq } : { type: "notify", lastSeq });
  }

  caughtUp(seq: number, timeoutMs: number): Promise<boolean> {
    if (this.state.applied >= seq || this.config.storeCommittedByOwner === true) return Promise.resolve(true);
    this.notifyNow();
    return this.waiters.wait(seq, timeoutMs);
  }

  drain(): Promise<void> {
    if (this.failure !== null) return Promise.reject(this.failure);
    this.notifyNow();
    const id = ++this.drainIds;
    return new Promise((resolve, reject) => {
      this.drains.set(id, { resolve, reject });
      this.send({ type: "drain", id });
    });
  }

  snapshot(saleId: string, seq: number, bytes: Uint8Array): Promise<void> {
    if (this.failure !== null) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const waiting = this.snapshots.get(saleId) ?? [];
      waiting.push({ seq, resolve, reject });
      this.snapshots.set(saleId, waiting);
      // The bytes move to the thread (no copy); the owner made them for this call alone.
      this.worker?.postMessage({ type: "snapshot", saleId, seq, bytes } satisfies ToBackground, [bytes.buffer as ArrayBuffer]);
    });
  }

  truncate(bound: number): void {
    this.send({ type: "truncate", bound });
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

  private send(message: ToBackground): void {
    this.worker?.postMessage(message);
  }

  private receive(message: FromBackground): void {
    switch (message.type) {
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
      case "snapshotted": {
        const waiting = this.snapshots.get(message.saleId) ?? [];
        const done = waiting.filter((w) => w.seq === message.seq);
        const rest = waiting.filter((w) => w.seq !== message.seq);
        if (rest.length === 0) this.snapshots.delete(message.saleId);
        else this.snapshots.set(message.saleId, rest);
        for (const w of done) {
          if (message.error === null) w.resolve();
          else w.reject(new Error(message.error));
        }
        return;
      }
      case "truncated":
        this.journalSize = { batches: message.batches, bytes: message.bytes };
        return;
      case "stopped":
        this.stopped?.();
        return;
      case "failed":
        this.fail(new Error(message.error));
        return;
    }
  }

  private update(progress: FlusherProgress): void {
    this.state = { ...progress };
    this.waiters.reached(progress.applied);
  }

  private fail(error: Error): void {
    this.failure = error;
    for (const drain of this.drains.values()) drain.reject(error);
    this.drains.clear();
    for (const waiting of this.snapshots.values()) for (const w of waiting) w.reject(error);
    this.snapshots.clear();
  }
}
