// The ceiling and the baselines as contestants: each a small Bun server of bench/ on a fresh port.
// The ceiling has no state (no sales, no counts); the baselines answer an operator view with exact
// counts in the same shape as Stampede's, so the same exactness checks apply to them.

import { join } from "node:path";
import { BunServerProcess } from "./bun-process.ts";
import { removeRedisKeys } from "./services.ts";
import type { Contestant, ContestantKind, ItemCounts, SaleSpec } from "./types.ts";

const BENCH = join(import.meta.dir, "..");

class BunServerContestant implements Contestant {
  constructor(
    readonly key: string,
    readonly name: string,
    readonly kind: ContestantKind,
    private readonly server: BunServerProcess,
    private readonly cleanup: () => Promise<void> = async () => {},
  ) {}

  get url(): string {
    return this.server.url;
  }

  async createSale(sale: SaleSpec): Promise<void> {
    if (this.kind === "ceiling") return;
    const response = await fetch(`${this.url}/v1/admin/sales`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(sale),
    });
    if (response.status !== 201) throw new Error(`${this.name}: creating sale ${sale.id}: ${response.status} ${await response.text()}`);
  }

  async counts(saleId: string, itemId: string): Promise<ItemCounts> {
    if (this.kind === "ceiling") throw new Error("the ceiling keeps no counts");
    const response = await fetch(`${this.url}/v1/admin/sales/${saleId}`);
    if (response.status !== 200) throw new Error(`${this.name}: admin view of ${saleId}: ${response.status}`);
    const sale = (await response.json()) as { items: (ItemCounts & { id: string })[] };
    const item = sale.items.find((i) => i.id === itemId);
    if (item === undefined) throw new Error(`${this.name}: sale ${saleId} has no item ${itemId}`);
    return { stock: item.stock, available: item.available, held: item.held, confirmed: item.confirmed };
  }

  crashed(): string | null {
    return this.server.crashed();
  }

  async stop(): Promise<void> {
    await this.server.kill();
    await this.cleanup();
  }
}

export async function startCeiling(): Promise<Contestant> {
  const server = await BunServerProcess.start(join(BENCH, "ceiling.ts"));
  return new BunServerContestant("ceiling", "ceiling: bare Bun.serve, same JSON, 201", "ceiling", server);
}

export async function startUsualPg(databaseUrl: string): Promise<Contestant> {
  const server = await BunServerProcess.start(join(BENCH, "baselines", "usual-pg.ts"), { DATABASE_URL: databaseUrl, POOL_MAX: "20" });
  return new BunServerContestant("usual-pg", "usual design: PostgreSQL transaction per hold (pool 20)", "usual-pg", server);
}

export async function startRedisLua(redisUrl: string, prefix: string): Promise<Contestant> {
  const server = await BunServerProcess.start(join(BENCH, "baselines", "redis-lua.ts"), { REDIS_URL: redisUrl, REDIS_PREFIX: prefix });
  return new BunServerContestant("redis-lua", "Redis + Lua check-and-decrement (not durable)", "redis-lua", server, async () => {
    await removeRedisKeys(prefix);
  });
}
