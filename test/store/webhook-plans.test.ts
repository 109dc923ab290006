// What only SQLite shows without data: the plans of the webhook statements that run as tables grow.
// Claims, the oldest pending event and the failed listing must stay on the partial indexes (as long
// as the backlog, not the history), and pruning must reach each endpoint's rows through the primary
// key: a scan of webhook_deliveries would cost the whole delivery history every time.

import { Database } from "bun:sqlite";
import { afterAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.ts";
import { WEBHOOK_SQL, listingSql } from "../../src/store/sqlite/webhooks.ts";
import { tempDir } from "../support/harness.ts";

const dir = tempDir("stampede-webhook-plans-");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("webhook statements reach deliveries through indexes, never by a scan", async () => {
  const store = new SqliteStore(join(dir, "store.db"));
  await store.migrate();
  await store.close();
  const db = new Database(store.path, { readonly: true });
  try {
    const plan = (sql: string) =>
      db
        .query<{ detail: string }, []>(`EXPLAIN QUERY PLAN ${sql}`)
        .all()
        .map((row) => row.detail)
        .join(" | ");
    const plans: Record<string, string> = {
      ...Object.fromEntries(Object.entries(WEBHOOK_SQL).map(([name, sql]) => [name, plan(sql)])),
      failed: plan(listingSql("failed", true)),
      pending: plan(listingSql("pending", true)),
      delivered: plan(listingSql("delivered", false)),
      all: plan(listingSql(undefined, true)),
    };
    for (const detail of Object.values(plans)) expect(detail).not.toMatch(/\bSCAN (d|webhook_deliveries)\b/);
    expect(plans.dueProbe ?? "").toContain("USING COVERING INDEX webhook_deliveries_due_idx (endpoint_id=? AND next_attempt_at<?)");
    expect(plans.claim ?? "").toContain("USING COVERING INDEX webhook_deliveries_due_idx (endpoint_id=? AND next_attempt_at<?)");
    expect(plans.oldestPending ?? "").toContain("USING COVERING INDEX webhook_deliveries_due_idx (endpoint_id=?)");
    expect(plans.failed ?? "").toContain("USING INDEX webhook_deliveries_failed_idx");
    expect(plans.pending ?? "").toContain("USING INDEX webhook_deliveries_due_idx");
    expect(plans.pruneDelivered ?? "").toContain("SEARCH d USING INDEX sqlite_autoindex_webhook_deliveries_1 (endpoint_id=?)");
    expect(plans.pruneDeleted ?? "").toContain("SEARCH d USING COVERING INDEX sqlite_autoindex_webhook_deliveries_1 (endpoint_id=?)");
  } finally {
    db.close();
  }
});
