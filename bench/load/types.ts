// What a load run is asked to do and what it reports, whichever generator runs it (wrk or the
// fallback built on Bun's raw sockets). Both read the same entries files, so every contestant gets
// the same requests.

export type LoadSpec = {
  /** Base URL of the contestant, e.g. http://127.0.0.1:41234. */
  url: string;
  connections: number;
  threads: number;
  /**
   * "cycle": send the entries round and round for `seconds`. "once": send each entry `repeat` times
   * (back to back), then stop; `seconds` is then a cap (0: none).
   */
  mode: "cycle" | "once";
  seconds: number;
  repeat?: number;
  method: "GET" | "POST";
  path: string;
  /** Body of every request whose entry line carries none. */
  body?: string;
  /** Headers sent with every request. */
  headers?: Record<string, string>;
  /** A file with one entry a line: "value" or "value<TAB>body". */
  entriesFile?: string;
  /** The header that carries an entry's value (Authorization, Stampede-Signature). */
  entryHeader?: string;
  /** The generator is stopped after this long whatever happens (ms). */
  hardCapMs?: number;
  /**
   * Send at this fixed rate (requests a second, on a schedule from the start) instead of as fast as
   * the connections go. Only the fallback generator paces (wrk cannot): see runPaced.
   */
  ratePerSecond?: number;
};

export type Counts = Record<string, number>;

export type LoadResult = {
  generator: "wrk" | "bun-sockets";
  /** Requests sent, answered, and harmless reads sent only after a reconnect at the very end. */
  sent: number;
  answered: number;
  fillers: number;
  /** Sent but never answered: cut off by a crash, a socket error or the hard cap. */
  unanswered: number;
  elapsedMs: number;
  /** From the first request to the last success (201, or a payment `confirmed`); -1 if none. */
  lastSuccessAfterMs: number;
  requestsPerSecond: number;
  latencyUs: { p50: number; p90: number; p99: number; p999: number; max: number; mean: number };
  socketErrors: { connect: number; read: number; write: number; timeout: number };
  /** Answers by HTTP status, by problem+json `code`, and by payment `outcome`. */
  status: Counts;
  code: Counts;
  outcome: Counts;
  /** Paced runs: the most requests ever due but not sent because every connection was waiting for an answer. */
  paceBehindMax?: number;
};

/** The shape both generators print on their `bench-result` line. */
export type RawLoadResult = Omit<LoadResult, "generator" | "unanswered" | "requestsPerSecond">;

export function finishResult(generator: LoadResult["generator"], raw: RawLoadResult): LoadResult {
  const elapsedMs = Math.max(raw.elapsedMs, 0.001);
  return {
    generator,
    ...raw,
    unanswered: Math.max(0, raw.sent - raw.answered),
    requestsPerSecond: (raw.answered - raw.fillers) / (elapsedMs / 1000),
  };
}

export function count(counts: Counts, key: string | number): number {
  return counts[String(key)] ?? 0;
}
