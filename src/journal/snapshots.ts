// Per-sale snapshots of a worker's journal (DESIGN.md, "Bounded and self-sufficient"): the whole
// state of each sale as sale-image.ts encodes it, at a journal sequence number. Recovery loads them
// and replays only the journal's tail after each; once every sale has a snapshot past a batch (and
// the store has it), the batch can go. They live in a database file beside the journal's own, so
// that writing a large one (a sale with a million live holds is tens of MiB) from the flusher thread
// never holds the write lock the request thread needs for its group commits.

import { Database } from "bun:sqlite";
import type { Durability } from "./journal.ts";

export type SaleSnapshotRow = { saleId: string; seq: number; bytes: Uint8Array };

/** journal-3.db -> journal-3-snapshots.db */
export function snapshotsPathOf(journalPath: string): string {
  return journalPath.replace(/\.db$/, "") + "-snapshots.db";
}

export class SnapshotFile {
  private readonly db: Database;

  constructor(
    readonly path: string,
    durability: Durability,
  ) {
    this.db = new Database(path, { create: true, strict: true });
    this.db.exec("PRAGMA busy_timeout = 5000");
    this.db.exec("PRAGMA journal_mode = WAL");
    this.db.exec(`PRAGMA synchronous = ${durability === "fsync" ? "FULL" : "NORMAL"}`);
    this.db.exec(`CREATE TABLE IF NOT EXISTS snapshots (
      sale_id TEXT PRIMARY KEY,
      seq INTEGER NOT NULL,
      taken_at INTEGER NOT NULL,
      data BLOB NOT NULL
    )`);
  }

  /** Replace the sale's snapshot; never with an older one (a late write must not undo a newer one). */
  put(saleId: string, seq: number, bytes: Uint8Array, takenAt = Date.now()): void {
    this.db
      .query(
        `INSERT INTO snapshots (sale_id, seq, taken_at, data) VALUES (?, ?, ?, ?)
         ON CONFLICT (sale_id) DO UPDATE SET seq = excluded.seq, taken_at = excluded.taken_at, data = excluded.data
         WHERE excluded.seq >= snapshots.seq`,
      )
      .run(saleId, seq, takenAt, bytes);
    // The WAL of this file grows by a whole snapshot at a time: fold it back right away.
    this.db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  }

  all(): SaleSnapshotRow[] {
    return this.db
      .query<{ sale_id: string; seq: number; data: Uint8Array }, []>("SELECT sale_id, seq, data FROM snapshots ORDER BY sale_id")
      .all()
      .map((row) => ({ saleId: row.sale_id, seq: row.seq, bytes: row.data }));
  }

  /** The sequence number of each sale's snapshot, without loading the data. */
  seqs(): Map<string, number> {
    const rows = this.db.query<{ sale_id: string; seq: number }, []>("SELECT sale_id, seq FROM snapshots").all();
    return new Map(rows.map((row) => [row.sale_id, row.seq]));
  }

  get count(): number {
    return this.db.query<{ n: number }, []>("SELECT count(*) AS n FROM snapshots").get()?.n ?? 0;
  }

  close(): void {
    this.db.close();
  }
}
