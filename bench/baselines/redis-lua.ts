// The fast-but-not-durable baseline: Bun.serve plus a Redis Lua script that checks and decrements the
// stock and records the reservation in one atomic step (EVALSHA). Redis answers from memory and does
// not fsync per command, so an acknowledged hold can be lost on a crash: no durability at all, by
// design of this baseline. It parses the same JSON as Stampede; the buyer id is read from the JWT
// without verifying it; no per-buyer limit.
//
// Environment: PORT, REDIS_URL, REDIS_PREFIX (every key starts with it, so the benchmark can remove them).

import { RedisClient } from "bun";
import { buyerOf, json, notFound, parseHold, problem, route, type SaleBody } from "./shared.ts";

const redis = new RedisClient(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
const prefix = process.env.REDIS_PREFIX ?? "stampede-bench";

// KEYS: item hash, reservations hash. ARGV: quantity, reservation id, reservation JSON.
// Returns the units left, -1 when sold out, -2 for an unknown item.
const HOLD_SCRIPT = `
local available = tonumber(redis.call('HGET', KEYS[1], 'available'))
if available == nil then return -2 end
local quantity = tonumber(ARGV[1])
if available < quantity then return -1 end
redis.call('HINCRBY', KEYS[1], 'available', -quantity)
redis.call('HINCRBY', KEYS[1], 'held', quantity)
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
return available - quantity`;
const holdSha = String(await redis.send("SCRIPT", ["LOAD", HOLD_SCRIPT]));

const itemKey = (saleId: string, itemId: string) => `${prefix}:item:${saleId}:${itemId}`;
const reservationsKey = (saleId: string) => `${prefix}:reservations:${saleId}`;
const saleKey = (saleId: string) => `${prefix}:sale:${saleId}`;

type ItemInfo = { price: number; currency: string; holdSeconds: number };
/** Prices never change during a run, so they are read from Redis once per item. */
const items = new Map<string, ItemInfo>();

async function itemInfo(saleId: string, itemId: string): Promise<ItemInfo | null> {
  const key = itemKey(saleId, itemId);
  const known = items.get(key);
  if (known !== undefined) return known;
  const [price, currency, holdSeconds] = (await redis.hmget(key, ["price", "currency", "holdSeconds"])) as (string | null)[];
  if (price == null) return null;
  const info = { price: Number(price), currency: currency ?? "USD", holdSeconds: Number(holdSeconds ?? 600) };
  items.set(key, info);
  return info;
}

async function hold(saleId: string, request: Request): Promise<Response> {
  const userId = buyerOf(request);
  if (userId === null) return problem(401, "unauthorized", "A buyer token is required.");
  const parsed = await parseHold(request);
  if (parsed instanceof Response) return parsed;
  const { itemId, quantity } = parsed;
  const info = await itemInfo(saleId, itemId);
  if (info === null) return notFound(`No item ${itemId} in sale ${saleId}.`);
  const now = Date.now();
  const reservation = {
    id: crypto.randomUUID(),
    saleId,
    itemId,
    userId,
    quantity,
    status: "held",
    amount: info.price * quantity,
    currency: info.currency,
    createdAt: new Date(now).toISOString(),
    expiresAt: new Date(now + info.holdSeconds * 1000).toISOString(),
    codes: [],
  };
  const document = JSON.stringify(reservation);
  const left = Number(
    await redis.send("EVALSHA", [holdSha, "2", itemKey(saleId, itemId), reservationsKey(saleId), String(quantity), reservation.id, document]),
  );
  if (left === -2) return notFound(`No item ${itemId} in sale ${saleId}.`);
  if (left === -1) return problem(409, "sold_out", "Sold out.");
  return new Response(document, { status: 201, headers: { "content-type": "application/json" } });
}

async function createSale(request: Request): Promise<Response> {
  const sale = (await request.json()) as SaleBody;
  for (const item of sale.items) {
    await redis.hmset(itemKey(sale.id, item.id), [
      "price", String(item.price), "currency", item.currency ?? "USD", "holdSeconds", String(sale.holdSeconds ?? 600),
      "name", item.name ?? item.id, "stock", String(item.stock), "available", String(item.stock), "held", "0",
    ]);
  }
  await redis.set(saleKey(sale.id), JSON.stringify(sale.items.map((item) => item.id)));
  return json(201, { id: sale.id });
}

async function saleItems(saleId: string): Promise<string[] | null> {
  const ids = await redis.get(saleKey(saleId));
  return ids === null ? null : (JSON.parse(ids) as string[]);
}

async function adminSale(saleId: string): Promise<Response> {
  const ids = await saleItems(saleId);
  if (ids === null) return notFound(`No sale ${saleId}.`);
  const views = [];
  for (const id of ids) {
    const [stock, available, held] = (await redis.hmget(itemKey(saleId, id), ["stock", "available", "held"])) as string[];
    views.push({ id, stock: Number(stock), available: Number(available), held: Number(held), confirmed: 0 });
  }
  return json(200, { id: saleId, items: views });
}

async function publicSale(saleId: string): Promise<Response> {
  const ids = await saleItems(saleId);
  if (ids === null) return notFound(`No sale ${saleId}.`);
  const views = await Promise.all(
    ids.map(async (id) => {
      const [name, price, currency, available] = (await redis.hmget(itemKey(saleId, id), ["name", "price", "currency", "available"])) as string[];
      return { id, name, price: Number(price), currency, available: Number(available) };
    }),
  );
  return json(200, { id: saleId, status: "open", items: views });
}

Bun.serve({
  port: Number(process.env.PORT ?? 3997),
  hostname: "127.0.0.1",
  fetch: (request) => route(request, { hold, createSale, adminSale, publicSale }),
});
