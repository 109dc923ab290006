// Assertions for the ledger's invariants (DESIGN.md). A failed assertion is a bug, never an expected
// outcome: it throws an InvariantViolation that nothing catches on purpose, so the worker crashes
// loudly and the supervisor restarts it from its journal.

export class InvariantViolation extends Error {
  override readonly name = "InvariantViolation";
}

export function invariant(condition: boolean, message: string | (() => string)): asserts condition {
  if (!condition) {
    throw new InvariantViolation(typeof message === "string" ? message : message());
  }
}
