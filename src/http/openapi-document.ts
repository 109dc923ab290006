// The OpenAPI document as Swagger UI needs it to "Try it out". @elysiajs/openapi generates it from
// the routes, but leaves gaps a route's `detail` cannot fill, since the generator overwrites them:
//   - a route with its own JSON parser (the operator routes read the body with a bound, after the
//     token) gets a requestBody with no content at all, so Swagger UI has nothing to send;
//   - a route whose path parameters the generator derives drops the header parameters its detail
//     declares (Idempotency-Key on the hold);
//   - descriptions are Markdown, in which `<t>` is an HTML tag that Swagger UI swallows.
// `completeDocument` runs once over the generated document: a route's own `detail.requestBody` and
// `detail.parameters` win over what was generated, every error answer is problem+json with its
// schema, and angle brackets outside code spans are escaped. The helpers below are how routes
// declare bodies and answers, so that each route reads as its contract.

import type { TSchema } from "@sinclair/typebox";
import type { DocumentDecoration } from "elysia";
import { Problem } from "./schemas.ts";

/** What a route's `detail` takes, as Elysia types it (OpenAPI 3's operation object). */
type RequestBodyDetail = NonNullable<DocumentDecoration["requestBody"]>;
type ResponsesDetail = NonNullable<DocumentDecoration["responses"]>;
type ResponseDetail = ResponsesDetail[string];

type Json = Record<string, unknown>;

export type MediaType = { schema?: unknown; example?: unknown };
export type ResponseObject = { description: string; content?: Record<string, MediaType> };
export type Parameter = { name: string; in: "path" | "query" | "header" | "cookie"; required?: boolean; description?: string; schema?: unknown; example?: unknown };
export type Operation = {
  summary?: string;
  description?: string;
  security?: Record<string, string[]>[];
  parameters?: Parameter[];
  requestBody?: { required?: boolean; description?: string; content: Record<string, MediaType> };
  responses?: Record<string, ResponseObject>;
  [extension: string]: unknown;
};
export type OpenApiDocument = { openapi: string; info: Json; paths: Record<string, Record<string, Operation>>; components: Json };

/** What the generator and this pass read of an Elysia route. */
export type DocumentedRoute = { method: string; path: string; hooks?: { detail?: Partial<Operation> & { hide?: boolean }; body?: unknown } };

// A TypeBox schema is a JSON Schema object; OpenAPI's types describe one more narrowly than TypeBox
// does, hence the one cast here, where schemas enter the document.
const schemaOf = (schema: TSchema) => schema as never;

/** A JSON request body with its schema and the example Swagger UI fills in. */
export function jsonRequest(schema: TSchema, example: unknown, description?: string): RequestBodyDetail {
  return {
    required: true,
    ...(description === undefined ? {} : { description }),
    content: { "application/json": { schema: schemaOf(schema), example } },
  };
}

/** A JSON answer with its schema. */
export function jsonAnswer(description: string, schema: TSchema, example?: unknown): ResponseDetail {
  return { description, content: { "application/json": { schema: schemaOf(schema), ...(example === undefined ? {} : { example }) } } };
}

/** A text answer (CSV, Prometheus text, an event stream): its media type and what the text is. */
export function textAnswer(description: string, mediaType: string): ResponseDetail {
  return { description, content: { [mediaType]: { schema: { type: "string" } } } };
}

/**
 * Error answers by status, each listing the `code`s it may carry: `problems({ 404: ["not_found"] })`.
 * Every one is application/problem+json with the Problem schema (API.md, Conventions).
 */
export function problems(codes: Record<number, readonly string[]>): ResponsesDetail {
  const answers: ResponsesDetail = {};
  for (const [status, list] of Object.entries(codes)) {
    answers[status] = {
      description: list.map((code) => `\`${code}\``).join(", "),
      content: { "application/problem+json": { schema: schemaOf(Problem) } },
    };
  }
  return answers;
}

/** Errors every body-reading route may answer before its own checks run. */
export const BODY_PROBLEMS = { 400: ["invalid_json"], 413: ["payload_too_large"], 422: ["validation_failed"] } as const;

/** Errors every buyer or operator route may answer: a missing or wrong credential, shedding. */
export const CREDENTIAL_PROBLEMS = { 401: ["unauthorized"] } as const;

/** `/v1/sales/:saleId` in Elysia's syntax, `/v1/sales/{saleId}` in OpenAPI's. */
export function openApiPath(path: string): string {
  return path.replace(/:([^/]+)/g, "{$1}");
}

/**
 * Fill in what the generator left out or overwrote (see the top of this file), then copy the
 * document out as plain JSON (the routes' own detail objects are never changed) and escape its
 * descriptions for Markdown.
 */
