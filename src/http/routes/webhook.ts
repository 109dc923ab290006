// The payment provider's webhook. The raw body is read here, with its bound; the signature is
// checked over it before anything else, so an unsigned caller learns nothing; the body is then
// parsed and validated by hand (not by Elysia, which would answer 422 before the signature).

import { TypeCompiler } from "@sinclair/typebox/compiler";
import { Elysia } from "elysia";
import { verifyWebhookSignature } from "../../auth/webhook-signature.ts";
import { problem, refusalResponse, unauthorized } from "../problem.ts";
import { BODY_MAX_BYTES, BodyError, type HttpDeps, type RequestGate, parseJsonText, readBodyText } from "../request-gate.ts";
import { routeTiming } from "../route-timing.ts";
import { Problem, WebhookBody } from "../schemas.ts";

const checkBody = TypeCompiler.Compile(WebhookBody);

/** The five answers, rendered once. */
const OUTCOME_BODIES = new Map(
  (["confirmed", "already_confirmed", "confirmed_late", "refund_required", "ignored"] as const).map((outcome) => [
    outcome,
    JSON.stringify({ outcome }),
  ]),
);
const JSON_OK: ResponseInit = { status: 200, headers: { "content-type": "application/json" } };

export function webhookRoutes(deps: HttpDeps, _gate: RequestGate) {
  const clock = deps.clock ?? Date.now;
  const timing = routeTiming(deps.metrics);
  return new Elysia({ name: "webhook" })
    .onTransform(timing.start)
    .onAfterResponse(timing.finish)
    .post(
    "/v1/webhooks/payments",
    async ({ request }) => {
      // The signature covers the raw text, read here with its bound (a chunked body included).
      let raw: string;
      try {
        raw = await readBodyText(request, BODY_MAX_BYTES);
      } catch (error) {
        if (error instanceof BodyError) return problem(error.status, error.code, error.message);
        throw error;
      }
      const signature = request.headers.get("stampede-signature");
      if (!verifyWebhookSignature(deps.webhookSecret, signature, raw, Math.floor(clock() / 1000))) {
        return unauthorized("Missing, invalid or stale Stampede-Signature.");
      }
      let body: unknown;
      try {
        body = parseJsonText(raw);
      } catch (error) {
        if (error instanceof BodyError) return problem(error.status, error.code, error.message);
        throw error;
      }
      if (!checkBody.Check(body)) {
        const errors = [...checkBody.Errors(body)].slice(0, 20).map((e) => ({ path: e.path || "/", message: e.message }));
        return problem(422, "validation_failed", "The payment event does not match the schema.", { errors });
      }
      const outcome = await deps.gateway.execute(body.saleId, {
        kind: "payment",
        eventId: body.eventId,
        paymentId: body.paymentId,
        reservationId: body.reservationId,
        status: body.status,
        amount: body.amount,
        currency: body.currency,
      });
      if (!outcome.ok) return refusalResponse(outcome.refusal, outcome.detail);
      if (!("payment" in outcome)) throw new Error("payment answered without an outcome");
      return new Response(OUTCOME_BODIES.get(outcome.payment), JSON_OK);
    },
    {
      // The body is this handler's to read (bounded, raw): Elysia must not parse it first.
      parse: "none",
      detail: {
        tags: ["payments"],
        summary: "Payment provider webhook (signed)",
        description:
          "Outcomes: confirmed, already_confirmed, confirmed_late, refund_required, ignored. " +
          "401 unauthorized for a bad or stale signature; 404 not_found for an unknown sale or reservation.",
        security: [{ webhook: [] }],
        requestBody: { required: true, content: { "application/json": { schema: WebhookBody as never } } },
        responses: {
          200: { description: "The payment's outcome", content: { "application/json": {} } },
          401: { description: "unauthorized", content: { "application/problem+json": { schema: Problem as never } } },
          404: { description: "not_found", content: { "application/problem+json": { schema: Problem as never } } },
        },
      },
    },
  );
}
