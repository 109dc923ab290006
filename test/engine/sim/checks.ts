// The simulation's comparisons of the engine and the store with the model (model.ts), run after
// every step, after every recovery and after every full flush of the write-behind.

import { KEEP_RECENT_BATCHES_MS } from "../../../src/engine/background.ts";
import { Unavailable } from "../../../src/engine/gateway.ts";
import { renderReservation } from "../../../src/engine/render.ts";
import { asReservation, diffReservation } from "./clients.ts";
import { check, type Model } from "./model.ts";
import { JOURNAL_ID, type World } from "./world.ts";

const iso = (ms: number) => new Date(ms).toISOString();

/** The owner's memory equals the model: sales, counts (invariant 1), live holds, buyers, codes, payments, the recent window. */
export async function checkOwner(world: World, model: Model): Promise<void> {
  model.sync();
  const owner = world.owner;
  const now = owner.now();
  check(now === world.expectedNow(), () => `engine clock reads ${now}, expected ${world.expectedNow()}`);
  check(now >= model.lastEventAt, () => `engine time ${now} is behind a committed event (${model.lastEventAt})`);
  check(owner.commit.pending.length === 0, "a settled owner has decisions pending");
  const ids = owner.ownedSaleIds().sort().join(",");
  check(ids === [...model.sales.keys()].sort().join(","), () => `owner has sales ${ids}, the journal ${[...model.sales.keys()]}`);
  for (const sale of model.sales.values()) {
    const state = owner.sales.get(sale.id)?.ledger.state;
    check(state !== undefined, "sale missing");
    // The operator's view, as GET /v1/admin/sales/:id serves it.
    const view = await owner.adminSale(sale.id);
    check(view !== null, () => `the owner has no admin view of ${sale.id}`);
    const settings = [view.name, view.startsAt, view.endsAt, view.holdSeconds, view.limitPerUser, view.paused].join("|");
    const expected = [sale.name, iso(sale.startsAt), iso(sale.endsAt), sale.holdSeconds, sale.limitPerUser, sale.paused].join("|");
    check(settings === expected, () => `sale ${sale.id} settings ${settings}, journal ${expected}`);
    check(view.items.length === sale.items.size, "item count");
    for (const item of view.items) {
      const m = sale.items.get(item.id);
      check(m !== undefined, "unknown item");
      check(item.available >= 0 && item.available + item.held + item.confirmed === item.stock, () => `oversold: ${sale.id}/${item.id} ${JSON.stringify(item)}`);
      const counts = `${item.stock}/${item.available}/${item.held}/${item.confirmed}`;
      check(counts === `${m.stock}/${m.available}/${m.held}/${m.confirmed}`, () => `${sale.id}/${item.id} counts ${counts}, journal ${m.stock}/${m.available}/${m.held}/${m.confirmed}`);
      if (m.delivery === "codes") {
        const pool = state.items.get(item.id)?.unassignedCodeList().join(",");
        check(pool === m.pool.join(","), () => `${sale.id}/${item.id} code pool ${pool}, journal ${m.pool}`);
      }
    }
    check(state.holds.size === sale.live.size, () => `${sale.id}: ${state.holds.size} live holds, journal ${sale.live.size}`);
    for (const id of sale.live) {
      const found = state.findReservation(id);
      check(found !== undefined, () => `live hold ${id} missing from the owner`);
      const differs = diffReservation(found, asReservation(model.reservations.get(id) as never));
      check(differs === null, () => `live hold ${id} differs: ${differs}`);
    }
    for (const [index, name] of state.buyers.entries()) {
      check(state.buyers.units[index] === sale.units.get(name), () => `${sale.id}: buyer ${name} has ${state.buyers.units[index]} units, journal ${sale.units.get(name)}`);
    }
    check(state.buyers.size === sale.units.size, () => `${sale.id}: ${state.buyers.size} buyers, journal ${sale.units.size}`);
    check(state.paymentsByEvent.size === sale.payments.size, "payment count");
    check(state.holdSeq === sale.holdSeq, "hold numbering");
  }
  for (const ended of owner.recent.values()) {
    const m = model.reservations.get(ended.id);
    check(m !== undefined, () => `recent reservation ${ended.id} is not in the journal`);
    const differs = diffReservation(ended, asReservation(m));
    check(differs === null, () => `recent reservation ${ended.id} differs: ${differs}`);
  }
}

