// A throwaway PostgreSQL database per test file: created on the server the tests are pointed at
// (127.0.0.1:5432, user postgres, or STAMPEDE_TEST_DATABASE_URL), dropped afterwards. An unreachable
// server fails the tests loudly: the PostgreSQL store is the system of record in production, so a
// silently skipped suite would hide exactly the bugs it is there to catch.

import postgres from "postgres";

const ADMIN_URL = process.env.STAMPEDE_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

export type TestDatabase = {
  /** URL of the fresh database. */
  url: string;
  name: string;
  /** Run SQL against the fresh database (checks that read the store behind the server's back). */
  sql: postgres.Sql<{ int8: number }>;
  drop(): Promise<void>;
};

export async function createTestDatabase(prefix = "stampede_test"): Promise<TestDatabase> {
  const admin = postgres(ADMIN_URL, { max: 1, connect_timeout: 5, onnotice: () => {} });
  try {
    await admin`SELECT 1`;
  } catch (error) {
    await admin.end({ timeout: 1 }).catch(() => {});
    throw new Error(
      `PostgreSQL is unreachable at ${ADMIN_URL}: ${error instanceof Error ? error.message : String(error)}. ` +
        "The PostgreSQL store tests need a running server (set STAMPEDE_TEST_DATABASE_URL to point elsewhere).",
    );
  }
  const name = `${prefix}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
  await admin.unsafe(`CREATE DATABASE ${name}`);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  const sql = postgres(url.toString(), {
    max: 2,
    onnotice: () => {},
    types: { int8: { to: 20, from: [20], serialize: (v: number) => String(v), parse: (v: string) => Number(v) } },
  });
  return {
    url: url.toString(),
    name,
    sql,
    async drop() {
      await sql.end({ timeout: 1 });
      // FORCE ends sessions a test left open (a killed server's pool) instead of failing the drop.
      await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end({ timeout: 1 });
    },
  };
}
