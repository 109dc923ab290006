import { afterAll, beforeAll, expect, test } from "bun:test";
import { type Harness, saleBody, startHarness } from "./support/harness.ts";

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

test("create, hold, pay, read", async () => {
  const created = await h.admin("POST", "/v1/admin/sales", saleBody("drop-1"));
  expect(created.status).toBe(201);
  const codes = await h.admin("POST", "/v1/admin/sales/drop-1/items/gift-50/codes", { codes: ["A-1", "A-2", "A-1"] });
  expect(await codes.json()).toEqual({ added: 2, duplicates: 1 });
  const hold = await h.buyer("alice", "POST", "/v1/sales/drop-1/reservations", { itemId: "gift-50", quantity: 1 });
  expect(hold.status).toBe(201);
  const reservation = (await hold.json()) as { id: string; amount: number };
  const paid = await h.webhook({
    eventId: "evt_1",
    paymentId: "pay_1",
    saleId: "drop-1",
    reservationId: reservation.id,
    status: "succeeded",
    amount: reservation.amount,
    currency: "USD",
  });
  expect(await paid.json()).toEqual({ outcome: "confirmed" });
  const read = await h.buyer("alice", "GET", `/v1/sales/drop-1/reservations/${reservation.id}`);
  const body = (await read.json()) as { status: string; codes: string[] };
  expect(body.status).toBe("confirmed");
  expect(body.codes).toEqual(["A-1"]);
  const admin = (await (await h.admin("GET", "/v1/admin/sales/drop-1")).json()) as { items: { confirmed: number }[] };
  expect(admin.items[1]?.confirmed).toBe(1);
  const list = await h.admin("GET", "/v1/admin/sales/drop-1/reservations");
  expect(((await list.json()) as { reservations: unknown[] }).reservations.length).toBe(1);
  await h.restart();
  const again = await h.buyer("alice", "GET", `/v1/sales/drop-1/reservations/${reservation.id}`);
  expect(((await again.json()) as { codes: string[] }).codes).toEqual(["A-1"]);
});
