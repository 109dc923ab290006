// Scenario 12, outbound webhooks (issue 12's targets), on Stampede alone: one worker, embedded store,
// a fresh server for every measurement, each webhook receiver a Bun.serve of its own process on loopback
// (bench/webhook-receiver.ts).
//   A/B: the hot sale's hold load of scenario 1 (same buyers file, same duration, wrk) against Stampede
//        with no endpoint, and against Stampede with one endpoint, subscribed to every event type (so
//        every hold makes a delivery), whose receiver answers 2xx after 1 s. The issue asks holds/s with
//        that endpoint to stay >= 0.95x of holds/s without. A full run alternates the arms (A B B A A B)
//        so that a drift of the shared machine falls on both, and compares their medians.
//   lag: once a first hold's event has reached the receiver (the endpoint is known to the sender),
//        holds at a fixed 5,000/s (the fallback generator paces; wrk cannot) for a while, every one a
//        `reservation.held` delivery to a receiver that answers 200 at once and records, per delivery,
//        arrival minus the event's `createdAt`. The issue asks p99 under 1 s. Then every acknowledged
//        hold's event must arrive (at least once), and the counts must be exact as everywhere.

import { rmSync } from "node:fs";
import { join } from "node:path";
import { WEBHOOK_EVENT_TYPES } from "../../src/webhooks/event-types.ts";
import { BunServerProcess } from "../contestants/bun-process.ts";
import { StampedeContestant } from "../contestants/stampede.ts";
import { type LoadResult, runPaced } from "../load/index.ts";
import { type BenchContext, HOLD_BODY, ITEM_ID, answers, checkCounts, loadFields } from "./context.ts";
import { HOT_SALE, HOT_SALE_SPEC, HOT_STOCK, hotSaleLoad } from "./holds.ts";

const RECEIVER = join(import.meta.dir, "..", "webhook-receiver.ts");
/** The slow receiver's answer time (the "answers after 1 s"). */
const SLOW_ANSWER_MS = 1_000;
/** The rate for the lag target: holds (so events) a second. */
const LAG_RATE_PER_SECOND = 5_000;
/** After the paced load, how long the healthy receiver may take to get every acknowledged hold's event. */
const DRAIN_TIMEOUT_MS = 30_000;
const NAME = "Stampede, embedded store, 1 worker";
const KEY = "stampede-embedded-1w-outbound";

type ReceiverStats = {
  received: number;
  distinct: number;
  byType: Record<string, number>;
  malformed: number;
  lagMs: { p50: number; p99: number; max: number };
};

type Round = { withEndpoint: boolean; result: LoadResult; exact: boolean; exactness: string; slowReceived: number };

export async function outboundWebhooks(ctx: BenchContext): Promise<void> {
  await holdsWithSlowEndpoint(ctx);
  await deliveryLag(ctx);
}

async function startReceiver(answerMs: number): Promise<BunServerProcess> {
  // It also ends by itself well after the longest run could need it.
  return BunServerProcess.start(RECEIVER, { DELAY_MS: String(answerMs), LIFETIME_S: "900" });
}

async function receiverStats(receiver: BunServerProcess): Promise<ReceiverStats> {
  const response = await fetch(`${receiver.url}/stats`);
  if (response.status !== 200) throw new Error(`webhook receiver stats: ${response.status}`);
  return (await response.json()) as ReceiverStats;
}

/** Registers an endpoint for every event type through the operator API. */
async function registerEndpoint(stampede: StampedeContestant, url: string): Promise<void> {
  const response = await stampede.admin("POST", "/v1/admin/webhooks", { url, events: [...WEBHOOK_EVENT_TYPES] });
  if (response.status !== 201) throw new Error(`registering a webhook endpoint: ${response.status} ${await response.text()}`);
}

/** A fresh server on a data dir of its own, gone (with the dir) when `use` is done. */
async function withStampede<T>(ctx: BenchContext, label: string, use: (stampede: StampedeContestant) => Promise<T>): Promise<T> {
  const dataDir = join(ctx.workDir, `outbound-${label}`);
  const stampede = await StampedeContestant.start({ key: KEY, name: NAME, dataDir, workers: 1 });
  try {
    return await use(stampede);
  } finally {
    await stampede.stop();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(`${dataDir}-tmp`, { recursive: true, force: true });
  }
}

