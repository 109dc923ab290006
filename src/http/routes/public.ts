// Public reads: the sale document (cacheable, with an ETag) and its Server-Sent Events stream.
// Streams are bounded per client address and in all, and end when the server stops (admission.ts).

import { TypeCompiler } from "@sinclair/typebox/compiler";
import { Elysia } from "elysia";
import type { PublicDocument } from "../../engine/gateway.ts";
import { withAccessLog } from "../access-log.ts";
import { Admission, type StreamLease } from "../admission.ts";
import { errorResponse } from "../error-response.ts";
import { ProblemError, problem } from "../problem.ts";
import { routeTiming } from "../route-timing.ts";
import type { HttpDeps, PeerSource, RequestGate } from "../request-gate.ts";
import { jsonAnswer, problems, textAnswer } from "../openapi-document.ts";
import { ID_PATTERN, PublicSale, SaleParams } from "../schemas.ts";
import { validationProblem } from "../validation-problem.ts";

const CACHE_CONTROL = "public, max-age=1";
/** Documents queued for one event stream's client before it counts as too slow and is closed. */
const SSE_QUEUED_MAX = 256;

/** Heartbeats keep the stream under the server's idle timeout (10 s) and idle proxies from closing it. */
const SSE_HEARTBEAT_MS = 5_000;

export const PUBLIC_SALE_ROUTE = "/v1/sales/:saleId";
const ID = new RegExp(ID_PATTERN);
const saleParamsChecker = TypeCompiler.Compile(SaleParams);

/**
 * GET /v1/sales/:saleId as one function of the request: the crowd polls it during a drop, so like
 * the hold it skips Elysia's per-request context (app.ts hands it to Bun's router) and records its
 * own latency. The document comes at once when the owner has nothing waiting to commit (or from
 * this worker's copy of another owner's sale), and its ResponseInit is made once per document.
 */
export function publicSaleHandler(deps: HttpDeps, gate: RequestGate): (request: Request, saleId: string, server: PeerSource) => Response | Promise<Response> {
  const { gateway } = deps;
  const observe = deps.metrics?.httpRoute(PUBLIC_SALE_ROUTE);
  const inits = new WeakMap<PublicDocument, { ok: ResponseInit; notModified: ResponseInit }>();
  const answer = (found: PublicDocument | null, saleId: string, request: Request, started: number): Response => {
    let response: Response;
    if (found === null) response = problem(404, "not_found", `No sale ${saleId}.`);
    else {
      let init = inits.get(found);
      if (init === undefined) {
        init = {
          ok: { status: 200, headers: { "content-type": "application/json", etag: found.etag, "cache-control": CACHE_CONTROL } },
          notModified: { status: 304, headers: { etag: found.etag, "cache-control": CACHE_CONTROL } },
        };
        inits.set(found, init);
      }
      response = request.headers.get("if-none-match") === found.etag ? new Response(null, init.notModified) : new Response(found.document, init.ok);
    }
    observe?.(response.status, (performance.now() - started) / 1000);
    return response;
  };
  const handle = (request: Request, saleId: string, server: PeerSource): Response | Promise<Response> => {
    const started = performance.now();
    const shed = gate.admitRead(request, server);
    if (shed !== undefined) return answerAs(shed, started);
    if (saleId.length > 64 || !ID.test(saleId)) return answerAs(validationProblem(saleParamsChecker, { saleId }, "path"), started);
    const now = gateway.publicSaleNow?.(saleId);
    if (now !== undefined) return answer(now, saleId, request, started);
    return gateway.publicSale(saleId).then(
      (found) => answer(found, saleId, request, started),
      (error: unknown) => answerAs(errorResponse("UNKNOWN", error), started),
    );
  };
  const answerAs = (response: Response, started: number): Response => {
    observe?.(response.status, (performance.now() - started) / 1000);
    return response;
  };
  return deps.accessLog === true ? withAccessLog(PUBLIC_SALE_ROUTE, handle) : handle;
}