export function completeDocument(generated: OpenApiDocument, routes: readonly DocumentedRoute[]): OpenApiDocument {
  for (const route of routes) {
    const detail = route.hooks?.detail;
    if (detail === undefined || detail.hide === true) continue;
    const operation = generated.paths[openApiPath(route.path)]?.[route.method.toLowerCase()];
    if (operation === undefined) continue;
    if (detail.parameters !== undefined) operation.parameters = mergeParameters(operation.parameters ?? [], detail.parameters);
    if (detail.requestBody !== undefined) operation.requestBody = detail.requestBody;
    else if (operation.requestBody !== undefined) operation.requestBody = jsonOnly(operation.requestBody, route.hooks?.body);
    operation.responses = withContractProblems(operation);
  }
  const document = JSON.parse(JSON.stringify(generated)) as OpenApiDocument;
  for (const operations of Object.values(document.paths)) {
    for (const operation of Object.values(operations)) {
      if (operation.responses !== undefined) operation.responses = problemsAsProblemJson(operation.responses);
    }
  }
  return escapeDescriptions(document) as OpenApiDocument;
}

/** The route's parameters over the generated ones, matched by where they go and their name. */
function mergeParameters(generated: readonly Parameter[], declared: readonly Parameter[]): Parameter[] {
  const key = (parameter: Parameter) => `${parameter.in}\n${parameter.name.toLowerCase()}`;
  const byKey = new Map<string, Parameter>();
  for (const parameter of generated) byKey.set(key(parameter), parameter);
  for (const parameter of declared) byKey.set(key(parameter), { ...byKey.get(key(parameter)), ...parameter });
  return [...byKey.values()];
}

/**
 * Answers every route of a kind gives, whether or not its detail lists them: a route that takes a
 * credential answers 401 without it, one that takes a body answers 422 to a body that does not fit.
 */
function withContractProblems(operation: Operation): Record<string, ResponseObject> {
  const responses: Record<string, ResponseObject> = { ...operation.responses };
  if ((operation.security?.length ?? 0) > 0) responses["401"] ??= { description: "`unauthorized`" };
  if (operation.requestBody !== undefined) responses["422"] ??= { description: "`validation_failed`" };
  return responses;
}

/**
 * The generator offers form encodings besides JSON for every body, which no route here parses:
 * "Try it out" would send them and get a 400.
 */
function jsonOnly(body: NonNullable<Operation["requestBody"]>, schema: unknown): NonNullable<Operation["requestBody"]> {
  // A route with its own parser got no content at all: its body schema is the JSON it reads.
  const json = body.content["application/json"] ?? (schema === undefined ? undefined : { schema });
  return json === undefined ? body : { ...body, content: { "application/json": json } };
}

/**
 * Every error of the API is application/problem+json (API.md): an error answer declared with a
 * description only gets the Problem schema. Answers that carry their own content keep it (the 503
 * of /readyz is its readiness document, not a problem).
 */
function problemsAsProblemJson(responses: Record<string, ResponseObject>): Record<string, ResponseObject> {
  const fixed: Record<string, ResponseObject> = {};
  for (const [status, response] of Object.entries(responses)) {
    const bare = response.content === undefined || Object.keys(response.content).length === 0;
    // A route's `response: { 404: Problem }` comes out of the generator as application/json.
    const generatedProblem = Object.keys(response.content ?? {}).join() === "application/json" && JSON.stringify(response.content?.["application/json"]?.schema) === PROBLEM_JSON;
    fixed[status] =
      Number(status) >= 400 && (bare || generatedProblem)
        ? { description: response.description, content: { "application/problem+json": { schema: Problem } } }
        : withTextSchemas(response);
  }
  return fixed;
}

const PROBLEM_JSON = JSON.stringify(Problem);

/** A text answer declared with its media type only gets the schema of a string. */
function withTextSchemas(response: ResponseObject): ResponseObject {
  if (response.content === undefined) return response;
  const content: Record<string, MediaType> = {};
  for (const [type, media] of Object.entries(response.content)) {
    content[type] = media.schema === undefined && type.startsWith("text/") ? { ...media, schema: { type: "string" } } : media;
  }
  return { ...response, content };
}

/**
 * Swagger UI renders descriptions as Markdown with HTML allowed, so a `<t>` or `<raw body>` in them is
 * taken for a tag and vanishes. Angle brackets outside code spans become entities; inside backticks
 * they are shown as they are already.
 */
export function escapeMarkdownText(text: string): string {
  return text
    .split(/(`[^`]*`)/)
    .map((part, index) => (index % 2 === 1 ? part : part.replace(/</g, "&lt;").replace(/>/g, "&gt;")))
    .join("");
}

function escapeDescriptions(value: unknown, key = ""): unknown {
  if (typeof value === "string") return key === "description" || key === "summary" ? escapeMarkdownText(value) : value;
  if (Array.isArray(value)) return value.map((item) => escapeDescriptions(item));
  if (typeof value === "object" && value !== null) {
    const out: Json = {};
    // Schema properties are named by the API, not by OpenAPI: a property called "description" is a
    // schema, never text, and recursing with its name as the key would not escape it anyway.
    for (const [name, inner] of Object.entries(value)) out[name] = escapeDescriptions(inner, name);
    return out;
  }
  return value;
}
