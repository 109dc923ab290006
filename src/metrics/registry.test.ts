// The registry must render what Prometheus parses (exposition format 0.0.4) and must add up the
// snapshots of several worker processes into one scrape.
import { describe, expect, test } from "bun:test";
import {
  PROMETHEUS_CONTENT_TYPE,
  Registry,
  mergeSnapshots,
  renderSnapshots,
  startEventLoopLagMonitor,
  type RegistrySnapshot,
} from "./index.ts";

describe("Registry.render", () => {
  test("counters: HELP and TYPE lines, labels, unlabelled metrics show 0 before use", () => {
    const registry = new Registry();
    const commands = registry.counter({
      name: "stampede_commands_total",
      help: "Ledger commands by kind and outcome.\nSecond line with a \\ backslash.",
      labelNames: ["command", "outcome"],
    });
    registry.counter({ name: "stampede_restarts_total", help: "Worker restarts." });
    const holdSoldOut = commands.labels("hold", "sold_out");
    holdSoldOut.inc();
    holdSoldOut.inc(2);
    commands.inc({ command: "hold", outcome: "held" }, 5);
    expect(commands.labels("hold", "sold_out")).toBe(holdSoldOut);

    expect(registry.render()).toBe(
      [
        "# HELP stampede_commands_total Ledger commands by kind and outcome.\\nSecond line with a \\\\ backslash.",
        "# TYPE stampede_commands_total counter",
        'stampede_commands_total{command="hold",outcome="sold_out"} 3',
        'stampede_commands_total{command="hold",outcome="held"} 5',
        "# HELP stampede_restarts_total Worker restarts.",
        "# TYPE stampede_restarts_total counter",
        "stampede_restarts_total 0",
        "",
      ].join("\n"),
    );
    expect(PROMETHEUS_CONTENT_TYPE).toBe("text/plain; version=0.0.4; charset=utf-8");
  });

  test("histograms: cumulative buckets, le is inclusive, +Inf equals the count, then sum and count", () => {
    const registry = new Registry();
    const latency = registry.histogram({
      name: "stampede_request_seconds",
      help: "Request latency.",
      labelNames: ["route"],
      buckets: [0.005, 0.01, 0.1],
    });
    const reserve = latency.labels("reserve");
    for (const seconds of [0.001, 0.005, 0.007, 0.05, 0.05, 3]) reserve.observe(seconds);
    reserve.observe(Number.NaN); // dropped, or the sum would be NaN forever

    const lines = registry.render().split("\n");
    expect(lines).toEqual([
      "# HELP stampede_request_seconds Request latency.",
      "# TYPE stampede_request_seconds histogram",
      'stampede_request_seconds_bucket{route="reserve",le="0.005"} 2',
      'stampede_request_seconds_bucket{route="reserve",le="0.01"} 3',
      'stampede_request_seconds_bucket{route="reserve",le="0.1"} 5',
      'stampede_request_seconds_bucket{route="reserve",le="+Inf"} 6',
      `stampede_request_seconds_sum{route="reserve"} ${0.001 + 0.005 + 0.007 + 0.05 + 0.05 + 3}`,
      'stampede_request_seconds_count{route="reserve"} 6',
      "",
    ]);
  });

  test("label values escape backslash, double quote and line feed", () => {
    const registry = new Registry();
    registry.counter({ name: "odd_total", help: "Odd labels.", labelNames: ["value"] }).labels('a"b\\c\nd').inc();
    expect(registry.render()).toContain('odd_total{value="a\\"b\\\\c\\nd"} 1\n');
  });

  test("gauges: set, inc and dec, or a collect callback read at scrape time", () => {
    const registry = new Registry();
    const queue = registry.gauge({ name: "stampede_queue_depth", help: "Queued commands." });
    queue.set(10);
    queue.inc(3);
    queue.dec();
    let open = 4;
    registry.gauge({ name: "stampede_open_sales", help: "Open sales.", collect: () => open });
    registry.gauge({
      name: "stampede_held_units",
      help: "Units held.",
      labelNames: ["sale"],
      collect: () => [{ labels: ["s1"], value: 7 }],
    });
    open = 5;
    const text = registry.render();
    expect(text).toContain("# TYPE stampede_queue_depth gauge\nstampede_queue_depth 12\n");
    expect(text).toContain("stampede_open_sales 5\n");
    expect(text).toContain('stampede_held_units{sale="s1"} 7\n');
  });

  test("mistakes are loud: wrong label count, unbounded labels, negative counts, bad buckets, twice registered", () => {
    const registry = new Registry();
    const counter = registry.counter({ name: "c_total", help: "c", labelNames: ["a"], seriesMax: 2 });
    expect(() => counter.labels("x", "y")).toThrow();
    expect(() => counter.inc()).toThrow();
    counter.labels("1");
    counter.labels("2");
    expect(() => counter.labels("3")).toThrow(/unbounded/);
    expect(() => counter.labels("1").inc(-1)).toThrow(RangeError);
    expect(() => registry.counter({ name: "c_total", help: "again" })).toThrow(/twice/);
    expect(() => registry.histogram({ name: "h", help: "h", buckets: [0.1, 0.1] })).toThrow();
    expect(() => registry.histogram({ name: "h2", help: "h", buckets: [1], labelNames: ["le"] })).toThrow();
    expect(() => registry.counter({ name: "bad-name", help: "x" })).toThrow();
  });
});

