// Choose the system of record from the configuration: PostgreSQL when DATABASE_URL is set (a later
// issue), otherwise the embedded SQLite store in the data dir.

import { join } from "node:path";
import { SqliteStore } from "./sqlite/sqlite-store.ts";
import type { Store } from "./store.ts";

export function openStore(options: { dataDir: string; databaseUrl?: string }): Store {
  if (options.databaseUrl !== undefined) {
    throw new Error("PostgreSQL as the system of record is not built yet; unset DATABASE_URL to use the embedded store");
  }
  return new SqliteStore(join(options.dataDir, "store.db"));
}
