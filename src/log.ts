// Structured logs: one JSON object per line on stderr, with a time, a level and a message. Lines
// are buffered and written once per event-loop turn, so logging never blocks the hot path on a slow
// stderr; past LOG_BUFFER_MAX pending lines new ones are dropped and counted. Callers pass fixed
// fields only: never a token, a secret, a code or a request body.

export type Level = "debug" | "info" | "warn" | "error" | "fatal";

/** Most lines waiting to be written; beyond it lines are dropped (and the drop is logged). */
const LOG_BUFFER_MAX = 10_000;

let pending: string[] = [];
let dropped = 0;
let scheduled = false;

function flush(): void {
  scheduled = false;
  if (dropped > 0) {
    pending.push(JSON.stringify({ time: new Date().toISOString(), level: "warn", msg: "log lines dropped", dropped }));
    dropped = 0;
  }
  const text = `${pending.join("\n")}\n`;
  pending = [];
  process.stderr.write(text);
}

export function log(level: Level, msg: string, fields: Record<string, unknown> = {}): void {
  if (pending.length >= LOG_BUFFER_MAX) {
    dropped += 1;
    return;
  }
  pending.push(JSON.stringify({ time: new Date().toISOString(), level, msg, pid: process.pid, ...fields }));
  if (level === "fatal") {
    flush(); // the process is about to exit: write now
    return;
  }
  if (!scheduled) {
    scheduled = true;
    setImmediate(flush);
  }
}

/** Write what is buffered now (before exiting). */
export function flushLog(): void {
  if (pending.length > 0 || dropped > 0) flush();
}

// ---- The operator's trail -------------------------------------------------------------------------
// Audit lines record what changed a sale and who asked: `event` names it ("sale.created", "sale.paused",
// "sale.sold_out", ...) so that a log query can pick the trail out of everything else. They carry ids,
// counts and the client's address, never a token, a secret, a code or a body.

export function audit(event: string, msg: string, fields: Record<string, unknown> = {}): void {
  log("info", msg, { event, ...fields });
}

/** How long repeated lines of one kind are gathered into one summary. */
export const REPEAT_WINDOW_MS = 10_000;
/** Kinds of repeated line tracked at once; past it new kinds share one "other" line (bounded memory). */
const REPEAT_KINDS_MAX = 1_000;
const OTHER_KINDS = "\u0000other";

type Repeat = { level: Level; msg: string; event: string; fields: Record<string, unknown>; count: number };

/**
 * Lines that can come thousands of times a second (401s from a buyer with a stale token, shed
 * requests, refused webhook signatures) are rate limited: the first of a kind in a window is
 * written at once, the rest are counted, and when the window ends one line says how many there
 * were ("401 x 1546 in the last 10 s"). A repeat costs a map lookup and an addition.
 */
export class RepeatedLines {
  private readonly open = new Map<string, Repeat>();
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(
    private readonly write: (level: Level, msg: string, fields: Record<string, unknown>) => void = log,
    private readonly windowMs = REPEAT_WINDOW_MS,
  ) {}

  /**
   * Note one occurrence of `key` (a kind of line: "unauthorized /v1/admin/sales", "shed holds").
   * `fields` are those of the first occurrence; later ones are only counted.
   */
  note(key: string, level: Level, event: string, msg: string, fields: Record<string, unknown> = {}): void {
    const found = this.open.get(key);
    if (found !== undefined) {
      found.count += 1;
      return;
    }
    if (this.open.size >= REPEAT_KINDS_MAX && key !== OTHER_KINDS) {
      // One more entry at most: every kind past the bound is counted on this one.
      this.note(OTHER_KINDS, "warn", "log.repeated", "repeated lines of too many kinds");
      return;
    }
    this.open.set(key, { level, msg, event, fields, count: 0 });
    this.write(level, msg, { event, ...fields });
    if (this.timer === null) {
      this.timer = setInterval(() => this.flush(), this.windowMs);
      this.timer.unref?.();
    }
  }

  /** Write the summary of every kind that repeated in the window that ends now, and start anew. */
  flush(): void {
    const seconds = Math.round(this.windowMs / 1000);
    for (const repeat of this.open.values()) {
      if (repeat.count === 0) continue;
      this.write(repeat.level, `${repeat.msg} x ${repeat.count} more in the last ${seconds} s`, {
        event: repeat.event,
        ...repeat.fields,
        repeated: repeat.count,
        windowSeconds: seconds,
      });
    }
    this.open.clear();
    if (this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }
}

/** The process's repeated-line limiter: refusals in bulk go through it. */
export const repeated = new RepeatedLines();
