// Node mode (issue 13), measured against single-machine Stampede in the same run, both on this
// machine's PostgreSQL: three nodes of one worker each on loopback, one sale owned by each node, and
// the load split as a load balancer hashing on the sale id would split it (one generator per sale,
// sent to its owner node); the single machine gets the same three sales and the same three
// generators. Then SIGKILL rounds: buyers hold against every live node (Idempotency-Key, the careful
// client's retry of an unknown outcome), a whole node is killed, the time until its sales take a
// hold through another node is the failover time, and every acknowledged hold must be in
// PostgreSQL; the node comes back and takes its share before the next round. `--node-kills=N` sets
// the rounds (the target counts 20; a plain run does 2, --quick 1).

import { join } from "node:path";
import { signBuyerToken } from "../../src/auth/buyer-token.ts";
import { preferredNode } from "../../src/node/rendezvous.ts";
import { SECRETS } from "../../test/support/harness.ts";
import { freePort } from "../../test/support/process.ts";
import { createDatabase, databaseUrl, dropDatabase, postgresReachable } from "../contestants/services.ts";
import { StampedeProcess } from "../contestants/stampede-process.ts";
import type { ItemCounts } from "../contestants/types.ts";
import { type LoadResult, runLoad } from "../load/index.ts";
import { type BenchContext, HOLD_BODY, ITEM_ID, checkCounts, loadFields } from "./context.ts";
import postgres from "postgres";

const NODE_IDS = ["bench-a", "bench-b", "bench-c"];
const STOCK = 100_000_000;
const ADMIN = { authorization: `Bearer ${SECRETS.STAMPEDE_ADMIN_TOKEN}`, "content-type": "application/json" };
/** Connections of each of the three generators (the other scenarios use 64 in all). */
const CONNECTIONS_EACH = 22;

type Node = { id: string; port: number; dataDir: string; process: StampedeProcess };

async function startNode(ctx: BenchContext, id: string, url: string, port: number): Promise<Node> {
  const dataDir = join(ctx.workDir, `node-${id}`);
  const process = await StampedeProcess.start({
    dataDir,
    workers: 1,
    databaseUrl: url,
    port,
    env: { STAMPEDE_NODE_ID: id, STAMPEDE_ADVERTISE_URL: `http://127.0.0.1:${port}` },
  });
  return { id, port, dataDir, process };
}

async function createSale(url: string, id: string): Promise<void> {
  const body = JSON.stringify({ id, name: id, limitPerUser: 1000, holdSeconds: 86_400, items: [{ id: ITEM_ID, name: "Item", price: 4900, currency: "USD", stock: STOCK }] });
  for (let attempt = 0; ; attempt += 1) {
    const response = await fetch(`${url}/v1/admin/sales`, { method: "POST", headers: ADMIN, body });
    if (response.status === 201) return;
    if (response.status !== 503 || attempt > 100) throw new Error(`create ${id}: ${response.status} ${await response.text()}`);
    await Bun.sleep(100);
  }
}

async function counts(url: string, saleId: string): Promise<ItemCounts> {
  for (let attempt = 0; ; attempt += 1) {
    const response = await fetch(`${url}/v1/admin/sales/${saleId}`, { headers: ADMIN });
    if (response.status === 200) return ((await response.json()) as { items: ItemCounts[] }).items[0] as ItemCounts;
    if (attempt > 100) throw new Error(`admin view of ${saleId}: ${response.status}`);
    await Bun.sleep(100);
  }
}

/** One sale id per node, each owned by its node (rendezvous over the three ids, as the nodes place them). */
function oneSalePerNode(): string[] {
  const chosen = new Map<string, string>();
  for (let n = 0; chosen.size < NODE_IDS.length; n += 1) {
    const saleId = `node-hot-${n}`;
    const node = preferredNode(saleId, NODE_IDS) as string;
    if (!chosen.has(node)) chosen.set(node, saleId);
  }
  return NODE_IDS.map((id) => chosen.get(id) as string);
}

