// What a sale owner reports as it works; ServerMetrics implements it, tests may pass nothing.

import type { SaleCommand } from "../ledger/types.ts";

export interface OwnerMetrics {
  /** A command's outcome code: "ok", a refusal, or a payment outcome. */
  outcome(kind: SaleCommand["kind"], code: string): void;
  committed(events: number, commitMs: number): void;
  expired(count: number): void;
  snapshot(bytes: number, ms: number): void;
  /** A join of a waiting room: "waiting", "admitted" (at once), "kept" (joined again) or a refusal. */
  queueJoined?(code: string): void;
  /** Admissions of one tick, and how long each admitted buyer waited (ms). */
  queueAdmitted?(count: number, waitedMs: readonly number[]): void;
}
