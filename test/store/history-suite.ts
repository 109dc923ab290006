// The history reads of the Store port, part of the conformance suite: `reservation` (one reservation
// of a sale, any status) and `endedReservationsOfBuyer` (a buyer's ended reservations of a sale; the
// owner lists live holds from memory). Owners answer
// from them once a reservation has left their window of recent ones, so they must agree with what
// the ledger decided, codes of confirmed ones included, and never show one buyer's or one sale's
// reservations to another.

import { expect, test } from "bun:test";
import { formatReservationId } from "../../src/ledger/reservation-id.ts";
import type { Reservation } from "../../src/ledger/types.ts";
import type { Store } from "../../src/store/store.ts";
import { ledgerRun } from "./ledger-run.ts";
import { AWKWARD_USER, scenario } from "./scenario.ts";
import { applyInBatches, entriesOf, freshId } from "./suite-support.ts";

export function runHistorySuite(open: () => Promise<Store>): void {
  test("reservation gives one reservation of the sale in its final state, codes when confirmed", async () => {
    const store = await open();
    const saleId = freshId("sale");
    const { events, reservations, ids } = scenario(saleId);
    await store.apply(freshId("journal"), entriesOf(events));
    for (const expected of reservations) expect(await store.reservation(saleId, expected.id)).toEqual(expected);
    expect((await store.reservation(saleId, ids.r4))?.codes).toEqual(["C-1", "C-2"]);
    // Ids that name nothing: never placed (a well-formed id past the last hold), made up, of another sale.
    expect(await store.reservation(saleId, formatReservationId(saleId, 99, 0))).toBeNull();
    expect(await store.reservation(saleId, `${saleId}.nope`)).toBeNull();
    expect(await store.reservation(freshId("other-sale"), ids.r1)).toBeNull();
  });

  test("endedReservationsOfBuyer lists the buyer's ended reservations of the sale, oldest first, and no one else's", async () => {
    const store = await open();
    const saleId = freshId("sale");
    const otherSaleId = freshId("sale");
    const { events, reservations, ids } = scenario(saleId);
    const journalId = freshId("journal");
    await store.apply(journalId, entriesOf(events));
    // The same buyers in another sale: their reservations there are not this sale's.
    await store.apply(journalId, entriesOf(scenario(otherSaleId).events, events.length + 1));
    const final = (id: string) => reservations.find((r) => r.id === id) as Reservation;
    const ended = (id: string) => (final(id).status === "held" ? [] : [final(id)]);
    expect(await store.endedReservationsOfBuyer(saleId, "alice")).toEqual(ended(ids.r1));
    expect(await store.endedReservationsOfBuyer(saleId, AWKWARD_USER)).toEqual(ended(ids.r2));
    expect(await store.endedReservationsOfBuyer(saleId, "dave")).toEqual(ended(ids.r4));
    expect((await store.endedReservationsOfBuyer(saleId, "dave"))[0]?.codes).toEqual(["C-1", "C-2"]);
    expect(await store.endedReservationsOfBuyer(saleId, "erin")).toEqual(ended(ids.r5));
    expect(await store.endedReservationsOfBuyer(saleId, "mallory")).toEqual([]);
    expect(await store.endedReservationsOfBuyer(freshId("no-sale"), "alice")).toEqual([]);
    const theirs = await store.endedReservationsOfBuyer(otherSaleId, "alice");
    expect(theirs.map((r) => [r.saleId, r.userId])).toEqual(ended(ids.r1).map(() => [otherSaleId, "alice"]));
  });

  test("history reads agree with the ledger for every reservation and buyer (seeded runs)", async () => {
    const store = await open();
    for (const seed of [11, 12, 13]) {
      const saleId = freshId(`seed${seed}`);
      const run = ledgerRun(saleId, seed, 400);
      await applyInBatches(store, freshId("journal"), run.events, run.batchSizes);
      const state = run.ledger.state;
      // The run's window of recent reservations holds every one that ended, so the ledger knows them all.
      const known = run.reservationIds.map((id) => state.findReservation(id) as Reservation);
      expect(known.every((r) => r !== undefined)).toBe(true);
      expect(known.some((r) => r.status === "confirmed" && r.codes.length > 0)).toBe(true);
      for (const expected of known) expect(await store.reservation(saleId, expected.id)).toEqual(expected);
      const buyers = [...new Set(known.map((r) => r.userId))];
      expect(buyers.length).toBeGreaterThan(1);
      for (const userId of buyers) {
        const own = await store.endedReservationsOfBuyer(saleId, userId);
        expect(own).toEqual(known.filter((r) => r.userId === userId && r.status !== "held"));
      }
    }
  });
}
