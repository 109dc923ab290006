// Run `stampede serve` as a real child process, so tests can kill it with SIGKILL and start it again
// on the same data dir.

import type { Subprocess } from "bun";
import { SECRETS } from "./harness.ts";

const ROOT = new URL("../..", import.meta.url).pathname;

export type ServerProcess = {
  url: string;
  port: number;
  proc: Subprocess;
  output(): string;
  /** Worker index -> pid, from the workers' "worker serving" log lines (latest start wins). */
  workerPids(): Map<number, number>;
  kill(signal?: NodeJS.Signals | number): Promise<number | null>;
};

/** A port nothing listens on now; the OS picks it, we release it and reuse the number. */
export function freePort(): number {
  const probe = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
  const port = probe.port as number;
  probe.stop(true);
  return port;
}

export async function waitReady(url: string, timeoutMs = 20_000, proc?: Subprocess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc?.exitCode !== null && proc?.exitCode !== undefined) throw new Error(`server exited with ${proc.exitCode}`);
    try {
      const response = await fetch(`${url}/readyz`);
      if (response.status === 200) return;
    } catch {}
    await Bun.sleep(50);
  }
  throw new Error(`server at ${url} not ready after ${timeoutMs} ms`);
}

/**
 * `processGroup`: the server leads a process group of its own, and `kill` signals the whole group
 * (the supervisor and every worker it started), so nothing it started outlives the kill.
 */
export async function spawnServer(
  dataDir: string,
  env: Record<string, string> = {},
  options: { processGroup?: boolean; port?: number; readyTimeoutMs?: number } = {},
): Promise<ServerProcess> {
  const port = options.port ?? freePort();
  let output = "";
  const group = options.processGroup === true;
  const proc = Bun.spawn(["bun", "run", "src/main.ts", "serve"], {
    detached: group,
    cwd: ROOT,
    env: {
      ...process.env,
      ...SECRETS,
      PORT: String(port),
      HOST: "127.0.0.1",
      STAMPEDE_DATA_DIR: dataDir,
      STAMPEDE_WORKERS: "1",
      STAMPEDE_RATE_LIMIT_BUYER: "0",
      STAMPEDE_RATE_LIMIT_ADDRESS: "0",
      ...env,
    },
    stdout: "pipe",
    stderr: "pipe",
  });
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) output += new TextDecoder().decode(chunk);
  };
  void collect(proc.stdout as ReadableStream<Uint8Array>);
  void collect(proc.stderr as ReadableStream<Uint8Array>);
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitReady(url, options.readyTimeoutMs ?? 20_000, proc);
  } catch (error) {
    signal(proc, group, "SIGKILL");
    // What the server said is what explains a failed start.
    throw new Error(`${error instanceof Error ? error.message : String(error)}; its output:\n${output.slice(-2000)}`);
  }
  return {
    url,
    port,
    proc,
    output: () => output,
    workerPids() {
      const pids = new Map<number, number>();
      for (const line of output.split("\n")) {
        if (!line.includes('"worker serving"')) continue;
        const entry = JSON.parse(line) as { worker: number; pid: number };
        pids.set(entry.worker, entry.pid);
      }
      return pids;
    },
    async kill(name = "SIGKILL") {
      signal(proc, group, name);
      return proc.exited;
    },
  };
}

function signal(proc: Subprocess, group: boolean, name: NodeJS.Signals | number): void {
  if (!group) return void proc.kill(name);
  try {
    process.kill(-proc.pid, name);
  } catch {}
}
