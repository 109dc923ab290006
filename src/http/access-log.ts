// The access log (STAMPEDE_ACCESS_LOG=1): one line per request with its request id, method, route,
// status and time, written through the buffered logger (log.ts). Off by default; when off it costs
// nothing, because the routes decide once, when they are built, whether to log (hold.ts wraps its
// handler only then; route-timing.ts checks one boolean it already has in hand).
//
// The request id is the client's `X-Request-Id` when it sends a sensible one (a load balancer's, so
// that its logs and ours join), otherwise one made here; it is sent back in `X-Request-Id`. The line
// never holds a header value other than that id, nor a query string or a body: a token, a code or
// a secret cannot end up in it.

import { log } from "../log.ts";

/** What an incoming X-Request-Id may look like to be used as it is. */
const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

export const REQUEST_ID_HEADER = "x-request-id";

/** The request's id: the client's when well formed, else a fresh UUIDv7 (time-ordered, unique). */
export function requestIdOf(request: Request): string {
  const given = request.headers.get(REQUEST_ID_HEADER);
  return given !== null && REQUEST_ID_PATTERN.test(given) ? given : Bun.randomUUIDv7();
}

/** One access-log line. `route` is the route's template, never the raw path with its ids and query. */
export function accessLine(requestId: string, method: string, route: string, status: number, seconds: number): void {
  log("info", "request", { requestId, method, route, status, ms: Math.round(seconds * 1e6) / 1e3 });
}

/**
 * Wrap a handler so that each answer gets its request id and a log line; used only when the access
 * log is on, so that the handler itself stays as it is.
 */
export function withAccessLog<A extends unknown[]>(
  route: string,
  handler: (request: Request, ...rest: A) => Response | Promise<Response>,
): (request: Request, ...rest: A) => Response | Promise<Response> {
  return (request, ...rest) => {
    const started = performance.now();
    const requestId = requestIdOf(request);
    const finish = (response: Response): Response => {
      response.headers.set(REQUEST_ID_HEADER, requestId);
      accessLine(requestId, request.method, route, response.status, (performance.now() - started) / 1000);
      return response;
    };
    const answer = handler(request, ...rest);
    return answer instanceof Promise ? answer.then(finish) : finish(answer);
  };
}
