// Buyer names interned into small dense indexes, for tables that only ever add names (a sale's
// waiting room: a buyer keeps one place, reused when they join again). Names sit in one arena of
// UTF-16 code units behind an open-addressing hash table, so a million names cost a few typed arrays
// instead of a million strings and Map entries. Index i is the i-th name added, so a replay of the
// same joins hands out the same indexes.

import { BUYER_NAME_LENGTH_MAX } from "./buyer-table.ts";
import { grownCapacity } from "./hold-table.ts";
import { invariant } from "./invariant.ts";

const EMPTY = 0;

export class NameIndex {
  /** Open addressing, linear probing: index + 1, or EMPTY. Kept at most half full. */
  private slots: Int32Array;
  private mask: number;
  private hashOf: Int32Array;
  private nameStart: Int32Array;
  private nameLength: Uint16Array;
  private arena: Uint16Array;
  private arenaUsed = 0;
  private count = 0;

  constructor(capacity = 64) {
    const slots = nextPowerOfTwo(capacity * 2);
    this.slots = new Int32Array(slots);
    this.mask = slots - 1;
    this.hashOf = new Int32Array(capacity);
    this.nameStart = new Int32Array(capacity);
    this.nameLength = new Uint16Array(capacity);
    this.arena = new Uint16Array(capacity * 12);
  }

  /** Names added; indexes run from 0 to size - 1. */
  get size(): number {
    return this.count;
  }

  /** The capacity of arrays indexed by name (callers grow theirs along with it). */
  get capacity(): number {
    return this.hashOf.length;
  }

  /** The index of `name`, or -1. */
  find(name: string): number {
    const hash = hashName(name);
    for (let slot = hash & this.mask; ; slot = (slot + 1) & this.mask) {
      const entry = this.slots[slot] as number;
      if (entry === EMPTY) return -1;
      const index = entry - 1;
      if (this.hashOf[index] === hash && this.nameIs(index, name)) return index;
    }
  }

  /** The index of `name`, adding it (as the next index) when absent. */
  intern(name: string): number {
    const found = this.find(name);
    if (found !== -1) return found;
    invariant(name.length > 0 && name.length <= BUYER_NAME_LENGTH_MAX, "buyer id of a bad length");
    const index = this.count;
    if (index === this.hashOf.length) this.grow();
    if (this.arenaUsed + name.length > this.arena.length) {
      const arena = new Uint16Array(Math.max(this.arena.length + name.length, grownCapacity(this.arena.length)));
      arena.set(this.arena.subarray(0, this.arenaUsed));
      this.arena = arena;
    }
    const hash = hashName(name);
    this.hashOf[index] = hash;
    this.nameStart[index] = this.arenaUsed;
    this.nameLength[index] = name.length;
    for (let i = 0; i < name.length; i += 1) this.arena[this.arenaUsed + i] = name.charCodeAt(i);
    this.arenaUsed += name.length;
    this.count += 1;
    if (this.count * 2 > this.slots.length) this.rehash(this.slots.length * 2);
    else this.insertSlot(index, hash);
    return index;
  }

  name(index: number): string {
    const start = this.nameStart[index] as number;
    return String.fromCharCode(...this.arena.subarray(start, start + (this.nameLength[index] as number)));
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

  private rehash(size: number): void {
    this.slots = new Int32Array(size);
    this.mask = size - 1;
    for (let index = 0; index < this.count; index += 1) this.insertSlot(index, this.hashOf[index] as number);
  }

  private grow(): void {
    const capacity = grownCapacity(this.hashOf.length);
    const hashOf = new Int32Array(capacity);
    hashOf.set(this.hashOf);
    const nameStart = new Int32Array(capacity);
    nameStart.set(this.nameStart);
    const nameLength = new Uint16Array(capacity);
    nameLength.set(this.nameLength);
    this.hashOf = hashOf;
    this.nameStart = nameStart;
    this.nameLength = nameLength;
  }

  /** Views of the used part of each array, for a snapshot (copied at once; not to be kept). */
  save(): NameIndexImage {
    return {
      hashOf: this.hashOf.subarray(0, this.count),
      nameStart: this.nameStart.subarray(0, this.count),
      nameLength: this.nameLength.subarray(0, this.count),
      arena: this.arena.subarray(0, this.arenaUsed),
    };
  }

  static load(image: NameIndexImage): NameIndex {
    const count = image.hashOf.length;
    const index = new NameIndex(Math.max(64, Math.ceil(count * 1.25)));
    index.hashOf.set(image.hashOf);
    index.nameStart.set(image.nameStart);
    index.nameLength.set(image.nameLength);
    index.arena = new Uint16Array(Math.max(1024, Math.ceil(image.arena.length * 1.25)));
    index.arena.set(image.arena);
    index.arenaUsed = image.arena.length;
    index.count = count;
    index.rehash(nextPowerOfTwo(Math.max(128, count * 2 + 2)));
    for (let i = 0; i < count; i += 1) {
      const start = image.nameStart[i] as number;
      const end = start + (image.nameLength[i] as number);
      invariant(end <= image.arena.length, "a name index image names text past its arena");
      let hash = 0x811c9dc5 | 0;
      for (let at = start; at < end; at += 1) hash = Math.imul(hash ^ (image.arena[at] as number), 0x01000193);
      invariant(hash === image.hashOf[i], "a name index image holds a wrong hash");
    }
    return index;
  }

  /** Bytes of memory the arrays take (metrics and the memory test). */
  get bytes(): number {
    return this.slots.byteLength + this.hashOf.byteLength + this.nameStart.byteLength + this.nameLength.byteLength + this.arena.byteLength;
  }
}

export type NameIndexImage = { hashOf: Int32Array; nameStart: Int32Array; nameLength: Uint16Array; arena: Uint16Array };

/** FNV-1a over UTF-16 code units, as a signed 32-bit integer (as buyer-table.ts). */
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
