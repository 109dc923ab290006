// The live holds of one sale, one row per hold in parallel typed arrays (DESIGN.md, "Bounded and
// self-sufficient"). A hold costs 34 bytes here instead of an object and several map entries;
// its reservation id names its row (reservation-id.ts), so finding it needs no index. A row is freed
// when its hold ends (confirmed, released, expired) and reused by a later hold, whose id carries a
// different sequence number, so an old id never finds the new hold.
//
// Free rows form a stack threaded through `nextOfBuyer`. Which row the next hold gets depends only on
// the order of holds and ends, so a replay of the same events hands out the same rows (the ledger
// asserts it), and a snapshot of the arrays restores the stack exactly.

import { invariant } from "./invariant.ts";

/** Rows a new table starts with; it grows by half each time it fills. */
const CAPACITY_MIN = 64;
/** An id's row number must fit the arrays' index type with room to spare. */
export const HOLD_ROWS_MAX = 1 << 30;
/** No row: the end of a buyer's list or of the free stack. */
export const NO_ROW = -1;

export class HoldTable {
  /** The hold's sequence number within its sale (1, 2, ...); 0 marks a free row. */
  seq: Float64Array;
  createdAt: Float64Array;
  /** How long the hold lasts, in ms (at most 86,400,000: API.md), so expiresAt = createdAt + holdMs. */
  holdMs: Uint32Array;
  /** Index of the holding buyer in the sale's BuyerTable. */
  buyer: Int32Array;
  /** The next live row of the same buyer, or of the free stack for a free row. */
  nextOfBuyer: Int32Array;
  /** Position in the expiry heap (expiry-heap.ts keeps it current). */
  heapIndex: Int32Array;
  /** Index of the item in the sale's item list (at most 100 items). */
  item: Uint8Array;
  /** Units held (1..100). */
  quantity: Uint8Array;
  private freeHead = NO_ROW;
  /** Rows ever handed out; rows at or past it are unused and not on the free stack. */
  private highWater = 0;
  private live = 0;

  constructor(capacity = CAPACITY_MIN) {
    this.seq = new Float64Array(capacity);
    this.createdAt = new Float64Array(capacity);
    this.holdMs = new Uint32Array(capacity);
    this.buyer = new Int32Array(capacity);
    this.nextOfBuyer = new Int32Array(capacity);
    this.heapIndex = new Int32Array(capacity);
    this.item = new Uint8Array(capacity);
    this.quantity = new Uint8Array(capacity);
  }

  get capacity(): number {
    return this.seq.length;
  }

  expiresAt(row: number): number {
    return (this.createdAt[row] as number) + (this.holdMs[row] as number);
  }

  /** Live holds. */
  get size(): number {
    return this.live;
  }

  /** Rows handed out at least once (live or free); a snapshot needs only these. */
  get usedRows(): number {
    return this.highWater;
  }

  /** The row the next `allocate` returns, without taking it (the ledger names it in the event). */
  peekFree(): number {
    return this.freeHead !== NO_ROW ? this.freeHead : this.highWater;
  }

  allocate(): number {
    let row: number;
    if (this.freeHead !== NO_ROW) {
      row = this.freeHead;
      this.freeHead = this.nextOfBuyer[row] as number;
    } else {
      row = this.highWater;
      invariant(row < HOLD_ROWS_MAX, "a sale reached the most live holds a table can keep");
      if (row === this.capacity) this.grow();
      this.highWater += 1;
    }
    this.live += 1;
    return row;
  }

  /**
   * Take a given row (restoring holds whose ids name their rows); call rebuildFreeRows once all are
   * placed, before any allocate.
   */
  occupy(row: number): void {
    invariant(row >= 0 && row < HOLD_ROWS_MAX && !this.isUsed(row), () => `hold row ${row} taken twice`);
    while (row >= this.capacity) this.grow();
    this.highWater = Math.max(this.highWater, row + 1);
    this.seq[row] = Number.NaN; // taken; the caller writes the hold's real number
    this.live += 1;
  }

  /** Put every row below the high-water mark that holds nothing on the free stack, lowest on top. */
  rebuildFreeRows(): void {
    this.freeHead = NO_ROW;
    for (let row = this.highWater - 1; row >= 0; row -= 1) {
      if (this.seq[row] !== 0) continue;
      this.nextOfBuyer[row] = this.freeHead;
      this.freeHead = row;
    }
  }