async function holdsRound(ctx: BenchContext, index: number, slow: BunServerProcess | null): Promise<Round> {
  return withStampede(ctx, `round-${index}`, async (stampede) => {
    if (slow !== null) await registerEndpoint(stampede, `${slow.url}/hook`);
    await stampede.createSale(HOT_SALE_SPEC);
    // Both arms make the probe hold; only the slow one waits for its delivery (about a second).
    await probeHold(ctx, stampede, slow);
    const result = await ctx.load(stampede, hotSaleLoad(ctx, ctx.scale.holdsSeconds));
    const slowReceived = slow === null ? 0 : (await receiverStats(slow)).received;
    const check = checkCounts(await stampede.counts(HOT_SALE, ITEM_ID), {
      stock: HOT_STOCK,
      held: (result.status["201"] ?? 0) + 1,
      confirmed: 0,
      slack: result.unanswered,
    });
    return { withEndpoint: slow !== null, result, exact: check.ok, exactness: check.text, slowReceived };
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

async function holdsWithSlowEndpoint(ctx: BenchContext): Promise<void> {
  const slow = await startReceiver(SLOW_ANSWER_MS);
  const rounds: Round[] = [];
  try {
    // A B, then B A, A B, ...: each arm as often first as second.
    for (let pair = 0; pair < ctx.scale.outboundRounds; pair += 1) {
      const order = pair % 2 === 0 ? [false, true] : [true, false];
      for (const withEndpoint of order) rounds.push(await holdsRound(ctx, rounds.length, withEndpoint ? slow : null));
    }
  } finally {
    await slow.kill();
  }
  const arm = (withEndpoint: boolean) => rounds.filter((round) => round.withEndpoint === withEndpoint);
  const rateOf = (round: Round) => round.result.requestsPerSecond;
  const none = arm(false);
  const slowArm = arm(true);
  const noneRate = median(none.map(rateOf));
  const slowRate = median(slowArm.map(rateOf));
  const ratio = slowRate / noneRate;
  for (const [withEndpoint, rows, rate] of [
    [false, none, noneRate],
    [true, slowArm, slowRate],
  ] as const) {
    // The table's latencies are those of the round nearest the arm's median rate.
    const typical = rows.reduce((best, round) => (Math.abs(rateOf(round) - rate) < Math.abs(rateOf(best) - rate) ? round : best));
    const rates = rows.map((round) => Math.round(rateOf(round)).toLocaleString("en-US")).join(", ");
    const received = rows.reduce((sum, round) => sum + round.slowReceived, 0);
    const acknowledged = rows.reduce((sum, round) => sum + (round.result.status["201"] ?? 0), 0);
    ctx.add({
      scenario: "outbound-holds",
      contestantKey: withEndpoint ? `${KEY}-slow-endpoint` : `${KEY}-no-endpoint`,
      contestant: withEndpoint ? `${NAME}, an endpoint answering after ${SLOW_ANSWER_MS / 1000} s` : `${NAME}, no endpoint`,
      ...loadFields(typical.result, undefined),
      requestsPerSecond: rate,
      answers: rows.map((round) => answers(round.result)).join("; "),
      result:
        `median of ${rows.length} round${rows.length === 1 ? "" : "s"} of ${ctx.scale.holdsSeconds} s (${rates} holds/s)` +
        (withEndpoint
          ? `: ${ratio.toFixed(2)}× the rate with no endpoint; every hold a delivery, the slow receiver got ${received.toLocaleString("en-US")} of ` +
            `${acknowledged.toLocaleString("en-US")} during the loads (the rest wait in the outbox)`
          : ""),
      exact: rows.every((round) => round.exact),
      exactness: rows.map((round) => round.exactness).join("; "),
      metrics: { rounds: rows.length, acknowledged, ...(withEndpoint ? { ratioToNoEndpoint: ratio, slowReceived: received } : {}) },
    });
  }
}

/**
 * One hold before the measurement, and with an endpoint its event delivered: the sender learns of a
 * new endpoint within a second of its registration (src/webhooks/sender.ts), and the targets are about
 * an endpoint in service, not that once-only wait. The receiver then forgets the probe; the sale's
 * counts do not (one more unit held than the load's 201s).
 */
async function probeHold(ctx: BenchContext, stampede: StampedeContestant, receiver: BunServerProcess | null): Promise<void> {
  const firstBuyer = (await Bun.file(ctx.files.hotBuyers).slice(0, 4096).text()).split("\n")[0] ?? "";
  const hold = await fetch(`${stampede.url}/v1/sales/${HOT_SALE}/reservations`, {
    method: "POST",
    headers: { authorization: firstBuyer, "content-type": "application/json" },
    body: HOLD_BODY,
  });
  if (hold.status !== 201) throw new Error(`the probe hold: ${hold.status} ${await hold.text()}`);
  if (receiver === null) return;
  const deadline = performance.now() + DRAIN_TIMEOUT_MS;
  while ((await receiverStats(receiver)).received === 0) {
    if (performance.now() > deadline) throw new Error("the probe hold's event never reached the receiver");
    await Bun.sleep(20);
  }
  const reset = await fetch(`${receiver.url}/reset`, { method: "POST" });
  if (reset.status !== 200) throw new Error(`webhook receiver reset: ${reset.status}`);
}

async function deliveryLag(ctx: BenchContext): Promise<void> {
  const receiver = await startReceiver(0);
  try {
    await withStampede(ctx, "lag", async (stampede) => {
      await registerEndpoint(stampede, `${receiver.url}/hook`);
      await stampede.createSale(HOT_SALE_SPEC);
      await probeHold(ctx, stampede, receiver);
      const seconds = ctx.scale.outboundLagSeconds;
      const result = await runPaced(
        { url: stampede.url, connections: ctx.scale.connections, threads: 1, ratePerSecond: LAG_RATE_PER_SECOND, ...hotSaleLoad(ctx, seconds) },
        ctx.workDir,
      );
      const crash = stampede.crashed();
      if (crash !== null) throw new Error(`${stampede.name} crashed: ${crash}`);
      const acknowledged = result.status["201"] ?? 0;
      // Wait for the event of every acknowledged hold, then for a moment more (the unanswered ones, duplicates).
      const drainStarted = performance.now();
      let stats = await receiverStats(receiver);
      while (stats.distinct < acknowledged && performance.now() - drainStarted < DRAIN_TIMEOUT_MS) {
        await Bun.sleep(100);
        stats = await receiverStats(receiver);
      }
      const drainMs = performance.now() - drainStarted;
      await Bun.sleep(500);
      stats = await receiverStats(receiver);
      // The probe's hold is held too.
      const counts = checkCounts(await stampede.counts(HOT_SALE, ITEM_ID), { stock: HOT_STOCK, held: acknowledged + 1, confirmed: 0, slack: result.unanswered });
      const held = stats.byType["reservation.held"] ?? 0;
      const others = stats.received - held;
      const problems = [
        counts.ok ? null : counts.text,
        stats.distinct < acknowledged ? `${(acknowledged - stats.distinct).toLocaleString("en-US")} acknowledged holds' events not delivered ${DRAIN_TIMEOUT_MS / 1000} s after the load` : null,
        stats.distinct > acknowledged + result.unanswered ? `${stats.distinct - acknowledged} more events than holds` : null,
        others > 0 ? `${others} deliveries of another type than reservation.held` : null,
        stats.malformed > 0 ? `${stats.malformed} deliveries with a body not { id, type, createdAt, data }` : null,
      ].filter((problem) => problem !== null);
      const { p50, p99, max } = stats.lagMs;
      ctx.add({
        scenario: "outbound-lag",
        contestantKey: KEY,
        contestant: `${NAME}, an endpoint answering at once`,
        ...loadFields(result, undefined),
        result:
          `holds paced at ${LAG_RATE_PER_SECOND.toLocaleString("en-US")}/s for ${seconds} s (sent ${Math.round(result.requestsPerSecond).toLocaleString("en-US")}/s, ` +
          `at most ${result.paceBehindMax ?? 0} behind schedule); delivery lag p50 ${p50.toFixed(0)} ms, p99 ${p99.toFixed(0)} ms, max ${max.toFixed(0)} ms; ` +
          `${stats.distinct.toLocaleString("en-US")} events delivered for ${acknowledged.toLocaleString("en-US")} acknowledged holds ` +
          `(${(stats.received - stats.distinct).toLocaleString("en-US")} twice), the last ${(drainMs / 1000).toFixed(1)} s after the load ended`,
        exact: problems.length === 0,
        exactness: problems.length === 0 ? `${counts.text}; every acknowledged hold's event delivered` : problems.join("; "),
        metrics: {
          lagP50Ms: p50,
          lagP99Ms: p99,
          lagMaxMs: max,
          delivered: stats.distinct,
          duplicates: stats.received - stats.distinct,
          acknowledged,
          drainMs,
          paceBehindMax: result.paceBehindMax ?? 0,
        },
      });
    });
  } finally {
    await receiver.kill();
  }
}
