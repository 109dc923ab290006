// Flags and environment -> one typed, validated configuration (API.md, "Configuration"). A flag
// wins over its variable. Anything wrong is a ConfigError: the command line prints its message on
// one line and exits 2, with no stack trace for an operator's mistake.

import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import type { Durability } from "./journal/journal.ts";

export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

export type Config = {
  port: number;
  host: string;
  workers: number;
  dataDir: string;
  databaseUrl: string | undefined;
  durability: Durability;
  /** Reservation attempts a second per buyer (burst twice that); 0 turns the limit off. */
  rateLimitBuyer: number;
  /** Requests a second per client address (burst twice that); 0 turns the limit off. */
  rateLimitAddress: number;
  trustProxy: number;
  jwtIssuer: string | undefined;
  jwtAudience: string | undefined;
  /** One log line per request, with its request id (off by default: it costs a line per hold). */
  accessLog: boolean;
  /** Node mode (API.md, "Several machines"): this server's name among the nodes; unset: one machine. */
  nodeId: string | undefined;
  /** How the other nodes reach this one (node mode only). */
  advertiseUrl: string | undefined;
};

type Env = Record<string, string | undefined>;

/** Each flag of `stampede serve`, its variable, and its default, for parsing and for --help. */
export const SERVE_OPTIONS = [
  { flag: "port", env: "PORT", default: "3000", help: "TCP port to listen on" },
  { flag: "host", env: "HOST", default: "0.0.0.0", help: "address to listen on" },
  { flag: "workers", env: "STAMPEDE_WORKERS", default: "number of CPU cores", help: "worker processes" },
  { flag: "data-dir", env: "STAMPEDE_DATA_DIR", default: "./data", help: "journals, embedded store, generated secrets" },
  {
    flag: "database-url",
    env: "DATABASE_URL",
    default: "unset (embedded SQLite store)",
    help: "postgres://... to use PostgreSQL as the system of record",
  },
  { flag: "durability", env: "STAMPEDE_DURABILITY", default: "process", help: "process | fsync" },
  { flag: "rate-limit-buyer", env: "STAMPEDE_RATE_LIMIT_BUYER", default: "5", help: "holds/s per buyer, 0 = off" },
  { flag: "rate-limit-address", env: "STAMPEDE_RATE_LIMIT_ADDRESS", default: "100", help: "requests/s per address, 0 = off" },
  { flag: "trust-proxy", env: "STAMPEDE_TRUST_PROXY", default: "0", help: "proxies in front (X-Forwarded-For depth)" },
  { flag: "access-log", env: "STAMPEDE_ACCESS_LOG", default: "0", help: "1 = a log line per request, with its request id" },
  { flag: "node-id", env: "STAMPEDE_NODE_ID", default: "unset (one machine)", help: "node mode: this node's name (needs DATABASE_URL)" },
  {
    flag: "advertise-url",
    env: "STAMPEDE_ADVERTISE_URL",
    default: "unset",
    help: "node mode: how the other nodes reach this one (http://10.0.0.5:3000)",
  },
] as const;

type FlagName = (typeof SERVE_OPTIONS)[number]["flag"];

/** Parse `--name value` and `--name=value` flags; unknown flags are errors. */
export function parseFlags(args: readonly string[], known: readonly string[]): Map<string, string> {
  const flags = new Map<string, string>();
  for (let index = 0; index < args.length; index += 1) {
    const arg = args[index] as string;
    if (!arg.startsWith("--")) throw new ConfigError(`unexpected argument "${arg}" (see --help)`);
    const eq = arg.indexOf("=");
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    if (!known.includes(name)) throw new ConfigError(`unknown flag --${name} (see --help)`);
    let value: string | undefined = eq === -1 ? undefined : arg.slice(eq + 1);
    if (value === undefined) {
      value = args[index + 1];
      if (value === undefined || value.startsWith("--")) throw new ConfigError(`flag --${name} needs a value`);
      index += 1;
    }
    flags.set(name, value);
  }
  return flags;
}

