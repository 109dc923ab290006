// Messages between a worker process's event loop and its flusher thread.

import type { Durability } from "../journal/journal.ts";
import type { WriteBehindOptions, FlusherProgress } from "./write-behind.ts";

export type FlusherInit = {
  type: "init";
  journalPath: string;
  durability: Durability;
  journalId: string;
  dataDir: string;
  databaseUrl: string | undefined;
  lastSeq: number;
  options: WriteBehindOptions;
};

export type ToFlusher = FlusherInit | { type: "notify"; lastSeq: number } | { type: "drain"; id: number } | { type: "stop" };

export type FromFlusher =
  | ({ type: "progress" } & FlusherProgress)
  | ({ type: "opened" } & FlusherProgress)
  | ({ type: "drained"; id: number; error: string | null } & FlusherProgress)
  | { type: "stopped" }
  | { type: "failed"; error: string };
