// POST and GET /v1/sales/:saleId/queue (API.md, "Waiting room"): a buyer joins a sale's waiting room
// and polls for their place. Like the hold, both are plain functions of the request, registered with
// Bun's router as well as documented through Elysia (app.ts): a poll answered from this worker's copy
// of the sale costs a JWT lookup, a Map lookup and a small JSON string.
//
// The answer is rendered here from the place and the room's numbers the gateway hands back: position
// = rank - serving counter, an estimate from the room's pace, Retry-After to spread the polls, and
// for an admitted buyer the admission token, signed in this worker (auth/admission-token.ts).

import { Elysia } from "elysia";
import type { AdmissionTokens } from "../../auth/admission-token.ts";
import type { QueueAnswer, RoomNumbers } from "../../engine/gateway.ts";
import { overloaded, problem, refusalResponse, unauthorized } from "../problem.ts";
import { rateLimited } from "../rate-limit-headers.ts";
import type { HttpDeps, RequestGate } from "../request-gate.ts";
import { CREDENTIAL_PROBLEMS, jsonAnswer, problems } from "../openapi-document.ts";
import { ID_PATTERN, QueueStatus, SaleParams } from "../schemas.ts";
import { refusalLog } from "../refusal-log.ts";

export const QUEUE_ROUTE = "/v1/sales/:saleId/queue";

/** Polls of a buyer far back come no more often than this (Retry-After, seconds). */
const POLL_INTERVAL_MAX_SECONDS = 30;
const ID = new RegExp(ID_PATTERN);
const JSON_HEADERS = { "content-type": "application/json" };

type Server = { requestIP(request: Request): { address: string } | null } | null | undefined;
type Handler = (request: Request, saleId: string, server: Server) => Response | Promise<Response>;

/** Seconds until the buyer's turn, as the room's pace tells it now. */
function estimateSeconds(rank: number, room: RoomNumbers, now: number): number {
  const rate = room.admitPerSecond;
  // Before the draw a buyer's rank is not known: half the room is the expected place.
  const ahead = rank > 0 ? rank - room.served : Math.ceil((room.waiting + 1) / 2);
  const untilStart = Math.max(0, room.startsAt - now) / 1000;
  return Math.ceil(untilStart + ahead / rate);
}

/** The answer to a join (`joined`) or a poll, as API.md words it. */
export function queueResponse(answer: QueueAnswer, join: boolean, saleId: string, userId: string, tokens: AdmissionTokens, now: number): Response {
  if (!answer.ok) {
    if (answer.refusal === "unavailable") return overloaded(answer.detail, answer.retryAfterSeconds ?? 1);
    if (answer.refusal === "rate_limited") return rateLimited("buyer", answer.retryAfterSeconds ?? 1);
    return refusalResponse(answer.refusal, answer.detail);
  }
  const { place, room } = answer;
  switch (place.status) {
    case "waiting": {
      const estimatedWaitSeconds = estimateSeconds(place.rank, room, now);
      // Position only once the buyer has a rank: before the draw no number could be kept from growing.
      const body = place.rank > 0 ? { status: "waiting", position: place.rank - room.served, estimatedWaitSeconds } : { status: "waiting", estimatedWaitSeconds };
      const retryAfter = Math.min(POLL_INTERVAL_MAX_SECONDS, Math.max(1, Math.ceil(estimatedWaitSeconds / 4)));
      return new Response(JSON.stringify(body), { status: join ? 202 : 200, headers: { ...JSON_HEADERS, "retry-after": String(retryAfter) } });
    }
    case "admitted": {
      const body = {
        status: "admitted",
        admissionToken: tokens.sign(saleId, userId, place.admissionExpiresAt),
        admissionExpiresAt: new Date(place.admissionExpiresAt).toISOString(),
      };
      return new Response(JSON.stringify(body), { status: 200, headers: JSON_HEADERS });
    }
    default:
      return new Response(`{"status":"${place.status}"}`, { status: 200, headers: JSON_HEADERS });
  }
}

