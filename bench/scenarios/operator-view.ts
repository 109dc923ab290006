// What an operator of Stampede saw during a scenario (issue "operators"): the log lines the server
// wrote while it ran, by message, and what /metrics counted of the holds it refused, by problem code
// and by where each refusal was decided. The drop adds it to the report's notes.

import { StampedeContestant } from "../contestants/stampede.ts";
import type { Contestant } from "../contestants/types.ts";

/** Where the server's output and counters stood before the scenario. */
export type OperatorMark = { output: number; refusals: Map<string, number> };

/** The mark to pass to operatorView after the scenario (null for contestants that are not Stampede). */
export async function operatorMark(contestant: Contestant): Promise<OperatorMark | null> {
  if (!(contestant instanceof StampedeContestant)) return null;
  return { output: contestant.server.output().length, refusals: await refusalsCounted(contestant.url) };
}

/** stampede_hold_refusals_total by `code (decided_by)`, summed over its other labels. */
async function refusalsCounted(url: string): Promise<Map<string, number>> {
  const metrics = await (await fetch(`${url}/metrics`)).text();
  const refusals = new Map<string, number>();
  for (const line of metrics.split("\n")) {
    if (!line.startsWith("stampede_hold_refusals_total{")) continue;
    const key = `${/code="([^"]*)"/.exec(line)?.[1] ?? "?"} (${/decided_by="([^"]*)"/.exec(line)?.[1] ?? "?"})`;
    refusals.set(key, (refusals.get(key) ?? 0) + Number(line.slice(line.lastIndexOf(" ") + 1)));
  }
  return refusals;
}

export async function operatorView(contestant: Contestant, mark: OperatorMark | null): Promise<string | null> {
  if (!(contestant instanceof StampedeContestant) || mark === null) return null;
  const output = contestant.server.output();
  // The kept output is cut in the middle when it grows large: then only its tail is this scenario's.
  const written = output.length >= mark.output ? output.slice(mark.output) : output.slice(-100_000);
  const byMessage = new Map<string, number>();
  let lines = 0;
  for (const line of written.split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      const entry = JSON.parse(line) as { level?: string; msg?: string };
      const key = `${entry.level ?? "?"} "${entry.msg ?? "?"}"`;
      byMessage.set(key, (byMessage.get(key) ?? 0) + 1);
      lines += 1;
    } catch {}
  }
  const logged = [...byMessage].map(([key, count]) => `${key} ×${count}`).join(", ");
  const refusals = new Map<string, number>();
  for (const [key, value] of await refusalsCounted(contestant.url)) {
    const during = value - (mark.refusals.get(key) ?? 0);
    if (during > 0) refusals.set(key, during);
  }
  const counted = [...refusals].map(([key, count]) => `${key} ${count.toLocaleString("en-US")}`).join(", ");
  return `${lines} log lines (${logged || "none"}); /metrics counted refusals: ${counted || "none"}`;
}
