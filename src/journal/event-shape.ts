// A check of each event read back from a journal: the journal is a file on disk, and a replay must
// never build state from something that is not an event this code wrote.

import { invariant } from "../ledger/invariant.ts";
import type { SaleEvent, SaleEventType } from "../ledger/types.ts";

const FIELDS_BY_TYPE: Record<SaleEventType, readonly string[]> = {
  sale_created: ["sale"],
  sale_patched: ["patch"],
  stock_adjusted: ["itemId", "delta"],
  codes_added: ["itemId", "codes"],
  hold_placed: ["reservationId", "itemId", "userId", "quantity", "amount", "currency", "expiresAt"],
  hold_released: ["reservationId", "itemId", "quantity"],
  hold_expired: ["reservationId", "itemId", "quantity"],
  payment_recorded: ["payment", "confirm"],
  queue_joined: ["userId", "rank", "admitted"],
  queue_drawn: ["seed"],
  queue_admitted: ["count"],
  queue_sold_out: [],
};

export function assertEventShape(event: SaleEvent): void {
  invariant(typeof event === "object" && event !== null, "journal entry is not an object");
  const fields = FIELDS_BY_TYPE[event.type];
  invariant(fields !== undefined, () => `journal entry has unknown type ${String(event.type)}`);
  invariant(typeof event.saleId === "string" && event.saleId.length > 0, "journal entry has no saleId");
  invariant(Number.isSafeInteger(event.at), "journal entry has no time");
  const record = event as unknown as Record<string, unknown>;
  for (const field of fields) {
    invariant(field in record, () => `journal entry ${event.type} lacks ${field}`);
  }
}
