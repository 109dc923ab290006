// Scenario 5, payment webhooks: the provider pays every unit held in the drop, and delivers every
// signed event twice, back to back (the two copies travel on different connections at about the same
// time, as a retry storm does). Expect one `confirmed` and one `already_confirmed` per payment, and the
// operator view's confirmed count equal to the confirmations acknowledged.

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { signWebhook } from "../../src/auth/webhook-signature.ts";
import { SECRETS } from "../../test/support/harness.ts";
import type { StampedeContestant } from "../contestants/stampede.ts";
import type { Contestant } from "../contestants/types.ts";
import { type BenchContext, ITEM_ID, ITEM_PRICE, checkCounts, loadFields } from "./context.ts";
import { DROP_SALE } from "./drop.ts";

type Payable = { id: string; amount: number; currency: string };

/** One line a payment: `<Stampede-Signature>\t<body>`, signed now (the server allows 300 s of skew). */
function writeEvents(file: string, runId: string, payables: Payable[]): void {
  const t = Math.floor(Date.now() / 1000);
  const lines = payables.map((p, i) => {
    const body = JSON.stringify({
      eventId: `evt_${runId}_${i}`,
      paymentId: `pay_${runId}_${i}`,
      saleId: DROP_SALE,
      reservationId: p.id,
      status: "succeeded",
      amount: p.amount,
      currency: p.currency,
    });
    return `${signWebhook(SECRETS.STAMPEDE_WEBHOOK_SECRET, body, t)}\t${body}`;
  });
  writeFileSync(file, `${lines.join("\n")}\n`);
}

async function deliverTwice(ctx: BenchContext, contestant: Contestant, file: string) {
  return ctx.load(contestant, {
    mode: "once",
    seconds: 0,
    repeat: 2,
    method: "POST",
    path: "/v1/webhooks/payments",
    entriesFile: file,
    entryHeader: "Stampede-Signature",
  });
}

/** The ceiling gets payments of the same shape for reservations that do not exist (it checks nothing). */
export async function ceilingWebhooks(ctx: BenchContext, ceiling: Contestant): Promise<void> {
  const payables = Array.from({ length: ctx.scale.dropStock }, (_, i) => ({
    id: `01J${String(i).padStart(23, "0")}`,
    amount: ITEM_PRICE,
    currency: "USD",
  }));
  const file = join(ctx.workDir, "webhooks-ceiling.txt");
  writeEvents(file, `${ceiling.key}`, payables);
  const result = await deliverTwice(ctx, ceiling, file);
  ctx.add({
    scenario: "webhooks",
    contestantKey: ceiling.key,
    contestant: ceiling.name,
    ...loadFields(result, undefined),
    result: `${payables.length.toLocaleString("en-US")} payments, each delivered twice`,
    exact: null,
    exactness: "no state to check",
    metrics: {},
  });
}

export async function paymentWebhooks(ctx: BenchContext, stampede: StampedeContestant): Promise<void> {
  const before = await stampede.counts(DROP_SALE, ITEM_ID);
  const payables = await stampede.reservations(DROP_SALE, "held", before.held);
  const file = join(ctx.workDir, `webhooks-${stampede.key}.txt`);
  writeEvents(file, stampede.key, payables);
  const result = await deliverTwice(ctx, stampede, file);
  const confirmed = result.outcome.confirmed ?? 0;
  const already = result.outcome.already_confirmed ?? 0;
  const after = await stampede.counts(DROP_SALE, ITEM_ID);
  // Deliveries cut off unanswered may have confirmed too (at most one each): those move units from
  // held to confirmed without an acknowledgement, so held is expected lower by the same number.
  const unacknowledged = Math.min(Math.max(after.confirmed - before.confirmed - confirmed, 0), result.unanswered);
  const check = checkCounts(after, {
    stock: before.stock,
    held: before.held - confirmed - unacknowledged,
    confirmed: before.confirmed + confirmed,
    confirmedSlack: result.unanswered,
  });
  const twiceApplied = confirmed > payables.length;
  const asExpected = confirmed === payables.length && already === payables.length;
  ctx.add({
    scenario: "webhooks",
    contestantKey: stampede.key,
    contestant: stampede.name,
    ...loadFields(result, ctx.ceilingRate("webhooks")),
    result:
      `${payables.length.toLocaleString("en-US")} payments × 2 deliveries: ${confirmed.toLocaleString("en-US")} confirmed, ` +
      `${already.toLocaleString("en-US")} already_confirmed${asExpected ? " (as expected)" : " (NOT as expected)"}`,
    exact: check.ok && !twiceApplied,
    exactness: twiceApplied ? `a payment was applied twice: ${confirmed} confirmations for ${payables.length} payments` : check.text,
    metrics: { payments: payables.length, confirmed, alreadyConfirmed: already },
  });
}
