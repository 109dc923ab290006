// The waiting room over time (API.md, "Waiting room"), against one worker and two: the lottery of
// everyone who joined before startsAt (a permutation, not the arrival order), first come first served
// after it, admission strictly in queue order at the room's pace, the pause while nothing is
// available, sold_out for everyone waiting once nothing is available or held, and an admission that
// expires unused. Limits on joins and polls are at the end (one worker, limits on).

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { expectProblem, expectStatus } from "./helpers.ts";
import { type QueueBody, type Target, inProcess, pollUntil, roomSale, twoWorkers } from "./waiting-room-target.ts";

type Reservation = { id: string; amount: number; currency: string };
type Room = { waiting: number; admitted: number };

for (const make of [inProcess, twoWorkers]) {
  describe(`waiting room over time (${make === inProcess ? "1 worker" : "2 workers"})`, () => {
    let t: Target;
    beforeAll(async () => {
      t = await make();
    });
    afterAll(async () => {
      await t?.close();
    });

    const join = (userId: string, saleId: string) => t.buyer(userId, "POST", `/v1/sales/${saleId}/queue`);
    const poll = async (userId: string, saleId: string) => expectStatus<QueueBody>(await t.buyer(userId, "GET", `/v1/sales/${saleId}/queue`), 200);
    const room = async (saleId: string) =>
      ((await expectStatus<{ waitingRoom: Room }>(await t.admin("GET", `/v1/admin/sales/${saleId}`), 200)).waitingRoom);
    const hold = (userId: string, saleId: string, token?: string) =>
      t.buyer(userId, "POST", `/v1/sales/${saleId}/reservations`, { itemId: "tee", quantity: 1 }, token === undefined ? {} : { "stampede-admission": token });

    test("everyone who joined before startsAt is drawn in a random order; later joins queue in arrival order; admission follows the queue exactly", async () => {
      const startsAt = Date.now() + 2_000;
      const sale = roomSale("wr-draw", { admitPerSecond: 8 }, { startsAt: new Date(startsAt).toISOString() });
      await expectStatus(await t.admin("POST", "/v1/admin/sales", sale), 201);
      // Paused from the start: the draw happens at startsAt, the admissions only once it resumes.
      await expectStatus(await t.admin("PATCH", "/v1/admin/sales/wr-draw", { paused: true }), 200);
      const early = Array.from({ length: 30 }, (_, i) => `early-${String(i).padStart(2, "0")}`);
      for (const user of early) {
        const waiting = await expectStatus<QueueBody>(await join(user, "wr-draw"), 202);
        expect(waiting.status).toBe("waiting");
        expect(waiting.position).toBeUndefined();
      }
      await Bun.sleep(Math.max(0, startsAt - Date.now()) + 300);
      const late = ["late-0", "late-1", "late-2"];
      const latePositions: number[] = [];
      for (const user of late) latePositions.push((await expectStatus<QueueBody>(await join(user, "wr-draw"), 202)).position ?? -1);
      expect(latePositions).toEqual([31, 32, 33]);
      const drawn = await Promise.all(early.map(async (user) => (await poll(user, "wr-draw")).position ?? -1));
      // A permutation of the first ranks, and not the order they came in (1 chance in 30! of that).
      expect([...drawn].sort((a, b) => a - b)).toEqual(early.map((_, i) => i + 1));
      expect(drawn).not.toEqual(early.map((_, i) => i + 1));

      await expectStatus(await t.admin("PATCH", "/v1/admin/sales/wr-draw", { paused: false }), 200);
      const everyone = [...early, ...late];
      const rank = new Map(everyone.map((user, i) => [user, i < 30 ? (drawn[i] as number) : (latePositions[i - 30] as number)]));
      const admittedInRound = new Map<string, number>();
      for (let round = 0; admittedInRound.size < everyone.length && round < 400; round += 1) {
        const answers = await Promise.all(everyone.filter((u) => !admittedInRound.has(u)).map(async (u) => [u, await poll(u, "wr-draw")] as const));
        for (const [user, answer] of answers) if (answer.status === "admitted") admittedInRound.set(user, round);
        await Bun.sleep(40);
      }
      expect(admittedInRound.size).toBe(everyone.length);
      // Never out of order: whoever is ahead in the queue is admitted no later than whoever is behind.
      const byRank = [...everyone].sort((a, b) => (rank.get(a) as number) - (rank.get(b) as number));
      for (let i = 1; i < byRank.length; i += 1) {
        expect(admittedInRound.get(byRank[i] as string) as number).toBeGreaterThanOrEqual(admittedInRound.get(byRank[i - 1] as string) as number);
      }
    }, 30_000);

    test("admission goes at admitPerSecond", async () => {
      await expectStatus(await t.admin("POST", "/v1/admin/sales", roomSale("wr-pace", { admitPerSecond: 10 })), 201);
      for (let i = 0; i < 60; i += 1) await join(`pace-${i}`, "wr-pace");
      const start = await room("wr-pace");
      const startedAt = Date.now();
      await Bun.sleep(2_000);
      const end = await room("wr-pace");
      const seconds = (Date.now() - startedAt) / 1000;
      const admitted = end.admitted - start.admitted;
      // At most the pace plus one tick either side, and not far below it on a busy machine.
      expect(admitted).toBeLessThanOrEqual(Math.ceil(seconds * 10) + 2);
      expect(admitted).toBeGreaterThanOrEqual(Math.floor(seconds * 10 * 0.6));
      expect(end.waiting + end.admitted).toBe(60);
    });

    test("admission pauses while nothing is available and resumes when held units come back", async () => {
      const sale = roomSale("wr-pause", { admitPerSecond: 50 }, { items: [{ id: "tee", name: "Tee", price: 2500, currency: "USD", stock: 1 }] });
      await expectStatus(await t.admin("POST", "/v1/admin/sales", sale), 201);
      const first = await expectStatus<QueueBody>(await join("h1", "wr-pause"), 200);
      const held = await expectStatus<Reservation>(await hold("h1", "wr-pause", first.admissionToken), 201);
      expect((await expectStatus<QueueBody>(await join("h2", "wr-pause"), 202)).position).toBe(1);
      await Bun.sleep(600);
      expect(await poll("h2", "wr-pause")).toMatchObject({ status: "waiting", position: 1 });
      await expectStatus(await t.buyer("h1", "DELETE", `/v1/sales/wr-pause/reservations/${held.id}`), 200);
      const resumed = await pollUntil(t, "h2", "wr-pause", (b) => b.status === "admitted", 5_000);
      expect(resumed.status).toBe("admitted");
      await expectStatus(await hold("h2", "wr-pause", resumed.admissionToken), 201);
    });

    test("when nothing is available and nothing is held, everyone waiting gets sold_out", async () => {
      const sale = roomSale("wr-sold", { admitPerSecond: 1 }, { items: [{ id: "tee", name: "Tee", price: 2500, currency: "USD", stock: 1 }] });
      await expectStatus(await t.admin("POST", "/v1/admin/sales", sale), 201);
      const first = await expectStatus<QueueBody>(await join("s1", "wr-sold"), 200);
      const held = await expectStatus<Reservation>(await hold("s1", "wr-sold", first.admissionToken), 201);
      for (const user of ["s2", "s3"]) await expectStatus(await join(user, "wr-sold"), 202);
      const paid = { eventId: "wr-sold-1", paymentId: "pay-wr-sold-1", saleId: "wr-sold", reservationId: held.id, status: "succeeded", amount: held.amount, currency: held.currency };
      await expectStatus(await t.webhook(paid), 200);
      for (const user of ["s2", "s3"]) expect((await pollUntil(t, user, "wr-sold", (b) => b.status !== "waiting", 5_000)).status).toBe("sold_out");
      expect(await room("wr-sold")).toMatchObject({ waiting: 0, admitted: 1 });
      await expectProblem(await join("s4", "wr-sold"), 409, "sold_out");
      // Stock that comes back opens the room again, at the back.
      await expectStatus(await t.admin("POST", "/v1/admin/sales/wr-sold/items/tee/stock", { delta: 1 }), 200);
      const again = await pollUntil(t, "s2", "wr-sold", () => true);
      expect(again.status).toBe("sold_out");
      expect((await join("s2", "wr-sold")).status).toBeOneOf([200, 202]);
    });
  });
}

