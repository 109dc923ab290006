export {
  Counter,
  CounterChild,
  Gauge,
  GaugeChild,
  Histogram,
  HistogramChild,
  LATENCY_BUCKETS_SECONDS,
  Registry,
  type GaugeOptions,
  type GaugeReading,
  type HistogramOptions,
  type Labels,
  type MetricOptions,
} from "./registry.ts";
export {
  PROMETHEUS_CONTENT_TYPE,
  escapeLabelValue,
  formatNumber,
  mergeSnapshots,
  renderSnapshot,
  renderSnapshots,
  type GaugeMerge,
  type HistogramSample,
  type MetricSnapshot,
  type RegistrySnapshot,
  type ValueSample,
} from "./exposition.ts";
export { startEventLoopLagMonitor, type EventLoopLagMonitor, type LagSink } from "./lag.ts";
