// Operator routes under /v1/admin (the gate has checked the admin token): create and change sales,
// stock and codes from the ledger; listings, CSV export and refunds from the system of record.

import { TypeCompiler } from "@sinclair/typebox/compiler";
import { Elysia } from "elysia";
import type { Outcome, SalePatch, SaleSpec, WaitingRoomSettings } from "../../ledger/types.ts";
import { ADMISSION_SECONDS_DEFAULT, OPENS_SECONDS_BEFORE_DEFAULT } from "../../ledger/waiting-room.ts";
import { type AdminSaleView, reservationView } from "../../ledger/views.ts";
import type { Reservation } from "../../ledger/types.ts";
import { audit } from "../../log.ts";
import { json } from "../json.ts";
import { ProblemError, problem, refusalProblem } from "../problem.ts";
import { routeTiming } from "../route-timing.ts";
import type { HttpDeps, RequestGate } from "../request-gate.ts";
import { BODY_PROBLEMS, CREDENTIAL_PROBLEMS, jsonAnswer, jsonRequest, problems, textAnswer } from "../openapi-document.ts";
import {
  AdminReservationPage,
  AdminSale,
  AdminSaleList,
  CodesAdded,
  CodesBody,
  CreateSaleBody,
  CreateSaleDocument,
  ItemParams,
  PatchSaleBody,
  PatchSaleDocument,
  PaymentList,
  PaymentListQuery,
  RESERVATIONS_PAGE_MAX,
  ReservationListQuery,
  SaleParams,
  StockBody,
  WaitingRoomBody,
} from "../schemas.ts";
import { reservationsCsv } from "./reservations-csv.ts";

const security = [{ admin: [] }];
const tags = ["operators"];
/** The walk-through's sale (README.md): "Try it out" creates it, then holds a hoodie from it. */
const CREATE_EXAMPLE = {
  id: "drop-42",
  name: "Winter drop",
  holdSeconds: 600,
  limitPerUser: 1,
  items: [
    { id: "hoodie-m", name: "Hoodie M", price: 4900, currency: "USD", stock: 1000 },
    { id: "gift-50", name: "Gift card 50", price: 5000, currency: "USD", delivery: "codes" },
  ],
};
/** Errors of any command on an existing sale. */
const SALE_PROBLEMS = { ...CREDENTIAL_PROBLEMS, 404: ["not_found"], 503: ["overloaded"] } as const;
const SALE_VIEW = jsonAnswer("The sale's admin view after the change, with exact counts", AdminSale);
/** A sale created without `endsAt` runs this long. */
const DEFAULT_SALE_DAYS = 30;

type CreateBody = typeof CreateSaleBody.static;

/** Operators see every field but the codes, which only their buyer ever sees. */
export function adminReservationView(reservation: Reservation) {
  return { ...reservationView(reservation), codes: [], paymentId: reservation.paymentId };
}

const roomChecker = TypeCompiler.Compile(WaitingRoomBody);

/** A 422 naming each field of `waitingRoom` out of range, or null when it is null, absent or well formed. */
function roomProblem(room: unknown): Response | null {
  if (room === undefined || room === null || roomChecker.Check(room)) return null;
  const errors: { path: string; message: string }[] = [];
  for (const error of roomChecker.Errors(room)) {
    const path = `/waitingRoom${error.path}`;
    if (!errors.some((e) => e.path === path)) errors.push({ path, message: error.message });
  }
  return problem(422, "validation_failed", "The request does not match the schema.", { errors });
}

/** The room's settings with API.md's defaults for what the body leaves out (the object replaces them all). */
function roomSettings(body: typeof WaitingRoomBody.static): WaitingRoomSettings {
  return {
    admitPerSecond: body.admitPerSecond,
    admissionSeconds: body.admissionSeconds ?? ADMISSION_SECONDS_DEFAULT,
    opensSecondsBefore: body.opensSecondsBefore ?? OPENS_SECONDS_BEFORE_DEFAULT,
  };
}

function invalid(path: string, message: string): Response {
  return problem(422, "validation_failed", message, { errors: [{ path, message }] });
}

