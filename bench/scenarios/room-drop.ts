// Scenario 10, the drop with a waiting room (issue 11): every buyer of the drop joins a sale's waiting
// room within seconds of its start (the first seconds before startsAt, so the lottery draws them),
// polls it, and is admitted at the room's pace; admitted buyers hold and pay until the stock is gone,
// and everyone still waiting is then told sold_out.
//
// Rows: joins/s (against the ceiling's holds/s) and polls/s (against its reads/s), both with wrk;
// then the admission run, driven by this process in queue order: the pace measured from the operator
// view against admitPerSecond, the order checked exactly (each admission's moment is in its token's
// expiry, which must not go down along the queue), every admitted buyer's hold (never a 403), oversell
// and anyone left waiting. The sale is paused while buyers join, so a sweep of polls reads each
// buyer's rank (position with nothing served) before admission starts.

import { signWebhook } from "../../src/auth/webhook-signature.ts";
import { SECRETS } from "../../test/support/harness.ts";
import type { Contestant } from "../contestants/types.ts";
import { StampedeContestant } from "../contestants/stampede.ts";
import { type BenchContext, HOLD_BODY, ITEM_ID, ITEM_PRICE, checkCounts, loadFields } from "./context.ts";

export const ROOM_SALE = "room-drop";
const LANES = 64;
const ADMISSION_SECONDS = 3_600;
/** Admissions a second: the stock goes in about ten seconds at full scale. */
const pace = (quick: boolean) => (quick ? 1_000 : 5_000);

type Poll = { status: string; position?: number; admissionToken?: string; admissionExpiresAt?: string };

async function readTokens(file: string): Promise<string[]> {
  return (await Bun.file(file).text()).split("\n").filter((line) => line.length > 0);
}

/** Run `work(i)` for i in 0..count-1 on LANES lanes. */
async function lanes(count: number, work: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: LANES }, async () => {
    while (next < count) await work(next++);
  }));
}

export async function roomDrop(ctx: BenchContext, contestant: Contestant): Promise<void> {
  if (!(contestant instanceof StampedeContestant)) return;
  const { dropStock: stock } = ctx.scale;
  const rate = pace(ctx.scale.quick);
  const startsAt = Date.now() + 2_000;
  const created = await contestant.admin("POST", "/v1/admin/sales", {
    id: ROOM_SALE,
    name: "Bench room drop",
    startsAt: new Date(startsAt).toISOString(),
    endsAt: new Date(startsAt + 86_400_000).toISOString(),
    limitPerUser: 1,
    holdSeconds: 3_600,
    items: [{ id: ITEM_ID, name: ITEM_ID, price: ITEM_PRICE, currency: "USD", stock }],
    waitingRoom: { admitPerSecond: rate, admissionSeconds: ADMISSION_SECONDS, opensSecondsBefore: 900 },
  });
  if (created.status !== 201) throw new Error(`creating ${ROOM_SALE}: ${created.status} ${await created.text()}`);
  await contestant.admin("PATCH", `/v1/admin/sales/${ROOM_SALE}`, { paused: true });

  const path = `/v1/sales/${ROOM_SALE}/queue`;
  const joins = await ctx.load(contestant, { mode: "once", seconds: 0, method: "POST", path, entriesFile: ctx.files.dropBuyers, entryHeader: "Authorization" });
  const joined = (joins.status["202"] ?? 0) + (joins.status["200"] ?? 0);
  ctx.add({
    scenario: "room-joins",
    contestantKey: contestant.key,
    contestant: contestant.name,
    ...loadFields(joins, ctx.ceilingRate("holds")),
    result: `${joined.toLocaleString("en-US")} buyers joined (${ctx.scale.dropBuyers.toLocaleString("en-US")} sent)`,
    exact: joined === ctx.scale.dropBuyers,
    exactness: joined === ctx.scale.dropBuyers ? "every join answered 202 (durable)" : `only ${joined} joins answered 2xx`,
    metrics: { joined },
  });
  const polls = await ctx.load(contestant, { mode: "cycle", seconds: ctx.scale.readsSeconds, method: "GET", path, entriesFile: ctx.files.dropBuyers, entryHeader: "Authorization" });
  ctx.add({
    scenario: "room-polls",
    contestantKey: contestant.key,
    contestant: contestant.name,
    ...loadFields(polls, ctx.ceilingRate("reads")),
    result: `${(polls.status["200"] ?? 0) === polls.answered ? "all" : polls.status["200"] ?? 0} 200`,
    exact: (polls.status["200"] ?? 0) === polls.answered,
    exactness: "polls change nothing",
    metrics: {},
  });
  await admissionRun(ctx, contestant, await readTokens(ctx.files.dropBuyers), rate, Math.max(0, startsAt - Date.now()));
}

