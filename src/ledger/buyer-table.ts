// The buyers of one sale who hold or own units, interned: each gets a small index, its units (held
// plus confirmed, invariant 2) and the head of its list of live holds, in typed arrays. Names live
// in one arena of UTF-16 code units behind an open-addressing hash table, so a buyer costs about
// 50 bytes instead of a retained string, a Map entry and an array. A buyer whose units drop to 0
// (every hold ended unpaid) leaves the table: memory follows live holds and owners, not history.

import { NO_ROW, grownCapacity } from "./hold-table.ts";
import { invariant } from "./invariant.ts";

/** Longest buyer id (API.md: the JWT `sub`, checked to 256 characters by buyer-token.ts). */
export const BUYER_NAME_LENGTH_MAX = 256;
const EMPTY = 0;

export class BuyerTable {
  /** Open addressing, linear probing: buyer index + 1, or EMPTY. Kept at most half full. */
  private slots: Int32Array;
  private mask: number;
  private hashOf: Int32Array;
  private nameStart: Int32Array;
  private nameLength: Uint16Array;
  /** Units held plus confirmed, per buyer (invariant 2). */
  units: Int32Array;
  /** First live hold row of the buyer (HoldTable.nextOfBuyer links the rest), or NO_ROW. */
  liveHead: Int32Array;
  private arena: Uint16Array;
  private arenaUsed = 0;
  /** Code units in the arena that belong to buyers who left; compacted once they are most of it. */
  private arenaGarbage = 0;
  /** Buyer indexes handed out at least once; freed ones form a stack threaded through liveHead. */
  private highWater = 0;
  private freeHead = NO_ROW;
  private count = 0;
  // The ledger looks a buyer up when it decides and again when it applies the event: one entry of
  // memory saves the second hash and compare on the hot path.
  private memoName: string | null = null;
  private memoIndex = -1;

  constructor(capacity = 64) {
    const slots = nextPowerOfTwo(capacity * 2);
    this.slots = new Int32Array(slots);
    this.mask = slots - 1;
    this.hashOf = new Int32Array(capacity);
    this.nameStart = new Int32Array(capacity);
    this.nameLength = new Uint16Array(capacity);
    this.units = new Int32Array(capacity);
    this.liveHead = new Int32Array(capacity);
    this.arena = new Uint16Array(capacity * 16);
  }

  /** Buyers in the table. */
  get size(): number {
    return this.count;
  }

  /** The index of `name`, or -1 when the buyer holds and owns nothing. */
  find(name: string): number {
    if (name === this.memoName) return this.memoIndex;
    const hash = hashName(name);
    for (let slot = hash & this.mask; ; slot = (slot + 1) & this.mask) {
      const entry = this.slots[slot] as number;
      if (entry === EMPTY) return -1;
      const index = entry - 1;
      if (this.hashOf[index] === hash && this.nameIs(index, name)) {
        this.memoName = name;
        this.memoIndex = index;
        return index;
      }
    }
  }

  /** Units `name` holds plus owns (0 for a buyer not in the table). */
  unitsOf(name: string): number {
    const index = this.find(name);
    return index === -1 ? 0 : (this.units[index] as number);
  }

  /** The index of `name`, adding the buyer (with 0 units and no holds) when absent. */
  intern(name: string): number {
    const found = this.find(name);
    if (found !== -1) return found;
    invariant(name.length > 0 && name.length <= BUYER_NAME_LENGTH_MAX, "buyer id of a bad length");
    let index: number;
    if (this.freeHead !== NO_ROW) {
      index = this.freeHead;
      this.freeHead = this.liveHead[index] as number;
    } else {
      index = this.highWater;
      if (index === this.hashOf.length) this.growBuyers();
      this.highWater += 1;
    }
    if (this.arenaUsed + name.length > this.arena.length) this.growArena(name.length);
    const hash = hashName(name);
    this.hashOf[index] = hash;
    this.nameStart[index] = this.arenaUsed;
    this.nameLength[index] = name.length;
    for (let i = 0; i < name.length; i += 1) this.arena[this.arenaUsed + i] = name.charCodeAt(i);
    this.arenaUsed += name.length;
    this.units[index] = 0;
    this.liveHead[index] = NO_ROW;
    this.count += 1;
    // A rehash places every named buyer, this one included; otherwise it goes in by itself.
    if (this.count * 2 > this.slots.length) this.rehash(this.slots.length * 2);
    else this.insertSlot(index, hash);
    this.memoName = name;
    this.memoIndex = index;
    return index;
  }

