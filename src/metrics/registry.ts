// A small Prometheus metrics registry for one process. Metrics sit on the reservation hot path, so
// the intended use is to bind each label set once at start-up (`counter.labels("hold", "sold_out")`)
// and keep the returned child: counting is then one addition, with no string building, no map
// lookup and no allocation. The `inc(labels, n)` forms are for cold paths. Rendering goes through a
// plain-data snapshot (exposition.ts), which is also what worker processes hand to the one that
// answers `GET /metrics`.
import {
  renderSnapshot,
  type GaugeMerge,
  type HistogramSample,
  type MetricSnapshot,
  type RegistrySnapshot,
  type ValueSample,
} from "./exposition.ts";

export type Labels<L extends string> = Readonly<Record<L, string>>;

export interface MetricOptions<L extends string> {
  name: string;
  help: string;
  labelNames?: readonly L[];
  /** Most label sets one metric may hold; reaching it means an unbounded label (a bug) and throws. */
  seriesMax?: number;
}

const SERIES_MAX_DEFAULT = 1_000;
const METRIC_NAME_PATTERN = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME_PATTERN = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Request latencies from half a millisecond to ten seconds. */
export const LATENCY_BUCKETS_SECONDS: readonly number[] = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

abstract class Metric<L extends string, C> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly L[];
  private readonly seriesMax: number;
  // Keyed by the label values joined with NUL, which no sensible label value contains.
  private readonly series = new Map<string, { values: string[]; child: C }>();
  private unlabelled: C | undefined;

  constructor(options: MetricOptions<L>) {
    if (!METRIC_NAME_PATTERN.test(options.name)) throw new Error(`metrics: bad metric name ${options.name}`);
    for (const label of options.labelNames ?? []) {
      if (!LABEL_NAME_PATTERN.test(label) || label.startsWith("__")) {
        throw new Error(`metrics: bad label name ${label} on ${options.name}`);
      }
    }
    this.name = options.name;
    this.help = options.help;
    this.labelNames = [...(options.labelNames ?? [])];
    this.seriesMax = options.seriesMax ?? SERIES_MAX_DEFAULT;
  }

  /** The child for these label values, in `labelNames` order; keep it and count on it. */
  labels(...values: string[]): C {
    const key = values.join("\u0000");
    const found = this.series.get(key);
    if (found !== undefined) return found.child;
    if (values.length !== this.labelNames.length) {
      throw new Error(`metrics: ${this.name} takes labels (${this.labelNames.join(", ")}), got ${values.length} values`);
    }
    if (this.series.size >= this.seriesMax) {
      throw new Error(`metrics: ${this.name} reached ${this.seriesMax} label sets; is a label unbounded?`);
    }
    const child = this.newChild();
    this.series.set(key, { values, child });
    return child;
  }

  protected child(labels: Labels<L>): C {
    return this.labels(...this.labelNames.map((name) => labels[name]));
  }

  /** The one child of a metric without labels; an unlabelled metric shows 0 before its first use. */
  protected root(): C {
    if (this.unlabelled !== undefined) return this.unlabelled;
    if (this.labelNames.length !== 0) throw new Error(`metrics: ${this.name} needs label values`);
    this.unlabelled = this.labels();
    return this.unlabelled;
  }

  protected eachSeries(): Iterable<{ values: string[]; child: C }> {
    if (this.labelNames.length === 0) this.root();
    return this.series.values();
  }

  protected abstract newChild(): C;
  abstract snapshot(): MetricSnapshot;
}

export class CounterChild {
  value = 0;
  inc(n = 1): void {
    if (!(n >= 0)) throw new RangeError(`metrics: a counter only goes up, got ${n}`);
    this.value += n;
  }
}

export interface CounterOptions<L extends string> extends MetricOptions<L> {
  /**
   * Called at every scrape for a count kept elsewhere (the process's CPU seconds): its readings are
   * the counter's samples. A counter read this way is not counted on.
   */
  collect?: () => number | readonly GaugeReading[];
}

export class Counter<L extends string = never> extends Metric<L, CounterChild> {
  private readonly collect: CounterOptions<L>["collect"];

  constructor(options: CounterOptions<L>) {
    super(options);
    this.collect = options.collect;
  }

