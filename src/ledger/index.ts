export * from "./types.ts";
export { InvariantViolation, invariant } from "./invariant.ts";
export { ItemState } from "./item-state.ts";
export { SaleState, IDEMPOTENCY_KEEP_MS } from "./sale-state.ts";
export { SaleLedger, EXPIRE_BATCH_MAX, firstAnswerOf, holdFingerprint } from "./sale-ledger.ts";
export { restoreSale, type StoredSale } from "./restore.ts";
export { RecentEnded } from "./recent-ended.ts";