  /** The buyer leaves the table; only a buyer with no units and no live hold may. */
  release(index: number): void {
    invariant(this.units[index] === 0 && this.liveHead[index] === NO_ROW, "a buyer with units left the buyer table");
    this.removeSlot(index);
    this.arenaGarbage += this.nameLength[index] as number;
    this.nameLength[index] = 0;
    this.liveHead[index] = this.freeHead;
    this.freeHead = index;
    this.count -= 1;
    this.memoName = null;
    if (this.arenaGarbage > 4096 && this.arenaGarbage * 2 > this.arenaUsed) this.compactArena();
  }

  name(index: number): string {
    const start = this.nameStart[index] as number;
    return String.fromCharCode(...this.arena.subarray(start, start + (this.nameLength[index] as number)));
  }

  /** The index of every buyer in the table. */
  *indexes(): Generator<number> {
    for (let slot = 0; slot < this.slots.length; slot += 1) {
      const entry = this.slots[slot] as number;
      if (entry !== EMPTY) yield entry - 1;
    }
  }

  /**
   * Every buyer's index in the table, in one array: what a loop over half a million buyers at
   * recovery wants (a generator's resumption per buyer was a third of the recovery's assertions).
   */
  liveIndexes(): Int32Array {
    const out = new Int32Array(this.size);
    let n = 0;
    for (let slot = 0; slot < this.slots.length; slot += 1) {
      const entry = this.slots[slot] as number;
      if (entry !== EMPTY) out[n++] = entry - 1;
    }
    return n === out.length ? out : out.subarray(0, n);
  }

  /** Every buyer in the table, as (index, name); for assertions, snapshots and metrics. */
  *entries(): Generator<[number, string]> {
    for (let slot = 0; slot < this.slots.length; slot += 1) {
      const entry = this.slots[slot] as number;
      if (entry !== EMPTY) yield [entry - 1, this.name(entry - 1)];
    }
  }

  /** Buyer indexes are below this (for arrays indexed by buyer). */
  get indexLimit(): number {
    return this.highWater;
  }

  /** hashName of the buyer's name, computed from the arena without making the string. */
  private hashOfArena(index: number): number {
    const start = this.nameStart[index] as number;
    const end = start + (this.nameLength[index] as number);
    let hash = 0x811c9dc5 | 0;
    for (let i = start; i < end; i += 1) hash = Math.imul(hash ^ (this.arena[i] as number), 0x01000193);
    return hash;
  }

  private nameIs(index: number, name: string): boolean {
    const length = this.nameLength[index] as number;
    if (length !== name.length) return false;
    const start = this.nameStart[index] as number;
    const arena = this.arena;
    for (let i = 0; i < length; i += 1) if (arena[start + i] !== name.charCodeAt(i)) return false;
    return true;
  }

  private insertSlot(index: number, hash: number): void {
    let slot = hash & this.mask;
    while (this.slots[slot] !== EMPTY) slot = (slot + 1) & this.mask;
    this.slots[slot] = index + 1;
  }

  /** Linear probing with backward-shift deletion: no tombstones, so lookups stay short. */
  private removeSlot(index: number): void {
    const mask = this.mask;
    let slot = this.hashOf[index]! & mask;
    while (this.slots[slot] !== index + 1) {
      invariant(this.slots[slot] !== EMPTY, "buyer missing from its hash table");
      slot = (slot + 1) & mask;
    }
    let hole = slot;
    for (let next = (hole + 1) & mask; this.slots[next] !== EMPTY; next = (next + 1) & mask) {
      const home = this.hashOf[(this.slots[next] as number) - 1]! & mask;
      // The entry at `next` may move into the hole unless its home lies cyclically in (hole, next].
      const stays = hole <= next ? home > hole && home <= next : home > hole || home <= next;
      if (!stays) {
        this.slots[hole] = this.slots[next] as number;
        hole = next;
      }
    }
    this.slots[hole] = EMPTY;
  }

