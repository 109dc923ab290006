// A worker's journal: an append-only SQLite database in WAL mode holding every event the worker's
// ledgers decide, numbered by a sequence. It is the durability point of the hot path (a 2xx is sent
// only after the events behind it are committed here), the queue that the write-behind flusher
// drains into the store, and the audit log.
//
// One row holds one group commit: the events numbered first_seq..last_seq, encoded by codec.ts. A
// row per event cost a B-tree insert per hold; a row per commit costs one insert per event-loop turn.
//
// The journal stays bounded: once the store has applied a row and every sale it touches has a newer
// snapshot (snapshots.ts), the flusher thread deletes it (truncateThrough) and checkpoints the WAL,
// both on its own connection, so that neither runs on the thread that answers requests. The highest
// sequence number ever committed survives the deletion in the `meta` table.

import { Database } from "bun:sqlite";
import { invariant } from "../ledger/invariant.ts";
import type { SaleEvent } from "../ledger/types.ts";
import { BatchWriter, batchTokens, decodeBatch } from "./codec.ts";

export type Durability = "process" | "fsync";

export type JournalEntry = { seq: number; event: SaleEvent };

/** Most entries one read returns (it may exceed this by less than one batch). */
export const JOURNAL_READ_MAX = 20_000;
/** Rows one truncation transaction deletes, so that the write lock is never held long. */
const TRUNCATE_ROWS_PER_TRANSACTION = 500;

type BatchRow = { first_seq: number; last_seq: number; events: Uint8Array };

export type JournalOptions = {
  /**
   * "manual": this connection never checkpoints the WAL by itself (the worker's hot connection; its
   * flusher thread checkpoints). "auto": SQLite's default, for short-lived tools and tests.
   */
  checkpoints?: "manual" | "auto";
};

export class Journal {
  private readonly db: Database;
  private readonly insert;
  private readonly selectAfter;
  private readonly writer = new BatchWriter();
  private seq: number;
  private lastAt = 0;

