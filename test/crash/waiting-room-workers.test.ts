// A change of the number of workers moves every sale through the store (the journals are drained
// into it, then each worker loads its sales from it): a waiting room must come back from the store
// exactly. The server is SIGKILLed (its whole process group) with a room drawn, queued, partly
// admitted and paused, and started again with two workers, then with one: each time every buyer is
// told the same position or the same admission token as before, and then the room goes on in order.

import { afterAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { expectRoomGoesOn, expectRoomKept, frozenRoom } from "../support/room-scenario.ts";
import { tempDir } from "../support/harness.ts";
import { type ServerProcess, spawnServer } from "../support/process.ts";

const dataDir = tempDir("stampede-room-workers-");
const servers: ServerProcess[] = [];
afterAll(async () => {
  for (const server of servers) await server.kill("SIGKILL");
  rmSync(dataDir, { recursive: true, force: true });
});

async function start(workers: number): Promise<ServerProcess> {
  const server = await spawnServer(dataDir, { STAMPEDE_WORKERS: String(workers) }, { processGroup: true });
  servers.push(server);
  while (server.workerPids().size < workers) await Bun.sleep(20);
  return server;
}

test("a waiting room moved through the store by a change of workers keeps every place, admission and the pace", async () => {
  let server = await start(1);
  const before = await frozenRoom(server.url, "moving-room");
  for (const workers of [2, 1]) {
    await server.kill("SIGKILL");
    server = await start(workers);
    expect(server.output()).toContain("journals moved through the store");
    await expectRoomKept(server.url, "moving-room", before);
  }
  await expectRoomGoesOn(server.url, "moving-room", before);
  await server.kill("SIGKILL");
}, 90_000);
