// The fence of node mode, against a real PostgreSQL: a zombie owner (its lease was taken over while
// it was cut off) sends a late batch with its old epoch, and the whole batch is refused with nothing
// written; a takeover waits for a batch in flight and then sees it. And the group commit's gate: no
// reply before the gate's commit, none at all (and the owner told) when it fails. And the command
// line: node mode without PostgreSQL is a usage error (exit 2).

import { afterAll, beforeAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { GroupCommit } from "../../src/journal/group-commit.ts";
import { Journal, type JournalEntry } from "../../src/journal/journal.ts";
import type { SaleEvent } from "../../src/ledger/types.ts";
import { STALE_LEASE_SQLSTATE } from "../../src/node/schema.ts";
import { PostgresStore } from "../../src/store/postgres/postgres-store.ts";
import { SECRETS, tempDir } from "../support/harness.ts";
import { createTestDatabase, type TestDatabase } from "../postgres/test-database.ts";

let database: TestDatabase;
let store: PostgresStore;
const dirs: string[] = [];

beforeAll(async () => {
  database = await createTestDatabase("stampede_fence");
  store = new PostgresStore(database.url);
  await store.migrate();
});
afterAll(async () => {
  await store?.close();
  await database?.drop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const created = (saleId: string): SaleEvent => ({
  type: "sale_created",
  saleId,
  at: Date.now(),
  sale: { id: saleId, name: "first", startsAt: 0, endsAt: Date.now() + 86_400_000, holdSeconds: 600, limitPerUser: 1, items: [{ id: "item", name: "Item", price: 100, currency: "USD", stock: 10, delivery: "none" }] },
});
const renamed = (saleId: string, name: string): SaleEvent => ({ type: "sale_patched", saleId, at: Date.now(), patch: { name } });
const entries = (first: number, ...events: SaleEvent[]): JournalEntry[] => events.map((event, index) => ({ seq: first + index, event }));

async function nameOf(saleId: string): Promise<string | undefined> {
  return (await database.sql`SELECT name FROM sales WHERE id = ${saleId}`)[0]?.name as string | undefined;
}

test("a zombie owner's late batch is refused by its epoch, whole, with nothing written", async () => {
  await database.sql`INSERT INTO sale_leases (sale_id, node_id, epoch, expires_at) VALUES ('z', 'old', 1, now() + interval '6 s')`;
  await store.commitFenced("old.journal-0", entries(1, created("z")), { nodeId: "old", saleIds: ["z"], epochs: [1] });
  expect(await nameOf("z")).toBe("first");
  // Node "new" takes the lease over (the old one's ran out while it was cut off).
  await database.sql`UPDATE sale_leases SET node_id = 'new', epoch = 2 WHERE sale_id = 'z'`;
  // Its batch names sale z and another sale it still holds: nothing of it may land.
  await database.sql`INSERT INTO sale_leases (sale_id, node_id, epoch, expires_at) VALUES ('y', 'old', 1, now() + interval '6 s')`;
  const late = store.commitFenced("old.journal-0", entries(2, created("y"), renamed("z", "zombie")), { nodeId: "old", saleIds: ["y", "z"], epochs: [1, 1] });
  const error = await late.then(() => null, (failure: unknown) => failure as { code?: string; message: string });
  expect(error?.code).toBe(STALE_LEASE_SQLSTATE);
  expect(error?.message).toContain("stale lease");
  expect(await nameOf("z")).toBe("first");
  expect(await nameOf("y")).toBeUndefined();
  expect((await database.sql`SELECT seq FROM journal_progress WHERE journal_id = 'old.journal-0'`)[0]?.seq).toBe(1);
  // The new owner's batch passes.
  await store.commitFenced("new.journal-0", entries(1, renamed("z", "second")), { nodeId: "new", saleIds: ["z"], epochs: [2] });
  expect(await nameOf("z")).toBe("second");
});

test("a takeover waits for the owner's batch in flight, then sees it", async () => {
  await database.sql`INSERT INTO sale_leases (sale_id, node_id, epoch, expires_at) VALUES ('w', 'old', 1, now() - interval '1 s')`;
  await store.commitFenced("old.journal-1", entries(1, created("w")), { nodeId: "old", saleIds: ["w"], epochs: [1] });
  // The owner's transaction holds its lease row (as a batch does between its fence and COMMIT).
  const owner = await database.sql.reserve();
  await owner`BEGIN`;
  await owner`SELECT stampede_fence('old', ARRAY['w'], ARRAY[1]::int8[])`;
  await owner`UPDATE sales SET name = 'in flight' WHERE id = 'w'`;
  let tookOver = false;
  const takeover = database.sql`
    UPDATE sale_leases SET node_id = 'new', epoch = epoch + 1 WHERE sale_id = 'w' AND expires_at <= now() RETURNING epoch`.then((rows) => {
    tookOver = true;
    return rows;
  });
  await Bun.sleep(300);
  expect(tookOver).toBe(false);
  await owner`COMMIT`;
  owner.release();
  expect((await takeover)[0]?.epoch).toBe(2);
  // Loaded after the takeover, the sale shows the batch that was in flight.
  expect(await nameOf("w")).toBe("in flight");
});

test("the gate: nothing is answered or journaled before its commit, and nothing at all when it fails", async () => {
  const dir = tempDir("stampede-gate-");
  dirs.push(dir);
  const journal = new Journal(join(dir, "journal.db"), "process");
  let failed: unknown = null;
  const commit = new GroupCommit(journal, { committed: () => {}, failed: (error) => (failed = error), now: Date.now });
  const gated: JournalEntry[][] = [];
  let release: (() => void) | null = null;
  let refuse: ((error: Error) => void) | null = null;
  commit.gate = (batch) => {
    gated.push([...batch]);
    return new Promise<void>((resolve, reject) => {
      release = resolve;
      refuse = reject;
    });
  };
  const answers: string[] = [];
  commit.pending.push(created("g"));
  commit.defer((value: string) => answers.push(value), "first");
  commit.commit();
  // Decided while the first batch is away: waits for it, then goes as the next batch.
  commit.pending.push(renamed("g", "two"));
  commit.defer((value: string) => answers.push(value), "second");
  commit.commit();
  expect(gated.length).toBe(1);
  expect(gated[0]?.map((entry) => entry.seq)).toEqual([1]);
  expect(answers).toEqual([]);
  expect(journal.lastSeq).toBe(0);
  (release as unknown as () => void)();
  await Bun.sleep(10);
  expect(answers).toEqual(["first"]);
  expect(journal.lastSeq).toBe(1);
  expect(gated.length).toBe(2);
  expect(gated[1]?.map((entry) => entry.seq)).toEqual([2]);
  (refuse as unknown as (error: Error) => void)(new Error("stale lease"));
  await Bun.sleep(10);
  expect(answers).toEqual(["first"]);
  expect(journal.lastSeq).toBe(1);
  expect(String(failed)).toContain("stale lease");
  journal.close();
});

test("node mode without DATABASE_URL, or without shared secrets, is refused with exit 2", async () => {
  const configDir = tempDir("stampede-nodecfg-");
  dirs.push(configDir);
  const run = async (env: Record<string, string>) => {
    const proc = Bun.spawn(["bun", "run", "src/main.ts", "serve"], {
      cwd: new URL("../..", import.meta.url).pathname,
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", STAMPEDE_DATA_DIR: configDir, ...env },
      stdout: "pipe",
      stderr: "pipe",
    });
    const code = await proc.exited;
    return { code, stderr: await new Response(proc.stderr as ReadableStream).text() };
  };
  const noDatabase = await run({ ...SECRETS, STAMPEDE_NODE_ID: "n1", STAMPEDE_ADVERTISE_URL: "http://127.0.0.1:3000" });
  expect(noDatabase.code).toBe(2);
  expect(noDatabase.stderr).toContain("DATABASE_URL");
  const noSecrets = await run({ STAMPEDE_NODE_ID: "n1", STAMPEDE_ADVERTISE_URL: "http://127.0.0.1:3000", DATABASE_URL: database.url });
  expect(noSecrets.code).toBe(2);
  expect(noSecrets.stderr).toContain("STAMPEDE_ADMIN_TOKEN");
});
