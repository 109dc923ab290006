// Public reads: the sale document (cacheable, with an ETag) and its Server-Sent Events stream.
// Streams are bounded per client address and in all, and end when the server stops (admission.ts).

import { Elysia } from "elysia";
import { Admission, type StreamLease } from "../admission.ts";
import { ProblemError, problem } from "../problem.ts";
import { routeTiming } from "../route-timing.ts";
import type { HttpDeps, RequestGate } from "../request-gate.ts";
import { jsonAnswer, problems, textAnswer } from "../openapi-document.ts";
import { PublicSale, SaleParams } from "../schemas.ts";

const CACHE_CONTROL = "public, max-age=1";
/** Documents queued for one event stream's client before it counts as too slow and is closed. */
const SSE_QUEUED_MAX = 256;

/** Heartbeats keep the stream under the server's idle timeout (10 s) and idle proxies from closing it. */
const SSE_HEARTBEAT_MS = 5_000;

export function publicRoutes(deps: HttpDeps, gate: RequestGate) {
  const { gateway } = deps;
  const admission = deps.admission ?? new Admission();
  const timing = routeTiming(deps);
  const notFound = (saleId: string) => problem(404, "not_found", `No sale ${saleId}.`);
  // The owner renders each document once per version, with its ETag (a hash of the document):
  // a read writes it out as it is.
  const headers = (etag: string) => ({ "content-type": "application/json", etag, "cache-control": CACHE_CONTROL });
  return new Elysia({ name: "public" })
    .onTransform((context) => {
      timing.start(context);
      const shed = gate.admitRead(context.request, context.server);
      if (shed !== undefined) throw new ProblemError(shed);
    })
    .onAfterResponse(timing.finish)
    .get(
      "/v1/sales/:saleId",
      async ({ params, request }) => {
        const found = await gateway.publicSale(params.saleId);
        if (found === null) return notFound(params.saleId);
        if (request.headers.get("if-none-match") === found.etag) {
          return new Response(null, { status: 304, headers: { etag: found.etag, "cache-control": CACHE_CONTROL } });
        }
        return new Response(found.document, { status: 200, headers: headers(found.etag) });
      },
      {
        params: SaleParams,
        detail: {
          tags: ["buyers"],
          summary: "Public sale document with availability (ETag, Cache-Control)",
          // Anyone may read it (API.md): no credential, stated rather than left unsaid.
          security: [],
          responses: {
            200: jsonAnswer("The sale as buyers see it", PublicSale),
            304: { description: "Not modified: the `If-None-Match` tag is the current one" },
            ...problems({ 404: ["not_found"], 429: ["rate_limited"], 503: ["overloaded"] }),
          },
        },
      },
    )
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
