// The waiting room of one sale (API.md, "Waiting room"): a fair queue in front of its stock, as the
// AWS virtual waiting room runs one. Each buyer who joins gets a place; a place after the draw has a
// rank, and a serving counter (`served`) admits ranks in order at the room's pace. Everyone who joins
// before startsAt waits for the draw, which gives them ranks in a random order at startsAt (the seed
// comes from outside the ledger, in the event, so a replay draws the same order); after it, ranks
// go first come, first served.
//
// State only, changed by the events SaleState.apply hands here; the decisions are queue-ledger.ts.
// Dense like the hold table: a place is a row of typed arrays named by an interned buyer, about 60
// bytes plus the name, never an object per waiting buyer.
//
// The pace is a token bucket kept exactly: `credit` grows at admitPerSecond while the sale is open,
// not paused and has units available, up to one second's worth, and each admission spends one. It
// counts thousandths of an admission, in integers (event times are whole milliseconds), so no
// rounding ever decides an admission. Every event first brings the credit up to its own time
// (accrue), with the sale as it was before the event, so live decisions and a replay of the journal
// compute the same credit.

import { grownCapacity } from "./hold-table.ts";
import { invariant } from "./invariant.ts";
import { NameIndex, type NameIndexImage } from "./name-index.ts";
import type { WaitingRoomSettings } from "./types.ts";

/** API.md defaults. */
export const ADMISSION_SECONDS_DEFAULT = 600;
export const OPENS_SECONDS_BEFORE_DEFAULT = 900;
/** The bucket holds at most this many seconds of admissions: an idle room admits a burst of that size. */
export const PACE_BURST_SECONDS = 1;
/** Credit of one admission: the credit counts thousandths (an admission a second is one a millisecond). */
export const CREDIT_PER_ADMISSION = 1000;
/** Most ranks one admission event admits, so that one tick's transaction stays bounded. */
export const ADMIT_BATCH_MAX = 50_000;
/** Ranks are Int32: a room takes at most this many joins over its life. */
export const RANKS_MAX = 2 ** 31 - 2;

/** Where a buyer's place is. */
export const enum Place {
  Free = 0,
  /** Joined before the draw: no rank yet. */
  Drawing = 1,
  Waiting = 2,
  Admitted = 3,
  SoldOut = 4,
}

/** What a sale tells its room about itself: when it may admit, and whether it has units. */
export type RoomSale = { startsAt: number; endsAt: number; paused: boolean; anyAvailable(): boolean };

/** A buyer's place as reads need it. `rank` 0 while the buyer waits for the draw. */
export type PlaceView =
  | { status: "not_joined" }
  | { status: "waiting"; rank: number; joinedAt: number }
  | { status: "admitted"; rank: number; admissionExpiresAt: number }
  | { status: "sold_out"; rank: number };

type Arrays = { status: Uint8Array; rank: Int32Array; joinedAt: Float64Array; admissionExpiresAt: Float64Array };

export class WaitingRoom {
  settings: WaitingRoomSettings;
  /** Which room of the sale this is: turning the room off and on again starts a new one. */
  readonly epoch: number;
  names = new NameIndex();
  private places: Arrays;
  /** order[rank - 1] is the place holding that rank. */
  private order: Int32Array = new Int32Array(64);
  /** Places waiting for the draw, in the order they joined. */
  private drawing: Int32Array = new Int32Array(64);
  drawingCount = 0;
  drawn: boolean;
  /** The next rank to give; ranks below it are given. */
  nextRank = 1;
  /** The serving counter: every rank at or below it has been admitted or told sold_out. */
  served = 0;
  /** Admissions issued over the room's life. */
  admitted = 0;
  /** The ranks the latest sell-out reached, [from, to] (0, 0: none). Read by copies of the sale. */
  soldOutFrom = 0;
  soldOutTo = 0;
  /** Thousandths of an admission saved up (CREDIT_PER_ADMISSION): an integer. */
  credit = 0;
  /** The time the credit was last brought up to. */
  paceAt: number;

  constructor(settings: WaitingRoomSettings, epoch: number, at: number, drawn: boolean) {
    this.settings = settings;
    this.epoch = epoch;
    this.paceAt = at;
    this.drawn = drawn;
    this.places = makeArrays(64);
    // A bucket starts full: a room opened on a sale already selling admits its first buyers at once
    // (API.md: "200 admitted at once when nobody waits"). A room waiting for startsAt starts empty
    // and fills from then, so the draw's crowd is admitted at the pace from the first second.
    this.credit = drawn ? settings.admitPerSecond * PACE_BURST_SECONDS * CREDIT_PER_ADMISSION : 0;
  }

