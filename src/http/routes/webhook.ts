// The payment provider's webhook. The signature is checked over the raw body before anything else,
// so an unsigned caller learns nothing; the body is then validated by hand (not by Elysia, which
// would answer 422 before the signature is looked at).

import { TypeCompiler } from "@sinclair/typebox/compiler";
import { Elysia } from "elysia";
import { verifyWebhookSignature } from "../../auth/webhook-signature.ts";
import { json } from "../json.ts";
import { problem, refusalProblem, unauthorized } from "../problem.ts";
import type { HttpDeps, RequestGate } from "../request-gate.ts";
import { Problem, WebhookBody } from "../schemas.ts";

const checkBody = TypeCompiler.Compile(WebhookBody);

export function webhookRoutes(deps: HttpDeps, gate: RequestGate) {
  const clock = deps.clock ?? Date.now;
  return new Elysia({ name: "webhook" }).post(
    "/v1/webhooks/payments",
    async ({ request, body }) => {
      const raw = gate.rawBodyOf(request);
      const signature = request.headers.get("stampede-signature");
      if (raw === undefined || !verifyWebhookSignature(deps.webhookSecret, signature, raw, Math.floor(clock() / 1000))) {
        return unauthorized("Missing, invalid or stale Stampede-Signature.");
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
      if (!outcome.ok) return refusalProblem(outcome.refusal, outcome.detail);
      if (!("payment" in outcome)) throw new Error("payment answered without an outcome");
      return json(200, { outcome: outcome.payment });
    },
    {
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