  private rehash(size: number): void {
    this.slots = new Int32Array(size);
    this.mask = size - 1;
    for (let index = 0; index < this.highWater; index += 1) {
      if (this.nameLength[index] !== 0) this.insertSlot(index, this.hashOf[index] as number);
    }
  }

  private growBuyers(): void {
    const capacity = grownCapacity(this.hashOf.length);
    const grow = <T extends Int32Array | Uint16Array>(from: T, make: (n: number) => T): T => {
      const to = make(capacity);
      to.set(from);
      return to;
    };
    this.hashOf = grow(this.hashOf, (n) => new Int32Array(n));
    this.nameStart = grow(this.nameStart, (n) => new Int32Array(n));
    this.nameLength = grow(this.nameLength, (n) => new Uint16Array(n));
    this.units = grow(this.units, (n) => new Int32Array(n));
    this.liveHead = grow(this.liveHead, (n) => new Int32Array(n));
  }

  private growArena(atLeast: number): void {
    const arena = new Uint16Array(Math.max(this.arena.length + atLeast, grownCapacity(this.arena.length)));
    arena.set(this.arena.subarray(0, this.arenaUsed));
    this.arena = arena;
  }

  private compactArena(): void {
    const arena = new Uint16Array(Math.max(1024, Math.ceil((this.arenaUsed - this.arenaGarbage) * 1.5)));
    let used = 0;
    for (let index = 0; index < this.highWater; index += 1) {
      const length = this.nameLength[index] as number;
      if (length === 0) continue;
      const start = this.nameStart[index] as number;
      arena.set(this.arena.subarray(start, start + length), used);
      this.nameStart[index] = used;
      used += length;
    }
    this.arena = arena;
    this.arenaUsed = used;
    this.arenaGarbage = 0;
  }

  /** Views of the used part of every array (a snapshot copies them at once; not to be kept). */
  save(): BuyerTableImage {
    const buyers = this.highWater;
    return {
      freeHead: this.freeHead,
      count: this.count,
      hashOf: this.hashOf.subarray(0, buyers),
      nameStart: this.nameStart.subarray(0, buyers),
      nameLength: this.nameLength.subarray(0, buyers),
      units: this.units.subarray(0, buyers),
      liveHead: this.liveHead.subarray(0, buyers),
      arena: this.arena.subarray(0, this.arenaUsed),
      arenaGarbage: this.arenaGarbage,
    };
  }

  static load(image: BuyerTableImage): BuyerTable {
    const buyers = image.hashOf.length;
    const table = new BuyerTable(Math.max(64, Math.ceil(buyers * 1.25)));
    table.hashOf.set(image.hashOf);
    table.nameStart.set(image.nameStart);
    table.nameLength.set(image.nameLength);
    table.units.set(image.units);
    table.liveHead.set(image.liveHead);
    table.arena = new Uint16Array(Math.max(1024, Math.ceil(image.arena.length * 1.25)));
    table.arena.set(image.arena);
    table.arenaUsed = image.arena.length;
    table.arenaGarbage = image.arenaGarbage;
    table.highWater = buyers;
    table.freeHead = image.freeHead;
    table.count = image.count;
    table.rehash(nextPowerOfTwo(Math.max(128, image.count * 2 + 2)));
    let count = 0;
    for (let index = 0; index < buyers; index += 1) {
      if (table.nameLength[index] === 0) continue;
      count += 1;
      invariant(table.hashOfArena(index) === table.hashOf[index], "buyer table image holds a wrong hash");
    }
    invariant(count === image.count, "buyer table image counts its buyers wrong");
    return table;
  }
}

export type BuyerTableImage = {
  freeHead: number;
  count: number;
  hashOf: Int32Array;
  nameStart: Int32Array;
  nameLength: Uint16Array;
  units: Int32Array;
  liveHead: Int32Array;
  arena: Uint16Array;
  arenaGarbage: number;
};

/** FNV-1a over UTF-16 code units, as a signed 32-bit integer. */
function hashName(name: string): number {
  let hash = 0x811c9dc5 | 0;
  for (let i = 0; i < name.length; i += 1) hash = Math.imul(hash ^ name.charCodeAt(i), 0x01000193);
  return hash;
}

function nextPowerOfTwo(n: number): number {
  let size = 1;
  while (size < n) size *= 2;
  return size;
}
