// In node mode a worker's journal is the audit log of what it committed to PostgreSQL, not where its
// sales come back from: the sales may have moved to other nodes while the worker was down, and the
// store holds everything acknowledged. So a worker starts on a fresh journal, and the previous one
// (with its snapshot file) is kept beside it under a dated name, the last few of them.

import { existsSync, readdirSync, renameSync, rmSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { snapshotsPathOf } from "../journal/snapshots.ts";

/** Archived journals kept per worker; older ones are deleted. */
const ARCHIVES_KEPT = 3;

/** Move `journal-<i>.db` and its snapshot file aside as `journal-<i>.<time>.audit.db` (and -snapshots). */
export function archiveJournal(journalPath: string, now = new Date()): void {
  const stamp = now.toISOString().replace(/[:.]/g, "-");
  const base = journalPath.replace(/\.db$/, "");
  for (const path of [journalPath, snapshotsPathOf(journalPath)]) {
    if (!existsSync(path)) continue;
    const archived = path.replace(/\.db$/, "").replace(base, `${base}.${stamp}.audit`) + ".db";
    // The WAL first: SQLite would replay a leftover WAL into whatever file takes the old name.
    for (const suffix of ["-wal", "-shm", ""]) {
      if (existsSync(`${path}${suffix}`)) renameSync(`${path}${suffix}`, `${archived}${suffix}`);
    }
  }
  pruneArchives(journalPath);
}

function pruneArchives(journalPath: string): void {
  const dir = dirname(journalPath);
  const prefix = `${basename(journalPath).replace(/\.db$/, "")}.`;
  const stamps = [
    ...new Set(
      readdirSync(dir)
        .filter((file) => file.startsWith(prefix) && file.includes(".audit"))
        .map((file) => file.slice(prefix.length, file.indexOf(".audit"))),
    ),
  ].sort();
  for (const stamp of stamps.slice(0, Math.max(0, stamps.length - ARCHIVES_KEPT))) {
    for (const file of readdirSync(dir)) {
      if (file.startsWith(`${prefix}${stamp}.audit`)) rmSync(join(dir, file), { force: true });
    }
  }
}
