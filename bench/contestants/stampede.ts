// Stampede as a contestant: `stampede serve` on a fresh port and a temp data dir, on the embedded
// store or on a PostgreSQL database of its own, with the benchmark's known secrets.

import { SECRETS } from "../../test/support/harness.ts";
import { StampedeProcess } from "./stampede-process.ts";
import type { Contestant, ItemCounts, SaleSpec } from "./types.ts";

const ADMIN = { authorization: `Bearer ${SECRETS.STAMPEDE_ADMIN_TOKEN}`, "content-type": "application/json" };
/** Operator listings wait for the store to catch up and may answer 503 meanwhile; ask again this long. */
const LISTING_RETRY_MS = 60_000;
const OWNER_RECOVERY_WAIT_MS = 30_000;

export type StampedeSetup = { key: string; name: string; dataDir: string; workers: number | "default"; databaseUrl?: string };

export class StampedeContestant implements Contestant {
  readonly kind = "stampede" as const;

  private constructor(
    readonly key: string,
    readonly name: string,
    readonly server: StampedeProcess,
  ) {}

  static async start(setup: StampedeSetup): Promise<StampedeContestant> {
    const server = await StampedeProcess.start({
      dataDir: setup.dataDir,
      workers: setup.workers,
      ...(setup.databaseUrl === undefined ? {} : { databaseUrl: setup.databaseUrl }),
    });
    return new StampedeContestant(setup.key, setup.name, server);
  }

  /** A contestant for a server started elsewhere (the recovery scenario's restart). */
  static attach(key: string, name: string, server: StampedeProcess): StampedeContestant {
    return new StampedeContestant(key, name, server);
  }

  get url(): string {
    return this.server.url;
  }

  async admin(method: string, path: string, body?: unknown): Promise<Response> {
    return fetch(`${this.url}${path}`, {
      method,
      headers: ADMIN,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  }

  async createSale(sale: SaleSpec): Promise<void> {
    // /readyz answers for the worker that took the connection; the sale's owner may still be
    // recovering (503 overloaded with Retry-After), so ask again for a while.
    const deadline = performance.now() + OWNER_RECOVERY_WAIT_MS;
    for (;;) {
      const response = await this.createSaleOnce(sale);
      if (response.status === 201) return;
      const text = await response.text();
      if (response.status !== 503 || performance.now() > deadline) {
        throw new Error(`creating sale ${sale.id}: ${response.status} ${text}`);
      }
      await Bun.sleep(100);
    }
  }

  private createSaleOnce(sale: SaleSpec): Promise<Response> {
    return this.admin("POST", "/v1/admin/sales", {
      id: sale.id,
      name: `Bench ${sale.id}`,
      startsAt: new Date(Date.now() - 60_000).toISOString(),
      endsAt: new Date(Date.now() + 86_400_000).toISOString(),
      limitPerUser: sale.limitPerUser,
      holdSeconds: sale.holdSeconds,
      items: sale.items.map((item) => ({ id: item.id, name: item.id, price: item.price, currency: "USD", stock: item.stock })),
    });
  }

  async counts(saleId: string, itemId: string): Promise<ItemCounts> {
    const response = await this.admin("GET", `/v1/admin/sales/${saleId}`);
    if (response.status !== 200) throw new Error(`admin view of ${saleId}: ${response.status} ${await response.text()}`);
    const sale = (await response.json()) as { items: (ItemCounts & { id: string })[] };
    const item = sale.items.find((i) => i.id === itemId);
    if (item === undefined) throw new Error(`sale ${saleId} has no item ${itemId}`);
    return { stock: item.stock, available: item.available, held: item.held, confirmed: item.confirmed };
  }

  /** Up to `limit` reservations of a sale with the given status, from the operator listing. */
  async reservations(saleId: string, status: string, limit: number): Promise<{ id: string; amount: number; currency: string }[]> {
    const found: { id: string; amount: number; currency: string }[] = [];
    let cursor: string | null = null;
    const deadline = performance.now() + LISTING_RETRY_MS;
    while (found.length < limit) {
      const query = `status=${status}&limit=1000${cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`}`;
      const response = await this.admin("GET", `/v1/admin/sales/${saleId}/reservations?${query}`);
      if (response.status === 503 && performance.now() < deadline) {
        await Bun.sleep(200);
        continue;
      }
      if (response.status !== 200) throw new Error(`listing ${saleId}: ${response.status} ${await response.text()}`);
      const page = (await response.json()) as { reservations: { id: string; amount: number; currency: string }[]; nextCursor: string | null };
      found.push(...page.reservations);
      if (page.nextCursor === null) break;
      cursor = page.nextCursor;
    }
    return found.slice(0, limit);
  }

  crashed(): string | null {
    return this.server.crashed();
  }

  async stop(): Promise<void> {
    await this.server.kill();
  }
}
