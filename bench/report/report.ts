// The benchmark's report: one Markdown document (printed, and written with the JSON under
// bench/results/) with the machine, the results table, the targets and the exactness details.

import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Row, Scale } from "../scenarios/context.ts";
import type { Machine } from "./machine.ts";
import { type TargetResult, rowTargets } from "./targets.ts";

export type Report = {
  date: string;
  command: string;
  durationMs: number;
  machine: Machine;
  generator: string;
  scale: Scale;
  rows: Row[];
  targets: TargetResult[];
  violations: string[];
  crashes: string[];
  notes: string[];
};

const SCENARIO_TITLES: Record<Row["scenario"], string> = {
  holds: "1 hot sale holds",
  drop: "2 the drop",
  "sold-out": "3 sold-out storm",
  reads: "4 reads",
  "reads-etag": "4 reads, If-None-Match",
  webhooks: "5 webhooks ×2",
  recovery: "6 recovery after kill -9",
  memory: "7 memory, live holds",
  ended: "8 memory, rounds of ended holds",
  soak: "9 soak, one-second holds",
  "room-joins": "10 waiting room: joins",
  "room-polls": "10 waiting room: polls",
  "room-admission": "10 waiting room: admission and sell-out",
  nodes: "11 node mode: holds, 3 nodes vs one machine",
  "node-failover": "11 node mode: SIGKILL rounds",
  "outbound-holds": "12 outbound webhooks: holds, slow endpoint vs none",
  "outbound-lag": "12 outbound webhooks: delivery lag at 5,000 holds/s",
};
const SCENARIO_ORDER: Row["scenario"][] = ["holds", "drop", "sold-out", "reads", "reads-etag", "webhooks", "recovery", "memory", "ended", "soak", "room-joins", "room-polls", "room-admission", "nodes", "node-failover", "outbound-holds", "outbound-lag"];

const cell = (text: string) => text.replaceAll("|", "\\|").replaceAll("\n", " ");
const number = (value: number | undefined, digits = 0) =>
  value === undefined ? "" : value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** The results table; `withAnswers: false` leaves out the answers column (the README's shorter copy). */
export function resultsTable(rows: Row[], targets: TargetResult[], withAnswers = true): string {
  const ordered = [...rows].sort((a, b) => SCENARIO_ORDER.indexOf(a.scenario) - SCENARIO_ORDER.indexOf(b.scenario));
  const lines = [
    `| scenario | contestant | req/s | × ceiling | p50 ms | p99 ms | p99.9 ms | result |${withAnswers ? " answers |" : ""} exact | target | load |`,
    `| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |${withAnswers ? " --- |" : ""} --- | --- | ---: |`,
  ];
  for (const row of ordered) {
    const cells = [
      SCENARIO_TITLES[row.scenario],
      row.contestant,
      number(row.requestsPerSecond),
      row.ratioToCeiling === undefined ? "" : row.ratioToCeiling.toFixed(2),
      number(row.latencyMs?.p50, 2),
      number(row.latencyMs?.p99, 2),
      number(row.latencyMs?.p999, 2),
      row.result,
      ...(withAnswers ? [row.answers] : []),
      row.exact === null ? "n/a" : row.exact ? "yes" : "**NO**",
      rowTargets(row, targets),
      number(row.loadAverage, 1),
    ];
    lines.push(`| ${cells.map(cell).join(" | ")} |`);
  }
  return lines.join("\n");
}

export function targetsTable(targets: TargetResult[]): string {
  const lines = ["| target | contestant | measured | |", "| --- | --- | --- | --- |"];
  for (const t of targets) {
    lines.push(`| ${[t.target, t.contestant, t.measured, t.met === null ? "not measured" : t.met ? "met" : "**missed**"].map(cell).join(" | ")} |`);
  }
  return lines.join("\n");
}

export function machineLine(report: Pick<Report, "machine" | "date" | "generator">): string {
  const m = report.machine;
  return (
    `${report.date}; ${m.cores} cores (${m.cpuModel}), ${m.memoryGiB.toFixed(0)} GiB RAM, Linux ${m.kernel}; Bun ${m.bunVersion}; ` +
    `load generator ${report.generator}${m.wrkVersion ? ` (${m.wrkVersion})` : ""}; ` +
    `load average ${m.loadAverageStart.map((l) => l.toFixed(2)).join(" ")} at the start, ${m.loadAverageEnd.map((l) => l.toFixed(2)).join(" ")} at the end`
  );
}

export function markdown(report: Report): string {
  const s = report.scale;
  const exactness = report.rows
    .filter((row) => row.exact !== null)
    .map((row) => `- ${SCENARIO_TITLES[row.scenario]} / ${row.contestant}: ${row.exact ? "" : "**VIOLATED** "}${row.exactness}`);
  const failures = [...report.violations.map((v) => `- exactness violated: ${v}`), ...report.crashes.map((c) => `- crash: ${c}`)];
  return [
    `# Stampede benchmark${s.quick ? " (--quick)" : ""}`,
    "",
    `Command: \`${report.command}\` (${(report.durationMs / 1000).toFixed(0)} s)  `,
    `Machine: ${machineLine(report)}.  `,
    `Load: ${s.connections} connections, ${s.threads} threads, keep-alive, no pipelining; hot sale and sold-out storm cycle through ` +
      `${s.hotBuyers.toLocaleString("en-US")} distinct buyers with real JWTs (${s.holdsSeconds} s and ${s.soldOutSeconds} s), reads ${s.readsSeconds} s each; ` +
      `the drop is ${s.dropBuyers.toLocaleString("en-US")} buyers, one hold each, for ${s.dropStock.toLocaleString("en-US")} units; ` +
      `memory and recovery use ${s.memoryHolds.toLocaleString("en-US")} holds. Contestants run one at a time, with the same requests; ` +
      `"× ceiling" is the ratio to the bare Bun.serve measured in this run for the same kind of request. ` +
      `"load" is the machine's 1-minute load average as each scenario ended: the run itself keeps about 3 busy ` +
      `(wrk's 2 threads and the server), more means other work shared the ${report.machine.cores} cores.`,
    "",
    "## Results",
    "",
    resultsTable(report.rows, report.targets),
    "",
    "## Targets",
    "",
    targetsTable(report.targets),
    "",
    "## Exactness (admin API after each scenario)",
    "",
    ...exactness,
    "",
    ...(failures.length > 0 ? ["## Failures", "", ...failures, ""] : []),
    ...(report.notes.length > 0 ? ["## Notes", "", ...report.notes.map((n) => `- ${n}`), ""] : []),
  ].join("\n");
}

/**
 * latest.{json,md} and a dated copy for a full run; latest-quick.* for --quick (CI runs it on every
 * change, so it keeps no history); latest-partial.* for a run with --only. Written via .tmp + rename.
 */
export function writeResults(dir: string, report: Report, partial: boolean): string[] {
  mkdirSync(dir, { recursive: true });
  const stamp = report.date.replaceAll(":", "-").replace(/\.\d+Z$/, "Z");
  const bases = partial ? ["latest-partial"] : report.scale.quick ? ["latest-quick"] : ["latest", stamp];
  const written: string[] = [];
  const text = markdown(report);
  for (const base of bases) {
    for (const [extension, content] of [
      ["json", `${JSON.stringify(report, null, 2)}\n`],
      ["md", `${text}\n`],
    ] as const) {
      const path = join(dir, `${base}.${extension}`);
      writeFileSync(`${path}.tmp`, content);
      renameSync(`${path}.tmp`, path);
      written.push(path);
    }
  }
  return written;
}
