// Read-your-writes for operators (API.md, Operators): "an admin change is in force on every worker of
// the server once its 2xx is sent: a hold that follows the 200 of a stock or code upload is never
// refused as sold_out on a stale copy". Workers that do not own a sale refuse sold-out holds from
// their copy of its public document (cluster/snapshots.ts); before the fix, about half of the holds
// sent right after a stock upload landed on such a copy and were refused.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { signBuyerToken } from "../../src/auth/buyer-token.ts";
import { SECRETS, tempDir } from "../support/harness.ts";
import { type ServerProcess, spawnServer } from "../support/process.ts";

const WORKERS = 2;
const ROUNDS = 20;
const UNITS_PER_ROUND = 5;
const admin = { authorization: `Bearer ${SECRETS.STAMPEDE_ADMIN_TOKEN}`, "content-type": "application/json" };

describe("an admin change is in force on every worker once its 2xx is sent", () => {
  const dir = tempDir("stampede-ryw-");
  let server: ServerProcess;

  beforeAll(async () => {
    server = await spawnServer(dir, { STAMPEDE_WORKERS: String(WORKERS) });
    while (server.workerPids().size < WORKERS) await Bun.sleep(20);
  });
  afterAll(async () => {
    for (const pid of server.workerPids().values()) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {}
    }
    await server.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  // Every request on a connection of its own, so that the kernel spreads them over both workers
  // (SO_REUSEPORT balances connections, not requests).
  const send = (path: string, init: RequestInit) =>
    fetch(`${server.url}${path}`, { ...init, keepalive: false, headers: { ...(init.headers as Record<string, string>), connection: "close" } });

  test(`${ROUNDS} x ${UNITS_PER_ROUND} new units, each held at once by ${UNITS_PER_ROUND} buyers: none refused sold_out`, async () => {
    for (const saleId of ["ryw-a", "ryw-b"]) {
      const body = { id: saleId, name: saleId, limitPerUser: 1, items: [{ id: "item", name: "Item", price: 100, currency: "USD", stock: 0 }] };
      expect((await send("/v1/admin/sales", { method: "POST", headers: admin, body: JSON.stringify(body) })).status).toBe(201);
    }
    // Both workers must have a copy that shows the sale sold out, as a sale does in a drop.
    await Bun.sleep(1_200);
    const refused: string[] = [];
    let held = 0;
    for (let round = 0; round < ROUNDS; round++) {
      // Two sales, so that whichever worker owns one, the other is owned by the other worker.
      const saleId = round % 2 === 0 ? "ryw-a" : "ryw-b";
      const stock = await send(`/v1/admin/sales/${saleId}/items/item/stock`, { method: "POST", headers: admin, body: JSON.stringify({ delta: UNITS_PER_ROUND }) });
      expect(stock.status).toBe(200);
      const answers = await Promise.all(
        Array.from({ length: UNITS_PER_ROUND }, (_, buyer) =>
          send(`/v1/sales/${saleId}/reservations`, {
            method: "POST",
            headers: { authorization: `Bearer ${signBuyerToken(SECRETS.STAMPEDE_JWT_SECRET, `r${round}-b${buyer}`, 600)}`, "content-type": "application/json" },
            body: '{"itemId":"item","quantity":1}',
          }),
        ),
      );
      for (const answer of answers) {
        if (answer.status === 201) held += 1;
        else refused.push(`round ${round}: ${answer.status} ${await answer.text()}`);
      }
    }
    expect(refused).toEqual([]);
    expect(held).toBe(ROUNDS * UNITS_PER_ROUND);
  }, 60_000);
});
