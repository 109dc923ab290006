// The embedded store against the Store conformance suite: a fresh SQLite file per store. Plus what
// only SQLite shows without data: the query plans of recovery's load, which must reach reservations
// through an index, so that a sale's ended reservations are never read one by one.

import { Database } from "bun:sqlite";
import { afterAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { LOAD_SALE_SQL } from "../../src/store/sqlite/load-sale.ts";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.ts";
import { tempDir } from "../support/harness.ts";
import { runStoreSuite } from "./store-suite.ts";
import { runWebhookStoreSuite } from "./webhooks-suite.ts";

const dir = tempDir("stampede-store-sqlite-");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let count = 0;
const newStore = async () => {
  const store = new SqliteStore(join(dir, `store-${(count += 1)}.db`));
  await store.migrate();
  return store;
};

runStoreSuite("sqlite", newStore);
runWebhookStoreSuite("sqlite", newStore);

test("recovery's load reads reservations through indexes only: live holds, keyed holds, two aggregates", async () => {
  const store = await newStore();
  await store.close();
  const db = new Database(store.path, { readonly: true });
  try {
    // Parameters left unbound are NULL, which does not change a plan.
    const plan = (sql: string) =>
      db
        .query<{ detail: string }, []>(`EXPLAIN QUERY PLAN ${sql}`)
        .all()
        .map((row) => row.detail)
        .join(" | ");
    const plans = Object.fromEntries(Object.entries(LOAD_SALE_SQL).map(([name, sql]) => [name, plan(sql)]));
    for (const detail of Object.values(plans)) expect(detail).not.toMatch(/\bSCAN (reservations|codes|items|payments|queue_rooms|queue_places)\b/);
    expect(plans.holds).toContain("USING INDEX reservations_sale_status_idx (sale_id=? AND status=?)");
    expect(plans.confirmedUnits).toContain("USING INDEX reservations_sale_status_idx (sale_id=? AND status=?)");
    expect(plans.keyed).toContain("USING INDEX reservations_sale_keyed_idx (sale_id=? AND created_at>?)");
    expect(plans.holdCount).toContain("USING COVERING INDEX");
  } finally {
    db.close();
  }
});