  /** New settings apply from now on: the credit saved so far stays, within the new bucket's size. */
  changeSettings(settings: WaitingRoomSettings): void {
    this.settings = settings;
    this.credit = Math.min(this.credit, settings.admitPerSecond * PACE_BURST_SECONDS * CREDIT_PER_ADMISSION);
  }

  /** Buyers in the queue: waiting for the draw or for their rank. */
  get waiting(): number {
    return this.drawingCount + this.waitingRanked;
  }

  /** Buyers with a rank not yet admitted. */
  get waitingRanked(): number {
    return this.nextRank - 1 - this.served;
  }

  get size(): number {
    return this.names.size;
  }

  /** Whole admissions the credit at `at` pays for. */
  admissionsAt(sale: RoomSale, at: number): number {
    return Math.floor(this.creditAt(sale, at) / CREDIT_PER_ADMISSION);
  }

  /** The credit at `at` without changing it: what an admission decided at `at` may spend. */
  creditAt(sale: RoomSale, at: number): number {
    if (at <= this.paceAt) return this.credit;
    const from = Math.max(this.paceAt, sale.startsAt);
    const to = Math.min(at, sale.endsAt);
    if (to <= from || sale.paused || !sale.anyAvailable()) return this.credit;
    const rate = this.settings.admitPerSecond;
    return Math.min(rate * PACE_BURST_SECONDS * CREDIT_PER_ADMISSION, this.credit + (to - from) * rate);
  }

  /** Bring the credit up to `at` (every event does, before its own effect). */
  accrue(sale: RoomSale, at: number): void {
    if (at <= this.paceAt) return;
    this.credit = this.creditAt(sale, at);
    this.paceAt = at;
  }

  place(userId: string, now: number): PlaceView {
    const index = this.names.find(userId);
    return index === -1 ? { status: "not_joined" } : this.placeOf(index, now);
  }

  placeOf(index: number, now: number): PlaceView {
    const { status, rank, joinedAt, admissionExpiresAt } = this.places;
    switch (status[index] as Place) {
      case Place.Drawing:
        return { status: "waiting", rank: 0, joinedAt: joinedAt[index] as number };
      case Place.Waiting:
        return { status: "waiting", rank: rank[index] as number, joinedAt: joinedAt[index] as number };
      case Place.Admitted: {
        const expiresAt = admissionExpiresAt[index] as number;
        // An admission unused for admissionSeconds is gone: the buyer may join again, at the back.
        return now < expiresAt ? { status: "admitted", rank: rank[index] as number, admissionExpiresAt: expiresAt } : { status: "not_joined" };
      }
      case Place.SoldOut:
        return { status: "sold_out", rank: rank[index] as number };
      default:
        return { status: "not_joined" };
    }
  }

  /** When the place of the buyer at `rank` joined (for the time-in-queue metric). */
  joinedAtOfRank(rank: number): number {
    return this.places.joinedAt[this.order[rank - 1] as number] as number;
  }

  applyJoined(userId: string, at: number, rank: number, admitted: boolean): void {
    const index = this.names.intern(userId);
    if (index >= this.places.status.length) this.places = growArrays(this.places, this.names.capacity);
    const { status, joinedAt, admissionExpiresAt } = this.places;
    const previous = status[index] as Place;
    invariant(
      previous === Place.Free || previous === Place.SoldOut || (previous === Place.Admitted && at >= (admissionExpiresAt[index] as number)),
      () => `buyer ${userId} joined the queue while holding a place in it`,
    );
    joinedAt[index] = at;
    if (rank === 0) {
      invariant(!this.drawn && !admitted, "a join after the draw waits for no draw");
      if (this.drawingCount === this.drawing.length) this.drawing = growInt(this.drawing);
      this.drawing[this.drawingCount] = index;
      this.drawingCount += 1;
      status[index] = Place.Drawing;
      return;
    }
    invariant(this.drawn && rank === this.nextRank, () => `join ranked ${rank}, not the next rank ${this.nextRank}`);
    this.giveRank(index, rank);
    if (admitted) {
      invariant(this.served === rank - 1, "a join admitted at once while others wait");
      invariant(this.credit >= CREDIT_PER_ADMISSION, "a join admitted at once past the room's pace");
      this.admit(index, at);
      this.served = rank;
      this.credit -= CREDIT_PER_ADMISSION;
    }
  }

  /** The lottery: everyone who joined before the draw gets the next ranks, in the seed's order. */
  applyDrawn(seed: number): void {
    invariant(!this.drawn, "the queue was drawn twice");
    const list = this.drawing;
    shuffleDrawn(list, this.drawingCount, seed);
    for (let i = 0; i < this.drawingCount; i += 1) this.giveRank(list[i] as number, this.nextRank);
    this.drawingCount = 0;
    this.drawing = new Int32Array(64);
    this.drawn = true;
  }

