// A raw HTTP/1.1 client over TCP for what `fetch` refuses to send: bytes that are not a valid request
// line or header, methods fetch forbids, paths it would normalize (`%2e%2e`), a Host that is no host,
// conflicting lengths, and requests left half-sent on purpose.

import { type Socket, connect } from "node:net";

export type RawAnswer = {
  /** The status of the first response, or null when the server closed without answering. */
  status: number | null;
  headers: Map<string, string>;
  body: string;
  /** Whether the server closed the connection before `timeoutMs`. */
  closed: boolean;
  elapsedMs: number;
};

function parse(text: string): Pick<RawAnswer, "status" | "headers" | "body"> {
  const headers = new Map<string, string>();
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(text);
  if (match === null) return { status: null, headers, body: "" };
  const headEnd = text.indexOf("\r\n\r\n");
  const head = headEnd === -1 ? text : text.slice(0, headEnd);
  for (const line of head.split("\r\n").slice(1)) {
    const colon = line.indexOf(":");
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  let body = headEnd === -1 ? "" : text.slice(headEnd + 4);
  const length = headers.get("content-length");
  if (length !== undefined) body = body.slice(0, Number(length));
  return { status: Number(match[1]), headers, body };
}

/**
 * Sends `request` as is and reads until the server closes the connection or `timeoutMs` passes.
 * Requests should say `Connection: close` so that a complete answer ends with the close.
 */
export function rawRequest(port: number, request: string | Uint8Array, timeoutMs = 5_000): Promise<RawAnswer> {
  const started = performance.now();
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let settled = false;
    let socket: Socket | undefined;
    const finish = (closed: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket?.destroy();
      const text = Buffer.concat(chunks).toString("latin1");
      resolve({ ...parse(text), closed, elapsedMs: performance.now() - started });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket = connect(port, "127.0.0.1", () => socket?.write(request));
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("close", () => finish(true));
    // A reset after the answer (the server closing on a request it refused) still counts as closed.
    socket.on("error", () => finish(true));
  });
}
