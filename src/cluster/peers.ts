// Request/response and one-way events between workers over PeerLinks. Each worker listens on its
// own Unix socket (PeerServer) and keeps one connection to every other worker (PeerClient) for the
// requests it forwards and the snapshots it publishes. A peer that is down or restarting makes
// calls fail fast with Unavailable (503 with Retry-After), never hang.

import { rmSync } from "node:fs";
import { Unavailable } from "./gateway.ts";
import { PeerLink } from "./peer-link.ts";

type Request = { t: "q"; id: number; op: string; a: unknown };
type Response = { t: "r"; id: number; ok?: unknown; e?: { message: string; retryAfter?: number } };
type Event = { t: "e"; op: string; a: unknown };

export type PeerHandler = {
  request(op: string, args: unknown): Promise<unknown>;
  event(op: string, args: unknown): void;
};

/** A forwarded call that has no answer after this long fails with 503. */
export const PEER_CALL_TIMEOUT_MS = 10_000;
const RECONNECT_MIN_MS = 20;
/** How long a call waits for a peer that is not connected, and how many calls may wait. */
const CONNECT_WAIT_MS = 1_000;
const CONNECT_WAIT_MAX = 10_000;
const RECONNECT_MAX_MS = 1_000;

function errorOf(error: unknown): Response["e"] {
  if (error instanceof Unavailable) return { message: error.message, retryAfter: error.retryAfterSeconds };
  return { message: error instanceof Error ? error.message : String(error) };
}

export class PeerServer {
  private readonly listener;

  constructor(path: string, handler: PeerHandler) {
    const handle = (link: PeerLink, message: Request | Event) => {
      if (message.t === "e") {
        handler.event(message.op, message.a);
        return;
      }
      handler.request(message.op, message.a).then(
        (ok) => link.send({ t: "r", id: message.id, ok } satisfies Response),
        (error: unknown) => link.send({ t: "r", id: message.id, e: errorOf(error) } satisfies Response),
      );
    };
    // A worker killed by SIGKILL leaves its socket file behind; its successor takes the path over.
    rmSync(path, { force: true });
    this.listener = Bun.listen<PeerLink>({
      unix: path,
      socket: {
        open(socket) {
          socket.data = new PeerLink(socket as never, {
            message: (message) => handle(socket.data, message as Request | Event),
            closed: () => {},
          });
        },
        data: (socket, chunk) => socket.data.onData(chunk),
        drain: (socket) => socket.data.onDrain(),
        close: (socket) => socket.data?.onClose(),
        error: (socket) => socket.data?.onClose(),
      },
    });
  }

  stop(): void {
    this.listener.stop(true);
  }
}

type Pending = { resolve: (value: unknown) => void; reject: (error: Error) => void; at: number };

export class PeerClient {
  private link: PeerLink | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private retryMs = RECONNECT_MIN_MS;
  /** Calls made while the connection is down, waiting (briefly) for it to come up. */
  private waiting: { go: () => void }[] = [];
  private stopped = false;
  private readonly sweeper: ReturnType<typeof setInterval>;
  /** Called each time the connection comes up (to resend snapshots, for instance). */
  onConnect: () => void = () => {};

  constructor(
    readonly index: number,
    private readonly path: string,
  ) {
    this.sweeper = setInterval(() => this.sweep(), 1_000);
    this.sweeper.unref?.();
    void this.connect();
  }

  get connected(): boolean {
    return this.link !== null && !this.link.closed;
  }

  get inFlight(): number {
    return this.pending.size;
  }

  call(op: string, args: unknown): Promise<unknown> {
    const link = this.link;
    if (link === null || link.closed) return this.callWhenConnected(op, args);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (!link.send({ t: "q", id, op, a: args } satisfies Request)) {
        reject(new Unavailable(`Worker ${this.index} is saturated.`, 1));
        return;
      }
      this.pending.set(id, { resolve, reject, at: Date.now() });
    });
  }

  /**
   * A peer that is starting or restarting comes up within moments: wait for it a little (calls
   * are bounded by CONNECT_WAIT_MAX) before answering 503, rather than failing every request of
   * a start-up race.
   */
  private callWhenConnected(op: string, args: unknown): Promise<unknown> {
    if (this.waiting.length >= CONNECT_WAIT_MAX) {
      return Promise.reject(new Unavailable(`Worker ${this.index} is not reachable right now.`, 1));
    }
    return new Promise((resolve, reject) => {
      const waiter = {
        go: () => {
          clearTimeout(timer);
          this.call(op, args).then(resolve, reject);
        },
      };
      const timer = setTimeout(() => {
        this.waiting = this.waiting.filter((w) => w !== waiter);
        reject(new Unavailable(`Worker ${this.index} is not reachable right now.`, 1));
      }, CONNECT_WAIT_MS);
      this.waiting.push(waiter);
    });
  }

  /** A one-way message; dropped when the peer is not connected (snapshots are resent on connect). */
  emit(op: string, args: unknown): void {
    this.link?.send({ t: "e", op, a: args } satisfies Event);
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.sweeper);
    this.link?.close();
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    try {
      await Bun.connect<PeerLink>({
        unix: this.path,
        socket: {
          open: (socket) => {
            const link = new PeerLink(socket as never, {
              message: (message) => this.receive(message as Response),
              closed: () => this.lost(link),
            });
            socket.data = link;
            this.link = link;
            this.retryMs = RECONNECT_MIN_MS;
            this.onConnect();
            const waiting = this.waiting;
            this.waiting = [];
            for (const waiter of waiting) waiter.go();
          },
          data: (socket, chunk) => socket.data.onData(chunk),
          drain: (socket) => socket.data.onDrain(),
          close: (socket) => socket.data?.onClose(),
          error: (socket) => socket.data?.onClose(),
          connectError: () => this.retry(),
        },
      });
    } catch {
      this.retry();
    }
  }

  private retry(): void {
    if (this.stopped) return;
    const delay = this.retryMs;
    this.retryMs = Math.min(RECONNECT_MAX_MS, this.retryMs * 2);
    setTimeout(() => void this.connect(), delay).unref?.();
  }

  private lost(link: PeerLink): void {
    if (this.link === link) this.link = null;
    const error = new Unavailable(`Worker ${this.index} went away; try again shortly.`, 1);
    for (const pending of this.pending.values()) pending.reject(error);
    this.pending.clear();
    this.retry();
  }

  private receive(message: Response): void {
    const pending = this.pending.get(message.id);
    if (pending === undefined) return;
    this.pending.delete(message.id);
    if (message.e === undefined) pending.resolve(message.ok);
    else if (message.e.retryAfter !== undefined) pending.reject(new Unavailable(message.e.message, message.e.retryAfter));
    else pending.reject(new Error(message.e.message));
  }

  private sweep(): void {
    const deadline = Date.now() - PEER_CALL_TIMEOUT_MS;
    for (const [id, pending] of this.pending) {
      if (pending.at > deadline) continue;
      this.pending.delete(id);
      pending.reject(new Unavailable(`Worker ${this.index} did not answer in time.`, 2));
    }
  }
}
