// The machine the numbers come from: cores, CPU model (/proc/cpuinfo), memory, kernel, Bun and wrk
// versions, and the load average at the start and the end (other work on the machine skews results).

import { readFileSync } from "node:fs";
import { availableParallelism, loadavg, release, totalmem } from "node:os";

export type Machine = {
  cores: number;
  cpuModel: string;
  memoryGiB: number;
  kernel: string;
  bunVersion: string;
  wrkVersion: string | null;
  loadAverageStart: number[];
  loadAverageEnd: number[];
};

function cpuModel(): string {
  try {
    const match = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"));
    return match?.[1]?.trim() ?? "unknown CPU";
  } catch {
    return "unknown CPU";
  }
}

function wrkVersion(): string | null {
  if (Bun.which("wrk") === null) return null;
  const result = Bun.spawnSync(["wrk", "-v"], { stdout: "pipe", stderr: "pipe" });
  const text = `${result.stdout.toString()}${result.stderr.toString()}`;
  return /^(wrk \S+)/m.exec(text)?.[1] ?? "wrk";
}

export function describeMachine(): Machine {
  return {
    cores: availableParallelism(),
    cpuModel: cpuModel(),
    memoryGiB: totalmem() / 1024 ** 3,
    kernel: release(),
    bunVersion: Bun.version,
    wrkVersion: wrkVersion(),
    loadAverageStart: loadavg(),
    loadAverageEnd: loadavg(),
  };
}
