// API.md, "Waiting room", row by row, against one worker and against two (where the worker that
// answers is often not the sale's owner): the setting on create and PATCH and in both views, joins,
// polls, the opening of the queue, and the admission token every hold of such a sale needs.
// Ordering, pace and sell-out are in waiting-room-flow.test.ts.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { body, expectProblem, expectStatus, expectValidation } from "./helpers.ts";
import { type QueueBody, type Target, inProcess, pollUntil, roomSale, twoWorkers } from "./waiting-room-target.ts";

type RoomView = { admitPerSecond: number; admissionSeconds: number; opensSecondsBefore: number; waiting: number; admitted: number };
type SaleWithRoom = { id: string; waitingRoom?: RoomView | null };

const HOLD = { itemId: "tee", quantity: 1 };

for (const make of [inProcess, twoWorkers]) {
  describe(`waiting room (${make === inProcess ? "1 worker" : "2 workers"})`, () => {
    let t: Target;
    beforeAll(async () => {
      t = await make();
    });
    afterAll(async () => {
      await t?.close();
    });

    const join = (userId: string, saleId: string) => t.buyer(userId, "POST", `/v1/sales/${saleId}/queue`);
    const poll = async (userId: string, saleId: string) => expectStatus<QueueBody>(await t.buyer(userId, "GET", `/v1/sales/${saleId}/queue`), 200);
    const hold = (userId: string, saleId: string, token?: string) =>
      t.buyer(userId, "POST", `/v1/sales/${saleId}/reservations`, HOLD, token === undefined ? {} : { "stampede-admission": token });

    test("create and PATCH take waitingRoom (defaults filled in); both views show it with waiting and admitted; null turns it off", async () => {
      const created = await expectStatus<SaleWithRoom>(await t.admin("POST", "/v1/admin/sales", roomSale("wr-set", { admitPerSecond: 500 })), 201);
      const fresh = { admitPerSecond: 500, admissionSeconds: 600, opensSecondsBefore: 900, waiting: 0, admitted: 0 };
      expect(created.waitingRoom).toEqual(fresh);
      expect((await body<SaleWithRoom>(await fetch(`${t.url}/v1/sales/wr-set`))).waitingRoom).toEqual(fresh);
      await expectStatus(await join("u1", "wr-set"), 200);
      const patched = await expectStatus<SaleWithRoom>(
        await t.admin("PATCH", "/v1/admin/sales/wr-set", { waitingRoom: { admitPerSecond: 5, admissionSeconds: 30, opensSecondsBefore: 60 } }),
        200,
      );
      expect(patched.waitingRoom).toEqual({ admitPerSecond: 5, admissionSeconds: 30, opensSecondsBefore: 60, waiting: 0, admitted: 1 });
      // In force on every worker once the 200 is sent: the public document shows it at once too.
      expect((await body<SaleWithRoom>(await fetch(`${t.url}/v1/sales/wr-set`))).waitingRoom?.admitPerSecond).toBe(5);
      expect((await expectProblem(await hold("u2", "wr-set"), 403, "admission_required")).detail.length).toBeGreaterThan(0);

      const off = await expectStatus<SaleWithRoom>(await t.admin("PATCH", "/v1/admin/sales/wr-set", { waitingRoom: null }), 200);
      expect(off.waitingRoom).toBeNull();
      await expectStatus(await hold("u2", "wr-set"), 201);
      await expectProblem(await join("u3", "wr-set"), 409, "no_waiting_room");
      await expectProblem(await t.buyer("u3", "GET", "/v1/sales/wr-set/queue"), 409, "no_waiting_room");
      // A sale that never had a room looks as it always did.
      const plain = await expectStatus<SaleWithRoom>(await t.admin("POST", "/v1/admin/sales", roomSale("wr-plain", undefined)), 201);
      expect("waitingRoom" in plain).toBe(false);
      await expectStatus(await hold("u1", "wr-plain"), 201);
    });

    test("settings out of range are 422 naming the field, on create and on PATCH", async () => {
      const cases: [unknown, string][] = [
        [{ admitPerSecond: 0 }, "/waitingRoom/admitPerSecond"],
        [{ admitPerSecond: 100_001 }, "/waitingRoom/admitPerSecond"],
        [{ admitPerSecond: 1.5 }, "/waitingRoom/admitPerSecond"],
        [{ admitPerSecond: 10, admissionSeconds: 9 }, "/waitingRoom/admissionSeconds"],
        [{ admitPerSecond: 10, admissionSeconds: 86_401 }, "/waitingRoom/admissionSeconds"],
        [{ admitPerSecond: 10, opensSecondsBefore: -1 }, "/waitingRoom/opensSecondsBefore"],
        [{ admitPerSecond: 10, opensSecondsBefore: 86_401 }, "/waitingRoom/opensSecondsBefore"],
      ];
      for (const [room, path] of cases) await expectValidation(await t.admin("POST", "/v1/admin/sales", roomSale("wr-bad", room)), path);
      await expectStatus(await t.admin("POST", "/v1/admin/sales", roomSale("wr-bad", null)), 201);
      for (const [room, path] of cases) await expectValidation(await t.admin("PATCH", "/v1/admin/sales/wr-bad", { waitingRoom: room }), path);
    });

    test("a join is 200 admitted at once when nobody waits, else 202 waiting; joining again keeps the place", async () => {
      await expectStatus(await t.admin("POST", "/v1/admin/sales", roomSale("wr-join", { admitPerSecond: 1 })), 201);
      const first = await expectStatus<QueueBody>(await join("u1", "wr-join"), 200);
      expect(first.status).toBe("admitted");
      expect(typeof first.admissionToken).toBe("string");
      const expiresIn = Date.parse(first.admissionExpiresAt ?? "") - Date.now();
      expect(expiresIn).toBeGreaterThan(590_000);
      expect(expiresIn).toBeLessThan(610_000);
      const second = await join("u2", "wr-join");
      expect(second.headers.get("retry-after")).toMatch(/^\d+$/);
      expect(await expectStatus<QueueBody>(second, 202)).toEqual({ status: "waiting", position: 1, estimatedWaitSeconds: expect.any(Number) });
      const third = await expectStatus<QueueBody>(await join("u3", "wr-join"), 202);
      expect(third.position).toBe(2);
      expect(third.estimatedWaitSeconds).toBeGreaterThanOrEqual(1);
      // Again: the same place (or a better one, the room moves on), never a second one.
      const again = await body<QueueBody>(await join("u3", "wr-join"));
      expect(again.status === "admitted" || (again.position ?? 99) <= 2).toBe(true);
      expect((await expectStatus<QueueBody>(await join("u1", "wr-join"), 200)).admissionToken).toBe(first.admissionToken);
      const view = await expectStatus<SaleWithRoom>(await t.admin("GET", "/v1/admin/sales/wr-join"), 200);
      expect((view.waitingRoom?.waiting ?? 0) + (view.waitingRoom?.admitted ?? 0)).toBe(3);
      await expectProblem(await join("u1", "wr-nope"), 404, "not_found");
      await expectProblem(await fetch(`${t.url}/v1/sales/wr-join/queue`, { method: "POST" }), 401, "unauthorized");
      await expectProblem(await fetch(`${t.url}/v1/sales/wr-join/queue`), 401, "unauthorized");
    });

    test("joins open opensSecondsBefore startsAt: 409 queue_not_open before; waiting without a position until the draw", async () => {
      const later = Date.now() + 3_600_000;
      const sale = roomSale("wr-open", { admitPerSecond: 10, opensSecondsBefore: 60 }, {
        startsAt: new Date(later).toISOString(),
        endsAt: new Date(later + 3_600_000).toISOString(),
      });
      await expectStatus(await t.admin("POST", "/v1/admin/sales", sale), 201);
      const early = await expectProblem(await join("u1", "wr-open"), 409, "queue_not_open");
      expect(early.detail).toContain(new Date(later - 60_000).toISOString());
      await expectStatus(await t.admin("PATCH", "/v1/admin/sales/wr-open", { waitingRoom: { admitPerSecond: 10, opensSecondsBefore: 7200 } }), 200);
      const waiting = await expectStatus<QueueBody>(await join("u1", "wr-open"), 202);
      expect(waiting.status).toBe("waiting");
      expect(waiting.position).toBeUndefined();
      expect(waiting.estimatedWaitSeconds).toBeGreaterThanOrEqual(3500);
      expect((await poll("u1", "wr-open")).status).toBe("waiting");
      await expectProblem(await hold("u1", "wr-open"), 403, "admission_required");
    });

    test("a poll: not_joined, waiting with Retry-After and a position that never grows, then admitted with a token that holds", async () => {
      await expectStatus(await t.admin("POST", "/v1/admin/sales", roomSale("wr-poll", { admitPerSecond: 4 })), 201);
      expect(await poll("nobody", "wr-poll")).toEqual({ status: "not_joined" });
      for (let i = 1; i <= 10; i += 1) await join(`p${i}`, "wr-poll");
      const positions: number[] = [];
      let last: QueueBody = { status: "waiting" };
      const deadline = Date.now() + 15_000;
      while (Date.now() < deadline) {
        const response = await t.buyer("p10", "GET", "/v1/sales/wr-poll/queue");
        last = await expectStatus<QueueBody>(response, 200);
        if (last.status !== "waiting") break;
        expect(response.headers.get("retry-after")).toMatch(/^[1-9]\d*$/);
        positions.push(last.position ?? -1);
        await Bun.sleep(100);
      }
      expect(last.status).toBe("admitted");
      expect(positions.length).toBeGreaterThan(2);
      for (let i = 1; i < positions.length; i += 1) expect(positions[i]).toBeLessThanOrEqual(positions[i - 1] as number);
      expect(positions[positions.length - 1]).toBeGreaterThanOrEqual(1);
      await expectStatus(await hold("p10", "wr-poll", last.admissionToken), 201);
    });

    test("holds need Stampede-Admission: missing, expired, forged, another buyer's or another sale's token is 403 admission_required", async () => {
      for (const id of ["wr-tok-a", "wr-tok-b"]) await expectStatus(await t.admin("POST", "/v1/admin/sales", roomSale(id, { admitPerSecond: 100 })), 201);
      const a = await expectStatus<QueueBody>(await join("t1", "wr-tok-a"), 200);
      const b = await expectStatus<QueueBody>(await join("t1", "wr-tok-b"), 200);
      const token = a.admissionToken ?? "";
      const forged = `${token.slice(0, -2)}${token.endsWith("AA") ? "BB" : "AA"}`;
      const keyed = t.tokens();
      const expired = keyed.sign("wr-tok-a", "t1", Date.now() - 1_000);
      for (const bad of [undefined, "", "garbage", "a.b", forged, b.admissionToken, expired]) {
        await expectProblem(await hold("t1", "wr-tok-a", bad), 403, "admission_required");
      }
      await expectProblem(await hold("t2", "wr-tok-a", token), 403, "admission_required");
      // The server's own tokens are what it takes: one it did not issue through a join still names all it must.
      await expectStatus(await hold("t3", "wr-tok-a", keyed.sign("wr-tok-a", "t3", Date.now() + 60_000)), 201);
      await expectStatus(await hold("t1", "wr-tok-a", token), 201);
      await expectStatus(await hold("t1", "wr-tok-b", b.admissionToken), 201);
    });

    test("the public document and its stream carry the room's numbers", async () => {
      await expectStatus(await t.admin("POST", "/v1/admin/sales", roomSale("wr-doc", { admitPerSecond: 1 })), 201);
      for (const u of ["d1", "d2", "d3"]) await join(u, "wr-doc");
      const done = await pollUntil(t, "d2", "wr-doc", (b) => b.status === "admitted");
      expect(done.status).toBe("admitted");
      // Other workers answer from the copy the owner publishes a moment after each change.
      await Bun.sleep(200);
      const controller = new AbortController();
      const stream = await fetch(`${t.url}/v1/sales/wr-doc/stream`, { signal: controller.signal });
      const reader = (stream.body as ReadableStream<Uint8Array>).getReader();
      const { value } = await reader.read();
      controller.abort();
      const first = new TextDecoder().decode(value).split("\n").find((line) => line.startsWith("data: ")) ?? "";
      const room = (JSON.parse(first.slice(6)) as SaleWithRoom).waitingRoom;
      expect(room?.admitPerSecond).toBe(1);
      expect((room?.waiting ?? 0) + (room?.admitted ?? 0)).toBe(3);
      expect(room?.admitted).toBeGreaterThanOrEqual(2);
    });
  });
}
