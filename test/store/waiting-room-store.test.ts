// Both stores keep a sale's waiting-room settings (not its places, which live in the journal): the
// events of a room, its joins and admissions among them, are applied like any others, and a sale
// loaded from the store comes back with its room, empty, as the last patch left it.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { restoreSale } from "../../src/ledger/restore.ts";
import { SaleLedger } from "../../src/ledger/sale-ledger.ts";
import type { SaleEvent, WaitingRoomSettings } from "../../src/ledger/types.ts";
import { PostgresStore } from "../../src/store/postgres/postgres-store.ts";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.ts";
import type { Store } from "../../src/store/store.ts";
import { createTestDatabase, type TestDatabase } from "../postgres/test-database.ts";
import { tempDir } from "../support/harness.ts";
import { applyInBatches, freshId, storedOf } from "./suite-support.ts";

const T0 = Date.UTC(2026, 11, 1);
const dir = tempDir("stampede-store-room-");
let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await database?.drop();
});

const stores: [string, () => Promise<Store>][] = [
  ["sqlite", async () => new SqliteStore(join(dir, `${freshId("room")}.db`))],
  ["postgres", async () => new PostgresStore(database.url)],
];

for (const [dialect, open] of stores) {
  describe(`waiting room in the store: ${dialect}`, () => {
    test("the settings follow create and every patch; joins, the draw and admissions are taken; a loaded sale has its room, empty", async () => {
      const store = await open();
      await store.migrate();
      try {
        const saleId = freshId("room-sale");
        const first: WaitingRoomSettings = { admitPerSecond: 5, admissionSeconds: 600, opensSecondsBefore: 900 };
        const out: SaleEvent[] = [];
        const ledger = SaleLedger.create(
          {
            id: saleId,
            name: "Room",
            startsAt: T0 + 1_000,
            endsAt: T0 + 86_400_000,
            holdSeconds: 600,
            limitPerUser: 1,
            items: [{ id: "a", name: "A", price: 100, currency: "USD", delivery: "none", stock: 10 }],
            waitingRoom: first,
          },
          T0,
          out,
        );
        ledger.join("u1", T0 + 1, 0, out);
        ledger.queueTick(T0 + 2_000, 9, out);
        ledger.join("u2", T0 + 2_001, 0, out);
        const journalId = freshId("journal");
        await applyInBatches(store, journalId, out, [2, 10]);
        expect((await storedOf(store, saleId, T0 + 3_000)).sale.waitingRoom).toEqual(first);
        const restored = restoreSale(await storedOf(store, saleId, T0 + 3_000), T0 + 3_000);
        expect(restored.room?.settings).toEqual(first);
        expect(restored.room?.waiting).toBe(0);

        const second: WaitingRoomSettings = { admitPerSecond: 50, admissionSeconds: 60, opensSecondsBefore: 0 };
        const more: SaleEvent[] = [];
        ledger.execute({ kind: "patch", patch: { name: "Renamed" } }, T0 + 4_000, more);
        ledger.execute({ kind: "patch", patch: { waitingRoom: second } }, T0 + 4_001, more);
        ledger.execute({ kind: "patch", patch: { paused: true } }, T0 + 4_002, more);
        await store.apply(journalId, more.map((event, i) => ({ seq: out.length + i + 1, event })));
        expect((await storedOf(store, saleId, T0 + 5_000)).sale.waitingRoom).toEqual(second);
        const off: SaleEvent[] = [];
        ledger.execute({ kind: "patch", patch: { waitingRoom: null } }, T0 + 6_000, off);
        await store.apply(journalId, off.map((event, i) => ({ seq: out.length + more.length + i + 1, event })));
        expect((await storedOf(store, saleId, T0 + 7_000)).sale.waitingRoom ?? null).toBeNull();
        expect(restoreSale(await storedOf(store, saleId, T0 + 7_000), T0 + 7_000).room).toBeNull();
      } finally {
        await store.close();
      }
    });
  });
}
