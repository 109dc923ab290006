// `bun run bench [--quick] [--soak] [--source] [--only=key,...]`: Stampede against a bare Bun.serve ceiling and the usual designs, on
// loopback, in one run. It starts every contestant itself (one at a time, fresh ports, temp data
// dirs), runs the scenarios of bench/scenarios/ against each, checks exactness through the operator
// API after every scenario, prints a report and writes it to bench/results/ (JSON and Markdown).
//
// It never fails on a timing: the exit status is 1 only when exactness was violated or something
// crashed, and every process it started is gone when it exits, whatever happened.

import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { startCeiling, startRedisLua, startUsualPg } from "./contestants/baselines.ts";
import { build } from "../scripts/build.ts";
import { killAll } from "./contestants/registry.ts";
import { useStampedeCommand } from "./contestants/stampede-process.ts";
import { createDatabase, dropDatabase, postgresReachable, REDIS_URL, redisReachable, removeRedisKeys } from "./contestants/services.ts";
import { StampedeContestant } from "./contestants/stampede.ts";
import type { Contestant } from "./contestants/types.ts";
import { generatorName, runLoad } from "./load/index.ts";
import { describeMachine } from "./report/machine.ts";
import { markdown, type Report, writeResults } from "./report/report.ts";
import { judgeTargets } from "./report/targets.ts";
import { availabilityReads } from "./scenarios/reads.ts";
import { BenchContext, FULL, QUICK } from "./scenarios/context.ts";
import { theDrop } from "./scenarios/drop.ts";
import { hotSaleHolds } from "./scenarios/holds.ts";
import { endedHoldRounds, soak } from "./scenarios/ended-holds.ts";
import { memoryAndRecovery } from "./scenarios/memory-recovery.ts";
import { nodeMode } from "./scenarios/nodes.ts";
import { outboundWebhooks } from "./scenarios/outbound-webhooks.ts";
import { roomDrop } from "./scenarios/room-drop.ts";
import { soldOutStorm } from "./scenarios/sold-out.ts";
import { ceilingWebhooks, paymentWebhooks } from "./scenarios/webhooks.ts";
import { mintBuyers } from "./tokens.ts";

const RESULTS_DIR = join(import.meta.dir, "results");
const started = performance.now();
const log = (message: string) => process.stderr.write(`[bench ${((performance.now() - started) / 1000).toFixed(1)}s] ${message}\n`);

/** Cleanups still owed (temp dir, databases, Redis keys), run on a signal too. */
const pendingCleanups = new Set<() => Promise<void>>();

type Plan = {
  /** Matched by --only. */
  key: string;
  label: string;
  start: () => Promise<Contestant>;
  scenarios: ((ctx: BenchContext, contestant: Contestant) => Promise<unknown>)[];
  cleanup?: () => Promise<void>;
};

function stampedeScenarios() {
  return [
    hotSaleHolds,
    soldOutStorm,
    availabilityReads,
    theDrop,
    (ctx: BenchContext, contestant: Contestant) => paymentWebhooks(ctx, contestant as StampedeContestant),
    roomDrop,
  ];
}