  applyAdmitted(at: number, count: number): void {
    invariant(count >= 1 && count <= this.waitingRanked, () => `admission of ${count} with ${this.waitingRanked} ranked`);
    invariant(this.credit >= count * CREDIT_PER_ADMISSION, () => `admission of ${count} past the pace (credit ${this.credit})`);
    for (let rank = this.served + 1; rank <= this.served + count; rank += 1) this.admit(this.order[rank - 1] as number, at);
    this.served += count;
    this.credit -= count * CREDIT_PER_ADMISSION;
  }

  applySoldOut(): void {
    const { status } = this.places;
    for (let rank = this.served + 1; rank < this.nextRank; rank += 1) {
      const index = this.order[rank - 1] as number;
      invariant(status[index] === Place.Waiting, "a ranked place below the next rank is not waiting");
      status[index] = Place.SoldOut;
    }
    for (let i = 0; i < this.drawingCount; i += 1) status[this.drawing[i] as number] = Place.SoldOut;
    this.soldOutFrom = this.served + 1;
    this.soldOutTo = this.nextRank - 1;
    this.served = this.nextRank - 1;
    this.drawingCount = 0;
  }

  private giveRank(index: number, rank: number): void {
    invariant(rank <= RANKS_MAX, "the queue ran out of ranks");
    if (rank > this.order.length) this.order = growInt(this.order, rank);
    this.order[rank - 1] = index;
    this.places.rank[index] = rank;
    this.places.status[index] = Place.Waiting;
    this.nextRank = rank + 1;
  }

  private admit(index: number, at: number): void {
    const { status, admissionExpiresAt } = this.places;
    invariant(status[index] === Place.Waiting, "admitted a place that was not waiting");
    status[index] = Place.Admitted;
    admissionExpiresAt[index] = at + this.settings.admissionSeconds * 1000;
    this.admitted += 1;
  }

  /** Check every count against the places themselves: after loading, replaying, and in tests. */
  assertAll(): void {
    const { status, rank } = this.places;
    let drawing = 0;
    let ranked = 0;
    for (let index = 0; index < this.names.size; index += 1) {
      const place = status[index] as Place;
      if (place === Place.Drawing) drawing += 1;
      if (place === Place.Waiting) {
        ranked += 1;
        const r = rank[index] as number;
        invariant(r > this.served && r < this.nextRank && this.order[r - 1] === index, "a waiting place's rank disagrees with the order");
      }
    }
    invariant(drawing === this.drawingCount, "places waiting for the draw disagree with the draw's list");
    invariant(ranked === this.waitingRanked, "ranked places disagree with the serving counter");
    invariant(!this.drawn || this.drawingCount === 0, "places wait for a draw that took place");
    invariant(this.admitted <= this.served, "the room admitted more than it served");
    invariant(Number.isSafeInteger(this.credit) && this.credit >= 0, "the room's credit is not a whole count of thousandths");
  }

  /** Bytes of memory the room's arrays take (the memory test; a million waiting buyers fit 150 MB). */
  get bytes(): number {
    const p = this.places;
    return this.names.bytes + p.status.byteLength + p.rank.byteLength + p.joinedAt.byteLength + p.admissionExpiresAt.byteLength + this.order.byteLength + this.drawing.byteLength;
  }

  save(): RoomImage {
    const n = this.names.size;
    const p = this.places;
    return {
      header: {
        settings: this.settings,
        epoch: this.epoch,
        drawn: this.drawn,
        drawingCount: this.drawingCount,
        nextRank: this.nextRank,
        served: this.served,
        admitted: this.admitted,
        soldOut: [this.soldOutFrom, this.soldOutTo],
        credit: this.credit,
        paceAt: this.paceAt,
      },
      names: this.names.save(),
      status: p.status.subarray(0, n),
      rank: p.rank.subarray(0, n),
      joinedAt: p.joinedAt.subarray(0, n),
      admissionExpiresAt: p.admissionExpiresAt.subarray(0, n),
      order: this.order.subarray(0, this.nextRank - 1),
      drawing: this.drawing.subarray(0, this.drawingCount),
    };
  }

