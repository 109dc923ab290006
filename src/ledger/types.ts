// The ledger's vocabulary: the state of a sale, the commands that change it, the events that record
// each change, and the outcomes that answer a command. Everything here is plain data so that it can be
// journaled, forwarded between processes and replayed.

export type Delivery = "none" | "codes";
export type ReservationStatus = "held" | "confirmed" | "released" | "expired";
export type PaymentOutcome = "confirmed" | "already_confirmed" | "confirmed_late" | "refund_required" | "ignored";

/**
 * A sale's waiting room (API.md, "Waiting room"): how fast buyers are admitted, how long an
 * admission lasts, and how long before startsAt the queue opens for joins.
 */
export type WaitingRoomSettings = { admitPerSecond: number; admissionSeconds: number; opensSecondsBefore: number };

export type ItemSpec = {
  id: string;
  name: string;
  price: number;
  currency: string;
  delivery: Delivery;
  /** Units for a "none" item; ignored (0) for a "codes" item, whose stock is its code pool. */
  stock: number;
};

export type SaleSpec = {
  id: string;
  name: string;
  startsAt: number; // ms since epoch
  endsAt: number; // ms since epoch
  holdSeconds: number;
  limitPerUser: number;
  items: ItemSpec[];
  /** Absent in events written before waiting rooms existed; null or absent: no waiting room. */
  waitingRoom?: WaitingRoomSettings | null;
};

export type SalePatch = {
  name?: string;
  startsAt?: number;
  endsAt?: number;
  paused?: boolean;
  limitPerUser?: number;
  holdSeconds?: number;
  /** Settings turn the waiting room on (or change it); null turns it off and forgets its queue. */
  waitingRoom?: WaitingRoomSettings | null;
};

export type Reservation = {
  id: string;
  saleId: string;
  itemId: string;
  userId: string;
  quantity: number;
  status: ReservationStatus;
  amount: number;
  currency: string;
  createdAt: number;
  expiresAt: number;
  /** When the reservation left `held` (confirmed, released or expired); 0 while held. */
  endedAt: number;
  codes: string[];
  paymentId: string | null;
};

export type Payment = {
  paymentId: string;
  eventId: string;
  saleId: string;
  reservationId: string;
  amount: number;
  currency: string;
  status: "succeeded" | "failed";
  outcome: PaymentOutcome;
  receivedAt: number;
};

// Commands: what a caller asks of a sale. Ids and times come in from outside (the ledger has no clock).
export type HoldCommand = {
  kind: "hold";
  userId: string;
  itemId: string;
  quantity: number;
  idempotencyKey: string | null;
  /**
   * Set when another worker forwarded the command (engine/forward-tokens.ts): it names the request,
   * so that a resend after the owner restarted finds the hold the first send placed. 0 otherwise.
   */
  token?: number;
  /**
   * Set by the HTTP layer once it has checked the buyer's admission token (a sale with a waiting
   * room); the owner refuses a hold of such a sale without it. The ledger itself never reads it.
   */
  admitted?: boolean;
};
export type ReleaseCommand = { kind: "release"; reservationId: string; userId: string; token?: number };
export type PaymentCommand = {
  kind: "payment";
  eventId: string;
  paymentId: string;
  reservationId: string;
  status: "succeeded" | "failed";
  amount: number;
  currency: string;
};
export type PatchCommand = { kind: "patch"; patch: SalePatch };
export type StockCommand = { kind: "stock"; itemId: string; delta: number };
export type CodesCommand = { kind: "codes"; itemId: string; codes: string[] };
export type ExpireCommand = { kind: "expire" };

export type SaleCommand =
  | HoldCommand
  | ReleaseCommand
  | PaymentCommand
  | PatchCommand
  | StockCommand
  | CodesCommand
  | ExpireCommand;

