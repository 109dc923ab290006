// The webhook sender's thread: it opens its own connection to the store and runs the sender
// (sender.ts), so that neither signing, JSON nor a slow endpoint ever costs the thread that answers
// requests anything. It reports counters to its worker a few times a second, for /metrics.

import { openStore } from "../store/open-store.ts";
import type { Store } from "../store/store.ts";
import type { FromSender, ToSender } from "./sender-messages.ts";
import { WebhookSender } from "./sender.ts";

declare const self: Worker;

const REPORT_INTERVAL_MS = 250;

let sender: WebhookSender | null = null;
let store: Store | null = null;
let reportTimer: ReturnType<typeof setInterval> | null = null;
let stopping = false;

const send = (message: FromSender) => self.postMessage(message);

function report(): void {
  if (sender === null) return;
  const lagSeconds = sender.lagSeconds;
  sender.lagSeconds = [];
  send({ type: "report", counters: { ...sender.counters }, lagSeconds, oldestPendingAt: sender.oldestPendingAt, inFlight: sender.inFlight });
}

self.onmessage = async (event: MessageEvent<ToSender>) => {
  const message = event.data;
  try {
    switch (message.type) {
      case "init": {
        store = openStore({ dataDir: message.dataDir, ...(message.databaseUrl === undefined ? {} : { databaseUrl: message.databaseUrl }) });
        sender = new WebhookSender(store.webhooks, message.options, message.name, message.userAgent, (level, msg, fields) =>
          send({ type: "log", level, msg, ...(fields === undefined ? {} : { fields }) }),
        );
        // Retried until the store answers: a sender that cannot reach it yet simply starts later.
        while (!stopping) {
          try {
            await sender.start();
            break;
          } catch (error) {
            send({ type: "log", level: "warn", msg: "webhook sender waits for the store", fields: { error: String(error) } });
            await Bun.sleep(1_000);
          }
        }
        reportTimer = setInterval(report, REPORT_INTERVAL_MS);
        break;
      }
      case "stop":
        stopping = true;
        if (reportTimer !== null) clearInterval(reportTimer);
        await sender?.stop();
        report();
        await store?.close();
        send({ type: "stopped" });
        break;
    }
  } catch (error) {
    send({ type: "failed", error: error instanceof Error ? error.message : String(error) });
  }
};
