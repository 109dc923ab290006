import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FrameDecoder, encodeFrame } from "./frames.ts";
import { Unavailable } from "./gateway.ts";
import { ownerOf } from "./ownership.ts";
import { PeerClient, PeerServer } from "./peers.ts";

const dir = mkdtempSync(join(tmpdir(), "stampede-peers-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("frames survive being cut at every byte", () => {
  const frames = [encodeFrame([{ a: 1 }, "two"]), encodeFrame([{ b: "ü".repeat(1000) }])];
  const bytes = new Uint8Array(frames[0]!.byteLength + frames[1]!.byteLength);
  bytes.set(frames[0]!);
  bytes.set(frames[1]!, frames[0]!.byteLength);
  for (let cut = 0; cut <= bytes.byteLength; cut += 7) {
    const decoder = new FrameDecoder();
    const got = [...decoder.push(bytes.slice(0, cut)), ...decoder.push(bytes.slice(cut))];
    expect(got).toEqual([[{ a: 1 }, "two"], [{ b: "ü".repeat(1000) }]]);
  }
});

test("ownership is stable and spreads sales over workers", () => {
  expect(ownerOf("drop-42", 4)).toBe(ownerOf("drop-42", 4));
  const counts = [0, 0, 0, 0];
  for (let i = 0; i < 4000; i += 1) counts[ownerOf(`sale-${i}`, 4)]! += 1;
  for (const count of counts) expect(count).toBeGreaterThan(800);
});

test("calls are answered in order under load, large answers included, and fail fast when the peer is gone", async () => {
  const path = join(dir, "w1.sock");
  const events: unknown[] = [];
  const server = new PeerServer(path, {
    request: async (op, args) => {
      if (op === "fail") throw new Unavailable("busy", 3);
      if (op === "big") return "x".repeat(5_000_000);
      return { echo: args };
    },
    event: (_op, args) => events.push(args),
  });
  const client = new PeerClient(1, path);
  while (!client.connected) await Bun.sleep(5);
  const answers = await Promise.all(Array.from({ length: 20_000 }, (_, i) => client.call("echo", i)));
  expect(answers.every((answer, i) => (answer as { echo: number }).echo === i)).toBe(true);
  expect(((await client.call("big", null)) as string).length).toBe(5_000_000);
  const failure = await client.call("fail", null).catch((error: unknown) => error);
  expect(failure).toBeInstanceOf(Unavailable);
  expect((failure as Unavailable).retryAfterSeconds).toBe(3);
  client.emit("snapshot", { n: 1 });
  while (events.length === 0) await Bun.sleep(5);
  expect(events).toEqual([{ n: 1 }]);
  server.stop();
  while (client.connected) await Bun.sleep(5);
  expect(await client.call("echo", 1).catch((error: unknown) => error)).toBeInstanceOf(Unavailable);
  client.stop();
});
