// What `serve` does to the data dir before any worker starts (the supervisor's start, or a lone
// in-process server's): take the data dir's lock, bring the store's schema up to date when the
// store answers, and move the journals through the store when they were written for another number
// of workers or in an older format. A store that does not answer stops only a server that needs it:
// one whose journals hold its sales starts and serves from them, and says so in /readyz.

import { type Config, ConfigError, storeUnreachable } from "./config.ts";
import { type DataDirLock, journalFiles, journalsFit, lockDataDir, readLayout, writeLayout } from "./data-dir.ts";
import { reshardJournals } from "./cluster/supervisor.ts";
import type { Level } from "./log.ts";
import { openMigratedStore } from "./store/open-store.ts";

export type Prepared = {
  lock: DataDirLock;
  /** Events moved from old journals into the store. */
  moved: number;
  /** Why the store did not answer at start (the server serves from its journals meanwhile). */
  storeProblem: string | null;
};

export async function prepareDataDir(
  config: Config,
  workers: number,
  log: (level: Level, msg: string, fields?: Record<string, unknown>) => void,
): Promise<Prepared> {
  const lock = lockDataDir(config.dataDir);
  try {
    const storeProblem = await storeUnreachable(config);
    if (config.nodeId !== undefined) {
      // Node mode: PostgreSQL holds everything any node acknowledged, and the journals are audit
      // logs only (node/journal-archive.ts): nothing moves through the store, but it must answer.
      if (storeProblem !== null) throw new ConfigError(storeProblem);
      await (await openMigratedStore(config)).close();
      writeLayout(config.dataDir, workers);
      return { lock, moved: 0, storeProblem: null };
    }
    const haveJournals = journalFiles(config.dataDir).length > 0;
    let moved = 0;
    if (!journalsFit(config.dataDir, workers)) {
      const layout = readLayout(config.dataDir);
      const why =
        layout === null ? "are of an older format" : `were written for ${layout.workers} workers, not ${workers}`;
      if (storeProblem !== null) {
        throw new ConfigError(`the journals in "${config.dataDir}" ${why} and must move through the store, which is unreachable: ${storeProblem}`);
      }
      const store = await openMigratedStore(config);
      try {
        moved = await reshardJournals(config, store);
      } finally {
        await store.close();
      }
      log("info", "journals moved through the store", { reason: why, events: moved });
    } else if (storeProblem === null) {
      await (await openMigratedStore(config)).close();
    } else if (haveJournals) {
      log("warn", "the store is unreachable; serving from the journals, the store catches up when it answers", { reason: storeProblem });
    } else {
      throw new ConfigError(storeProblem);
    }
    writeLayout(config.dataDir, workers);
    return { lock, moved, storeProblem };
  } catch (error) {
    lock.release();
    throw error;
  }
}
