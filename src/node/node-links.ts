// The links between nodes: one persistent WebSocket from each worker to each other node, at the
// node's advertise URL (path NODE_LINK_PATH, the admin token as the shared secret). Commands for a
// sale another node owns travel over it, batched: every message of one event-loop turn goes out as
// one frame (a JSON array), and so do the answers. The owner's side also pushes the availability
// snapshots of its node's sales down every link it accepted, for reads and event streams.
//
// A link that is down fails its calls at once (503 with Retry-After): a buyer is never left waiting
// on a node that is gone, and a command is never sent twice by the link itself (a payment or a
// hold with an Idempotency-Key is safe for the client to send again).
//
// Frames: [CALL, id, op, args] -> [REPLY, id, OK | UNAVAILABLE | FAILED, value]; [SNAPSHOT, snapshot].

import { Unavailable } from "../engine/gateway.ts";
import type { NodeSnapshot } from "./node-snapshots.ts";

export const NODE_LINK_PATH = "/v1/internal/node";

const CALL = 1;
const REPLY = 2;
const SNAPSHOT = 3;
const OK = 0;
const UNAVAILABLE = 1;
const FAILED = 2;

/** A call not answered within this long fails (503): the other node is stuck or gone. */
const CALL_TIMEOUT_MS = 10_000;
const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 2_000;
/** Most calls one link keeps in flight; past it, calls are refused at once (503), never queued without end. */
const IN_FLIGHT_MAX = 50_000;

type Frame = unknown[];
type Waiting = { resolve: (value: unknown) => void; reject: (error: Error) => void; at: number };

/** Outgoing messages of one turn, sent as one frame at the end of it. */
class Batcher {
  private queued: Frame[] = [];
  private scheduled = false;

  constructor(private readonly send: (text: string) => void) {}

  push(frame: Frame): void {
    this.queued.push(frame);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  flush(): void {
    this.scheduled = false;
    if (this.queued.length === 0) return;
    const frames = this.queued;
    this.queued = [];
    this.send(JSON.stringify(frames));
  }
}

/** This worker's link to one other node. */
export class NodeLink {
  private socket: WebSocket | null = null;
  private batcher: Batcher | null = null;
  private readonly calls = new Map<number, Waiting>();
  private nextId = 1;
  private delayMs = RECONNECT_MIN_MS;
  private stopped = false;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly sweeper: ReturnType<typeof setInterval>;
  connected = false;
  /** Connection attempts and calls failed by a lost link (metrics, logs). */
  attempts = 0;

  constructor(
    readonly nodeId: string,
    private url: string,
    private readonly options: {
      myNodeId: string;
      token: string;
      onSnapshot: (snapshot: NodeSnapshot) => void;
      log: (level: "info" | "warn", msg: string, fields?: Record<string, unknown>) => void;
    },
  ) {
    this.connect();
    this.sweeper = setInterval(() => this.expireCalls(), 1_000);
    this.sweeper.unref?.();
  }

  get inFlight(): number {
    return this.calls.size;
  }

  /** The node moved to another address: reconnect there. */
  retarget(url: string): void {
    if (url === this.url) return;
    this.url = url;
    this.socket?.close();
  }

