// The PostgreSQL store against the Store conformance suite, in a database of its own created for
// this run and dropped afterwards. Every store of the suite shares that database (and migrates it
// again, which must be a no-op), so the suite's ids never repeat. Plus what only PostgreSQL has:
// migrations that several processes start at once.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { migrationsFolder } from "../../src/store/migrations-folder.ts";
import { PostgresStore } from "../../src/store/postgres/postgres-store.ts";
import { createTestDatabase, type TestDatabase } from "../postgres/test-database.ts";
import { runStoreSuite } from "./store-suite.ts";
import { runWebhookStoreSuite } from "./webhooks-suite.ts";

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database?.drop();
});

test("migrations started by several stores at once run once and leave one schema", async () => {
  const stores = Array.from({ length: 4 }, () => new PostgresStore(database.url));
  try {
    await Promise.all(stores.map((store) => store.migrate()));
  } finally {
    await Promise.all(stores.map((store) => store.close()));
  }
  // Each migration of drizzle/postgres once, however many stores raced to apply it.
  const journal = JSON.parse(readFileSync(`${migrationsFolder("postgres")}/meta/_journal.json`, "utf8")) as { entries: unknown[] };
  expect(journal.entries.length).toBeGreaterThan(1);
  const applied = await database.sql`SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations`;
  expect(applied[0]?.n).toBe(journal.entries.length);
  const tables = await database.sql`SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename`;
  expect(tables.map((t) => t.tablename)).toEqual([
    "codes", "items", "journal_progress", "nodes", "payments", "queue_places", "queue_rooms", "reservations", "sale_leases", "sales", "webhook_deliveries", "webhook_endpoints", "webhook_state",
  ]);
});

const newPostgresStore = async () => {
  const store = new PostgresStore(database.url);
  await store.migrate();
  return store;
};
runStoreSuite("postgres", newPostgresStore);
runWebhookStoreSuite("postgres", newPostgresStore);
