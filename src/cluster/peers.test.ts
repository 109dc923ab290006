import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ByteReader, ByteWriter } from "../bytes.ts";
import { type HoldAnswer, Unavailable } from "../engine/gateway.ts";
import type { HoldCommand } from "../ledger/types.ts";
import { FrameDecoder } from "./frames.ts";
import { ownerOf } from "./ownership.ts";
import { readEvent, writeEvent } from "./peer-protocol.ts";
import { PeerClient, type PeerHandler, PeerServer, RESEND_WAIT_MS } from "./peers.ts";

const dir = mkdtempSync(join(tmpdir(), "stampede-peers-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function frame(write: (out: ByteWriter) => void): Uint8Array {
  const out = new ByteWriter();
  out.u32(0);
  write(out);
  out.u32At(0, out.at - 4);
  return out.bytes().slice();
}

test("frames survive being cut at every byte", () => {
  const frames = [frame((out) => writeEvent(out, "a", { a: 1 })), frame((out) => writeEvent(out, "b", { b: "ü".repeat(1000) }))];
  const bytes = new Uint8Array(frames[0]!.byteLength + frames[1]!.byteLength);
  bytes.set(frames[0]!);
  bytes.set(frames[1]!, frames[0]!.byteLength);
  for (let cut = 0; cut <= bytes.byteLength; cut += 7) {
    const decoder = new FrameDecoder();
    const events: unknown[] = [];
    for (const part of [bytes.slice(0, cut), bytes.slice(cut)]) {
      for (const body of decoder.push(part)) {
        const input = new ByteReader(body);
        input.u8();
        events.push(readEvent(input));
      }
    }
    expect(events).toEqual([
      { op: "a", args: { a: 1 } },
      { op: "b", args: { b: "ü".repeat(1000) } },
    ]);
  }
});

test("ownership is stable and spreads sales over workers", () => {
  expect(ownerOf("drop-42", 4)).toBe(ownerOf("drop-42", 4));
  const counts = [0, 0, 0, 0];
  for (let i = 0; i < 4000; i += 1) counts[ownerOf(`sale-${i}`, 4)]! += 1;
  for (const count of counts) expect(count).toBeGreaterThan(800);
});

const holdOf = (i: number, token = 0): HoldCommand => ({ kind: "hold", userId: `u${i}`, itemId: "item", quantity: 1, idempotencyKey: i % 3 === 0 ? `k${i}` : null, token });
const ask = (client: PeerClient, saleId: string, command: HoldCommand) => new Promise<HoldAnswer>((resolve) => client.hold(saleId, command, resolve));

test("holds and calls are answered in order under load, large answers included, and fail fast when the peer is gone", async () => {
  const path = join(dir, "w1.sock");
  const events: unknown[] = [];
  const handler: PeerHandler = {
    hold: (saleId, command, reply) =>
      reply(command.quantity === 1 ? { ok: true, body: JSON.stringify({ saleId, ...command }), replayed: false, rateLimit: null } : { ok: false, refusal: "sold_out", detail: "none" }),
    request: async (op, args) => {
      if (op === "fail") throw new Unavailable("busy", 3);
      if (op === "big") return "x".repeat(5_000_000);
      return { echo: args };
    },
    event: (_op, args) => events.push(args),
  };
  const server = new PeerServer(path, handler);
  const client = new PeerClient(1, path);
  while (!client.connected) await Bun.sleep(5);
  const holds = await Promise.all(Array.from({ length: 20_000 }, (_, i) => ask(client, "drop", holdOf(i))));
  holds.forEach((answer, i) => {
    expect(answer.ok).toBe(true);
    if (answer.ok) expect(JSON.parse(answer.body)).toMatchObject({ saleId: "drop", userId: `u${i}`, idempotencyKey: i % 3 === 0 ? `k${i}` : null });
  });
  const answers = await Promise.all(Array.from({ length: 5_000 }, (_, i) => client.call("echo", i)));
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
  // Down: an answer at once, 503-style, never a wait.
  const started = performance.now();
  expect(await client.call("echo", 1).catch((error: unknown) => error)).toBeInstanceOf(Unavailable);
  expect((await ask(client, "drop", holdOf(1))).ok).toBe(false);
  expect(performance.now() - started).toBeLessThan(100);
  client.stop();
});

test("a hold in flight when its owner dies is sent again, under its token, to the owner that comes back", async () => {
  const path = join(dir, "w2.sock");
  // The first owner takes holds but never answers (it dies before it can).
  const seen: number[] = [];
  const silent = new PeerServer(path, { hold: (_s, command) => seen.push(command.token ?? 0), request: async () => null, event: () => {} });
  const client = new PeerClient(2, path);
  while (!client.connected) await Bun.sleep(5);
  const pending = ask(client, "drop", holdOf(7, 4242));
  while (seen.length === 0) await Bun.sleep(5);
  silent.stop();
  await Bun.sleep(200);
  // The owner comes back (within RESEND_WAIT_MS) and recognizes the token.
  const resent: number[] = [];
  const back = new PeerServer(path, {
    hold: (_s, command, reply) => {
      resent.push(command.token ?? 0);
      reply({ ok: true, body: '{"again":true}', replayed: false, rateLimit: null });
    },
    request: async () => null,
    event: () => {},
  });
  const answer = await pending;
  expect(answer).toEqual({ ok: true, body: '{"again":true}', replayed: false, rateLimit: null });
  expect(seen).toEqual([4242]);
  expect(resent).toEqual([4242]);
  back.stop();
  client.stop();
});

test("a hold whose owner does not come back in time gets 503, and the client does not spin", async () => {
  const path = join(dir, "w3.sock");
  const server = new PeerServer(path, { hold: () => {}, request: async () => null, event: () => {} });
  const client = new PeerClient(3, path);
  while (!client.connected) await Bun.sleep(5);
  const pending = ask(client, "drop", holdOf(1, 99));
  await Bun.sleep(50);
  server.stop();
  const answer = await pending;
  expect(answer.ok).toBe(false);
  if (!answer.ok) expect(answer.refusal).toBe("unavailable");
  // Reconnect attempts back off to one every half second, not a loop: well under 40 in RESEND_WAIT_MS.
  expect(client.attempts).toBeLessThan(2 + (RESEND_WAIT_MS / 1000) * 4);
  client.stop();
}, 15_000);