  inc(n?: number): void;
  inc(labels: Labels<L>, n?: number): void;
  inc(labelsOrN?: Labels<L> | number, n = 1): void {
    if (typeof labelsOrN === "object") this.child(labelsOrN).inc(n);
    else this.root().inc(labelsOrN ?? 1);
  }
  protected newChild(): CounterChild {
    return new CounterChild();
  }
  snapshot(): MetricSnapshot {
    const samples = this.collect === undefined ? valueSamples(this.eachSeries()) : collected(this, this.collect());
    return { type: "counter", ...head(this), samples };
  }
}

export class GaugeChild {
  value = 0;
  set(value: number): void {
    this.value = value;
  }
  inc(n = 1): void {
    this.value += n;
  }
  dec(n = 1): void {
    this.value -= n;
  }
}

/** One value a gauge's `collect` callback reports; `labels` in `labelNames` order. */
export interface GaugeReading {
  labels: readonly string[];
  value: number;
}

/** The samples of a `collect` callback's readings, checked against the metric's labels. */
function collected(metric: { name: string; labelNames: readonly string[] }, readings: number | readonly GaugeReading[]): ValueSample[] {
  if (typeof readings === "number") {
    if (metric.labelNames.length !== 0) throw new Error(`metrics: ${metric.name} collect must give labelled readings`);
    return [{ labels: [], value: readings }];
  }
  return readings.map((reading) => {
    if (reading.labels.length !== metric.labelNames.length) throw new Error(`metrics: ${metric.name} reading has wrong labels`);
    return { labels: [...reading.labels], value: reading.value };
  });
}

export interface GaugeOptions<L extends string> extends MetricOptions<L> {
  /** Called at every scrape; its readings replace whatever was set on the gauge. */
  collect?: () => number | readonly GaugeReading[];
  /** How processes combine; "sum" unless the value means something only as a maximum. */
  merge?: GaugeMerge;
}

export class Gauge<L extends string = never> extends Metric<L, GaugeChild> {
  private readonly collect: GaugeOptions<L>["collect"];
  private readonly merge: GaugeMerge;

  constructor(options: GaugeOptions<L>) {
    super(options);
    this.collect = options.collect;
    this.merge = options.merge ?? "sum";
  }

  set(value: number): void;
  set(labels: Labels<L>, value: number): void;
  set(labelsOrValue: Labels<L> | number, value?: number): void {
    if (typeof labelsOrValue === "object") this.child(labelsOrValue).set(value ?? 0);
    else this.root().set(labelsOrValue);
  }
  inc(n?: number): void;
  inc(labels: Labels<L>, n?: number): void;
  inc(labelsOrN?: Labels<L> | number, n = 1): void {
    if (typeof labelsOrN === "object") this.child(labelsOrN).inc(n);
    else this.root().inc(labelsOrN ?? 1);
  }
  dec(n?: number): void;
  dec(labels: Labels<L>, n?: number): void;
  dec(labelsOrN?: Labels<L> | number, n = 1): void {
    if (typeof labelsOrN === "object") this.child(labelsOrN).dec(n);
    else this.root().dec(labelsOrN ?? 1);
  }
  protected newChild(): GaugeChild {
    return new GaugeChild();
  }
  snapshot(): MetricSnapshot {
    return { type: "gauge", merge: this.merge, ...head(this), samples: this.readSamples() };
  }

  private readSamples(): ValueSample[] {
    return this.collect === undefined ? valueSamples(this.eachSeries()) : collected(this, this.collect());
  }
}

export class HistogramChild {
  /** Per-bucket counts, not cumulative, so that an observation touches one slot; last is +Inf. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(private readonly bounds: Float64Array) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    // NaN would poison the sum forever; an observation that is not a number is dropped.
    if (value !== value) return;
    const bounds = this.bounds;
    let i = 0;
    // A linear scan beats a binary search over the dozen or so buckets histograms have.
    while (i < bounds.length && value > bounds[i]!) i++;
    this.counts[i] = this.counts[i]! + 1;
    this.sum += value;
    this.count += 1;
  }
}

export interface HistogramOptions<L extends string> extends MetricOptions<L> {
  /** Upper bounds in the metric's unit (seconds for durations), increasing; +Inf is implied. */
  buckets: readonly number[];
}

export class Histogram<L extends string = never> extends Metric<L, HistogramChild> {
  private readonly bounds: Float64Array;

