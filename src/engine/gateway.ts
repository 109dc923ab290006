// What the HTTP layer asks of the sales, wherever their owner runs: the SaleOwner of this process,
// or the cluster's gateway, which forwards to the owner worker. Every answer is plain data or an
// already rendered JSON string, so that it can cross a process boundary unchanged.

import type { HoldCommand, Outcome, Payment, PaymentOutcome, Refusal, SaleCommand, SaleSpec } from "../ledger/types.ts";
import type { AdminSaleView } from "../ledger/views.ts";
import type { ReservationPage, ReservationQuery } from "../store/store.ts";

export type CreateOutcome = { ok: true; sale: AdminSaleView } | { ok: false; refusal: "already_exists"; detail: string };

/** Why a gateway cannot take a command now; the HTTP layer answers 503 with Retry-After. */
export class Unavailable extends Error {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(message);
  }
}

/** What is left of the buyer's hold budget after a hold (the RateLimit header). */
export type RateLimitLeft = { remaining: number; resetSeconds: number };

/**
 * The answer to a hold: the reservation's JSON as the owner rendered it when it decided, or why
 * not. "unavailable" is no refusal of the ledger: the owner could not decide (recovering, draining,
 * unreachable, behind) and the client should come back after `retryAfterSeconds` (503).
 */
export type HoldAnswer =
  | { ok: true; body: string; replayed: boolean; rateLimit: RateLimitLeft | null }
  | { ok: false; refusal: Refusal | "unavailable"; detail: string; retryAfterSeconds?: number };

export type HoldReply = (answer: HoldAnswer) => void;

/** The public sale document, rendered once per version, with the tag clients cache it under. */
export type PublicDocument = { document: string; etag: string };

/**
 * A sale's waiting room as answers to buyers are made from it: its pace, its serving counter and what
 * it has told sold_out. The owner publishes these with the sale's copy, so that any worker answers a
 * waiting buyer's poll (position = rank - served) without asking the owner.
 */
export type RoomNumbers = {
  epoch: number;
  served: number;
  waiting: number;
  admitPerSecond: number;
  admissionSeconds: number;
  startsAt: number;
  drawn: boolean;
  /** Whether the sale admits now (open, not paused); waiting answers estimate from it. */
  open: boolean;
  /** The ranks the latest sell-out told sold_out, [from, to] (0, 0: none). */
  soldOutFrom: number;
  soldOutTo: number;
};

/** A buyer's place in a room; rank 0 while the buyer waits for the draw at startsAt. */
export type QueuePlace =
  | { status: "not_joined" }
  | { status: "waiting"; rank: number }
  | { status: "admitted"; rank: number; admissionExpiresAt: number }
  | { status: "sold_out" };

/** The answer to a join or a poll: the buyer's place with the room's numbers, or why not (as HoldAnswer). */
export type QueueAnswer =
  | { ok: true; place: QueuePlace; room: RoomNumbers; joined: boolean }
  | { ok: false; refusal: Refusal | "unavailable"; detail: string; retryAfterSeconds?: number };

export type QueueReply = (answer: QueueAnswer) => void;

export type Readiness = { ready: boolean; reasons: string[]; journalBacklog: number; storeError: string | null };

export interface SaleGateway {
  createSale(spec: SaleSpec): Promise<CreateOutcome>;
  /**
   * The hot path: place a hold and call `reply` once it is durable (or refused). No promise, no
   * exception: whatever happens is an answer.
   */
  hold(saleId: string, command: HoldCommand, reply: HoldReply): void;
  /** Run any other command on a sale; `not_found` when the sale does not exist. Resolves once durable. */
  execute(saleId: string, command: SaleCommand): Promise<Outcome>;
  adminSale(saleId: string): Promise<AdminSaleView | null>;
  listSales(): Promise<AdminSaleView[]>;
  publicSale(saleId: string): Promise<PublicDocument | null>;
  /**
   * The public document when it can be had at once (a read's fast path: no promise), null when
   * there is no such sale, undefined when only `publicSale` can tell (a forward, a commit to wait
   * for, an owner not serving).
   */
  publicSaleNow?(saleId: string): PublicDocument | null | undefined;
  /** Call `listener` with each new public document of the sale; returns the unsubscribe function. */
  watchSale(saleId: string, listener: (document: string) => void): (() => void) | null;
  /** The buyer's reservation as its JSON, or null when the buyer has no such reservation. */
  reservation(saleId: string, userId: string, reservationId: string): Promise<string | null>;
  /** `{"reservations":[...]}` of the buyer, or null when there is no such sale. */
  reservationsOf(saleId: string, userId: string): Promise<string | null>;
  /** Operator reads from the system of record, after it has caught up with the sale's journal. */
  storeReservations(saleId: string, query: ReservationQuery): Promise<ReservationPage>;
  storePayments(saleId: string, outcome?: PaymentOutcome): Promise<Payment[]>;
  /** Whether the gateway accepts new holds, and if not, why. */
  readiness(): Readiness;
  /** Join the sale's waiting room (durable before `reply`); joining again answers the place the buyer has. */
  joinQueue(saleId: string, userId: string, reply: QueueReply): void;
  /** The buyer's place in the sale's waiting room, from a copy where one can tell. */
  queuePlace(saleId: string, userId: string, reply: QueueReply): void;
  /**
   * Whether holds of the sale need an admission token: the hold path's one check, so it must cost
   * nothing for a sale without a waiting room.
   */
  admissionRequired(saleId: string): boolean;
}
