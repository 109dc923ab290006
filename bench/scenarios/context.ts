// What every scenario gets: the scale of this run (full or --quick), the buyer files, the load
// generator, and the place where rows, exactness violations and crashes are recorded.

import { loadavg } from "node:os";
import type { Contestant, ItemCounts } from "../contestants/types.ts";
import type { LoadResult, LoadSpec } from "../load/index.ts";

export type Scale = {
  quick: boolean;
  connections: number;
  threads: number;
  holdsSeconds: number;
  soldOutSeconds: number;
  readsSeconds: number;
  /** Distinct buyers cycled through in the hot sale and the sold-out storm. */
  hotBuyers: number;
  dropStock: number;
  /** Distinct buyers of the drop, each sending one hold. */
  dropBuyers: number;
  /** The usual PostgreSQL design would take many minutes to serve the whole drop: it gets this long. */
  slowDropCapSeconds: number;
  /** Live holds made for the memory and recovery scenarios (each buyer of the drop file holds twice). */
  memoryHolds: number;
  /** Scenario 12: rounds of each arm of the A/B (no endpoint / a slow one), alternating. */
  outboundRounds: number;
  /** Scenario 12: how long holds arrive at the paced rate while the delivery lag is measured. */
  outboundLagSeconds: number;
};

export const FULL: Scale = {
  quick: false,
  connections: 64,
  threads: 2,
  holdsSeconds: 10,
  soldOutSeconds: 8,
  readsSeconds: 6,
  hotBuyers: 100_000,
  dropStock: 50_000,
  dropBuyers: 500_000,
  slowDropCapSeconds: 15,
  memoryHolds: 1_000_000,
  outboundRounds: 3,
  outboundLagSeconds: 15,
};

export const QUICK: Scale = {
  quick: true,
  connections: 64,
  threads: 2,
  holdsSeconds: 2,
  soldOutSeconds: 2,
  readsSeconds: 2,
  hotBuyers: 20_000,
  dropStock: 5_000,
  dropBuyers: 50_000,
  slowDropCapSeconds: 3,
  memoryHolds: 100_000,
  outboundRounds: 1,
  outboundLagSeconds: 3,
};

export type ScenarioName =
  | "holds"
  | "drop"
  | "sold-out"
  | "reads"
  | "reads-etag"
  | "webhooks"
  | "memory"
  | "ended"
  | "soak"
  | "recovery"
  | "room-joins"
  | "room-polls"
  | "room-admission"
  | "nodes"
  | "node-failover"
  | "outbound-holds"
  | "outbound-lag";

export type Row = {
  scenario: ScenarioName;
  contestantKey: string;
  contestant: string;
  generator?: LoadResult["generator"];
  requests?: number;
  requestsPerSecond?: number;
  /** Requests/s over the ceiling's for the same kind of request, measured in this run. */
  ratioToCeiling?: number;
  latencyMs?: { p50: number; p99: number; p999: number };
  /** Answers by status, with problem codes and payment outcomes. */
  answers: string;
  /** The scenario's own result in words (time to sell out, RSS, recovery time). */
  result: string;
  /** null: nothing to check (the ceiling). */
  exact: boolean | null;
  exactness: string;
  metrics: Record<string, number>;
  /**
   * The machine's 1-minute load average when the scenario ended (set by `add`). This run alone keeps
   * about 3 busy (wrk's 2 threads and the server); more means other work shared the 2 cores.
   */
  loadAverage?: number;
  /** Filled in by the report from the targets. */
  target?: string;
};

export type Files = { hotBuyers: string; dropBuyers: string };

export class BenchContext {
  readonly rows: Row[] = [];
  readonly violations: string[] = [];
  readonly crashes: string[] = [];
  readonly notes: string[] = [];

  constructor(
    readonly scale: Scale,
    readonly workDir: string,
    readonly files: Files,
    private readonly runLoad: (spec: LoadSpec, workDir: string) => Promise<LoadResult>,
  ) {}

  /** A load with the run's connections and threads; the contestant is checked for crashes after. */
  async load(contestant: Contestant, spec: Omit<LoadSpec, "url" | "connections" | "threads">): Promise<LoadResult> {
    const result = await this.runLoad(
      { url: contestant.url, connections: this.scale.connections, threads: this.scale.threads, ...spec },
      this.workDir,
    );
    const crash = contestant.crashed();
    if (crash !== null) throw new Error(`${contestant.name} crashed: ${crash}`);
    return result;
  }

