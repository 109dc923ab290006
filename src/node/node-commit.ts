// Node mode's group commit (DESIGN.md: "the owner acknowledges after its batch commits in
// PostgreSQL"): each batch of the owner's group commit is applied to PostgreSQL in one transaction,
// by the same code that applies journal batches behind the hot path on one machine, with the lease
// fence first (stampede_fence, node/schema.ts). Only then is it journaled (the audit log) and
// answered. A batch refused by the fence, failed, or not done within COMMIT_TIMEOUT_MS is a failed
// commit: the owner stops (fail-stop), and whoever owns its sales next loads them from PostgreSQL,
// which holds exactly what was acknowledged.

import type { CommitGate } from "../journal/group-commit.ts";
import type { JournalEntry } from "../journal/journal.ts";
import type { PostgresStore } from "../store/postgres/postgres-store.ts";
import type { LeaseKeeper } from "./leases.ts";

/** Longer than this, a commit is given up on: answers must never hang on a PostgreSQL that went away. */
export const COMMIT_TIMEOUT_MS = 3_000;

/** A batch names a sale whose lease this worker does not hold (any more). */
export class StaleLease extends Error {
  override readonly name = "StaleLease";
}

export function nodeCommitGate(store: PostgresStore, journalId: string, keeper: LeaseKeeper): CommitGate {
  return (entries: readonly JournalEntry[]) => {
    const leased = new Map<string, number>();
    let last = "";
    for (const { event } of entries) {
      if (event.saleId === last || leased.has(event.saleId)) continue;
      last = event.saleId;
      const epoch = keeper.epochOf(event.saleId);
      if (epoch === undefined) return Promise.reject(new StaleLease(`a batch names sale ${event.saleId}, whose lease this worker does not hold`));
      leased.set(event.saleId, epoch);
    }
    const saleIds = [...leased.keys()];
    const epochs = [...leased.values()];
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`a node commit took over ${COMMIT_TIMEOUT_MS} ms`)), COMMIT_TIMEOUT_MS);
    });
    const commit = store.commitFenced(journalId, entries, { nodeId: keeper.nodeId, saleIds, epochs });
    return Promise.race([commit, late]).finally(() => clearTimeout(timer));
  };
}
