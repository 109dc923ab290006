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

/** Accumulates bytes and yields each complete frame's messages. */
export class FrameDecoder {
  private buffer = new Uint8Array(0);

  push(chunk: Uint8Array): unknown[][] {
    if (this.buffer.byteLength === 0) this.buffer = chunk.slice();
    else {
      const joined = new Uint8Array(this.buffer.byteLength + chunk.byteLength);
      joined.set(this.buffer);
      joined.set(chunk, this.buffer.byteLength);
      this.buffer = joined;
    }
    const frames: unknown[][] = [];
    let offset = 0;
    while (this.buffer.byteLength - offset >= 4) {
      const length = new DataView(this.buffer.buffer, this.buffer.byteOffset + offset).getUint32(0);
      if (length > FRAME_BYTES_MAX) throw new Error(`frame of ${length} bytes exceeds the bound`);
      if (this.buffer.byteLength - offset - 4 < length) break;
      const body = this.buffer.subarray(offset + 4, offset + 4 + length);
      const messages = JSON.parse(decoder.decode(body)) as unknown;
      if (!Array.isArray(messages)) throw new Error("frame is not a list of messages");
      frames.push(messages);
      offset += 4 + length;
    }
    this.buffer = offset === 0 ? this.buffer : this.buffer.slice(offset);
    return frames;
  }
}
