// Start one serving process: secrets, journal, the owner's recovery (from the journal alone), the
// peers of a cluster, then the HTTP server. Used by `stampede serve` for each worker and, in-process,
// by the tests (a lone server, which prepares its data dir itself). Stopping drains in order: stop
// accepting, answer what is in flight, commit, flush the store (bounded), close files.

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { createAdminCheck } from "./auth/admin-token.ts";
import { AdmissionTokens } from "./auth/admission-token.ts";
import { createBuyerVerifier } from "./auth/buyer-token.ts";
import { loadAdmissionSecret, loadSecrets, type Secrets, secretProblems } from "./auth/secrets.ts";
import { ClusterGateway } from "./cluster/cluster-gateway.ts";
import { ownerOf } from "./cluster/ownership.ts";
import { workerSocketPath } from "./cluster/supervisor.ts";
import { type Config, ConfigError } from "./config.ts";
import { BackgroundThread } from "./engine/background.ts";
import { startIdleCollector } from "./engine/idle-collector.ts";
import type { LifecycleEvent } from "./engine/sale-lifecycle.ts";
import { SaleOwner } from "./engine/sale-owner.ts";
import { ADMISSION_DEFAULTS, Admission } from "./http/admission.ts";
import { createApp } from "./http/app.ts";
import { CODES_BODY_MAX_BYTES } from "./http/request-gate.ts";
import { Journal } from "./journal/journal.ts";
import { SnapshotFile, snapshotsPathOf } from "./journal/snapshots.ts";
import { AddressLimits, type AddressGrants } from "./limits/address-limits.ts";
import { TokenBuckets } from "./limits/token-buckets.ts";
import { audit, flushLog, log } from "./log.ts";
import { renderSnapshots } from "./metrics/exposition.ts";
import { startEventLoopLagMonitor } from "./metrics/lag.ts";
import { ServerMetrics } from "./metrics/server-metrics.ts";
import { type Prepared, prepareDataDir } from "./startup.ts";
import { openStore } from "./store/open-store.ts";
import { VERSION } from "./version.ts";
import { WebhookSenderThread } from "./webhooks/sender-handle.ts";
import { watchWebhookSender } from "./webhooks/sender-metrics.ts";
import { senderOptionsFromEnv } from "./webhooks/sender-options.ts";
import { archiveJournal } from "./node/journal-archive.ts";
import { NodeSaleOwner } from "./node/node-owner.ts";
import type { NodeSnapshot } from "./node/node-snapshots.ts";
import { type NodeParts, startNode } from "./node/start-node.ts";
import { startingEmpty } from "./node/starting-empty.ts";

/** How long a stop waits for open connections before closing them. */
const STOP_GRACE_MS = 5_000;
/** Past this many events not yet in the store, new holds are refused (the journal's bound). */
const JOURNAL_BACKLOG_MAX = 5_000_000;

export type RunningServer = {
  url: string;
  port: number;
  secrets: Secrets;
  owner: SaleOwner;
  /** Graceful stop: everything acknowledged is durable in the journal; rejects when the store could not catch up. */
  stop(): Promise<void>;
};

export type StartOptions = {
  env?: Record<string, string | undefined>;
  /** Called with the names of secrets generated on this start, to print them once. */
  onGeneratedSecrets?: (secrets: Secrets, names: string[]) => void;
  clock?: () => number;
  /** Set when this process is worker `index` of a cluster started by the supervisor. */
  cluster?: { index: number; workers: number; socketDir: string };
  /** Stops the process after a failed commit or assertion; tests may observe it instead. */
  fatal?: (error: unknown) => void;
};

/** A sale's status changes and sold-out items, as the operators' trail writes them (log.ts, audit). */
function logLifecycle(event: LifecycleEvent): void {
  if (event.kind === "sold_out") {
    audit("sale.sold_out", "item sold out", { sale: event.saleId, item: event.itemId });
    return;
  }
  // A sale created scheduled is news when it opens; its creation is the admin route's line.
  if (event.from === null && event.to !== "open") return;
  const words = { scheduled: "scheduled", open: "opened", paused: "paused", ended: "ended" } as const;
  audit(`sale.${words[event.to]}`, `sale ${words[event.to]}`, { sale: event.saleId, from: event.from ?? "created" });
}

