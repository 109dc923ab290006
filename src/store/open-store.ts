// Choose the system of record from the configuration: PostgreSQL when DATABASE_URL is set, otherwise
// the embedded SQLite store in the data dir.

import { join } from "node:path";
import { PostgresStore } from "./postgres/postgres-store.ts";
import { SqliteStore } from "./sqlite/sqlite-store.ts";
import type { Store } from "./store.ts";

export function openStore(options: { dataDir: string; databaseUrl?: string }): Store {
  if (options.databaseUrl !== undefined) return new PostgresStore(options.databaseUrl);
  return new SqliteStore(join(options.dataDir, "store.db"));
}