async function plans(ctx: BenchContext, runId: string): Promise<Plan[]> {
  const cores = availableParallelism();
  const list: Plan[] = [
    { key: "ceiling", label: "ceiling", start: startCeiling, scenarios: [hotSaleHolds, availabilityReads, ceilingWebhooks] },
    {
      key: "stampede-embedded-1w",
      label: "Stampede, embedded, 1 worker",
      start: () =>
        StampedeContestant.start({ key: "stampede-embedded-1w", name: "Stampede, embedded store, 1 worker", dataDir: join(ctx.workDir, "embedded-1w"), workers: 1 }),
      scenarios: stampedeScenarios(),
    },
    {
      key: "stampede-embedded-default",
      label: "Stampede, embedded, default workers",
      start: () =>
        StampedeContestant.start({
          key: `stampede-embedded-${cores}w`,
          name: `Stampede, embedded store, ${cores} workers (default)`,
          dataDir: join(ctx.workDir, "embedded-default"),
          workers: "default",
        }),
      scenarios: stampedeScenarios(),
    },
  ];
  const pgProblem = await postgresReachable();
  if (pgProblem === null) {
    const stampedeDb = `stampede_bench_${runId}`;
    const usualDb = `stampede_bench_usual_${runId}`;
    list.push({
      key: "stampede-postgres",
      label: "Stampede, PostgreSQL",
      start: async () =>
        StampedeContestant.start({
          key: `stampede-postgres-${cores}w`,
          name: `Stampede, PostgreSQL store, ${cores} workers (default)`,
          dataDir: join(ctx.workDir, "postgres"),
          workers: "default",
          databaseUrl: await createDatabase(stampedeDb),
        }),
      scenarios: stampedeScenarios(),
      cleanup: () => dropDatabase(stampedeDb),
    });
    list.push({
      key: "usual-pg",
      label: "usual design (PostgreSQL)",
      start: async () => startUsualPg(await createDatabase(usualDb)),
      scenarios: [hotSaleHolds, soldOutStorm, availabilityReads, theDrop],
      cleanup: () => dropDatabase(usualDb),
    });
  } else {
    ctx.notes.push(`PostgreSQL not reachable (${pgProblem}): Stampede on PostgreSQL and the usual design were not measured.`);
  }
  const redisProblem = await redisReachable();
  if (redisProblem === null) {
    const prefix = `stampede-bench-${runId}`;
    list.push({
      key: "redis-lua",
      label: "Redis + Lua",
      start: () => startRedisLua(REDIS_URL, prefix),
      scenarios: [hotSaleHolds, soldOutStorm, availabilityReads, theDrop],
      cleanup: async () => {
        await removeRedisKeys(prefix);
      },
    });
  } else {
    ctx.notes.push(`Redis not reachable (${redisProblem}): the Redis + Lua baseline was not measured.`);
  }
  return list;
}

async function runPlan(ctx: BenchContext, plan: Plan): Promise<void> {
  let contestant: Contestant | null = null;
  try {
    log(`starting ${plan.label}`);
    if (plan.cleanup !== undefined) pendingCleanups.add(plan.cleanup);
    contestant = await plan.start();
    for (const scenario of plan.scenarios) {
      const before = ctx.rows.length;
      await scenario(ctx, contestant);
      for (const row of ctx.rows.slice(before)) {
        log(
          `${row.scenario} / ${row.contestant}: ${row.requestsPerSecond === undefined ? "" : `${Math.round(row.requestsPerSecond)} req/s, `}` +
            `p99 ${row.latencyMs?.p99.toFixed(2) ?? "-"} ms; ${row.result}; exact: ${row.exact ?? "n/a"}`,
        );
      }
    }
  } catch (error) {
    const message = `${plan.label}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`;
    ctx.crashes.push(message.slice(0, 2000));
    log(`FAILED ${message.slice(0, 2000)}`);
  } finally {
    await contestant?.stop().catch((error) => ctx.crashes.push(`${plan.label}: stopping: ${String(error)}`));
    if (plan.cleanup !== undefined) pendingCleanups.delete(plan.cleanup);
    await plan.cleanup?.().catch((error) => ctx.notes.push(`${plan.label}: cleanup: ${String(error)}`));
  }
}