function integer(name: string, raw: string, min: number, max: number): number {
  const value = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer from ${min} to ${max}, not "${raw}"`);
  }
  return value;
}

function rate(name: string, raw: string): number {
  const value = Number(raw);
  if (raw.trim() === "" || !Number.isFinite(value) || value < 0 || value > 1_000_000) {
    throw new ConfigError(`${name} must be a number of requests a second from 0 to 1000000, not "${raw}"`);
  }
  return value;
}

export function loadConfig(args: readonly string[], env: Env): Config {
  const flags = parseFlags(
    args,
    SERVE_OPTIONS.map((option) => option.flag),
  );
  const get = (flag: FlagName): { name: string; raw: string } | undefined => {
    const option = SERVE_OPTIONS.find((o) => o.flag === flag);
    if (option === undefined) return undefined;
    const fromFlag = flags.get(flag);
    if (fromFlag !== undefined) return { name: `--${flag}`, raw: fromFlag };
    const fromEnv = env[option.env];
    if (fromEnv !== undefined && fromEnv !== "") return { name: option.env, raw: fromEnv };
    return undefined;
  };
  const port = get("port");
  const workers = get("workers");
  const durability = get("durability");
  if (durability !== undefined && durability.raw !== "process" && durability.raw !== "fsync") {
    throw new ConfigError(`${durability.name} must be "process" or "fsync", not "${durability.raw}"`);
  }
  const databaseUrl = get("database-url");
  if (databaseUrl !== undefined && databaseHosts(databaseUrl.raw) === null) {
    // Never echo the URL: it usually carries a password.
    throw new ConfigError(`${databaseUrl.name} must look like postgres://user:password@host:5432/database`);
  }
  const buyer = get("rate-limit-buyer");
  const address = get("rate-limit-address");
  const trustProxy = get("trust-proxy");
  const accessLog = get("access-log");
  if (accessLog !== undefined && accessLog.raw !== "0" && accessLog.raw !== "1") {
    throw new ConfigError(`${accessLog.name} must be 0 or 1, not "${accessLog.raw}"`);
  }
  const node = nodeSettings(get("node-id"), get("advertise-url"), databaseUrl, env);
  return {
    port: port === undefined ? 3000 : integer(port.name, port.raw, 0, 65535),
    host: get("host")?.raw ?? "0.0.0.0",
    workers: workers === undefined ? availableParallelism() : integer(workers.name, workers.raw, 1, 256),
    dataDir: get("data-dir")?.raw ?? "./data",
    databaseUrl: databaseUrl?.raw,
    durability: (durability?.raw as Durability | undefined) ?? "process",
    rateLimitBuyer: buyer === undefined ? 5 : rate(buyer.name, buyer.raw),
    rateLimitAddress: address === undefined ? 100 : rate(address.name, address.raw),
    trustProxy: trustProxy === undefined ? 0 : integer(trustProxy.name, trustProxy.raw, 0, 32),
    jwtIssuer: env.STAMPEDE_JWT_ISSUER || undefined,
    jwtAudience: env.STAMPEDE_JWT_AUDIENCE || undefined,
    accessLog: accessLog?.raw === "1",
    ...node,
  };
}

/** Secrets every node must share: any node answers any request, and the nodes' links use the admin token. */
const NODE_SHARED_SECRETS = ["STAMPEDE_ADMIN_TOKEN", "STAMPEDE_WEBHOOK_SECRET"] as const;

type Setting = { name: string; raw: string } | undefined;

/**
 * Node mode's settings, checked together: a node id needs PostgreSQL (the leases and the record live
 * there), an advertise URL the others can reach, and the secrets set alike on every node (secrets
 * generated per data dir would differ from node to node, and a buyer's token from one node would be
 * refused by the next).
 */
function nodeSettings(nodeId: Setting, advertiseUrl: Setting, databaseUrl: Setting, env: Env): Pick<Config, "nodeId" | "advertiseUrl"> {
  if (nodeId === undefined) {
    if (advertiseUrl !== undefined) throw new ConfigError(`${advertiseUrl.name} is for node mode only: set STAMPEDE_NODE_ID (--node-id) too`);
    return { nodeId: undefined, advertiseUrl: undefined };
  }
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(nodeId.raw)) {
    throw new ConfigError(`${nodeId.name} must be 1 to 64 letters, digits, "_" or "-", not "${nodeId.raw}"`);
  }
  if (databaseUrl === undefined) {
    throw new ConfigError(`node mode (${nodeId.name}) needs DATABASE_URL (--database-url): the nodes share one PostgreSQL`);
  }
  if (advertiseUrl === undefined) {
    throw new ConfigError(`node mode (${nodeId.name}) needs STAMPEDE_ADVERTISE_URL (--advertise-url): how the other nodes reach this one`);
  }
  let parsed: URL | null = null;
  try {
    parsed = new URL(advertiseUrl.raw);
  } catch {}
  if (parsed === null || (parsed.protocol !== "http:" && parsed.protocol !== "https:") || parsed.pathname !== "/" || parsed.search !== "") {
    throw new ConfigError(`${advertiseUrl.name} must look like http://10.0.0.5:3000, not "${advertiseUrl.raw}"`);
  }
  const missing: string[] = NODE_SHARED_SECRETS.filter((name) => !env[name]);
  if (!env.STAMPEDE_JWT_SECRET && !env.STAMPEDE_JWT_PUBLIC_KEY) missing.push("STAMPEDE_JWT_SECRET (or STAMPEDE_JWT_PUBLIC_KEY)");
  if (missing.length > 0) {
    throw new ConfigError(`node mode needs ${missing.join(", ")} set, the same on every node (generated secrets would differ between nodes)`);
  }
  return { nodeId: nodeId.raw, advertiseUrl: parsed.origin };
}

