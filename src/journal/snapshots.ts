// Per-sale snapshots of a worker's journal (DESIGN.md, "Bounded and self-sufficient"): the whole
// state of each sale as sale-image.ts encodes it, at a journal sequence number. Recovery loads them
// and replays only the journal's tail after each; once every sale has a snapshot past a batch (and
// the store has it), the batch can go. They live in a database file beside the journal's own, so
// that writing a large one (a sale with a million live holds is tens of MiB) from the flusher thread
// never holds the write lock the request thread needs for its group commits.
//
// A large image is written as chunks of SNAPSHOT_CHUNK_BYTES, each its own row: bound as one blob,
// SQLite copies the whole image into one allocation of its own, which the allocator of the flusher
// thread kept (measured: about 40 MiB of RSS kept for a sale of a million live holds). Chunks make
// every copy small and the same size, so their memory is reused from one snapshot to the next.

import { Database } from "bun:sqlite";
import type { Durability } from "./journal.ts";

export type SaleSnapshotRow = { saleId: string; seq: number; bytes: Uint8Array };

/** Images up to this size stay in the sale's row; larger ones go in rows of this size. */
export const SNAPSHOT_CHUNK_BYTES = 256 * 1024;

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
    // `chunks` > 0: the image is in snapshot_chunks (then `data` is empty), in that many rows.
    const columns = this.db.query<{ name: string }, []>("SELECT name FROM pragma_table_info('snapshots')").all();
    if (!columns.some((column) => column.name === "chunks")) this.db.exec("ALTER TABLE snapshots ADD COLUMN chunks INTEGER NOT NULL DEFAULT 0");
    this.db.exec(`CREATE TABLE IF NOT EXISTS snapshot_chunks (
      sale_id TEXT NOT NULL,
      n INTEGER NOT NULL,
      data BLOB NOT NULL,
      PRIMARY KEY (sale_id, n)
    ) WITHOUT ROWID`);
  }

  /** Replace the sale's snapshot; never with an older one (a late write must not undo a newer one). */
  put(saleId: string, seq: number, bytes: Uint8Array, takenAt = Date.now()): void {
    const chunks = bytes.byteLength > SNAPSHOT_CHUNK_BYTES ? Math.ceil(bytes.byteLength / SNAPSHOT_CHUNK_BYTES) : 0;
    const write = this.db.transaction(() => {
      const current = this.db.query<{ seq: number }, [string]>("SELECT seq FROM snapshots WHERE sale_id = ?").get(saleId);
      if (current !== null && current.seq > seq) return;
      this.db.query("DELETE FROM snapshot_chunks WHERE sale_id = ?").run(saleId);
      const insertChunk = this.db.query("INSERT INTO snapshot_chunks (sale_id, n, data) VALUES (?, ?, ?)");
      for (let n = 0; n < chunks; n += 1) {
        insertChunk.run(saleId, n, bytes.subarray(n * SNAPSHOT_CHUNK_BYTES, (n + 1) * SNAPSHOT_CHUNK_BYTES));
      }
      this.db
        .query(
          `INSERT INTO snapshots (sale_id, seq, taken_at, data, chunks) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (sale_id) DO UPDATE SET seq = excluded.seq, taken_at = excluded.taken_at, data = excluded.data, chunks = excluded.chunks`,
        )
        .run(saleId, seq, takenAt, chunks === 0 ? bytes : new Uint8Array(0), chunks);
    });
    write.immediate();
    // The WAL of this file grows by a whole snapshot at a time: fold it back right away.
    this.db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  }

  all(): SaleSnapshotRow[] {
    const rows = this.db
      .query<{ sale_id: string; seq: number; data: Uint8Array; chunks: number }, []>("SELECT sale_id, seq, data, chunks FROM snapshots ORDER BY sale_id")
      .all();
    return rows.map((row) => ({ saleId: row.sale_id, seq: row.seq, bytes: row.chunks === 0 ? row.data : this.joinChunks(row.sale_id, row.chunks) }));
  }

  /** A chunked image in one buffer (fresh, so its offset suits the typed-array views of sale-image.ts). */
  private joinChunks(saleId: string, chunks: number): Uint8Array {
    const size = this.db.query<{ n: number }, [string]>("SELECT sum(length(data)) AS n FROM snapshot_chunks WHERE sale_id = ?").get(saleId)?.n ?? 0;
    const bytes = new Uint8Array(size);
    let offset = 0;
    let count = 0;
    for (const chunk of this.db.query<{ data: Uint8Array }, [string]>("SELECT data FROM snapshot_chunks WHERE sale_id = ? ORDER BY n").iterate(saleId)) {
      bytes.set(chunk.data, offset);
      offset += chunk.data.byteLength;
      count += 1;
    }
    if (count !== chunks || offset !== size) throw new Error(`the snapshot of sale ${saleId} has ${count} of its ${chunks} chunks`);
    return bytes;
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
