// API documentation: the OpenAPI 3 document of the app at `GET /swagger/json` and a Swagger UI page
// at `GET /swagger`. The server runs where there is no internet, so every asset the page needs is
// served by this process from the `swagger-ui-dist` package instead of a CDN. The assets are imported
// `with { type: "file" }` so that `bun build --compile` embeds them in the single executable; at run
// time the import is a path (node_modules in a checkout, `/$bunfs/root/...` in the executable).
import { Elysia } from "elysia";
import { toOpenAPISchema } from "@elysiajs/openapi";
import { type DocumentedRoute, type OpenApiDocument, completeDocument } from "./openapi-document.ts";
// @ts-ignore -- the package ships no types; with `type: "file"` Bun hands back a path string.
import swaggerUiCssPath from "swagger-ui-dist/swagger-ui.css" with { type: "file" };
// @ts-ignore -- see above.
import swaggerUiBundlePath from "swagger-ui-dist/swagger-ui-bundle.js" with { type: "file" };
// @ts-ignore -- see above.
import swaggerUiPresetPath from "swagger-ui-dist/swagger-ui-standalone-preset.js" with { type: "file" };
// @ts-ignore -- see above.
import swaggerUiIndexCssPath from "swagger-ui-dist/index.css" with { type: "file" };
// @ts-ignore -- see above.
import faviconPath from "swagger-ui-dist/favicon-32x32.png" with { type: "file" };

export interface DocsOptions {
  title: string;
  version: string;
  description?: string;
}

// Fixed by the API contract (API.md, "Operations").
const DOCS_PATH = "/swagger";
const SPEC_PATH = `${DOCS_PATH}/json`;
const ASSETS_PATH = `${DOCS_PATH}/assets`;

// The assets change only when swagger-ui-dist is upgraded, which ships a new executable anyway.
const ASSET_CACHE_CONTROL = "public, max-age=3600";

interface Asset {
  name: string;
  filePath: string;
  contentType: string;
}

const JS = "text/javascript; charset=utf-8";
const CSS = "text/css; charset=utf-8";

// The page's own start-up script is served as a file rather than inlined so that the page keeps
// working under a `script-src 'self'` Content-Security-Policy.
const INITIALIZER_NAME = "swagger-initializer.js";

const FILE_ASSETS: readonly Asset[] = [
  { name: "swagger-ui.css", filePath: asPath(swaggerUiCssPath), contentType: CSS },
  { name: "index.css", filePath: asPath(swaggerUiIndexCssPath), contentType: CSS },
  { name: "swagger-ui-bundle.js", filePath: asPath(swaggerUiBundlePath), contentType: JS },
  { name: "swagger-ui-standalone-preset.js", filePath: asPath(swaggerUiPresetPath), contentType: JS },
  { name: "favicon-32x32.png", filePath: asPath(faviconPath), contentType: "image/png" },
];

/** The security schemes every route may name in `detail.security`, e.g. `[{ buyer: [] }]`. */
const SECURITY_SCHEMES = {
  buyer: { type: "http", scheme: "bearer", bearerFormat: "JWT" },
  admin: { type: "http", scheme: "bearer", description: "STAMPEDE_ADMIN_TOKEN" },
  webhook: {
    type: "apiKey",
    in: "header",
    name: "Stampede-Signature",
    description: '`t=<unix seconds>,v1=<hex HMAC-SHA256(STAMPEDE_WEBHOOK_SECRET, "<t>.<raw body>")>`',
  },
} as const;

/** The OpenAPI version the generator writes schemas for (its default). */
const OPENAPI_VERSION = "3.1.2";

/**
 * Elysia plugin serving the OpenAPI document of the app it is used on and an offline Swagger UI.
 * Routes declared before or after `.use(docsPlugin(...))` are all documented.
 */
