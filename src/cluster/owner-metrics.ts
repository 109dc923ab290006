// What a sale owner reports as it works; ServerMetrics implements it, tests may pass nothing.

import type { Outcome, SaleCommand } from "../ledger/types.ts";

export interface OwnerMetrics {
  outcome(kind: SaleCommand["kind"], outcome: Outcome): void;
  committed(events: number, commitMs: number): void;
  expired(count: number): void;
}
