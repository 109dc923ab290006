#!/usr/bin/env bun
// The command line: `stampede serve | migrate | token --user <id> [--ttl 1h] | healthcheck | --help | --version`.
// Exit codes (API.md): 0 clean stop, 1 runtime failure, 2 bad usage or configuration.

import { join } from "node:path";
import { signBuyerToken } from "./auth/buyer-token.ts";
import { existingSecrets, loadSecrets, type Secrets, secretProblems } from "./auth/secrets.ts";
import { ConfigError, type Config, SERVE_OPTIONS, checkDataDirWritable, checkStartup, loadConfig, parseFlags } from "./config.ts";
import { Supervisor } from "./cluster/supervisor.ts";
import { prepareDataDir } from "./startup.ts";
import { startServer } from "./server.ts";
import { openMigratedStore } from "./store/open-store.ts";
import { flushLog, log } from "./log.ts";
import { VERSION } from "./version.ts";

const HELP = `stampede ${VERSION}: flash-sale stock server

Usage:
  stampede serve [flags]              serve the HTTP API
  stampede migrate [flags]            create or upgrade the store's schema, then exit
  stampede token --user <id> [--ttl 1h] [--data-dir <dir>]
                                      print a buyer JWT signed with the configured secret
  stampede healthcheck [--port <n>] [--host <addr>]
                                      GET /healthz of a local server; exit 0 healthy, 1 not
  stampede --help | --version

Flags of serve and migrate (a flag wins over its environment variable):
${SERVE_OPTIONS.map((o) => `  --${o.flag.padEnd(20)} ${o.env.padEnd(28)} ${o.help} (default: ${o.default})`).join("\n")}

Other environment variables:
  STAMPEDE_ADMIN_TOKEN      operator bearer token (default: generated on first start, kept in the data dir)
  STAMPEDE_JWT_SECRET       HS256 secret for buyer JWTs (default: generated like the admin token)
  STAMPEDE_JWT_PUBLIC_KEY   PEM public key for RS256/ES256/EdDSA buyer JWTs (instead of the secret)
  STAMPEDE_JWT_ISSUER       required "iss" of buyer JWTs (default: not checked)
  STAMPEDE_JWT_AUDIENCE     required "aud" of buyer JWTs (default: not checked)
  STAMPEDE_WEBHOOK_SECRET   HMAC secret of payment webhooks (default: generated like the admin token)

Exit codes: 0 clean stop, 1 runtime failure, 2 bad usage or configuration.`;


function printGenerated(secrets: Secrets, names: string[], dataDir: string): void {
  const file = join(dataDir, "secrets.json");
  // Values go to a terminal only: stderr piped to a file or a log collector would keep them where
  // anyone who reads logs can. Elsewhere the log says where they are, never what they are.
  if (!process.stderr.isTTY) {
    log("info", "generated secrets", { file, names });
    return;
  }
  // Shown once, on the start that generated them; later starts read them from the data dir.
  const values: Record<string, string | undefined> = {
    STAMPEDE_ADMIN_TOKEN: secrets.adminToken,
    STAMPEDE_JWT_SECRET: secrets.jwtSecret,
    STAMPEDE_WEBHOOK_SECRET: secrets.webhookSecret,
  };
  process.stderr.write(`Generated secrets (kept in ${file}, mode 0600; shown only this once):\n`);
  for (const name of names) process.stderr.write(`  ${name}=${values[name] ?? "(set)"}\n`);
}

/** loadSecrets, with a secrets file that cannot be read or parsed turned into a usage error naming it. */
function loadOrRefuse(dataDir: string): ReturnType<typeof loadSecrets> {
  try {
    return loadSecrets(dataDir, process.env);
  } catch (error) {
    throw new ConfigError(error instanceof Error ? error.message : String(error));
  }
}

/**
 * `stampede serve`: the supervisor. It generates secrets once, locks the data dir, migrates the store
 * (when it answers) and moves journals of another worker count through it, then starts the workers,
 * which recover their sales from their journals and do the serving.
 */
