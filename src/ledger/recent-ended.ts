// A bounded window of recently ended reservations (confirmed, released, expired), shared by the sales
// of one owner. A hold that ends leaves the hot tables; for a while its buyer still reads it, a late
// payment still finds it, a release still answers `not_held`, from here. Past the window the system
// of record has it (the owner looks there). The bound is on entries, so memory stays flat however
// many holds end (DESIGN.md, "Bounded and self-sufficient").
//
// Nothing the ledger applies depends on this window: an ended reservation only informs decisions,
// and the owner supplies one from the store when the window has let it go.

import type { Reservation } from "./types.ts";

/** Default size: a few MiB of recent history per owner. */
export const RECENT_ENDED_DEFAULT = 32_768;

export class RecentEnded {
  private readonly ring: (Reservation | undefined)[];
  private next = 0;
  private readonly byId = new Map<string, Reservation>();

  constructor(readonly capacity = RECENT_ENDED_DEFAULT) {
    this.ring = new Array(capacity);
  }

  get size(): number {
    return this.byId.size;
  }

  /** Remember an ended reservation, or update the one remembered under its id (a late confirmation). */
  put(reservation: Reservation): void {
    const known = this.byId.get(reservation.id);
    if (known !== undefined) {
      Object.assign(known, reservation);
      return;
    }
    const evicted = this.ring[this.next];
    if (evicted !== undefined) this.byId.delete(evicted.id);
    this.ring[this.next] = reservation;
    this.next = (this.next + 1) % this.capacity;
    this.byId.set(reservation.id, reservation);
  }

  get(id: string): Reservation | undefined {
    return this.byId.get(id);
  }

  /** Every remembered reservation, oldest first (for tests and snapshots). */
  *values(): Generator<Reservation> {
    for (let i = 0; i < this.capacity; i += 1) {
      const reservation = this.ring[(this.next + i) % this.capacity];
      if (reservation !== undefined && this.byId.get(reservation.id) === reservation) yield reservation;
    }
  }
}
