// Scenarios 6 and 7 on one server (embedded store, one worker, so one process holds everything):
//   7. memory: RSS of the worker (VmRSS in /proc/<pid>/status) before, halfway and after making N live
//      holds (1,000,000; 100,000 in --quick, extrapolated to a million from the growth of the second
//      half, which leaves out start-up costs, and said so);
//   6. recovery: right after the last hold is answered, SIGKILL the worker and the supervisor, start
//      again on the same data dir and time the start to the first /readyz 200; then check that every
//      acknowledged hold is there. The journal holds at least N events (one per hold).

import { Database } from "bun:sqlite";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { StampedeProcess, rssBytes } from "../contestants/stampede-process.ts";
import { StampedeContestant } from "../contestants/stampede.ts";
import type { LoadResult } from "../load/index.ts";
import { type BenchContext, HOLD_BODY, ITEM_ID, ITEM_PRICE, answers, checkCounts } from "./context.ts";

const MEMORY_SALE = "memory";
const MIB = 1024 * 1024;
/** A recovery of a million events should take seconds; this bound only catches a hang. */
const RECOVERY_TIMEOUT_MS = 180_000;

export async function memoryAndRecovery(ctx: BenchContext): Promise<void> {
  const holds = ctx.scale.memoryHolds;
  if (holds !== ctx.scale.dropBuyers * 2) throw new Error("the memory scenario needs twice as many holds as drop buyers");
  const dataDir = join(ctx.workDir, "memory-recovery");
  mkdirSync(dataDir);
  const key = "stampede-embedded-1w-memory";
  const name = "Stampede, embedded store, 1 worker";
  let contestant: StampedeContestant | null = await StampedeContestant.start({ key, name, dataDir, workers: 1 });
  let restarted: StampedeProcess | null = null;
  try {
    await contestant.createSale({
      id: MEMORY_SALE,
      limitPerUser: 2,
      holdSeconds: 86_400,
      items: [{ id: ITEM_ID, stock: holds, price: ITEM_PRICE }],
    });
    const pid = await contestant.server.workerPid(0);
    // Two halves, so that the growth of the second half alone (no start-up costs, the JWT cache
    // already full in a full run) can be told from the growth over all of them.
    const halves = splitInHalves(ctx.files.dropBuyers, ctx.workDir);
    const rssBefore = await settledRss(contestant, pid);
    const results: LoadResult[] = [];
    const rssAfterHalf: (number | null)[] = [];
    const rssRightAfter: (number | null)[] = [];
    for (const half of halves) {
      // Every buyer holds twice: the drop file has holds / 2 buyers.
      results.push(
        await ctx.load(contestant, {
          mode: "once",
          seconds: 0,
          repeat: 2,
          method: "POST",
          path: `/v1/sales/${MEMORY_SALE}/reservations`,
          body: HOLD_BODY,
          entriesFile: half,
          entryHeader: "Authorization",
        }),
      );
      rssRightAfter.push(await rssBytes(pid));
      rssAfterHalf.push(await settledRss(contestant, pid));
    }
    const [first, second] = results as [LoadResult, LoadResult];
    const [rssMiddle, rssAfter] = rssAfterHalf;
    const acknowledged = (first.status["201"] ?? 0) + (second.status["201"] ?? 0);
    const unanswered = first.unanswered + second.unanswered;
    const before = checkCounts(await contestant.counts(MEMORY_SALE, ITEM_ID), { stock: holds, held: acknowledged, confirmed: 0, slack: unanswered });
    if (rssBefore === null || rssMiddle == null || rssAfter == null) throw new Error("could not read the worker's RSS");
    const deltaMiB = (rssAfter - rssBefore) / MIB;
    const marginalPerMillionMiB = (((rssAfter - rssMiddle) / MIB) * 1_000_000) / Math.max(second.status["201"] ?? 0, 1);
    const extrapolated = acknowledged < 1_000_000;
    // A full run measures the million itself; --quick extrapolates from the second half's growth.
    const perMillionMiB = extrapolated ? marginalPerMillionMiB : (deltaMiB * 1_000_000) / acknowledged;
    const bytesPerHold = (perMillionMiB * MIB) / 1_000_000;
    const elapsedMs = first.elapsedMs + second.elapsedMs;
    ctx.add({
      scenario: "memory",
      contestantKey: key,
      contestant: name,
      generator: first.generator,
      requests: first.answered + second.answered,
      requestsPerSecond: (first.answered + second.answered) / (elapsedMs / 1000),
      answers: `first half ${answers(first)}; second half ${answers(second)}`,
      result:
        `settled worker RSS ${(rssBefore / MIB).toFixed(0)} → ${(rssMiddle / MIB).toFixed(0)} → ${(rssAfter / MIB).toFixed(0)} MiB ` +
        `(right after each half: ${rssRightAfter.map((r) => ((r ?? 0) / MIB).toFixed(0)).join(", ")} MiB) ` +
        `with 0 → ${(first.status["201"] ?? 0).toLocaleString("en-US")} → ${acknowledged.toLocaleString("en-US")} live holds; ` +
        (extrapolated
          ? `${perMillionMiB.toFixed(0)} MiB per 1,000,000 holds, extrapolated from the second half's growth (the whole run's growth gives ${((deltaMiB * 1_000_000) / Math.max(acknowledged, 1)).toFixed(0)})`
          : `${perMillionMiB.toFixed(0)} MiB for 1,000,000 holds (second half alone: ${marginalPerMillionMiB.toFixed(0)} MiB per million)`) +
        `: ${bytesPerHold.toFixed(0)} B a live hold`,
      exact: before.ok,
      exactness: before.text,
      metrics: {
        rssBeforeMiB: rssBefore / MIB,
        rssMiddleMiB: rssMiddle / MIB,
        rssAfterMiB: rssAfter / MIB,
        deltaMiB,
        perMillionMiB,
        marginalPerMillionMiB,
        bytesPerHold,
        holds: acknowledged,
        extrapolated: extrapolated ? 1 : 0,
      },
    });

    // kill -9 at once: the write-behind may still be behind the journal, as after a real crash.
    await contestant.stop();
    contestant = null;
    restarted = await StampedeProcess.start({ dataDir, workers: 1, readyTimeoutMs: RECOVERY_TIMEOUT_MS });
    const recoveryMs = restarted.readyAfterMs;
    const replayed = Number(/"eventsReplayed":(\d+)/.exec(restarted.output())?.[1] ?? -1);
    // Where the worker's start spent its time (its "recovered" log line): snapshots read, tail replayed, tokens.
    const phases = /"ms":\{"snapshots":([\d.]+),"replay":([\d.]+),"tokens":([\d.]+)\}/.exec(restarted.output());
    const events = journalEvents(join(dataDir, "journal-0.db"));
    const recovered = await StampedeContestant.attach(key, name, restarted).counts(MEMORY_SALE, ITEM_ID);
    const after = checkCounts(recovered, { stock: holds, held: acknowledged, confirmed: 0, slack: unanswered });
    const recoveredContestant = StampedeContestant.attach(key, name, restarted);
    // Settled, as before the kill: the start's garbage (replayed events, the image read back) is
    // collected once the worker is idle (engine/idle-collector.ts).
    const rssRecovered = await settledRss(recoveredContestant, await restarted.workerPid(0));
    ctx.add({
      scenario: "recovery",
      contestantKey: key,
      contestant: name,
      answers: "",
      result:
        `/readyz 200 ${(recoveryMs / 1000).toFixed(2)} s after restart; journal ${events.toLocaleString("en-US")} events, ` +
        `${replayed >= 0 ? `${replayed.toLocaleString("en-US")} replayed after the sale's snapshot` : "tail replay not reported"}` +
        `${phases === null ? "" : ` (snapshots read in ${Math.round(Number(phases[1]))} ms, tail replayed in ${Math.round(Number(phases[2]))} ms, tokens in ${Math.round(Number(phases[3]))} ms)`}` +
        `${rssRecovered === null ? "" : `; settled worker RSS after recovery ${(rssRecovered / MIB).toFixed(0)} MiB (before the kill: ${(rssAfter / MIB).toFixed(0)} MiB)`}`,
      exact: after.ok,
      exactness: after.ok ? `every acknowledged hold survived kill -9: ${after.text}` : after.text,
      metrics: { recoveryMs, journalEvents: events, replayedAtStart: replayed },
    });
  } finally {
    await contestant?.stop();
    await restarted?.kill();
  }
}

