// The load generator used when wrk is not on the PATH: HTTP/1.1 over Bun's raw sockets (Bun.connect),
// one request at a time per connection (keep-alive, no pipelining), same entries files and same
// report as bench/load/wrk.lua. It runs as its own process (`bun bench/load/fallback.ts <spec.json>`)
// so that the benchmark's own process stays out of the measurement, and prints one `bench-result` line.
//
// It is slower than wrk (one JavaScript thread makes and parses every request), so on a fast
// contestant it measures the generator as much as the server; the report names the generator used.
// Unlike wrk it can also send at a fixed rate (`ratePerSecond`), for measurements at a given load.

import type { Socket } from "bun";
import { readFileSync } from "node:fs";
import { ResponseParser, type ParsedResponse } from "./http-response.ts";
import type { Counts, LoadSpec, RawLoadResult } from "./types.ts";

type Connection = {
  socket: Socket<Connection> | null;
  parser: ResponseParser;
  sentAt: number;
  awaiting: boolean;
  pending: Uint8Array | null;
};

/** With no answer at all for this long (the contestant died), the run ends and reports what it has. */
const STALL_MS = 5_000;
/** How often a paced run hands due requests to waiting connections: at 5,000/s, 10 at a time. */
const PACE_TICK_MS = 2;

function buildRequests(spec: LoadSpec, host: string): Uint8Array[] {
  const encoder = new TextEncoder();
  const build = (value: string | undefined, body: string | undefined) => {
    const lines = [`${spec.method} ${spec.path} HTTP/1.1`, `Host: ${host}`];
    for (const [name, v] of Object.entries(spec.headers ?? {})) lines.push(`${name}: ${v}`);
    if (value !== undefined && spec.entryHeader) lines.push(`${spec.entryHeader}: ${value}`);
    if (body !== undefined) lines.push("Content-Type: application/json", `Content-Length: ${Buffer.byteLength(body)}`);
    return encoder.encode(`${lines.join("\r\n")}\r\n\r\n${body ?? ""}`);
  };
  const body = spec.body === "" ? undefined : spec.body;
  if (!spec.entriesFile) return [build(undefined, body)];
  const requests: Uint8Array[] = [];
  for (const line of readFileSync(spec.entriesFile, "utf8").split("\n")) {
    if (line === "") continue;
    const tab = line.indexOf("\t");
    requests.push(tab === -1 ? build(line, body) : build(line.slice(0, tab), line.slice(tab + 1)));
  }
  return requests;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

export async function runFallback(spec: LoadSpec): Promise<RawLoadResult> {
  const target = new URL(spec.url);
  const port = Number(target.port || 80);
  const requests = buildRequests(spec, target.host);
  const repeat = spec.repeat ?? 1;
  const total = spec.mode === "once" ? requests.length * repeat : Number.POSITIVE_INFINITY;
  const status: Counts = {};
  const code: Counts = {};
  const outcome: Counts = {};
  let latencies = new Float64Array(1 << 16);
  let answered = 0;
  let sent = 0;
  let lost = 0;
  let lastProgress = performance.now();
  let stopping = false;
  let position = spec.mode === "cycle" ? Math.floor(Math.random() * requests.length) : 0;
  let lastSuccess = -1;
  const socketErrors = { connect: 0, read: 0, write: 0, timeout: 0 };
  const started = performance.now();
  const deadline = spec.seconds > 0 ? started + spec.seconds * 1000 : Number.POSITIVE_INFINITY;
  const hardCap = started + (spec.hardCapMs ?? (spec.seconds > 0 ? (spec.seconds + 30) * 1000 : 600_000));
  let finish: () => void = () => {};
  const finished = new Promise<void>((resolve) => {
    finish = resolve;
  });
  // A paced run sends request n (from 0) no earlier than n / rate seconds after the start; a
  // connection with nothing due waits in `parked` until the pacing timer hands it the next one.
  const rate = spec.ratePerSecond;
  const parked: Connection[] = [];
  let paceBehindMax = 0;
  const due = () => (rate === undefined ? Number.POSITIVE_INFINITY : Math.floor(((performance.now() - started) / 1000) * rate) + 1);
  const nextRequest = (): Uint8Array | null => {
    if (sent >= total || performance.now() >= deadline) return null;
    const index = spec.mode === "once" ? Math.floor(sent / repeat) : position++ % requests.length;
    sent += 1;
    return requests[index] ?? null;
  };
  const maybeFinish = () => {
    if (answered + lost >= sent && (sent >= total || performance.now() >= deadline)) finish();
  };
  const record = (response: ParsedResponse, latencyMs: number) => {
    if (answered >= latencies.length) {
      const grown = new Float64Array(latencies.length * 2);
      grown.set(latencies);
      latencies = grown;
    }
    latencies[answered] = latencyMs * 1000;
    answered += 1;
    lastProgress = performance.now();
    status[response.status] = (status[response.status] ?? 0) + 1;
    if (response.status >= 400) {
      const match = /"code"\s*:\s*"([A-Za-z0-9_]+)"/.exec(response.body);
      if (match?.[1]) code[match[1]] = (code[match[1]] ?? 0) + 1;
    } else if (response.status < 300) {
      const match = /"outcome"\s*:\s*"([A-Za-z0-9_]+)"/.exec(response.body);
      if (match?.[1]) outcome[match[1]] = (outcome[match[1]] ?? 0) + 1;
      if (response.status === 201 || match?.[1] === "confirmed") lastSuccess = performance.now();
    }
  };
  const send = (connection: Connection) => {
    if (rate !== undefined && sent >= due() && performance.now() < deadline) {
      parked.push(connection);
      return;
    }
    const request = nextRequest();
    if (request === null || connection.socket === null) return maybeFinish();
    connection.sentAt = performance.now();
    connection.awaiting = true;
    const written = connection.socket.write(request);
    // A partial write is finished from the drain handler (Bun may take only part of the data).
    connection.pending = written < request.byteLength ? request.subarray(written) : null;
  };
  const open = async (connection: Connection): Promise<void> => {
    try {
      connection.socket = await Bun.connect<Connection>({
        hostname: target.hostname,
        port,
        data: connection,
        socket: {
          data(socket, chunk) {
            const c = socket.data;
            for (const response of c.parser.push(chunk)) {
              c.awaiting = false;
              record(response, performance.now() - c.sentAt);
              if (response.close) {
                socket.end();
                c.socket = null;
                void open(c);
                return;
              }
              send(c);
            }
          },
          drain(socket) {
            const c = socket.data;
            if (c.pending === null) return;
            const written = socket.write(c.pending);
            c.pending = written < c.pending.byteLength ? c.pending.subarray(written) : null;
          },
          close(socket) {
            const c = socket.data;
            if (!stopping && c.socket === socket) {
              socketErrors.read += 1;
              if (c.awaiting) lost += 1;
              c.awaiting = false;
              c.socket = null;
              c.parser = new ResponseParser();
              if (performance.now() < hardCap) setTimeout(() => void open(c), 10);
            }
          },
          error() {
            if (!stopping) socketErrors.read += 1;
          },
        },
      });
      send(connection);
    } catch {
      socketErrors.connect += 1;
      if (performance.now() < hardCap) setTimeout(() => void open(connection), 50);
    }
  };
  const connections: Connection[] = Array.from({ length: spec.connections }, () => ({
    socket: null,
    parser: new ResponseParser(),
    sentAt: 0,
    awaiting: false,
    pending: null,
  }));
  for (const connection of connections) void open(connection);
  const pacer =
    rate === undefined
      ? null
      : setInterval(() => {
          const dueNow = Math.min(due(), total);
          while (sent < dueNow && parked.length > 0) {
            const connection = parked.pop() as Connection;
            if (connection.socket !== null) send(connection);
          }
          paceBehindMax = Math.max(paceBehindMax, dueNow - sent);
          if (performance.now() >= deadline) for (const connection of parked.splice(0)) send(connection);
        }, PACE_TICK_MS);
  // A deadline passes while every connection waits for an answer, so check it on a timer too.
  const ticker = setInterval(() => {
    maybeFinish();
    const now = performance.now();
    if (now >= hardCap || now - lastProgress > STALL_MS) finish();
  }, 20);
  await finished;
  clearInterval(ticker);
  if (pacer !== null) clearInterval(pacer);
  const ended = performance.now();
  stopping = true;
  for (const connection of connections) connection.socket?.end();
  const sorted = latencies.slice(0, answered).sort();
  let sum = 0;
  for (const value of sorted) sum += value;
  return {
    sent,
    answered,
    fillers: 0,
    elapsedMs: ended - started,
    lastSuccessAfterMs: lastSuccess < 0 ? -1 : lastSuccess - started,
    latencyUs: {
      p50: percentile(sorted, 50),
      p90: percentile(sorted, 90),
      p99: percentile(sorted, 99),
      p999: percentile(sorted, 99.9),
      max: sorted[sorted.length - 1] ?? 0,
      mean: sorted.length === 0 ? 0 : sum / sorted.length,
    },
    socketErrors,
    status,
    code,
    outcome,
    ...(rate === undefined ? {} : { paceBehindMax }),
  };
}

if (import.meta.main) {
  const specFile = process.argv[2];
  if (specFile === undefined) throw new Error("usage: bun bench/load/fallback.ts <spec.json>");
  const result = await runFallback(JSON.parse(readFileSync(specFile, "utf8")) as LoadSpec);
  process.stdout.write(`bench-result ${JSON.stringify(result)}\n`);
  process.exit(0);
}
