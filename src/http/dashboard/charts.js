// The two charts: holds, confirmations and refusals per second, and hold latency. The stream carries
// cumulative counters (as /metrics does); once a second the page takes the latest ones and
// differences them against the second before, the way Prometheus' rate() does (a counter that went
// down means the server restarted, and then the new value is the increase). uPlot draws them.

/** Ten minutes of one-second points. */
const HISTORY_POINTS = 600;
/** The time axis spans at least this much, so that the first seconds do not stretch across the chart. */
const WINDOW_MIN_SECONDS = 60;
const CHART_HEIGHT_PX = 220;

const COLORS = { holds: "#58a6ff", confirmed: "#3fb950", refused: "#f85149", p50: "#58a6ff", p99: "#d29922", axis: "#8b9bab", grid: "#223040" };

const increase = (now, before) => (now >= before ? now - before : now);

/** The q-quantile, in seconds, of the observations between two cumulative histograms; null without any. */
export function quantileBetween(q, now, before) {
  const total = increase(now.count, before?.count ?? 0);
  if (total <= 0) return null;
  const earlier = new Map((before?.buckets ?? []).map(([bound, count]) => [bound, count]));
  const rank = q * total;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const [bound, count] of now.buckets) {
    const inWindow = increase(count, earlier.get(bound) ?? 0);
    if (inWindow >= rank) {
      const span = inWindow - lowerCount;
      return span <= 0 ? bound : lowerBound + ((bound - lowerBound) * (rank - lowerCount)) / span;
    }
    lowerBound = bound;
    lowerCount = inWindow;
  }
  // Past the largest bound: that bound is the most that can be said.
  return lowerBound > 0 ? lowerBound : null;
}

const sumValues = (record) => Object.values(record ?? {}).reduce((sum, value) => sum + value, 0);

/** Per-second rates and latencies between two snapshots' counters taken `seconds` apart. */
export function ratesBetween(now, before, seconds) {
  const latency = now.holdLatency;
  const latencyBefore = before.holdLatency;
  const holdsTimed = increase(latency.count, latencyBefore.count);
  return {
    holds: increase(now.holds, before.holds) / seconds,
    confirmed: increase(now.confirmations, before.confirmations) / seconds,
    refused: increase(sumValues(now.refusals), sumValues(before.refusals)) / seconds,
    p50Ms: msOrNull(quantileBetween(0.5, latency, latencyBefore)),
    p99Ms: msOrNull(quantileBetween(0.99, latency, latencyBefore)),
    meanMs: holdsTimed > 0 ? (1000 * increase(latency.sumSeconds, latencyBefore.sumSeconds)) / holdsTimed : null,
  };
}

const msOrNull = (seconds) => (seconds === null ? null : Math.round(seconds * 100_000) / 100);

function axes(unit) {
  const style = { stroke: COLORS.axis, grid: { stroke: COLORS.grid, width: 1 }, ticks: { stroke: COLORS.grid, width: 1 } };
  return [style, { ...style, size: 56, values: (_, ticks) => ticks.map((v) => `${formatShort(v)}${unit}`) }];
}

function formatShort(value) {
  if (Math.abs(value) >= 1_000_000) return `${(value / 1_000_000).toFixed(1)}M`;
  if (Math.abs(value) >= 10_000) return `${Math.round(value / 1000)}k`;
  return String(Math.round(value * 100) / 100);
}

export class Charts {
  constructor(ratesElement, latencyElement) {
    this.times = [];
    this.series = { holds: [], confirmed: [], refused: [], p50Ms: [], p99Ms: [], meanMs: [] };
    this.previous = null;
    this.latest = null;
    const line = (label, stroke, extra = {}) => ({ label, stroke, width: 2, points: { show: false }, ...extra });
    // A latency exists only in seconds with holds, often one here and there: points keep it visible.
    const dots = (stroke) => ({ points: { show: true, size: 5, stroke, fill: stroke } });
    // The legend names the lines; live values under a cursor would read "--" most of the time.
    const base = {
      width: ratesElement.clientWidth || 600,
      height: CHART_HEIGHT_PX,
      cursor: { drag: { x: false, y: false } },
      legend: { live: false },
    };
    const xScale = {
      time: true,
      range: (_, min, max) => {
        const end = max ?? Date.now() / 1000;
        return [Math.min(min ?? end, end - WINDOW_MIN_SECONDS), end];
      },
    };
    const yScale = { range: (_, min, max) => [0, Math.max(1, (max ?? 0) * 1.1)] };
    this.rates = new uPlot(
      {
        ...base,
        scales: { x: xScale, y: yScale },
        axes: axes(""),
        series: [{}, line("holds/s", COLORS.holds), line("confirmed/s", COLORS.confirmed), line("refused/s", COLORS.refused)],
      },
      this.ratesData(),
      ratesElement,
    );
    this.latency = new uPlot(
      {
        ...base,
        scales: { x: xScale, y: yScale },
        axes: axes(" ms"),
        series: [{}, line("p50", COLORS.p50, dots(COLORS.p50)), line("p99", COLORS.p99, dots(COLORS.p99)), line("mean", COLORS.axis, { dash: [4, 4], width: 1 })],
      },
      this.latencyData(),
      latencyElement,
    );
    const observer = new ResizeObserver(() => {
      this.rates.setSize({ width: ratesElement.clientWidth, height: CHART_HEIGHT_PX });
      this.latency.setSize({ width: latencyElement.clientWidth, height: CHART_HEIGHT_PX });
    });
    observer.observe(ratesElement);
    observer.observe(latencyElement);
  }

  ratesData() {
    return [this.times, this.series.holds, this.series.confirmed, this.series.refused];
  }

  latencyData() {
    return [this.times, this.series.p50Ms, this.series.p99Ms, this.series.meanMs];
  }

  /**
   * One point a second: `counters` are the latest the stream sent (null while it is down, which
   * leaves a gap rather than a false zero).
   */
  sample(counters, nowMs) {
    const seconds = nowMs / 1000;
    let point = null;
    if (counters !== null && this.previous !== null && seconds > this.previous.seconds) {
      point = ratesBetween(counters, this.previous.counters, seconds - this.previous.seconds);
    }
    this.previous = counters === null ? null : { seconds, counters };
    this.latest = point;
    this.times.push(seconds);
    for (const [name, values] of Object.entries(this.series)) values.push(point === null ? null : point[name]);
    if (this.times.length > HISTORY_POINTS) {
      this.times.shift();
      for (const values of Object.values(this.series)) values.shift();
    }
    this.rates.setData(this.ratesData());
    this.latency.setData(this.latencyData());
    return point;
  }
}
