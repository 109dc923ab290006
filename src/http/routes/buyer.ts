// Buyer routes other than the hold (routes/hold.ts): read and release one's own reservations. A
// buyer touching another buyer's reservation gets 404, never a hint that it exists. The token is
// checked in the transform hook, before the path is validated, so a caller without one learns nothing.

import { Elysia } from "elysia";
import { json } from "../json.ts";
import { ProblemError, outcomeProblem, problem } from "../problem.ts";
import type { HttpDeps, RequestGate } from "../request-gate.ts";
import { routeTiming } from "../route-timing.ts";
import { CREDENTIAL_PROBLEMS, jsonAnswer, problems } from "../openapi-document.ts";
import { Reservation, ReservationList, ReservationParams, SaleParams } from "../schemas.ts";
import { renderReservation } from "../../engine/render.ts";

const security = [{ buyer: [] }];
const READ_PROBLEMS = { ...CREDENTIAL_PROBLEMS, 404: ["not_found"], 429: ["rate_limited"], 503: ["overloaded"] } as const;
const JSON_OK: ResponseInit = { status: 200, headers: { "content-type": "application/json" } };

export function buyerRoutes(deps: HttpDeps, gate: RequestGate) {
  const { gateway } = deps;
  const timing = routeTiming(deps);
  return new Elysia({ name: "buyer" })
    .onTransform(({ request, server, set }) => {
      timing.start(request, set);
      const shed = request.method === "GET" ? gate.admitRead(request, server) : gate.limitAddress(request, server);
      if (shed !== undefined) throw new ProblemError(shed);
      gate.buyerOf(request);
    })
    .onAfterResponse(timing.finish)
    .get(
      "/v1/sales/:saleId/reservations",
      async ({ params, request }) => {
        const list = await gateway.reservationsOf(params.saleId, gate.buyerOf(request));
        if (list === null) return problem(404, "not_found", `No sale ${params.saleId}.`);
        return new Response(list, JSON_OK);
      },
      {
        params: SaleParams,
        detail: {
          tags: ["buyers"],
          summary: "The buyer's own reservations in a sale",
          security,
          responses: { 200: jsonAnswer("Every reservation of the buyer in the sale, oldest first", ReservationList), ...problems(READ_PROBLEMS) },
        },
      },
    )
    .get(
      "/v1/sales/:saleId/reservations/:reservationId",
      async ({ params, request }) => {
        const found = await gateway.reservation(params.saleId, gate.buyerOf(request), params.reservationId);
        if (found === null) return problem(404, "not_found", `No reservation ${params.reservationId}.`);
        return new Response(found, JSON_OK);
      },
      {
        params: ReservationParams,
        detail: {
          tags: ["buyers"],
          summary: "One of the buyer's reservations (codes once confirmed)",
          description: "Another buyer's reservation is 404 `not_found`, as if it did not exist.",
          security,
          responses: { 200: jsonAnswer("The reservation", Reservation), ...problems(READ_PROBLEMS) },
        },
      },
    )
    .delete(
      "/v1/sales/:saleId/reservations/:reservationId",
      async ({ params, request }) => {
        const outcome = await gateway.execute(params.saleId, {
          kind: "release",
          reservationId: params.reservationId,
          userId: gate.buyerOf(request),
        });
        if (!outcome.ok) return outcomeProblem(outcome);
        if (!("reservation" in outcome)) throw new Error("release answered without a reservation");
        return json(200, JSON.parse(renderReservation(outcome.reservation)));
      },
      {
        params: ReservationParams,
        detail: {
          tags: ["buyers"],
          summary: "Release a held reservation (409 not_held otherwise)",
          description: "Its stock returns at once.",
          security,
          responses: {
            200: jsonAnswer("The reservation, now `released`", Reservation),
            ...problems({ ...READ_PROBLEMS, 409: ["not_held"] }),
          },
        },
      },
    );
}
