// The targets of the bench issue, judged on this run's rows, as met or missed, honestly: a target
// whose inputs were not measured in this run (no PostgreSQL, no Redis) says so instead of guessing.

import type { Row, Scale } from "../scenarios/context.ts";

export type TargetResult = {
  target: string;
  contestant: string;
  measured: string;
  /** null: not measured in this run. */
  met: boolean | null;
};

const MB = 1_000_000;

function find(rows: Row[], scenario: Row["scenario"], key: string): Row | undefined {
  return rows.find((row) => row.scenario === scenario && row.contestantKey === key);
}

const ratio = (value: number | undefined) => (value === undefined ? "n/a" : `${value.toFixed(2)}×`);

export function judgeTargets(rows: Row[], scale: Scale): TargetResult[] {
  const results: TargetResult[] = [];
  const stampedeKeys = [...new Set(rows.filter((r) => r.scenario === "holds" && r.contestantKey.startsWith("stampede-")).map((r) => r.contestantKey))];
  const usual = find(rows, "holds", "usual-pg");
  const redis = find(rows, "holds", "redis-lua");
  for (const key of stampedeKeys) {
    const holds = find(rows, "holds", key);
    if (holds === undefined) continue;
    const name = holds.contestant;
    const r = holds.ratioToCeiling;
    results.push({
      target: "durable holds/s ≥ 0.8 of the ceiling (aim 0.9)",
      contestant: name,
      measured: `${ratio(r)} (${Math.round(holds.requestsPerSecond ?? 0).toLocaleString("en-US")}/s)`,
      met: r === undefined ? null : r >= 0.8,
    });
    const soldOut = find(rows, "sold-out", key);
    results.push({
      target: "sold-out rejects/s ≥ 0.9 of the ceiling",
      contestant: name,
      measured: ratio(soldOut?.ratioToCeiling),
      met: soldOut?.ratioToCeiling === undefined ? null : soldOut.ratioToCeiling >= 0.9,
    });
    const reads = find(rows, "reads", key);
    const etag = find(rows, "reads-etag", key);
    results.push({
      target: "reads/s ≥ 0.9 of the ceiling (plain GET; with If-None-Match in brackets)",
      contestant: name,
      measured: `${ratio(reads?.ratioToCeiling)} (${ratio(etag?.ratioToCeiling)})`,
      met: reads?.ratioToCeiling === undefined ? null : reads.ratioToCeiling >= 0.9,
    });
    const times = usual?.requestsPerSecond && holds.requestsPerSecond ? holds.requestsPerSecond / usual.requestsPerSecond : undefined;
    results.push({
      target: "holds/s ≥ 40× the usual PostgreSQL design",
      contestant: name,
      measured: times === undefined ? "usual design not measured" : `${times.toFixed(1)}×`,
      met: times === undefined ? null : times >= 40,
    });
    const ahead = redis?.requestsPerSecond && holds.requestsPerSecond ? holds.requestsPerSecond / redis.requestsPerSecond : undefined;
    results.push({
      target: "holds/s ahead of Redis + Lua",
      contestant: name,
      measured: ahead === undefined ? "Redis not measured" : `${ahead.toFixed(2)}× Redis + Lua`,
      met: ahead === undefined ? null : ahead > 1,
    });
    const p99 = holds.latencyMs?.p99;
    results.push({
      target: `hold p99 < 10 ms at ${scale.connections} connections`,
      contestant: name,
      measured: p99 === undefined ? "n/a" : `${p99.toFixed(2)} ms`,
      met: p99 === undefined ? null : p99 < 10,
    });
  }
  const memory = rows.find((row) => row.scenario === "memory");
  if (memory !== undefined) {
    const perMillionMB = ((memory.metrics.perMillionMiB ?? 0) * 1024 * 1024) / MB;
    results.push({
      target: "1,000,000 live holds in < 300 MB (worker RSS growth)",
      contestant: memory.contestant,
      measured: `${perMillionMB.toFixed(0)} MB${memory.metrics.extrapolated ? ` (--quick: extrapolated from the growth over the second half of ${(memory.metrics.holds ?? 0).toLocaleString("en-US")} holds)` : ""}`,
      met: perMillionMB < 300,
    });
  }
  const recovery = rows.find((row) => row.scenario === "recovery");
  if (recovery !== undefined) {
    const seconds = (recovery.metrics.recoveryMs ?? 0) / 1000;
    const events = recovery.metrics.journalEvents ?? 0;
    results.push({
      target: "recovery of 1,000,000 journaled events < 3 s (kill -9 to /readyz 200)",
      contestant: recovery.contestant,
      measured: `${seconds.toFixed(2)} s for ${events.toLocaleString("en-US")} events${events < 1_000_000 ? " (fewer events than the target's: --quick)" : ""}`,
      met: seconds < 3,
    });
  }
  return results;
}

/** Short per-row target notes for the main table. */
export function rowTargets(row: Row, targets: TargetResult[]): string {
  const scenarioTargets: Record<string, string[]> = {
    holds: ["durable holds/s", "hold p99", "40×", "Redis"],
    "sold-out": ["sold-out"],
    reads: ["reads/s"],
    memory: ["live holds"],
    recovery: ["recovery"],
  };
  const wanted = scenarioTargets[row.scenario];
  if (wanted === undefined) return "";
  return targets
    .filter((t) => t.contestant === row.contestant && wanted.some((w) => t.target.includes(w)))
    .map((t) => `${shortName(t.target)}: ${t.met === null ? "n/a" : t.met ? "met" : "missed"}`)
    .join(" · ");
}

function shortName(target: string): string {
  if (target.startsWith("durable holds/s")) return "≥0.8× ceiling";
  if (target.startsWith("sold-out")) return "≥0.9× ceiling";
  if (target.startsWith("reads/s")) return "≥0.9× ceiling";
  if (target.includes("40×")) return "≥40× usual PG";
  if (target.includes("Redis")) return "> Redis";
  if (target.includes("p99")) return "p99<10ms";
  if (target.includes("live holds")) return "<300 MB";
  if (target.includes("recovery")) return "<3 s";
  return target;
}