/** Right after an expiry tick: no hold past its expiresAt is left (invariant 6; the model checked none expired early). */
export function checkExpired(world: World, model: Model): void {
  model.sync();
  const now = world.owner.now();
  for (const sale of model.sales.values()) {
    for (const id of sale.live) {
      const expiresAt = model.reservations.get(id)?.expiresAt ?? 0;
      check(expiresAt > now, () => `hold ${id} still held at ${now}, past its expiresAt ${expiresAt}, after an expiry tick`);
    }
  }
}

/** Read acknowledged reservations back through the owner's buyer reads (live, recent, or from the store). */
export async function readBack(world: World, model: Model, ids: readonly { id: string; saleId: string; userId: string }[]): Promise<number> {
  let read = 0;
  for (const { id, saleId, userId } of ids) {
    let body: string | null;
    try {
      body = await world.owner.reservation(saleId, userId, id);
    } catch (error) {
      check(error instanceof Unavailable, () => `reading ${id} failed: ${String(error)}`);
      continue;
    }
    model.sync();
    const m = model.reservations.get(id);
    check(m !== undefined, () => `acknowledged hold ${id} is not in the journal`);
    check(body === renderReservation(asReservation(m)), () => `reservation ${id} reads back as ${body}, journal ${renderReservation(asReservation(m))}`);
    read += 1;
  }
  return read;
}

/** A buyer's list of reservations (memory merged with the store) is every one the journal has for them, oldest first. */
export async function checkBuyerList(world: World, model: Model, saleId: string, userId: string): Promise<boolean> {
  let body: string | null;
  try {
    body = await world.owner.reservationsOf(saleId, userId);
  } catch (error) {
    check(error instanceof Unavailable, () => `listing ${userId}'s reservations failed: ${String(error)}`);
    return false;
  }
  model.sync();
  const mine = [...model.reservations.values()].filter((r) => r.saleId === saleId && r.userId === userId);
  mine.sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const expected = model.sales.has(saleId) ? `{"reservations":[${mine.map((r) => renderReservation(asReservation(r))).join(",")}]}` : null;
  check(body === expected, () => `${userId}'s reservations in ${saleId} read\n${body}\nthe journal has\n${expected}`);
  return true;
}

