// JSON of the reservation view of API.md, written once, at decision time, by the sale's owner: the
// answer to a hold is then a string that goes out unchanged, whichever worker took the request
// (STYLE.md: do nothing per request that can be done once). Ids of sales, items and reservations
// match ^[A-Za-z0-9_.-]+$ and currencies ^[A-Z]{3}$, so only the buyer's id needs JSON escaping.

import type { Reservation } from "../ledger/types.ts";
import { isoTime } from "./iso-time.ts";

/** The buyer's view (codes only once confirmed), as API.md shows it. */
export function renderReservation(r: Reservation): string {
  const codes = r.status === "confirmed" && r.codes.length > 0 ? JSON.stringify(r.codes) : "[]";
  return (
    `{"id":"${r.id}","saleId":"${r.saleId}","itemId":"${r.itemId}","userId":${JSON.stringify(r.userId)},` +
    `"quantity":${r.quantity},"status":"${r.status}","amount":${r.amount},"currency":"${r.currency}",` +
    `"createdAt":"${isoTime(r.createdAt)}","expiresAt":"${isoTime(r.expiresAt)}","codes":${codes}}`
  );
}
