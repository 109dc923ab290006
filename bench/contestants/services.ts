// PostgreSQL and Redis for the benchmark: whether they answer, and a database or key prefix of the
// run's own that is removed afterwards. Defaults are the local services; STAMPEDE_BENCH_PG_URL (a URL
// of a database to connect to for CREATE/DROP DATABASE) and STAMPEDE_BENCH_REDIS_URL override them.

import { RedisClient } from "bun";
import postgres from "postgres";

export const PG_ADMIN_URL = process.env.STAMPEDE_BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
export const REDIS_URL = process.env.STAMPEDE_BENCH_REDIS_URL ?? "redis://127.0.0.1:6379";
const PROBE_TIMEOUT_MS = 3_000;

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return Promise.race([promise, new Promise<T>((_, reject) => setTimeout(() => reject(new Error("timed out")), ms))]);
}

export async function postgresReachable(): Promise<string | null> {
  const sql = postgres(PG_ADMIN_URL, { max: 1, connect_timeout: 3, onnotice: () => {} });
  try {
    await withTimeout(sql`SELECT 1`, PROBE_TIMEOUT_MS);
    return null;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {});
  }
}

/** The URL of `name` on the same server as PG_ADMIN_URL. */
export function databaseUrl(name: string): string {
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

export async function createDatabase(name: string): Promise<string> {
  const sql = postgres(PG_ADMIN_URL, { max: 1, onnotice: () => {} });
  try {
    await sql.unsafe(`CREATE DATABASE "${name}"`);
  } finally {
    await sql.end({ timeout: 5 });
  }
  return databaseUrl(name);
}

export async function dropDatabase(name: string): Promise<void> {
  const sql = postgres(PG_ADMIN_URL, { max: 1, onnotice: () => {} });
  try {
    await sql.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

export async function redisReachable(): Promise<string | null> {
  const redis = new RedisClient(REDIS_URL, { connectionTimeout: PROBE_TIMEOUT_MS, autoReconnect: false });
  try {
    await withTimeout(redis.send("PING", []), PROBE_TIMEOUT_MS);
    return null;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  } finally {
    redis.close();
  }
}

/** Remove every key of the run (SCAN by prefix, then DEL in batches). */
export async function removeRedisKeys(prefix: string): Promise<number> {
  const redis = new RedisClient(REDIS_URL);
  let removed = 0;
  try {
    let cursor = "0";
    do {
      const [next, keys] = (await redis.send("SCAN", [cursor, "MATCH", `${prefix}:*`, "COUNT", "1000"])) as [string, string[]];
      cursor = next;
      if (keys.length > 0) removed += Number(await redis.send("DEL", keys));
    } while (cursor !== "0");
  } finally {
    redis.close();
  }
  return removed;
}
