// `bun run bench/overload.ts [--quick] [--connections N] [--workers N] [--seconds N]`: offer holds
// well past what the server can serve and see that it sheds (DESIGN.md invariant 7: overload gets
// a fast 503/429, never a collapse). Three wrk runs, each against a fresh `stampede serve`: 64
// connections to measure capacity, then N connections (default 8000: twice the bound on holds in
// flight, src/http/admission.ts) of many distinct buyers, twice: once with clients that ask again at
// once whatever they are told, once with clients that wait the Retry-After they are given.
// Meanwhile a probe sends holds at a steady rate and times each answer by its status, because wrk
// times all answers together. Reports offered vs served rates, shed counts and latency, p99 of
// served holds, peak server memory (the resident sets of the server and its workers, summed, sampled
// every 100 ms from /proc), and checks that every 201 is a held unit.
// wrk needs a descriptor per connection; the script raises its soft limit to the hard one.
// It stops by itself and leaves nothing running: wrk and the server are killed on any exit.

import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { signBuyerToken } from "../src/auth/buyer-token.ts";
import { SECRETS } from "../test/support/harness.ts";
import { type ServerProcess, spawnServer } from "../test/support/process.ts";

const args = process.argv.slice(2);
const flag = (name: string, fallback: number) => {
  const at = args.indexOf(`--${name}`);
  return at === -1 ? fallback : Number(args[at + 1]);
};
const quick = args.includes("--quick");
const CONNECTIONS = flag("connections", 8000);
const WORKERS = flag("workers", 1);
const OVERLOAD_SECONDS = flag("seconds", quick ? 5 : 15);
const CAPACITY_SECONDS = quick ? 3 : 5;
const CAPACITY_CONNECTIONS = 64;
const BUYERS = 50_000;
/** Holds a second the probe sends during the overload, each timed on its own. */
const PROBE_RATE = 100;
const STOCK = 100_000_000;

/**
 * Holds as many distinct buyers, counting answers by status in every thread. With BENCH_POLITE=1 a
 * client told 503 or 429 waits the Retry-After it was given before asking again; without, it asks
 * again at once. wrk asks delay() for a connection's wait some time after response() saw its answer,
 * possibly after other connections' answers, so the waits queue per thread: every refused answer
 * delays one next request by its own Retry-After, which is the same load, if not the same sockets.
 */
const LUA = `
local tokens = {}
local counter = 0
local threads = {}
local polite = os.getenv("BENCH_POLITE") == "1"
local waits = {}
local waits_first = 1
local waits_last = 0
counts = {}
function setup(thread) table.insert(threads, thread) end
function init(args)
  for line in io.lines(os.getenv("BENCH_TOKENS")) do tokens[#tokens + 1] = line end
  counter = math.random(#tokens)
end
function request()
  counter = counter + 1
  if counter > #tokens then counter = 1 end
  return wrk.format("POST", os.getenv("BENCH_PATH"), {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. tokens[counter],
  }, '{"itemId":"item","quantity":1}')
end
function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
  if polite then
    local ms = 0
    if status == 503 or status == 429 then
      ms = (tonumber(headers["Retry-After"] or headers["retry-after"]) or 1) * 1000
    end
    waits_last = waits_last + 1
    waits[waits_last] = ms
  end
end
if polite then
  function delay()
    local ms = waits[waits_first]
    if ms == nil then return 0 end
    waits[waits_first] = nil
    waits_first = waits_first + 1
    return ms
  end
end
function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("counts")) do io.write(string.format("status %d %d\\n", status, n)) end
  end
  local e = summary.errors
  io.write(string.format("errors connect=%d read=%d write=%d timeout=%d\\n", e.connect, e.read, e.write, e.timeout))
  io.write(string.format("latency p50_us=%d p99_us=%d p999_us=%d max_us=%d\\n",
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max))
end
`;

type WrkResult = {
  seconds: number;
  connections: number;
  byStatus: Map<number, number>;
  answered: number;
  socketErrors: string;
  p50ms: number;
  p99ms: number;
  p999ms: number;
};

