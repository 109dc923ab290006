// Load generation: wrk when it is on the PATH, otherwise the fallback on Bun's raw sockets.
// `STAMPEDE_BENCH_LOAD=bun` forces the fallback (to check it, or to compare the two).

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { track } from "../contestants/registry.ts";
import { finishResult, type LoadResult, type LoadSpec, type RawLoadResult } from "./types.ts";
import { runWrk, wrkAvailable } from "./wrk.ts";

export type { LoadResult, LoadSpec } from "./types.ts";
export { count } from "./types.ts";

export function generatorName(): LoadResult["generator"] {
  return process.env.STAMPEDE_BENCH_LOAD !== "bun" && wrkAvailable() ? "wrk" : "bun-sockets";
}

/** Runs one load; `workDir` holds the fallback's spec file. */
export async function runLoad(spec: LoadSpec, workDir: string): Promise<LoadResult> {
  if (generatorName() === "wrk") return runWrk(spec);
  const specFile = join(workDir, `load-${process.hrtime.bigint()}.json`);
  writeFileSync(specFile, JSON.stringify(spec));
  const proc = Bun.spawn(["bun", join(import.meta.dir, "fallback.ts"), specFile], { stdout: "pipe", stderr: "pipe" });
  const untrack = track(() => proc.kill("SIGKILL"));
  const [text, errors] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  await proc.exited;
  untrack();
  const line = text.split("\n").find((l) => l.startsWith("bench-result "));
  if (line === undefined) throw new Error(`fallback load generator failed (exit ${proc.exitCode}): ${errors.slice(0, 800)}`);
  return finishResult("bun-sockets", JSON.parse(line.slice("bench-result ".length)) as RawLoadResult);
}
