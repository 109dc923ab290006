// Buyer routes other than the hold (routes/hold.ts): read and release one's own reservations. A
// buyer touching another buyer's reservation gets 404, never a hint that it exists. The token is
// checked in the transform hook, before the path is validated, so a caller without one learns nothing.

import { Elysia } from "elysia";
import { json } from "../json.ts";
import { ProblemError, outcomeProblem, problem } from "../problem.ts";
import type { HttpDeps, RequestGate } from "../request-gate.ts";
import { routeTiming } from "../route-timing.ts";
import { Problem, Reservation, ReservationParams, SaleParams } from "../schemas.ts";
import { renderReservation } from "../../engine/render.ts";

const security = [{ buyer: [] }];
const JSON_OK: ResponseInit = { status: 200, headers: { "content-type": "application/json" } };

export function buyerRoutes(deps: HttpDeps, gate: RequestGate) {
  const { gateway } = deps;
  const timing = routeTiming(deps.metrics);
  return new Elysia({ name: "buyer" })
    .onTransform((context) => {
      timing.start(context);
      const { request, server } = context;
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
      { params: SaleParams, detail: { tags: ["buyers"], summary: "The buyer's own reservations in a sale", security } },
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
        response: { 200: Reservation, 401: Problem, 404: Problem },
        detail: { tags: ["buyers"], summary: "One of the buyer's reservations (codes once confirmed)", security },
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
        response: { 200: Reservation, 401: Problem, 404: Problem, 409: Problem },
        detail: { tags: ["buyers"], summary: "Release a held reservation (409 not_held otherwise)", security },
      },
    );
}
