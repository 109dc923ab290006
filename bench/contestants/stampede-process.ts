// Starts `stampede serve` for the benchmark and keeps track of every process it leads to (the
// supervisor and each worker it spawns, restarts included) so that they can all be killed by pid,
// even when a start times out. Like test/support/process.ts, with a readiness bound of our choosing
// (a recovery of a million events may take longer than a test's 20 s) and the start time measured.

import type { Subprocess } from "bun";
import { mkdirSync } from "node:fs";
import { SECRETS } from "../../test/support/harness.ts";
import { freePort } from "../../test/support/process.ts";
import { killPid, track } from "./registry.ts";

const ROOT = new URL("../..", import.meta.url).pathname;
/** Server output kept for crash diagnosis; the head (start-up) and the tail are what matter. */
const OUTPUT_KEPT_CHARS = 200_000;

export type StampedeOptions = {
  dataDir: string;
  /** "default": STAMPEDE_WORKERS unset, so the server picks its default (the number of cores). */
  workers: number | "default";
  databaseUrl?: string;
  readyTimeoutMs?: number;
  /** A port chosen beforehand (node mode: the advertise URL names it); a free one otherwise. */
  port?: number;
  /** More environment (node mode's STAMPEDE_NODE_ID and STAMPEDE_ADVERTISE_URL). */
  env?: Record<string, string>;
};

/**
 * The supervisor makes its socket dir under the temp dir and removes it on a clean stop only; the
 * benchmark kills with SIGKILL, so the server's temp dir is put next to its data dir, inside the
 * benchmark's own work dir, which goes when the run ends.
 */
function serverTmpDir(dataDir: string): string {
  const dir = `${dataDir}-tmp`;
  mkdirSync(dir, { recursive: true });
  return dir;
}

/**
 * How the benchmark starts Stampede: the single executable it built for this run (what operators
 * deploy, and what starts fastest), or from source with `--source`. bench/run.ts sets it.
 */
let stampedeCommand: string[] = ["bun", "run", "src/main.ts"];

export function useStampedeCommand(command: string[]): void {
  stampedeCommand = command;
}

export class StampedeProcess {
  readonly url: string;
  readonly port: number;
  readonly proc: Subprocess;
  /** Milliseconds from spawning the supervisor to the first /readyz 200. */
  readyAfterMs = -1;
  private text = "";
  private readonly everyWorkerPid = new Set<number>();
  private readonly untrack: () => void;

  private constructor(options: StampedeOptions) {
    this.port = options.port ?? freePort();
    this.url = `http://127.0.0.1:${this.port}`;
    this.proc = Bun.spawn([...stampedeCommand, "serve"], {
      cwd: ROOT,
      env: {
        ...process.env,
        ...SECRETS,
        PORT: String(this.port),
        HOST: "127.0.0.1",
        STAMPEDE_DATA_DIR: options.dataDir,
        TMPDIR: serverTmpDir(options.dataDir),
        STAMPEDE_WORKERS: options.workers === "default" ? "" : String(options.workers),
        // The benchmark sends from one address, as many buyers; the limits would measure themselves.
        STAMPEDE_RATE_LIMIT_BUYER: "0",
        STAMPEDE_RATE_LIMIT_ADDRESS: "0",
        ...(options.databaseUrl === undefined ? { DATABASE_URL: "" } : { DATABASE_URL: options.databaseUrl }),
        ...options.env,
      },
      stdout: "pipe",
      stderr: "pipe",
    });
    void this.collect(this.proc.stdout as ReadableStream<Uint8Array>);
    void this.collect(this.proc.stderr as ReadableStream<Uint8Array>);
    this.untrack = track(() => {
      for (const pid of this.allWorkerPids()) killPid(pid);
      this.proc.kill("SIGKILL");
    });
  }

  static async start(options: StampedeOptions): Promise<StampedeProcess> {
    const server = new StampedeProcess(options);
    const started = performance.now();
    try {
      await server.waitReady(options.readyTimeoutMs ?? 60_000);
    } catch (error) {
      await server.kill();
      throw error;
    }
    server.readyAfterMs = performance.now() - started;
    return server;
  }

  private async collect(stream: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      const piece = decoder.decode(chunk, { stream: true });
      this.text += piece;
      if (piece.includes("worker serving")) for (const pid of this.workerPids().values()) this.everyWorkerPid.add(pid);
      if (this.text.length > OUTPUT_KEPT_CHARS * 2) {
        this.text = `${this.text.slice(0, OUTPUT_KEPT_CHARS / 2)}\n[...]\n${this.text.slice(-OUTPUT_KEPT_CHARS)}`;
      }
    }
  }

  private async waitReady(timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      if (this.proc.exitCode !== null) throw new Error(`stampede exited with ${this.proc.exitCode}: ${this.text.slice(-1500)}`);
      try {
        const response = await fetch(`${this.url}/readyz`, { signal: AbortSignal.timeout(1_000) });
        if (response.status === 200) return;
      } catch {}
      await Bun.sleep(10);
    }
    throw new Error(`stampede at ${this.url} not ready after ${timeoutMs} ms: ${this.text.slice(-1500)}`);
  }

  output(): string {
    return this.text;
  }

  /** Worker index -> pid, from the workers' "worker serving" log lines (latest start wins). */
  workerPids(): Map<number, number> {
    const pids = new Map<number, number>();
    for (const line of this.text.split("\n")) {
      if (!line.includes('"worker serving"')) continue;
      try {
        const entry = JSON.parse(line) as { worker?: unknown; pid?: unknown };
        if (typeof entry.worker === "number" && typeof entry.pid === "number") pids.set(entry.worker, entry.pid);
      } catch {}
    }
    return pids;
  }

  /** The pid of worker `index`, waiting for its "worker serving" line (it may follow /readyz 200). */
  async workerPid(index: number, timeoutMs = 10_000): Promise<number> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const pid = this.workerPids().get(index);
      if (pid !== undefined) return pid;
      if (performance.now() > deadline) throw new Error(`worker ${index} never logged "worker serving"`);
      await Bun.sleep(20);
    }
  }

  /** A worker died or crashed in a loop (the supervisor restarts it, but the run saw a crash). */
  crashed(): string | null {
    if (this.proc.exitCode !== null) return `the supervisor exited with ${this.proc.exitCode}`;
    const line = this.text.split("\n").find((l) => l.includes('"worker died"') || l.includes('"worker crash loop"'));
    return line === undefined ? null : line.slice(0, 300);
  }

  private allWorkerPids(): number[] {
    return [...new Set([...this.everyWorkerPid, ...this.workerPids().values()])];
  }

  /** SIGKILL every worker ever seen and the supervisor; wait until they are all gone. */
  async kill(): Promise<void> {
    const pids = this.allWorkerPids();
    for (const pid of pids) killPid(pid);
    this.proc.kill("SIGKILL");
    this.untrack();
    await this.proc.exited;
    // Workers not yet logged exit on their own when the supervisor's pipe closes; wait for the known ones.
    const deadline = performance.now() + 5_000;
    while (pids.some(alive) && performance.now() < deadline) await Bun.sleep(10);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** VmRSS of a process in bytes, from /proc/<pid>/status; null when it is gone. */
export async function rssBytes(pid: number): Promise<number | null> {
  try {
    const status = await Bun.file(`/proc/${pid}/status`).text();
    const kb = /VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1];
    return kb === undefined ? null : Number(kb) * 1024;
  } catch {
    return null;
  }
}