/** After a full flush: the store equals the model (counts, settings, codes, live holds, buyers, payments; every reservation when `full`). */
export async function checkStore(world: World, model: Model, full: boolean): Promise<void> {
  model.sync();
  const store = world.storeDirect;
  check((await store.appliedSeq(JOURNAL_ID)) === model.seq, "the store has not applied the whole journal after a full flush");
  const loaded = await store.loadSales(() => true, world.owner.now());
  check(loaded.length === model.sales.size, () => `the store has ${loaded.length} sales, the journal ${model.sales.size}`);
  for (const stored of loaded) {
    const sale = model.sales.get(stored.sale.id);
    check(sale !== undefined, "the store has a sale the journal never created");
    const s = stored.sale;
    const settings = [s.name, s.startsAt, s.endsAt, s.holdSeconds, s.limitPerUser, Boolean(s.paused)].join("|");
    check(settings === [sale.name, sale.startsAt, sale.endsAt, sale.holdSeconds, sale.limitPerUser, sale.paused].join("|"), () => `store settings of ${sale.id}: ${settings}`);
    for (const item of stored.items) {
      const m = sale.items.get(item.id);
      check(m !== undefined, "the store has an unknown item");
      const counts = `${item.stock}/${item.available}/${item.held}/${item.confirmed}`;
      check(counts === `${m.stock}/${m.available}/${m.held}/${m.confirmed}`, () => `store counts of ${sale.id}/${item.id}: ${counts}, journal ${m.stock}/${m.available}/${m.held}/${m.confirmed}`);
      const pool = item.codes.filter((code) => !code.assigned).map((code) => code.code).join(",");
      check(pool === m.pool.join(","), () => `store code pool of ${sale.id}/${item.id}: ${pool}, journal ${m.pool}`);
      check(item.codes.length === m.known.size, "store code count");
    }
    check(stored.holds.length === sale.live.size, () => `the store has ${stored.holds.length} live holds of ${sale.id}, the journal ${sale.live.size}`);
    for (const hold of stored.holds) {
      const m = model.reservations.get(hold.id);
      check(m !== undefined && m.status === "held", () => `the store holds ${hold.id}, which the journal does not`);
      const differs = diffReservation(hold, asReservation(m));
      check(differs === null, () => `stored hold ${hold.id} differs: ${differs}`);
    }
    const units = stored.confirmedUnits.map((u) => `${u.userId}=${u.units}`).sort().join(",");
    const modelUnits = [...sale.confirmedUnits].filter(([, n]) => n > 0).map(([u, n]) => `${u}=${n}`).sort().join(",");
    check(units === modelUnits, () => `store confirmed units of ${sale.id}: ${units}, journal ${modelUnits}`);
    check(stored.payments.length === sale.payments.size, "store payment count");
    for (const payment of stored.payments) {
      const m = sale.payments.get(payment.eventId);
      check(m !== undefined && m.outcome === payment.outcome && m.paymentId === payment.paymentId && m.reservationId === payment.reservationId, () => `stored payment ${payment.eventId} differs`);
    }
    check(stored.holdCount === sale.holdSeq, () => `the store counts ${stored.holdCount} holds of ${sale.id}, the journal ${sale.holdSeq}`);
    if (full) {
      await checkStoredReservations(world, model, sale.id);
      const listed = await store.listPayments(sale.id);
      check(listed.length === sale.payments.size && listed.every((p) => sale.payments.get(p.eventId)?.outcome === p.outcome), () => `the store lists other payments of ${sale.id}`);
    }
  }
}

async function checkStoredReservations(world: World, model: Model, saleId: string): Promise<void> {
  let cursor: string | undefined;
  let count = 0;
  for (;;) {
    const page = await world.storeDirect.listReservations(saleId, cursor === undefined ? { limit: 1000 } : { limit: 1000, cursor });
    for (const stored of page.reservations) {
      const m = model.reservations.get(stored.id);
      check(m !== undefined, () => `the store has reservation ${stored.id}, the journal does not`);
      const differs = diffReservation(stored, asReservation(m));
      check(differs === null, () => `stored reservation ${stored.id} differs: ${differs}`);
      count += 1;
    }
    if (page.nextCursor === null) break;
    cursor = page.nextCursor;
  }
  const expected = model.sales.get(saleId)?.holdSeq ?? 0;
  check(count === expected, () => `the store lists ${count} reservations of ${saleId}, the journal ${expected}`);
}

/**
 * After a full flush and a snapshot of every sale: the journal holds only the batches of the recent
 * window (recovery's token look-back), so its size stays bounded however many holds came before.
 */
export function checkJournalBounded(world: World, model: Model): void {
  model.sync();
  const since = model.lastCommittedAt - KEEP_RECENT_BATCHES_MS;
  const recent = model.batches.filter((batch) => batch.committedAt >= since).length;
  const { batches } = world.process.journal.size();
  check(batches === recent, () => `the journal keeps ${batches} batches after a flush and snapshots; the recent window has ${recent}`);
}
