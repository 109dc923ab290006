// Scenario 2, the drop: a small stock against ten times as many buyers, each sending one hold, all
// arriving at once (64 connections, no pause). Reports how long the stock took to sell out (first
// request to the last 201), oversell (must be 0) and stranded units (units still available after
// buyers were told sold_out; must be 0), then checks the counts like every scenario.

import type { Contestant } from "../contestants/types.ts";
import { type BenchContext, HOLD_BODY, ITEM_ID, ITEM_PRICE, checkCounts, loadFields } from "./context.ts";
import { operatorMark, operatorView } from "./operator-view.ts";

export const DROP_SALE = "drop";

export async function theDrop(ctx: BenchContext, contestant: Contestant): Promise<{ held: number }> {
  const { dropStock, dropBuyers } = ctx.scale;
  await contestant.createSale({ id: DROP_SALE, limitPerUser: 1, holdSeconds: 3600, items: [{ id: ITEM_ID, stock: dropStock, price: ITEM_PRICE }] });
  // The usual PostgreSQL design serves about a thousand holds a second: half a million would take
  // minutes, so it gets a fixed time and the report says how far it got.
  const capped = contestant.kind === "usual-pg";
  const mark = await operatorMark(contestant);
  const result = await ctx.load(contestant, {
    mode: "once",
    seconds: capped ? ctx.scale.slowDropCapSeconds : 0,
    method: "POST",
    path: `/v1/sales/${DROP_SALE}/reservations`,
    body: HOLD_BODY,
    entriesFile: ctx.files.dropBuyers,
    entryHeader: "Authorization",
  });
  const acknowledged = result.status["201"] ?? 0;
  const refusedSoldOut = result.code.sold_out ?? 0;
  const counts = await contestant.counts(DROP_SALE, ITEM_ID);
  const seen = await operatorView(contestant, mark);
  if (seen !== null) ctx.notes.push(`What an operator saw during the drop, ${contestant.name}: ${seen}.`);
  const check = checkCounts(counts, { stock: dropStock, held: acknowledged, confirmed: 0, slack: result.unanswered });
  const oversold = Math.max(0, counts.held + counts.confirmed - counts.stock, acknowledged - dropStock);
  // Units left while buyers were refused as sold out: the stock was not all sold although demand was there.
  const stranded = refusedSoldOut > 0 ? counts.available : 0;
  const problems = [check.ok ? null : check.text, stranded > 0 ? `stranded ${stranded} units` : null].filter((p) => p !== null);
  const soldOut = counts.available === 0;
  const soldOutMs = soldOut ? result.lastSuccessAfterMs : -1;
  const result_ = soldOut
    ? `sold out in ${(soldOutMs / 1000).toFixed(2)} s; oversell ${oversold}; stranded ${stranded}`
    : `not sold out: ${acknowledged.toLocaleString("en-US")} of ${dropStock.toLocaleString("en-US")} held after ${(result.elapsedMs / 1000).toFixed(1)} s` +
      `${capped ? " (capped)" : ""}; oversell ${oversold}; stranded ${stranded}`;
  ctx.add({
    scenario: "drop",
    contestantKey: contestant.key,
    contestant: contestant.name,
    ...loadFields(result, undefined),
    result: `${dropBuyers.toLocaleString("en-US")} buyers for ${dropStock.toLocaleString("en-US")} units: ${result_}`,
    exact: problems.length === 0 && oversold === 0,
    exactness: problems.length === 0 ? `${check.text}; stranded 0` : problems.join("; "),
    metrics: { acknowledged, refusedSoldOut, oversold, stranded, soldOutMs, available: counts.available },
  });
  return { held: counts.held };
}
