// Length-prefixed frames over a byte stream (a Unix socket between workers): 4 bytes little-endian
// length, then that many bytes of messages (peer-protocol.ts). One frame carries every message of
// one tick, so a burst of forwarded holds costs one write and one read per tick, not one per hold.

/** A frame larger than this is a bug or an attack; the connection is dropped. */
export const FRAME_BYTES_MAX = 64 * 1024 * 1024;

/**
 * Accumulates bytes and yields each complete frame's body. Bytes go into one buffer that grows by
 * doubling, so a large frame arriving in many chunks is copied a bounded number of times, not once
 * per chunk. A yielded body is a view into that buffer: read it before the next push.
 */
export class FrameDecoder {
  private buffer = new Uint8Array(64 * 1024);
  private start = 0;
  private end = 0;

  push(chunk: Uint8Array): Uint8Array[] {
    this.append(chunk);
    const frames: Uint8Array[] = [];
    const view = new DataView(this.buffer.buffer, this.buffer.byteOffset);
    while (this.end - this.start >= 4) {
      const length = view.getUint32(this.start, true);
      if (length > FRAME_BYTES_MAX) throw new Error(`frame of ${length} bytes exceeds the bound`);
      if (this.end - this.start - 4 < length) break;
      frames.push(this.buffer.subarray(this.start + 4, this.start + 4 + length));
      this.start += 4 + length;
    }
    if (this.start === this.end) this.start = this.end = 0;
    return frames;
  }

  /** Bytes held for a frame not yet complete (a bounded buffer's metric). */
  get buffered(): number {
    return this.end - this.start;
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