  constructor(
    readonly path: string,
    durability: Durability,
    options: JournalOptions = {},
  ) {
    this.db = new Database(path, { create: true, strict: true });
    // busy_timeout first: the supervisor and the flusher read this file while a worker writes it.
    this.db.exec("PRAGMA busy_timeout = 5000");
    this.db.exec("PRAGMA journal_mode = WAL");
    // NORMAL in WAL mode: a commit is in the OS page cache before we answer, so it survives a killed
    // process; FULL also fsyncs the WAL on every commit, so it survives a power cut.
    this.db.exec(`PRAGMA synchronous = ${durability === "fsync" ? "FULL" : "NORMAL"}`);
    // A checkpoint copies the WAL into the database file and, under NORMAL, fsyncs it: milliseconds
    // that the request thread must not spend. Its flusher thread runs them instead (checkpoint()).
    if (options.checkpoints === "manual") this.db.exec("PRAGMA wal_autocheckpoint = 0");
    // Once a checkpoint has copied everything, the WAL file is cut back to this size.
    this.db.exec("PRAGMA journal_size_limit = 67108864");
    this.db.exec(`CREATE TABLE IF NOT EXISTS batches (
      first_seq INTEGER PRIMARY KEY,
      last_seq INTEGER NOT NULL,
      committed_at INTEGER NOT NULL,
      events BLOB NOT NULL
    )`);
    // How many of a batch's events carry a forwarding token (-1: not counted, a batch of an older
    // file). A start reads the tokens of the last seconds' batches (recovery.ts); this lets it skip
    // the batches with none (every batch of a worker that was sent nothing forwarded) undecoded.
    const columns = this.db.query<{ name: string }, []>("SELECT name FROM pragma_table_info('batches')").all();
    if (!columns.some((column) => column.name === "tokens")) this.db.exec("ALTER TABLE batches ADD COLUMN tokens INTEGER NOT NULL DEFAULT -1");
    this.db.exec("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)");
    // Truncation and recovery ask for batches by commit time (the window recovery reads tokens
    // from): without the index each question scans every batch, blobs and all.
    this.db.exec("CREATE INDEX IF NOT EXISTS batches_committed_at ON batches (committed_at)");
    this.seq = this.readLastSeq();
    const last = this.db.query<{ at: number | null }, []>("SELECT max(committed_at) AS at FROM batches").get();
    this.lastAt = last?.at ?? 0;
    this.insert = this.db.query<unknown, [number, number, number, Uint8Array, number]>(
      "INSERT INTO batches (first_seq, last_seq, committed_at, events, tokens) VALUES (?, ?, ?, ?, ?)",
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

  private readLastSeq(): number {
    const last = this.db.query<{ seq: number | null }, []>("SELECT max(last_seq) AS seq FROM batches").get();
    return Math.max(last?.seq ?? 0, this.meta("truncated_through"), this.meta("advanced_to"));
  }

  private meta(key: string): number {
    return this.db.query<{ value: number }, [string]>("SELECT value FROM meta WHERE key = ?").get(key)?.value ?? 0;
  }

  private setMeta(key: string, value: number): void {
    this.db.query("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(key, value);
  }

  /** Sequence number of the last committed event (0 when empty). */
  get lastSeq(): number {
    return this.seq;
  }

  /** When the last batch was committed (0 when none is left); for recovery's look back at tokens. */
  get lastCommittedAt(): number {
    return this.lastAt;
  }

  /**
   * The latest engine time this journal has seen: the last commit, or the mark the owner leaves
   * about once a second (markClock), whichever is later. A restart anchors its clock here, so time
   * never runs backwards across a restart, even after a quiet hour or a journal truncated empty.
   */
  get clockFloor(): number {
    return Math.max(this.lastAt, this.meta("clock"));
  }

  /** Record that engine time has reached `ms` (a mark only ever moves forward). */
  markClock(ms: number): void {
    this.db.query("INSERT INTO meta (key, value) VALUES ('clock', ?1) ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)").run(ms);
  }

  /** Whether the journal holds anything: a worker with an empty journal loads its sales from the store. */
  get empty(): boolean {
    return this.seq === 0 && this.db.query<{ n: number }, []>("SELECT count(*) AS n FROM batches").get()?.n === 0;
  }

  /**
   * Commit events in one transaction (group commit). Returns the sequence number of the last one.
   * On failure nothing is committed and the sequence is unchanged; the caller must treat its
   * in-memory state as lost (the worker stops and recovers from what is committed).
   */
  append(events: readonly SaleEvent[], committedAt: number = Date.now()): number {
    if (events.length === 0) return this.seq;
    const first = this.seq + 1;
    const last = this.seq + events.length;
    // A single statement is its own transaction: no BEGIN/COMMIT round needed.
    this.insert.run(first, last, committedAt, this.writer.encode(events), tokensIn(events));
    this.seq = last;
    this.lastAt = committedAt;
    return last;
  }

  /**
   * Continue numbering after `seq`. Used when the store has applied further than this journal
   * reaches (the journal file was replaced): new events must never reuse numbers the store has
   * recorded as applied, or they would be skipped. Recorded, so that it holds across a restart.
   */
  advanceTo(seq: number): void {
    invariant(seq >= this.seq, "a journal's sequence never goes back");
    if (seq === this.seq) return;
    this.setMeta("advanced_to", seq);
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
        const events = decodeBatch(row.events);
        invariant(
          Array.isArray(events) && events.length === row.last_seq - row.first_seq + 1,
          () => `journal ${this.path}: batch ${row.first_seq} holds the wrong number of events`,
        );
        for (let index = 0; index < events.length; index += 1) {
          const entrySeq = row.first_seq + index;
          if (entrySeq <= seq) continue; // the part of a batch applied before
          invariant(entrySeq === expected, () => `journal ${this.path}: gap before seq ${entrySeq}`);
          // Each event was checked as it was decoded (codec.ts: a JSON one's shape; a binary one has
          // its fields by construction).
          entries.push({ seq: entrySeq, event: events[index] as SaleEvent });
          expected += 1;
        }
        cursor = row.last_seq;
        if (entries.length >= limit) break;
      }
    }
    return entries;
  }

  /** The first sequence number still in the journal (lastSeq + 1 when it holds no batch). */
  firstSeq(): number {
    const row = this.db.query<{ seq: number | null }, []>("SELECT min(first_seq) AS seq FROM batches").get();
    return row?.seq ?? this.seq + 1;
  }

  /** The latest commit time on disk (another connection may be the one appending). */
  lastCommittedAtOnDisk(): number {
    return this.db.query<{ at: number | null }, []>("SELECT max(committed_at) AS at FROM batches").get()?.at ?? 0;
  }

  /** The last sequence number of the batches committed before `ms` (0 when none). */
  lastSeqBefore(ms: number): number {
    const row = this.db
      .query<{ seq: number | null }, [number]>("SELECT max(last_seq) AS seq FROM batches WHERE committed_at < ?")
      .get(ms);
    return row?.seq ?? this.meta("truncated_through");
  }

  /** Forwarding tokens of holds placed or released in batches committed at or after `since` (ms). */
  tokensSince(since: number): ReturnType<typeof batchTokens> {
    const rows = this.db
      .query<{ events: Uint8Array }, [number]>("SELECT events FROM batches WHERE committed_at >= ? AND tokens <> 0 ORDER BY first_seq")
      .all(since);
    return rows.flatMap((row) => batchTokens(row.events));
  }

  /**
   * Delete every batch that ends at or before `seq` (the caller has made sure the store and the
   * snapshots have everything in them), a few hundred rows per transaction.
   */
  truncateThrough(seq: number): number {
    let deleted = 0;
    const select = this.db.query<{ first_seq: number }, [number, number]>(
      "SELECT first_seq FROM batches WHERE last_seq <= ? ORDER BY first_seq LIMIT ?",
    );
    const remove = this.db.query<unknown, [number, number]>("DELETE FROM batches WHERE first_seq >= ? AND first_seq <= ?");
    for (;;) {
      const rows = select.all(seq, TRUNCATE_ROWS_PER_TRANSACTION);
      if (rows.length === 0) break;
      const from = rows[0]?.first_seq as number;
      const to = rows[rows.length - 1]?.first_seq as number;
      this.db.transaction(() => {
        remove.run(from, to);
        if (seq > this.meta("truncated_through")) this.setMeta("truncated_through", seq);
      }).immediate();
      deleted += rows.length;
    }
    return deleted;
  }

  /** Copy the WAL into the database file without blocking writers (SQLite's PASSIVE checkpoint). */
  checkpoint(): void {
    this.db.exec("PRAGMA wal_checkpoint(PASSIVE)");
  }

  /**
   * Batches held and bytes of the database file in use (pages not on the free list), for metrics
   * and the bounded-disk check; both read without scanning the events.
   */
  size(): { batches: number; bytes: number } {
    const first = this.db.query<{ seq: number | null }, []>("SELECT min(first_seq) AS seq FROM batches").get()?.seq ?? null;
    const batches = first === null ? 0 : (this.db.query<{ n: number }, [number]>("SELECT count(*) AS n FROM batches WHERE first_seq >= ?").get(first)?.n ?? 0);
    const pages = this.db.query<{ page_count: number }, []>("PRAGMA page_count").get()?.page_count ?? 0;
    const free = this.db.query<{ freelist_count: number }, []>("PRAGMA freelist_count").get()?.freelist_count ?? 0;
    const pageSize = this.db.query<{ page_size: number }, []>("PRAGMA page_size").get()?.page_size ?? 4096;
    return { batches, bytes: (pages - free) * pageSize };
  }

  close(): void {
    this.db.close();
  }
}

/** Events that carry a forwarding token (those batchTokens finds). */
function tokensIn(events: readonly SaleEvent[]): number {
  let count = 0;
  for (let index = 0; index < events.length; index += 1) {
    const event = events[index] as SaleEvent;
    if ((event.type === "hold_placed" || event.type === "hold_released") && event.token !== 0) count += 1;
  }
  return count;
}
