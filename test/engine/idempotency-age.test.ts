// Idempotency keys age out on the owner's expiry tick (API.md: remembered 24 h) and leave its memory,
// even in a sale none of whose holds ever expires: they were once pruned only while a hold expired,
// so a sale whose buyers all paid or released kept every key for as long as it lived.

import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { HoldAnswer } from "../../src/engine/gateway.ts";
import { InlineBackground } from "../../src/engine/inline-background.ts";
import { SaleOwner } from "../../src/engine/sale-owner.ts";
import { Journal } from "../../src/journal/journal.ts";
import { SnapshotFile, snapshotsPathOf } from "../../src/journal/snapshots.ts";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const DAY_MS = 86_400_000;

test("a key is forgotten a day after its hold, though the hold was released and nothing expires", async () => {
  const dir = mkdtempSync(join(tmpdir(), "stampede-idem-"));
  dirs.push(dir);
  const store = new SqliteStore(join(dir, "store.db"));
  await store.migrate();
  const journal = new Journal(join(dir, "journal-0.db"), "process");
  const snapshots = new SnapshotFile(snapshotsPathOf(journal.path), "process");
  const background = new InlineBackground({ journal, snapshots, store, journalId: "journal-0" });
  let now = Date.UTC(2026, 11, 1);
  const owner = new SaleOwner({ journal, snapshots, store, background, journalId: "journal-0", manualTicks: true, clock: () => now });
  await owner.start();
  const item = { id: "tee", name: "Tee", price: 1500, currency: "EUR", delivery: "none" as const, stock: 100 };
  await owner.createSale({ id: "drop", name: "Drop", startsAt: now - 1000, endsAt: now + 30 * DAY_MS, holdSeconds: 600, limitPerUser: 5, items: [item] });
  const hold = () =>
    new Promise<string>((resolve, reject) =>
      owner.hold("drop", { kind: "hold", userId: "ann", itemId: "tee", quantity: 1, idempotencyKey: "k-1" }, (answer: HoldAnswer) =>
        answer.ok ? resolve((JSON.parse(answer.body) as { id: string }).id) : reject(new Error(answer.refusal)),
      ),
    );
  const first = await hold();
  const outcome = await owner.execute("drop", { kind: "release", reservationId: first, userId: "ann" });
  expect(outcome.ok).toBe(true);
  now += 60_000;
  owner.expireDue();
  expect(await hold()).toBe(first); // within the day: the first answer again

  const keys = () => owner.sales.get("drop")?.ledger.state.idempotency.size;
  expect(keys()).toBe(1);
  now += DAY_MS;
  owner.expireDue();
  expect(keys()).toBe(0); // gone from memory, not just ignored
  const later = await hold();
  expect(later).not.toBe(first); // forgotten: a new hold
  await owner.stop();
  journal.close();
  snapshots.close();
  await store.close();
});
