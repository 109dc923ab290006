// Snapshots round-trip whatever their size: a large image in chunks, a small one in its row, a
// later write replacing either, an older one never undoing a newer one.

import { expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SNAPSHOT_CHUNK_BYTES, SnapshotFile } from "./snapshots.ts";

function image(size: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i += 1) bytes[i] = (i * 31 + seed) & 0xff;
  return bytes;
}

test("large images go in chunks and come back whole; small ones stay in their row; older writes lose", () => {
  const dir = mkdtempSync(join(tmpdir(), "stampede-snapshots-"));
  try {
    const path = join(dir, "journal-0-snapshots.db");
    const file = new SnapshotFile(path, "process");
    const large = image(SNAPSHOT_CHUNK_BYTES * 3 + 1234, 1);
    file.put("big", 10, large);
    file.put("small", 11, image(100, 2));
    file.put("big", 9, image(50, 3)); // late and older: ignored
    file.close();

    const reopened = new SnapshotFile(path, "process");
    const rows = new Map(reopened.all().map((row) => [row.saleId, row]));
    expect(rows.get("big")?.seq).toBe(10);
    expect(rows.get("big")?.bytes).toEqual(large);
    expect((rows.get("big")?.bytes.byteOffset ?? 1) % 8).toBe(0);
    expect(rows.get("small")?.bytes).toEqual(image(100, 2));

    // A newer, small image replaces the chunked one, and its chunks go.
    reopened.put("big", 12, image(64, 4));
    const smaller = reopened.all().find((row) => row.saleId === "big");
    expect(smaller?.seq).toBe(12);
    expect(smaller?.bytes).toEqual(image(64, 4));
    expect(reopened.seqs()).toEqual(new Map([["big", 12], ["small", 11]]));
    reopened.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
