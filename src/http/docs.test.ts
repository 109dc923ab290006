// The docs plugin must give a Swagger UI that works with no internet access (every URL the page
// loads is on this server) and an OpenAPI 3 document that describes the app's routes.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Elysia, t } from "elysia";
import { docsPlugin } from "./docs.ts";

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

interface JsonSchema {
  type?: string;
  required?: string[];
  properties?: Record<string, unknown>;
}

interface OpenApiDocument {
  openapi: string;
  info: unknown;
  paths: Record<
    string,
    Record<string, { security?: unknown; requestBody?: { content: Record<string, { schema?: JsonSchema }> } }>
  >;
  components: { securitySchemes?: unknown };
}