  /** Rate of the ceiling for a scenario, when the ceiling ran it. */
  ceilingRate(scenario: ScenarioName): number | undefined {
    return this.rows.find((row) => row.contestantKey === "ceiling" && row.scenario === scenario)?.requestsPerSecond;
  }

  add(row: Row): Row {
    row.loadAverage ??= loadavg()[0];
    this.rows.push(row);
    if (row.exact === false) this.violations.push(`${row.scenario} / ${row.contestant}: ${row.exactness}`);
    return row;
  }
}

export const HOLD_BODY = '{"itemId":"item","quantity":1}';
export const ITEM_ID = "item";
export const ITEM_PRICE = 4900;

export type CountsCheck = {
  stock: number;
  held: number;
  confirmed: number;
  /** Requests that were sent but never answered: each may or may not have taken effect. */
  slack?: number;
  /** The same for confirmations (unanswered payment deliveries). */
  confirmedSlack?: number;
};

/**
 * The exactness rules of the benchmark: `stock == available + held + confirmed`, `available >= 0`,
 * nothing oversold, and held / confirmed equal to what was acknowledged (up to the requests that
 * were cut off unanswered, which the report names).
 */
export function checkCounts(counts: ItemCounts, expected: CountsCheck): { ok: boolean; text: string } {
  const problems: string[] = [];
  const slack = expected.slack ?? 0;
  if (counts.stock !== expected.stock) problems.push(`stock ${counts.stock} != ${expected.stock}`);
  if (counts.available + counts.held + counts.confirmed !== counts.stock) {
    problems.push(`available ${counts.available} + held ${counts.held} + confirmed ${counts.confirmed} != stock ${counts.stock}`);
  }
  if (counts.available < 0) problems.push(`available ${counts.available} < 0`);
  const oversold = Math.max(0, counts.held + counts.confirmed - counts.stock);
  if (oversold > 0) problems.push(`oversold by ${oversold}`);
  if (counts.held < expected.held || counts.held > expected.held + slack) {
    problems.push(`held ${counts.held}, acknowledged ${expected.held}${slack > 0 ? ` (+ up to ${slack} unanswered)` : ""}`);
  }
  const confirmedSlack = expected.confirmedSlack ?? 0;
  if (counts.confirmed < expected.confirmed || counts.confirmed > expected.confirmed + confirmedSlack) {
    problems.push(`confirmed ${counts.confirmed}, acknowledged ${expected.confirmed}${confirmedSlack > 0 ? ` (+ up to ${confirmedSlack} unanswered)` : ""}`);
  }
  const tail =
    slack > 0 || confirmedSlack > 0
      ? `; ${Math.max(slack, confirmedSlack)} sent but unanswered, ${Math.abs(counts.held - expected.held) + counts.confirmed - expected.confirmed} of them took effect`
      : "";
  const text =
    problems.length === 0
      ? `stock ${counts.stock} = ${counts.available} available + ${counts.held} held + ${counts.confirmed} confirmed; held and confirmed = acknowledged; oversell 0${tail}`
      : problems.join("; ");
  return { ok: problems.length === 0, text };
}

/** "201: 1,234 · 409 sold_out: 5" from a load result. */
export function answers(result: LoadResult): string {
  const parts = Object.entries(result.status)
    .sort(([a], [b]) => Number(a) - Number(b))
    .map(([status, n]) => `${status}: ${n.toLocaleString("en-US")}`);
  const named = (counts: Record<string, number>) =>
    Object.entries(counts)
      .map(([name, n]) => `${name} ${n.toLocaleString("en-US")}`)
      .join(", ");
  if (Object.keys(result.code).length > 0) parts.push(`codes: ${named(result.code)}`);
  if (Object.keys(result.outcome).length > 0) parts.push(`outcomes: ${named(result.outcome)}`);
  const errors = Object.entries(result.socketErrors).filter(([, n]) => n > 0);
  for (const [kind, n] of errors) parts.push(`socket ${kind} errors: ${n}`);
  if (result.unanswered > 0) parts.push(`unanswered: ${result.unanswered}`);
  return parts.join(" · ");
}

/** The row fields every load-driven scenario shares. */
export function loadFields(result: LoadResult, ceiling: number | undefined) {
  return {
    generator: result.generator,
    requests: result.answered,
    requestsPerSecond: result.requestsPerSecond,
    ...(ceiling === undefined ? {} : { ratioToCeiling: result.requestsPerSecond / ceiling }),
    latencyMs: { p50: result.latencyUs.p50 / 1000, p99: result.latencyUs.p99 / 1000, p999: result.latencyUs.p999 / 1000 },
    answers: answers(result),
  };
}