/** Three generators at once, one per (url, sale); their rates add up, the worst p99 is reported. */
async function splitLoad(ctx: BenchContext, targets: { url: string; saleId: string }[]): Promise<{ results: LoadResult[]; combined: LoadResult }> {
  const results = await Promise.all(
    targets.map(({ url, saleId }) =>
      runLoad(
        {
          url,
          connections: CONNECTIONS_EACH,
          threads: 1,
          mode: "cycle",
          seconds: ctx.scale.holdsSeconds,
          method: "POST",
          path: `/v1/sales/${saleId}/reservations`,
          body: HOLD_BODY,
          entriesFile: ctx.files.hotBuyers,
          entryHeader: "Authorization",
        },
        ctx.workDir,
      ),
    ),
  );
  const sum = (pick: (r: LoadResult) => number) => results.reduce((total, r) => total + pick(r), 0);
  const worst = (pick: (r: LoadResult) => number) => Math.max(...results.map(pick));
  const status: Record<string, number> = {};
  const code: Record<string, number> = {};
  for (const r of results) {
    for (const [k, v] of Object.entries(r.status)) status[k] = (status[k] ?? 0) + v;
    for (const [k, v] of Object.entries(r.code)) code[k] = (code[k] ?? 0) + v;
  }
  const first = results[0] as LoadResult;
  const combined: LoadResult = {
    ...first,
    sent: sum((r) => r.sent),
    answered: sum((r) => r.answered),
    unanswered: sum((r) => r.unanswered),
    requestsPerSecond: sum((r) => r.requestsPerSecond),
    latencyUs: {
      p50: worst((r) => r.latencyUs.p50),
      p90: worst((r) => r.latencyUs.p90),
      p99: worst((r) => r.latencyUs.p99),
      p999: worst((r) => r.latencyUs.p999),
      max: worst((r) => r.latencyUs.max),
      mean: sum((r) => r.latencyUs.mean) / results.length,
    },
    socketErrors: {
      connect: sum((r) => r.socketErrors.connect),
      read: sum((r) => r.socketErrors.read),
      write: sum((r) => r.socketErrors.write),
      timeout: sum((r) => r.socketErrors.timeout),
    },
    status,
    code,
  };
  return { results, combined };
}

/** Holds and exactness of one contestant (single machine, or the three nodes). */
async function measure(ctx: BenchContext, key: string, name: string, targets: { url: string; saleId: string }[], adminUrl: string) {
  for (const { url, saleId } of targets) await createSale(url, saleId);
  const { results, combined } = await splitLoad(ctx, targets);
  const problems: string[] = [];
  for (const [index, { saleId }] of targets.entries()) {
    const result = results[index] as LoadResult;
    const check = checkCounts(await counts(adminUrl, saleId), { stock: STOCK, held: result.status["201"] ?? 0, confirmed: 0, slack: result.unanswered });
    if (!check.ok) problems.push(`${saleId}: ${check.text}`);
  }
  return ctx.add({
    scenario: "nodes",
    contestantKey: key,
    contestant: name,
    ...loadFields(combined, undefined),
    result: `${(combined.status["201"] ?? 0).toLocaleString("en-US")} holds on 3 sales, one generator of ${CONNECTIONS_EACH} connections each`,
    exact: problems.length === 0,
    exactness: problems.length === 0 ? "every sale: held = acknowledged, stock conserved, oversell 0" : problems.join("; "),
    metrics: { acknowledged: combined.status["201"] ?? 0 },
  });
}

type Ack = { saleId: string; id: string };

/** Buyers holding against the live nodes, each hold under a key, sent again while its outcome is unknown. */
function storm(urls: () => string[], saleIds: string[], prefix: string) {
  const acks: Ack[] = [];
  let stopped = false;
  let sent = 0;
  const lane = async () => {
    while (!stopped) {
      const n = sent++;
      const userId = `${prefix}-${n}`;
      const token = signBuyerToken(SECRETS.STAMPEDE_JWT_SECRET, userId, 3_600);
      const saleId = saleIds[n % saleIds.length] as string;
      for (let attempt = 0; attempt < 1_000; attempt += 1) {
        const live = urls();
        let status = 0;
        try {
          const response = await fetch(`${live[(n + attempt) % live.length]}/v1/sales/${saleId}/reservations`, {
            method: "POST",
            headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "idempotency-key": `${prefix}-${n}` },
            body: HOLD_BODY,
            signal: AbortSignal.timeout(10_000),
          });
          status = response.status;
          if (status === 201) acks.push({ saleId, id: ((await response.json()) as { id: string }).id });
          else await response.arrayBuffer();
        } catch {}
        if (status !== 0 && status !== 503) break;
        await Bun.sleep(20);
      }
    }
  };
  const running = Promise.all(Array.from({ length: 16 }, lane));
  return {
    acks,
    async stop() {
      stopped = true;
      await running;
    },
  };
}

