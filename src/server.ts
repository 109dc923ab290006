// Start one serving process: secrets, store (migrated), journal, the sale owner's recovery, then
// the HTTP server. Used by `stampede serve` and, in-process, by the tests. Stopping drains in order:
// stop accepting, answer what is in flight, commit, flush the store, close files.

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { createAdminCheck } from "./auth/admin-token.ts";
import { createBuyerVerifier } from "./auth/buyer-token.ts";
import { loadSecrets, type Secrets, secretProblems } from "./auth/secrets.ts";
import { SaleOwner } from "./cluster/sale-owner.ts";
import { type Config, ConfigError } from "./config.ts";
import { ADMISSION_DEFAULTS, Admission } from "./http/admission.ts";
import { createApp } from "./http/app.ts";
import { CODES_BODY_MAX_BYTES } from "./http/request-gate.ts";
import { TokenBuckets } from "./http/token-buckets.ts";
import { Journal } from "./journal/journal.ts";
import { startEventLoopLagMonitor } from "./metrics/lag.ts";
import { ServerMetrics } from "./metrics/server-metrics.ts";
import { FlusherThread } from "./store/flusher-thread.ts";
import { openStore } from "./store/open-store.ts";
import { ClusterGateway } from "./cluster/cluster-gateway.ts";
import { ownerOf } from "./cluster/ownership.ts";
import { workerSocketPath } from "./cluster/supervisor.ts";
import { renderSnapshots } from "./metrics/exposition.ts";
import type { Store } from "./store/store.ts";
import { VERSION } from "./version.ts";

/** How long a stop waits for open connections before closing them. */
const STOP_GRACE_MS = 5_000;

export type RunningServer = {
  url: string;
  port: number;
  secrets: Secrets;
  owner: SaleOwner;
  /** Graceful stop: everything acknowledged is durable in the journal and flushed to the store. */
  stop(): Promise<void>;
};

export type StartOptions = {
  env?: Record<string, string | undefined>;
  /** Called with the names of secrets generated on this start, to print them once. */
  onGeneratedSecrets?: (secrets: Secrets, names: string[]) => void;
  clock?: () => number;
  /** Set when this process is worker `index` of a cluster started by the supervisor. */
  cluster?: { index: number; workers: number; socketDir: string };
};

/**
 * Open the system of record and bring its schema up to date. With DATABASE_URL, a failure here is
 * the operator's to fix (address, credentials, permissions), so it is a ConfigError naming the
 * variable; the embedded store failing is a runtime failure.
 */
export async function openMigratedStore(config: Pick<Config, "dataDir" | "databaseUrl">): Promise<Store> {
  let store: Store | undefined;
  try {
    store = openStore({ dataDir: config.dataDir, databaseUrl: config.databaseUrl });
    await store.migrate();
    return store;
  } catch (error) {
    await store?.close().catch(() => {});
    if (config.databaseUrl === undefined) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    throw new ConfigError(`the PostgreSQL store named by DATABASE_URL could not be opened or migrated: ${reason}`);
  }
}

export async function startServer(config: Config, options: StartOptions = {}): Promise<RunningServer> {
  const env = options.env ?? process.env;
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 }); // it holds secrets.json and the journals
  const { secrets, generated } = loadSecrets(config.dataDir, env);
  if (generated.length > 0) options.onGeneratedSecrets?.(secrets, generated);
  // After printing: a generated secret must not go unseen because another one was refused.
  const problems = secretProblems(secrets);
  if (problems.length > 0) throw new ConfigError(`refusing to serve with weak secrets: ${problems.join("; ")}`);

  const cluster = options.cluster;
  // In a cluster the supervisor has migrated the store; workers never migrate concurrently.
  const store = cluster === undefined ? await openMigratedStore(config) : openStore(config);
  const journalId = `journal-${cluster?.index ?? 0}`;
  const journal = new Journal(join(config.dataDir, `${journalId}.db`), config.durability);
  const metrics = new ServerMetrics();
  // The buyer's hold limit is taken at the sale's owner, where every worker's holds of that sale
  // arrive, so N workers cannot multiply it.
  const buyerLimits = new TokenBuckets(config.rateLimitBuyer, config.rateLimitBuyer * 2);
  const owner = new SaleOwner({
    buyerLimits,
    journal,
    store,
    journalId,
    ...(cluster === undefined ? {} : { owns: (saleId: string) => ownerOf(saleId, cluster.workers) === cluster.index }),
    // The store is written from its own thread, off the event loop that answers requests.
    flusher: new FlusherThread({
      journal,
      durability: config.durability,
      journalId,
      dataDir: config.dataDir,
      databaseUrl: config.databaseUrl,
    }),
    metrics,
    journalBacklogMax: 5_000_000,
    ...(options.clock === undefined ? {} : { clock: options.clock }),
  });
  metrics.watch(owner);
  // Peers connect while this worker recovers; commands for its sales get 503 until it serves.
  const gateway =
    cluster === undefined
      ? null
      : new ClusterGateway({
          index: cluster.index,
          workers: cluster.workers,
          socketPath: (index) => workerSocketPath(cluster.socketDir, index),
          local: owner,
          metricsSnapshot: () => metrics.registry.snapshot(),
        });
  if (gateway !== null) metrics.watchCluster(gateway);
  await owner.start();
  gateway?.announceServing();
  const lag = startEventLoopLagMonitor(metrics.eventLoopLag, 100);

  const addressLimits = new TokenBuckets(config.rateLimitAddress, config.rateLimitAddress * 2);
  // The bound on holds in flight is the whole machine's, shared out between the workers.
  const workers = cluster?.workers ?? 1;
  const admission = new Admission(
    { lagSeconds: () => lag.lagSeconds, pendingEvents: () => owner.pendingEvents },
    { holdsInFlightMax: Math.max(256, Math.ceil(ADMISSION_DEFAULTS.holdsInFlightMax / workers)) },
  );
  metrics.watchAdmission(admission);
  const app = createApp({
    version: VERSION,
    gateway: gateway ?? owner,
    ...(gateway === null ? {} : { renderMetrics: async () => renderSnapshots(await gateway.metricsSnapshots()) }),
    buyer: createBuyerVerifier({
      ...(secrets.jwtSecret === undefined ? {} : { secret: secrets.jwtSecret }),
      ...(secrets.jwtPublicKey === undefined ? {} : { publicKeyPem: secrets.jwtPublicKey }),
      ...(config.jwtIssuer === undefined ? {} : { issuer: config.jwtIssuer }),
      ...(config.jwtAudience === undefined ? {} : { audience: config.jwtAudience }),
    }),
    admin: createAdminCheck(secrets.adminToken),
    webhookSecret: secrets.webhookSecret,
    buyerLimits,
    addressLimits,
    admission,
    trustProxy: config.trustProxy,
    metrics,
    ...(options.clock === undefined ? {} : { clock: options.clock }),
  });
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
        const graceful = server.stop(false);
        const bound = new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), STOP_GRACE_MS).unref());
        if ((await Promise.race([graceful, bound])) === "timeout") await server.stop(true);
        await owner.stop();
        gateway?.stop();
        lag.stop();
        buyerLimits.close();
        addressLimits.close();
        journal.close();
        await store.close();
      })();
      return stopping;
    },
  };
}
