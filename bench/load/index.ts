// Load generation: wrk when it is on the PATH, otherwise the fallback on Bun's raw sockets.
// `STAMPEDE_BENCH_LOAD=bun` forces the fallback (to check it, or to compare the two).

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { killGroup, track } from "../contestants/registry.ts";
import { finishResult, type LoadResult, type LoadSpec, type RawLoadResult } from "./types.ts";
import { runWrk, wrkAvailable } from "./wrk.ts";

export type { LoadResult, LoadSpec } from "./types.ts";
export { count } from "./types.ts";

export function generatorName(): LoadResult["generator"] {
  return process.env.STAMPEDE_BENCH_LOAD !== "bun" && wrkAvailable() ? "wrk" : "bun-sockets";
}

/** Runs one load; `workDir` holds the fallback's spec file. */
export async function runLoad(spec: LoadSpec, workDir: string): Promise<LoadResult> {
  if (spec.ratePerSecond !== undefined) throw new Error("a paced load runs with runPaced");
  if (generatorName() === "wrk") return runWrk(spec);
  return runFallback(spec, workDir);
}

/**
 * Runs one load at `spec.ratePerSecond` requests a second, with the fallback generator whatever
 * generatorName() says: wrk sends as fast as its connections go and cannot hold a rate.
 */
export async function runPaced(spec: LoadSpec & { ratePerSecond: number }, workDir: string): Promise<LoadResult> {
  return runFallback(spec, workDir);
}

async function runFallback(spec: LoadSpec, workDir: string): Promise<LoadResult> {
  const specFile = join(workDir, `load-${process.hrtime.bigint()}.json`);
  writeFileSync(specFile, JSON.stringify(spec));
  // A process group of its own, killed whole (it ends by itself too: its hard cap).
  const proc = Bun.spawn(["bun", join(import.meta.dir, "fallback.ts"), specFile], { stdout: "pipe", stderr: "pipe", detached: true });
  const untrack = track(() => killGroup(proc));
  const [text, errors] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  await proc.exited;
  untrack();
  const line = text.split("\n").find((l) => l.startsWith("bench-result "));
  if (line === undefined) throw new Error(`fallback load generator failed (exit ${proc.exitCode}): ${errors.slice(0, 800)}`);
  return finishResult("bun-sockets", JSON.parse(line.slice("bench-result ".length)) as RawLoadResult);
}
