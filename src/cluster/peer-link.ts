// One Unix-socket connection between two workers. Messages are written straight into the frame of
// the current tick (no message objects, no JSON for holds); the frame goes out once per tick. Bun's
// socket.write may take only part of the data: the rest is kept and written on `drain`, and new
// messages keep going into the next frame meanwhile, up to a bound in bytes: past it `send` refuses
// (the peer is too slow or gone) and the caller answers 503 instead of growing without end.

import type { Socket } from "bun";
import { ByteReader, ByteWriter } from "../bytes.ts";
import { FrameDecoder } from "./frames.ts";

/** Bytes waiting for the socket (the frame being built plus what the socket has not taken yet). */
export const LINK_BUFFER_BYTES_MAX = 32 * 1024 * 1024;

export type LinkHandlers = {
  /** One message of a frame: its kind byte, and a reader positioned after it. */
  message: (kind: number, input: ByteReader) => void;
  closed: () => void;
};

export class PeerLink {
  private readonly out = new ByteWriter();
  private unwritten: Uint8Array | null = null;
  private scheduled = false;
  private readonly decoder = new FrameDecoder();
  closed = false;

  constructor(
    private readonly socket: Socket<unknown>,
    private readonly handlers: LinkHandlers,
  ) {}

  /** Bytes queued for the peer, for the bounded-buffer metric. */
  get queuedBytes(): number {
    return this.out.at + (this.unwritten?.byteLength ?? 0) + this.decoder.buffered;
  }

  /**
   * Append one message to this tick's frame with `write`; false (nothing written) when the link is
   * closed or its buffer is full.
   */
  send(write: (out: ByteWriter) => void): boolean {
    if (this.closed || this.queuedBytes >= LINK_BUFFER_BYTES_MAX) return false;
    if (this.out.at === 0) this.out.u32(0); // the frame's length, filled in on flush
    write(this.out);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
    return true;
  }

  private flush(): void {
    this.scheduled = false;
    if (this.closed || this.unwritten !== null || this.out.at === 0) return;
    this.out.u32At(0, this.out.at - 4);
    const frame = this.out.bytes();
    const written = this.socket.write(frame);
    // What the socket did not take is copied out: the writer's buffer is reused for the next frame.
    this.unwritten = written < frame.byteLength ? frame.slice(Math.max(0, written)) : null;
    this.out.reset();
  }

  /** The socket can take more: finish the partial frame, then send what queued meanwhile. */
  onDrain(): void {
    if (this.unwritten !== null) {
      const written = this.socket.write(this.unwritten);
      this.unwritten = written < this.unwritten.byteLength ? this.unwritten.subarray(Math.max(0, written)) : null;
    }
    if (this.unwritten === null && this.out.at > 0) this.flush();
  }

  onData(chunk: Uint8Array): void {
    let frames: Uint8Array[];
    try {
      frames = this.decoder.push(chunk);
    } catch {
      this.close(); // a malformed frame means a broken peer: drop the connection
      return;
    }
    for (const frame of frames) {
      const input = new ByteReader(frame);
      try {
        while (!input.done) this.handlers.message(input.u8(), input);
      } catch (error) {
        // A message this program cannot read came from a broken peer; anything else is a bug of
        // the handler, which must not be hidden as a lost connection.
        if ((error as { name?: string }).name !== "InvariantViolation") throw error;
        this.close();
        return;
      }
    }
  }

  onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.out.reset();
    this.unwritten = null;
    this.handlers.closed();
  }

  close(): void {
    this.socket.end();
    this.onClose();
  }
}
