// The docs plugin must give a Swagger UI that works with no internet access (every URL the page
// loads is on this server) and an OpenAPI 3 document that describes the app's routes.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Elysia, t } from "elysia";
import { type Harness, startHarness } from "../../test/support/harness.ts";
import { docsPlugin } from "./docs.ts";
import { escapeMarkdownText } from "./openapi-document.ts";

let app: ReturnType<typeof buildApp>;
let base = "";

function buildApp() {
  return new Elysia()
    .use(docsPlugin({ title: "Stampede <test>", version: "9.9.9", description: "docs test" }))
    .post("/v1/things", ({ body }) => ({ got: body.quantity }), {
      body: t.Object({ quantity: t.Integer({ minimum: 1, maximum: 10 }), note: t.Optional(t.String()) }),
      detail: { security: [{ buyer: [] }] },
    });
}

beforeAll(() => {
  // Port 0: a fresh port, never a stale server sharing one through reusePort (DESIGN.md).
  app = buildApp().listen({ port: 0, hostname: "127.0.0.1" });
  base = `http://127.0.0.1:${app.server?.port}`;
});

afterAll(async () => {
  await app.stop(true);
});

/** Every URL the page would load: src= and href= attributes. */
function referencedUrls(html: string): string[] {
  return [...html.matchAll(/(?:src|href)="([^"]*)"/g)].map((m) => m[1] ?? "");
}

describe("docsPlugin", () => {
  test("GET /swagger is an HTML page that loads only same-origin assets", async () => {
    const response = await fetch(`${base}/swagger`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/html");
    const html = await response.text();
    expect(html).toContain("<title>Stampede &#60;test&#62;</title>");
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/<script>/); // no inline script: the page survives a strict CSP
    const urls = referencedUrls(html);
    expect(urls.length).toBeGreaterThanOrEqual(5);
    for (const url of urls) expect(url.startsWith("/swagger/assets/")).toBe(true);
  });

  test("every asset the page references is served with a fitting content type", async () => {
    const html = await (await fetch(`${base}/swagger`)).text();
    const expected: Record<string, string> = { ".css": "text/css", ".js": "text/javascript", ".png": "image/png" };
    for (const url of referencedUrls(html)) {
      const response = await fetch(`${base}${url}`);
      expect(response.status).toBe(200);
      const extension = url.slice(url.lastIndexOf("."));
      expect(response.headers.get("content-type")).toContain(expected[extension] ?? "unknown extension");
      expect((await response.arrayBuffer()).byteLength).toBeGreaterThan(0);
    }
    const bundle = await (await fetch(`${base}/swagger/assets/swagger-ui-bundle.js`)).text();
    expect(bundle).toContain("SwaggerUIBundle");
    const initializer = await (await fetch(`${base}/swagger/assets/swagger-initializer.js`)).text();
    expect(initializer).toContain('"/swagger/json"');
  });

  test("GET /swagger/json is an OpenAPI 3 document with the route, its body and the security schemes", async () => {
    const response = await fetch(`${base}/swagger/json`);
    expect(response.status).toBe(200);
    const document = (await response.json()) as OpenApiDocument;
    expect(document.openapi).toMatch(/^3\./);
    expect(document.info).toEqual({ title: "Stampede <test>", version: "9.9.9", description: "docs test" });

    const operation = document.paths["/v1/things"]?.post;
    expect(operation).toBeDefined();
    expect(operation?.security).toEqual([{ buyer: [] }]);
    const schema = operation?.requestBody?.content["application/json"]?.schema;
    expect(schema?.type).toBe("object");
    expect(schema?.required).toEqual(["quantity"]);
    // Elysia documents t.Integer as "an integer or a numeric string" (it coerces); the bounds show.
    expect(schema?.properties?.quantity).toMatchObject({ minimum: 1, maximum: 10 });

    // The docs' own routes are not part of the API they describe.
    for (const path of Object.keys(document.paths)) expect(path.startsWith("/swagger")).toBe(false);

    expect(document.components.securitySchemes).toEqual({
      buyer: { type: "http", scheme: "bearer", bearerFormat: "JWT" },
      admin: { type: "http", scheme: "bearer", description: expect.any(String) },
      webhook: { type: "apiKey", in: "header", name: "Stampede-Signature", description: expect.any(String) },
    });
  });

  test("the route is rejected with 422 on a bad body, so the documented schema is the enforced one", async () => {
    const response = await fetch(`${base}/v1/things`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ quantity: 0 }),
    });
    expect(response.status).toBe(422);
  });
});

