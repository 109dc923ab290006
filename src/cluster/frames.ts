// Length-prefixed frames over a byte stream (a Unix socket between workers): 4 bytes big-endian
// length, then that many bytes of UTF-8 JSON. One frame carries every message of one tick, so a
// burst of forwarded holds costs one write and one parse per tick, not one per hold.

/** A frame larger than this is a bug or an attack; the connection is dropped. */
export const FRAME_BYTES_MAX = 64 * 1024 * 1024;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeFrame(messages: readonly unknown[]): Uint8Array {
  const body = encoder.encode(JSON.stringify(messages));
  const frame = new Uint8Array(4 + body.byteLength);
  new DataView(frame.buffer).setUint32(0, body.byteLength);
  frame.set(body, 4);
  return frame;
}

/**
 * Accumulates bytes and yields each complete frame's messages. Bytes go into one buffer that grows
 * by doubling, so a large frame arriving in many chunks is copied a bounded number of times, not
 * once per chunk.
 */
export class FrameDecoder {
  private buffer = new Uint8Array(64 * 1024);
  private start = 0;
  private end = 0;

  push(chunk: Uint8Array): unknown[][] {
    this.append(chunk);
    const frames: unknown[][] = [];
    const view = new DataView(this.buffer.buffer, this.buffer.byteOffset);
    while (this.end - this.start >= 4) {
      const length = view.getUint32(this.start);
      if (length > FRAME_BYTES_MAX) throw new Error(`frame of ${length} bytes exceeds the bound`);
      if (this.end - this.start - 4 < length) break;
      const body = this.buffer.subarray(this.start + 4, this.start + 4 + length);
      const messages = JSON.parse(decoder.decode(body)) as unknown;
      if (!Array.isArray(messages)) throw new Error("frame is not a list of messages");
      frames.push(messages);
      this.start += 4 + length;
    }
    if (this.start === this.end) this.start = this.end = 0;
    return frames;
  }

  private append(chunk: Uint8Array): void {
    const pending = this.end - this.start;
    if (this.end + chunk.byteLength > this.buffer.byteLength) {
      let capacity = this.buffer.byteLength;
      while (capacity < pending + chunk.byteLength) capacity *= 2;
      if (capacity === this.buffer.byteLength) {
        this.buffer.copyWithin(0, this.start, this.end); // room enough once consumed bytes go
      } else {
        const next = new Uint8Array(capacity);
        next.set(this.buffer.subarray(this.start, this.end));
        this.buffer = next;
      }
      this.start = 0;
      this.end = pending;
    }
    this.buffer.set(chunk, this.end);
    this.end += chunk.byteLength;
  }
}
