// Scenario 4, availability reads: GET /v1/sales/:id as a crowd polls it, once plain and once with
// If-None-Match carrying the current ETag (Stampede only: the others send no ETag). Reads change
// nothing, so the hot sale's counts must be the same before and after.

import type { Contestant, ItemCounts } from "../contestants/types.ts";
import { type BenchContext, ITEM_ID, checkCounts, loadFields } from "./context.ts";
import { HOT_SALE } from "./holds.ts";

export async function availabilityReads(ctx: BenchContext, contestant: Contestant): Promise<void> {
  const path = `/v1/sales/${HOT_SALE}`;
  const before = contestant.kind === "ceiling" ? null : await contestant.counts(HOT_SALE, ITEM_ID);
  const plain = await ctx.load(contestant, { mode: "cycle", seconds: ctx.scale.readsSeconds, method: "GET", path });
  await record(ctx, contestant, "reads", plain, before, 200);
  if (contestant.kind !== "stampede") return;
  const etag = (await fetch(`${contestant.url}${path}`)).headers.get("etag");
  if (etag === null) throw new Error(`${contestant.name} sent no ETag for ${path}`);
  const conditional = await ctx.load(contestant, {
    mode: "cycle",
    seconds: ctx.scale.readsSeconds,
    method: "GET",
    path,
    headers: { "If-None-Match": etag },
  });
  await record(ctx, contestant, "reads-etag", conditional, before, 304);
}

async function record(
  ctx: BenchContext,
  contestant: Contestant,
  scenario: "reads" | "reads-etag",
  result: Awaited<ReturnType<BenchContext["load"]>>,
  before: ItemCounts | null,
  expectedStatus: number,
): Promise<void> {
  let exact: boolean | null = null;
  let exactness = "no state to check";
  if (before !== null) {
    const check = checkCounts(await contestant.counts(HOT_SALE, ITEM_ID), {
      stock: before.stock,
      held: before.held,
      confirmed: before.confirmed,
    });
    exact = check.ok;
    exactness = check.ok ? `unchanged by reads: ${check.text}` : check.text;
  }
  const expected = result.status[String(expectedStatus)] ?? 0;
  const ceiling = contestant.kind === "ceiling" ? undefined : ctx.ceilingRate("reads");
  ctx.add({
    scenario,
    contestantKey: contestant.key,
    contestant: contestant.name,
    ...loadFields(result, ceiling),
    result: `${expected === result.answered ? "all" : `${expected} of ${result.answered}`} ${expectedStatus}`,
    exact,
    exactness,
    metrics: { [`status${expectedStatus}`]: expected },
  });
}