const running = new Set<Subprocess>();
let server: ServerProcess | undefined;

async function wrk(url: string, connections: number, seconds: number, files: { tokens: string; lua: string }, polite: boolean): Promise<WrkResult> {
  // wrk needs a descriptor per connection: raise the soft limit to the hard one first.
  const command = `ulimit -n "$(ulimit -Hn)"; exec wrk -t2 -c${connections} -d${seconds}s --timeout 10s -s '${files.lua}' '${url}'`;
  const proc = Bun.spawn(["sh", "-c", command], {
    env: { ...process.env, BENCH_TOKENS: files.tokens, BENCH_PATH: "/v1/sales/overload/reservations", BENCH_POLITE: polite ? "1" : "0" },
    stdout: "pipe",
    stderr: "pipe",
  });
  running.add(proc);
  const killer = setTimeout(() => proc.kill("SIGKILL"), (seconds + 30) * 1000);
  const [text, errors] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  await proc.exited;
  clearTimeout(killer);
  running.delete(proc);
  if (proc.exitCode !== 0) throw new Error(`wrk failed (${proc.exitCode}): ${errors}${text}`);
  const byStatus = new Map<number, number>();
  for (const match of text.matchAll(/^status (\d+) (\d+)$/gm)) {
    byStatus.set(Number(match[1]), (byStatus.get(Number(match[1])) ?? 0) + Number(match[2]));
  }
  const number = (pattern: RegExp) => Number(pattern.exec(text)?.[1] ?? 0);
  return {
    seconds,
    connections,
    byStatus,
    answered: [...byStatus.values()].reduce((a, b) => a + b, 0),
    socketErrors: /errors (.*)/.exec(text)?.[1] ?? "",
    p50ms: number(/p50_us=(\d+)/) / 1000,
    p99ms: number(/p99_us=(\d+)/) / 1000,
    p999ms: number(/p999_us=(\d+)/) / 1000,
  };
}

/** The server and every process under it (the supervisor's workers), from /proc. */
function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const parent = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      children.set(parent, [...(children.get(parent) ?? []), Number(entry)]);
    } catch {}
  }
  const tree = [root];
  for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i] as number) ?? []));
  return tree;
}

