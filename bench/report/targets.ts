// The targets of the bench issue, judged on this run's rows, as met or missed, honestly: a target
// whose inputs were not measured in this run (no PostgreSQL, no Redis) says so instead of guessing.

import type { Row, Scale } from "../scenarios/context.ts";
import { nodeTargets } from "./node-targets.ts";

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

/** The drop's time to sell out in the last full run before the engine issues (README, 2026-11-22). */
const DROP_SOLD_OUT_BEFORE_S = 2.22;

export function judgeTargets(rows: Row[], scale: Scale): TargetResult[] {
  const results: TargetResult[] = [];
  const stampedeKeys = [...new Set(rows.filter((r) => r.scenario === "holds" && r.contestantKey.startsWith("stampede-")).map((r) => r.contestantKey))];
  const usual = find(rows, "holds", "usual-pg");
  const redis = find(rows, "holds", "redis-lua");
  const against = (row: Row | undefined, min: number, target: string, name: string) =>
    results.push({ target, contestant: name, measured: ratio(row?.ratioToCeiling), met: row?.ratioToCeiling === undefined ? null : row.ratioToCeiling >= min });
  for (const key of stampedeKeys) {
    const holds = find(rows, "holds", key);
    if (holds === undefined) continue;
    const name = holds.contestant;
    const r = holds.ratioToCeiling;
    results.push({
      target: "durable holds/s ≥ 0.65 of the ceiling (aim 0.8)",
      contestant: name,
      measured: `${ratio(r)} (${Math.round(holds.requestsPerSecond ?? 0).toLocaleString("en-US")}/s)`,
      met: r === undefined ? null : r >= 0.65,
    });
    const ahead = redis?.requestsPerSecond && holds.requestsPerSecond ? holds.requestsPerSecond / redis.requestsPerSecond : undefined;
    results.push({
      target: "holds/s ≥ 1.2× Redis + Lua",
      contestant: name,
      measured: ahead === undefined ? "Redis not measured" : `${ahead.toFixed(2)}× Redis + Lua`,
      met: ahead === undefined ? null : ahead >= 1.2,
    });
    const p99 = holds.latencyMs?.p99;
    results.push({
      target: `hold p99 ≤ 8 ms at ${scale.connections} connections`,
      contestant: name,
      measured: p99 === undefined ? "n/a" : `${p99.toFixed(2)} ms`,
      met: p99 === undefined ? null : p99 <= 8,
    });
    against(find(rows, "sold-out", key), 0.9, "sold-out rejects/s ≥ 0.9 of the ceiling", name);
    const etag = find(rows, "reads-etag", key);
    const reads = find(rows, "reads", key);
    results.push({
      target: "reads/s ≥ 0.9 of the ceiling (plain GET; with If-None-Match in brackets)",
      contestant: name,
      measured: `${ratio(reads?.ratioToCeiling)} (${ratio(etag?.ratioToCeiling)})`,
      met: reads?.ratioToCeiling === undefined ? null : reads.ratioToCeiling >= 0.9,
    });
    against(find(rows, "webhooks", key), 0.6, "webhooks/s ≥ 0.6 of the ceiling", name);
    const drop = find(rows, "drop", key);
    const soldOutS = drop?.metrics.soldOutMs === undefined ? undefined : drop.metrics.soldOutMs / 1000;
    results.push({
      target: `the drop sells out ≥ 1.5× faster than the last full run (${DROP_SOLD_OUT_BEFORE_S} s)`,
      contestant: name,
      measured: soldOutS === undefined || scale.quick ? "not a full run" : `${soldOutS.toFixed(2)} s (${(DROP_SOLD_OUT_BEFORE_S / soldOutS).toFixed(2)}× faster)`,
      met: soldOutS === undefined || scale.quick ? null : DROP_SOLD_OUT_BEFORE_S / soldOutS >= 1.5,
    });
    const times = usual?.requestsPerSecond && holds.requestsPerSecond ? holds.requestsPerSecond / usual.requestsPerSecond : undefined;
    results.push({
      target: "holds/s ≥ 40× the usual PostgreSQL design",
      contestant: name,
      measured: times === undefined ? "usual design not measured" : `${times.toFixed(1)}×`,
      met: times === undefined ? null : times >= 40,
    });
    waitingRoomTargets(rows, key, name, results);
  }
  const memory = rows.find((row) => row.scenario === "memory");
  if (memory !== undefined) {
    const perHold = memory.metrics.bytesPerHold ?? 0;
    results.push({
      target: "≤ 150 B of worker RSS per live hold (1,000,000 live holds ≤ 200 MB)",
      contestant: memory.contestant,
      measured: `${perHold.toFixed(0)} B a hold, settled${memory.metrics.extrapolated ? " (--quick: from the second half's growth)" : ""}`,
      met: perHold <= 150,
    });
  }
  const ended = rows.find((row) => row.scenario === "ended");
  if (ended !== undefined) {
    const drift = ended.metrics.driftPercent ?? 0;
    results.push({
      target: "after any number of ended holds, RSS within 10% of where the first round left it",
      contestant: ended.contestant,
      measured: `${drift >= 0 ? "+" : ""}${drift.toFixed(1)}% after ${ended.metrics.rounds ?? 0} rounds`,
      met: Math.abs(drift) <= 10,
    });
  }
  const soak = rows.find((row) => row.scenario === "soak");
  if (soak !== undefined) {
    const drift = soak.metrics.driftPercent ?? 0;
    results.push({
      target: "soak: 10,000,000 one-second holds over about 10 minutes, RSS flat (within 10%)",
      contestant: soak.contestant,
      measured: `${(soak.metrics.holds ?? 0).toLocaleString("en-US")} holds; RSS ${drift >= 0 ? "+" : ""}${drift.toFixed(1)}% from the first sample`,
      met: Math.abs(drift) <= 10 && (soak.metrics.holds ?? 0) >= 10_000_000,
    });
  }
  const recovery = rows.find((row) => row.scenario === "recovery");
  if (recovery !== undefined) {
    const seconds = (recovery.metrics.recoveryMs ?? 0) / 1000;
    const events = recovery.metrics.journalEvents ?? 0;
    results.push({
      target: "recovery of 1,000,000 journaled events ≤ 1 s (aim 0.5 s; kill -9 to /readyz 200)",
      contestant: recovery.contestant,
      measured: `${seconds.toFixed(2)} s for ${events.toLocaleString("en-US")} events${events < 1_000_000 ? " (fewer events than the target's: --quick)" : ""}`,
      met: seconds <= 1,
    });
  }
  results.push(...nodeTargets(rows));
  results.push(...outboundTargets(rows));
  return results;
}

