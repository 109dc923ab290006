// The usual design, as a baseline: a small Bun.serve app that decides every hold with one PostgreSQL
// transaction, the way pretix- or Hi.Events-style systems do: a conditional UPDATE of the stock row
// (`available = available - q WHERE available >= q`, so every buyer of the item queues on that one
// row lock) plus an INSERT of the reservation into a table with a unique index, committed (and, with
// PostgreSQL's defaults, fsynced) before the answer. postgres.js with a pool of 20 connections.
//
// It parses the same JSON as Stampede and answers the same shapes, but reads the buyer id from the
// JWT without verifying it (the benchmark does not ask baselines to pay for JWT checks) and keeps no
// per-buyer limit. Operator view: GET /v1/admin/sales/:id with exact counts, for the exactness check.
//
// Environment: PORT, DATABASE_URL (a database of its own: the tables are created here), POOL_MAX.

import postgres from "postgres";
import { buyerOf, json, notFound, parseHold, problem, route, type SaleBody } from "./shared.ts";

const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) throw new Error("DATABASE_URL is required");
const sql = postgres(databaseUrl, { max: Number(process.env.POOL_MAX ?? 20), onnotice: () => {} });

await sql`CREATE TABLE IF NOT EXISTS items (
  sale_id text NOT NULL, id text NOT NULL, name text NOT NULL, price integer NOT NULL, currency text NOT NULL,
  hold_seconds integer NOT NULL, stock integer NOT NULL, available integer NOT NULL CHECK (available >= 0),
  PRIMARY KEY (sale_id, id))`;
await sql`CREATE TABLE IF NOT EXISTS reservations (
  id uuid PRIMARY KEY, sale_id text NOT NULL, item_id text NOT NULL, user_id text NOT NULL,
  quantity integer NOT NULL, status text NOT NULL, amount integer NOT NULL, currency text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(), expires_at timestamptz NOT NULL)`;
await sql`CREATE INDEX IF NOT EXISTS reservations_buyer ON reservations (sale_id, user_id)`;

type ItemRow = { price: number; currency: string; hold_seconds: number };

async function hold(saleId: string, request: Request): Promise<Response> {
  const userId = buyerOf(request);
  if (userId === null) return problem(401, "unauthorized", "A buyer token is required.");
  const parsed = await parseHold(request);
  if (parsed instanceof Response) return parsed;
  const { itemId, quantity } = parsed;
  const outcome = await sql.begin(async (tx) => {
    const [item] = await tx<ItemRow[]>`UPDATE items SET available = available - ${quantity}
      WHERE sale_id = ${saleId} AND id = ${itemId} AND available >= ${quantity}
      RETURNING price, currency, hold_seconds`;
    if (item === undefined) return null;
    const id = crypto.randomUUID();
    const [row] = await tx<{ created_at: Date; expires_at: Date }[]>`INSERT INTO reservations
      (id, sale_id, item_id, user_id, quantity, status, amount, currency, expires_at)
      VALUES (${id}, ${saleId}, ${itemId}, ${userId}, ${quantity}, 'held', ${item.price * quantity}, ${item.currency},
              now() + make_interval(secs => ${item.hold_seconds}))
      RETURNING created_at, expires_at`;
    return { id, item, row };
  });
  if (outcome === null) {
    const [known] = await sql`SELECT 1 FROM items WHERE sale_id = ${saleId} AND id = ${itemId}`;
    return known === undefined ? notFound(`No item ${itemId} in sale ${saleId}.`) : problem(409, "sold_out", "Sold out.");
  }
  return json(201, {
    id: outcome.id,
    saleId,
    itemId,
    userId,
    quantity,
    status: "held",
    amount: outcome.item.price * quantity,
    currency: outcome.item.currency,
    createdAt: outcome.row?.created_at.toISOString(),
    expiresAt: outcome.row?.expires_at.toISOString(),
    codes: [],
  });
}

async function createSale(request: Request): Promise<Response> {
  const sale = (await request.json()) as SaleBody;
  for (const item of sale.items) {
    await sql`INSERT INTO items (sale_id, id, name, price, currency, hold_seconds, stock, available)
      VALUES (${sale.id}, ${item.id}, ${item.name ?? item.id}, ${item.price}, ${item.currency ?? "USD"},
              ${sale.holdSeconds ?? 600}, ${item.stock}, ${item.stock})`;
  }
  return json(201, { id: sale.id });
}

async function adminSale(saleId: string): Promise<Response> {
  const items = await sql`SELECT i.id, i.stock, i.available,
      coalesce((SELECT sum(quantity) FROM reservations r WHERE r.sale_id = i.sale_id AND r.item_id = i.id AND r.status = 'held'), 0)::int AS held
    FROM items i WHERE i.sale_id = ${saleId} ORDER BY i.id`;
  if (items.length === 0) return notFound(`No sale ${saleId}.`);
  return json(200, { id: saleId, items: items.map((i) => ({ id: i.id, stock: i.stock, available: i.available, held: i.held, confirmed: 0 })) });
}

async function publicSale(saleId: string): Promise<Response> {
  const items = await sql`SELECT id, name, price, currency, available FROM items WHERE sale_id = ${saleId} ORDER BY id`;
  if (items.length === 0) return notFound(`No sale ${saleId}.`);
  return json(200, { id: saleId, status: "open", items: [...items] });
}

Bun.serve({
  port: Number(process.env.PORT ?? 3998),
  hostname: "127.0.0.1",
  fetch: (request) => route(request, { hold, createSale, adminSale, publicSale }),
});
