// The data dir: who may use it and how its journals are laid out.
//
// One server at a time: `serve` takes an exclusive lock on `<data dir>/.lock` (a SQLite database kept
// in an exclusive transaction; the operating system drops the lock when the process dies, even by
// SIGKILL). A second server on the same data dir exits 2 with one line instead of starting and then
// failing on UNIQUE constraints.
//
// The layout (`cluster.json`): how many workers the journals were written for, and their format.
// Sales are owned by hash modulo the number of workers, so when that number changes, or journals of
// an older format are found, the journals are drained into the store and started afresh
// (supervisor.ts, reshardJournals); otherwise each worker recovers from its own journal alone.

import { Database } from "bun:sqlite";
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError } from "./config.ts";

/** The format of journals this version writes (binary batches and per-sale snapshots). */
export const JOURNAL_FORMAT = 2;

export type JournalLayout = { format: number; workers: number };

export type DataDirLock = { release(): void };

export function lockDataDir(dataDir: string): DataDirLock {
  const path = join(dataDir, ".lock");
  const db = new Database(path, { create: true });
  try {
    db.exec("PRAGMA busy_timeout = 0");
    db.exec("BEGIN EXCLUSIVE");
  } catch {
    db.close();
    const holder = readHolder(dataDir);
    throw new ConfigError(
      `data dir "${dataDir}" is in use by another Stampede server${holder === null ? "" : ` (pid ${holder})`}; stop it or use another --data-dir`,
    );
  }
  writeFileSync(join(dataDir, ".lock.pid"), `${process.pid}\n`);
  return {
    release() {
      try {
        db.exec("ROLLBACK");
      } catch {}
      db.close();
    },
  };
}

function readHolder(dataDir: string): number | null {
  try {
    const pid = Number(readFileSync(join(dataDir, ".lock.pid"), "utf8").trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/** The journal files of a data dir (`journal-<i>.db`), by worker index. */
export function journalFiles(dataDir: string): { index: number; file: string }[] {
  if (!existsSync(dataDir)) return [];
  return readdirSync(dataDir)
    .map((file) => ({ file, match: /^journal-(\d+)\.db$/.exec(file) }))
    .filter((entry): entry is { file: string; match: RegExpExecArray } => entry.match !== null)
    .map(({ file, match }) => ({ index: Number(match[1]), file }));
}

export function readLayout(dataDir: string): JournalLayout | null {
  try {
    const layout = JSON.parse(readFileSync(join(dataDir, "cluster.json"), "utf8")) as Partial<JournalLayout>;
    if (typeof layout.format !== "number" || typeof layout.workers !== "number") return null;
    return { format: layout.format, workers: layout.workers };
  } catch {
    return null;
  }
}

export function writeLayout(dataDir: string, workers: number): void {
  writeFileSync(join(dataDir, "cluster.json"), `${JSON.stringify({ format: JOURNAL_FORMAT, workers } satisfies JournalLayout)}\n`);
}

/**
 * Whether the journals can be recovered as they are by `workers` workers: none yet, or written by
 * this format for this many workers.
 */
export function journalsFit(dataDir: string, workers: number): boolean {
  if (journalFiles(dataDir).length === 0) return true;
  const layout = readLayout(dataDir);
  return layout !== null && layout.format === JOURNAL_FORMAT && layout.workers === workers;
}