async function admissionRun(ctx: BenchContext, contestant: StampedeContestant, tokens: string[], rate: number, untilStart: number): Promise<void> {
  const url = contestant.url;
  const stock = ctx.scale.dropStock;
  await Bun.sleep(untilStart + 200);
  const poll = async (token: string): Promise<Poll> => (await fetch(`${url}/v1/sales/${ROOM_SALE}/queue`, { headers: { authorization: token } })).json() as Promise<Poll>;
  // Paused, nothing is served: each buyer's position is their rank.
  const order = new Int32Array(tokens.length).fill(-1);
  let misplaced = 0;
  await lanes(tokens.length, async (i) => {
    const rank = (await poll(tokens[i] as string)).position ?? 0;
    if (rank < 1 || rank > tokens.length || order[rank - 1] !== -1) misplaced += 1;
    else order[rank - 1] = i;
  });
  const room = async () => {
    const view = (await (await contestant.admin("GET", `/v1/admin/sales/${ROOM_SALE}`)).json()) as { waitingRoom: { waiting: number; admitted: number }; items: { available: number }[] };
    return { ...view.waitingRoom, available: view.items[0]?.available ?? 0, at: performance.now() };
  };
  await contestant.admin("PATCH", `/v1/admin/sales/${ROOM_SALE}`, { paused: false });
  const samples: Awaited<ReturnType<typeof room>>[] = [];
  let done = false;
  const sampler = (async () => {
    while (!done) {
      samples.push(await room());
      await Bun.sleep(250);
    }
  })();
  const admittedAt = new Float64Array(tokens.length);
  const holds = { created: 0, soldOut: 0, refused: 0, paid: 0 };
  let next = 0;
  let soldOut = false;
  await Promise.all(Array.from({ length: LANES }, async () => {
    while (!soldOut && next < tokens.length) {
      const rank = (next += 1);
      const token = tokens[order[rank - 1] as number] as string;
      let answer = await poll(token);
      while (answer.status === "waiting") {
        await Bun.sleep(20);
        answer = await poll(token);
      }
      if (answer.status !== "admitted") {
        soldOut = true;
        break;
      }
      admittedAt[rank - 1] = Date.parse(answer.admissionExpiresAt ?? "");
      const headers = { authorization: token, "content-type": "application/json", "stampede-admission": answer.admissionToken ?? "" };
      const held = await fetch(`${url}/v1/sales/${ROOM_SALE}/reservations`, { method: "POST", headers, body: HOLD_BODY });
      if (held.status === 403) holds.refused += 1;
      if (held.status === 409) holds.soldOut += 1;
      if (held.status !== 201) continue;
      holds.created += 1;
      const reservation = (await held.json()) as { id: string; amount: number; currency: string };
      const body = JSON.stringify({ eventId: `room-${rank}`, paymentId: `room-pay-${rank}`, saleId: ROOM_SALE, reservationId: reservation.id, status: "succeeded", amount: reservation.amount, currency: reservation.currency });
      const signature = signWebhook(SECRETS.STAMPEDE_WEBHOOK_SECRET, body, Math.floor(Date.now() / 1000));
      const paid = await fetch(`${url}/v1/webhooks/payments`, { method: "POST", headers: { "content-type": "application/json", "stampede-signature": signature }, body });
      if (paid.status === 200) holds.paid += 1;
    }
  }));
  // Everyone still waiting is told sold_out by the owner's next ticks.
  let last = await room();
  for (const deadline = performance.now() + 30_000; last.waiting > 0 && performance.now() < deadline; last = await room()) await Bun.sleep(100);
  done = true;
  await sampler;
  const processed = Math.min(next, tokens.length);
  // The order: admission moments (expiry minus its length) never go down along the queue.
  let outOfOrder = 0;
  let previous = 0;
  for (let r = 0; r < processed; r += 1) {
    const at = admittedAt[r] as number;
    if (at === 0) continue;
    if (at < previous) outOfOrder += 1;
    previous = at;
  }
  // The pace, from the operator view while there were units to admit for and buyers waiting.
  const flowing = samples.filter((s) => s.available > 0 && s.waiting > 0 && s.admitted > 0);
  const first = flowing[1];
  const end = flowing[flowing.length - 1];
  const measured = first !== undefined && end !== undefined && end.at > first.at ? ((end.admitted - first.admitted) / (end.at - first.at)) * 1000 : Number.NaN;
  const paceOff = Math.abs(measured - rate) / rate;
  const sample = await Promise.all(Array.from({ length: Math.min(200, tokens.length - processed) }, (_, k) => poll(tokens[order[tokens.length - 1 - k] as number] as string)));
  const unanswered = sample.filter((p) => p.status !== "sold_out").length + last.waiting;
  const counts = await contestant.counts(ROOM_SALE, ITEM_ID);
  const check = checkCounts(counts, { stock, held: 0, confirmed: holds.paid, slack: 0 });
  const oversold = Math.max(0, counts.held + counts.confirmed - counts.stock);
  const problems = [
    misplaced > 0 ? `${misplaced} ranks not a permutation` : null,
    outOfOrder > 0 ? `${outOfOrder} admitted out of order` : null,
    holds.refused > 0 ? `${holds.refused} admitted buyers refused with 403` : null,
    unanswered > 0 ? `${unanswered} buyers left waiting` : null,
    check.ok ? null : check.text,
  ].filter((p): p is string => p !== null);
  ctx.add({
    scenario: "room-admission",
    contestantKey: contestant.key,
    contestant: contestant.name,
    answers: `holds: 201 ${holds.created}, 409 sold_out ${holds.soldOut}, 403 ${holds.refused}; paid ${holds.paid}`,
    result:
      `admitted ${last.admitted.toLocaleString("en-US")} at ${Math.round(measured).toLocaleString("en-US")}/s for ${rate.toLocaleString("en-US")}/s ` +
      `(${(paceOff * 100).toFixed(1)}% off); order exact over ${processed.toLocaleString("en-US")} ranks; ` +
      `sold out: ${counts.confirmed.toLocaleString("en-US")} of ${stock.toLocaleString("en-US")} confirmed, oversell ${oversold}, ${last.waiting} waiting`,
    exact: problems.length === 0 && oversold === 0,
    exactness: problems.length === 0 ? `${check.text}; order exact; nobody left waiting` : problems.join("; "),
    metrics: { measuredPace: measured, pace: rate, paceOff, outOfOrder, refused: holds.refused, oversold, waiting: last.waiting, admitted: last.admitted },
  });
}