describe("merging processes", () => {
  function workerSnapshot(holds: number, latencies: number[], queueDepth: number, lag: number): RegistrySnapshot {
    const registry = new Registry();
    const commands = registry.counter({ name: "commands_total", help: "Commands.", labelNames: ["outcome"] });
    commands.labels("held").inc(holds);
    if (holds > 2) commands.labels("sold_out").inc();
    const latency = registry.histogram({ name: "latency_seconds", help: "Latency.", buckets: [0.01, 0.1] });
    for (const seconds of latencies) latency.observe(seconds);
    registry.gauge({ name: "queue_depth", help: "Queue." }).set(queueDepth);
    registry.gauge({ name: "lag_seconds_max", help: "Worst lag.", merge: "max" }).set(lag);
    // Snapshots cross a process boundary as JSON (or structured clone); prove they survive it.
    return JSON.parse(JSON.stringify(registry.snapshot())) as RegistrySnapshot;
  }

  test("counters, histograms and gauges add up; max gauges take the largest; label sets are unioned", () => {
    const a = workerSnapshot(2, [0.005, 0.05], 3, 0.02);
    const b = workerSnapshot(5, [0.5], 4, 0.01);
    expect(renderSnapshots([a, b])).toBe(
      [
        "# HELP commands_total Commands.",
        "# TYPE commands_total counter",
        'commands_total{outcome="held"} 7',
        'commands_total{outcome="sold_out"} 1',
        "# HELP latency_seconds Latency.",
        "# TYPE latency_seconds histogram",
        'latency_seconds_bucket{le="0.01"} 1',
        'latency_seconds_bucket{le="0.1"} 2',
        'latency_seconds_bucket{le="+Inf"} 3',
        "latency_seconds_sum 0.555",
        "latency_seconds_count 3",
        "# HELP queue_depth Queue.",
        "# TYPE queue_depth gauge",
        "queue_depth 7",
        "# HELP lag_seconds_max Worst lag.",
        "# TYPE lag_seconds_max gauge",
        "lag_seconds_max 0.02",
        "",
      ].join("\n"),
    );
    // Merging does not touch its inputs, so a cached snapshot can be merged again next scrape.
    expect(JSON.stringify(a)).toBe(JSON.stringify(workerSnapshot(2, [0.005, 0.05], 3, 0.02)));
    expect(mergeSnapshots([a])).toEqual(a);
  });

  test("processes that disagree on a metric's shape are a bug and throw", () => {
    const one = new Registry();
    one.counter({ name: "x_total", help: "x" });
    const other = new Registry();
    other.gauge({ name: "x_total", help: "x" });
    expect(() => mergeSnapshots([one.snapshot(), other.snapshot()])).toThrow(/disagree/);
  });
});

describe("startEventLoopLagMonitor", () => {
  test("a blocked event loop shows up as lag in the gauge and the histogram", async () => {
    const registry = new Registry();
    const gauge = registry.gauge({ name: "lag_seconds", help: "Lag." });
    const histogram = registry.histogram({ name: "lag_hist_seconds", help: "Lag.", buckets: [0.01, 0.05] });
    const monitor = startEventLoopLagMonitor([gauge, histogram], 10);
    try {
      await Bun.sleep(30);
      const until = performance.now() + 120;
      while (performance.now() < until) {
        // Hold the loop the way a long synchronous task would.
      }
      await Bun.sleep(60);
      expect(monitor.lagSeconds).toBeLessThan(0.05); // the ticks after the block are quiet again
      const text = registry.render();
      expect(text).toMatch(/^lag_seconds \d/m);
      const histogramLines = /le="0.05"\} (\d+)\nlag_hist_seconds_bucket\{le="\+Inf"\} (\d+)\nlag_hist_seconds_sum (\S+)/.exec(text);
      // At least the tick that waited behind the block saw more than 50 ms (a loaded machine may add more).
      expect(Number(histogramLines?.[2]) - Number(histogramLines?.[1])).toBeGreaterThanOrEqual(1);
      // The block lasted 120 ms; the tick due inside it was late by at least 120 ms minus one interval.
      expect(Number(histogramLines?.[3])).toBeGreaterThanOrEqual(0.1);
    } finally {
      monitor.stop();
    }
  });
});

describe("constant labels and collected counters", () => {
  test("a registry's labels go first on every series, histograms included, at scrape time", () => {
    const registry = new Registry({ labels: { worker: "3" } });
    registry.counter({ name: "c_total", help: "c", labelNames: ["code"] }).labels("sold_out").inc(2);
    registry.histogram({ name: "h_seconds", help: "h", buckets: [0.1] }).observe(0.05);
    registry.gauge({ name: "g", help: "g" }).set(7);
    const text = registry.render();
    expect(text).toContain('c_total{worker="3",code="sold_out"} 2');
    expect(text).toContain('h_seconds_bucket{worker="3",le="0.1"} 1');
    expect(text).toContain('h_seconds_count{worker="3"} 1');
    expect(text).toContain('g{worker="3"} 7');
    // Two workers' snapshots stay apart when rendered together.
    const other = new Registry({ labels: { worker: "4" } });
    other.gauge({ name: "g", help: "g" }).set(1);
    const merged = renderSnapshots([registry.snapshot(), other.snapshot()]);
    expect(merged).toContain('g{worker="3"} 7\ng{worker="4"} 1');
    expect(() => new Registry({ labels: { le: "1" } })).toThrow();
  });

  test("a counter may be read at scrape time (the process's CPU seconds)", () => {
    const registry = new Registry();
    let seconds = 1.5;
    registry.counter({ name: "cpu_seconds_total", help: "cpu", collect: () => seconds });
    expect(registry.render()).toContain("cpu_seconds_total 1.5");
    seconds = 2;
    expect(registry.render()).toContain("cpu_seconds_total 2");
  });
});
