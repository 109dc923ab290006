// Scenario 1, the hot sale: one item with a stock that never runs out, many distinct buyers holding
// one unit each, as fast as 64 connections go. Measures durable holds/s (a 201 from Stampede is in
// its journal) against the ceiling, then checks that every 201 is held and nothing else is.

import type { Contestant, SaleSpec } from "../contestants/types.ts";
import type { LoadSpec } from "../load/index.ts";
import { type BenchContext, HOLD_BODY, ITEM_ID, ITEM_PRICE, checkCounts, loadFields } from "./context.ts";

export const HOT_SALE = "hot";
export const HOT_STOCK = 100_000_000;
/** The API's largest limit: the hot sale's buyers come back many times. */
const HOT_LIMIT_PER_USER = 1000;

/** The hot sale as every contestant creates it (scenario 12 measures the same load on it). */
export const HOT_SALE_SPEC: SaleSpec = {
  id: HOT_SALE,
  limitPerUser: HOT_LIMIT_PER_USER,
  holdSeconds: 86_400,
  items: [{ id: ITEM_ID, stock: HOT_STOCK, price: ITEM_PRICE }],
};

/** The hot sale's hold load: every buyer of the run's hot file, round and round, for `seconds`. */
export function hotSaleLoad(ctx: BenchContext, seconds: number): Omit<LoadSpec, "url" | "connections" | "threads"> {
  return {
    mode: "cycle",
    seconds,
    method: "POST",
    path: `/v1/sales/${HOT_SALE}/reservations`,
    body: HOLD_BODY,
    entriesFile: ctx.files.hotBuyers,
    entryHeader: "Authorization",
  };
}

export async function hotSaleHolds(ctx: BenchContext, contestant: Contestant): Promise<void> {
  await contestant.createSale(HOT_SALE_SPEC);
  const result = await ctx.load(contestant, hotSaleLoad(ctx, ctx.scale.holdsSeconds));
  const acknowledged = result.status["201"] ?? 0;
  let exact: boolean | null = null;
  let exactness = "no state to check";
  if (contestant.kind !== "ceiling") {
    const check = checkCounts(await contestant.counts(HOT_SALE, ITEM_ID), {
      stock: HOT_STOCK,
      held: acknowledged,
      confirmed: 0,
      slack: result.unanswered,
    });
    exact = check.ok;
    exactness = check.text;
  }
  const ceiling = contestant.kind === "ceiling" ? undefined : ctx.ceilingRate("holds");
  ctx.add({
    scenario: "holds",
    contestantKey: contestant.key,
    contestant: contestant.name,
    ...loadFields(result, ceiling),
    result: `${acknowledged.toLocaleString("en-US")} holds from ${ctx.scale.hotBuyers.toLocaleString("en-US")} distinct buyers`,
    exact,
    exactness,
    metrics: { acknowledged },
  });
}
