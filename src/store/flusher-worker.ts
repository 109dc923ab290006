// The flusher thread's entry point: it opens its own connection to the journal (WAL lets it read
// while the event loop appends) and its own store, and runs the write-behind loop there, so the
// rows the store needs are built and written on another core than the one answering requests.

import { Journal } from "../journal/journal.ts";
import type { FromFlusher, ToFlusher } from "./flusher-messages.ts";
import { openStore } from "./open-store.ts";
import type { Store } from "./store.ts";
import { WriteBehind } from "./write-behind.ts";

declare const self: Worker;

let writeBehind: WriteBehind | null = null;
let journal: Journal | null = null;
let store: Store | null = null;
let lastSeq = 0;

const send = (message: FromFlusher) => self.postMessage(message);

self.onmessage = async (event: MessageEvent<ToFlusher>) => {
  const message = event.data;
  try {
    switch (message.type) {
      case "init": {
        lastSeq = message.lastSeq;
        journal = new Journal(message.journalPath, message.durability);
        store = openStore({ dataDir: message.dataDir, databaseUrl: message.databaseUrl });
        writeBehind = new WriteBehind(journal, store, message.journalId, message.options, () => lastSeq, (progress) =>
          send({ type: "progress", ...progress }),
        );
        await writeBehind.open();
        const { appliedSeq: applied, rowsFlushed, lastLagMs, lastError } = writeBehind;
        send({ type: "opened", applied, rowsFlushed, lastLagMs, lastError });
        writeBehind.notify();
        break;
      }
      case "notify":
        lastSeq = Math.max(lastSeq, message.lastSeq);
        writeBehind?.notify();
        break;
      case "drain": {
        let error: string | null = null;
        try {
          await writeBehind?.drain();
        } catch (failure) {
          error = failure instanceof Error ? failure.message : String(failure);
        }
        const wb = writeBehind;
        send({
          type: "drained",
          id: message.id,
          error,
          applied: wb?.appliedSeq ?? 0,
          rowsFlushed: wb?.rowsFlushed ?? 0,
          lastLagMs: wb?.lastLagMs ?? 0,
          lastError: wb?.lastError ?? null,
        });
        break;
      }
      case "stop":
        await writeBehind?.stop();
        await store?.close();
        journal?.close();
        send({ type: "stopped" });
        break;
    }
  } catch (error) {
    send({ type: "failed", error: error instanceof Error ? error.message : String(error) });
  }
};