function statusKiB(pid: number, field: "VmRSS" | "VmHWM"): number {
  try {
    return Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** Samples the tree's total resident memory; `peakMiB` is the largest sum seen. */
function memorySampler(root: number) {
  let peakKiB = 0;
  const sample = () => {
    const total = processTree(root).reduce((sum, pid) => sum + statusKiB(pid, "VmRSS"), 0);
    if (total > peakKiB) peakKiB = total;
  };
  sample();
  const timer = setInterval(sample, 100);
  return {
    stop() {
      clearInterval(timer);
      sample();
      // VmHWM is each process's own high-water mark, sampled or not.
      const hwmKiB = processTree(root).reduce((sum, pid) => sum + statusKiB(pid, "VmHWM"), 0);
      return { peakRssMiB: peakKiB / 1024, highWaterMiB: hwmKiB / 1024 };
    },
  };
}

type ProbeResult = { byStatus: Map<number, number[]>; failed: number };

/** Holds at a steady rate, whatever the server does, each one timed until its answer. */
async function probe(url: string, seconds: number, tokens: string[]): Promise<ProbeResult> {
  const byStatus = new Map<number, number[]>();
  let failed = 0;
  const pending: Promise<void>[] = [];
  const interval = 1000 / PROBE_RATE;
  const started = performance.now();
  for (let i = 0; performance.now() - started < seconds * 1000; i++) {
    const sentAt = performance.now();
    pending.push(
      fetch(`${url}/v1/sales/overload/reservations`, {
        method: "POST",
        headers: { authorization: `Bearer ${tokens[i % tokens.length]}`, "content-type": "application/json" },
        body: '{"itemId":"item","quantity":1}',
        signal: AbortSignal.timeout(30_000),
      })
        .then(async (response) => {
          await response.arrayBuffer();
          const list = byStatus.get(response.status) ?? [];
          list.push(performance.now() - sentAt);
          byStatus.set(response.status, list);
        })
        .catch(() => {
          failed += 1;
        }),
    );
    const next = started + (i + 1) * interval;
    await Bun.sleep(Math.max(0, next - performance.now()));
  }
  await Promise.all(pending);
  return { byStatus, failed };
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

const ms = (value: number) => (Number.isNaN(value) ? "-" : value.toFixed(1));
const count = (result: WrkResult, test: (status: number) => boolean) =>
  [...result.byStatus].filter(([status]) => test(status)).reduce((sum, [, n]) => sum + n, 0);

type Run = { name: string; result: WrkResult; probed?: ProbeResult; peakRssMiB: number; highWaterMiB: number; processes: number; exact: boolean; healthy: boolean; note: string };

const ADMIN = { authorization: `Bearer ${SECRETS.STAMPEDE_ADMIN_TOKEN}`, "content-type": "application/json" };

/**
 * One run on a fresh server, so that the reservations an earlier run left in memory (hundreds of
 * thousands) do not slow the next one: start, create the sale, load it, check it, stop.
 */
async function run(work: string, name: string, connections: number, seconds: number, polite: boolean, probeTokens: string[] | null): Promise<Run> {
  const files = { tokens: join(work, "tokens.txt"), lua: join(work, "overload.lua") };
  const dataDir = join(work, `data-${name.replace(/\W+/g, "-")}`);
  // The per-buyer limit stays on (5 a second, bursts of 10): each buyer here holds about once in
  // several seconds, so it seldom bites. The address limit is off: every request comes from loopback.
  server = await spawnServer(dataDir, { STAMPEDE_WORKERS: String(WORKERS), STAMPEDE_RATE_LIMIT_BUYER: "5" });
  try {
    const url = server.url;
    const created = await fetch(`${url}/v1/admin/sales`, {
      method: "POST",
      headers: ADMIN,
      body: JSON.stringify({ id: "overload", name: "Overload", limitPerUser: 1000, holdSeconds: 3600, items: [{ id: "item", name: "Item", price: 100, currency: "USD", stock: STOCK }] }),
    });
    if (created.status !== 201) throw new Error(`creating the sale: ${created.status} ${await created.text()}`);
    const memory = memorySampler(server.proc.pid);
    const [result, probed] = await Promise.all([
      wrk(url, connections, seconds, files, polite),
      probeTokens === null ? Promise.resolve(undefined) : Bun.sleep(1000).then(() => probe(url, seconds - 2, probeTokens)),
    ]);
    const { peakRssMiB, highWaterMiB } = memory.stop();
    const processes = processTree(server.proc.pid).length;
    const healthy = (await fetch(`${url}/healthz`)).status === 200;
    const sale = (await (await fetch(`${url}/v1/admin/sales/overload`, { headers: ADMIN })).json()) as {
      items: { stock: number; available: number; held: number; confirmed: number }[];
    };
    const item = sale.items[0];
    const created201 = count(result, (s) => s === 201) + (probed?.byStatus.get(201)?.length ?? 0);
    // A hold whose answer wrk did not wait for when its time ran out is held but not counted.
    const exact = item !== undefined && item.available + item.held + item.confirmed === STOCK && item.held >= created201 && item.held - created201 <= connections;
    const note = `held ${item?.held}, 201s counted ${created201}`;
    return { name, result, ...(probed === undefined ? {} : { probed }), peakRssMiB, highWaterMiB, processes, exact, healthy, note };
  } finally {
    await cleanUp();
    server = undefined;
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), "stampede-overload-"));
  try {
    const tokens = Array.from({ length: BUYERS }, (_, i) => signBuyerToken(SECRETS.STAMPEDE_JWT_SECRET, `buyer-${i}`, 86_400));
    writeFileSync(join(work, "tokens.txt"), `${tokens.join("\n")}\n`);
    writeFileSync(join(work, "overload.lua"), LUA);
    const probeTokens = Array.from({ length: 2_000 }, (_, i) => signBuyerToken(SECRETS.STAMPEDE_JWT_SECRET, `probe-${i}`, 86_400));

    const runs: Run[] = [];
    runs.push(await run(work, "capacity", CAPACITY_CONNECTIONS, CAPACITY_SECONDS, false, null));
    runs.push(await run(work, "overload, clients ask again at once", CONNECTIONS, OVERLOAD_SECONDS, false, probeTokens));
    runs.push(await run(work, "overload, clients wait Retry-After", CONNECTIONS, OVERLOAD_SECONDS, true, probeTokens));

    const served = (r: WrkResult) => count(r, (s) => s >= 200 && s < 300) / r.seconds;
    const capacityRate = served((runs[0] as Run).result);
    const rate = (n: number, seconds: number) => Math.round(n / seconds);
    console.log(`Stampede overload: ${WORKERS} worker(s), ${BUYERS} distinct buyers (JWTs), wrk -t2, loopback, a fresh server per run, ${new Date().toISOString()}`);
    console.log("| run | connections | offered req/s | served 2xx/s | served / capacity | shed 503 | limited 429 | other | socket errors | p50 ms (all) | p99 ms (all) | peak RSS MiB |");
    console.log("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for (const { name, result: r, peakRssMiB } of runs) {
      const ok = count(r, (s) => s >= 200 && s < 300);
      const shed = count(r, (s) => s === 503);
      const limited = count(r, (s) => s === 429);
      console.log(
        `| ${name} | ${r.connections} | ${rate(r.answered, r.seconds)} | ${rate(ok, r.seconds)} | ${(served(r) / capacityRate).toFixed(2)} | ${shed} | ${limited} | ${r.answered - ok - shed - limited} | ${r.socketErrors} | ${ms(r.p50ms)} | ${ms(r.p99ms)} | ${peakRssMiB.toFixed(0)} |`,
      );
    }
    for (const { name, probed } of runs) {
      if (probed === undefined) continue;
      console.log(`\nProbe during "${name}" (${PROBE_RATE} holds/s, open loop, each timed by its status; ${probed.failed} failed without an answer):`);
      console.log("| status | answers | p50 ms | p99 ms | max ms |");
      console.log("| --- | --- | --- | --- | --- |");
      for (const [status, latencies] of [...probed.byStatus].sort(([a], [b]) => a - b)) {
        console.log(`| ${status} | ${latencies.length} | ${ms(percentile(latencies, 50))} | ${ms(percentile(latencies, 99))} | ${ms(Math.max(...latencies))} |`);
      }
    }
    console.log("");
    for (const r of runs) {
      console.log(
        `${r.name}: peak ${r.peakRssMiB.toFixed(0)} MiB resident (sampled every 100 ms), VmHWM ${r.highWaterMiB.toFixed(0)} MiB over ${r.processes} process(es); ${r.note}; stock conserved: ${r.exact ? "yes" : "NO"}; /healthz after: ${r.healthy ? 200 : "FAILED"}`,
      );
    }
    if (runs.some((r) => !r.exact || !r.healthy)) process.exitCode = 1;
  } finally {
    await cleanUp();
    rmSync(work, { recursive: true, force: true });
  }
}

async function cleanUp(): Promise<void> {
  for (const proc of running) proc.kill("SIGKILL");
  if (server !== undefined && server.proc.exitCode === null) {
    const tree = processTree(server.proc.pid);
    server.proc.kill("SIGTERM");
    const exited = await Promise.race([server.proc.exited.then(() => true), Bun.sleep(15_000).then(() => false)]);
    if (!exited) console.error("the server did not stop within 15 s of SIGTERM; killing it");
    // Whatever did not go on SIGTERM (a stuck worker included) goes now; the gone ones throw ESRCH.
    for (const pid of tree) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {}
    }
  }
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    void cleanUp().finally(() => process.exit(130));
  });
}

await main();
