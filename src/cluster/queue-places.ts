// A worker's memory of where buyers stand in the waiting rooms of sales other workers own, so that a
// poll is answered here, from the sale's copy, instead of going to the owner every time (the
// AWS waiting room's design: position = rank - serving counter). A buyer's rank never changes while
// they wait, and the owner publishes the serving counter with the sale's copy (RoomNumbers), so a
// remembered rank answers every poll until the counter passes it; only then (admitted, or told
// sold_out) and when the room is a new one does the owner hear from this buyer again.
//
// One number per buyer: a rank (> 0), 0 while the buyer waits for the draw, or minus the time the
// buyer's admission expires. Bounded: past PLACES_MAX the memory starts again, and buyers ask their
// owner once more.

import type { QueueAnswer, RoomNumbers } from "../engine/gateway.ts";

/** Buyers remembered over all sales; at about 60 bytes each, a few tens of MiB. */
export const PLACES_MAX = 500_000;

type SalePlaces = { epoch: number; places: Map<string, number> };

export class QueuePlaces {
  private readonly sales = new Map<string, SalePlaces>();
  private count = 0;

  /** The answer this worker can give alone from `room` (the sale's copy), or null to ask the owner. */
  answer(saleId: string, userId: string, room: RoomNumbers, now: number): QueueAnswer | null {
    const sale = this.sales.get(saleId);
    if (sale === undefined || sale.epoch !== room.epoch) return null;
    const value = sale.places.get(userId);
    if (value === undefined) return null;
    if (value === 0) return room.drawn ? null : { ok: true, place: { status: "waiting", rank: 0 }, room, joined: false };
    if (value > 0) {
      if (value > room.served) return { ok: true, place: { status: "waiting", rank: value }, room, joined: false };
      if (value >= room.soldOutFrom && value <= room.soldOutTo) return { ok: true, place: { status: "sold_out" }, room, joined: false };
      return null;
    }
    // Admitted: the token's expiry is all an answer needs; once it has passed the buyer may have joined again.
    return now < -value ? { ok: true, place: { status: "admitted", rank: 0, admissionExpiresAt: -value }, room, joined: false } : null;
  }

  /** Keep what an owner's answer says of the buyer's place, for the polls that follow. */
  remember(saleId: string, userId: string, answer: QueueAnswer): void {
    if (!answer.ok) return;
    const place = answer.place;
    let value: number;
    if (place.status === "waiting") value = place.rank;
    else if (place.status === "admitted" && place.rank <= answer.room.served) value = -place.admissionExpiresAt;
    else return this.forget(saleId, userId);
    let sale = this.sales.get(saleId);
    if (sale === undefined || sale.epoch !== answer.room.epoch) {
      if (sale !== undefined) this.count -= sale.places.size;
      sale = { epoch: answer.room.epoch, places: new Map() };
      this.sales.set(saleId, sale);
    }
    if (!sale.places.has(userId)) {
      if (this.count >= PLACES_MAX) {
        this.sales.clear();
        this.count = 0;
        return this.remember(saleId, userId, answer);
      }
      this.count += 1;
    }
    sale.places.set(userId, value);
  }

  private forget(saleId: string, userId: string): void {
    const sale = this.sales.get(saleId);
    if (sale !== undefined && sale.places.delete(userId)) this.count -= 1;
  }

  get size(): number {
    return this.count;
  }
}