/** Issue 12's targets, from the rows of scenario 12 (scenarios/outbound-webhooks.ts). */
function outboundTargets(rows: Row[]): TargetResult[] {
  const results: TargetResult[] = [];
  const slow = rows.find((row) => row.scenario === "outbound-holds" && row.metrics.ratioToNoEndpoint !== undefined);
  const none = rows.find((row) => row.scenario === "outbound-holds" && row.metrics.ratioToNoEndpoint === undefined);
  if (slow !== undefined && none !== undefined) {
    const r = slow.metrics.ratioToNoEndpoint ?? 0;
    results.push({
      target: "outbound webhooks: holds/s with a slow endpoint (1 s an answer) ≥ 0.95× holds/s with none, same run",
      contestant: slow.contestant,
      measured: `${r.toFixed(2)}× (${Math.round(slow.requestsPerSecond ?? 0).toLocaleString("en-US")} vs ${Math.round(none.requestsPerSecond ?? 0).toLocaleString("en-US")}/s, medians)`,
      met: r >= 0.95,
    });
  }
  const lag = rows.find((row) => row.scenario === "outbound-lag");
  if (lag !== undefined) {
    const p99 = lag.metrics.lagP99Ms ?? Number.NaN;
    results.push({
      target: "outbound webhooks: delivery lag p99 < 1 s at 5,000 events/s to a healthy receiver",
      contestant: lag.contestant,
      measured: `p99 ${p99.toFixed(0)} ms (p50 ${(lag.metrics.lagP50Ms ?? 0).toFixed(0)}, max ${(lag.metrics.lagMaxMs ?? 0).toFixed(0)}); ${lag.exact ? "every event delivered" : "NOT every event delivered"}`,
      met: p99 < 1000 && lag.exact === true,
    });
  }
  return results;
}