/** SIGKILL rounds: failover time of each, acknowledged holds missing from PostgreSQL over all. */
async function killRounds(ctx: BenchContext, nodes: Node[], url: string, saleIds: string[], rounds: number) {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  const failovers: number[] = [];
  let lost = 0;
  let acknowledged = 0;
  try {
    for (let round = 0; round < rounds; round += 1) {
      const victim = nodes[round % nodes.length] as Node;
      const owned = (await sql`SELECT sale_id FROM sale_leases WHERE node_id = ${victim.id} AND sale_id = ANY(${saleIds})`).map((row) => row.sale_id as string);
      let alive = nodes;
      const run = storm(() => alive.map((node) => node.process.url), saleIds, `kill-${round}`);
      await Bun.sleep(1_000);
      const killedAt = performance.now();
      await victim.process.kill();
      alive = nodes.filter((node) => node !== victim);
      const survivor = (alive[0] as Node).process.url;
      let served = 0;
      await Promise.all(
        owned.map(async (saleId) => {
          const token = signBuyerToken(SECRETS.STAMPEDE_JWT_SECRET, `probe-${round}-${saleId}`, 3_600);
          for (;;) {
            const response = await fetch(`${survivor}/v1/sales/${saleId}/reservations`, {
              method: "POST",
              headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
              body: HOLD_BODY,
            });
            if (response.status === 201) {
              run.acks.push({ saleId, id: ((await response.json()) as { id: string }).id });
              served = Math.max(served, performance.now() - killedAt);
              return;
            }
            await response.arrayBuffer();
            if (performance.now() - killedAt > 30_000) throw new Error(`sale ${saleId} not served 30 s after its node was killed`);
            await Bun.sleep(25);
          }
        }),
      );
      failovers.push(served);
      await Bun.sleep(500);
      await run.stop();
      const ids = run.acks.map((ack) => ack.id);
      const [{ found }] = (await sql`SELECT count(*)::int AS found FROM reservations WHERE id = ANY(${ids})`) as unknown as [{ found: number }];
      lost += ids.length - found;
      acknowledged += ids.length;
      // The node comes back on its data dir and takes its share again before the next round.
      const back = await startNode(ctx, victim.id, url, victim.port);
      nodes[nodes.indexOf(victim)] = back;
      const deadline = performance.now() + 20_000;
      for (;;) {
        const [row] = await sql`SELECT count(*)::int AS n FROM sale_leases WHERE node_id = ${victim.id} AND expires_at > now()`;
        if ((row?.n as number) > 0 || performance.now() > deadline) break;
        await Bun.sleep(200);
      }
    }
  } finally {
    await sql.end({ timeout: 2 });
  }
  return { failovers, lost, acknowledged };
}

export async function nodeMode(ctx: BenchContext): Promise<void> {
  const problem = await postgresReachable();
  if (problem !== null) {
    ctx.notes.push(`PostgreSQL not reachable (${problem}): node mode was not measured.`);
    return;
  }
  const runId = `${process.pid}_${Date.now().toString(36)}`;
  const singleDb = `stampede_bench_single_${runId}`;
  const nodesDb = `stampede_bench_nodes_${runId}`;
  const killsFlag = process.argv.find((arg) => arg.startsWith("--node-kills="));
  const rounds = killsFlag === undefined ? (ctx.scale.quick ? 1 : 2) : Number(killsFlag.slice("--node-kills=".length));
  const saleIds = oneSalePerNode();
  let single: StampedeProcess | null = null;
  const nodes: Node[] = [];
  try {
    single = await StampedeProcess.start({ dataDir: join(ctx.workDir, "single-pg"), workers: "default", databaseUrl: await createDatabase(singleDb) });
    const singleRow = await measure(ctx, "stampede-postgres-single", "Stampede, one machine, PostgreSQL store", saleIds.map((saleId) => ({ url: (single as StampedeProcess).url, saleId })), single.url);
    await single.kill();
    single = null;

    const url = await createDatabase(nodesDb);
    for (const id of NODE_IDS) nodes.push(await startNode(ctx, id, url, freePort()));
    await Bun.sleep(2_500); // every node live and settled in every node's view
    const targets = saleIds.map((saleId, index) => ({ url: (nodes[index] as Node).process.url, saleId }));
    const nodeRow = await measure(ctx, "stampede-nodes-3", "Stampede, 3 nodes, PostgreSQL (node mode)", targets, (nodes[0] as Node).process.url);
    nodeRow.metrics.ratioToSingle = (nodeRow.requestsPerSecond ?? 0) / (singleRow.requestsPerSecond ?? 1);
    nodeRow.result += `; ${nodeRow.metrics.ratioToSingle.toFixed(2)}× one machine`;

    const { failovers, lost, acknowledged } = await killRounds(ctx, nodes, databaseUrl(nodesDb), saleIds, rounds);
    const worst = Math.max(...failovers);
    ctx.add({
      scenario: "node-failover",
      contestantKey: "stampede-nodes-3",
      contestant: "Stampede, 3 nodes, PostgreSQL (node mode)",
      answers: "",
      result: `${rounds} SIGKILL rounds: failover ${failovers.map((ms) => (ms / 1000).toFixed(1)).join(", ")} s; ${acknowledged.toLocaleString("en-US")} holds acknowledged, ${lost} missing from PostgreSQL`,
      exact: lost === 0,
      exactness: lost === 0 ? "every acknowledged hold is in PostgreSQL" : `${lost} acknowledged holds lost`,
      metrics: { rounds, failoverMsMax: worst, lostAcks: lost, acknowledged },
    });
  } finally {
    await single?.kill();
    for (const node of nodes) await node.process.kill();
    await dropDatabase(singleDb).catch(() => {});
    await dropDatabase(nodesDb).catch(() => {});
  }
}