async function serve(config: Config): Promise<void> {
  const workerIndex = process.env.STAMPEDE_WORKER_INDEX;
  if (workerIndex !== undefined) return serveAsWorker(config, Number(workerIndex));
  checkDataDirWritable(config.dataDir);
  // The port first: a start that cannot listen must fail before it generates and prints secrets.
  const port = claimPort(config);
  const { secrets, generated } = loadOrRefuse(config.dataDir);
  if (generated.length > 0) printGenerated(secrets, generated, config.dataDir);
  const problems = secretProblems(secrets);
  if (problems.length > 0) throw new ConfigError(`refusing to serve with weak secrets: ${problems.join("; ")}`);
  const prepared = await prepareDataDir(config, config.workers, log);
  const supervisor = new Supervisor({ config, log });
  supervisor.start(port);
  const host = config.host === "0.0.0.0" ? "127.0.0.1" : config.host;
  log("info", "serving", {
    startedInMs: Math.round(performance.now()),
    url: `http://${host}:${port}`,
    workers: config.workers,
    dataDir: config.dataDir,
    store: config.databaseUrl ? "postgres" : "sqlite",
    ...(config.nodeId === undefined ? {} : { node: config.nodeId, advertiseUrl: config.advertiseUrl }),
    journalEventsMovedThroughStore: prepared.moved,
    ...(prepared.storeProblem === null ? {} : { storeUnreachable: prepared.storeProblem }),
  });
  onStopSignal(async () => {
    // Every worker drains; one that could not (its store was away) makes the stop a failure (exit 1),
    // though its journal kept everything it acknowledged.
    const failed = await supervisor.stop();
    prepared.lock.release();
    if (failed.length > 0) throw new Error(`workers ${failed.join(", ")} did not finish draining into the store`);
  });
}

/**
 * Check that the port is free (workers share it with SO_REUSEPORT, which would otherwise let a
 * stale server take part of the traffic unnoticed) and turn port 0 into a real one.
 */
function claimPort(config: Config): number {
  try {
    const probe = Bun.serve({ port: config.port, hostname: config.host, reusePort: false, fetch: () => new Response() });
    const port = probe.port as number;
    probe.stop(true);
    return port;
  } catch (error) {
    throw new ConfigError(`cannot listen on ${config.host}:${config.port}: ${error instanceof Error ? error.message : error}`);
  }
}

/** One worker of the cluster: owns the sales that hash to it and serves the shared port. */
async function serveAsWorker(config: Config, index: number): Promise<void> {
  const socketDir = process.env.STAMPEDE_SOCKET_DIR;
  if (!Number.isInteger(index) || index < 0 || index >= config.workers || socketDir === undefined) {
    throw new ConfigError("STAMPEDE_WORKER_INDEX is set by the supervisor only");
  }
  const server = await startServer(config, { cluster: { index, workers: config.workers, socketDir } });
  // Milliseconds since this process started: how long a worker takes to come back after a crash.
  log("info", "worker serving", { worker: index, pid: process.pid, startedInMs: Math.round(performance.now()) });
  // The supervisor holds our stdin open; when it dies, even by SIGKILL, the pipe closes and this
  // worker must not serve on as an orphan. What it acknowledged is in its journal already.
  void (async () => {
    const reader = Bun.stdin.stream().getReader();
    while (!(await reader.read()).done) {}
    log("warn", "supervisor gone; worker exits", { worker: index });
    flushLog();
    process.exit(1);
  })();
  // Ctrl-C reaches the whole process group; the supervisor turns it into an orderly SIGTERM.
  process.on("SIGINT", () => {});
  onStopSignal(() => server.stop(), ["SIGTERM"]);
}

function onStopSignal(stop: () => Promise<void>, signals: NodeJS.Signals[] = ["SIGTERM", "SIGINT"]): void {
  let stopping = false;
  const handle = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log("info", "draining", { signal, pid: process.pid });
    try {
      await stop();
      log("info", "stopped", { pid: process.pid });
      flushLog();
      process.exit(0);
    } catch (error) {
      log("error", "stop failed", { error: String(error) });
      flushLog();
      process.exit(1);
    }
  };
  for (const signal of signals) process.on(signal, () => void handle(signal));
}

async function migrate(config: Config): Promise<void> {
  await checkStartup(config);
  const store = await openMigratedStore(config);
  await store.close();
  log("info", "migrated", { store: store.dialect });
}

function parseTtl(raw: string): number {
  const match = /^(\d+)(s|m|h|d)?$/.exec(raw);
  if (match === null) throw new ConfigError(`--ttl must look like 90s, 30m, 1h or 7d, not "${raw}"`);
  const unit = { s: 1, m: 60, h: 3600, d: 86400 }[(match[2] ?? "s") as "s" | "m" | "h" | "d"];
  const seconds = Number(match[1]) * unit;
  if (seconds < 1 || seconds > 366 * 86400) throw new ConfigError("--ttl must be from 1 s to 366 days");
  return seconds;
}