  /**
   * A room rebuilt from what the store keeps (restore.ts): its counters and every place, each at its
   * rank or its position in the draw's list. Ranks no place holds any more (the buyer joined again)
   * are below the serving counter, where nothing reads the order.
   */
  static fromPlaces(header: RoomHeader, places: readonly StoredPlace[]): WaitingRoom {
    const room = WaitingRoom.withCounters(header);
    room.order = new Int32Array(Math.max(64, header.nextRank - 1));
    room.drawing = new Int32Array(Math.max(64, header.drawingCount));
    for (const place of places) {
      const index = room.names.intern(place.userId);
      if (index >= room.places.status.length) room.places = growArrays(room.places, room.names.capacity);
      const { status, rank, joinedAt, admissionExpiresAt } = room.places;
      status[index] = PLACE_OF_STATUS[place.status];
      rank[index] = place.rank;
      joinedAt[index] = place.joinedAt;
      admissionExpiresAt[index] = place.admissionExpiresAt;
      if (place.status === "drawing") {
        invariant(place.drawingPosition >= 0 && place.drawingPosition < header.drawingCount, "a stored place waits for the draw outside its list");
        room.drawing[place.drawingPosition] = index;
      } else if (place.rank > 0) {
        invariant(place.rank < header.nextRank, "a stored place holds a rank not given yet");
        room.order[place.rank - 1] = index;
      }
    }
    room.assertAll();
    return room;
  }

  /**
   * A room with the header's counters and no places yet: load and fromPlaces add them; the store's
   * fold (store/queue-fold.ts) follows the counters alone, its places being rows.
   */
  static withCounters(header: RoomHeader): WaitingRoom {
    const room = new WaitingRoom(header.settings, header.epoch, header.paceAt, header.drawn);
    room.drawingCount = header.drawingCount;
    room.nextRank = header.nextRank;
    room.served = header.served;
    room.admitted = header.admitted;
    [room.soldOutFrom, room.soldOutTo] = header.soldOut;
    room.credit = header.credit;
    return room;
  }

  static load(image: RoomImage): WaitingRoom {
    const room = WaitingRoom.withCounters(image.header);
    room.names = NameIndex.load(image.names);
    room.places = growArrays(makeArrays(0), room.names.capacity);
    room.places.status.set(image.status);
    room.places.rank.set(image.rank);
    room.places.joinedAt.set(image.joinedAt);
    room.places.admissionExpiresAt.set(image.admissionExpiresAt);
    room.order = new Int32Array(Math.max(64, Math.ceil(image.order.length * 1.25)));
    room.order.set(image.order);
    room.drawing = new Int32Array(Math.max(64, image.drawing.length));
    room.drawing.set(image.drawing);
    invariant(image.status.length === room.names.size, "a room image has places and names of different counts");
    room.assertAll();
    return room;
  }
}

export type RoomHeader = {
  settings: WaitingRoomSettings;
  epoch: number;
  drawn: boolean;
  drawingCount: number;
  nextRank: number;
  served: number;
  admitted: number;
  soldOut: [number, number];
  credit: number;
  paceAt: number;
};

/** A place as the store keeps it: `drawingPosition` is its index in the draw's list while it waits for the draw. */
export type StoredPlace = {
  userId: string;
  status: PlaceStatus;
  rank: number;
  joinedAt: number;
  admissionExpiresAt: number;
  drawingPosition: number;
};

/** Place names as the store writes them. */
export type PlaceStatus = "drawing" | "waiting" | "admitted" | "sold_out";

const PLACE_OF_STATUS: Record<PlaceStatus, Place> = {
  drawing: Place.Drawing,
  waiting: Place.Waiting,
  admitted: Place.Admitted,
  sold_out: Place.SoldOut,
};

export type RoomImage = {
  header: RoomHeader;
  names: NameIndexImage;
  status: Uint8Array;
  rank: Int32Array;
  joinedAt: Float64Array;
  admissionExpiresAt: Float64Array;
  order: Int32Array;
  drawing: Int32Array;
};

function makeArrays(capacity: number): Arrays {
  return {
    status: new Uint8Array(capacity),
    rank: new Int32Array(capacity),
    joinedAt: new Float64Array(capacity),
    admissionExpiresAt: new Float64Array(capacity),
  };
}

function growArrays(from: Arrays, capacity: number): Arrays {
  const to = makeArrays(capacity);
  to.status.set(from.status);
  to.rank.set(from.rank);
  to.joinedAt.set(from.joinedAt);
  to.admissionExpiresAt.set(from.admissionExpiresAt);
  return to;
}

function growInt(from: Int32Array, atLeast = 0): Int32Array {
  const to = new Int32Array(Math.max(atLeast, grownCapacity(from.length)));
  to.set(from);
  return to;
}

/**
 * The draw's order: the first `count` entries of `list` shuffled in place by Fisher-Yates from `seed`
 * (every order equally likely). It depends on the count and the seed alone, so the store, which
 * knows each drawing place's position in the list, computes the same ranks (store/queue-fold.ts).
 */
export function shuffleDrawn(list: Int32Array, count: number, seed: number): void {
  const random = mulberry32(seed);
  for (let i = count - 1; i > 0; i -= 1) {
    const j = Math.floor(random() * (i + 1));
    const swap = list[i] as number;
    list[i] = list[j] as number;
    list[j] = swap;
  }
}

/** A small seeded generator (Mulberry32): the draw's order depends on the seed alone. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
