// `bun run bench`: durable holds/s of Stampede (embedded store) side by side with the ceiling, a bare
// Bun.serve that parses the same JSON, measured with wrk in the same run. Exactness is checked after
// the run through the admin API. (The full benchmark of the bench issue grows from here.)

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { signBuyerToken } from "../src/auth/buyer-token.ts";
import { SECRETS } from "../test/support/harness.ts";
import { freePort, spawnServer } from "../test/support/process.ts";

const quick = process.argv.includes("--quick");
const DURATION = quick ? "3s" : "10s";
const CONNECTIONS = 64;
const BUYERS = 10_000;

type WrkResult = { requestsPerSecond: number; non2xx: number; total: number; p50us: number; p99us: number; p999us: number };

async function wrk(url: string, tokensFile: string, path: string): Promise<WrkResult> {
  const proc = Bun.spawn(
    ["wrk", "-t2", `-c${CONNECTIONS}`, `-d${DURATION}`, "--latency", "-s", "bench/holds.lua", url],
    { env: { ...process.env, BENCH_TOKENS: tokensFile, BENCH_PATH: path }, stdout: "pipe", stderr: "pipe" },
  );
  const text = await new Response(proc.stdout).text();
  await proc.exited;
  const number = (pattern: RegExp) => Number(pattern.exec(text)?.[1] ?? 0);
  return {
    requestsPerSecond: number(/Requests\/sec:\s+([\d.]+)/),
    non2xx: number(/Non-2xx or 3xx responses:\s+(\d+)/),
    total: number(/(\d+) requests in/),
    p50us: number(/latency_p50_us=(\d+)/),
    p99us: number(/p99_us=(\d+)/),
    p999us: number(/p999_us=(\d+)/),
  };
}

async function main() {
  const work = mkdtempSync(join(tmpdir(), "stampede-bench-"));
  const tokensFile = join(work, "tokens.txt");
  const tokens = Array.from({ length: BUYERS }, (_, i) => signBuyerToken(SECRETS.STAMPEDE_JWT_SECRET, `buyer-${i}`, 86_400));
  writeFileSync(tokensFile, `${tokens.join("\n")}\n`);

  const ceilingPort = freePort();
  const ceiling = Bun.spawn(["bun", "run", "bench/ceiling.ts"], { env: { ...process.env, PORT: String(ceilingPort) }, stdout: "ignore" });
  await waitForPort(`http://127.0.0.1:${ceilingPort}`);
  const ceilingResult = await wrk(`http://127.0.0.1:${ceilingPort}`, tokensFile, "/v1/sales/bench/reservations");
  ceiling.kill();

  const server = await spawnServer(join(work, "data"));
  const admin = { authorization: `Bearer ${SECRETS.STAMPEDE_ADMIN_TOKEN}`, "content-type": "application/json" };
  const stock = 100_000_000;
  await fetch(`${server.url}/v1/admin/sales`, {
    method: "POST",
    headers: admin,
    body: JSON.stringify({
      id: "bench",
      name: "Bench",
      limitPerUser: 1000,
      holdSeconds: 3600,
      items: [{ id: "item", name: "Item", price: 100, currency: "USD", stock }],
    }),
  });
  const holds = await wrk(server.url, tokensFile, "/v1/sales/bench/reservations");
  const sale = (await (await fetch(`${server.url}/v1/admin/sales/bench`, { headers: admin })).json()) as {
    items: { stock: number; available: number; held: number; confirmed: number }[];
  };
  await server.kill("SIGTERM");
  rmSync(work, { recursive: true, force: true });

  const item = sale.items[0];
  const acknowledged = holds.total - holds.non2xx;
  const exact = item !== undefined && item.available + item.held + item.confirmed === stock && item.held >= acknowledged;
  const row = (name: string, r: WrkResult) =>
    `| ${name} | ${Math.round(r.requestsPerSecond)} | ${(r.requestsPerSecond / ceilingResult.requestsPerSecond).toFixed(2)} | ${(r.p50us / 1000).toFixed(2)} | ${(r.p99us / 1000).toFixed(2)} | ${(r.p999us / 1000).toFixed(2)} | ${r.non2xx} |`;
  console.log(`wrk -t2 -c${CONNECTIONS} -d${DURATION}, ${BUYERS} distinct buyers (JWTs)`);
  console.log("| contestant | req/s | ratio to ceiling | p50 ms | p99 ms | p99.9 ms | non-2xx |");
  console.log("| --- | --- | --- | --- | --- | --- | --- |");
  console.log(row("ceiling: bare Bun.serve JSON echo", ceilingResult));
  console.log(row("Stampede durable holds (embedded store)", holds));
  console.log(`exactness: held ${item?.held} >= acknowledged ${acknowledged}, stock conserved: ${exact ? "yes" : "NO"}`);
  if (!exact) process.exit(1);
}

async function waitForPort(url: string): Promise<void> {
  for (let i = 0; i < 200; i += 1) {
    try {
      await fetch(url);
      return;
    } catch {
      await Bun.sleep(25);
    }
  }
  throw new Error(`${url} did not come up`);
}

await main();
