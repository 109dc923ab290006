// A worker's handle on its webhook sender thread (sender-thread.ts): starts it, mirrors what it
// reports for /metrics, relays its log lines, and stops it (attempts in flight finish, outcomes are
// recorded, unsent claims are handed back). Started in one worker per server (server.ts); the claims
// would let more run side by side, which several nodes will.

import type { FromSender, SenderReport, ToSender } from "./sender-messages.ts";
import type { SenderOptions } from "./sender-options.ts";
import type { SenderCounters } from "./sender.ts";

export type SenderThreadOptions = {
  dataDir: string;
  databaseUrl: string | undefined;
  options: SenderOptions;
  /** The sender's name in its claims: stable across restarts, one per node. */
  name: string;
  userAgent: string;
  log: (level: "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>) => void;
};

/** How long a stop waits for the thread before terminating it (attempts end within their timeout). */
const STOP_MARGIN_MS = 5_000;

export class WebhookSenderThread {
  private worker: Worker | null = null;
  private stopped: (() => void) | null = null;
  counters: SenderCounters = { delivered: 0, retrying: 0, failed: 0, retries: 0 };
  oldestPendingAt: number | null = null;
  inFlight = 0;
  /** Called with each report and the counters before it (metrics count the difference). */
  onReport: (report: SenderReport, before: SenderCounters) => void = () => {};

  constructor(private readonly config: SenderThreadOptions) {}

  start(): void {
    const worker = new Worker(new URL("./sender-thread.ts", import.meta.url).href);
    this.worker = worker;
    worker.onmessage = (event: MessageEvent<FromSender>) => this.receive(event.data);
    worker.onerror = (event) => this.config.log("error", "webhook sender thread failed", { error: event.message });
    const { dataDir, databaseUrl, options, name, userAgent } = this.config;
    this.send({ type: "init", dataDir, databaseUrl, options, name, userAgent });
  }

  async stop(): Promise<void> {
    const worker = this.worker;
    if (worker === null) return;
    this.worker = null;
    const done = new Promise<void>((resolve) => {
      this.stopped = resolve;
    });
    worker.postMessage({ type: "stop" } satisfies ToSender);
    const bound = Bun.sleep(this.config.options.timeoutMs + STOP_MARGIN_MS);
    await Promise.race([done, bound]);
    worker.terminate();
  }

  private send(message: ToSender): void {
    this.worker?.postMessage(message);
  }

  private receive(message: FromSender): void {
    switch (message.type) {
      case "report":
        this.absorb(message);
        return;
      case "log":
        this.config.log(message.level, message.msg, message.fields);
        return;
      case "stopped":
        this.stopped?.();
        return;
      case "failed":
        this.config.log("error", "webhook sender failed", { error: message.error });
        return;
    }
  }

  private absorb(report: SenderReport): void {
    const before = this.counters;
    this.counters = report.counters;
    this.oldestPendingAt = report.oldestPendingAt;
    this.inFlight = report.inFlight;
    this.onReport(report, before);
  }
}