function token(args: string[]): void {
  const flags = parseFlags(args, ["user", "ttl", "data-dir"]);
  const user = flags.get("user");
  if (user === undefined || user.length === 0 || user.length > 256) throw new ConfigError("token needs --user <id>");
  const dataDir = flags.get("data-dir") ?? process.env.STAMPEDE_DATA_DIR ?? "./data";
  // Read only: a secret generated here would sign tokens the server rejects (it has its own, or
  // makes its own on first start), so a data dir without secrets is refused instead.
  let found: ReturnType<typeof existingSecrets>;
  try {
    found = existingSecrets(dataDir, process.env);
  } catch (error) {
    throw new ConfigError(error instanceof Error ? error.message : String(error));
  }
  const { secrets, path, fileFound } = found;
  if (secrets.jwtPublicKey !== undefined) {
    if (secrets.jwtSecret !== undefined) throw new ConfigError("set STAMPEDE_JWT_SECRET or STAMPEDE_JWT_PUBLIC_KEY, not both");
    throw new ConfigError("token signs with STAMPEDE_JWT_SECRET; with a public key, mint tokens with its private key");
  }
  if (secrets.jwtSecret === undefined) {
    throw new ConfigError(
      fileFound
        ? `${path} holds no STAMPEDE_JWT_SECRET; set STAMPEDE_JWT_SECRET to the server's`
        : `no secrets in ${dataDir} (no ${path}): start the server once with this data dir, or set STAMPEDE_JWT_SECRET`,
    );
  }
  // Only the signing key matters here; the server judges the admin token and webhook secret itself.
  const problems = secretProblems({ adminToken: secrets.adminToken ?? "", webhookSecret: secrets.webhookSecret ?? "", jwtSecret: secrets.jwtSecret })
    .filter((problem) => problem.includes("STAMPEDE_JWT_SECRET"));
  if (problems.length > 0) throw new ConfigError(`refusing weak secrets: ${problems.join("; ")}`);
  const opts = {
    ...(process.env.STAMPEDE_JWT_ISSUER ? { issuer: process.env.STAMPEDE_JWT_ISSUER } : {}),
    ...(process.env.STAMPEDE_JWT_AUDIENCE ? { audience: process.env.STAMPEDE_JWT_AUDIENCE } : {}),
  };
  process.stdout.write(`${signBuyerToken(secrets.jwtSecret, user, parseTtl(flags.get("ttl") ?? "1h"), opts)}\n`);
}

/** How long `stampede healthcheck` waits for /healthz; container health checks have their own bound too. */
const HEALTHCHECK_TIMEOUT_MS = 2_000;

/**
 * For a container's HEALTHCHECK where there is no curl (distroless): GET /healthz of the server on
 * this machine, on PORT and HOST (or --port, --host). Exit 0 when it answers 200, 1 otherwise.
 */
async function healthcheck(args: string[]): Promise<void> {
  const flags = parseFlags(args, ["port", "host"]);
  const rawPort = flags.get("port") ?? process.env.PORT ?? "3000";
  const port = Number(rawPort);
  if (!/^\d{1,5}$/.test(rawPort) || port < 1 || port > 65535) throw new ConfigError(`healthcheck: bad port "${rawPort}"`);
  // A server listening on every address answers on loopback; one bound to a single address only there.
  const listening = process.env.HOST;
  const host = flags.get("host") ?? (!listening || listening === "0.0.0.0" || listening === "::" ? "127.0.0.1" : listening);
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}/healthz`;
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(HEALTHCHECK_TIMEOUT_MS) });
    if (response.status === 200) return;
    process.stderr.write(`stampede: ${url} answered ${response.status}\n`);
  } catch (error) {
    process.stderr.write(`stampede: ${url}: ${error instanceof Error ? error.message : String(error)}\n`);
  }
  flushLog();
  process.exit(1);
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === undefined) {
    // No command is a usage mistake (exit 2, as API.md says), but the help is the useful answer;
    // it goes to stderr like every other usage error, so a script's output stays clean.
    process.stderr.write(`${HELP}\n`);
    flushLog();
    process.exit(2);
  }
  // `stampede serve --help` (any command) asks for the help, not to run the command.
  if (rest.includes("--help") || rest.includes("-h")) {
    console.log(HELP);
    return;
  }
  switch (command) {
    case "serve":
      return serve(loadConfig(rest, process.env));
    case "migrate":
      return migrate(loadConfig(rest, process.env));
    case "token":
      return token(rest);
    case "healthcheck":
      return healthcheck(rest);
    case "--version":
    case "version":
      console.log(VERSION);
      return;
    case "--help":
    case "help":
    case "-h":
      console.log(HELP);
      return;
    default:
      throw new ConfigError(`unknown command "${command}" (see --help)`);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof ConfigError) {
    // One line, whatever a wrapped driver message held.
    process.stderr.write(`stampede: ${error.message.replace(/\s*\n\s*/g, " ")}\n`);
    flushLog();
    process.exit(2);
  }
  log("fatal", "failed", { error: error instanceof Error ? error.message : String(error) });
  flushLog();
  process.exit(1);
});
