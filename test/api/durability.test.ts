// Durability across a restart (API.md: "A 201 means the hold is durable"; DESIGN.md invariants 3
// and 4): everything acknowledged before a graceful restart is there after it, and retries that were
// answered before it are still recognised after it.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type Harness, saleBody, startHarness } from "../support/harness.ts";
import {
  type AdminSale,
  type PaymentRow,
  type Reservation,
  adminSale,
  createSale,
  expectProblem,
  expectStatus,
  held,
  hold,
  outcomeOf,
  paymentFor,
  payments,
  reservationOf,
} from "./helpers.ts";

let h: Harness;
const key = { "idempotency-key": "durable-key-1" };
let keyed: Reservation;
let confirmed: Reservation;
let released: Reservation;
let holding: Reservation;
let refunded: Reservation;
let codes: string[];
let confirmation: ReturnType<typeof paymentFor>;
let viewBefore: AdminSale;
let paymentsBefore: PaymentRow[];
let etagBefore: string;
let documentBefore: unknown;
let etagOfSmallSale: string;

beforeAll(async () => {
  h = await startHarness();
  await createSale(h, saleBody("dur-sale", { limitPerUser: 3, holdSeconds: 900 }));
  // Before the restart: one of everything that must survive it.
  await expectStatus(await h.admin("POST", "/v1/admin/sales/dur-sale/items/gift-50/codes", { codes: ["K-1", "K-2", "K-3"] }), 200);
  await expectStatus(await h.admin("POST", "/v1/admin/sales/dur-sale/items/hoodie-m/stock", { delta: 5 }), 200);
  await expectStatus(await h.admin("PATCH", "/v1/admin/sales/dur-sale", { name: "Durable drop", limitPerUser: 4 }), 200);
  keyed = await expectStatus<Reservation>(await hold(h, "alice", "dur-sale", "hoodie-m", 2, key), 201);
  confirmed = await held(h, "bob", "dur-sale", "gift-50", 2);
  confirmation = paymentFor(confirmed);
  expect(await outcomeOf(await h.webhook(confirmation))).toBe("confirmed");
  codes = (await reservationOf(h, confirmed)).codes;
  expect(codes.length).toBe(2);
  released = await held(h, "carol", "dur-sale", "hoodie-m", 1);
  await expectStatus(await h.buyer("carol", "DELETE", `/v1/sales/dur-sale/reservations/${released.id}`), 200);
  holding = await held(h, "dave", "dur-sale", "hoodie-m", 3);
  refunded = await held(h, "erin", "dur-sale", "hoodie-m", 1);
  expect(await outcomeOf(await h.webhook(paymentFor(refunded, { amount: 1 })))).toBe("refund_required");
  viewBefore = await adminSale(h, "dur-sale");
  paymentsBefore = await payments(h, "dur-sale");
  const publicBefore = await fetch(`${h.url}/v1/sales/dur-sale`);
  etagBefore = publicBefore.headers.get("etag") as string;
  documentBefore = await publicBefore.json();
  // A sale with few events, so that after the restart the same number of events can happen again.
  await createSale(h, saleBody("dur-etag", { limitPerUser: 5 }));
  await held(h, "alice", "dur-etag", "hoodie-m");
  await held(h, "alice", "dur-etag", "hoodie-m");
  etagOfSmallSale = (await fetch(`${h.url}/v1/sales/dur-etag`)).headers.get("etag") as string;
  await h.restart();
});
afterAll(async () => {
  await h.close();
});

