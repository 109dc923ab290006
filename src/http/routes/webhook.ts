// The payment provider's webhook. The raw body is read here, with its bound; the signature is
// checked over it before anything else, so an unsigned caller learns nothing; the body is then
// parsed and validated by hand (not by Elysia, which would answer 422 before the signature).

import { TypeCompiler } from "@sinclair/typebox/compiler";
import { Elysia } from "elysia";
import { verifyWebhookSignature } from "../../auth/webhook-signature.ts";
import { audit } from "../../log.ts";
import { problem, refusalResponse, unauthorized } from "../problem.ts";
import { refusalLog } from "../refusal-log.ts";
import { BODY_MAX_BYTES, BodyError, type HttpDeps, type RequestGate, parseJsonText, readBodyText } from "../request-gate.ts";
import { routeTiming } from "../route-timing.ts";
import { BODY_PROBLEMS, jsonAnswer, jsonRequest, problems } from "../openapi-document.ts";
import { WebhookBody, WebhookOutcome } from "../schemas.ts";

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
  const timing = routeTiming(deps);
  return new Elysia({ name: "webhook" })
    .onTransform(({ request, set }) => timing.start(request, set))
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
        refusalLog.signatureRefused();
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
      if (outcome.payment === "refund_required") {
        // Money the sale cannot honour: operators list these (GET .../payments?outcome=refund_required).
        audit("payment.refund_required", "payment needs a refund", {
          sale: body.saleId,
          reservation: body.reservationId,
          paymentId: body.paymentId,
          amount: body.amount,
          currency: body.currency,
        });
      }
      return new Response(OUTCOME_BODIES.get(outcome.payment), JSON_OK);
    },
    {
      // The body is this handler's to read (bounded, raw): Elysia must not parse it first.
      parse: "none",
      detail: {
        tags: ["payments"],
        summary: "Payment provider webhook (signed)",
        description:
          "Outcomes: `confirmed`, `already_confirmed` (applied before: nothing changes), `confirmed_late` (the hold " +
          "had ended, the stock was taken again), `refund_required` (recorded and listed for operators), `ignored` " +
          "(`status: failed`). A payment is applied at most once, whatever the provider retries. The signature " +
          "covers the raw body, so it cannot be made in this page: send it with curl (README.md).",
        security: [{ webhook: [] }],
        parameters: [
          {
            name: "Stampede-Signature",
            in: "header",
            required: true,
            description:
              "`t=<unix seconds>,v1=<hex HMAC-SHA256(STAMPEDE_WEBHOOK_SECRET, \"<t>.<raw body>\")>`; refused when `t` " +
              "is more than 300 s from the server's clock.",
            schema: { type: "string", maxLength: 1024 },
          },
        ],
        requestBody: jsonRequest(WebhookBody, {
          eventId: "evt_1",
          paymentId: "pay_1",
          saleId: "drop-42",
          reservationId: "r_0000000001",
          status: "succeeded",
          amount: 4900,
          currency: "USD",
        }),
        responses: {
          200: jsonAnswer("The payment's outcome", WebhookOutcome, { outcome: "confirmed" }),
          ...problems({ ...BODY_PROBLEMS, 401: ["unauthorized"], 404: ["not_found"], 503: ["overloaded"] }),
        },
      },
    },
  );
}
