// Every error a route throws, as problem+json with a stable code: Elysia's own (validation, parse,
// not found), a route's ProblemError, an unavailable owner (503 with Retry-After), a broken
// invariant (the process stops), anything else (500 with a request id to find the log line). The
// app's error hook and the routes that bypass Elysia (native routes) share it.

import { log } from "../log.ts";
import { type FieldError, ProblemError, overloaded, problem } from "./problem.ts";
import { BodyError } from "./request-gate.ts";

type ValidationIssue = { path?: string; message?: string; summary?: string };

export function errorResponse(code: string | number, error: unknown): Response {
  // Elysia hands an error thrown by a parse hook over as the `cause` of its own ParseError.
  const cause = (error as { cause?: unknown })?.cause;
  if (error instanceof ProblemError) return error.response;
  if (cause instanceof ProblemError) return cause.response;
  const body = error instanceof BodyError ? error : cause;
  if (body instanceof BodyError) return problem(body.status, body.code, body.message);
  switch (code) {
    case "VALIDATION": {
      const all = (error as { all?: ValidationIssue[] }).all ?? [];
      const seen = new Set<string>();
      const errors: FieldError[] = [];
      for (const issue of all) {
        const path = issue.path || "/";
        if (seen.has(path)) continue;
        seen.add(path);
        errors.push({ path, message: issue.summary ?? issue.message ?? "invalid" });
      }
      return problem(422, "validation_failed", "The request does not match the schema.", { errors });
    }
    case "PARSE":
      return problem(400, "invalid_json", "The request body is not valid JSON.");
    case "NOT_FOUND":
      return problem(404, "not_found", "No such route.");
    case "INVALID_COOKIE_SIGNATURE":
    case "INVALID_FILE_TYPE":
      return problem(400, "validation_failed", "The request is malformed.");
    default: {
      if ((error as { name?: string })?.name === "InvariantViolation") {
        // A broken invariant is a bug: stop loudly and let recovery rebuild from the journal.
        // Stop now, in this turn: nothing else may be committed after a failed assertion.
        log("fatal", "invariant violated", { error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
        process.exit(70);
      }
      const unavailable = error as { retryAfterSeconds?: number; message?: string };
      if (typeof unavailable?.retryAfterSeconds === "number") {
        // Jittered (API.md), so that the clients shed together do not come back together.
        return overloaded(unavailable.message ?? "Unavailable.", unavailable.retryAfterSeconds);
      }
      // The id ties the answer the client saw to the log line an operator reads.
      const requestId = Bun.randomUUIDv7();
      log("error", "unhandled error", { requestId, error: String(error) });
      return problem(500, "internal_error", `An unexpected error occurred (request ${requestId}).`);
    }
  }
}

