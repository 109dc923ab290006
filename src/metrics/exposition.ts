// The plain-data form of a registry (a snapshot), merging snapshots of several processes, and the
// Prometheus text exposition format 0.0.4 rendered from a snapshot. Every worker process keeps its
// own registry, whose series carry the worker's index as the `worker` label (ServerMetrics); the
// process that answers `GET /metrics` gathers every worker's snapshot and renders them together,
// so one scrape covers the whole cluster and each worker's series stay apart. Series that agree on
// every label, worker included, are added up (gauges marked "max" take the largest).

/** The `Content-Type` of a `GET /metrics` answer. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** How a gauge combines across processes; counters and histograms always add up. */
export type GaugeMerge = "sum" | "max";

export interface ValueSample {
  /** Label values, in the order of the metric's `labelNames`. */
  labels: string[];
  value: number;
}

export interface HistogramSample {
  labels: string[];
  /** Per-bucket counts, NOT cumulative; one more than `buckets`, the last one above every bound. */
  counts: number[];
  sum: number;
  count: number;
}

interface MetricHead {
  name: string;
  help: string;
  labelNames: string[];
}

export type MetricSnapshot =
  | (MetricHead & { type: "counter"; samples: ValueSample[] })
  | (MetricHead & { type: "gauge"; merge: GaugeMerge; samples: ValueSample[] })
  | (MetricHead & { type: "histogram"; buckets: number[]; samples: HistogramSample[] });

/** JSON-able (and structured-clone-able) picture of one process's metrics. */
export interface RegistrySnapshot {
  metrics: MetricSnapshot[];
}

/**
 * Adds up snapshots from several processes: a metric's samples with equal label values are summed
 * (gauges marked `merge: "max"` take the largest). Metrics agree across processes because every
 * process runs the same code; a disagreement is a bug and throws.
 */
export function mergeSnapshots(snapshots: readonly RegistrySnapshot[]): RegistrySnapshot {
  const merged = new Map<string, { metric: MetricSnapshot; samples: Map<string, ValueSample | HistogramSample> }>();
  for (const snapshot of snapshots) {
    for (const metric of snapshot.metrics) {
      let entry = merged.get(metric.name);
      if (entry === undefined) {
        entry = { metric: { ...metric, samples: [] }, samples: new Map() };
        merged.set(metric.name, entry);
      } else {
        assertSameShape(entry.metric, metric);
      }
      for (const sample of metric.samples) {
        const key = JSON.stringify(sample.labels);
        const existing = entry.samples.get(key);
        if (existing === undefined) entry.samples.set(key, copySample(sample));
        else addSample(entry.metric, existing, sample);
      }
    }
  }
  const metrics: MetricSnapshot[] = [];
  for (const { metric, samples } of merged.values()) {
    metrics.push({ ...metric, samples: [...samples.values()] } as MetricSnapshot);
  }
  return { metrics };
}

/** Renders the sum of several processes' snapshots. */
export function renderSnapshots(snapshots: readonly RegistrySnapshot[]): string {
  return renderSnapshot(mergeSnapshots(snapshots));
}

/** Renders one snapshot in the Prometheus text format 0.0.4. */
export function renderSnapshot(snapshot: RegistrySnapshot): string {
  const lines: string[] = [];
  for (const metric of snapshot.metrics) {
    lines.push(`# HELP ${metric.name} ${escapeHelp(metric.help)}`, `# TYPE ${metric.name} ${metric.type}`);
    if (metric.type === "histogram") {
      for (const sample of metric.samples) renderHistogramSample(lines, metric.name, metric.labelNames, metric.buckets, sample);
    } else {
      for (const sample of metric.samples) {
        lines.push(`${metric.name}${labelSet(metric.labelNames, sample.labels)} ${formatNumber(sample.value)}`);
      }
    }
  }
  return lines.length === 0 ? "" : `${lines.join("\n")}\n`;
}

function renderHistogramSample(
  lines: string[],
  name: string,
  labelNames: readonly string[],
  buckets: readonly number[],
  sample: HistogramSample,
): void {
  let cumulative = 0;
  for (let i = 0; i < buckets.length; i++) {
    cumulative += sample.counts[i] ?? 0;
    const le = formatNumber(buckets[i] ?? Number.POSITIVE_INFINITY);
    lines.push(`${name}_bucket${labelSet(labelNames, sample.labels, le)} ${formatNumber(cumulative)}`);
  }
  // The +Inf bucket holds every observation, so it is the count by definition.
  lines.push(`${name}_bucket${labelSet(labelNames, sample.labels, "+Inf")} ${formatNumber(sample.count)}`);
  lines.push(`${name}_sum${labelSet(labelNames, sample.labels)} ${formatNumber(sample.sum)}`);
  lines.push(`${name}_count${labelSet(labelNames, sample.labels)} ${formatNumber(sample.count)}`);
}

function labelSet(names: readonly string[], values: readonly string[], le?: string): string {
  const pairs: string[] = [];
  for (let i = 0; i < names.length; i++) pairs.push(`${names[i]}="${escapeLabelValue(values[i] ?? "")}"`);
  if (le !== undefined) pairs.push(`le="${le}"`);
  return pairs.length === 0 ? "" : `{${pairs.join(",")}}`;
}

/** Label values escape backslash, double quote and line feed (exposition format 0.0.4). */
export function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === "\n" ? "\\n" : `\\${c}`));
}

/** HELP text escapes only backslash and line feed. */
function escapeHelp(help: string): string {
  return help.replace(/[\\\n]/g, (c) => (c === "\n" ? "\\n" : "\\\\"));
}

/** Go's float syntax as Prometheus parses it: `+Inf`, `-Inf`, `NaN`, otherwise JavaScript's. */
export function formatNumber(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Number.POSITIVE_INFINITY) return "+Inf";
  if (value === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(value);
}

function assertSameShape(a: MetricSnapshot, b: MetricSnapshot): void {
  const same =
    a.type === b.type &&
    a.labelNames.join(",") === b.labelNames.join(",") &&
    (a.type !== "histogram" || b.type !== "histogram" || a.buckets.join(",") === b.buckets.join(","));
  if (!same) throw new Error(`metrics: processes disagree on the shape of ${a.name}`);
}

function copySample(sample: ValueSample | HistogramSample): ValueSample | HistogramSample {
  return "counts" in sample ? { ...sample, labels: [...sample.labels], counts: [...sample.counts] } : { ...sample, labels: [...sample.labels] };
}

function addSample(metric: MetricSnapshot, into: ValueSample | HistogramSample, from: ValueSample | HistogramSample): void {
  if ("counts" in into && "counts" in from) {
    for (let i = 0; i < into.counts.length; i++) into.counts[i] = (into.counts[i] ?? 0) + (from.counts[i] ?? 0);
    into.sum += from.sum;
    into.count += from.count;
  } else if ("value" in into && "value" in from) {
    into.value = metric.type === "gauge" && metric.merge === "max" ? Math.max(into.value, from.value) : into.value + from.value;
  }
}
