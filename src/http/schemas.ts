// Request and response schemas of API.md, in Elysia's TypeBox. They validate input (422 with the
// failing paths) and document every route in the OpenAPI document at /swagger/json.

import { Type } from "@sinclair/typebox";
import { t } from "elysia";

/**
 * Integers in request bodies: TypeBox's own, which admits JSON numbers only. Elysia's `t.Integer`
 * also admits numeric strings and converts them (`"1"`, `" 1"`, `"0x1"` all became 1), so a hold or a
 * stock change written with a string quantity passed as if it were well formed; bad input gets a 422.
 * (Query strings are text by nature and keep `t.Integer`, which converts them.)
 */
const BodyInteger = (options: { minimum: number; maximum: number }) => Type.Integer(options);

/** Ids supplied by clients (API.md, Conventions). */
export const ID_PATTERN = "^[A-Za-z0-9_-]{1,64}$";
const Id = t.String({ pattern: ID_PATTERN, minLength: 1, maxLength: 64 });
/**
 * Free text that survives the store unchanged: no control characters, and no lone surrogates (they
 * have no UTF-8 form, so the store would keep U+FFFD instead and a restart would bring back another
 * string). Written so that it means the same with or without the RegExp `u` flag.
 */
export const WELL_FORMED_TEXT_PATTERN = "^(?:[^\\u0000-\\u001f\\u007f\\ud800-\\udfff]|[\\ud800-\\udbff][\\udc00-\\udfff])*$";
const Name = t.String({ minLength: 1, maxLength: 200, pattern: WELL_FORMED_TEXT_PATTERN });
const Currency = t.String({ pattern: "^[A-Z]{3}$" });
const Time = t.String({ format: "date-time", maxLength: 40 });
/** Money and stock bounds: well inside the integers a double holds exactly. */
const MONEY_MAX = 1_000_000_000_000;
export const STOCK_MAX = 1_000_000_000;
/** API.md: at most 100000 codes a call. */
export const CODES_PER_CALL_MAX = 100_000;
export const CODE_LENGTH_MAX = 256;

export const ItemBody = t.Object({
  id: Id,
  name: Name,
  price: BodyInteger({ minimum: 0, maximum: MONEY_MAX }),
  currency: Currency,
  stock: t.Optional(BodyInteger({ minimum: 0, maximum: STOCK_MAX })),
  delivery: t.Optional(t.Union([t.Literal("none"), t.Literal("codes")])),
});

/** API.md, "Waiting room": the pace and lifetimes of a sale's queue; the object replaces the room's settings. */
export const WaitingRoomBody = t.Object({
  admitPerSecond: BodyInteger({ minimum: 1, maximum: 100_000 }),
  admissionSeconds: t.Optional(BodyInteger({ minimum: 10, maximum: 86_400 })),
  opensSecondsBefore: t.Optional(BodyInteger({ minimum: 0, maximum: 86_400 })),
});
/** Settings turn the room on (or change it); null turns it off. What the document shows. */
const WaitingRoomField = t.Optional(t.Union([WaitingRoomBody, t.Null()]));
/**
 * What the body schema checks: an object or null. The route checks the object against
 * WaitingRoomBody itself, since a failed union is reported as "/waitingRoom" alone and a 422 should
 * name the field (admin.ts, roomProblem).
 */
const WaitingRoomLoose = t.Optional(t.Union([t.Object({}, { additionalProperties: true }), t.Null()]));

export const CreateSaleBody = t.Object({
  id: t.Optional(Id),
  name: Name,
  startsAt: t.Optional(Time),
  endsAt: t.Optional(Time),
  holdSeconds: t.Optional(BodyInteger({ minimum: 1, maximum: 86_400 })),
  limitPerUser: t.Optional(BodyInteger({ minimum: 1, maximum: 1000 })),
  items: t.Array(ItemBody, { minItems: 1, maxItems: 100 }),
  waitingRoom: WaitingRoomLoose,
});
/** The create body as the OpenAPI document shows it (the room's fields spelled out). */
export const CreateSaleDocument = t.Object({ ...CreateSaleBody.properties, waitingRoom: WaitingRoomField });