describe("after a restart", () => {
  test("the sale, its changes and its exact counts are the same", async () => {
    const view = await adminSale(h, "dur-sale");
    expect(view).toEqual(viewBefore);
    expect(view.name).toBe("Durable drop");
    expect(view.limitPerUser).toBe(4);
    expect(view.items[0]).toMatchObject({ stock: 15, available: 9, held: 6, confirmed: 0 });
    expect(view.items[1]).toMatchObject({ stock: 3, available: 1, held: 0, confirmed: 2 });
  });

  test("every reservation keeps its status, and a confirmation keeps its codes", async () => {
    expect(await reservationOf(h, keyed)).toEqual(keyed);
    expect(await reservationOf(h, holding)).toEqual(holding);
    expect(await reservationOf(h, refunded)).toEqual(refunded);
    expect((await reservationOf(h, released)).status).toBe("released");
    const paid = await reservationOf(h, confirmed);
    expect(paid.status).toBe("confirmed");
    expect(paid.codes).toEqual(codes);
  });

  test("payments are the same, refunds still listed", async () => {
    expect(await payments(h, "dur-sale")).toEqual(paymentsBefore);
    const refunds = await payments(h, "dur-sale", "refund_required");
    expect(refunds.map((p) => [p.reservationId, p.amount, p.outcome])).toEqual([[refunded.id, 1, "refund_required"]]);
  });

  test("a payment retried after the restart is already_confirmed and delivers nothing more", async () => {
    expect(await outcomeOf(await h.webhook(confirmation))).toBe("already_confirmed");
    expect(await outcomeOf(await h.webhook({ ...confirmation, eventId: "evt-after-restart" }))).toBe("already_confirmed");
    expect((await reservationOf(h, confirmed)).codes).toEqual(codes);
    expect((await adminSale(h, "dur-sale")).items[1]).toMatchObject({ available: 1, confirmed: 2 });
  });

  test("an Idempotency-Key answered before the restart replays the same reservation and takes nothing", async () => {
    const replay = await expectStatus<Reservation>(await hold(h, "alice", "dur-sale", "hoodie-m", 2, key), 201);
    expect(replay).toEqual(keyed);
    await expectProblem(await hold(h, "alice", "dur-sale", "hoodie-m", 1, key), 422, "idempotency_key_reused");
    expect((await adminSale(h, "dur-sale")).items[0]).toMatchObject({ available: 9, held: 6 });
  });

  test("codes are never added twice, and the limit still counts what buyers held before", async () => {
    const again = await h.admin("POST", "/v1/admin/sales/dur-sale/items/gift-50/codes", { codes: ["K-1", "K-2", "K-3", "K-4"] });
    expect(await again.json()).toEqual({ added: 1, duplicates: 3 });
    // dave holds 3 of a limit of 4.
    await expectProblem(await hold(h, "dave", "dur-sale", "hoodie-m", 2), 409, "limit_exceeded");
    await held(h, "dave", "dur-sale", "hoodie-m", 1);
  });

  test("the held reservations still release, and their stock returns", async () => {
    const before = (await adminSale(h, "dur-sale")).items[0]?.available as number;
    const released2 = await expectStatus<Reservation>(
      await h.buyer("erin", "DELETE", `/v1/sales/dur-sale/reservations/${refunded.id}`),
      200,
    );
    expect(released2.status).toBe("released");
    expect((await adminSale(h, "dur-sale")).items[0]?.available).toBe(before + 1);
  });

  test("an ETag from before the restart never names a different document", async () => {
    // The document has changed since (a code added, holds placed and released): a 304 would be a lie.
    const response = await fetch(`${h.url}/v1/sales/dur-sale`, { headers: { "if-none-match": etagBefore } });
    expect(response.status).toBe(200);
    const document = await response.json();
    expect(document).not.toEqual(documentBefore);
    const etag = response.headers.get("etag") as string;
    expect(etag).not.toBe(etagBefore);
    expect((await fetch(`${h.url}/v1/sales/dur-sale`, { headers: { "if-none-match": etag } })).status).toBe(304);
    // As many changes after the restart as before it: a tag made of a change counter would repeat.
    await held(h, "bob", "dur-etag", "hoodie-m");
    await held(h, "bob", "dur-etag", "hoodie-m");
    const small = await fetch(`${h.url}/v1/sales/dur-etag`, { headers: { "if-none-match": etagOfSmallSale } });
    expect(small.status).toBe(200);
    expect(((await small.json()) as { items: { available: number }[] }).items[0]?.available).toBe(6);
  });
});
