// Event-loop lag: how late a timer fires compared with when it was due. Every reservation waits
// behind whatever the loop is busy with, so this is the process's queueing delay in one number;
// admission control sheds load when it grows. A setInterval is enough: the drift between ticks is
// the time the loop spent unable to run the timer.

/** Where each measurement goes, in seconds: a gauge (latest value) or a histogram (distribution). */
export type LagSink = { observe(seconds: number): void } | { set(seconds: number): void };

export interface EventLoopLagMonitor {
  /** The latest measurement, in seconds; 0 before the first tick. */
  readonly lagSeconds: number;
  stop(): void;
}

/** Shortest interval allowed: timers are not precise below about a millisecond anyway. */
const INTERVAL_MS_MIN = 1;

/**
 * Measures the lag every `intervalMs` and hands it to each sink. The timer is unref'd so that it
 * never keeps a process alive that has nothing else to do.
 */
export function startEventLoopLagMonitor(sinks: LagSink | readonly LagSink[], intervalMs = 100): EventLoopLagMonitor {
  if (!(intervalMs >= INTERVAL_MS_MIN)) throw new RangeError(`metrics: lag interval must be >= ${INTERVAL_MS_MIN} ms`);
  const targets: readonly LagSink[] = isSinkList(sinks) ? sinks : [sinks];
  let previous_ms = performance.now();
  let lagSeconds = 0;
  const timer = setInterval(() => {
    const now_ms = performance.now();
    // The timer restarts its interval when it fires, so each tick measures its own delay only.
    lagSeconds = Math.max(0, now_ms - previous_ms - intervalMs) / 1000;
    previous_ms = now_ms;
    for (const sink of targets) {
      if ("observe" in sink) sink.observe(lagSeconds);
      else sink.set(lagSeconds);
    }
  }, intervalMs);
  timer.unref();
  return {
    get lagSeconds() {
      return lagSeconds;
    },
    stop() {
      clearInterval(timer);
    },
  };
}

function isSinkList(sinks: LagSink | readonly LagSink[]): sinks is readonly LagSink[] {
  return Array.isArray(sinks);
}
