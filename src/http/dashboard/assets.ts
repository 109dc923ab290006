// The dashboard's files. Imported `with { type: "file" }` so that `bun build --compile` embeds them
// in the single executable (as src/http/docs.ts does with Swagger UI): at run time each import is a
// path, in the checkout or in the executable's embedded `/$bunfs/root/`. Nothing is fetched from
// another host; uPlot comes from its npm package, pinned in package.json.
// @ts-ignore -- with `type: "file"` Bun hands back a path string; TypeScript knows no such import.
import indexHtmlPath from "./index.html" with { type: "file" };
// @ts-ignore -- see above.
import dashboardJsPath from "./dashboard.js" with { type: "file" };
// @ts-ignore -- see above.
import apiJsPath from "./api.js" with { type: "file" };
// @ts-ignore -- see above.
import chartsJsPath from "./charts.js" with { type: "file" };
// @ts-ignore -- see above.
import renderJsPath from "./render.js" with { type: "file" };
// @ts-ignore -- see above.
import sseJsPath from "./sse.js" with { type: "file" };
// @ts-ignore -- see above.
import dashboardCssPath from "./dashboard.css" with { type: "file" };
// @ts-ignore -- see above.
import faviconPath from "./favicon.svg" with { type: "file" };
// @ts-ignore -- see above.
import uplotJsPath from "uplot/dist/uPlot.iife.min.js" with { type: "file" };
// @ts-ignore -- see above.
import uplotCssPath from "uplot/dist/uPlot.min.css" with { type: "file" };

export type DashboardAsset = { name: string; path: string; contentType: string };

const JS = "text/javascript; charset=utf-8";
const CSS = "text/css; charset=utf-8";

export const DASHBOARD_PAGE: DashboardAsset = {
  name: "index.html",
  path: asPath(indexHtmlPath),
  contentType: "text/html; charset=utf-8",
};

/** Served under /dashboard/assets/<name>; index.html and the scripts' imports name them by these paths. */
export const DASHBOARD_ASSETS: readonly DashboardAsset[] = [
  { name: "dashboard.js", path: asPath(dashboardJsPath), contentType: JS },
  { name: "api.js", path: asPath(apiJsPath), contentType: JS },
  { name: "charts.js", path: asPath(chartsJsPath), contentType: JS },
  { name: "render.js", path: asPath(renderJsPath), contentType: JS },
  { name: "sse.js", path: asPath(sseJsPath), contentType: JS },
  { name: "dashboard.css", path: asPath(dashboardCssPath), contentType: CSS },
  { name: "favicon.svg", path: asPath(faviconPath), contentType: "image/svg+xml" },
  { name: "uPlot.iife.min.js", path: asPath(uplotJsPath), contentType: JS },
  { name: "uPlot.min.css", path: asPath(uplotCssPath), contentType: CSS },
];

// The untyped imports arrive as `any`; check them once at start-up instead of trusting them.
function asPath(value: unknown): string {
  if (typeof value !== "string" || value.length === 0) {
    throw new Error(`dashboard: an asset import did not yield a path: ${String(value)}`);
  }
  return value;
}