/** The document route as Elysia knows it (routed and documented); app.ts also gives it to Bun's router. */
export function publicSaleRoute(deps: HttpDeps, gate: RequestGate) {
  const handle = publicSaleHandler(deps, gate);
  return new Elysia({ name: "public-sale" }).get(
    PUBLIC_SALE_ROUTE,
    ({ request, params, server }) => handle(request, params.saleId, server),
    {
      detail: {
        tags: ["buyers"],
        summary: "Public sale document with availability (ETag, Cache-Control)",
        // Anyone may read it (API.md): no credential, stated rather than left unsaid.
        security: [],
        parameters: [{ name: "saleId", in: "path", required: true, schema: SaleParams.properties.saleId }],
        responses: {
          200: jsonAnswer("The sale as buyers see it", PublicSale),
          304: { description: "Not modified: the `If-None-Match` tag is the current one" },
          ...problems({ 404: ["not_found"], 422: ["validation_failed"], 429: ["rate_limited"], 503: ["overloaded"] }),
        },
      },
    },
  );
}

export function publicRoutes(deps: HttpDeps, gate: RequestGate) {
  const { gateway } = deps;
  const admission = deps.admission ?? new Admission();
  const timing = routeTiming(deps);
  const notFound = (saleId: string) => problem(404, "not_found", `No sale ${saleId}.`);
  return new Elysia({ name: "public" })
    .onTransform(({ request, server, set }) => {
      timing.start(request, set);
      const shed = gate.admitRead(request, server);
      if (shed !== undefined) throw new ProblemError(shed);
    })
    .onAfterResponse(timing.finish)
    .get(
      "/v1/sales/:saleId/stream",
      async ({ params, request, server }) => {
        const found = await gateway.publicSale(params.saleId);
        if (found === null) return notFound(params.saleId);
        const lease = admission.openStream(gate.addressOf(request, server));
        if (lease instanceof Response) return lease;
        return sseResponse(found.document, request.signal, lease, (listener) => gateway.watchSale(params.saleId, listener));
      },
      {
        params: SaleParams,
        detail: {
          tags: ["buyers"],
          summary: "Server-Sent Events: the public sale document on each change",
          description: "Each `data:` line is the sale's public document; a comment line every 5 s keeps the connection open.",
          security: [],
          responses: {
            200: textAnswer("A stream of sale documents", "text/event-stream"),
            ...problems({ 404: ["not_found"], 429: ["rate_limited"], 503: ["overloaded"] }),
          },
        },
      },
    );
}

/**
 * The stream ends when the client goes (`clientGone`), when the server stops (`lease.signal`), or
 * when a write fails; however it ends, the watcher, the heartbeat and the lease go exactly once.
 */
function sseResponse(
  first: string,
  clientGone: AbortSignal,
  lease: StreamLease,
  watch: (listener: (document: string) => void) => (() => void) | null,
): Response {
  const encoder = new TextEncoder();
  let stop = () => {};
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      let stopped = false;
      let heartbeat: ReturnType<typeof setInterval> | undefined;
      let unwatch = () => {};
      const end = () => {
        stop();
        try {
          controller.close();
        } catch {}
      };
      stop = () => {
        if (stopped) return;
        stopped = true;
        clearInterval(heartbeat);
        unwatch();
        clientGone.removeEventListener("abort", end);
        lease.signal.removeEventListener("abort", end);
        lease.release();
      };
      const send = (text: string) => {
        // A client that reads slower than the sale changes is cut off rather than buffered for.
        if ((controller.desiredSize ?? 0) < -SSE_QUEUED_MAX) return end();
        try {
          controller.enqueue(encoder.encode(text));
        } catch {
          stop();
        }
      };
      if (clientGone.aborted || lease.signal.aborted) return end();
      clientGone.addEventListener("abort", end);
      lease.signal.addEventListener("abort", end);
      send(`retry: 2000\ndata: ${first}\n\n`);
      if (stopped) return;
      unwatch = watch((document) => send(`data: ${document}\n\n`)) ?? (() => {});
      heartbeat = setInterval(() => send(": heartbeat\n\n"), SSE_HEARTBEAT_MS);
    },
    cancel() {
      stop();
    },
  });
  return new Response(stream, {
    headers: { "content-type": "text/event-stream", "cache-control": "no-store", connection: "keep-alive" },
  });
}
