// Public reads: the sale document (cacheable, with an ETag) and its Server-Sent Events stream.
// Streams are bounded per client address and in all, and end when the server stops (admission.ts).

import { Elysia } from "elysia";
import type { PublicSaleView } from "../../ledger/views.ts";
import { Admission, type StreamLease } from "../admission.ts";
import { problem } from "../problem.ts";
import type { HttpDeps, RequestGate } from "../request-gate.ts";
import { Problem, PublicSale, SaleParams } from "../schemas.ts";

/** Documents kept serialized; past this many sales the cache starts over. */
const DOCUMENTS_MAX = 10_000;

/** Heartbeats keep the stream under the server's idle timeout (10 s) and idle proxies from closing it. */
const SSE_HEARTBEAT_MS = 5_000;

export function publicRoutes(deps: HttpDeps, gate: RequestGate) {
  const { gateway } = deps;
  const admission = deps.admission ?? new Admission();
  const notFound = (saleId: string) => problem(404, "not_found", `No sale ${saleId}.`);
  /** Each sale's document serialized once per version, with its ETag: reads are the hottest route. */
  const documents = new Map<string, { version: string; document: string; headers: { etag: string; "cache-control": string } }>();
  return new Elysia({ name: "public" })
    .get(
      "/v1/sales/:saleId",
      async ({ params, request }) => {
        const found = await gateway.publicSale(params.saleId);
        if (found === null) return notFound(params.saleId);
        let rendered = documents.get(params.saleId);
        if (rendered?.version !== found.version) {
          // The tag is a hash of the document itself: the ledger's version counter starts again after
          // a restart, so a tag made from it could name a different document than the client cached.
          const document = JSON.stringify(found.view);
          const etag = `"${Bun.hash(document).toString(36)}"`;
          rendered = { version: found.version, document, headers: { etag, "cache-control": "public, max-age=1" } };
          if (documents.size >= DOCUMENTS_MAX) documents.clear();
          documents.set(params.saleId, rendered);
        }
        const { document, headers } = rendered;
        const etag = headers.etag;
        if (request.headers.get("if-none-match") === etag) return new Response(null, { status: 304, headers });
        return new Response(document, { status: 200, headers: { "content-type": "application/json", ...headers } });
      },
      {
        params: SaleParams,
        response: { 200: PublicSale, 404: Problem },
        detail: { tags: ["buyers"], summary: "Public sale document with availability (ETag, Cache-Control)" },
      },
    )
    .get(
      "/v1/sales/:saleId/stream",
      async ({ params, request, server }) => {
        const found = await gateway.publicSale(params.saleId);
        if (found === null) return notFound(params.saleId);
        const lease = admission.openStream(gate.addressOf(request, server?.requestIP(request)?.address));
        if (lease instanceof Response) return lease;
        return sseResponse(found.view, request.signal, lease, (listener) => gateway.watchSale(params.saleId, listener));
      },
      {
        params: SaleParams,
        detail: {
          tags: ["buyers"],
          summary: "Server-Sent Events: the public sale document on each change",
          responses: { 200: { description: "text/event-stream of sale documents", content: { "text/event-stream": {} } } },
        },
      },
    );
}

/**
 * The stream ends when the client goes (`clientGone`), when the server stops (`lease.signal`), or
 * when a write fails; however it ends, the watcher, the heartbeat and the lease go exactly once.
 */
function sseResponse(
  first: PublicSaleView,
  clientGone: AbortSignal,
  lease: StreamLease,
  watch: (listener: (view: PublicSaleView) => void) => (() => void) | null,
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
        try {
          controller.enqueue(encoder.encode(text));
        } catch {
          stop();
        }
      };
      if (clientGone.aborted || lease.signal.aborted) return end();
      clientGone.addEventListener("abort", end);
      lease.signal.addEventListener("abort", end);
      send(`retry: 2000\ndata: ${JSON.stringify(first)}\n\n`);
      if (stopped) return;
      unwatch = watch((view) => send(`data: ${JSON.stringify(view)}\n\n`)) ?? (() => {});
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
