// The embedded store against the Store conformance suite: a fresh SQLite file per store.

import { afterAll } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.ts";
import { tempDir } from "../support/harness.ts";
import { runStoreSuite } from "./store-suite.ts";

const dir = tempDir("stampede-store-sqlite-");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let count = 0;
runStoreSuite("sqlite", async () => {
  const store = new SqliteStore(join(dir, `store-${(count += 1)}.db`));
  await store.migrate();
  return store;
});
