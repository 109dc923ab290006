// The dashboard's pure parts: reading /metrics text back, the stream's snapshot, the page's SSE parser
// (dashboard's sse.js, run here outside a browser) and its latency quantiles.

import { describe, expect, test } from "bun:test";
import { parseSamples, sumOf } from "../../src/http/dashboard/prometheus-text.ts";
import { buildSnapshot } from "../../src/http/dashboard/snapshot.ts";
// @ts-ignore -- plain browser JavaScript, without types.
import { quantileBetween, ratesBetween } from "../../src/http/dashboard/charts.js";
// @ts-ignore -- see above.
import { SseParser } from "../../src/http/dashboard/sse.js";

const METRICS = `# HELP stampede_commands_total Ledger commands by kind and outcome code.
# TYPE stampede_commands_total counter
stampede_commands_total{command="hold",outcome="ok"} 120
stampede_commands_total{command="hold",outcome="sold_out"} 7
stampede_commands_total{command="hold",outcome="limit_exceeded",worker="1"} 2
stampede_commands_total{command="payment",outcome="confirmed"} 30
stampede_commands_total{command="payment",outcome="confirmed_late"} 1
stampede_commands_total{command="payment",outcome="refund_required"} 2
stampede_hold_refusals_total{code="sold_out",decided_by="owner"} 7
stampede_hold_refusals_total{code="limit_exceeded",decided_by="owner",worker="1"} 2
stampede_hold_refusals_total{code="overloaded",decided_by="gate"} 4
stampede_hold_refusals_total{code="unauthorized",decided_by="gate"} 3
stampede_hold_refusals_total{code="sold_out",decided_by="copy",worker="1"} 5
stampede_http_request_duration_seconds_bucket{route="/v1/sales/:saleId/reservations",status="201",le="0.001"} 100
stampede_http_request_duration_seconds_bucket{route="/v1/sales/:saleId/reservations",status="201",le="0.01"} 118
stampede_http_request_duration_seconds_bucket{route="/v1/sales/:saleId/reservations",status="201",le="+Inf"} 120
stampede_http_request_duration_seconds_sum{route="/v1/sales/:saleId/reservations",status="201"} 0.25
stampede_http_request_duration_seconds_count{route="/v1/sales/:saleId/reservations",status="201"} 120
stampede_http_request_duration_seconds_count{route="/v1/sales/:saleId/reservations",status="409"} 9
stampede_shed_requests{kind="holds"} 4
stampede_shed_requests{kind="reads"} 0
stampede_write_behind_backlog_events 12
stampede_event_loop_lag_seconds 0.0123
stampede_sale_units{sale="a \\"quoted\\" \\\\ sale",item="x",state="held"} 3
`;

const readiness = { ready: true, reasons: [], journalBacklog: 12, storeError: null };

describe("metrics text", () => {
  test("samples with escaped label values, by prefix", () => {
    const samples = parseSamples(METRICS, ["stampede_sale_units", "stampede_commands_total"]);
    expect(samples).toHaveLength(7);
    expect(samples.at(-1)).toEqual({ name: "stampede_sale_units", labels: { sale: 'a "quoted" \\ sale', item: "x", state: "held" }, value: 3 });
    expect(sumOf(samples, "stampede_commands_total", { command: "hold" })).toBe(129);
    expect(parseSamples("broken{a=1} 2\nok 3\n", ["broken", "ok"])).toEqual([{ name: "ok", labels: {}, value: 3 }]);
  });

  test("the snapshot's counters and health", () => {
    const snapshot = buildSnapshot({ sales: [], salesError: null, readiness, metricsText: METRICS });
    expect(snapshot.counters).toEqual({
      holds: 120,
      confirmations: 31,
      refundsRequired: 2,
      refusals: { sold_out: 12, limit_exceeded: 2, overloaded: 4, unauthorized: 3 },
      holdLatency: { count: 120, sumSeconds: 0.25, buckets: [[0.001, 100], [0.01, 118]] },
    });
    expect(snapshot.health).toMatchObject({ ready: true, workers: 1, writeBehindBacklogEvents: 12, shed: { holds: 4, reads: 0 } });
    expect(snapshot.health.eventLoopLagSeconds).toBe(0);
  });
});

describe("the page's arithmetic", () => {
  const before = { count: 100, sumSeconds: 0.1, buckets: [[0.001, 90], [0.01, 100]] };
  const now = { count: 200, sumSeconds: 0.6, buckets: [[0.001, 140], [0.01, 195]] };

  test("quantiles interpolate within the bucket of the observations in between", () => {
    // 100 new observations: 50 under 1 ms, 45 more under 10 ms, 5 beyond.
    expect(quantileBetween(0.5, now, before)).toBeCloseTo(0.001, 9);
    expect(quantileBetween(0.9, now, before)).toBeCloseTo(0.001 + (0.009 * 40) / 45, 9);
    expect(quantileBetween(0.99, now, before)).toBe(0.01);
    expect(quantileBetween(0.5, before, before)).toBeNull();
  });

  test("rates per second; a counter that went down started again", () => {
    const counters = (holds: number, refused: number) => ({
      holds,
      confirmations: 0,
      refundsRequired: 0,
      refusals: { sold_out: refused },
      holdLatency: before,
    });
    expect(ratesBetween(counters(150, 10), counters(50, 4), 2)).toMatchObject({ holds: 50, refused: 3, p50Ms: null });
    expect(ratesBetween(counters(20, 0), counters(500, 9), 1)).toMatchObject({ holds: 20, refused: 0 });
  });
});

describe("SSE parser", () => {
  test("events split anywhere, CRLF or CR or LF, comments, multi-line data, retry", () => {
    const events: { type: string; data: string }[] = [];
    const parser = new SseParser((event: { type: string; data: string }) => events.push(event));
    const stream = 'retry: 2000\r\n\r\n: heartbeat\n\ndata: {"a":\r\ndata: 1}\r\rdata:x\n\nevent: other\ndata: y\n\n';
    for (let i = 0; i < stream.length; i += 3) parser.push(stream.slice(i, i + 3));
    expect(events).toEqual([
      { type: "message", data: '{"a":\n1}' },
      { type: "message", data: "x" },
      { type: "other", data: "y" },
    ]);
    expect(parser.retryMs).toBe(2000);
  });
});
