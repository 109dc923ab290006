// The live holds of one sale ordered by `expiresAt`, ties by the order they were placed (their
// sequence number, so that an expiry pass frees rows in an order a replay repeats): a binary
// min-heap of hold-table rows in one typed array, 4 bytes a hold; a row's expiry is read from the
// table. Each row knows its position (HoldTable.heapIndex), so a hold that ends early (released,
// confirmed) leaves the heap at once instead of waiting there until its time: the heap's size is
// the number of live holds, never the number ever placed.

import { type HoldTable, grownCapacity } from "./hold-table.ts";
import { invariant } from "./invariant.ts";

export class ExpiryHeap {
  private rows: Int32Array;
  private count = 0;

  constructor(
    private readonly table: HoldTable,
    capacity = 64,
  ) {
    this.rows = new Int32Array(capacity);
  }

  get size(): number {
    return this.count;
  }

  /** The earliest `expiresAt` of a live hold, or undefined when none is held. */
  peekKey(): number | undefined {
    return this.count === 0 ? undefined : this.table.expiresAt(this.rows[0] as number);
  }

  peekRow(): number {
    invariant(this.count > 0, "peek into an empty expiry heap");
    return this.rows[0] as number;
  }

  /** Add a row whose createdAt and holdMs are written already. */
  push(row: number): void {
    if (this.count === this.rows.length) this.grow();
    const index = this.count;
    this.count += 1;
    this.siftUp(index, row);
  }

  /** Take `row` out of the heap, wherever it is. */
  remove(row: number): void {
    const index = this.table.heapIndex[row] as number;
    invariant(index >= 0 && index < this.count && this.rows[index] === row, () => `hold row ${row} is not in the expiry heap`);
    this.count -= 1;
    this.table.heapIndex[row] = -1;
    if (index === this.count) return;
    const last = this.rows[this.count] as number;
    // The last entry fills the hole; it may belong above or below it.
    if (index > 0 && this.before(last, this.rows[(index - 1) >> 1] as number)) this.siftUp(index, last);
    else this.siftDown(index, last);
  }

  /** Whether row a comes out before row b: earlier expiry, then earlier hold. */
  private before(a: number, b: number): boolean {
    const table = this.table;
    const keyA = table.expiresAt(a);
    const keyB = table.expiresAt(b);
    return keyA < keyB || (keyA === keyB && (table.seq[a] as number) < (table.seq[b] as number));
  }

  private siftUp(index: number, row: number): void {
    const rows = this.rows;
    const heapIndex = this.table.heapIndex;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      const parentRow = rows[parent] as number;
      if (!this.before(row, parentRow)) break;
      rows[index] = parentRow;
      heapIndex[parentRow] = index;
      index = parent;
    }
    rows[index] = row;
    heapIndex[row] = index;
  }

  private siftDown(index: number, row: number): void {
    const rows = this.rows;
    const heapIndex = this.table.heapIndex;
    const count = this.count;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= count) break;
      const right = left + 1;
      const child = right < count && this.before(rows[right] as number, rows[left] as number) ? right : left;
      const childRow = rows[child] as number;
      if (!this.before(childRow, row)) break;
      rows[index] = childRow;
      heapIndex[childRow] = index;
      index = child;
    }
    rows[index] = row;
    heapIndex[row] = index;
  }

  private grow(): void {
    const rows = new Int32Array(grownCapacity(this.rows.length));
    rows.set(this.rows);
    this.rows = rows;
  }

  /** A view of the heap's entries (a snapshot copies it at once; not to be kept). */
  save(): { rows: Int32Array } {
    return { rows: this.rows.subarray(0, this.count) };
  }

  /** Restore a saved heap over a table whose `heapIndex` column was restored with it. */
  static load(table: HoldTable, image: { rows: Int32Array }): ExpiryHeap {
    const heap = new ExpiryHeap(table, Math.max(64, Math.ceil(image.rows.length * 1.25)));
    heap.rows.set(image.rows);
    heap.count = image.rows.length;
    for (let index = 0; index < heap.count; index += 1) {
      const row = image.rows[index] as number;
      invariant(table.heapIndex[row] === index, "expiry heap image disagrees with its hold table");
      invariant(index === 0 || !heap.before(row, image.rows[(index - 1) >> 1] as number), "expiry heap image is out of order");
    }
    return heap;
  }
}
