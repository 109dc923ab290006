// Public reads: the sale document (cacheable, with an ETag) and its Server-Sent Events stream.

import { Elysia } from "elysia";
import type { PublicSaleView } from "../../ledger/views.ts";
import { problem } from "../problem.ts";
import type { HttpDeps } from "../request-gate.ts";
import { Problem, PublicSale, SaleParams } from "../schemas.ts";

/** Heartbeats keep the stream under the server's idle timeout (10 s) and idle proxies from closing it. */
const SSE_HEARTBEAT_MS = 5_000;

export function publicRoutes(deps: HttpDeps) {
  const { gateway } = deps;
  const notFound = (saleId: string) => problem(404, "not_found", `No sale ${saleId}.`);
  return new Elysia({ name: "public" })
    .get(
      "/v1/sales/:saleId",
      async ({ params, request }) => {
        const found = await gateway.publicSale(params.saleId);
        if (found === null) return notFound(params.saleId);
        // The tag is a hash of the document itself: the ledger's version counter starts again after
        // a restart, so a tag made from it could name a different document than the client cached.
        const document = JSON.stringify(found.view);
        const etag = `"${Bun.hash(document).toString(36)}"`;
        const headers = { etag, "cache-control": "public, max-age=1" };
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
      async ({ params, request }) => {
        const found = await gateway.publicSale(params.saleId);
        if (found === null) return notFound(params.saleId);
        return sseResponse(found.view, request.signal, (listener) => gateway.watchSale(params.saleId, listener));
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

function sseResponse(
  first: PublicSaleView,
  signal: AbortSignal,
  watch: (listener: (view: PublicSaleView) => void) => (() => void) | null,
): Response {
  const encoder = new TextEncoder();
  let stop = () => {};
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      const send = (text: string) => {
        try {
          controller.enqueue(encoder.encode(text));
        } catch {
          stop();
        }
      };
      send(`retry: 2000\ndata: ${JSON.stringify(first)}\n\n`);
      const unwatch = watch((view) => send(`data: ${JSON.stringify(view)}\n\n`)) ?? (() => {});
      const heartbeat = setInterval(() => send(": heartbeat\n\n"), SSE_HEARTBEAT_MS);
      stop = () => {
        clearInterval(heartbeat);
        unwatch();
      };
      signal.addEventListener("abort", () => {
        stop();
        try {
          controller.close();
        } catch {}
      });
    },
    cancel() {
      stop();
    },
  });
  return new Response(stream, {
    headers: { "content-type": "text/event-stream", "cache-control": "no-store", connection: "keep-alive" },
  });
}
