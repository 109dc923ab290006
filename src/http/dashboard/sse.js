// Reads the operator stream. EventSource cannot send an Authorization header, so the stream is read
// with fetch() and its body parsed here as Server-Sent Events (the WHATWG "event stream" rules:
// lines end in CR, LF or CRLF; `data:` lines join with LF; a blank line dispatches; `:` is a comment;
// `retry:` sets the reconnection delay). The connection is re-opened when it ends or goes silent.

import { authHeaders } from "./api.js";

/** The server sends a heartbeat every 5 s; this long without a byte means the connection is dead. */
const SILENCE_MAX_MS = 15_000;
const RETRY_DEFAULT_MS = 2_000;
const RETRY_MAX_MS = 15_000;

export class SseParser {
  constructor(onEvent) {
    this.onEvent = onEvent;
    this.buffer = "";
    this.data = [];
    this.event = "";
    this.retryMs = null;
    this.pendingCr = false;
  }

  push(text) {
    let chunk = text;
    // A CR at the end of the last chunk may be the first half of a CRLF.
    if (this.pendingCr && chunk.startsWith("\n")) chunk = chunk.slice(1);
    this.pendingCr = chunk.endsWith("\r");
    this.buffer += chunk;
    const lines = this.buffer.split(/\r\n|\r|\n/);
    this.buffer = lines.pop() ?? "";
    for (const line of lines) this.line(line);
  }

  line(line) {
    if (line === "") {
      if (this.data.length > 0) this.onEvent({ type: this.event || "message", data: this.data.join("\n") });
      this.data = [];
      this.event = "";
      return;
    }
    if (line.startsWith(":")) return;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") this.data.push(value);
    else if (field === "event") this.event = value;
    else if (field === "retry" && /^\d+$/.test(value)) this.retryMs = Number(value);
  }
}

/**
 * Opens the stream at `url` and keeps it open until `close()`. Calls `onMessage(data)` per event,
 * `onState("connecting" | "live" | "off")` on changes, and `onUnauthorized()` on a 401 (then stops).
 */
export function openStream({ url, onMessage, onState, onUnauthorized }) {
  let closed = false;
  let controller = null;
  let failures = 0;

  const run = async () => {
    while (!closed) {
      onState("connecting");
      controller = new AbortController();
      let silence = setTimeout(() => controller.abort(), SILENCE_MAX_MS);
      const parser = new SseParser((event) => {
        if (event.type === "message") onMessage(event.data);
      });
      try {
        const response = await fetch(url, {
          headers: authHeaders({ accept: "text/event-stream" }),
          cache: "no-store",
          signal: controller.signal,
        });
        if (response.status === 401) {
          closed = true;
          onState("off");
          onUnauthorized();
          return;
        }
        if (!response.ok || response.body === null) throw new Error(`stream answered ${response.status}`);
        onState("live");
        failures = 0;
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          clearTimeout(silence);
          silence = setTimeout(() => controller.abort(), SILENCE_MAX_MS);
          parser.push(value);
        }
      } catch {
        // Dropped, refused or gone silent: try again below.
      } finally {
        clearTimeout(silence);
      }
      if (closed) return;
      onState("connecting");
      failures += 1;
      const base = parser.retryMs ?? RETRY_DEFAULT_MS;
      await new Promise((resolve) => setTimeout(resolve, Math.min(RETRY_MAX_MS, base * Math.min(failures, 6))));
    }
  };
  void run();
  return {
    close() {
      closed = true;
      controller?.abort();
      onState("off");
    },
  };
}