export const PatchSaleBody = t.Object({
  name: t.Optional(Name),
  startsAt: t.Optional(Time),
  endsAt: t.Optional(Time),
  paused: t.Optional(t.Boolean()),
  limitPerUser: t.Optional(BodyInteger({ minimum: 1, maximum: 1000 })),
  holdSeconds: t.Optional(BodyInteger({ minimum: 1, maximum: 86_400 })),
  waitingRoom: WaitingRoomLoose,
});
export const PatchSaleDocument = t.Object({ ...PatchSaleBody.properties, waitingRoom: WaitingRoomField });

export const StockBody = t.Object({ delta: BodyInteger({ minimum: -STOCK_MAX, maximum: STOCK_MAX }) });

export const CodesBody = t.Object({
  codes: t.Array(t.String({ minLength: 1, maxLength: CODE_LENGTH_MAX, pattern: "^[\\x21-\\x7E]+$" }), {
    minItems: 1,
    maxItems: CODES_PER_CALL_MAX,
  }),
});

export const HoldBody = t.Object({ itemId: Id, quantity: BodyInteger({ minimum: 1, maximum: 100 }) });

// Checked by hand with TypeBox's compiler, which does not coerce as Elysia does: Elysia's
// `t.Integer` also admits a numeric string ("4900"), which would reach the ledger as a string and
// never equal the reservation's amount. Plain TypeBox `Type.Integer` admits numbers only.
export const WebhookBody = t.Object({
  // The payment's ids key exactly-once delivery across restarts, so they must read back unchanged.
  eventId: t.String({ minLength: 1, maxLength: 256, pattern: WELL_FORMED_TEXT_PATTERN }),
  paymentId: t.String({ minLength: 1, maxLength: 256, pattern: WELL_FORMED_TEXT_PATTERN }),
  saleId: Id,
  reservationId: t.String({ minLength: 1, maxLength: 128 }),
  status: t.Union([t.Literal("succeeded"), t.Literal("failed")]),
  amount: Type.Integer({ minimum: 0, maximum: MONEY_MAX }),
  currency: Currency,
});

// The examples are the walk-through's sale (README.md), so that Swagger UI's "Try it out" starts from
// ids that exist once its example sale is created.
const SaleId = t.String({ pattern: ID_PATTERN, minLength: 1, maxLength: 64, example: "drop-42" });
export const SaleParams = t.Object({ saleId: SaleId });
export const ItemParams = t.Object({ saleId: SaleId, itemId: t.String({ pattern: ID_PATTERN, minLength: 1, maxLength: 64, example: "hoodie-m" }) });
export const ReservationParams = t.Object({ saleId: SaleId, reservationId: t.String({ minLength: 1, maxLength: 128 }) });

export const ReservationStatus = t.Union([
  t.Literal("held"),
  t.Literal("confirmed"),
  t.Literal("released"),
  t.Literal("expired"),
]);

/** Most reservations one admin page holds. */
export const RESERVATIONS_PAGE_MAX = 1000;

export const ReservationListQuery = t.Object({
  status: t.Optional(ReservationStatus),
  // The bounds are checked by the route: Elysia checks them on a query value only after coercing
  // the string, and its error then names no property, so the 422 could not say `/limit`.
  limit: t.Optional(t.Integer({ description: `1..${RESERVATIONS_PAGE_MAX}, default 100` })),
  // A cursor is a reservation id the server made; anything else (a NUL byte, which PostgreSQL refuses
  // in text) is a 422, never a failed query.
  cursor: t.Optional(t.String({ minLength: 1, maxLength: 128, pattern: "^[A-Za-z0-9_.-]+$" })),
});

export const PaymentListQuery = t.Object({
  outcome: t.Optional(
    t.Union([
      t.Literal("confirmed"),
      t.Literal("already_confirmed"),
      t.Literal("confirmed_late"),
      t.Literal("refund_required"),
      t.Literal("ignored"),
    ]),
  ),
});

// Responses, for the document only (routes answer with Responses they render themselves, which
// Elysia does not validate). Integers are TypeBox's own: Elysia's `t.Integer` documents itself as
// "an integer or a numeric string", which is what it accepts, not what the server sends.
const Int = () => Type.Integer();