/** Turn the create body into a spec, or a 422 for what the schema cannot say. */
function saleSpec(body: CreateBody, now: number): SaleSpec | Response {
  const badRoom = roomProblem(body.waitingRoom);
  if (badRoom !== null) return badRoom;
  const startsAt = body.startsAt === undefined ? now : Date.parse(body.startsAt);
  const endsAt = body.endsAt === undefined ? startsAt + DEFAULT_SALE_DAYS * 86_400_000 : Date.parse(body.endsAt);
  if (!Number.isFinite(startsAt)) return invalid("/startsAt", "Not a valid time.");
  if (!Number.isFinite(endsAt)) return invalid("/endsAt", "Not a valid time.");
  if (startsAt >= endsAt) return invalid("/endsAt", "endsAt must come after startsAt.");
  const ids = new Set<string>();
  for (const [index, item] of body.items.entries()) {
    if (ids.has(item.id)) return invalid(`/items/${index}/id`, "Item ids must be unique within a sale.");
    ids.add(item.id);
    if ((item.delivery ?? "none") === "none" && item.stock === undefined) {
      return invalid(`/items/${index}/stock`, "An item without codes needs a stock.");
    }
  }
  return {
    id: body.id ?? `sale_${Bun.randomUUIDv7().replaceAll("-", "")}`,
    name: body.name,
    startsAt,
    endsAt,
    holdSeconds: body.holdSeconds ?? 600,
    limitPerUser: body.limitPerUser ?? 1,
    items: body.items.map((item) => ({
      id: item.id,
      name: item.name,
      price: item.price,
      currency: item.currency,
      delivery: item.delivery ?? "none",
      stock: item.delivery === "codes" ? 0 : (item.stock ?? 0),
    })),
    // Absent rather than null for a sale without a room: its events stay as they always were.
    ...(body.waitingRoom === undefined || body.waitingRoom === null ? {} : { waitingRoom: roomSettings(body.waitingRoom as typeof WaitingRoomBody.static) }),
  };
}

function parseTimes(body: typeof PatchSaleBody.static): SalePatch | Response {
  const badRoom = roomProblem(body.waitingRoom);
  if (badRoom !== null) return badRoom;
  const patch: SalePatch = {};
  if (body.name !== undefined) patch.name = body.name;
  if (body.paused !== undefined) patch.paused = body.paused;
  if (body.limitPerUser !== undefined) patch.limitPerUser = body.limitPerUser;
  if (body.holdSeconds !== undefined) patch.holdSeconds = body.holdSeconds;
  if (body.waitingRoom !== undefined) patch.waitingRoom = body.waitingRoom === null ? null : roomSettings(body.waitingRoom as typeof WaitingRoomBody.static);
  for (const field of ["startsAt", "endsAt"] as const) {
    const value = body[field];
    if (value === undefined) continue;
    const ms = Date.parse(value);
    if (!Number.isFinite(ms)) return invalid(`/${field}`, "Not a valid time.");
    patch[field] = ms;
  }
  return patch;
}

