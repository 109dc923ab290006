// Node mode's pieces inside one worker, put together (server.ts calls this when STAMPEDE_NODE_ID is
// set): the lease keeper with its own PostgreSQL client, the commit gate on the owner's group
// commit, the snapshots for other nodes, the gateway that routes between nodes, and the node links'
// serving side, mounted on the worker's HTTP server at NODE_LINK_PATH.

import postgres from "postgres";
import { createAdminCheck } from "../auth/admin-token.ts";
import type { SaleGateway } from "../engine/gateway.ts";
import type { Journal } from "../journal/journal.ts";
import type { StoreSql } from "../store/postgres/apply-batch.ts";
import { PostgresStore } from "../store/postgres/postgres-store.ts";
import type { Store } from "../store/store.ts";
import { LeaseKeeper } from "./leases.ts";
import { nodeCommitGate } from "./node-commit.ts";
import { NodeGateway } from "./node-gateway.ts";
import { type AcceptedLink, NODE_LINK_PATH, NodeLinkServer } from "./node-links.ts";
import type { NodeSaleOwner } from "./node-owner.ts";
import { type NodeSnapshot, NodeSnapshots } from "./node-snapshots.ts";

/** A socket as Elysia hands it to the handlers: `raw` is Bun's, the same object for its whole life. */
type NodeWs = { raw: object; send(text: string): unknown; close(): unknown };

type NodeWsHandlers = {
  beforeHandle(context: { headers: Record<string, string | undefined>; set: { status?: number | string } }): string | undefined;
  open(ws: NodeWs): void;
  message(ws: NodeWs, message: unknown): void;
  close(ws: NodeWs): void;
};

type Log = (level: "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>) => void;

export type NodeParts = {
  gateway: NodeGateway;
  keeper: LeaseKeeper;
  /** Mount the links' serving side on the worker's HTTP server (its Elysia app). */
  mount(app: { ws: (path: string, handlers: NodeWsHandlers) => unknown }): void;
  /** A node snapshot another worker of this node broadcast. */
  peerSnapshot(snapshot: NodeSnapshot): void;
  /** At the start of a stop: close the links other nodes opened to this one. */
  closeLinks(): void;
  /** After the owner has drained: release the leases, close links and clients. */
  stop(): Promise<void>;
};

export type NodeStart = {
  nodeId: string;
  advertiseUrl: string;
  databaseUrl: string;
  workers: number;
  index: number;
  owner: NodeSaleOwner;
  /** This node's own gateway (its cluster, or the owner alone). */
  inner: SaleGateway;
  store: Store;
  journal: Journal;
  journalId: string;
  adminToken: string;
  /** Hand a snapshot to the other workers of the node (none with one worker). */
  broadcast: (snapshot: NodeSnapshot) => void;
  log: Log;
};

/** The lease keeper's PostgreSQL client: small, quick to give up, replaced after a timeout. */
function keeperClient(url: string): StoreSql {
  return postgres(url, {
    max: 2,
    connect_timeout: 2,
    idle_timeout: 30,
    onnotice: () => {},
    types: { int8: { to: 20, from: [20], serialize: (value: number) => String(value), parse: (value: string) => Number(value) } },
    connection: { application_name: "stampede-leases", statement_timeout: 2_000 },
  }) as unknown as StoreSql;
}

export function startNode(start: NodeStart): NodeParts {
  const { owner, store, journal, journalId, log } = start;
  if (!(store instanceof PostgresStore)) throw new Error("node mode needs the PostgreSQL store");
  let sql: StoreSql | null = null;
  const keeper = new LeaseKeeper({
    sql: () => (sql ??= keeperClient(start.databaseUrl)),
    resetSql: () => {
      sql?.end({ timeout: 0 }).catch(() => {});
      sql = null;
    },
    me: { nodeId: start.nodeId, advertiseUrl: start.advertiseUrl, workers: start.workers },
    index: start.index,
    adopt: (saleId) => owner.adopt(saleId),
    letGo: (saleId) => owner.letGo(saleId),
    lost: (saleIds) => {
      log("error", "leases taken by another node while this worker served them; it stops serving those sales", { sales: saleIds });
      owner.forget(saleIds);
    },
    // The journal starts empty at every start (journal-archive.ts), but its numbers must continue
    // after those the store has recorded for this journal id, or a commit would reuse them.
    beforeFirstLease: async () => {
      const applied = await store.appliedSeq(journalId);
      if (applied > journal.lastSeq) journal.advanceTo(applied);
    },
    log,
  });
  owner.attach(keeper);
  owner.commit.gate = nodeCommitGate(store, journalId, keeper);
  const gateway = new NodeGateway({ inner: start.inner, keeper, store, token: start.adminToken, log });
  const server = new NodeLinkServer(
    (op, args) => gateway.serveLink(op, args),
    () => snapshots.current(),
  );
  const snapshots = new NodeSnapshots(owner, keeper, {
    broadcast: start.broadcast,
    links: (snapshot) => server.publish(snapshot),
    local: (snapshot) => gateway.putCopy(snapshot),
  });
  // After the cluster's own hook (set when it was made): both hear of every commit.
  const clusterHook = owner.onCommitted;
  owner.onCommitted = (saleIds) => {
    clusterHook(saleIds);
    snapshots.changed(saleIds);
  };
  keeper.start();
  const isAdmin = createAdminCheck(start.adminToken);

  return {
    gateway,
    keeper,
    mount(app) {
      // One object per accepted socket, so that the serving side can tell its links apart.
      const accepted = new WeakMap<object, AcceptedLink>();
      const linkOf = (ws: NodeWs): AcceptedLink => {
        let link = accepted.get(ws.raw);
        if (link === undefined) {
          link = { send: (text) => void ws.send(text), close: () => void ws.close() };
          accepted.set(ws.raw, link);
        }
        return link;
      };
      app.ws(NODE_LINK_PATH, {
        beforeHandle({ headers, set }) {
          if (isAdmin(headers.authorization)) return undefined;
          set.status = 401;
          return "unauthorized";
        },
        open: (ws) => server.open(linkOf(ws)),
        message: (ws, message) => server.message(linkOf(ws), message),
        close: (ws) => server.close(linkOf(ws)),
      });
    },
    peerSnapshot: (snapshot) => snapshots.accept(snapshot),
    closeLinks: () => server.closeAll(),
    async stop() {
      snapshots.stop();
      gateway.stop();
      await keeper.stop();
      const client = sql;
      sql = null;
      await client?.end({ timeout: 2 }).catch(() => {});
    },
  };
}
