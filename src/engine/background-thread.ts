// A worker's background thread: everything the owner's journal needs done off the thread that
// answers requests. It copies committed batches into the store (write-behind, retrying while the
// store is away), writes sale snapshots, deletes journal batches that the store and the snapshots
// both cover, and checkpoints the journal's WAL. It opens its own connections to the journal, the
// snapshot file and the store.

import { Journal } from "../journal/journal.ts";
import { SnapshotFile } from "../journal/snapshots.ts";
import { openStore } from "../store/open-store.ts";
import type { Store } from "../store/store.ts";
import { WriteBehind } from "../store/write-behind.ts";
import type { FromBackground, ToBackground } from "./background-messages.ts";

declare const self: Worker;

/** How often the WAL is folded into the journal's database file. */
const CHECKPOINT_INTERVAL_MS = 1_000;

let writeBehind: WriteBehind | null = null;
let journal: Journal | null = null;
let snapshots: SnapshotFile | null = null;
let store: Store | null = null;
let lastSeq = 0;
let keepRecentMs = 0;
let checkpointTimer: ReturnType<typeof setInterval> | null = null;

const send = (message: FromBackground) => self.postMessage(message);

/** Rows the write-behind had flushed at the last full collection of this thread's heap. */
let rowsAtLastCollection = 0;

/**
 * Every second: fold the WAL into the journal file, and once the store has caught up after a burst,
 * collect this thread's garbage (a million decoded events are hundreds of MiB that the allocator
 * keeps otherwise). A full collection here costs the request thread nothing.
 */
function housekeeping(): void {
  journal?.checkpoint();
  const wb = writeBehind;
  if (wb === null || wb.appliedSeq < lastSeq || wb.rowsFlushed - rowsAtLastCollection < 10_000) return;
  rowsAtLastCollection = wb.rowsFlushed;
  Bun.gc(true);
}

function progress() {
  const wb = writeBehind;
  return {
    applied: wb?.appliedSeq ?? 0,
    rowsFlushed: wb?.rowsFlushed ?? 0,
    lastLagMs: wb?.lastLagMs ?? 0,
    lastError: wb?.lastError ?? null,
    connected: wb?.opened ?? false,
  };
}

/** The last sequence truncated through, so that a repeated bound costs nothing. */
let truncatedThrough = 0;
/** The owner's latest bound: once the store catches up with it, the batches go (see progressed). */
let latestBound = 0;
let lastProgressTruncation = 0;

/** After the store applied a batch: truncate up to the owner's latest bound, at most once a second. */
function progressed(): void {
  const now = Date.now();
  if (latestBound <= truncatedThrough || now - lastProgressTruncation < 1_000) return;
  lastProgressTruncation = now;
  truncate(latestBound);
}

/** Truncate through `bound`, but never past what the store has applied or what recovery still reads. */
function truncate(bound: number): void {
  latestBound = Math.max(latestBound, bound);
  if (journal === null || writeBehind === null || !writeBehind.opened) return;
  if (Math.min(bound, writeBehind.appliedSeq) <= truncatedThrough) return;
  const recent = journal.lastSeqBefore(journal.lastCommittedAtOnDisk() - keepRecentMs);
  const through = Math.min(bound, writeBehind.appliedSeq, recent);
  if (through <= truncatedThrough) return;
  truncatedThrough = through;
  const deleted = journal.truncateThrough(through);
  if (deleted > 0) journal.checkpoint();
  const { batches, bytes } = journal.size();
  send({ type: "truncated", through, batches, bytes });
}

self.onmessage = async (event: MessageEvent<ToBackground>) => {
  const message = event.data;
  try {
    switch (message.type) {
      case "init": {
        lastSeq = message.lastSeq;
        keepRecentMs = message.keepRecentMs;
        journal = new Journal(message.journalPath, message.durability, { checkpoints: "manual" });
        snapshots = new SnapshotFile(message.snapshotsPath, message.durability);
        store = openStore({ dataDir: message.dataDir, databaseUrl: message.databaseUrl });
        writeBehind = new WriteBehind(journal, store, message.journalId, message.options, () => lastSeq, (state) => {
          send({ type: "progress", ...state });
          progressed();
        });
        checkpointTimer = setInterval(housekeeping, CHECKPOINT_INTERVAL_MS);
        send({ type: "progress", ...progress() });
        void writeBehind.start();
        break;
      }
      case "notify":
        lastSeq = Math.max(lastSeq, message.lastSeq);
        if (message.applied !== undefined) writeBehind?.appliedElsewhere(message.applied);
        writeBehind?.notify();
        break;
      case "drain": {
        let error: string | null = null;
        try {
          await writeBehind?.drain();
        } catch (failure) {
          error = failure instanceof Error ? failure.message : String(failure);
        }
        send({ type: "drained", id: message.id, error, ...progress() });
        break;
      }
      case "snapshot": {
        let error: string | null = null;
        try {
          snapshots?.put(message.saleId, message.seq, message.bytes);
        } catch (failure) {
          error = failure instanceof Error ? failure.message : String(failure);
        }
        send({ type: "snapshotted", saleId: message.saleId, seq: message.seq, error });
        break;
      }
      case "truncate":
        truncate(message.bound);
        break;
      case "stop":
        if (checkpointTimer !== null) clearInterval(checkpointTimer);
        await writeBehind?.stop();
        await store?.close();
        journal?.checkpoint();
        journal?.close();
        snapshots?.close();
        send({ type: "stopped" });
        break;
    }
  } catch (error) {
    send({ type: "failed", error: error instanceof Error ? error.message : String(error) });
  }
};
