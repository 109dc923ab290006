// A SaleOwner wired to a data dir's journal, snapshot file, background thread and embedded store, for
// tests that drive the engine (or an app around it) without startServer.

import { join } from "node:path";
import { BackgroundThread } from "../../src/engine/background.ts";
import { SaleOwner, type SaleOwnerOptions } from "../../src/engine/sale-owner.ts";
import { Journal } from "../../src/journal/journal.ts";
import { SnapshotFile, snapshotsPathOf } from "../../src/journal/snapshots.ts";
import { openStore } from "../../src/store/open-store.ts";
import type { Store } from "../../src/store/store.ts";

export type TestOwner = { owner: SaleOwner; store: Store; journal: Journal; close(): Promise<void> };

export function ownerIn(
  dataDir: string,
  options: Partial<Omit<SaleOwnerOptions, "journal" | "snapshots" | "store" | "background" | "journalId">> = {},
): TestOwner {
  const store = openStore({ dataDir });
  const journal = new Journal(join(dataDir, "journal-0.db"), "process", { checkpoints: "manual" });
  const snapshots = new SnapshotFile(snapshotsPathOf(journal.path), "process");
  const background = new BackgroundThread({
    journal,
    snapshotsPath: snapshots.path,
    durability: "process",
    journalId: "journal-0",
    dataDir,
    databaseUrl: undefined,
  });
  const owner = new SaleOwner({ journal, snapshots, store, background, journalId: "journal-0", ...options });
  return {
    owner,
    store,
    journal,
    async close() {
      await owner.stop().catch(() => {});
      journal.close();
      snapshots.close();
      await store.close();
    },
  };
}
