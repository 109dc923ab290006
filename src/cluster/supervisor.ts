// The supervisor of `stampede serve`, once startup.ts has prepared the data dir: it spawns the
// worker processes (the same executable, sharing the port with SO_REUSEPORT), restarts a worker that
// dies (with backoff, and says so when it loops), and drains all of them on SIGTERM, exiting 1 when
// one of them could not finish its drain. It serves no requests itself.

import type { Subprocess } from "bun";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Config } from "../config.ts";
import { journalFiles } from "../data-dir.ts";
import { Journal } from "../journal/journal.ts";
import { snapshotsPathOf } from "../journal/snapshots.ts";
import type { Level } from "../log.ts";
import type { Store } from "../store/store.ts";
import { WriteBehind } from "../store/write-behind.ts";

export type SupervisorOptions = {
  config: Config;
  log: (level: Level, msg: string, fields?: Record<string, unknown>) => void;
};

const RESTART_MIN_MS = 100;
const RESTART_MAX_MS = 5_000;
/** More restarts than this within CRASH_LOOP_WINDOW_MS is reported as a crash loop. */
const CRASH_LOOP_RESTARTS = 5;
const CRASH_LOOP_WINDOW_MS = 60_000;
/** How long workers get to drain on SIGTERM before they are killed. */
const DRAIN_TIMEOUT_MS = 30_000;

/** The command that starts this same program: the executable alone, or bun with the entry script. */
export function selfCommand(): string[] {
  const compiled = Bun.main.startsWith("/$bunfs/") || Bun.main.startsWith("B:/~BUN/");
  return compiled ? [process.execPath] : [process.execPath, Bun.main];
}

/**
 * Move every journal of the data dir into the store and start the journals afresh (data-dir.ts says
 * when: the number of workers changed, or the journals are of an older format). Each journal is
 * drained into the store (both batch formats are read), then its files go; the workers then load
 * their sales from the store. Returns the events moved.
 */
export async function reshardJournals(config: Config, store: Store): Promise<number> {
  let moved = 0;
  for (const { index, file } of journalFiles(config.dataDir)) {
    const path = join(config.dataDir, file);
    const journal = new Journal(path, config.durability);
    try {
      const writeBehind = new WriteBehind(journal, store, `journal-${index}`);
      await writeBehind.open();
      moved += writeBehind.backlog;
      await writeBehind.drain();
    } finally {
      journal.close();
    }
    for (const gone of [path, snapshotsPathOf(path)]) {
      for (const suffix of ["", "-wal", "-shm"]) rmSync(`${gone}${suffix}`, { force: true });
    }
  }
  return moved;
}

type WorkerSlot = { index: number; process: Subprocess | null; restarts: number[]; delayMs: number; startedAt: number };

export class Supervisor {
  private readonly slots: WorkerSlot[];
  private readonly socketDir = mkdtempSync(join(tmpdir(), "stampede-"));
  private stopping = false;

  constructor(private readonly options: SupervisorOptions) {
    this.slots = Array.from({ length: options.config.workers }, (_, index) => ({
      index,
      process: null,
      restarts: [],
      delayMs: RESTART_MIN_MS,
      startedAt: 0,
    }));
  }

  start(port: number): void {
    for (const slot of this.slots) this.spawn(slot, port);
  }

  private spawn(slot: WorkerSlot, port: number): void {
    const { config } = this.options;
    slot.startedAt = Date.now();
    // The workers get the resolved configuration as environment, not the flags: a flag would win
    // over it (and `--port 0` would give every worker a port of its own).
    const child = Bun.spawn([...selfCommand(), "serve"], {
      env: {
        ...process.env,
        // Elysia reads it once, at import: in production it serves without Bun's development mode
        // (which adds work to every request). An operator may still set it otherwise.
        NODE_ENV: process.env.NODE_ENV ?? "production",
        PORT: String(port),
        HOST: config.host,
        STAMPEDE_DATA_DIR: config.dataDir,
        STAMPEDE_DURABILITY: config.durability,
        STAMPEDE_RATE_LIMIT_BUYER: String(config.rateLimitBuyer),
        STAMPEDE_RATE_LIMIT_ADDRESS: String(config.rateLimitAddress),
        STAMPEDE_TRUST_PROXY: String(config.trustProxy),
        ...(config.databaseUrl === undefined ? {} : { DATABASE_URL: config.databaseUrl }),
        ...(config.nodeId === undefined ? {} : { STAMPEDE_NODE_ID: config.nodeId, STAMPEDE_ADVERTISE_URL: config.advertiseUrl }),
        STAMPEDE_WORKERS: String(config.workers),
        STAMPEDE_WORKER_INDEX: String(slot.index),
        STAMPEDE_SOCKET_DIR: this.socketDir,
      },
      // The worker watches its stdin: when the supervisor dies, even by SIGKILL, the pipe closes
      // and the worker exits instead of serving on as an orphan.
      stdin: "pipe",
      stdout: "inherit",
      stderr: "inherit",
    });
    slot.process = child;
    void child.exited.then((code) => this.exited(slot, port, code));
  }

  private exited(slot: WorkerSlot, port: number, code: number | null): void {
    slot.process = null;
    if (this.stopping) return;
    const now = Date.now();
    // A worker that ran a while before dying starts over with the shortest delay.
    if (now - slot.startedAt > CRASH_LOOP_WINDOW_MS) slot.delayMs = RESTART_MIN_MS;
    slot.restarts = slot.restarts.filter((at) => now - at < CRASH_LOOP_WINDOW_MS);
    slot.restarts.push(now);
    const looping = slot.restarts.length > CRASH_LOOP_RESTARTS;
    this.options.log(looping ? "error" : "warn", looping ? "worker crash loop" : "worker died", {
      worker: slot.index,
      code,
      restartsInLastMinute: slot.restarts.length,
      restartInMs: slot.delayMs,
    });
    setTimeout(() => {
      if (!this.stopping) this.spawn(slot, port);
    }, slot.delayMs);
    slot.delayMs = Math.min(RESTART_MAX_MS, slot.delayMs * 2);
  }

  /**
   * SIGTERM every worker and wait for them to drain, killing any that outlast the bound. Returns the
   * workers that did not stop cleanly (exit status other than 0).
   */
  async stop(): Promise<number[]> {
    this.stopping = true;
    const running = this.slots.filter((slot) => slot.process !== null).map((slot) => ({ index: slot.index, child: slot.process as Subprocess }));
    for (const { child } of running) child.kill("SIGTERM");
    const timeout = setTimeout(() => {
      for (const { child } of running) child.kill("SIGKILL");
    }, DRAIN_TIMEOUT_MS);
    const codes = await Promise.all(running.map(({ child }) => child.exited));
    clearTimeout(timeout);
    rmSync(this.socketDir, { recursive: true, force: true });
    return running.filter((_, i) => codes[i] !== 0).map(({ index }) => index);
  }
}

/** Socket path of worker `index` inside the supervisor's socket dir. */
export function workerSocketPath(socketDir: string, index: number): string {
  return join(socketDir, `w${index}.sock`);
}