  call(op: string, args: unknown): Promise<unknown> {
    const batcher = this.batcher;
    if (!this.connected || batcher === null) return Promise.reject(new Unavailable(`Node ${this.nodeId} is not reachable.`, 1));
    if (this.calls.size >= IN_FLIGHT_MAX) return Promise.reject(new Unavailable(`Too many commands waiting for node ${this.nodeId}.`, 1));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.calls.set(id, { resolve, reject, at: performance.now() });
      batcher.push([CALL, id, op, args]);
    });
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.sweeper);
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.socket?.close();
    this.failAll("This node is shutting down.");
  }

  private connect(): void {
    if (this.stopped) return;
    this.attempts += 1;
    const url = `${this.url.replace(/^http/, "ws")}${NODE_LINK_PATH}`;
    // Bun's WebSocket takes the handshake's headers: the shared secret and who is calling.
    const socket = new WebSocket(url, {
      headers: { authorization: `Bearer ${this.options.token}`, "stampede-node": this.options.myNodeId },
    } as unknown as string[]);
    this.socket = socket;
    socket.onopen = () => {
      this.connected = true;
      this.delayMs = RECONNECT_MIN_MS;
      this.batcher = new Batcher((text) => {
        // A frame of a socket that closed meanwhile is lost with it; its calls fail in onclose.
        if (socket.readyState === WebSocket.OPEN) socket.send(text);
      });
      this.options.log("info", "node link up", { node: this.nodeId, url: this.url });
    };
    socket.onmessage = (event) => this.receive(String(event.data));
    socket.onclose = () => {
      const wasConnected = this.connected;
      this.connected = false;
      this.batcher = null;
      this.socket = null;
      this.failAll(`The link to node ${this.nodeId} was lost; the command may or may not have been done.`);
      if (wasConnected) this.options.log("warn", "node link down", { node: this.nodeId });
      if (this.stopped) return;
      this.reconnectTimer = setTimeout(() => this.connect(), this.delayMs);
      this.delayMs = Math.min(RECONNECT_MAX_MS, this.delayMs * 2);
    };
  }

  private receive(text: string): void {
    for (const frame of JSON.parse(text) as Frame[]) {
      if (frame[0] === SNAPSHOT) {
        this.options.onSnapshot(frame[1] as NodeSnapshot);
        continue;
      }
      const waiting = this.calls.get(frame[1] as number);
      if (waiting === undefined) continue;
      this.calls.delete(frame[1] as number);
      const value = frame[3];
      if (frame[2] === OK) waiting.resolve(value);
      else if (frame[2] === UNAVAILABLE) {
        const { message, retryAfterSeconds } = value as { message: string; retryAfterSeconds: number };
        waiting.reject(new Unavailable(message, retryAfterSeconds));
      } else waiting.reject(new Error(String(value)));
    }
  }

  private failAll(reason: string): void {
    const calls = [...this.calls.values()];
    this.calls.clear();
    for (const call of calls) call.reject(new Unavailable(reason, 1));
  }

  private expireCalls(): void {
    const now = performance.now();
    for (const [id, call] of this.calls) {
      if (now - call.at < CALL_TIMEOUT_MS) continue;
      this.calls.delete(id);
      call.reject(new Unavailable(`Node ${this.nodeId} did not answer within ${CALL_TIMEOUT_MS} ms.`, 1));
    }
  }
}

/** One accepted link, as the serving side sees it. */
export type AcceptedLink = { send(text: string): void; close(): void };

/** The serving side: calls in, answers and snapshots out, batched per turn. */
export class NodeLinkServer {
  private readonly links = new Map<AcceptedLink, Batcher>();

  constructor(
    private readonly handle: (op: string, args: unknown) => Promise<unknown>,
    /** Every snapshot of this node's sales known now, for a link that just opened. */
    private readonly currentSnapshots: () => Iterable<NodeSnapshot>,
  ) {}

  open(link: AcceptedLink): void {
    const batcher = new Batcher((text) => link.send(text));
    this.links.set(link, batcher);
    for (const snapshot of this.currentSnapshots()) batcher.push([SNAPSHOT, snapshot]);
  }

  close(link: AcceptedLink): void {
    this.links.delete(link);
  }

  /** Close every accepted link (a stop: the other nodes must not wait on this one's graceful close). */
  closeAll(): void {
    for (const link of [...this.links.keys()]) link.close();
    this.links.clear();
  }

  /** Push a snapshot of this node's sales down every accepted link. */
  publish(snapshot: NodeSnapshot): void {
    for (const batcher of this.links.values()) batcher.push([SNAPSHOT, snapshot]);
  }

  message(link: AcceptedLink, message: unknown): void {
    const batcher = this.links.get(link);
    if (batcher === undefined) return;
    const frames = (typeof message === "string" ? JSON.parse(message) : message) as Frame[];
    for (const frame of frames) {
      if (frame[0] !== CALL) continue;
      const id = frame[1] as number;
      this.handle(frame[2] as string, frame[3]).then(
        (value) => batcher.push([REPLY, id, OK, value ?? null]),
        (error: unknown) =>
          batcher.push(
            error instanceof Unavailable
              ? [REPLY, id, UNAVAILABLE, { message: error.message, retryAfterSeconds: error.retryAfterSeconds }]
              : [REPLY, id, FAILED, error instanceof Error ? error.message : String(error)],
          ),
      );
    }
  }
}
