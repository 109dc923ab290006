// The simulated machine: one data dir (journal, snapshot file, embedded store) and the worker
// process running on it, which the simulation kills at any point (kill -9: nothing pending is
// committed, no answer leaves, file handles close) and starts again on the same files. Everything
// the engine touches is a real file; what the simulation controls is time (a fake wall clock that
// may step, and a fake monotonic clock per process), when the write-behind flushes, and faults:
// a store that is down or fails its writes, snapshot writes that fail, and the process dying.

import { join } from "node:path";
import { engineClock } from "../../../src/engine/clock.ts";
import { InlineBackground } from "../../../src/engine/inline-background.ts";
import { SaleOwner } from "../../../src/engine/sale-owner.ts";
import { Journal } from "../../../src/journal/journal.ts";
import { SnapshotFile, snapshotsPathOf } from "../../../src/journal/snapshots.ts";
import type { SaleEvent } from "../../../src/ledger/types.ts";
import { SqliteStore } from "../../../src/store/sqlite/sqlite-store.ts";
import type { Store } from "../../../src/store/store.ts";
import { check } from "./model.ts";

/** How often a running owner marks its time in the journal (sale-owner.ts). */
const CLOCK_MARK_MS = 1_000;

export const JOURNAL_ID = "journal-0";

/** Faults of the machine, not of one process: they outlast a crash. */
export type Faults = {
  /** Every call to the store fails (an outage). */
  storeDown: boolean;
  /** Batches fail before the store applies them, or after it did (the answer was lost). */
  applyFails: "no" | "before" | "after";
  snapshotWritesFail: boolean;
};

/**
 * The store as the worker reaches it: every call fails while the machine's store is down or after
 * the process was killed, and batches fail before or after the store applied them. A proxy, so
 * that whatever else the Store port offers passes through unchanged.
 */
type FlakyStore = Store & { dead: boolean };

function flakyStore(inner: SqliteStore, faults: Faults): FlakyStore {
  const control = { dead: false };
  const gate = (call: string) => {
    if (control.dead) throw new Error(`store call ${call} from a killed process`);
    if (faults.storeDown) throw new Error(`store unreachable (${call})`);
  };
  return new Proxy(inner as unknown as FlakyStore, {
    get(target, property) {
      if (property === "dead") return control.dead;
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== "function" || property === "close") return typeof value === "function" ? value.bind(target) : value;
      const call = String(property);
      return async (...args: unknown[]) => {
        gate(call);
        if (call === "apply" && faults.applyFails === "before") throw new Error("store write failed");
        const result: unknown = await (value as (...a: unknown[]) => unknown).apply(target, args);
        if (call === "apply" && faults.applyFails === "after") throw new Error("store connection lost after its commit");
        return result;
      };
    },
    set(target, property, value) {
      if (property !== "dead") return Reflect.set(target, property, value, target);
      control.dead = value === true;
      return true;
    },
  });
}

/** The journal with a tap on every commit: the model learns exactly what became durable. */
class TappedJournal extends Journal {
  tap: (events: readonly SaleEvent[], lastSeq: number, committedAt: number) => void = () => {};

  override append(events: readonly SaleEvent[], committedAt?: number): number {
    check(committedAt !== undefined, "a commit without the engine's time");
    const last = super.append(events, committedAt);
    if (events.length > 0) this.tap(events, last, committedAt);
    return last;
  }
}

/** What a snapshot write does at the simulation's request: fail, or kill the process before or after writing. */
export type SnapshotFate = "write" | "fail" | "crash-before" | "crash-after";

class SimSnapshotFile extends SnapshotFile {
  dead = false;
  fate: () => SnapshotFate = () => "write";
  kill: () => void = () => {};

  override put(saleId: string, seq: number, bytes: Uint8Array): void {
    if (this.dead) throw new Error("snapshot write from a killed process");
    const fate = this.fate();
    if (fate === "fail") throw new Error("snapshot write failed");
    if (fate === "crash-before") {
      this.kill();
      throw new Error("killed while writing a snapshot");
    }
    // The time it was taken is informational; a fixed one keeps the files identical run to run.
    super.put(saleId, seq, bytes, 0);
    if (fate === "crash-after") this.kill();
  }
}

/** The inline background, dead with its process, and with a hook right after each commit (before its answers leave). */
class SimBackground extends InlineBackground {
  dead = false;
  afterCommit: (() => void) | null = null;

  override notify(): void {
    if (this.dead) return;
    super.notify();
    this.afterCommit?.();
  }
  override flush(): Promise<void> {
    return this.dead ? Promise.reject(new Error("flush from a killed process")) : super.flush();
  }
  override truncate(bound: number): void {
    if (!this.dead) super.truncate(bound);
  }
  override snapshot(saleId: string, seq: number, bytes: Uint8Array): Promise<void> {
    return this.dead ? Promise.reject(new Error("snapshot from a killed process")) : super.snapshot(saleId, seq, bytes);
  }
}

export type Process = {
  generation: number;
  journal: TappedJournal;
  snapshots: SimSnapshotFile;
  store: FlakyStore;
  background: SimBackground;
  owner: SaleOwner;
  /** This process's monotonic clock (each process has its own origin). */
  monotonicMs: number;
  anchorWallMs: number;
  anchorMonotonicMs: number;
  dead: boolean;
};