// The document of the whole app, as Swagger UI reads it: every operation must be one that "Try it
// out" can send, and one whose answers a reader can look up.
describe("the app's OpenAPI document", () => {
  let h: Harness;
  let document: OpenApiDocument;
  beforeAll(async () => {
    h = await startHarness();
    document = (await (await fetch(`${h.url}/swagger/json`)).json()) as OpenApiDocument;
  });
  afterAll(async () => {
    await h.close();
  });

  const operations = () =>
    Object.entries(document.paths).flatMap(([path, methods]) => Object.entries(methods).map(([method, operation]) => ({ path, method, operation })));

  test("every operation states its security, path parameters, request body and answers with schemas", () => {
    expect(operations().length).toBeGreaterThanOrEqual(19);
    // Every operation of API.md that takes a body has one in the document.
    const bodies = ["post /v1/admin/sales", "patch /v1/admin/sales/{saleId}", "post /v1/admin/sales/{saleId}/items/{itemId}/stock"];
    bodies.push("post /v1/admin/sales/{saleId}/items/{itemId}/codes", "post /v1/sales/{saleId}/reservations", "post /v1/webhooks/payments");
    for (const name of bodies) {
      const [method = "", path = ""] = name.split(" ");
      expect({ name, body: document.paths[path]?.[method]?.requestBody !== undefined }).toEqual({ name, body: true });
    }
    for (const { path, method, operation } of operations()) {
      const where = `${method.toUpperCase()} ${path}`;
      // Public routes say `security: []` (anyone may call them), the others name their credential.
      expect({ where, security: Array.isArray(operation.security) }).toEqual({ where, security: true });
      for (const scheme of operation.security ?? []) {
        for (const name of Object.keys(scheme)) expect(["buyer", "admin", "webhook"]).toContain(name);
      }
      if ((operation.security ?? []).length > 0) expect({ where, has401: "401" in (operation.responses ?? {}) }).toEqual({ where, has401: true });

      const pathNames = [...path.matchAll(/\{([^}]+)\}/g)].map((match) => match[1] ?? "");
      const declared = (operation.parameters ?? []).filter((parameter) => parameter.in === "path").map((parameter) => parameter.name);
      expect({ where, path: declared.sort() }).toEqual({ where, path: pathNames.sort() });
      for (const parameter of operation.parameters ?? []) {
        expect({ where, parameter: parameter.name, schema: parameter.schema !== undefined }).toEqual({ where, parameter: parameter.name, schema: true });
      }

      if (operation.requestBody !== undefined) {
        const content = operation.requestBody.content;
        // JSON only: no route parses a form, so Swagger UI must not offer to send one.
        expect({ where, media: Object.keys(content) }).toEqual({ where, media: ["application/json"] });
        expect(content["application/json"]?.schema?.type).toBe("object");
        // What "Try it out" fills the body with.
        expect({ where, example: content["application/json"]?.example !== undefined }).toEqual({ where, example: true });
      } else {
        // POSTs without a body: a delivery's retry, and a join of a waiting room (the token names the buyer).
        const bodiless = path.endsWith("/retry") || path.endsWith("/queue");
        expect({ where, body: method === "get" || method === "delete" || bodiless }).toEqual({ where, body: true });
      }

      const responses = Object.entries(operation.responses ?? {});
      expect({ where, success: responses.some(([status]) => status.startsWith("2")) }).toEqual({ where, success: true });
      for (const [status, response] of responses) {
        if (status === "304" || status === "204") continue; // no body, by definition
        const media = Object.entries(response.content ?? {});
        expect({ where, status, media: media.length > 0 }).toEqual({ where, status, media: true });
        for (const [type, { schema }] of media) expect({ where, status, type, schema: schema !== undefined }).toEqual({ where, status, type, schema: true });
        // API.md: every error is a problem document (the readiness probe's 503 is its own document).
        if (Number(status) >= 400 && path !== "/readyz") expect({ where, status, types: media.map(([type]) => type) }).toEqual({ where, status, types: ["application/problem+json"] });
      }
    }
  });

  test("the headers of the contract are parameters: Idempotency-Key on the hold, Stampede-Signature on the webhook", () => {
    const hold = document.paths["/v1/sales/{saleId}/reservations"]?.post;
    expect(hold?.parameters?.find((parameter) => parameter.name === "Idempotency-Key")).toMatchObject({
      in: "header",
      required: false,
      schema: { type: "string", minLength: 1, maxLength: 128 },
    });
    const webhook = document.paths["/v1/webhooks/payments"]?.post;
    expect(webhook?.parameters?.find((parameter) => parameter.name === "Stampede-Signature")).toMatchObject({ in: "header", required: true });
    expect(webhook?.security).toEqual([{ webhook: [] }]);
  });

  test("integers in answers are documented as integers, not as Elysia's integer-or-numeric-string", () => {
    const reservation = document.paths["/v1/sales/{saleId}/reservations"]?.post?.responses?.["201"]?.content?.["application/json"]?.schema;
    expect(reservation?.properties?.quantity).toEqual({ type: "integer" });
  });

  test("text renders: no description or summary holds an angle bracket outside a code span", () => {
    const texts: string[] = [];
    const walk = (value: unknown, key: string) => {
      if (typeof value === "string" && (key === "description" || key === "summary")) texts.push(value);
      else if (typeof value === "object" && value !== null) for (const [name, inner] of Object.entries(value)) walk(inner, name);
    };
    walk(document, "");
    expect(texts.length).toBeGreaterThan(20);
    for (const text of texts) expect({ text, bare: text.split(/`[^`]*`/).some((part) => /[<>]/.test(part)) }).toEqual({ text, bare: false });
    expect(escapeMarkdownText('sign "<t>.<raw body>" with `<t>`')).toBe('sign "&lt;t&gt;.&lt;raw body&gt;" with `<t>`');
  });

  test('"Try it out" as Swagger UI sends it: the examples create a sale, then hold from it', async () => {
    const create = document.paths["/v1/admin/sales"]?.post;
    const createBody = create?.requestBody?.content["application/json"]?.example;
    const created = await fetch(`${h.url}/v1/admin/sales`, {
      method: "POST",
      headers: { authorization: `Bearer ${h.server.secrets.adminToken}`, "content-type": "application/json" },
      body: JSON.stringify(createBody),
    });
    expect(created.status).toBe(201);

    const hold = document.paths["/v1/sales/{saleId}/reservations"]?.post;
    const example = (name: string) => {
      const parameter = hold?.parameters?.find((p) => p.name === name);
      return String(parameter?.example ?? (parameter?.schema as { example?: unknown } | undefined)?.example);
    };
    const held = await fetch(`${h.url}/v1/sales/${example("saleId")}/reservations`, {
      method: "POST",
      headers: { authorization: `Bearer ${h.token("swagger-user")}`, "content-type": "application/json", "idempotency-key": example("Idempotency-Key") },
      body: JSON.stringify(hold?.requestBody?.content["application/json"]?.example),
    });
    expect(held.status).toBe(201);
    expect(((await held.json()) as { status: string }).status).toBe("held");

    // The stock example of the operator routes names the same sale and item.
    const stock = document.paths["/v1/admin/sales/{saleId}/items/{itemId}/stock"]?.post;
    const ids = Object.fromEntries((stock?.parameters ?? []).map((p) => [p.name, (p.schema as { example?: string }).example]));
    const added = await fetch(`${h.url}/v1/admin/sales/${ids.saleId}/items/${ids.itemId}/stock`, {
      method: "POST",
      headers: { authorization: `Bearer ${h.server.secrets.adminToken}`, "content-type": "application/json" },
      body: JSON.stringify(stock?.requestBody?.content["application/json"]?.example),
    });
    expect(added.status).toBe(200);
  });
});

interface JsonSchema {
  type?: string;
  required?: string[];
  properties?: Record<string, unknown>;
}

interface Parameter {
  name: string;
  in: string;
  required?: boolean;
  schema?: unknown;
  example?: unknown;
}

interface OpenApiOperation {
  security?: Record<string, string[]>[];
  parameters?: Parameter[];
  requestBody?: { content: Record<string, { schema?: JsonSchema; example?: unknown }> };
  responses?: Record<string, { description: string; content?: Record<string, { schema?: JsonSchema }> }>;
}

interface OpenApiDocument {
  openapi: string;
  info: unknown;
  paths: Record<string, Record<string, OpenApiOperation>>;
  components: { securitySchemes?: unknown };
}
