// The in-loop background (src/engine/inline-background.ts) with automatic flushing, as a tool would
// use it: the store follows the journal by itself, and once the store and the snapshots hold
// everything the journal is cut back to its recent window. The simulation covers manual flushing.

import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InlineBackground } from "../../src/engine/inline-background.ts";
import { SaleOwner } from "../../src/engine/sale-owner.ts";
import { Journal } from "../../src/journal/journal.ts";
import { SnapshotFile, snapshotsPathOf } from "../../src/journal/snapshots.ts";
import type { HoldAnswer } from "../../src/engine/gateway.ts";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

test("auto flushing: the store follows the journal, and snapshots let the journal shrink", async () => {
  const dir = mkdtempSync(join(tmpdir(), "stampede-inline-"));
  dirs.push(dir);
  const store = new SqliteStore(join(dir, "store.db"));
  await store.migrate();
  const journal = new Journal(join(dir, "journal-0.db"), "process");
  const snapshots = new SnapshotFile(snapshotsPathOf(journal.path), "process");
  const background = new InlineBackground({
    ...{ journal, snapshots, store, journalId: "journal-0", keepRecentMs: 0 },
    writeBehind: { batchMax: 100, delayMs: 1, retryMinMs: 1, retryMaxMs: 10 },
  });
  const owner = new SaleOwner({ journal, snapshots, store, background, journalId: "journal-0", manualTicks: true });
  await owner.start();
  const now = owner.now();
  const item = { id: "tee", name: "Tee", price: 1500, currency: "EUR", delivery: "none" as const, stock: 100 };
  await owner.createSale({ id: "drop", name: "Drop", startsAt: now - 1000, endsAt: now + 3_600_000, holdSeconds: 60, limitPerUser: 2, items: [item] });
  const answers = await Promise.all(
    Array.from({ length: 40 }, (_, n) => new Promise<HoldAnswer>((resolve) => owner.hold("drop", { kind: "hold", userId: `u${n}`, itemId: "tee", quantity: 1, idempotencyKey: null }, resolve))),
  );
  expect(answers.every((answer) => answer.ok)).toBe(true);
  const first = JSON.parse((answers[0] as HoldAnswer & { ok: true }).body) as { id: string };
  expect(await owner.execute("drop", { kind: "release", reservationId: first.id, userId: "u0" })).toMatchObject({ ok: true });

  // Nobody flushes by hand: the write-behind follows the commits on its timer.
  expect(await background.caughtUp(journal.lastSeq, 5_000)).toBe(true);
  const page = await store.listReservations("drop", { limit: 100 });
  expect(page.reservations).toHaveLength(40);
  expect(page.reservations.filter((r) => r.status === "held")).toHaveLength(39);
  const [stored] = await store.loadSales(() => true, owner.now());
  expect(stored?.items[0]).toMatchObject({ available: 61, held: 39, confirmed: 0 });

  // A snapshot of every sale covers the journal, the store has it all: only the latest batch stays.
  const before = journal.size().batches;
  owner.snapshotDue(true);
  expect(before).toBeGreaterThan(1);
  // The snapshot is written and the journal cut on the background's own turns: wait for them.
  const deadline = performance.now() + 5_000;
  while (journal.size().batches >= before && performance.now() < deadline) await Bun.sleep(5);
  expect(journal.size().batches).toBeLessThan(before);
  expect(background.journalSize.batches).toBe(journal.size().batches);

  await owner.stop();
  journal.close();
  snapshots.close();
  await store.close();
});