export async function startServer(config: Config, options: StartOptions = {}): Promise<RunningServer> {
  const env = options.env ?? process.env;
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 }); // it holds secrets.json and the journals
  const { secrets, generated } = loadSecrets(config.dataDir, env);
  if (generated.length > 0) options.onGeneratedSecrets?.(secrets, generated);
  // After printing: a generated secret must not go unseen because another one was refused.
  const problems = secretProblems(secrets);
  if (problems.length > 0) throw new ConfigError(`refusing to serve with weak secrets: ${problems.join("; ")}`);
  // The waiting rooms' signing key: every worker reads the same one from the data dir.
  let admissionTokens: AdmissionTokens;
  try {
    admissionTokens = new AdmissionTokens(loadAdmissionSecret(config.dataDir, env));
  } catch (error) {
    throw new ConfigError(error instanceof Error ? error.message : String(error));
  }

  const cluster = options.cluster;
  const webhookOptions = senderOptionsFromEnv(env);
  // A lone server prepares its data dir itself; the workers of a cluster find it prepared (and
  // locked) by their supervisor.
  const prepared: Prepared | null = cluster === undefined ? await prepareDataDir(config, 1, log) : null;
  const store = openStore(config);
  const journalFile = `journal-${cluster?.index ?? 0}`;
  const journalPath = join(config.dataDir, `${journalFile}.db`);
  // Node mode: journal ids are the store's record of each journal, so they name the node too; and a
  // worker starts on a fresh journal (its sales come from PostgreSQL as it wins their leases).
  const nodeId = config.nodeId;
  const journalId = nodeId === undefined ? journalFile : `${nodeId}.${journalFile}`;
  if (nodeId !== undefined) archiveJournal(journalPath);
  const journal = new Journal(journalPath, config.durability, { checkpoints: "manual" });
  const snapshots = new SnapshotFile(snapshotsPathOf(journalPath), config.durability);
  const metrics = new ServerMetrics({ worker: cluster?.index ?? 0 });
  // The buyer's hold limit is taken at the sale's owner, where every worker's holds of that sale
  // arrive, so N workers cannot multiply it.
  const buyerLimits = new TokenBuckets(config.rateLimitBuyer, config.rateLimitBuyer * 2);
  const ownerOptions = {
    buyerLimits,
    journal,
    snapshots,
    store: nodeId === undefined ? store : startingEmpty(store),
    journalId,
    ...(cluster === undefined ? {} : { owns: (saleId: string) => ownerOf(saleId, cluster.workers) === cluster.index }),
    background: new BackgroundThread({
      journal,
      snapshotsPath: snapshots.path,
      durability: config.durability,
      journalId,
      dataDir: config.dataDir,
      databaseUrl: config.databaseUrl,
      storeCommittedByOwner: nodeId !== undefined,
    }),
    metrics,
    journalBacklogMax: JOURNAL_BACKLOG_MAX,
    log,
    lifecycle: logLifecycle,
    ...(options.clock === undefined ? {} : { clock: options.clock }),
    fatal:
      options.fatal ??
      (() => {
        flushLog();
        process.exit(70);
      }),
  };
  const owner = nodeId === undefined ? new SaleOwner(ownerOptions) : new NodeSaleOwner({ ...ownerOptions, nodeStore: store });
  metrics.watch(owner);
  let node: NodeParts | null = null;
  const addressLimits = new AddressLimits(config.rateLimitAddress, config.rateLimitAddress * 2);
  const gateway =
    cluster === undefined
      ? null
      : new ClusterGateway({
          index: cluster.index,
          workers: cluster.workers,
          socketPath: (index) => workerSocketPath(cluster.socketDir, index),
          local: owner,
          metricsSnapshot: () => metrics.registry.snapshot(),
          log,
          refusedFromCopy: metrics.refusalChild("copy", "sold_out"),
          queuePolls: metrics.queuePollChildren(),
          onEvent: (op, args) => {
            if (op === "grants") addressLimits.absorb(args as AddressGrants);
            else if (op === "node-snapshot") node?.peerSnapshot(args as NodeSnapshot);
          },
        });
  if (gateway !== null) {
    metrics.watchCluster(gateway);
    addressLimits.shareWith((grants) => gateway.broadcast("grants", grants));
  }
  try {
    await owner.start();
  } catch (error) {
    gateway?.stop();
    journal.close();
    snapshots.close();
    await store.close();
    prepared?.lock.release();
    throw error;
  }
  // Recovery read the snapshots; from now on the background thread writes them on its connection.
  snapshots.close();
  // Peers reach this worker only once it serves: a command sent again after a restart finds its sales.
  gateway?.listen();
  if (nodeId !== undefined && owner instanceof NodeSaleOwner) {
    node = startNode({
      nodeId,
      advertiseUrl: config.advertiseUrl as string,
      databaseUrl: config.databaseUrl as string,
      workers: cluster?.workers ?? 1,
      index: cluster?.index ?? 0,
      owner,
      inner: gateway ?? owner,
      store,
      journal,
      journalId,
      adminToken: secrets.adminToken,
      broadcast: (snapshot) => gateway?.broadcast("node-snapshot", snapshot),
      log,
    });
  }
  log("info", "recovered", {
    journal: journalId,
    sales: owner.saleCount,
    eventsReplayed: owner.replayedAtStart,
    ms: owner.recoveryMs,
    liveHolds: owner.liveHolds(),
  });
  // One webhook sender per server, in worker 0, in a thread of its own (webhooks/sender.ts); its
  // claims carry the node's name, so that a restarted worker 0 takes back what it had claimed.
  const webhookSender =
    (cluster?.index ?? 0) === 0
      ? new WebhookSenderThread({
          dataDir: config.dataDir,
          databaseUrl: config.databaseUrl,
          options: webhookOptions,
          name: `sender@${nodeId ?? "local"}`,
          userAgent: `Stampede-Webhooks/${VERSION}`,
          log,
        })
      : null;
  if (webhookSender !== null) {
    watchWebhookSender(metrics.registry, webhookSender);
    webhookSender.start();
  }
  const lag = startEventLoopLagMonitor(metrics.eventLoopLag, 100);
  const collector = startIdleCollector(() => owner.decisions);

  // The bound on holds in flight is the whole machine's, shared out between the workers.
  const workers = cluster?.workers ?? 1;
  const admission = new Admission(
    { lagSeconds: () => lag.lagSeconds, pendingEvents: () => owner.pendingEvents },
    { holdsInFlightMax: Math.max(256, Math.ceil(ADMISSION_DEFAULTS.holdsInFlightMax / workers)) },
  );
  metrics.watchAdmission(admission);
  const app = createApp({
    version: VERSION,
    gateway: node?.gateway ?? gateway ?? owner,
    ...(gateway === null ? {} : { renderMetrics: async () => renderSnapshots(await gateway.metricsSnapshots()) }),
    buyer: createBuyerVerifier({
      ...(secrets.jwtSecret === undefined ? {} : { secret: secrets.jwtSecret }),
      ...(secrets.jwtPublicKey === undefined ? {} : { publicKeyPem: secrets.jwtPublicKey }),
      ...(config.jwtIssuer === undefined ? {} : { issuer: config.jwtIssuer }),
      ...(config.jwtAudience === undefined ? {} : { audience: config.jwtAudience }),
    }),
    admin: createAdminCheck(secrets.adminToken),
    admissionTokens,
    webhookSecret: secrets.webhookSecret,
    buyerLimits,
    addressLimits,
    admission,
    trustProxy: config.trustProxy,
    accessLog: config.accessLog,
    metrics,
    webhooks: store.webhooks,
    ...(options.clock === undefined ? {} : { clock: options.clock }),
  });
  // Node mode: the other nodes' links come in on the same port (node/node-links.ts).
  node?.mount(app);
  app.listen({
    port: config.port,
    hostname: config.host,
    // Workers of a cluster share the port through SO_REUSEPORT; a lone server must fail to bind
    // a taken port rather than silently take a share of another server's traffic.
    reusePort: cluster !== undefined,
    maxRequestBodySize: CODES_BODY_MAX_BYTES,
  });
  const server = app.server;
  if (server === null) throw new Error("the HTTP server did not start");
  const port = server.port ?? config.port;

  let stopping: Promise<void> | null = null;
  return {
    url: `http://${config.host === "0.0.0.0" ? "127.0.0.1" : config.host}:${port}`,
    port,
    secrets,
    owner,
    stop() {
      stopping ??= (async () => {
        // Stop accepting; requests in flight are answered. Streams (SSE) never end by themselves,
        // so after a bound the remaining connections are closed.
        admission.close(); // ends the event streams, which would otherwise hold the stop for STOP_GRACE_MS
        node?.closeLinks(); // so do the links of other nodes
        const graceful = server.stop(false);
        const bound = new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), STOP_GRACE_MS).unref());
        if ((await Promise.race([graceful, bound])) === "timeout") await server.stop(true);
        try {
          await owner.stop();
        } finally {
          // After the owner drained: its leases go back at once, and the node is marked gone.
          await node?.stop();
          await webhookSender?.stop();
          gateway?.stop();
          lag.stop();
          collector.stop();
          buyerLimits.close();
          addressLimits.close();
          journal.close();
          await store.close();
          prepared?.lock.release();
        }
      })();
      return stopping;
    },
  };
}