/** The join and the poll, each one function of the request, its sale id and the server. */
export function queueHandlers(deps: HttpDeps, gate: RequestGate, tokens: AdmissionTokens): { join: Handler; poll: Handler } {
  const { gateway } = deps;
  const clock = deps.clock ?? Date.now;
  const observe = deps.metrics?.httpRoute(QUEUE_ROUTE);
  const make = (join: boolean): Handler => {
    const done = (response: Response, started: number) => {
      observe?.(response.status, (performance.now() - started) / 1000);
      return response;
    };
    return (request, saleId, server) => {
      const started = performance.now();
      // A join is a write like a hold (shed first when the process is behind); a poll is a read.
      const shed = join ? gate.admitHold(request, server) : gate.admitRead(request, server);
      if (shed !== undefined) return done(shed, started);
      const userId = deps.buyer(request.headers.get("authorization"));
      if (userId === null) {
        refusalLog.unauthorized(QUEUE_ROUTE);
        return done(unauthorized(), started);
      }
      if (saleId.length > 64 || !ID.test(saleId)) {
        const errors = [{ path: "/saleId", message: "Expected a string matching ^[A-Za-z0-9_-]{1,64}$" }];
        return done(problem(422, "validation_failed", "The path does not match the schema.", { errors }), started);
      }
      let sync: Response | undefined;
      let resolve: ((response: Response) => void) | undefined;
      const reply = (answer: QueueAnswer) => {
        const response = done(queueResponse(answer, join, saleId, userId, tokens, clock()), started);
        if (resolve === undefined) sync = response;
        else resolve(response);
      };
      if (join) gateway.joinQueue(saleId, userId, reply);
      else gateway.queuePlace(saleId, userId, reply);
      // A poll answered from this worker's copy comes back at once: no promise for it.
      return sync ?? new Promise<Response>((settle) => (resolve = settle));
    };
  };
  return { join: make(true), poll: make(false) };
}

const QUEUE_PROBLEMS = { ...CREDENTIAL_PROBLEMS, 404: ["not_found"], 422: ["validation_failed"], 429: ["rate_limited"], 503: ["overloaded"] } as const;
const WAITING_EXAMPLE = { status: "waiting", position: 1234, estimatedWaitSeconds: 3 };
const ADMITTED_EXAMPLE = { status: "admitted", admissionToken: "MTc2NDk2...Ig.3q2-7w", admissionExpiresAt: "2026-11-22T20:10:00.000Z" };

/** The routes as Elysia knows them: routed and documented (app.ts also hands them to Bun's router). */
export function queueRoutes(deps: HttpDeps, gate: RequestGate, tokens: AdmissionTokens) {
  const { join, poll } = queueHandlers(deps, gate, tokens);
  const security = [{ buyer: [] }];
  const parameters = [{ name: "saleId", in: "path" as const, required: true, schema: SaleParams.properties.saleId }];
  return new Elysia({ name: "queue" })
    .post(QUEUE_ROUTE, ({ request, params, server }) => join(request, params.saleId, server), {
      parse: "none",
      detail: {
        tags: ["buyers"],
        summary: "Join the sale's waiting room (202 waiting, 200 admitted at once)",
        description:
          "Joins open `opensSecondsBefore` startsAt (409 `queue_not_open` before). Everyone who joins before startsAt is " +
          "placed in a random order at startsAt; after it, first come, first served. Joining again answers the buyer's " +
          "place, never a second one. Before the draw a waiting answer has no `position` yet. Durable before it is answered.",
        security,
        parameters,
        responses: {
          200: jsonAnswer("Admitted: hold with `Stampede-Admission: <admissionToken>` until admissionExpiresAt", QueueStatus, ADMITTED_EXAMPLE),
          202: jsonAnswer("Waiting (Retry-After says when to poll)", QueueStatus, WAITING_EXAMPLE),
          ...problems({ ...QUEUE_PROBLEMS, 409: ["queue_not_open", "no_waiting_room", "sold_out"], 410: ["sale_ended"] }),
        },
      },
    })
    .get(QUEUE_ROUTE, ({ request, params, server }) => poll(request, params.saleId, server), {
      detail: {
        tags: ["buyers"],
        summary: "The buyer's place in the waiting room",
        description:
          "`status` is waiting, admitted, sold_out or not_joined (never joined, or an admission that expired unused: join again). " +
          "`position` is the number of buyers ahead plus one and never grows; Retry-After while waiting.",
        security,
        parameters,
        responses: {
          200: jsonAnswer("The buyer's place", QueueStatus, WAITING_EXAMPLE),
          ...problems({ ...QUEUE_PROBLEMS, 409: ["no_waiting_room"] }),
        },
      },
    });
}
