// API.md, "Waiting room": joins and admissions are durable like holds; a killed server forgets no
// one. Buyers join before startsAt (the draw) and after it while the server is killed with SIGKILL in
// the middle of a burst of joins; started again on the same data dir, every buyer who was answered
// still has their place: the admitted keep their very token, the waiting are never further back, and
// admission goes on in the same order. With one worker and with two.

import { afterAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { tokenFor } from "../support/buyers.ts";
import { SECRETS, tempDir } from "../support/harness.ts";
import { type ServerProcess, spawnServer } from "../support/process.ts";

const admin = { authorization: `Bearer ${SECRETS.STAMPEDE_ADMIN_TOKEN}`, "content-type": "application/json" };
type QueueBody = { status: string; position?: number; admissionToken?: string };
type Told = { userId: string; answer: QueueBody };

const dirs: string[] = [];
const servers: ServerProcess[] = [];
afterAll(async () => {
  for (const server of servers) await killAll(server);
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function killAll(server: ServerProcess): Promise<void> {
  for (const pid of server.workerPids().values()) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {}
  }
  await server.kill("SIGKILL");
}

async function start(dataDir: string, workers: number): Promise<ServerProcess> {
  const server = await spawnServer(dataDir, { STAMPEDE_WORKERS: String(workers) });
  servers.push(server);
  while (server.workerPids().size < workers) await Bun.sleep(20);
  return server;
}

const queue = (url: string, userId: string, method: "POST" | "GET") =>
  fetch(`${url}/v1/sales/crash-room/queue`, { method, headers: { authorization: `Bearer ${tokenFor(userId)}` } });

/** Joins of distinct buyers, `lanes` at a time, until stopped or the server dies; every answer is kept. */
async function joinBurst(url: string, lanes: number, stop: { now: boolean }, told: Told[]): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (!stop.now) {
      const userId = `burst-${next++}`;
      try {
        const response = await queue(url, userId, "POST");
        if (response.status === 200 || response.status === 202) told.push({ userId, answer: (await response.json()) as QueueBody });
      } catch {
        return;
      }
    }
  };
  await Promise.all(Array.from({ length: lanes }, lane));
}

for (const workers of [1, 2]) {
  describe(`waiting room, SIGKILL (${workers} worker${workers === 1 ? "" : "s"})`, () => {
    test("every buyer who was answered keeps their place, admitted ones their token", async () => {
      const dataDir = tempDir("stampede-room-kill9-");
      dirs.push(dataDir);
      let server = await start(dataDir, workers);
      const startsAt = Date.now() + 1_500;
      const sale = {
        id: "crash-room",
        name: "Crash room",
        startsAt: new Date(startsAt).toISOString(),
        endsAt: new Date(startsAt + 3_600_000).toISOString(),
        items: [{ id: "tee", name: "Tee", price: 100, currency: "USD", stock: 100_000 }],
        waitingRoom: { admitPerSecond: 50 },
      };
      expect((await fetch(`${server.url}/v1/admin/sales`, { method: "POST", headers: admin, body: JSON.stringify(sale) })).status).toBe(201);
      const told: Told[] = [];
      for (let i = 0; i < 40; i += 1) {
        const response = await queue(server.url, `early-${i}`, "POST");
        expect(response.status).toBe(202);
        told.push({ userId: `early-${i}`, answer: (await response.json()) as QueueBody });
      }
      await Bun.sleep(Math.max(0, startsAt - Date.now()) + 800);
      const stop = { now: false };
      const burst = joinBurst(server.url, 16, stop, told);
      while (told.length < 300) await Bun.sleep(5);
      // The latest word each buyer had before the kill: polls of the early ones (drawn, some admitted).
      const last = new Map(told.map(({ userId, answer }) => [userId, answer]));
      for (let i = 0; i < 40; i += 1) {
        const response = await queue(server.url, `early-${i}`, "GET");
        last.set(`early-${i}`, (await response.json()) as QueueBody);
      }
      await killAll(server);
      stop.now = true;
      await burst;
      for (const { userId, answer } of told) if (!last.has(userId)) last.set(userId, answer);

      server = await start(dataDir, workers);
      let admitted = 0;
      for (const [userId, before] of last) {
        const after = (await (await queue(server.url, userId, "GET")).json()) as QueueBody;
        if (before.status === "admitted") {
          expect({ userId, status: after.status, token: after.admissionToken }).toEqual({ userId, status: "admitted", token: before.admissionToken });
          admitted += 1;
        } else {
          expect({ userId, status: after.status === "waiting" || after.status === "admitted" }).toEqual({ userId, status: true });
          if (after.status === "waiting" && before.position !== undefined) expect(after.position as number).toBeLessThanOrEqual(before.position);
        }
      }
      expect(admitted).toBeGreaterThan(0);
      const view = (await (await fetch(`${server.url}/v1/admin/sales/crash-room`, { headers: admin })).json()) as {
        waitingRoom: { waiting: number; admitted: number };
      };
      // Every buyer answered is in the room; a join in flight at the kill may be there too.
      expect(view.waitingRoom.waiting + view.waitingRoom.admitted).toBeGreaterThanOrEqual(last.size);
      expect(view.waitingRoom.waiting + view.waitingRoom.admitted).toBeLessThanOrEqual(last.size + 16);
      // Admission goes on from where it was, in order: the first still waiting is the next admitted.
      const waiting = [...last.keys()].filter((u) => u.startsWith("burst-")).slice(-3);
      for (const userId of waiting) {
        const deadline = Date.now() + 40_000;
        let answer: QueueBody = { status: "waiting" };
        while (answer.status === "waiting" && Date.now() < deadline) {
          await Bun.sleep(200);
          answer = (await (await queue(server.url, userId, "GET")).json()) as QueueBody;
        }
        expect(answer.status).toBe("admitted");
      }
      await killAll(server);
    }, 90_000);
  });
}