describe("waiting room: admissions that expire, and the limits (1 worker)", () => {
  let t: Target;
  beforeAll(async () => {
    t = await inProcess({ STAMPEDE_RATE_LIMIT_BUYER: "2", STAMPEDE_RATE_LIMIT_ADDRESS: "10" });
  });
  afterAll(async () => {
    await t?.close();
  });

  test("an admission unused for admissionSeconds expires: the buyer is not_joined, the token is refused, joining again goes to the back", async () => {
    await expectStatus(await t.admin("POST", "/v1/admin/sales", roomSale("wr-exp", { admitPerSecond: 1, admissionSeconds: 10 })), 201);
    const admitted = await expectStatus<QueueBody>(await t.buyer("x1", "POST", "/v1/sales/wr-exp/queue"), 200);
    await expectStatus(await t.buyer("x2", "POST", "/v1/sales/wr-exp/queue"), 202);
    t.advance?.(10_500);
    await Bun.sleep(300); // a tick or more, so that x2 is admitted by the moved clock
    expect(await expectStatus<QueueBody>(await t.buyer("x1", "GET", "/v1/sales/wr-exp/queue"), 200)).toEqual({ status: "not_joined" });
    const hold = await t.buyer("x1", "POST", "/v1/sales/wr-exp/reservations", { itemId: "tee", quantity: 1 }, { "stampede-admission": admitted.admissionToken ?? "" });
    await expectProblem(hold, 403, "admission_required");
    await expectStatus(await t.buyer("x3", "POST", "/v1/sales/wr-exp/queue"), 202);
    const back = await expectStatus<QueueBody>(await t.buyer("x1", "POST", "/v1/sales/wr-exp/queue"), 202);
    expect(back.position).toBe(2);
  });

  test("joins take the buyer's limit and polls the address limit (429 with Retry-After)", async () => {
    await expectStatus(await t.admin("POST", "/v1/admin/sales", roomSale("wr-limit", { admitPerSecond: 1 })), 201);
    const joins: number[] = [];
    for (let i = 0; i < 8; i += 1) joins.push((await t.buyer("lim", "POST", "/v1/sales/wr-limit/queue")).status);
    expect(joins).toContain(429);
    const polls: Response[] = [];
    for (let i = 0; i < 40; i += 1) polls.push(await t.buyer(`lim-${i}`, "GET", "/v1/sales/wr-limit/queue"));
    const limited = polls.find((r) => r.status === 429);
    expect(limited?.headers.get("retry-after")).toMatch(/^\d+$/);
    await expectProblem(limited as Response, 429, "rate_limited");
  });
});
