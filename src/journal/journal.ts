// A worker's journal: an append-only SQLite database in WAL mode holding every event the worker's
// ledgers decide, numbered by a sequence. It is the durability point of the hot path (a 2xx is sent
// only after the events behind it are committed here), the queue that the write-behind flusher
// drains into the store, and the audit log.

import { Database } from "bun:sqlite";
import { invariant } from "../ledger/invariant.ts";
import type { SaleEvent } from "../ledger/types.ts";
import { assertEventShape } from "./event-shape.ts";

export type Durability = "process" | "fsync";

export type JournalEntry = { seq: number; event: SaleEvent };

/** Most entries one read returns, so a flush batch stays bounded in memory. */
export const JOURNAL_READ_MAX = 20_000;

export class Journal {
  private readonly db: Database;
  private readonly insert;
  private readonly selectAfter;
  private readonly appendAll: (events: readonly SaleEvent[]) => void;
  private seq: number;

  constructor(
    readonly path: string,
    durability: Durability,
  ) {
    this.db = new Database(path, { create: true, strict: true });
    // busy_timeout first: the supervisor may read this file while a worker writes it.
    this.db.exec("PRAGMA busy_timeout = 5000");
    this.db.exec("PRAGMA journal_mode = WAL");
    // NORMAL in WAL mode: a commit is in the OS page cache before we answer, so it survives a killed
    // process; FULL also fsyncs the WAL on every commit, so it survives a power cut.
    this.db.exec(`PRAGMA synchronous = ${durability === "fsync" ? "FULL" : "NORMAL"}`);
    this.db.exec(`CREATE TABLE IF NOT EXISTS events (
      seq INTEGER PRIMARY KEY,
      at INTEGER NOT NULL,
      sale_id TEXT NOT NULL,
      type TEXT NOT NULL,
      data TEXT NOT NULL
    )`);
    const last = this.db.query<{ seq: number | null }, []>("SELECT max(seq) AS seq FROM events").get();
    this.seq = last?.seq ?? 0;
    this.insert = this.db.query<unknown, [number, number, string, string, string]>(
      "INSERT INTO events (seq, at, sale_id, type, data) VALUES (?, ?, ?, ?, ?)",
    );
    this.selectAfter = this.db.query<{ seq: number; data: string }, [number, number]>(
      "SELECT seq, data FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
    );
    this.appendAll = this.db.transaction((events: readonly SaleEvent[]) => {
      for (const event of events) {
        this.seq += 1;
        this.insert.run(this.seq, event.at, event.saleId, event.type, JSON.stringify(event));
      }
    }).immediate;
  }

  /** Sequence number of the last committed event (0 when empty). */
  get lastSeq(): number {
    return this.seq;
  }

  /**
   * Commit events in one transaction (group commit). Returns the sequence number of the last one.
   * On failure the transaction rolls back and the in-memory sequence is restored; the caller must
   * treat its in-memory state as lost (the worker crashes and recovers from what is committed).
   */
  append(events: readonly SaleEvent[]): number {
    if (events.length === 0) return this.seq;
    const before = this.seq;
    try {
      this.appendAll(events);
    } catch (error) {
      this.seq = before;
      throw error;
    }
    return this.seq;
  }

  /**
   * Continue numbering after `seq`. Used when the store has applied further than this journal
   * reaches (the journal file was replaced): new events must never reuse numbers the store has
   * recorded as applied, or they would be skipped.
   */
  advanceTo(seq: number): void {
    invariant(seq >= this.seq, "a journal's sequence never goes back");
    this.seq = seq;
  }

  /** Entries after `seq`, in order, checked as they are read back. */
  readAfter(seq: number, limit = JOURNAL_READ_MAX): JournalEntry[] {
    const rows = this.selectAfter.all(seq, Math.min(limit, JOURNAL_READ_MAX));
    const entries: JournalEntry[] = new Array(rows.length);
    let expected = seq + 1;
    for (let index = 0; index < rows.length; index += 1) {
      const row = rows[index] as { seq: number; data: string };
      invariant(row.seq === expected, () => `journal ${this.path}: gap before seq ${row.seq}`);
      const event = JSON.parse(row.data) as SaleEvent;
      assertEventShape(event);
      entries[index] = { seq: row.seq, event };
      expected += 1;
    }
    return entries;
  }

  close(): void {
    this.db.close();
  }
}
