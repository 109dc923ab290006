// Scenarios 8 and 9, memory under holds that end (issue "a bounded, self-sufficient engine"):
//   8. rounds: on one worker, round after round of one-second holds (every drop buyer once) that all
//      expire; the settled worker RSS after each round must stay within 10% of the first round's;
//   9. soak (`bun run bench --soak` only): one-second holds from the hot sale's buyers for about ten
//      minutes (ten million holds or more), RSS sampled every 30 s, which must stay flat.
// After each, every hold has expired and the counts are exact (stock all available again).

import { join } from "node:path";
import { rssBytes } from "../contestants/stampede-process.ts";
import { StampedeContestant } from "../contestants/stampede.ts";
import type { LoadResult } from "../load/index.ts";
import { type BenchContext, HOLD_BODY, ITEM_ID, ITEM_PRICE, answers, checkCounts } from "./context.ts";
import { settledRss } from "./memory-recovery.ts";

const MIB = 1024 * 1024;
const STOCK = 1_000_000_000;
const SOAK_SECONDS = 600;
const SOAK_SAMPLE_MS = 30_000;

async function oneSecondSale(contestant: StampedeContestant, id: string, limitPerUser: number): Promise<void> {
  await contestant.createSale({ id, limitPerUser, holdSeconds: 1, items: [{ id: ITEM_ID, stock: STOCK, price: ITEM_PRICE }] });
}

/** Until every hold of the sale has expired (one-second holds, an expiry tick of 100 ms). */
async function allExpired(contestant: StampedeContestant, saleId: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const counts = await contestant.counts(saleId, ITEM_ID);
    if (counts.held === 0 || Date.now() > deadline) return;
    await Bun.sleep(200);
  }
}

export async function endedHoldRounds(ctx: BenchContext): Promise<void> {
  const key = "stampede-embedded-1w-ended";
  const name = "Stampede, embedded store, 1 worker";
  const contestant = await StampedeContestant.start({ key, name, dataDir: join(ctx.workDir, "ended-rounds"), workers: 1 });
  try {
    const saleId = "ended";
    await oneSecondSale(contestant, saleId, 2);
    const pid = await contestant.server.workerPid(0);
    const rounds = ctx.scale.quick ? 3 : 4;
    const rss: number[] = [];
    const results: LoadResult[] = [];
    for (let round = 0; round < rounds; round += 1) {
      results.push(
        await ctx.load(contestant, {
          mode: "once",
          seconds: 0,
          method: "POST",
          path: `/v1/sales/${saleId}/reservations`,
          body: HOLD_BODY,
          entriesFile: ctx.files.dropBuyers,
          entryHeader: "Authorization",
        }),
      );
      await allExpired(contestant, saleId);
      rss.push((await settledRss(contestant, pid)) ?? 0);
    }
    const holds = results.reduce((sum, result) => sum + (result.status["201"] ?? 0), 0);
    const check = checkCounts(await contestant.counts(saleId, ITEM_ID), { stock: STOCK, held: 0, confirmed: 0, slack: 0 });
    const first = rss[0] ?? 0;
    const last = rss[rss.length - 1] ?? 0;
    const driftPercent = first === 0 ? 0 : ((last - first) / first) * 100;
    ctx.add({
      scenario: "ended",
      contestantKey: key,
      contestant: name,
      answers: results.map((result, i) => `round ${i + 1} ${answers(result)}`).join("; "),
      result:
        `${rounds} rounds of ${(results[0]?.status["201"] ?? 0).toLocaleString("en-US")} one-second holds, all expired: settled worker RSS ` +
        `${rss.map((r) => (r / MIB).toFixed(0)).join(" → ")} MiB (${driftPercent >= 0 ? "+" : ""}${driftPercent.toFixed(1)}% from the first round)`,
      exact: check.ok,
      exactness: check.text,
      metrics: { rounds, holds, driftPercent, firstRoundMiB: first / MIB, lastRoundMiB: last / MIB },
    });
  } finally {
    await contestant.stop();
  }
}

export async function soak(ctx: BenchContext): Promise<void> {
  const key = "stampede-embedded-1w-soak";
  const name = "Stampede, embedded store, 1 worker";
  const contestant = await StampedeContestant.start({ key, name, dataDir: join(ctx.workDir, "soak"), workers: 1 });
  try {
    const saleId = "soak";
    await oneSecondSale(contestant, saleId, 1000);
    const pid = await contestant.server.workerPid(0);
    const samples: { atS: number; rss: number }[] = [];
    const started = performance.now();
    let loading = true;
    const sampler = (async () => {
      while (loading) {
        await Bun.sleep(SOAK_SAMPLE_MS);
        if (!loading) break;
        samples.push({ atS: (performance.now() - started) / 1000, rss: (await rssBytes(pid)) ?? 0 });
      }
    })();
    const result = await ctx.load(contestant, {
      mode: "cycle",
      seconds: SOAK_SECONDS,
      method: "POST",
      path: `/v1/sales/${saleId}/reservations`,
      body: HOLD_BODY,
      entriesFile: ctx.files.hotBuyers,
      entryHeader: "Authorization",
    });
    loading = false;
    await sampler;
    await allExpired(contestant, saleId);
    const settled = (await settledRss(contestant, pid)) ?? 0;
    const holds = result.status["201"] ?? 0;
    const check = checkCounts(await contestant.counts(saleId, ITEM_ID), { stock: STOCK, held: 0, confirmed: 0, slack: 0 });
    // From the first sample (after 30 s: start-up costs and caches filled) to the last.
    const first = samples[0]?.rss ?? settled;
    const last = samples[samples.length - 1]?.rss ?? settled;
    const driftPercent = first === 0 ? 0 : ((last - first) / first) * 100;
    const journalBytes = await metric(contestant.url, "stampede_journal_bytes");
    ctx.add({
      scenario: "soak",
      contestantKey: key,
      contestant: name,
      requests: result.answered,
      requestsPerSecond: result.answered / (result.elapsedMs / 1000),
      answers: answers(result),
      result:
        `${holds.toLocaleString("en-US")} one-second holds in ${(result.elapsedMs / 1000).toFixed(0)} s; worker RSS every 30 s: ` +
        `${samples.map((s) => (s.rss / MIB).toFixed(0)).join(", ")} MiB (${driftPercent >= 0 ? "+" : ""}${driftPercent.toFixed(1)}% first to last); ` +
        `settled after ${(settled / MIB).toFixed(0)} MiB; journal ${(journalBytes / MIB).toFixed(1)} MiB in use`,
      exact: check.ok,
      exactness: check.text,
      metrics: { holds, driftPercent, settledMiB: settled / MIB, journalMiB: journalBytes / MIB, samples: samples.length },
    });
  } finally {
    await contestant.stop();
  }
}

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(text)?.[1] ?? Number.NaN);
}