async function main(): Promise<number> {
  const quick = process.argv.includes("--quick");
  // --soak adds scenario 9: about ten minutes of one-second holds on one worker, RSS sampled.
  const soaking = process.argv.includes("--soak");
  // --source runs Stampede with `bun run src/main.ts` instead of the executable built for the run.
  const fromSource = process.argv.includes("--source");
  // --only=ceiling,stampede-embedded-1w,memory runs a part of the benchmark (for working on it).
  const only = process.argv.find((arg) => arg.startsWith("--only="))?.slice("--only=".length).split(",");
  const included = (key: string) => only === undefined || only.includes(key);
  const scale = quick ? QUICK : FULL;
  const machine = describeMachine();
  const date = new Date().toISOString();
  const runId = `${process.pid}_${Date.now().toString(36)}`;
  const workDir = mkdtempSync(join(tmpdir(), "stampede-bench-"));
  const files = { hotBuyers: join(workDir, "hot-buyers.txt"), dropBuyers: join(workDir, "drop-buyers.txt") };
  const ctx = new BenchContext(scale, workDir, files, runLoad);
  const removeWorkDir = async () => rmSync(workDir, { recursive: true, force: true });
  pendingCleanups.add(removeWorkDir);
  try {
    if (fromSource) {
      ctx.notes.push("Stampede ran from source (--source): bun run src/main.ts serve.");
    } else {
      // The product is one executable: build it once for this run and measure that.
      log("building the executable (bun run build)");
      const built = await build({ outfile: join(workDir, "stampede"), log: () => {} });
      useStampedeCommand([built.outfile]);
      ctx.notes.push(`Stampede ran as the single executable built for this run (${(built.bytes / 1048576).toFixed(0)} MiB, bytecode ${built.bytecode ? "on" : "off"}).`);
    }
    log(`${quick ? "quick" : "full"} run; load generator ${generatorName()}; minting ${(scale.hotBuyers + scale.dropBuyers).toLocaleString("en-US")} buyer JWTs`);
    await mintBuyers(files.hotBuyers, "hot", scale.hotBuyers);
    await mintBuyers(files.dropBuyers, "drop", scale.dropBuyers);
    for (const plan of await plans(ctx, runId)) if (included(plan.key)) await runPlan(ctx, plan);
    const alone: [string, string, (ctx: BenchContext) => Promise<void>, boolean][] = [
      ["memory", "memory and recovery", memoryAndRecovery, true],
      ["ended", "rounds of ended holds", endedHoldRounds, true],
      ["soak", "soak", soak, soaking],
      ["nodes", "node mode (--node-kills=N for the SIGKILL rounds)", nodeMode, true],
      ["outbound", "outbound webhooks: holds with a slow endpoint and without, delivery lag", outboundWebhooks, true],
    ];
    for (const [key, label, scenario, wanted] of alone) {
      if (!wanted || !included(key)) continue;
      log(label);
      await scenario(ctx).catch((error) => {
        ctx.crashes.push(`${label}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`.slice(0, 2000));
      });
    }
    const aloneScenarios = new Set(["memory", "recovery", "ended", "soak", "nodes", "node-failover", "outbound-holds", "outbound-lag"]);
    for (const row of ctx.rows.filter((r) => aloneScenarios.has(r.scenario))) log(`${row.scenario}: ${row.result}`);
  } finally {
    killAll();
    pendingCleanups.delete(removeWorkDir);
    await removeWorkDir();
  }
  machine.loadAverageEnd = loadavg();
  if (generatorName() === "bun-sockets") {
    ctx.notes.push("wrk was not on the PATH: the fallback generator on Bun's raw sockets was used; it may limit the fastest contestants.");
  }
  const report: Report = {
    date,
    command: `bun run bench${quick ? " --quick" : ""}${soaking ? " --soak" : ""}${only === undefined ? "" : ` --only=${only.join(",")}`}`,
    durationMs: performance.now() - started,
    machine,
    generator: generatorName(),
    scale,
    rows: ctx.rows,
    targets: judgeTargets(ctx.rows, scale),
    violations: ctx.violations,
    crashes: ctx.crashes,
    notes: ctx.notes,
  };
  process.stdout.write(`${markdown(report)}\n`);
  for (const path of writeResults(RESULTS_DIR, report, only !== undefined)) log(`wrote ${path}`);
  const failed = ctx.violations.length + ctx.crashes.length;
  log(failed === 0 ? "exactness held everywhere; nothing crashed" : `FAILED: ${ctx.violations.length} exactness violations, ${ctx.crashes.length} crashes`);
  return failed === 0 ? 0 : 1;
}

// Whatever ends the run, the processes it started end with it.
process.on("exit", killAll);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, async () => {
    killAll();
    const cleanups = [...pendingCleanups].map((cleanup) => cleanup().catch(() => {}));
    await Promise.race([Promise.all(cleanups), Bun.sleep(5_000)]);
    process.exit(130);
  });
}

process.exit(await main());