export const Problem = t.Object(
  {
    type: t.String(),
    title: t.String(),
    status: Int(),
    code: t.String(),
    detail: t.String(),
    errors: t.Optional(t.Array(t.Object({ path: t.String(), message: t.String() }))),
  },
  { description: "RFC 9457 problem document; switch on `code`." },
);

export const Reservation = t.Object({
  id: t.String(),
  saleId: t.String(),
  itemId: t.String(),
  userId: t.String(),
  quantity: Int(),
  status: ReservationStatus,
  amount: Int(),
  currency: t.String(),
  createdAt: t.String({ format: "date-time" }),
  expiresAt: t.String({ format: "date-time" }),
  codes: t.Array(t.String()),
});

export const ReservationList = t.Object({ reservations: t.Array(Reservation) });

/** What operators see of a reservation: never its codes, and the payment that confirmed it. */
export const AdminReservationPage = t.Object({
  reservations: t.Array(t.Composite([Reservation, t.Object({ paymentId: t.Union([t.String(), t.Null()]) })])),
  nextCursor: t.Union([t.String(), t.Null()]),
});

/** A sale's room in its views; absent for a sale that never had one, null once it was turned off. */
const WaitingRoomView = t.Optional(
  t.Union([
    t.Object({ admitPerSecond: Int(), admissionSeconds: Int(), opensSecondsBefore: Int(), waiting: Int(), admitted: Int() }),
    t.Null(),
  ]),
);

/** A buyer's place in a waiting room (join and poll). */
export const QueueStatus = t.Object({
  status: t.Union([t.Literal("waiting"), t.Literal("admitted"), t.Literal("sold_out"), t.Literal("not_joined")]),
  position: t.Optional(Int()),
  estimatedWaitSeconds: t.Optional(Int()),
  admissionToken: t.Optional(t.String()),
  admissionExpiresAt: t.Optional(t.String({ format: "date-time" })),
});

const SaleStatus = t.Union([t.Literal("scheduled"), t.Literal("open"), t.Literal("paused"), t.Literal("ended")]);

export const AdminSale = t.Object({
  id: t.String(),
  name: t.String(),
  startsAt: t.String({ format: "date-time" }),
  endsAt: t.String({ format: "date-time" }),
  holdSeconds: Int(),
  limitPerUser: Int(),
  paused: t.Boolean(),
  status: SaleStatus,
  items: t.Array(
    t.Object({
      id: t.String(),
      name: t.String(),
      price: Int(),
      currency: t.String(),
      delivery: t.Union([t.Literal("none"), t.Literal("codes")]),
      stock: Int(),
      available: Int(),
      held: Int(),
      confirmed: Int(),
    }),
  ),
  waitingRoom: WaitingRoomView,
});

export const AdminSaleList = t.Object({ sales: t.Array(AdminSale) });

export const PublicSale = t.Object({
  id: t.String(),
  name: t.String(),
  startsAt: t.String({ format: "date-time" }),
  endsAt: t.String({ format: "date-time" }),
  status: SaleStatus,
  items: t.Array(t.Object({ id: t.String(), name: t.String(), price: Int(), currency: t.String(), available: Int() })),
  waitingRoom: WaitingRoomView,
});

export const Payment = t.Object({
  paymentId: t.String(),
  eventId: t.String(),
  reservationId: t.String(),
  amount: Int(),
  currency: t.String(),
  status: t.String(),
  outcome: t.String(),
  receivedAt: t.String({ format: "date-time" }),
});

export const PaymentList = t.Object({ payments: t.Array(Payment) });

export const CodesAdded = t.Object({ added: Int(), duplicates: Int() });

export const WebhookOutcome = t.Object({
  outcome: t.Union([
    t.Literal("confirmed"),
    t.Literal("already_confirmed"),
    t.Literal("confirmed_late"),
    t.Literal("refund_required"),
    t.Literal("ignored"),
  ]),
});

export const Health = t.Object({ status: t.Literal("ok") });

export const Readiness = t.Object({
  status: t.Union([t.Literal("ready"), t.Literal("not_ready")]),
  ready: t.Boolean(),
  reasons: t.Array(t.String()),
  journalBacklog: Int(),
  storeError: t.Union([t.String(), t.Null()]),
});