export function docsPlugin(options: DocsOptions) {
  // An undefined description drops out of the JSON.
  const info = { title: options.title, version: options.version, description: options.description };
  const pageHtml = renderPage(options.title);
  const initializerJs = renderInitializer();

  // The document is built at its first request, when every route exists, and again only if routes
  // were added since (as @elysiajs/openapi's own plugin does); `completeDocument` fills the gaps the
  // generator leaves (openapi-document.ts).
  let cached: { routes: number; body: string } | null = null;
  const exclude = { staticFile: false, paths: [DOCS_PATH, SPEC_PATH, new RegExp(`^${ASSETS_PATH}/`)] };
  const spec = (): Response => {
    // Once used by an app, the plugin's getGlobalRoutes answers that app's routes (Elysia sets it
    // on `use`); it is what the generator itself reads.
    const routes: DocumentedRoute[] = (plugin as unknown as { getGlobalRoutes(): DocumentedRoute[] }).getGlobalRoutes();
    if (cached?.routes !== routes.length) {
      // staticFile: false, or the generator would drop every path with a dot in it, among them
      // /v1/admin/sales/{saleId}/reservations.csv; the docs' own routes are excluded by path.
      const generated = toOpenAPISchema(plugin, exclude, undefined, undefined, OPENAPI_VERSION) as unknown as Pick<OpenApiDocument, "paths" | "components">;
      const document = completeDocument(
        {
          openapi: OPENAPI_VERSION,
          info,
          paths: generated.paths,
          components: { ...generated.components, securitySchemes: SECURITY_SCHEMES },
        },
        routes,
      );
      cached = { routes: routes.length, body: JSON.stringify(document) };
    }
    return new Response(cached?.body, { headers: { "content-type": "application/json" } });
  };

  const plugin: Elysia = new Elysia({ name: "stampede-docs", seed: options });
  plugin
    .get(SPEC_PATH, spec, { detail: { hide: true } })
    .get(DOCS_PATH, () => new Response(pageHtml, { headers: { "content-type": "text/html; charset=utf-8" } }), {
      detail: { hide: true },
    })
    .get(`${ASSETS_PATH}/${INITIALIZER_NAME}`, () => new Response(initializerJs, { headers: assetHeaders(JS) }), {
      detail: { hide: true },
    });

  for (const asset of FILE_ASSETS) {
    // Bun.file is lazy and streams from disk (or the executable's embedded filesystem) per request.
    plugin.get(
      `${ASSETS_PATH}/${asset.name}`,
      () => new Response(Bun.file(asset.filePath), { headers: assetHeaders(asset.contentType) }),
      { detail: { hide: true } },
    );
  }
  return plugin;
}

function assetHeaders(contentType: string): Record<string, string> {
  return { "content-type": contentType, "cache-control": ASSET_CACHE_CONTROL };
}

function renderPage(title: string): string {
  const asset = (name: string) => `${ASSETS_PATH}/${name}`;
  return `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8" />
  <meta name="viewport" content="width=device-width, initial-scale=1" />
  <title>${escapeHtml(title)}</title>
  <link rel="stylesheet" type="text/css" href="${asset("swagger-ui.css")}" />
  <link rel="stylesheet" type="text/css" href="${asset("index.css")}" />
  <link rel="icon" type="image/png" href="${asset("favicon-32x32.png")}" sizes="32x32" />
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="${asset("swagger-ui-bundle.js")}" charset="utf-8"></script>
  <script src="${asset("swagger-ui-standalone-preset.js")}" charset="utf-8"></script>
  <script src="${asset(INITIALIZER_NAME)}" charset="utf-8"></script>
</body>
</html>
`;
}

function renderInitializer(): string {
  // validatorUrl: null stops Swagger UI from sending the document to validator.swagger.io, which
  // would fail (no internet) and leak the API description if it did not.
  return `window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: ${JSON.stringify(SPEC_PATH)},
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: "StandaloneLayout",
  });
};
`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

// The untyped imports above arrive as `any`; check them once at start-up instead of trusting them.
function asPath(value: unknown): string {
  if (typeof value !== "string" || value.length === 0) {
    throw new Error(`docs: a swagger-ui-dist asset import did not yield a path: ${String(value)}`);
  }
  return value;
}
