// Invariant 3 (a 2xx is durable): kill the server with SIGKILL in the middle of a burst of holds,
// start it again on the same data dir, and find every acknowledged hold, with stock conserved.

import { afterAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { SECRETS, saleBody, tempDir } from "../support/harness.ts";
import { type ServerProcess, spawnServer } from "../support/process.ts";
import { signBuyerToken } from "../../src/auth/buyer-token.ts";

const dataDir = tempDir("stampede-kill9-");
let server: ServerProcess | null = null;
afterAll(async () => {
  await server?.kill("SIGKILL");
  rmSync(dataDir, { recursive: true, force: true });
});

const admin = { authorization: `Bearer ${SECRETS.STAMPEDE_ADMIN_TOKEN}`, "content-type": "application/json" };
const STOCK = 1_000_000;

type Acked = { id: string; userId: string };

/** Keep `concurrency` holds in flight from distinct buyers until stopped; collect every 201. */
async function burst(url: string, concurrency: number, stop: { now: boolean }, acked: Acked[]): Promise<number> {
  let sent = 0;
  const loop = async (lane: number) => {
    while (!stop.now) {
      const userId = `buyer-${lane}-${sent++}`;
      try {
        const response = await fetch(`${url}/v1/sales/kill9/reservations`, {
          method: "POST",
          headers: { authorization: `Bearer ${signBuyerToken(SECRETS.STAMPEDE_JWT_SECRET, userId, 3600)}`, "content-type": "application/json" },
          body: JSON.stringify({ itemId: "hoodie-m", quantity: 1 }),
        });
        if (response.status === 201) {
          const body = (await response.json()) as { id: string };
          acked.push({ id: body.id, userId });
        }
      } catch {
        return; // the server died: connections fail from here on
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, lane) => loop(lane)));
  return sent;
}

test("SIGKILL mid-burst loses no acknowledged hold and conserves stock", async () => {
  server = await spawnServer(dataDir);
  const created = await fetch(`${server.url}/v1/admin/sales`, {
    method: "POST",
    headers: admin,
    body: JSON.stringify(
      saleBody("kill9", {
        limitPerUser: 1,
        items: [{ id: "hoodie-m", name: "Hoodie", price: 100, currency: "USD", stock: STOCK }],
      }),
    ),
  });
  expect(created.status).toBe(201);

  const acked: Acked[] = [];
  const stop = { now: false };
  const running = burst(server.url, 64, stop, acked);
  while (acked.length < 2000) await Bun.sleep(5);
  // Kill while requests are in flight: some are decided, some committed, some answered.
  await server.kill("SIGKILL");
  stop.now = true;
  await running;
  const ackedCount = acked.length;
  expect(ackedCount).toBeGreaterThanOrEqual(2000);

  server = await spawnServer(dataDir);
  const sale = (await (await fetch(`${server.url}/v1/admin/sales/kill9`, { headers: admin })).json()) as {
    items: { stock: number; available: number; held: number; confirmed: number }[];
  };
  const item = sale.items[0];
  if (item === undefined) throw new Error("sale has no item");
  expect(item.stock).toBe(STOCK);
  expect(item.available + item.held + item.confirmed).toBe(STOCK);
  expect(item.held).toBeGreaterThanOrEqual(ackedCount);

  // Every acknowledged hold is there, held, for its buyer.
  for (const hold of acked) {
    const token = signBuyerToken(SECRETS.STAMPEDE_JWT_SECRET, hold.userId, 3600);
    const response = await fetch(`${server.url}/v1/sales/kill9/reservations/${hold.id}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { status: string }).status).toBe("held");
  }

  // The store agrees with the ledger: every held unit is one listed reservation.
  let listed = 0;
  let cursor: string | null = null;
  do {
    const query: string = cursor === null ? "" : `&cursor=${cursor}`;
    const page = (await (
      await fetch(`${server.url}/v1/admin/sales/kill9/reservations?status=held&limit=1000${query}`, { headers: admin })
    ).json()) as { reservations: unknown[]; nextCursor: string | null };
    listed += page.reservations.length;
    cursor = page.nextCursor;
  } while (cursor !== null);
  expect(listed).toBe(item.held);
}, 60_000);
