// Swagger UI in a real browser (Debian's chromium, playwright-core), as a new operator tries it: the
// page loads from this server alone, "Try it out" with the document's examples creates a sale and
// holds from it, and the text that has angle brackets in it is shown, not swallowed as HTML tags.
// Chromium missing fails the test, as the dashboard's browser test does (.ci/run installs it).

import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, rmSync } from "node:fs";
import { type BrowserContext, type Page, chromium } from "playwright-core";
import { signBuyerToken } from "../../src/auth/buyer-token.ts";
import { type Harness, SECRETS, startHarness, tempDir } from "../support/harness.ts";

// The callbacks handed to page.evaluate run in the page; tsconfig's lib has no DOM.
declare const window: { ui: { preauthorizeApiKey(scheme: string, value: string): void } };

const CHROMIUM = "/usr/bin/chromium";

let h: Harness;
let context: BrowserContext;
let profile: string;
const problems: string[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: this test needs Debian's chromium (apt-get install -y chromium)`);
  h = await startHarness();
  profile = tempDir("stampede-swagger-chromium-");
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}, 60_000);

afterAll(async () => {
  await context?.close();
  await h?.close();
  if (profile !== undefined) rmSync(profile, { recursive: true, force: true });
});

async function openSwagger(): Promise<Page> {
  const page = await context.newPage();
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("request", (request) => {
    const url = request.url();
    if (!url.startsWith(`${h.url}/`) && !url.startsWith("data:") && !url.startsWith("blob:")) problems.push(`request to ${url}`);
  });
  await page.goto(`${h.url}/swagger`);
  await page.locator(".opblock").first().waitFor({ timeout: 15_000 });
  return page;
}

/** Expand an operation, press "Try it out" (the examples fill the form), execute, and read the status. */
async function tryItOut(page: Page, method: string, path: string): Promise<string> {
  const operation = page.locator(`.opblock-${method}`).filter({ has: page.locator(`.opblock-summary-path[data-path="${path}"]`) });
  await operation.locator(".opblock-summary").first().click();
  await operation.locator(".try-out__btn").click();
  await operation.locator(".execute").click();
  const status = operation.locator(".live-responses-table tr.response .response-col_status").first();
  await status.waitFor({ timeout: 10_000 });
  return (await status.textContent())?.trim() ?? "";
}

test('"Try it out" creates the example sale, then holds from it, with the tokens put in through Authorize', async () => {
  const page = await openSwagger();
  const buyer = signBuyerToken(SECRETS.STAMPEDE_JWT_SECRET, "swagger-buyer", 600);
  // What the Authorize dialog does with a pasted token.
  await page.evaluate(
    ([adminToken, buyerToken]) => {
      window.ui.preauthorizeApiKey("admin", adminToken);
      window.ui.preauthorizeApiKey("buyer", buyerToken);
    },
    [SECRETS.STAMPEDE_ADMIN_TOKEN, buyer] as const,
  );
  expect(await tryItOut(page, "post", "/v1/admin/sales")).toBe("201");
  expect(await tryItOut(page, "post", "/v1/sales/{saleId}/reservations")).toBe("201");
  const held = await h.admin("GET", "/v1/admin/sales/drop-42");
  expect(((await held.json()) as { items: { id: string; held: number }[] }).items.find((item) => item.id === "hoodie-m")?.held).toBe(1);
  expect(problems).toEqual([]);
}, 60_000);

test("descriptions with angle brackets show them: the webhook signature's format", async () => {
  const page = await openSwagger();
  const operation = page.locator(".opblock-post").filter({ has: page.locator('.opblock-summary-path[data-path="/v1/webhooks/payments"]') });
  await operation.locator(".opblock-summary").first().click();
  const text = (await operation.locator(".parameters").textContent()) ?? "";
  expect(text).toContain('"<t>.<raw body>"');
  expect(problems).toEqual([]);
}, 60_000);