// Events: what happened, with enough data to rebuild the state without any store.
export type SaleEvent =
  | { type: "sale_created"; saleId: string; at: number; sale: SaleSpec }
  | { type: "sale_patched"; saleId: string; at: number; patch: SalePatch }
  | { type: "stock_adjusted"; saleId: string; at: number; itemId: string; delta: number }
  | { type: "codes_added"; saleId: string; at: number; itemId: string; codes: string[] }
  | {
      type: "hold_placed";
      saleId: string;
      at: number;
      /** Made from the sale id, `seq` and `row` (reservation-id.ts); kept for the store. */
      reservationId: string;
      /** The hold's number within the sale and its row in the hold table. */
      seq: number;
      row: number;
      itemId: string;
      userId: string;
      quantity: number;
      amount: number;
      currency: string;
      expiresAt: number;
      idempotencyKey: string | null;
      fingerprint: string | null;
      /** The forwarding token of the request (HoldCommand.token), 0 when none. */
      token: number;
    }
  // Item and quantity repeat what the reservation says, so the write-behind can merge counts
  // without reading the reservation back; apply() checks that they agree.
  | { type: "hold_released"; saleId: string; at: number; reservationId: string; seq: number; row: number; itemId: string; quantity: number; token: number }
  | { type: "hold_expired"; saleId: string; at: number; reservationId: string; seq: number; row: number; itemId: string; quantity: number }
  | {
      type: "payment_recorded";
      saleId: string;
      at: number;
      payment: Payment;
      /** Set when the payment confirmed the reservation: the codes delivered with it, in order. */
      confirm: Confirmation | null;
    }
  // The waiting room (waiting-room.ts). A join names the rank it got (0: it joined before the
  // draw and waits for it) and whether it was admitted at once; apply() checks both.
  | { type: "queue_joined"; saleId: string; at: number; userId: string; rank: number; admitted: boolean }
  /** The lottery of everyone who joined before startsAt; `seed` came from outside the ledger. */
  | { type: "queue_drawn"; saleId: string; at: number; seed: number }
  /** The next `count` ranks are admitted, at the pace the room's credit allows. */
  | { type: "queue_admitted"; saleId: string; at: number; count: number }
  /** Nothing is left to sell (or the sale ended): everyone waiting is told sold_out. */
  | { type: "queue_sold_out"; saleId: string; at: number };

/**
 * What a payment that confirms a reservation changes: the unit counts and the codes delivered. A
 * confirmation of a live hold finds it by `seq` and `row`; a late one (the hold had ended and left
 * the hot tables) carries the buyer, whose units it adds to.
 */
export type Confirmation = {
  late: boolean;
  itemId: string;
  quantity: number;
  codes: string[];
  userId: string;
  seq: number;
  row: number;
};

export type SaleEventType = SaleEvent["type"];

// Outcomes: the answer to a command. Expected refusals are values, never exceptions.
export type Refusal =
  | "not_found"
  | "sale_not_open"
  | "sale_ended"
  | "sold_out"
  | "limit_exceeded"
  | "idempotency_key_reused"
  | "not_held"
  | "insufficient_stock"
  | "not_codes_item"
  | "codes_item_stock"
  | "limit_below_holdings"
  | "invalid_window"
  // The waiting room's: a join before the queue opens, a queue call on a sale without a room, a
  // hold without a valid admission (the owner's check behind the HTTP layer's; see sale-owner.ts).
  | "queue_not_open"
  | "no_waiting_room"
  | "admission_required"
  // Not the ledger's: the sale's owner refuses a hold past the buyer's rate limit before the ledger runs.
  | "rate_limited";

export type Outcome =
  // rateLimit: what is left of the buyer's hold budget, when the owner took a token (RateLimit header).
  | { ok: true; reservation: Reservation; replayed?: boolean; rateLimit?: { remaining: number; resetSeconds: number } }
  | { ok: true; payment: PaymentOutcome; reservationId: string }
  | { ok: true; added: number; duplicates: number }
  | { ok: true; sale: true }
  | { ok: false; refusal: Refusal; detail: string; retryAfterSeconds?: number };