/** Issue 11's targets, from the rows of the drop with a waiting room (scenarios/room-drop.ts). */
function waitingRoomTargets(rows: Row[], key: string, name: string, results: TargetResult[]): void {
  const joins = find(rows, "room-joins", key);
  const polls = find(rows, "room-polls", key);
  const admission = find(rows, "room-admission", key);
  if (joins === undefined) return;
  results.push({ target: "waiting room: joins/s ≥ 0.5 of the ceiling", contestant: name, measured: ratio(joins.ratioToCeiling), met: joins.ratioToCeiling === undefined ? null : joins.ratioToCeiling >= 0.5 });
  results.push({ target: "waiting room: polls/s ≥ 0.9 of the ceiling", contestant: name, measured: ratio(polls?.ratioToCeiling), met: polls?.ratioToCeiling === undefined ? null : polls.ratioToCeiling >= 0.9 });
  if (admission === undefined) return;
  const off = admission.metrics.paceOff ?? Number.NaN;
  results.push({
    target: "waiting room: admission within 5% of its pace, in exact order, sold out with 0 oversell and nobody left waiting",
    contestant: name,
    measured: `${(off * 100).toFixed(1)}% off the pace; ${admission.exactness}`,
    met: off <= 0.05 && admission.exact === true,
  });
}

/** Short per-row target notes for the main table. */
export function rowTargets(row: Row, targets: TargetResult[]): string {
  const scenarioTargets: Record<string, string[]> = {
    holds: ["durable holds/s", "hold p99", "40×", "Redis"],
    "sold-out": ["sold-out"],
    reads: ["reads/s"],
    webhooks: ["webhooks/s"],
    drop: ["the drop"],
    memory: ["live hold"],
    ended: ["ended holds"],
    soak: ["soak"],
    recovery: ["recovery"],
    "room-joins": ["joins/s"],
    "room-polls": ["polls/s"],
    "room-admission": ["its pace"],
    "outbound-holds": ["slow endpoint"],
    "outbound-lag": ["delivery lag"],
  };
  const wanted = scenarioTargets[row.scenario];
  if (wanted === undefined) return "";
  return targets
    .filter((t) => t.contestant === row.contestant && wanted.some((w) => t.target.includes(w)))
    .map((t) => `${shortName(t.target)}: ${t.met === null ? "n/a" : t.met ? "met" : "missed"}`)
    .join(" · ");
}

function shortName(target: string): string {
  // First: these targets' names carry words of the others' ("p99", "holds/s").
  if (target.includes("slow endpoint")) return "≥0.95× no endpoint";
  if (target.includes("delivery lag")) return "lag p99<1s";
  if (target.startsWith("durable holds/s")) return "≥0.65× ceiling";
  if (target.startsWith("sold-out")) return "≥0.9× ceiling";
  if (target.startsWith("reads/s")) return "≥0.9× ceiling";
  if (target.startsWith("webhooks/s")) return "≥0.6× ceiling";
  if (target.startsWith("the drop")) return "≥1.5× faster";
  if (target.includes("40×")) return "≥40× usual PG";
  if (target.includes("Redis")) return "≥1.2× Redis";
  if (target.includes("p99")) return "p99≤8ms";
  if (target.includes("live hold")) return "≤150 B a hold";
  if (target.includes("ended holds")) return "±10%";
  if (target.includes("soak")) return "flat";
  if (target.includes("recovery")) return "≤1 s";
  if (target.includes("joins/s")) return "≥0.5× ceiling";
  if (target.includes("polls/s")) return "≥0.9× ceiling";
  if (target.includes("its pace")) return "pace ±5%, exact";
  return target;
}
