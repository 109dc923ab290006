// Choose the system of record from the configuration: PostgreSQL when DATABASE_URL is set, otherwise
// the embedded SQLite store in the data dir.

import { join } from "node:path";
import { ConfigError } from "../config.ts";
import { PostgresStore } from "./postgres/postgres-store.ts";
import { SqliteStore } from "./sqlite/sqlite-store.ts";
import type { Store } from "./store.ts";

export function openStore(options: { dataDir: string; databaseUrl?: string }): Store {
  if (options.databaseUrl !== undefined) return new PostgresStore(options.databaseUrl);
  return new SqliteStore(join(options.dataDir, "store.db"));
}

/**
 * Open the system of record and bring its schema up to date. With DATABASE_URL, a failure here is
 * the operator's to fix (address, credentials, permissions), so it is a ConfigError naming the
 * variable; the embedded store failing is a runtime failure.
 */
export async function openMigratedStore(config: { dataDir: string; databaseUrl?: string | undefined }): Promise<Store> {
  let store: Store | undefined;
  try {
    store = openStore({ dataDir: config.dataDir, ...(config.databaseUrl === undefined ? {} : { databaseUrl: config.databaseUrl }) });
    await store.migrate();
    return store;
  } catch (error) {
    await store?.close().catch(() => {});
    if (config.databaseUrl === undefined) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    throw new ConfigError(`the PostgreSQL store named by DATABASE_URL could not be opened or migrated: ${reason}`);
  }
}
