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
