// Runs one load with wrk and bench/load/wrk.lua. wrk itself only stops when its duration is over or
// on SIGINT, so the runner watches for every thread's "bench-thread-done" line and sends SIGINT then
// (again every 250 ms, in case the first one came before wrk went to sleep). A hard cap stops a run
// that never drains, e.g. because the server died; what was not answered is reported as such.

import { join } from "node:path";
import { track } from "../contestants/registry.ts";
import { finishResult, type LoadResult, type LoadSpec, type RawLoadResult } from "./types.ts";

const SCRIPT = join(import.meta.dir, "wrk.lua");
/** Answers slower than this count as wrk timeouts; generous so that a slow contestant is measured, not cut. */
const WRK_TIMEOUT_S = 10;
const RESULT_PREFIX = "bench-result ";

export function wrkAvailable(): boolean {
  return Bun.which("wrk") !== null;
}

function capMs(spec: LoadSpec): number {
  if (spec.hardCapMs !== undefined) return spec.hardCapMs;
  return spec.seconds > 0 ? (spec.seconds + 30) * 1000 : 600_000;
}

export async function runWrk(spec: LoadSpec): Promise<LoadResult> {
  const cap = capMs(spec);
  const headers = Object.entries(spec.headers ?? {})
    .map(([name, value]) => `${name}: ${value}`)
    .join("\n");
  const proc = Bun.spawn(
    [
      "wrk",
      `-t${spec.threads}`,
      `-c${spec.connections}`,
      `-d${Math.ceil(cap / 1000) + 1}s`,
      `--timeout`,
      `${WRK_TIMEOUT_S}s`,
      "-s",
      SCRIPT,
      spec.url,
    ],
    {
      env: {
        ...process.env,
        BENCH_MODE: spec.mode,
        BENCH_THREADS: String(spec.threads),
        BENCH_SECONDS: String(spec.seconds),
        BENCH_REPEAT: String(spec.repeat ?? 1),
        BENCH_METHOD: spec.method,
        BENCH_PATH: spec.path,
        BENCH_BODY: spec.body ?? "",
        BENCH_HEADERS: headers,
        BENCH_ENTRIES: spec.entriesFile ?? "",
        BENCH_ENTRY_HEADER: spec.entryHeader ?? "",
      },
      stdout: "pipe",
      stderr: "pipe",
    },
  );
  const untrack = track(() => proc.kill("SIGKILL"));
  let interrupter: ReturnType<typeof setInterval> | null = null;
  const interrupt = () => {
    if (interrupter !== null) return;
    proc.kill("SIGINT");
    interrupter = setInterval(() => proc.kill("SIGINT"), 250);
  };
  const capTimer = setTimeout(interrupt, cap);
  const killTimer = setTimeout(() => proc.kill("SIGKILL"), cap + 15_000);
  let text = "";
  let threadsDone = 0;
  const decoder = new TextDecoder();
  const stderr = new Response(proc.stderr).text();
  try {
    for await (const chunk of proc.stdout as ReadableStream<Uint8Array>) {
      const piece = decoder.decode(chunk, { stream: true });
      text += piece;
      threadsDone += piece.split("bench-thread-done").length - 1;
      if (threadsDone >= spec.threads) interrupt();
    }
    await proc.exited;
  } finally {
    clearTimeout(capTimer);
    clearTimeout(killTimer);
    if (interrupter !== null) clearInterval(interrupter);
    if (proc.exitCode === null) proc.kill("SIGKILL");
    untrack();
  }
  const line = text.split("\n").find((l) => l.startsWith(RESULT_PREFIX));
  if (line === undefined) {
    throw new Error(`wrk gave no result (exit ${proc.exitCode}): ${(await stderr).slice(0, 500)} ${text.slice(-500)}`);
  }
  return finishResult("wrk", JSON.parse(line.slice(RESULT_PREFIX.length)) as RawLoadResult);
}
