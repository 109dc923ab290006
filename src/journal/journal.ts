// A worker's journal: an append-only SQLite database in WAL mode holding every event the worker's
// ledgers decide, numbered by a sequence. It is the durability point of the hot path (a 2xx is sent
// only after the events behind it are committed here), the queue that the write-behind flusher
// drains into the store, and the audit log.
//
// One row holds one group commit: the events numbered first_seq..last_seq as a JSON array. A row
// per event cost a B-tree insert per hold, which profiling showed as a sixth of a hold's cost; a row
// per commit costs one insert per event-loop turn. The audit view per event is
// `SELECT first_seq + key, value FROM batches, json_each(batches.events)`.

import { Database } from "bun:sqlite";
import { invariant } from "../ledger/invariant.ts";
import type { SaleEvent } from "../ledger/types.ts";
import { assertEventShape } from "./event-shape.ts";

export type Durability = "process" | "fsync";

export type JournalEntry = { seq: number; event: SaleEvent };

/** Most entries one read returns (it may exceed this by less than one batch). */
export const JOURNAL_READ_MAX = 20_000;

type BatchRow = { first_seq: number; last_seq: number; events: string };

export class Journal {
  private readonly db: Database;
  private readonly insert;
  private readonly selectAfter;
  private seq: number;

  constructor(
    readonly path: string,
    durability: Durability,
  ) {
    this.db = new Database(path, { create: true, strict: true });
    // busy_timeout first: the supervisor and the flusher read this file while a worker writes it.
    this.db.exec("PRAGMA busy_timeout = 5000");
    this.db.exec("PRAGMA journal_mode = WAL");
    // NORMAL in WAL mode: a commit is in the OS page cache before we answer, so it survives a killed
    // process; FULL also fsyncs the WAL on every commit, so it survives a power cut.
    this.db.exec(`PRAGMA synchronous = ${durability === "fsync" ? "FULL" : "NORMAL"}`);
    this.db.exec(`CREATE TABLE IF NOT EXISTS batches (
      first_seq INTEGER PRIMARY KEY,
      last_seq INTEGER NOT NULL,
      committed_at INTEGER NOT NULL,
      events TEXT NOT NULL
    )`);
    const last = this.db.query<{ seq: number | null }, []>("SELECT max(last_seq) AS seq FROM batches").get();
    this.seq = last?.seq ?? 0;
    this.insert = this.db.query<unknown, [number, number, number, string]>(
      "INSERT INTO batches (first_seq, last_seq, committed_at, events) VALUES (?, ?, ?, ?)",
    );
    // The batch holding seq ?1 + 1 is the last one starting at or before it; from there on the
    // primary key is scanned in order (a filter on last_seq alone would scan the whole table).
    this.selectAfter = this.db.query<BatchRow, [number, number]>(
      `SELECT first_seq, last_seq, events FROM batches
       WHERE first_seq >= (SELECT coalesce(max(first_seq), 0) FROM batches WHERE first_seq <= ?1 + 1)
         AND last_seq > ?1
       ORDER BY first_seq LIMIT ?2`,
    );
  }

  /** Sequence number of the last committed event (0 when empty). */
  get lastSeq(): number {
    return this.seq;
  }

  /**
   * Commit events in one transaction (group commit). Returns the sequence number of the last one.
   * On failure nothing is committed and the sequence is unchanged; the caller must treat its
   * in-memory state as lost (the worker crashes and recovers from what is committed).
   */
  append(events: readonly SaleEvent[]): number {
    if (events.length === 0) return this.seq;
    const first = this.seq + 1;
    const last = this.seq + events.length;
    // A single statement is its own transaction: no BEGIN/COMMIT round needed.
    this.insert.run(first, last, Date.now(), JSON.stringify(events));
    this.seq = last;
    return last;
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

  /** Entries after `seq`, in order, about `limit` of them, checked as they are read back. */
  readAfter(seq: number, limit = JOURNAL_READ_MAX): JournalEntry[] {
    const entries: JournalEntry[] = [];
    let expected = seq + 1;
    let cursor = seq;
    while (entries.length < limit) {
      // Batches are read a few at a time so that a read stays near `limit` entries.
      const rows = this.selectAfter.all(cursor, 16);
      if (rows.length === 0) break;
      for (const row of rows) {
        const events = JSON.parse(row.events) as SaleEvent[];
        invariant(
          Array.isArray(events) && events.length === row.last_seq - row.first_seq + 1,
          () => `journal ${this.path}: batch ${row.first_seq} holds the wrong number of events`,
        );
        for (let index = 0; index < events.length; index += 1) {
          const entrySeq = row.first_seq + index;
          if (entrySeq <= seq) continue; // the part of a batch applied before
          invariant(entrySeq === expected, () => `journal ${this.path}: gap before seq ${entrySeq}`);
          const event = events[index] as SaleEvent;
          assertEventShape(event);
          entries.push({ seq: entrySeq, event });
          expected += 1;
        }
        cursor = row.last_seq;
        if (entries.length >= limit) break;
      }
    }
    return entries;
  }

  close(): void {
    this.db.close();
  }
}
