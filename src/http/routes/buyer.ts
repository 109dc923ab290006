// Buyer routes: hold stock, read and release one's own reservations. The gate has already checked
// the JWT; a buyer touching another buyer's reservation gets 404, never a hint that it exists.

import { Elysia } from "elysia";
import type { Outcome } from "../../ledger/types.ts";
import { reservationView } from "../../ledger/views.ts";
import { json } from "../json.ts";
import { outcomeProblem, problem } from "../problem.ts";
import { rateLimitField, rateLimited } from "../rate-limit-headers.ts";
import type { HttpDeps, RequestGate } from "../request-gate.ts";
import { HoldBody, Problem, Reservation, ReservationParams, SaleParams } from "../schemas.ts";

/** API.md: Idempotency-Key is 1..128 printable characters. */
const IDEMPOTENCY_KEY_PATTERN = /^[\x20-\x7E]{1,128}$/;

const security = [{ buyer: [] }];
const problems = { 401: Problem, 404: Problem, 409: Problem, 410: Problem, 422: Problem, 429: Problem, 503: Problem };

function reservationAnswer(outcome: Outcome, status: number, headers?: Record<string, string>): Response {
  if (!outcome.ok) return outcomeProblem(outcome);
  if (!("reservation" in outcome)) throw new Error("reservation command answered without a reservation");
  return json(status, reservationView(outcome.reservation), headers);
}

export function buyerRoutes(deps: HttpDeps, gate: RequestGate) {
  // The buyer's hold limit is taken by the sale's owner (SaleOwnerOptions.buyerLimits), which sees
  // every worker's holds of the sale; this route only renders what it decided.
  const { gateway, buyerLimits, admission } = deps;
  return new Elysia({ name: "buyer" })
    // The gate has found the buyer already; this holds, before validation, where the gate and the
    // router read a path differently (RequestGate.buyerOf), so a caller without a token learns nothing.
    .onTransform(({ request }) => {
      gate.buyerOf(request);
    })
    .post(
      "/v1/sales/:saleId/reservations",
      async ({ params, body, request }) => {
        const userId = gate.buyerOf(request);
        const idempotencyKey = request.headers.get("idempotency-key");
        if (idempotencyKey !== null && !IDEMPOTENCY_KEY_PATTERN.test(idempotencyKey)) {
          return problem(422, "validation_failed", "Idempotency-Key must be 1..128 printable characters.", {
            errors: [{ path: "/headers/idempotency-key", message: "1..128 printable ASCII characters" }],
          });
        }
        let headers: Record<string, string> | undefined;
        const command = {
          kind: "hold",
          reservationId: Bun.randomUUIDv7(),
          userId,
          itemId: body.itemId,
          quantity: body.quantity,
          idempotencyKey,
        } as const;
        const execute = () => gateway.execute(params.saleId, command);
        const outcome = await (admission === undefined ? execute() : admission.hold(execute));
        if (!outcome.ok && outcome.refusal === "rate_limited") {
          return rateLimited("buyer", outcome.retryAfterSeconds ?? 1, buyerLimits.enabled ? buyerLimits : undefined);
        }
        if (outcome.ok && "rateLimit" in outcome && outcome.rateLimit !== undefined) {
          headers = { ratelimit: rateLimitField("buyer", outcome.rateLimit.remaining, outcome.rateLimit.resetSeconds) };
        }
        return reservationAnswer(outcome, 201, headers);
      },
      {
        params: SaleParams,
        body: HoldBody,
        response: { 201: Reservation, ...problems },
        detail: {
          tags: ["buyers"],
          summary: "Hold stock (201 means durable)",
          description:
            "Errors: 404 not_found, 409 sale_not_open | sold_out | limit_exceeded, 410 sale_ended, " +
            "422 validation_failed | idempotency_key_reused, 429 rate_limited, 503 overloaded. " +
            "Idempotency-Key (optional header): a retry by the same buyer replays the first answer.",
          security,
        },
      },
    )
    .get(
      "/v1/sales/:saleId/reservations",
      async ({ params, request }) => {
        const list = await gateway.reservationsOf(params.saleId, gate.buyerOf(request));
        if (list === null) return problem(404, "not_found", `No sale ${params.saleId}.`);
        return json(200, { reservations: list });
      },
      { params: SaleParams, detail: { tags: ["buyers"], summary: "The buyer's own reservations in a sale", security } },
    )
    .get(
      "/v1/sales/:saleId/reservations/:reservationId",
      async ({ params, request }) => {
        const found = await gateway.reservation(params.saleId, gate.buyerOf(request), params.reservationId);
        if (found === null) return problem(404, "not_found", `No reservation ${params.reservationId}.`);
        return json(200, found);
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
        return reservationAnswer(outcome, 200);
      },
      {
        params: ReservationParams,
        response: { 200: Reservation, 401: Problem, 404: Problem, 409: Problem },
        detail: { tags: ["buyers"], summary: "Release a held reservation (409 not_held otherwise)", security },
      },
    );
}
