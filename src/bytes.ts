// Little-endian bytes in and out, for the two compact formats of the hot path: the journal's batches
// (journal/codec.ts) and the frames between workers (cluster/peer-protocol.ts). The writer grows one
// buffer and is reused; strings are a length then UTF-8, with a copy loop for short ASCII ids
// (cheaper than the general encoder's call) and Buffer's native encoder for everything else.

import { invariant } from "./ledger/invariant.ts";

export class ByteWriter {
  buffer: Buffer;
  private view: DataView;
  at = 0;

  constructor(initialBytes = 64 * 1024) {
    this.buffer = Buffer.allocUnsafe(initialBytes);
    this.view = new DataView(this.buffer.buffer, this.buffer.byteOffset, this.buffer.byteLength);
  }

  reset(): void {
    this.at = 0;
  }

  /** The bytes written since the last reset, as a plain Uint8Array view (valid until the next write). */
  bytes(): Uint8Array {
    return new Uint8Array(this.buffer.buffer, this.buffer.byteOffset, this.at);
  }

  u8(value: number): void {
    this.ensure(1);
    this.buffer[this.at++] = value;
  }

  u32(value: number): void {
    this.ensure(4);
    this.view.setUint32(this.at, value, true);
    this.at += 4;
  }

  f64(value: number): void {
    this.ensure(8);
    this.view.setFloat64(this.at, value, true);
    this.at += 8;
  }

  /** Overwrite a u32 written earlier (a length known only afterwards). */
  u32At(offset: number, value: number): void {
    this.view.setUint32(offset, value, true);
  }

  /** A u16 byte length and UTF-8; `wide` for a u32 length (JSON documents). */
  str(value: string, wide = false): void {
    const lengthBytes = wide ? 4 : 2;
    this.ensure(lengthBytes + value.length * 3);
    const start = this.at + lengthBytes;
    let ascii = value.length <= 64;
    if (ascii) {
      for (let i = 0; i < value.length; i += 1) {
        const c = value.charCodeAt(i);
        if (c >= 0x80) {
          ascii = false;
          break;
        }
        this.buffer[start + i] = c;
      }
    }
    const written = ascii ? value.length : this.buffer.write(value, start, "utf8");
    if (wide) this.view.setUint32(this.at, written, true);
    else {
      invariant(written <= 0xffff, "a short string is longer than 65535 bytes");
      this.view.setUint16(this.at, written, true);
    }
    this.at = start + written;
  }

  ensure(bytes: number): void {
    if (this.at + bytes <= this.buffer.length) return;
    let size = this.buffer.length * 2;
    while (size < this.at + bytes) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buffer.copy(next, 0, 0, this.at);
    this.buffer = next;
    this.view = new DataView(next.buffer, next.byteOffset, next.byteLength);
  }
}

export class ByteReader {
  private readonly buffer: Buffer;
  private readonly view: DataView;
  at: number;

  constructor(bytes: Uint8Array, start = 0) {
    this.buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.at = start;
  }

  get length(): number {
    return this.buffer.length;
  }

  get done(): boolean {
    return this.at >= this.buffer.length;
  }

  private need(bytes: number): void {
    invariant(this.at + bytes <= this.buffer.length, "bytes end inside a record");
  }

  u8(): number {
    this.need(1);
    return this.buffer[this.at++] as number;
  }

  u32(): number {
    this.need(4);
    const value = this.view.getUint32(this.at, true);
    this.at += 4;
    return value;
  }

  f64(): number {
    this.need(8);
    const value = this.view.getFloat64(this.at, true);
    this.at += 8;
    return value;
  }

  str(wide = false): string {
    const lengthBytes = wide ? 4 : 2;
    this.need(lengthBytes);
    const length = wide ? this.view.getUint32(this.at, true) : this.view.getUint16(this.at, true);
    const start = this.at + lengthBytes;
    this.at = start;
    this.need(length);
    this.at = start + length;
    return this.buffer.toString("utf8", start, start + length);
  }

  /**
   * A short string that is usually `previous` again (a batch's sale id, item id, currency): when its
   * bytes are `previous`'s (ASCII, compared in place) that string comes back undecoded. Decoding
   * costs about 0.3 µs a string, four a hold, which a start replaying 200,000 holds felt.
   */
  strLike(previous: string): string {
    this.need(2);
    const length = this.view.getUint16(this.at, true);
    const start = this.at + 2;
    if (length === previous.length) {
      const buffer = this.buffer;
      let same = true;
      for (let i = 0; i < length; i += 1) {
        const code = previous.charCodeAt(i);
        // ASCII only: a UTF-8 sequence's bytes could equal the codes of other, non-ASCII characters.
        if (code >= 0x80 || buffer[start + i] !== code) {
          same = false;
          break;
        }
      }
      if (same) {
        this.at = start;
        this.need(length);
        this.at = start + length;
        return previous;
      }
    }
    return this.str();
  }
}
