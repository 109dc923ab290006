// Node mode's tables in PostgreSQL (DESIGN.md, "Beyond one machine"): the nodes of the service with
// their heartbeats, and one lease row per sale naming its owner node and the lease's epoch (the
// fencing token every write batch of that owner checks, see stampede_fence below).
//
// The statements are idempotent and run inside the store's migration (under its advisory lock), after
// drizzle's migrations: the tables cost nothing to a single machine, and a node finds them whatever
// the order in which nodes and versions were started. Times here are PostgreSQL's own clock (now()),
// the one clock every node agrees on; a node never compares its own wall clock with them.

import type { StoreSql } from "../store/postgres/apply-batch.ts";

/** The SQLSTATE stampede_fence raises: the batch names a sale whose lease is not (or no longer) this owner's. */
export const STALE_LEASE_SQLSTATE = "SL001";

export const NODE_SCHEMA = [
  `CREATE TABLE IF NOT EXISTS nodes (
    id text PRIMARY KEY,
    advertise_url text NOT NULL,
    workers integer NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now()
  )`,
  // node_id NULL: released (its owner handed it over gracefully); anyone may take it at once.
  `CREATE TABLE IF NOT EXISTS sale_leases (
    sale_id text PRIMARY KEY,
    node_id text,
    epoch bigint NOT NULL,
    expires_at timestamptz NOT NULL
  )`,
  // The fence: lock the batch's lease rows (FOR SHARE, so that a takeover's UPDATE waits until this
  // transaction ends) and refuse the whole transaction unless every one still names this node and the
  // epoch the owner holds. A takeover therefore either sees this batch committed, or this batch fails.
  `CREATE OR REPLACE FUNCTION stampede_fence(owner text, sale_ids text[], epochs bigint[]) RETURNS void
   LANGUAGE plpgsql AS $$
   DECLARE held integer;
   BEGIN
     SELECT count(*) INTO held FROM (
       SELECT 1 FROM sale_leases l JOIN unnest(sale_ids, epochs) AS u(sale_id, epoch)
         ON l.sale_id = u.sale_id AND l.epoch = u.epoch
       WHERE l.node_id = owner FOR SHARE OF l) AS leased;
     IF held <> cardinality(sale_ids) THEN
       RAISE EXCEPTION 'stale lease: % of % sales of this batch are no longer leased to node % at these epochs',
         cardinality(sale_ids) - held, cardinality(sale_ids), owner USING ERRCODE = '${STALE_LEASE_SQLSTATE}';
     END IF;
   END $$`,
];

export async function ensureNodeSchema(sql: StoreSql): Promise<void> {
  for (const statement of NODE_SCHEMA) await sql.unsafe(statement);
}
