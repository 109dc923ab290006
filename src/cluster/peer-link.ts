// One Unix-socket connection between two workers, carrying batched messages. Everything sent in
// one tick goes out as one frame. Bun's socket.write may take only part of the data: the rest is
// kept and written on `drain`, and until then new messages wait in the queue (which is bounded).

import type { Socket } from "bun";
import { FrameDecoder, encodeFrame } from "./frames.ts";

/** Messages waiting for the socket, past which `send` refuses (the peer is too slow or gone). */
export const LINK_QUEUE_MAX = 200_000;

export type LinkHandlers = {
  message: (message: unknown) => void;
  closed: () => void;
};

export class PeerLink {
  private queue: unknown[] = [];
  private unwritten: Uint8Array | null = null;
  private scheduled = false;
  private readonly decoder = new FrameDecoder();
  closed = false;

  constructor(
    private readonly socket: Socket<unknown>,
    private readonly handlers: LinkHandlers,
  ) {}

  get queued(): number {
    return this.queue.length;
  }

  /** Queue a message for this tick's frame; false when the link is closed or its queue is full. */
  send(message: unknown): boolean {
    if (this.closed || this.queue.length >= LINK_QUEUE_MAX) return false;
    this.queue.push(message);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
    return true;
  }

  private flush(): void {
    this.scheduled = false;
    if (this.closed || this.unwritten !== null || this.queue.length === 0) return;
    const frame = encodeFrame(this.queue);
    this.queue = [];
    this.write(frame);
  }

  private write(bytes: Uint8Array): void {
    const written = this.socket.write(bytes);
    this.unwritten = written < bytes.byteLength ? bytes.subarray(Math.max(0, written)) : null;
  }

  /** The socket can take more: finish the partial frame, then send what queued meanwhile. */
  onDrain(): void {
    if (this.unwritten !== null) this.write(this.unwritten);
    if (this.unwritten === null && this.queue.length > 0) this.flush();
  }

  onData(chunk: Uint8Array): void {
    let frames: unknown[][];
    try {
      frames = this.decoder.push(chunk);
    } catch {
      this.close(); // a malformed frame means a broken peer: drop the connection
      return;
    }
    for (const frame of frames) for (const message of frame) this.handlers.message(message);
  }

  onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue = [];
    this.handlers.closed();
  }

  close(): void {
    this.socket.end();
    this.onClose();
  }
}
