// Refusals in bulk, as an operator wants to read them: the first of a kind at once, then one line
// per 10 s saying how many more there were (log.ts, RepeatedLines), never one line per request. A
// drop brings thousands of 401s from buyers with stale tokens, 429s from one address, 503s while
// the server sheds: each kind is one line to read, and the counts are in /metrics as well.
// The lines carry the route and the client address, never the credential that was refused.

import { repeated } from "../log.ts";

export const refusalLog = {
  /** A buyer's token or the admin token refused (401), on `route` ("buyer routes", a template). */
  unauthorized(route: string): void {
    repeated.note(`unauthorized ${route}`, "warn", "auth.refused", "credentials refused (401)", { route });
  },
  /** A payment webhook whose Stampede-Signature is missing, wrong or stale. */
  signatureRefused(): void {
    repeated.note("webhook signature", "warn", "webhook.signature_refused", "payment webhook signature refused (401)", {
      route: "/v1/webhooks/payments",
    });
  },
  /** Admission control shed a request of `kind` (holds, reads): the server is behind. */
  shed(kind: string): void {
    repeated.note(`shed ${kind}`, "warn", "load.shed", "requests shed, the server is behind (503)", { kind });
  },
  /** The per-address limit refused a request (429); the first address of the window is named. */
  addressLimited(address: string): void {
    repeated.note("address limit", "warn", "limit.address", "requests over the per-address limit (429)", { address });
  },
};