/**
 * The worker's RSS once it has settled after a load: the store has caught up with the journal (the
 * background thread then collects its garbage), the request thread has been idle long enough for its
 * idle collection (engine/idle-collector.ts), and the allocator has given back what was freed (it
 * does so within seconds): RSS read every second until it stops falling (at most 30 s). What a
 * long-running server holds for its state.
 */
export async function settledRss(contestant: StampedeContestant, pid: number): Promise<number | null> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const readiness = (await (await fetch(`${contestant.url}/readyz`)).json()) as { journalBacklog?: number };
    if (readiness.journalBacklog === 0) break;
    await Bun.sleep(200);
  }
  await Bun.sleep(2_500);
  let previous = (await rssBytes(pid)) ?? 0;
  for (let second = 0; second < 30; second += 1) {
    await Bun.sleep(1_000);
    const now = (await rssBytes(pid)) ?? 0;
    if (now >= previous * 0.99) return now;
    previous = now;
  }
  return previous;
}

/** The buyers file cut in two files of (nearly) equal halves. */
function splitInHalves(file: string, dir: string): [string, string] {
  const lines = readFileSync(file, "utf8").split("\n").filter((line) => line !== "");
  const middle = Math.ceil(lines.length / 2);
  const paths: [string, string] = [join(dir, "memory-buyers-1.txt"), join(dir, "memory-buyers-2.txt")];
  writeFileSync(paths[0], `${lines.slice(0, middle).join("\n")}\n`);
  writeFileSync(paths[1], `${lines.slice(middle).join("\n")}\n`);
  return paths;
}

/**
 * Events ever appended to a journal: its highest sequence number, also when its oldest batches have
 * been truncated behind a snapshot (read-only, next to the server).
 */
function journalEvents(path: string): number {
  const db = new Database(path, { readonly: true });
  try {
    const inBatches = db.query<{ seq: number | null }, []>("SELECT max(last_seq) AS seq FROM batches").get()?.seq ?? 0;
    const truncated = db.query<{ seq: number | null }, []>("SELECT max(value) AS seq FROM meta WHERE key = 'truncated_through'").get()?.seq ?? 0;
    return Math.max(inBatches, truncated);
  } finally {
    db.close();
  }
}
