// The operator stream behind the dashboard. One poller per process, shared by every open stream and
// running only while one is open: every POLL_INTERVAL_MS it reads the sales, readiness and metrics,
// and sends the snapshot to every stream only when it differs from the last one sent. A quiet server
// therefore sends nothing but heartbeats, and a busy one a message every half second, within the
// "at least once a second while something changes" of API.md, whatever the number of operators.

import type { AdminSaleView } from "../../ledger/views.ts";
import type { StreamLease } from "../admission.ts";
import { type Readiness, buildSnapshot } from "./snapshot.ts";

/** How often the sales and metrics are read while a stream is open. */
export const POLL_INTERVAL_MS = 500;
/** Keeps the stream under the server's idle timeout (10 s) and idle proxies from closing it. */
export const HEARTBEAT_INTERVAL_MS = 5_000;
/**
 * A read that takes longer (a worker restarting, a cluster RPC stuck) is given up for this poll, so
 * one slow source cannot stop the others from being shown; the last value read stands in for it.
 */
export const SOURCE_TIMEOUT_MS = 3_000;

export type FeedSource = {
  listSales(): Promise<AdminSaleView[]>;
  readiness(): Readiness;
  /** The Prometheus text `/metrics` answers. */
  metricsText(): Promise<string> | string;
};

type Listener = (data: string) => void;

export class DashboardFeed {
  private readonly listeners = new Set<Listener>();
  /** The last message sent, as JSON; null while no stream is open (it would be stale by the next one). */
  private latest: string | null = null;
  private running = false;
  private lastSales: AdminSaleView[] = [];
  private lastMetricsText = "";

  constructor(
    private readonly source: FeedSource,
    private readonly pollIntervalMs = POLL_INTERVAL_MS,
  ) {}

  /** Calls `listener` with each new snapshot (the latest one at once, if any); returns the unsubscribe. */
  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    if (this.latest !== null) listener(this.latest);
    if (!this.running) {
      this.running = true;
      void this.poll();
    }
    return () => {
      this.listeners.delete(listener);
    };
  }

  private async poll(): Promise<void> {
    if (this.listeners.size === 0) {
      this.running = false;
      this.latest = null;
      return;
    }
    const [sales, metricsText] = await Promise.all([
      within(() => this.source.listSales(), "reading the sales").then(
        (sales) => ({ sales, error: null }),
        (error: unknown) => ({ sales: this.lastSales, error: error instanceof Error ? error.message : String(error) }),
      ),
      within(async () => this.source.metricsText(), "reading the metrics").catch(() => this.lastMetricsText),
    ]);
    // Every stream may have gone while the sources were read (a server stopping ends them all).
    if (this.listeners.size === 0) return this.poll();
    this.lastSales = sales.sales;
    this.lastMetricsText = metricsText;
    let readiness: Readiness;
    try {
      readiness = this.source.readiness();
    } catch (error) {
      readiness = { ready: false, reasons: [`readiness unknown: ${String(error)}`], journalBacklog: 0, storeError: null };
    }
    const data = JSON.stringify(buildSnapshot({ sales: sales.sales, salesError: sales.error, readiness, metricsText }));
    if (data !== this.latest) {
      this.latest = data;
      for (const listener of this.listeners) listener(data);
    }
    setTimeout(() => void this.poll(), this.pollIntervalMs);
  }

  /**
   * An SSE response fed by this poller. It ends when the client goes (`clientGone`), when the server
   * stops (`lease.signal`) or when a write fails; however it ends, the subscription, the heartbeat
   * and the lease go exactly once.
   */
  response(clientGone: AbortSignal, lease: StreamLease): Response {
    const encoder = new TextEncoder();
    let stop = () => {};
    const stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        let stopped = false;
        let heartbeat: ReturnType<typeof setInterval> | undefined;
        let unsubscribe = () => {};
        const end = () => {
          stop();
          try {
            controller.close();
          } catch {}
        };
        stop = () => {
          if (stopped) return;
          stopped = true;
          clearInterval(heartbeat);
          unsubscribe();
          clientGone.removeEventListener("abort", end);
          lease.signal.removeEventListener("abort", end);
          lease.release();
        };
        const send = (text: string) => {
          try {
            controller.enqueue(encoder.encode(text));
          } catch {
            stop();
          }
        };
        if (clientGone.aborted || lease.signal.aborted) return end();
        clientGone.addEventListener("abort", end);
        lease.signal.addEventListener("abort", end);
        // `retry` tells EventSource-like clients how long to wait before reconnecting.
        send("retry: 2000\n\n");
        unsubscribe = this.subscribe((data) => send(`data: ${data}\n\n`));
        if (stopped) return unsubscribe(); // the first write failed before `unsubscribe` was known
        heartbeat = setInterval(() => send(": heartbeat\n\n"), HEARTBEAT_INTERVAL_MS);
      },
      cancel: () => stop(),
    });
    return new Response(stream, {
      headers: {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-store",
        "x-accel-buffering": "no",
        connection: "keep-alive",
      },
    });
  }
}

/** Runs `work`, turning a throw (even a synchronous one) or a time-out into a rejection. */
function within<T>(work: () => Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took over ${SOURCE_TIMEOUT_MS} ms`)), SOURCE_TIMEOUT_MS);
  });
  return Promise.race([Promise.resolve().then(work), timeout]).finally(() => clearTimeout(timer));
}
