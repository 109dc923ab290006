// A waiting room that must survive a move of its sale through the store (a change of the number of
// workers, a node's failover): buyers drawn in the lottery at startsAt, later ones queued in arrival
// order, a few admitted, and then the sale paused, so that nothing moves while the sale does. What
// every buyer was told before the move must be what they are told after it: the same position, the
// same admission token (it carries the admission's lapse time). Then the sale resumes and the room
// goes on: an admitted buyer holds with their token, and the next in the queue is the next admitted.

import { expect } from "bun:test";
import { tokenFor } from "./buyers.ts";
import { SECRETS } from "./harness.ts";

const ADMIN = { authorization: `Bearer ${SECRETS.STAMPEDE_ADMIN_TOKEN}`, "content-type": "application/json" };

export type QueueAnswer = { status: string; position?: number; admissionToken?: string; admissionExpiresAt?: string };
/** What a buyer is told, without the estimate (it follows the pace, which a paused sale does not use). */
export type Told = Map<string, Pick<QueueAnswer, "status" | "position" | "admissionToken" | "admissionExpiresAt">>;

/** A request answered with anything but 503 (the sale may be moving), within `timeoutMs`. */
async function settled(url: string, init: RequestInit, timeoutMs = 20_000): Promise<Response> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let response: Response | null = null;
    try {
      response = await fetch(url, { ...init, signal: AbortSignal.timeout(5_000) });
    } catch {}
    if (response !== null && response.status !== 503) return response;
    await response?.arrayBuffer();
    if (Date.now() > deadline) throw new Error(`${init.method ?? "GET"} ${url}: no answer but 503 within ${timeoutMs} ms`);
    await Bun.sleep(100);
  }
}

const admin = (url: string, method: string, path: string, body?: unknown) =>
  settled(`${url}${path}`, { method, headers: ADMIN, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
const queue = (url: string, saleId: string, userId: string, method: "POST" | "GET") =>
  settled(`${url}/v1/sales/${saleId}/queue`, { method, headers: { authorization: `Bearer ${tokenFor(userId)}` } });

async function expectStatus(response: Response, status: number): Promise<unknown> {
  const text = await response.text();
  expect({ status: response.status, text }).toMatchObject({ status });
  return text === "" ? null : JSON.parse(text);
}

async function room(url: string, saleId: string): Promise<{ waiting: number; admitted: number }> {
  return ((await expectStatus(await admin(url, "GET", `/v1/admin/sales/${saleId}`), 200)) as { waitingRoom: { waiting: number; admitted: number } }).waitingRoom;
}

export const EARLY = Array.from({ length: 12 }, (_, i) => `early-${i}`);
export const LATE = ["late-0", "late-1", "late-2"];

/** The room as every buyer is told it now. */
export async function told(url: string, saleId: string): Promise<Told> {
  const answers: Told = new Map();
  for (const userId of [...EARLY, ...LATE]) {
    const { status, position, admissionToken, admissionExpiresAt } = (await expectStatus(await queue(url, saleId, userId, "GET"), 200)) as QueueAnswer;
    answers.set(userId, { status, position, admissionToken, admissionExpiresAt });
  }
  return answers;
}

/** Create the sale, fill its room (a draw, later joins, a few admissions) and pause it; returns what each buyer is told. */
export async function frozenRoom(url: string, saleId: string): Promise<Told> {
  const startsAt = Date.now() + 1_500;
  const sale = {
    id: saleId,
    name: "Room that moves",
    startsAt: new Date(startsAt).toISOString(),
    items: [{ id: "tee", name: "Tee", price: 2_500, currency: "USD", stock: 100 }],
    waitingRoom: { admitPerSecond: 4, admissionSeconds: 600 },
  };
  await expectStatus(await admin(url, "POST", "/v1/admin/sales", sale), 201);
  await expectStatus(await admin(url, "PATCH", `/v1/admin/sales/${saleId}`, { paused: true }), 200);
  for (const userId of EARLY) await expectStatus(await queue(url, saleId, userId, "POST"), 202);
  await Bun.sleep(Math.max(0, startsAt - Date.now()) + 400);
  // Joins after the draw queue behind everyone drawn, in arrival order.
  for (const [i, userId] of LATE.entries()) {
    expect(((await expectStatus(await queue(url, saleId, userId, "POST"), 202)) as QueueAnswer).position).toBe(EARLY.length + i + 1);
  }
  // A few admissions at the room's pace, then nothing moves while paused.
  await expectStatus(await admin(url, "PATCH", `/v1/admin/sales/${saleId}`, { paused: false }), 200);
  const deadline = Date.now() + 10_000;
  while ((await room(url, saleId)).admitted < 3 && Date.now() < deadline) await Bun.sleep(50);
  await expectStatus(await admin(url, "PATCH", `/v1/admin/sales/${saleId}`, { paused: true }), 200);
  const before = await told(url, saleId);
  const statuses = [...before.values()].map((answer) => answer.status);
  expect(statuses.filter((status) => status === "admitted").length).toBeGreaterThanOrEqual(3);
  expect(statuses.filter((status) => status === "waiting").length).toBeGreaterThanOrEqual(5);
  return before;
}

/** After the move: every buyer is told what they were told before; the room's counts are the same. */
export async function expectRoomKept(url: string, saleId: string, before: Told): Promise<void> {
  const after = await told(url, saleId);
  expect(after).toEqual(before);
  const waiting = [...before.values()].filter((answer) => answer.status === "waiting").length;
  expect(await room(url, saleId)).toMatchObject({ waiting, admitted: before.size - waiting });
}

/** The sale resumes: an admitted buyer holds with their token; the first one waiting is admitted next. */
export async function expectRoomGoesOn(url: string, saleId: string, before: Told): Promise<void> {
  await expectStatus(await admin(url, "PATCH", `/v1/admin/sales/${saleId}`, { paused: false }), 200);
  const [admittedUser, admitted] = [...before.entries()].find(([, answer]) => answer.status === "admitted") ?? [];
  const hold = await settled(`${url}/v1/sales/${saleId}/reservations`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${tokenFor(admittedUser as string)}`,
      "content-type": "application/json",
      "stampede-admission": admitted?.admissionToken as string,
    },
    body: JSON.stringify({ itemId: "tee", quantity: 1 }),
  });
  await expectStatus(hold, 201);
  const waiting = [...before.entries()].filter(([, answer]) => answer.status === "waiting");
  const [first] = waiting.sort(([, a], [, b]) => (a.position as number) - (b.position as number))[0] ?? [];
  const [last] = waiting[waiting.length - 1] ?? [];
  const deadline = Date.now() + 10_000;
  let answer: QueueAnswer = { status: "waiting" };
  while (answer.status === "waiting" && Date.now() < deadline) {
    answer = (await expectStatus(await queue(url, saleId, first as string, "GET"), 200)) as QueueAnswer;
    if (answer.status === "waiting") await Bun.sleep(100);
  }
  expect(answer.status).toBe("admitted");
  // Strictly in order: the last in the queue is still behind.
  const behind = (await expectStatus(await queue(url, saleId, last as string, "GET"), 200)) as QueueAnswer;
  expect(behind.status === "waiting" || first === last).toBe(true);
}
