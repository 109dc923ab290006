// The 422 of a request part that a compiled schema checker refuses, for the routes that check their
// input by hand (hold, public read) and run the checker only to explain a refusal.

import { problem } from "./problem.ts";

type Checker = { Errors(value: unknown): Iterable<{ path: string; message: string }> };

/** The 422 of a value a checker refuses, naming the failing paths as the rest of the API does. */
export function validationProblem(checker: Checker, value: unknown, what: string): Response {
  const seen = new Set<string>();
  const errors: { path: string; message: string }[] = [];
  for (const error of checker.Errors(value)) {
    const path = error.path || "/";
    if (seen.has(path)) continue;
    seen.add(path);
    errors.push({ path, message: error.message });
    if (errors.length === 20) break;
  }
  if (errors.length === 0) errors.push({ path: "/", message: "Expected an object" });
  return problem(422, "validation_failed", `The ${what} does not match the schema.`, { errors });
}