export type WorldOptions = {
  dir: string;
  startWallMs: number;
  recentEndedMax: number;
  journalBacklogMax: number;
  /** Where the model learns of commits. */
  committed: (events: readonly SaleEvent[], lastSeq: number, committedAt: number) => void;
  log: (line: string) => void;
};

export class World {
  readonly faults: Faults = { storeDown: false, applyFails: "no", snapshotWritesFail: false };
  wallMs: number;
  generation = 0;
  /** A failed assertion of the engine (its fatal hook ran): the simulation fails at once. */
  fatal: unknown = null;
  snapshotFate: () => SnapshotFate = () => "write";
  /** The test's own connection to the store (an operator's), which never fails. */
  readonly storeDirect: SqliteStore;
  private current: Process | null = null;

  constructor(readonly options: WorldOptions) {
    this.wallMs = options.startWallMs;
    this.storeDirect = new SqliteStore(this.path("store.db"));
  }

  path(name: string): string {
    return join(this.options.dir, name);
  }

  get process(): Process {
    check(this.current !== null, "no process is running");
    return this.current;
  }

  get owner(): SaleOwner {
    return this.process.owner;
  }

  /** Start a worker process on the data dir: open the files, recover, serve. `monotonicStart` is its clock's origin. */
  async start(monotonicStart: number): Promise<void> {
    check(this.current === null || this.current.dead, "a process is running already");
    this.generation += 1;
    const journal = new TappedJournal(this.path(`${JOURNAL_ID}.db`), "process", { checkpoints: "manual" });
    const snapshots = new SimSnapshotFile(snapshotsPathOf(journal.path), "process");
    const store = flakyStore(new SqliteStore(this.path("store.db")), this.faults);
    const background = new SimBackground({ journal, snapshots, store, journalId: JOURNAL_ID, flushing: "manual" });
    const anchorWallMs = Math.max(this.wallMs, journal.clockFloor);
    // The owner marks its time in the journal at expiry ticks (at most a second apart): a restart
    // may start at most that much before the last tick, whatever the wall clock did meanwhile.
    check(anchorWallMs >= this.lastTickNow - CLOCK_MARK_MS, () => `restarted at ${anchorWallMs}, more than ${CLOCK_MARK_MS} ms before the last expiry tick at ${this.lastTickNow}`);
    const process: Process = {
      ...{ generation: this.generation, journal, snapshots, store, background, owner: null as unknown as SaleOwner },
      ...{ monotonicMs: monotonicStart, anchorWallMs, anchorMonotonicMs: monotonicStart, dead: false },
    };
    journal.tap = (events, lastSeq, committedAt) => this.options.committed(events, lastSeq, committedAt);
    snapshots.fate = () => (this.faults.snapshotWritesFail ? "fail" : this.snapshotFate());
    snapshots.kill = () => this.kill();
    process.owner = new SaleOwner({
      journal,
      snapshots,
      store,
      background,
      journalId: JOURNAL_ID,
      clock: engineClock(journal.clockFloor, () => this.wallMs, () => process.monotonicMs),
      manualTicks: true,
      recentEndedMax: this.options.recentEndedMax,
      journalBacklogMax: this.options.journalBacklogMax,
      storeReadWaitMs: 1_000,
      fatal: (error) => {
        this.fatal ??= error;
        throw error;
      },
      log: (level, msg, fields) => this.options.log(`owner ${level}: ${msg} ${fields === undefined ? "" : JSON.stringify(fields)}`),
    });
    this.current = process;
    await process.owner.start();
  }

  /** The engine time of the last expiry tick, on any process. */
  private lastTickNow = 0;

  /** The owner's expiry tick (a timer in a real worker): it also marks the engine's time in the journal. */
  expireTick(): void {
    this.lastTickNow = this.owner.now();
    this.owner.expireDue();
  }

  /** What the engine's clock must read now: wall time at start (never before the journal's last commit), plus monotonic time since. */
  expectedNow(): number {
    const p = this.process;
    return Math.floor(p.anchorWallMs + (p.monotonicMs - p.anchorMonotonicMs));
  }

  /** Time passes: both clocks move. */
  advance(ms: number): void {
    this.wallMs += ms;
    this.process.monotonicMs += ms;
  }

  /** Kill the process, as kill -9 would: nothing more is committed, flushed or answered. */
  kill(): void {
    const p = this.current;
    if (p === null || p.dead) return;
    p.dead = true;
    p.owner.commit.halt(new Error("the process was killed"));
    p.background.dead = true;
    p.background.afterCommit = null;
    p.store.dead = true;
    p.snapshots.dead = true;
  }

  /** Close what the killed process held open (its kernel would). */
  async closeDead(): Promise<void> {
    const p = this.current;
    if (p === null) return;
    check(p.dead, "closing the files of a live process");
    p.journal.close();
    p.snapshots.close();
    await p.store.close();
  }

  /** A clean shutdown at the end: stop the owner (it drains the store) and close everything. */
  async shutdown(): Promise<void> {
    const p = this.current;
    if (p !== null && !p.dead) {
      await p.owner.stop(1_000);
      p.dead = true;
      p.journal.close();
      p.snapshots.close();
      await p.store.close();
    }
    await this.storeDirect.close();
  }
}
