// Scenario 3, the sold-out storm: holds against an item with no stock left. Every answer should be
// 409 sold_out, decided as cheaply as possible; the counts must not move.

import type { Contestant } from "../contestants/types.ts";
import { type BenchContext, HOLD_BODY, ITEM_ID, ITEM_PRICE, checkCounts, loadFields } from "./context.ts";

const GONE_SALE = "gone";

export async function soldOutStorm(ctx: BenchContext, contestant: Contestant): Promise<void> {
  await contestant.createSale({ id: GONE_SALE, limitPerUser: 1, holdSeconds: 600, items: [{ id: ITEM_ID, stock: 0, price: ITEM_PRICE }] });
  const result = await ctx.load(contestant, {
    mode: "cycle",
    seconds: ctx.scale.soldOutSeconds,
    method: "POST",
    path: `/v1/sales/${GONE_SALE}/reservations`,
    body: HOLD_BODY,
    entriesFile: ctx.files.hotBuyers,
    entryHeader: "Authorization",
  });
  const soldOut = result.code.sold_out ?? 0;
  const check = checkCounts(await contestant.counts(GONE_SALE, ITEM_ID), {
    stock: 0,
    held: result.status["201"] ?? 0,
    confirmed: 0,
    slack: result.unanswered,
  });
  const others = result.answered - soldOut;
  ctx.add({
    scenario: "sold-out",
    contestantKey: contestant.key,
    contestant: contestant.name,
    // Rejects are measured against the ceiling's answer to the very same request (its 201).
    ...loadFields(result, ctx.ceilingRate("holds")),
    result: `${Math.round(soldOut / (result.elapsedMs / 1000)).toLocaleString("en-US")} sold_out rejects/s${others > 0 ? `; ${others} other answers` : ""}`,
    exact: check.ok,
    exactness: check.text,
    metrics: { soldOut, otherAnswers: others },
  });
}