export function adminRoutes(deps: HttpDeps, gate: RequestGate) {
  const { gateway } = deps;
  const clock = deps.clock ?? Date.now;
  const saleOr404 = (sale: AdminSaleView | null, saleId: string) =>
    sale === null ? problem(404, "not_found", `No sale ${saleId}.`) : json(200, sale);
  /** Answer a ledger command on a sale with the sale's admin view, or its refusal. */
  const afterCommand = async (saleId: string, outcome: Outcome) =>
    outcome.ok ? saleOr404(await gateway.adminSale(saleId), saleId) : refusalProblem(outcome.refusal, outcome.detail);

  const timing = routeTiming(deps);
  return new Elysia({ name: "admin", prefix: "/v1/admin" })
    // The token is checked before anything else: by the JSON parser for routes with a body (it runs
    // first), here, before validation, for the others.
    .onTransform(({ request, set }) => {
      timing.start(request, set);
      gate.requireAdmin(request);
    })
    .onAfterResponse(timing.finish)
    // The operator routes' own JSON parser: the token first (parse runs before transform), then
    // the body, read with its bound, then the parse.
    .onParse(({ request }) => gate.parseAdminJson(request))
    .post(
      "/sales",
      async ({ body, request, server }) => {
        const spec = saleSpec(body, clock());
        if (spec instanceof Response) return spec;
        const created = await gateway.createSale(spec);
        if (!created.ok) return problem(409, "already_exists", created.detail);
        audit("admin.sale_created", "operator created a sale", {
          sale: spec.id,
          startsAt: created.sale.startsAt,
          endsAt: created.sale.endsAt,
          status: created.sale.status,
          items: spec.items.map((item) => ({ id: item.id, stock: item.stock, delivery: item.delivery })),
          by: gate.addressOf(request, server),
        });
        return json(201, created.sale);
      },
      {
        body: CreateSaleBody,
        detail: {
          tags,
          security,
          summary: "Create a sale (409 already_exists for a taken id)",
          description:
            "`id` is optional (the server makes one); `startsAt` defaults to now and `endsAt` to 30 days later; " +
            "`holdSeconds` 600 and `limitPerUser` 1 by default. An item with `delivery: \"codes\"` starts with no stock: " +
            "upload its codes.",
          requestBody: jsonRequest(CreateSaleDocument, CREATE_EXAMPLE),
          responses: {
            201: jsonAnswer("The new sale's admin view", AdminSale),
            ...problems({ ...BODY_PROBLEMS, ...CREDENTIAL_PROBLEMS, 409: ["already_exists"], 503: ["overloaded"] }),
          },
        },
      },
    )
    .get("/sales", async () => json(200, { sales: await gateway.listSales() }), {
      detail: {
        tags,
        security,
        summary: "List sales with exact counts",
        responses: { 200: jsonAnswer("Every sale's admin view", AdminSaleList), ...problems({ ...CREDENTIAL_PROBLEMS, 503: ["overloaded"] }) },
      },
    })
    .get("/sales/:saleId", async ({ params }) => saleOr404(await gateway.adminSale(params.saleId), params.saleId), {
      params: SaleParams,
      detail: {
        tags,
        security,
        summary: "A sale with exact counts (stock == available + held + confirmed)",
        responses: { 200: jsonAnswer("The sale's admin view", AdminSale), ...problems(SALE_PROBLEMS) },
      },
    })
    .patch(
      "/sales/:saleId",
      async ({ params, body, request, server }) => {
        const patch = parseTimes(body);
        if (patch instanceof Response) return patch;
        const outcome = await gateway.execute(params.saleId, { kind: "patch", patch });
        if (outcome.ok) {
          // The operator's action; the status it leads to (opened, paused, ended) is logged by the
          // sale's owner when the sale gets there (engine/sale-lifecycle.ts).
          const action = patch.paused === true ? "paused" : patch.paused === false ? "resumed" : "changed";
          audit(`admin.sale_${action}`, `operator ${action} a sale`, { sale: params.saleId, ...body, by: gate.addressOf(request, server) });
        }
        return afterCommand(params.saleId, outcome);
      },
      {
        // Every field is optional, and Elysia turns a body that is no object (null, [], 0, "text")
        // into {} before validating it: refuse those here, before that happens, not as an empty patch.
        transform({ body }) {
          if (typeof body !== "object" || body === null || Array.isArray(body)) {
            throw new ProblemError(invalid("/", "The body must be a JSON object."));
          }
        },
        params: SaleParams,
        body: PatchSaleBody,
        detail: {
          tags,
          security,
          summary: "Change a sale live (window, pause, limits, hold time)",
          description: "In force on every worker once the 200 is sent.",
          requestBody: jsonRequest(PatchSaleDocument, { paused: true }),
          responses: {
            200: SALE_VIEW,
            ...problems({ ...BODY_PROBLEMS, ...SALE_PROBLEMS, 409: ["limit_below_holdings"], 422: ["validation_failed", "invalid_window"] }),
          },
        },
      },
    )
    .post(
      "/sales/:saleId/items/:itemId/stock",
      async ({ params, body, request, server }) => {
        const outcome = await gateway.execute(params.saleId, { kind: "stock", itemId: params.itemId, delta: body.delta });
        if (outcome.ok) {
          audit("admin.stock_changed", "operator changed stock", { sale: params.saleId, item: params.itemId, delta: body.delta, by: gate.addressOf(request, server) });
        }
        return afterCommand(params.saleId, outcome);
      },
      {
        params: ItemParams,
        body: StockBody,
        detail: {
          tags,
          security,
          summary: "Add or remove stock (409 insufficient_stock)",
          description: "In force on every worker once the 200 is sent: no hold that follows it is refused `sold_out` on a stale copy.",
          requestBody: jsonRequest(StockBody, { delta: 5 }),
          responses: {
            200: SALE_VIEW,
            ...problems({ ...BODY_PROBLEMS, ...SALE_PROBLEMS, 409: ["insufficient_stock", "codes_item_stock"] }),
          },
        },
      },
    )
    .post(
      "/sales/:saleId/items/:itemId/codes",
      async ({ params, body, request, server }) => {
        const outcome = await gateway.execute(params.saleId, { kind: "codes", itemId: params.itemId, codes: body.codes });
        if (!outcome.ok) return refusalProblem(outcome.refusal, outcome.detail);
        if (!("added" in outcome)) throw new Error("codes answered without counts");
        // Counts only: a code is a product the buyer pays for and never goes to a log.
        audit("admin.codes_added", "operator added codes", {
          sale: params.saleId,
          item: params.itemId,
          added: outcome.added,
          duplicates: outcome.duplicates,
          by: gate.addressOf(request, server),
        });
        return json(200, { added: outcome.added, duplicates: outcome.duplicates });
      },
      {
        params: ItemParams,
        body: CodesBody,
        detail: {
          tags,
          security,
          summary: "Add codes to a codes item (at most 100000 a call)",
          description: "A code already known is counted in `duplicates` and not added again. In force on every worker once the 200 is sent.",
          requestBody: jsonRequest(CodesBody, { codes: ["AAAA-1111", "BBBB-2222"] }),
          responses: {
            200: jsonAnswer("How many codes were added, and how many were known already", CodesAdded, { added: 2, duplicates: 0 }),
            ...problems({ ...BODY_PROBLEMS, ...SALE_PROBLEMS, 409: ["not_codes_item"] }),
          },
        },
      },
    )
    .get(
      "/sales/:saleId/reservations",
      async ({ params, query }) => {
        if (query.limit !== undefined && (query.limit < 1 || query.limit > RESERVATIONS_PAGE_MAX)) {
          return invalid("/limit", `limit must be 1..${RESERVATIONS_PAGE_MAX}.`);
        }
        if ((await gateway.adminSale(params.saleId)) === null) return problem(404, "not_found", `No sale ${params.saleId}.`);
        const page = await gateway.storeReservations(params.saleId, {
          limit: query.limit ?? 100,
          ...(query.status === undefined ? {} : { status: query.status }),
          ...(query.cursor === undefined ? {} : { cursor: query.cursor }),
        });
        return json(200, { reservations: page.reservations.map(adminReservationView), nextCursor: page.nextCursor });
      },
      {
        params: SaleParams,
        query: ReservationListQuery,
        detail: {
          tags,
          security,
          summary: "Page through reservations",
          description: "Pass `nextCursor` back as `cursor` for the next page; it is null on the last one.",
          responses: {
            200: jsonAnswer("One page of reservations", AdminReservationPage),
            ...problems({ ...SALE_PROBLEMS, 422: ["validation_failed"] }),
          },
        },
      },
    )
    .get(
      "/sales/:saleId/reservations.csv",
      async ({ params }) => {
        if ((await gateway.adminSale(params.saleId)) === null) return problem(404, "not_found", `No sale ${params.saleId}.`);
        return reservationsCsv(gateway, params.saleId);
      },
      {
        params: SaleParams,
        detail: {
          tags,
          security,
          summary: "Every reservation of a sale as CSV (streamed)",
          responses: { 200: textAnswer("One line per reservation, with a header line", "text/csv"), ...problems(SALE_PROBLEMS) },
        },
      },
    )
    .get(
      "/sales/:saleId/payments",
      async ({ params, query }) => {
        if ((await gateway.adminSale(params.saleId)) === null) return problem(404, "not_found", `No sale ${params.saleId}.`);
        const payments = await gateway.storePayments(params.saleId, query.outcome);
        return json(200, {
          payments: payments.map((p) => ({
            paymentId: p.paymentId,
            eventId: p.eventId,
            reservationId: p.reservationId,
            amount: p.amount,
            currency: p.currency,
            status: p.status,
            outcome: p.outcome,
            receivedAt: new Date(p.receivedAt).toISOString(),
          })),
        });
      },
      {
        params: SaleParams,
        query: PaymentListQuery,
        detail: {
          tags,
          security,
          summary: "Payments of a sale, e.g. ?outcome=refund_required",
          responses: { 200: jsonAnswer("The payments of the sale (with the outcome asked for)", PaymentList), ...problems(SALE_PROBLEMS) },
        },
      },
    );
}