  constructor(options: HistogramOptions<L>) {
    super(options);
    if ((options.labelNames as readonly string[] | undefined)?.includes("le")) {
      throw new Error(`metrics: ${options.name} may not use the label "le"`);
    }
    const finite = options.buckets.filter((bound) => bound !== Number.POSITIVE_INFINITY);
    const increasing = finite.every((bound, i) => Number.isFinite(bound) && (i === 0 || bound > finite[i - 1]!));
    if (finite.length === 0 || !increasing) throw new Error(`metrics: ${options.name} buckets must increase`);
    this.bounds = Float64Array.from(finite);
  }

  observe(value: number): void;
  observe(labels: Labels<L>, value: number): void;
  observe(labelsOrValue: Labels<L> | number, value?: number): void {
    if (typeof labelsOrValue === "object") this.child(labelsOrValue).observe(value ?? Number.NaN);
    else this.root().observe(labelsOrValue);
  }
  protected newChild(): HistogramChild {
    return new HistogramChild(this.bounds);
  }
  snapshot(): MetricSnapshot {
    const samples: HistogramSample[] = [];
    for (const { values, child } of this.eachSeries()) {
      samples.push({ labels: [...values], counts: Array.from(child.counts), sum: child.sum, count: child.count });
    }
    return { type: "histogram", ...head(this), buckets: Array.from(this.bounds), samples };
  }
}

/**
 * The metrics of one process, rendered in registration order. `labels` are added to every series
 * at scrape time (the worker's index: see ServerMetrics), so that they cost nothing when counting.
 */
export class Registry {
  private readonly metrics = new Map<string, { snapshot(): MetricSnapshot }>();
  private readonly constNames: string[];
  private readonly constValues: string[];

  constructor(options: { labels?: Readonly<Record<string, string>> } = {}) {
    const labels = Object.entries(options.labels ?? {});
    for (const [name] of labels) {
      if (!LABEL_NAME_PATTERN.test(name) || name.startsWith("__") || name === "le") throw new Error(`metrics: bad constant label ${name}`);
    }
    this.constNames = labels.map(([name]) => name);
    this.constValues = labels.map(([, value]) => value);
  }

  counter<L extends string = never>(options: CounterOptions<L>): Counter<L> {
    return this.add(new Counter(options));
  }
  gauge<L extends string = never>(options: GaugeOptions<L>): Gauge<L> {
    return this.add(new Gauge(options));
  }
  histogram<L extends string = never>(options: HistogramOptions<L>): Histogram<L> {
    return this.add(new Histogram(options));
  }

  snapshot(): RegistrySnapshot {
    const metrics = [...this.metrics.values()].map((metric) => metric.snapshot());
    if (this.constNames.length === 0) return { metrics };
    return { metrics: metrics.map((metric) => this.withConstantLabels(metric)) };
  }

  private withConstantLabels(metric: MetricSnapshot): MetricSnapshot {
    for (const name of this.constNames) {
      if (metric.labelNames.includes(name)) throw new Error(`metrics: ${metric.name} has its own label ${name}`);
    }
    const labelNames = [...this.constNames, ...metric.labelNames];
    const relabel = <S extends { labels: string[] }>(sample: S): S => ({ ...sample, labels: [...this.constValues, ...sample.labels] });
    return metric.type === "histogram"
      ? { ...metric, labelNames, samples: metric.samples.map(relabel) }
      : { ...metric, labelNames, samples: metric.samples.map(relabel) };
  }

  render(): string {
    return renderSnapshot(this.snapshot());
  }

  private add<M extends { readonly name: string; snapshot(): MetricSnapshot }>(metric: M): M {
    if (this.metrics.has(metric.name)) throw new Error(`metrics: ${metric.name} is registered twice`);
    this.metrics.set(metric.name, metric);
    return metric;
  }
}

function head(metric: Metric<string, unknown>): { name: string; help: string; labelNames: string[] } {
  return { name: metric.name, help: metric.help, labelNames: [...metric.labelNames] };
}

function valueSamples(series: Iterable<{ values: string[]; child: { value: number } }>): ValueSample[] {
  const samples: ValueSample[] = [];
  for (const { values, child } of series) samples.push({ labels: [...values], value: child.value });
  return samples;
}
