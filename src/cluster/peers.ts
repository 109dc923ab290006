// Requests, answers and one-way events between workers over PeerLinks. Each worker listens on its
// own Unix socket (PeerServer), opened once it has recovered its sales, and keeps one connection to
// every other worker (PeerClient) for the commands it forwards and the snapshots it publishes.
//
// Faults stay contained (issue "faults contained"):
//   - a peer that is down answers 503 at once: new commands are not queued for it;
//   - holds, releases and payments in flight when a peer goes down are not failed: they wait (a
//     bounded time) for the peer to come back and are sent again under the same token, which the
//     owner recognizes, so the buyer gets the one answer the first send produced;
//   - reconnecting is one timer with backoff, never two loops (Bun.connect both rejects and calls
//     connectError on failure; only the promise is used here);
//   - every queue has a bound in entries or bytes, and past it the caller gets a 503.

import { rmSync } from "node:fs";
import type { ByteReader } from "../bytes.ts";
import { type HoldAnswer, type HoldReply, Unavailable } from "../engine/gateway.ts";
import type { HoldCommand } from "../ledger/types.ts";
import { PeerLink } from "./peer-link.ts";
import {
  type CallResult,
  Kind,
  readCall,
  readCallAnswer,
  readEvent,
  readHold,
  readHoldAnswer,
  writeCall,
  writeCallAnswer,
  writeEvent,
  writeHold,
  writeHoldAnswer,
} from "./peer-protocol.ts";

export type PeerHandler = {
  hold(saleId: string, command: HoldCommand, reply: HoldReply): void;
  request(op: string, args: unknown): Promise<unknown>;
  event(op: string, args: unknown): void;
};

/** A forwarded call that has no answer after this long fails with 503. */
export const PEER_CALL_TIMEOUT_MS = 10_000;
/** How long a command in flight when its owner went away waits for the owner to come back. */
export const RESEND_WAIT_MS = 3_000;
/** Calls waiting for an answer (or for their resend) per peer; past it new ones get 503. */
export const PEER_PENDING_MAX = 65_536;
/** After start, a peer never seen yet may still be recovering: calls wait this long for it. */
const STARTUP_GRACE_MS = 15_000;
const CONNECT_WAIT_MS = 1_000;
const RECONNECT_MIN_MS = 20;
const RECONNECT_MAX_MS = 500;
const SWEEP_INTERVAL_MS = 100;

function resultOf(error: unknown): CallResult {
  if (error instanceof Unavailable) return { ok: false, message: error.message, retryAfter: error.retryAfterSeconds };
  return { ok: false, message: error instanceof Error ? error.message : String(error) };
}

export class PeerServer {
  private readonly listener;