  free(row: number): void {
    invariant(this.isUsed(row), () => `hold row ${row} freed while not in use`);
    this.seq[row] = 0;
    this.nextOfBuyer[row] = this.freeHead;
    this.freeHead = row;
    this.live -= 1;
  }

  isUsed(row: number): boolean {
    return row >= 0 && row < this.highWater && this.seq[row] !== 0;
  }

  /** Whether `row` holds the live hold numbered `seq` (an id's two halves). */
  holds(row: number, seq: number): boolean {
    return row >= 0 && row < this.highWater && seq !== 0 && this.seq[row] === seq;
  }

  private grow(): void {
    const capacity = Math.min(HOLD_ROWS_MAX, Math.max(CAPACITY_MIN, grownCapacity(this.capacity)));
    this.seq = growFloat(this.seq, capacity);
    this.createdAt = growFloat(this.createdAt, capacity);
    this.holdMs = growUint(this.holdMs, capacity);
    this.buyer = growInt(this.buyer, capacity);
    this.nextOfBuyer = growInt(this.nextOfBuyer, capacity);
    this.heapIndex = growInt(this.heapIndex, capacity);
    this.item = growByte(this.item, capacity);
    this.quantity = growByte(this.quantity, capacity);
  }

  /**
   * The arrays and counters, for a sale snapshot: views of the used rows, not copies (the snapshot
   * copies them once, at once; they are not to be kept).
   */
  save(): HoldTableImage {
    const rows = this.highWater;
    return {
      freeHead: this.freeHead,
      live: this.live,
      seq: this.seq.subarray(0, rows),
      createdAt: this.createdAt.subarray(0, rows),
      holdMs: this.holdMs.subarray(0, rows),
      buyer: this.buyer.subarray(0, rows),
      nextOfBuyer: this.nextOfBuyer.subarray(0, rows),
      heapIndex: this.heapIndex.subarray(0, rows),
      item: this.item.subarray(0, rows),
      quantity: this.quantity.subarray(0, rows),
    };
  }

  static load(image: HoldTableImage): HoldTable {
    const rows = image.seq.length;
    const table = new HoldTable(Math.max(CAPACITY_MIN, Math.ceil(rows * 1.25)));
    table.seq.set(image.seq);
    table.createdAt.set(image.createdAt);
    table.holdMs.set(image.holdMs);
    table.buyer.set(image.buyer);
    table.nextOfBuyer.set(image.nextOfBuyer);
    table.heapIndex.set(image.heapIndex);
    table.item.set(image.item);
    table.quantity.set(image.quantity);
    table.highWater = rows;
    table.freeHead = image.freeHead;
    table.live = image.live;
    let live = 0;
    for (let row = 0; row < rows; row += 1) if (table.seq[row] !== 0) live += 1;
    invariant(live === image.live, "hold table image counts its live rows wrong");
    invariant(image.freeHead === NO_ROW || (image.freeHead >= 0 && image.freeHead < rows), "hold table image has a bad free row");
    return table;
  }
}

export type HoldTableImage = {
  freeHead: number;
  live: number;
  seq: Float64Array;
  createdAt: Float64Array;
  holdMs: Uint32Array;
  buyer: Int32Array;
  nextOfBuyer: Int32Array;
  heapIndex: Int32Array;
  item: Uint8Array;
  quantity: Uint8Array;
};

function growFloat(from: Float64Array, capacity: number): Float64Array {
  const to = new Float64Array(capacity);
  to.set(from);
  return to;
}

/**
 * The next capacity of a growing table: by half while small, by a quarter past a million rows, so
 * that a table of live holds carries at most a quarter of its size in empty rows when it is large.
 */
export function grownCapacity(capacity: number): number {
  return Math.ceil(capacity * (capacity < 1_000_000 ? 1.5 : 1.25));
}

function growUint(from: Uint32Array, capacity: number): Uint32Array {
  const to = new Uint32Array(capacity);
  to.set(from);
  return to;
}

function growInt(from: Int32Array, capacity: number): Int32Array {
  const to = new Int32Array(capacity);
  to.set(from);
  return to;
}

function growByte(from: Uint8Array, capacity: number): Uint8Array {
  const to = new Uint8Array(capacity);
  to.set(from);
  return to;
}
