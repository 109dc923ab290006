// Recovery of a worker's sales, the one short path every start takes (DESIGN.md, "Recovery"):
//
//   1. Load each sale's latest snapshot from the journal's snapshot file.
//   2. Replay the journal after it through the ledger's own `apply` (the code path of live
//      decisions), skipping what a snapshot already holds.
//   3. Read back the forwarding tokens of the last few seconds, so that a command a peer sends again
//      (its first send's answer was lost with the previous process) is answered, not done twice.
//
// The store is not needed for any of it. Only a journal with nothing in it at all (a new data dir,
// or journals drained when the number of workers changed) loads the worker's sales from the store.

import type { Journal } from "../journal/journal.ts";
import type { SnapshotFile } from "../journal/snapshots.ts";
import { invariant } from "../ledger/invariant.ts";
import type { RecentEnded } from "../ledger/recent-ended.ts";
import { restoreSale } from "../ledger/restore.ts";
import { loadSale } from "../ledger/sale-image.ts";
import { SaleLedger } from "../ledger/sale-ledger.ts";
import type { Store } from "../store/store.ts";
import { KEEP_RECENT_BATCHES_MS } from "./background.ts";
import type { ForwardTokens } from "./forward-tokens.ts";

/** A sale as recovery hands it to its owner. */
export type RecoveredSale = {
  ledger: SaleLedger;
  /** The journal sequence its snapshot was taken at (0: none yet). */
  snapshotSeq: number;
  /** The sequence of its latest event in the journal (at most snapshotSeq when nothing followed). */
  lastEventSeq: number;
};

export type Recovery = {
  sales: Map<string, RecoveredSale>;
  /** Events replayed from the journal. */
  replayed: number;
  /** Whether the sales came from the store (an empty journal), so they need a snapshot at once. */
  fromStore: boolean;
  /** Milliseconds spent loading snapshots, replaying the tail, and reading tokens back. */
  ms: { snapshots: number; replay: number; tokens: number };
};

export type RecoveryInput = {
  journal: Journal;
  snapshots: SnapshotFile;
  store: Store;
  journalId: string;
  owns: (saleId: string) => boolean;
  recent: RecentEnded;
  tokens: ForwardTokens;
  now: number;
};

export async function recoverSales(input: RecoveryInput): Promise<Recovery> {
  const { journal, snapshots } = input;
  if (journal.empty && snapshots.count === 0) return loadFromStore(input);

  const started = performance.now();
  const sales = new Map<string, RecoveredSale>();
  for (const row of snapshots.all()) {
    invariant(input.owns(row.saleId), () => `the journal holds sale ${row.saleId}, which another worker owns`);
    sales.set(row.saleId, { ledger: new SaleLedger(loadSale(row.bytes, input.recent)), snapshotSeq: row.seq, lastEventSeq: row.seq });
  }
  const snapshotsLoaded = performance.now();
  let replayed = 0;
  let seq = journal.firstSeq() - 1;
  for (;;) {
    const entries = journal.readAfter(seq);
    if (entries.length === 0) break;
    for (const { seq: entrySeq, event } of entries) {
      const sale = sales.get(event.saleId);
      if (event.type === "sale_created") {
        invariant(sale === undefined || sale.snapshotSeq >= entrySeq, () => `sale ${event.saleId} created twice in the journal`);
        if (sale === undefined) {
          invariant(input.owns(event.saleId), () => `the journal holds sale ${event.saleId}, which another worker owns`);
          sales.set(event.saleId, { ledger: SaleLedger.fromCreated(event, input.recent), snapshotSeq: 0, lastEventSeq: entrySeq });
          replayed += 1;
        }
        continue;
      }
      invariant(sale !== undefined, () => `the journal names sale ${event.saleId} before creating it (seq ${entrySeq})`);
      if (entrySeq <= sale.snapshotSeq) continue;
      sale.ledger.state.apply(event);
      sale.lastEventSeq = entrySeq;
      replayed += 1;
    }
    seq = (entries[entries.length - 1] as { seq: number }).seq;
  }
  for (const sale of sales.values()) sale.ledger.state.assertAll();
  const tailReplayed = performance.now();
  for (const found of journal.tokensSince(journal.lastCommittedAt - KEEP_RECENT_BATCHES_MS)) {
    input.tokens.remember(found.token, { saleId: found.saleId, reservationId: found.reservationId, kind: found.released ? "release" : "hold" });
  }
  const ms = {
    snapshots: Math.round(snapshotsLoaded - started),
    replay: Math.round(tailReplayed - snapshotsLoaded),
    tokens: Math.round(performance.now() - tailReplayed),
  };
  return { sales, replayed, fromStore: false, ms };
}

/** An empty journal: the worker's sales (if any) are in the store, which must be reachable now. */
async function loadFromStore(input: RecoveryInput): Promise<Recovery> {
  const sales = new Map<string, RecoveredSale>();
  for (const stored of await input.store.loadSales(input.owns, input.now)) {
    sales.set(stored.sale.id, { ledger: new SaleLedger(restoreSale(stored, input.now, input.recent)), snapshotSeq: 0, lastEventSeq: 0 });
  }
  // The store may have applied more of this journal's numbers than the (new) file holds: carry on
  // after them, or new events would be skipped as applied.
  const applied = await input.store.appliedSeq(input.journalId);
  if (applied > input.journal.lastSeq) input.journal.advanceTo(applied);
  return { sales, replayed: 0, fromStore: true, ms: { snapshots: 0, replay: 0, tokens: 0 } };
}
