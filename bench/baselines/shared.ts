// What the baseline servers share: routing of the few paths the benchmark calls, problem+json
// answers, the hold body check, and reading the buyer id from a JWT (decoded, not verified).

export type SaleBody = {
  id: string;
  holdSeconds?: number;
  items: { id: string; name?: string; price: number; currency?: string; stock: number }[];
};

export type Handlers = {
  hold(saleId: string, request: Request): Promise<Response>;
  createSale(request: Request): Promise<Response>;
  adminSale(saleId: string): Promise<Response>;
  publicSale(saleId: string): Promise<Response>;
};

export function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
}

export function problem(status: number, code: string, detail: string): Response {
  return new Response(JSON.stringify({ type: "about:blank", title: code, status, code, detail }), {
    status,
    headers: { "content-type": "application/problem+json" },
  });
}

export function notFound(detail: string): Response {
  return problem(404, "not_found", detail);
}

/** The JWT's `sub`, decoded without checking the signature (baselines skip that cost). */
export function buyerOf(request: Request): string | null {
  const authorization = request.headers.get("authorization");
  if (authorization === null || !authorization.startsWith("Bearer ")) return null;
  const payload = authorization.split(".")[1];
  if (payload === undefined) return null;
  try {
    const sub = (JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as { sub?: unknown }).sub;
    return typeof sub === "string" && sub.length > 0 ? sub : null;
  } catch {
    return null;
  }
}

/** The same body a Stampede hold takes: `{ itemId, quantity 1..100 }`. */
export async function parseHold(request: Request): Promise<{ itemId: string; quantity: number } | Response> {
  let body: { itemId?: unknown; quantity?: unknown };
  try {
    body = (await request.json()) as typeof body;
  } catch {
    return problem(400, "bad_request", "The body is not JSON.");
  }
  const { itemId, quantity } = body;
  if (typeof itemId !== "string" || !Number.isInteger(quantity) || (quantity as number) < 1 || (quantity as number) > 100) {
    return problem(422, "validation_failed", "itemId and quantity 1..100 are required.");
  }
  return { itemId, quantity: quantity as number };
}

const HOLD_PATH = /^\/v1\/sales\/([A-Za-z0-9_-]{1,64})\/reservations$/;
const SALE_PATH = /^\/v1\/sales\/([A-Za-z0-9_-]{1,64})$/;
const ADMIN_SALE_PATH = /^\/v1\/admin\/sales\/([A-Za-z0-9_-]{1,64})$/;

export async function route(request: Request, handlers: Handlers): Promise<Response> {
  const path = new URL(request.url).pathname;
  try {
    if (request.method === "POST") {
      const hold = HOLD_PATH.exec(path);
      if (hold?.[1] !== undefined) return await handlers.hold(hold[1], request);
      if (path === "/v1/admin/sales") return await handlers.createSale(request);
    } else if (request.method === "GET") {
      if (path === "/healthz") return json(200, { status: "ok" });
      const sale = SALE_PATH.exec(path);
      if (sale?.[1] !== undefined) return await handlers.publicSale(sale[1]);
      const admin = ADMIN_SALE_PATH.exec(path);
      if (admin?.[1] !== undefined) return await handlers.adminSale(admin[1]);
    }
    return notFound(`No route ${request.method} ${path}.`);
  } catch (error) {
    console.error(error);
    return problem(500, "internal", String(error));
  }
}
