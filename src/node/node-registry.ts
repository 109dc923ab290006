// The nodes of the service as PostgreSQL knows them: each node's workers heartbeat its row, and a
// node whose heartbeat is older than NODE_DEAD_AFTER_MS is no longer counted among the live ones (its
// sales' leases then run out and other nodes take them over, leases.ts). A node that stops cleanly
// marks itself gone at once, so its sales move without waiting for the heartbeat to age.

import type { StoreSql } from "../store/postgres/apply-batch.ts";

/** A node is live while its last heartbeat is younger than this (PostgreSQL's clock). */
export const NODE_DEAD_AFTER_MS = 3_000;
/**
 * A node that (re)joined is handed sales by their current owners only once it has been live this
 * long: a node flapping on its heartbeat does not make every sale move back and forth.
 */
export const NODE_SETTLE_MS = 2_000;

export type LiveNode = { id: string; advertiseUrl: string; workers: number; settled: boolean };

export type NodeIdentity = { nodeId: string; advertiseUrl: string; workers: number };

/** Upsert this node's row with a fresh heartbeat; its start time moves only when it was dead. */
export function heartbeat(sql: StoreSql, me: NodeIdentity) {
  return sql`
    INSERT INTO nodes (id, advertise_url, workers) VALUES (${me.nodeId}, ${me.advertiseUrl}, ${me.workers})
    ON CONFLICT (id) DO UPDATE SET advertise_url = EXCLUDED.advertise_url, workers = EXCLUDED.workers,
      heartbeat_at = now(),
      started_at = CASE WHEN nodes.heartbeat_at < now() - make_interval(secs => ${NODE_DEAD_AFTER_MS / 1000})
        THEN now() ELSE nodes.started_at END`;
}

export async function liveNodes(sql: StoreSql): Promise<LiveNode[]> {
  const rows = await sql`
    SELECT id, advertise_url, workers, started_at < now() - make_interval(secs => ${NODE_SETTLE_MS / 1000}) AS settled
    FROM nodes WHERE heartbeat_at > now() - make_interval(secs => ${NODE_DEAD_AFTER_MS / 1000}) ORDER BY id`;
  return rows.map((row) => ({
    id: row.id as string,
    advertiseUrl: row.advertise_url as string,
    workers: row.workers as number,
    settled: row.settled as boolean,
  }));
}

/** A clean stop: the others stop counting this node at once. */
export function markGone(sql: StoreSql, nodeId: string) {
  return sql`UPDATE nodes SET heartbeat_at = '-infinity' WHERE id = ${nodeId}`;
}
