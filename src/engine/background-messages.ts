// Messages between a worker's event loop and its background thread (background-thread.ts).

import type { Durability } from "../journal/journal.ts";
import type { FlusherProgress, WriteBehindOptions } from "../store/write-behind.ts";

export type BackgroundInit = {
  type: "init";
  journalPath: string;
  snapshotsPath: string;
  durability: Durability;
  journalId: string;
  dataDir: string;
  databaseUrl: string | undefined;
  lastSeq: number;
  options: WriteBehindOptions;
  /** Batches committed this recently (ms) are kept: recovery reads their forwarding tokens. */
  keepRecentMs: number;
};

export type ToBackground =
  | BackgroundInit
  /** `applied`: node mode, where the owner's commits put everything in the store already. */
  | { type: "notify"; lastSeq: number; applied?: number }
  | { type: "drain"; id: number }
  | { type: "snapshot"; saleId: string; seq: number; bytes: Uint8Array }
  /** Delete journal batches through `bound` (what every sale's snapshot covers), within what the store has. */
  | { type: "truncate"; bound: number }
  | { type: "stop" };

export type FromBackground =
  | ({ type: "progress" } & FlusherProgress)
  | ({ type: "drained"; id: number; error: string | null } & FlusherProgress)
  | { type: "snapshotted"; saleId: string; seq: number; error: string | null }
  | { type: "truncated"; through: number; batches: number; bytes: number }
  | { type: "stopped" }
  | { type: "failed"; error: string };
