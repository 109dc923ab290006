// Node mode's targets (issue 13), judged on this run's rows: holds/s of three nodes at least half of
// one machine's in the same run, p99 within 20 ms, failover within 10 s, and no acknowledged hold
// lost over 20 SIGKILL rounds (fewer rounds measured say so and judge nothing on that count).

import type { Row } from "../scenarios/context.ts";
import type { TargetResult } from "./targets.ts";

/** Rounds the issue asks for before "zero lost acknowledgements" counts as met. */
const KILL_ROUNDS_TARGET = 20;

export function nodeTargets(rows: Row[]): TargetResult[] {
  const nodes = rows.find((row) => row.scenario === "nodes" && row.contestantKey === "stampede-nodes-3");
  const failover = rows.find((row) => row.scenario === "node-failover");
  if (nodes === undefined) return [];
  const name = nodes.contestant;
  const ratio = nodes.metrics.ratioToSingle;
  const p99 = nodes.latencyMs?.p99;
  const results: TargetResult[] = [
    {
      target: "node mode holds/s ≥ 0.5× one machine (same run)",
      contestant: name,
      measured: ratio === undefined ? "n/a" : `${ratio.toFixed(2)}× (${Math.round(nodes.requestsPerSecond ?? 0).toLocaleString("en-US")}/s)`,
      met: ratio === undefined ? null : ratio >= 0.5,
    },
    { target: "node mode p99 ≤ 20 ms", contestant: name, measured: p99 === undefined ? "n/a" : `${p99.toFixed(1)} ms`, met: p99 === undefined ? null : p99 <= 20 },
  ];
  if (failover !== undefined) {
    const { rounds = 0, failoverMsMax = Number.NaN, lostAcks = 0 } = failover.metrics;
    results.push({ target: "node failover ≤ 10 s", contestant: name, measured: `${(failoverMsMax / 1000).toFixed(1)} s (worst of ${rounds})`, met: failoverMsMax <= 10_000 });
    results.push({
      target: `zero lost acknowledgements over ${KILL_ROUNDS_TARGET} SIGKILL rounds`,
      contestant: name,
      measured: `${lostAcks} lost over ${rounds} rounds`,
      met: lostAcks > 0 ? false : rounds >= KILL_ROUNDS_TARGET ? true : null,
    });
  }
  return results;
}