/** How long the start-up check waits for PostgreSQL to answer its first message. */
const DATABASE_CONNECT_TIMEOUT_MS = 3_000;
const POSTGRES_PORT_DEFAULT = 5432;

type HostPort = { host: string; port: number };

/**
 * The hosts a postgres:// URL names (postgres.js accepts several, comma-separated), or null when
 * the URL is malformed. An empty list means a Unix socket (`postgres://user@/db?host=/run/postgresql`).
 */
export function databaseHosts(url: string): HostPort[] | null {
  const match = /^postgres(?:ql)?:\/\/(?:[^@/?#\s]*@)?([^/?#\s]*)(?:\/[^?#\s]*)?(?:\?([^#\s]*))?$/.exec(url);
  if (match === null) return null;
  const authority = match[1] ?? "";
  if (authority === "") return new URLSearchParams(match[2] ?? "").has("host") ? [] : null;
  const hosts: HostPort[] = [];
  for (const part of authority.split(",")) {
    const hostPort = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._%-]+)(?::(\d{1,5}))?$/.exec(part);
    if (hostPort === null) return null;
    const port = hostPort[2] === undefined ? POSTGRES_PORT_DEFAULT : Number(hostPort[2]);
    if (port < 1 || port > 65535) return null;
    hosts.push({ host: (hostPort[1] as string).replace(/^\[|\]$/g, ""), port });
  }
  return hosts;
}

/**
 * PostgreSQL's SSLRequest message (length 8, code 80877103). Any PostgreSQL server or pooler answers
 * it with one byte, "S" or "N", before asking for credentials, so it tells a live server from a
 * closed port, a black hole or a proxy that accepts connections and then says nothing.
 */
const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);

function postgresAnswers({ host, port }: HostPort, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    const finish = (error?: Error) => {
      clearTimeout(timer);
      socket.destroy();
      if (error === undefined) resolve();
      else reject(error);
    };
    const timer = setTimeout(() => finish(new Error(`no PostgreSQL answer within ${timeoutMs} ms`)), timeoutMs);
    socket.once("connect", () => socket.write(SSL_REQUEST));
    socket.once("data", (data: Buffer) => {
      const answer = String.fromCharCode(data[0] ?? 0);
      finish(answer === "S" || answer === "N" ? undefined : new Error("the server there does not speak PostgreSQL"));
    });
    socket.once("error", (error: NodeJS.ErrnoException) => finish(new Error(error.code ?? error.message)));
    socket.once("close", () => finish(new Error("connection closed without an answer")));
  });
}

/**
 * Checks at start that the places the configuration names are usable, so that an operator's mistake
 * ends at once with one line and exit 2 instead of a stack trace or a long connect timeout later:
 * the data dir can be created and written, and PostgreSQL (when DATABASE_URL is set) answers within
 * a few seconds. Credentials and the schema are checked by the store's migrate.
 */
export async function checkStartup(config: Config): Promise<void> {
  checkDataDirWritable(config.dataDir);
  const problem = await storeUnreachable(config);
  if (problem !== null) throw new ConfigError(problem);
}

/**
 * Why the PostgreSQL of DATABASE_URL cannot be reached now, as the one line to print, or null when
 * it answers (or the store is the embedded one). A server whose journals hold its sales starts
 * anyway (startup.ts); a fresh one cannot.
 */
export async function storeUnreachable(config: Pick<Config, "databaseUrl">): Promise<string | null> {
  if (config.databaseUrl === undefined) return null;
  const hosts = databaseHosts(config.databaseUrl) ?? [];
  if (hosts.length === 0) return null;
  try {
    await Promise.any(hosts.map((hostPort) => postgresAnswers(hostPort, DATABASE_CONNECT_TIMEOUT_MS)));
    return null;
  } catch (error) {
    const reasons = error instanceof AggregateError ? error.errors.map((e) => String((e as Error).message)) : [String(error)];
    const where = hosts.map((h) => `${h.host}:${h.port}`).join(", ");
    return `cannot reach PostgreSQL at ${where} (DATABASE_URL): ${reasons.join(", ")}`;
  }
}

/** mkdir -p, then write and remove a probe file: permissions, read-only mounts, a file in the way. */
export function checkDataDirWritable(dataDir: string): void {
  const probe = join(dataDir, `.write-probe-${process.pid}`);
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 }); // it will hold secrets.json
    writeFileSync(probe, "");
    rmSync(probe);
  } catch (error) {
    // Bun's message names the call and the path: "EACCES: permission denied, mkdir '/data'".
    const reason = error instanceof Error ? error.message : String(error);
    throw new ConfigError(`data dir "${dataDir}" (--data-dir, STAMPEDE_DATA_DIR) is not writable: ${reason}`);
  }
}
