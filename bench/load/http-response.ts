// Incremental HTTP/1.1 response parser for the fallback load generator: Content-Length and chunked
// bodies, several responses in one chunk, a response split over many chunks. Bodies are kept as text
// (they are small JSON documents) so the generator can read `code` and `outcome`.

export type ParsedResponse = { status: number; body: string; close: boolean };

const HEADER_END = "\r\n\r\n";
/** A response head longer than this is not one a contestant sends; fail loudly instead of buffering. */
const HEAD_LENGTH_MAX = 64 * 1024;

export class ResponseParser {
  private buffer = "";
  private readonly decoder = new TextDecoder();

  /** Feed bytes; returns every response completed by them, in order. */
  push(chunk: Uint8Array): ParsedResponse[] {
    this.buffer += this.decoder.decode(chunk, { stream: true });
    const done: ParsedResponse[] = [];
    for (;;) {
      const response = this.next();
      if (response === null) return done;
      done.push(response);
    }
  }

  private next(): ParsedResponse | null {
    const headEnd = this.buffer.indexOf(HEADER_END);
    if (headEnd === -1) {
      if (this.buffer.length > HEAD_LENGTH_MAX) throw new Error("response head too long");
      return null;
    }
    const head = this.buffer.slice(0, headEnd);
    const status = Number(head.slice(9, 12));
    const lower = head.toLowerCase();
    const close = /\r\nconnection:\s*close/.test(lower);
    const bodyStart = headEnd + HEADER_END.length;
    const length = /\r\ncontent-length:\s*(\d+)/.exec(lower);
    if (length?.[1] !== undefined) {
      // Bodies are ASCII JSON here, so characters and bytes agree.
      const end = bodyStart + Number(length[1]);
      if (this.buffer.length < end) return null;
      const body = this.buffer.slice(bodyStart, end);
      this.buffer = this.buffer.slice(end);
      return { status, body, close };
    }
    if (/\r\ntransfer-encoding:\s*chunked/.test(lower)) return this.chunked(status, bodyStart, close);
    // No body (204, 304) or a body until close, which keep-alive contestants do not send.
    this.buffer = this.buffer.slice(bodyStart);
    return { status, body: "", close };
  }

  private chunked(status: number, bodyStart: number, close: boolean): ParsedResponse | null {
    let position = bodyStart;
    let body = "";
    for (;;) {
      const lineEnd = this.buffer.indexOf("\r\n", position);
      if (lineEnd === -1) return null;
      const size = Number.parseInt(this.buffer.slice(position, lineEnd), 16);
      if (Number.isNaN(size)) throw new Error("bad chunk size");
      const dataStart = lineEnd + 2;
      if (this.buffer.length < dataStart + size + 2) return null;
      if (size === 0) {
        const trailerEnd = this.buffer.indexOf("\r\n", dataStart);
        if (trailerEnd === -1) return null;
        this.buffer = this.buffer.slice(trailerEnd + 2);
        return { status, body, close };
      }
      body += this.buffer.slice(dataStart, dataStart + size);
      position = dataStart + size + 2;
    }
  }
}
