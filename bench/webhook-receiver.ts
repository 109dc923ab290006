// A receiver of Stampede's outbound webhooks for the benchmark (scenario 12), run as its own process
// on loopback: `PORT=... DELAY_MS=... bun bench/webhook-receiver.ts`. It answers every POST /hook with
// 200 after DELAY_MS (0: at once, the healthy receiver; 1000: the slow one), and records for each
// delivery its event id, type and lag: arrival time minus the event's `createdAt` (the moment the
// owner decided it, in the body). GET /stats answers what it recorded, POST /reset forgets it;
// GET /healthz 200.
//
// It ends by itself: after LIFETIME_S seconds, or as soon as the process that started it is gone,
// so a benchmark that dies leaves no receiver behind.

// A module, not a script: its names stay its own (bench/ceiling.ts has a `port` too).
export {};

const port = Number(process.env.PORT);
const delayMs = Number(process.env.DELAY_MS ?? 0);
const lifetimeMs = Number(process.env.LIFETIME_S ?? 600) * 1000;
if (!Number.isInteger(port) || port <= 0) throw new Error("PORT must name a port");

/** Lags in ms, one per delivery received (duplicates included), grown as needed. */
let lags = new Float64Array(1 << 16);
let received = 0;
const eventIds = new Set<string>();
const byType: Record<string, number> = {};
/** Deliveries whose body was not the documented `{ id, type, createdAt, data }`. */
let malformed = 0;

function record(body: string, arrivedAt: number): void {
  let event: { id?: unknown; type?: unknown; createdAt?: unknown };
  try {
    event = JSON.parse(body) as typeof event;
  } catch {
    malformed += 1;
    return;
  }
  const createdAt = typeof event.createdAt === "string" ? Date.parse(event.createdAt) : Number.NaN;
  if (typeof event.id !== "string" || typeof event.type !== "string" || Number.isNaN(createdAt)) {
    malformed += 1;
    return;
  }
  if (received === lags.length) {
    const grown = new Float64Array(lags.length * 2);
    grown.set(lags);
    lags = grown;
  }
  lags[received] = arrivedAt - createdAt;
  received += 1;
  eventIds.add(event.id);
  byType[event.type] = (byType[event.type] ?? 0) + 1;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

function stats() {
  const sorted = lags.slice(0, received).sort();
  return {
    received,
    distinct: eventIds.size,
    byType,
    malformed,
    lagMs: { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] ?? 0 },
  };
}

Bun.serve({
  port,
  hostname: "127.0.0.1",
  // The slow receiver keeps every request open for DELAY_MS: well inside the idle timeout.
  idleTimeout: 60,
  async fetch(request) {
    const path = new URL(request.url).pathname;
    if (request.method === "POST" && path === "/hook") {
      const body = await request.text();
      record(body, Date.now());
      if (delayMs > 0) await Bun.sleep(delayMs);
      return new Response("ok");
    }
    if (path === "/stats") return Response.json(stats());
    if (request.method === "POST" && path === "/reset") {
      received = 0;
      eventIds.clear();
      for (const type of Object.keys(byType)) delete byType[type];
      malformed = 0;
      return new Response("ok");
    }
    if (path === "/healthz") return new Response("ok");
    return new Response("not found", { status: 404 });
  },
});

const parent = process.ppid;
setTimeout(() => process.exit(0), lifetimeMs);
setInterval(() => {
  if (process.ppid !== parent) process.exit(0);
}, 500);
