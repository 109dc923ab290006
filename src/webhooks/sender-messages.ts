// Messages between a worker's event loop and its webhook sender thread (sender-thread.ts).

import type { SenderCounters } from "./sender.ts";
import type { SenderOptions } from "./sender-options.ts";

export type ToSender =
  | { type: "init"; dataDir: string; databaseUrl: string | undefined; options: SenderOptions; name: string; userAgent: string }
  | { type: "stop" };

export type SenderReport = {
  type: "report";
  counters: SenderCounters;
  /** Seconds from event to delivery of the deliveries recorded since the last report. */
  lagSeconds: number[];
  oldestPendingAt: number | null;
  inFlight: number;
};

export type FromSender =
  | SenderReport
  | { type: "log"; level: "info" | "warn" | "error"; msg: string; fields?: Record<string, unknown> }
  | { type: "stopped" }
  | { type: "failed"; error: string };