  constructor(path: string, handler: PeerHandler) {
    const message = (link: PeerLink, kind: number, input: ByteReader) => {
      switch (kind) {
        case Kind.Hold: {
          const { callId, saleId, command } = readHold(input);
          handler.hold(saleId, command, (answer) => void link.send((out) => writeHoldAnswer(out, callId, answer)));
          return;
        }
        case Kind.Call: {
          const { callId, op, args } = readCall(input);
          handler.request(op, args).then(
            (value) => link.send((out) => writeCallAnswer(out, callId, { ok: true, value })),
            (error: unknown) => link.send((out) => writeCallAnswer(out, callId, resultOf(error))),
          );
          return;
        }
        case Kind.Event: {
          const { op, args } = readEvent(input);
          handler.event(op, args);
          return;
        }
        default:
          throw Object.assign(new Error(`unknown peer message ${kind}`), { name: "InvariantViolation" });
      }
    };
    // A worker killed by SIGKILL leaves its socket file behind; its successor takes the path over.
    rmSync(path, { force: true });
    this.listener = Bun.listen<PeerLink>({
      unix: path,
      socket: {
        open(socket) {
          socket.data = new PeerLink(socket as never, {
            message: (kind, input) => message(socket.data, kind, input),
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

type Pending =
  | { kind: "hold"; saleId: string; command: HoldCommand; reply: HoldReply; sentAt: number; resendUntil: number }
  | {
      kind: "call";
      op: string;
      args: unknown;
      resendable: boolean;
      resolve: (value: unknown) => void;
      reject: (error: Error) => void;
      sentAt: number;
      resendUntil: number;
    };

const unavailable = (detail: string, retryAfterSeconds = 1): HoldAnswer => ({ ok: false, refusal: "unavailable", detail, retryAfterSeconds });

export class PeerClient {
  private link: PeerLink | null = null;
  /** Sent and waiting for their answer, by call id. */
  private readonly pending = new Map<number, Pending>();
  /** Lost with a connection, to be sent again when the peer is back (until their resendUntil). */
  private resend: Pending[] = [];
  /** Made while the peer was starting, waiting for the first connection. */
  private waiting: { pending: Pending; until: number }[] = [];
  private nextId = 1;
  private retryMs = RECONNECT_MIN_MS;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private connecting = false;
  private everConnected = false;
  private stopped = false;
  private readonly createdAt = Date.now();
  private readonly sweeper: ReturnType<typeof setInterval>;
  /** Probes in `pending` (see `probe`): bookkeeping between workers, not forwarded commands. */
  private probes = 0;
  /** Reconnect attempts and resends since start (metrics). */
  attempts = 0;
  resends = 0;
  /** Called each time the connection comes up (to send snapshots, for instance). */
  onConnect: () => void = () => {};
  /** Told each message that is not an answer (a peer may push events on our connection). */
  onEvent: (op: string, args: unknown) => void = () => {};

  constructor(
    readonly index: number,
    private readonly path: string,
  ) {
    this.sweeper = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
    this.sweeper.unref?.();
    this.connect();
  }

  get connected(): boolean {
    return this.link !== null && !this.link.closed;
  }

  /** Commands waiting for an answer or for their resend (metrics; probes, a scrape's own call among them, are not counted). */
  get inFlight(): number {
    return this.pending.size - this.probes + this.resend.length + this.waiting.length;
  }

  get queuedBytes(): number {
    return this.link?.queuedBytes ?? 0;
  }

  private get starting(): boolean {
    return !this.everConnected && Date.now() - this.createdAt < STARTUP_GRACE_MS;
  }

  hold(saleId: string, command: HoldCommand, reply: HoldReply): void {
    this.submit({ kind: "hold", saleId, command, reply, sentAt: 0, resendUntil: 0 });
  }

  /** A JSON call. `resendable`: safe to send again after the peer restarted (its effect is deduplicated). */
  call(op: string, args: unknown, resendable = false): Promise<unknown> {
    return new Promise((resolve, reject) => this.submit({ kind: "call", op, args, resendable, resolve, reject, sentAt: 0, resendUntil: 0 }));
  }

  /**
   * A call that is bookkeeping between workers (a metrics scrape, a snapshot the peer acknowledges),
   * not a command forwarded for a client: sent only while the peer is connected (never queued for one
   * still starting, never resent), and not counted in `inFlight`, so a scrape does not see itself
   * in stampede_forward_queue_depth.
   */
  probe(op: string, args: unknown): Promise<unknown> {
    if (!this.connected) return Promise.reject(new Unavailable(`Worker ${this.index} is not connected.`, 1));
    return new Promise((resolve, reject) => {
      this.probes += 1;
      // Every way out of `pending` (answer, timeout, lost link, stop, a failed send) ends in one of these.
      const settle = <T>(then: (value: T) => void) => (value: T) => {
        this.probes -= 1;
        then(value);
      };
      this.send({ kind: "call", op, args, resendable: false, resolve: settle(resolve), reject: settle(reject), sentAt: 0, resendUntil: 0 });
    });
  }

  /** A one-way message; dropped when the peer is not connected (snapshots are resent on connect). */
  emit(op: string, args: unknown): void {
    this.link?.send((out) => writeEvent(out, op, args));
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.sweeper);
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.link?.close();
    for (const entry of [...this.pending.values(), ...this.resend, ...this.waiting.map((w) => w.pending)]) {
      this.fail(entry, "The server is shutting down.", 2);
    }
    this.pending.clear();
    this.resend = [];
    this.waiting = [];
  }

  private submit(entry: Pending): void {
    if (this.inFlight >= PEER_PENDING_MAX) return this.fail(entry, `Worker ${this.index} is saturated.`, 1);
    if (this.connected) return this.send(entry);
    if (this.starting && !this.stopped) {
      this.waiting.push({ pending: entry, until: Date.now() + CONNECT_WAIT_MS });
      return;
    }
    // Down: its sales answer 503 at once, never a hang (the supervisor is restarting it).
    this.fail(entry, `Worker ${this.index} is restarting; its sales are back shortly.`, 1);
  }

  private send(entry: Pending): void {
    const link = this.link;
    const id = this.nextId;
    this.nextId = (this.nextId % 0xffffffff) + 1;
    const written =
      link !== null &&
      link.send((out) => (entry.kind === "hold" ? writeHold(out, id, entry.saleId, entry.command) : writeCall(out, id, entry.op, entry.args)));
    if (!written) return this.fail(entry, `Worker ${this.index} is saturated.`, 1);
    entry.sentAt = Date.now();
    this.pending.set(id, entry);
  }

  private fail(entry: Pending, detail: string, retryAfterSeconds: number): void {
    if (entry.kind === "hold") entry.reply(unavailable(detail, retryAfterSeconds));
    else entry.reject(new Unavailable(detail, retryAfterSeconds));
  }

  private connect(): void {
    if (this.stopped || this.connecting || this.connected) return;
    this.connecting = true;
    this.attempts += 1;
    Bun.connect<PeerLink>({
      unix: this.path,
      socket: {
        open: (socket) => {
          const link = new PeerLink(socket as never, {
            message: (kind, input) => this.receive(kind, input),
            closed: () => this.lost(link),
          });
          socket.data = link;
        },
        data: (socket, chunk) => socket.data.onData(chunk),
        drain: (socket) => socket.data.onDrain(),
        close: (socket) => socket.data?.onClose(),
        error: (socket) => socket.data?.onClose(),
      },
    }).then(
      (socket) => {
        this.connecting = false;
        const link = socket.data;
        if (link === undefined || link.closed) return this.retry();
        if (this.stopped) return link.close();
        this.link = link;
        this.everConnected = true;
        this.retryMs = RECONNECT_MIN_MS;
        this.onConnect();
        const again = this.resend;
        const waiting = this.waiting;
        this.resend = [];
        this.waiting = [];
        for (const entry of again) {
          this.resends += 1;
          this.send(entry);
        }
        for (const { pending } of waiting) this.send(pending);
      },
      () => {
        this.connecting = false;
        this.retry();
      },
    );
  }

  private retry(): void {
    if (this.stopped || this.retryTimer !== null) return;
    const delay = this.retryMs;
    this.retryMs = Math.min(RECONNECT_MAX_MS, this.retryMs * 2);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, delay);
    this.retryTimer.unref?.();
  }

  private lost(link: PeerLink): void {
    if (this.link !== link) return;
    this.link = null;
    const now = Date.now();
    for (const entry of this.pending.values()) {
      // Its effect may be durable at the owner: send it again under the same token once the owner is
      // back, rather than answer 503 for what may be done.
      if (entry.kind === "hold" || entry.resendable) {
        entry.resendUntil = now + RESEND_WAIT_MS;
        this.resend.push(entry);
      } else this.fail(entry, `Worker ${this.index} went away; try again shortly.`, 1);
    }
    this.pending.clear();
    this.retry();
  }

  private receive(kind: number, input: ByteReader): void {
    switch (kind) {
      case Kind.HoldAnswer: {
        const { callId, answer } = readHoldAnswer(input);
        const entry = this.pending.get(callId);
        if (entry?.kind !== "hold") return;
        this.pending.delete(callId);
        // A resent hold reaching an owner that is not serving yet waits again, within its bound.
        if (!answer.ok && answer.refusal === "unavailable" && entry.resendUntil > Date.now()) {
          this.resend.push(entry);
          return;
        }
        entry.reply(answer);
        return;
      }
      case Kind.CallAnswer: {
        const { callId, result } = readCallAnswer(input);
        const entry = this.pending.get(callId);
        if (entry?.kind !== "call") return;
        this.pending.delete(callId);
        if (result.ok) entry.resolve(result.value);
        else if (result.retryAfter !== undefined) entry.reject(new Unavailable(result.message, result.retryAfter));
        else entry.reject(new Error(result.message));
        return;
      }
      case Kind.Event: {
        const { op, args } = readEvent(input);
        this.onEvent(op, args);
        return;
      }
      default:
        throw Object.assign(new Error(`unknown peer message ${kind}`), { name: "InvariantViolation" });
    }
  }

  private sweep(): void {
    const now = Date.now();
    for (const [id, entry] of this.pending) {
      if (now - entry.sentAt < PEER_CALL_TIMEOUT_MS) continue;
      this.pending.delete(id);
      this.fail(entry, `Worker ${this.index} did not answer in time.`, 2);
    }
    if (this.resend.length > 0) {
      const expired = this.resend.filter((entry) => entry.resendUntil <= now);
      this.resend = this.resend.filter((entry) => entry.resendUntil > now);
      for (const entry of expired) this.fail(entry, `Worker ${this.index} did not come back in time; the outcome is not known.`, 2);
      // Resends answered "not serving yet" go out again as soon as the peer is connected.
      if (this.connected && this.resend.length > 0) {
        const again = this.resend;
        this.resend = [];
        for (const entry of again) this.send(entry);
      }
    }
    if (this.waiting.length > 0) {
      const late = this.waiting.filter((w) => w.until <= now);
      this.waiting = this.waiting.filter((w) => w.until > now);
      for (const { pending } of late) this.fail(pending, `Worker ${this.index} is not reachable right now.`, 1);
    }
  }
}
