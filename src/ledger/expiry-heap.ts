// The live holds of one sale ordered by `expiresAt`, ties by the order they were placed (their
// sequence number, so that an expiry pass frees rows in an order a replay repeats): a binary
// min-heap over hold-table rows in typed arrays. Each row knows its position (HoldTable.heapIndex), so a hold that ends early (released,
// confirmed) leaves the heap at once instead of waiting there until its time: the heap's size is
// the number of live holds, never the number ever placed.

import type { HoldTable } from "./hold-table.ts";
import { invariant } from "./invariant.ts";

export class ExpiryHeap {
  private keys: Float64Array;
  private rows: Int32Array;
  private count = 0;

  constructor(
    private readonly table: HoldTable,
    capacity = 64,
  ) {
    this.keys = new Float64Array(capacity);
    this.rows = new Int32Array(capacity);
  }

  get size(): number {
    return this.count;
  }

  /** The earliest `expiresAt` of a live hold, or undefined when none is held. */
  peekKey(): number | undefined {
    return this.count === 0 ? undefined : this.keys[0];
  }

  peekRow(): number {
    invariant(this.count > 0, "peek into an empty expiry heap");
    return this.rows[0] as number;
  }

  push(row: number, key: number): void {
    if (this.count === this.keys.length) this.grow();
    const index = this.count;
    this.count += 1;
    this.siftUp(index, row, key);
  }

  /** Take `row` out of the heap, wherever it is. */
  remove(row: number): void {
    const index = this.table.heapIndex[row] as number;
    invariant(index >= 0 && index < this.count && this.rows[index] === row, () => `hold row ${row} is not in the expiry heap`);
    this.count -= 1;
    this.table.heapIndex[row] = -1;
    if (index === this.count) return;
    const lastRow = this.rows[this.count] as number;
    const lastKey = this.keys[this.count] as number;
    // The last entry fills the hole; it may belong above or below it.
    const parent = (index - 1) >> 1;
    if (index > 0 && this.before(lastKey, lastRow, this.keys[parent] as number, this.rows[parent] as number)) {
      this.siftUp(index, lastRow, lastKey);
    } else this.siftDown(index, lastRow, lastKey);
  }

  /** Whether (key a, row a) comes out before (key b, row b): earlier expiry, then earlier hold. */
  private before(keyA: number, rowA: number, keyB: number, rowB: number): boolean {
    return keyA < keyB || (keyA === keyB && (this.table.seq[rowA] as number) < (this.table.seq[rowB] as number));
  }

  private siftUp(index: number, row: number, key: number): void {
    const keys = this.keys;
    const rows = this.rows;
    const heapIndex = this.table.heapIndex;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      const parentKey = keys[parent] as number;
      const parentRow = rows[parent] as number;
      if (!this.before(key, row, parentKey, parentRow)) break;
      keys[index] = parentKey;
      rows[index] = parentRow;
      heapIndex[parentRow] = index;
      index = parent;
    }
    keys[index] = key;
    rows[index] = row;
    heapIndex[row] = index;
  }

  private siftDown(index: number, row: number, key: number): void {
    const keys = this.keys;
    const rows = this.rows;
    const heapIndex = this.table.heapIndex;
    const count = this.count;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= count) break;
      const right = left + 1;
      const child =
        right < count && this.before(keys[right] as number, rows[right] as number, keys[left] as number, rows[left] as number)
          ? right
          : left;
      const childKey = keys[child] as number;
      const childRow = rows[child] as number;
      if (!this.before(childKey, childRow, key, row)) break;
      keys[index] = childKey;
      rows[index] = childRow;
      heapIndex[childRow] = index;
      index = child;
    }
    keys[index] = key;
    rows[index] = row;
    heapIndex[row] = index;
  }

  private grow(): void {
    const capacity = Math.ceil(this.keys.length * 1.5);
    const keys = new Float64Array(capacity);
    keys.set(this.keys);
    const rows = new Int32Array(capacity);
    rows.set(this.rows);
    this.keys = keys;
    this.rows = rows;
  }

  save(): { keys: Float64Array; rows: Int32Array } {
    return { keys: this.keys.slice(0, this.count), rows: this.rows.slice(0, this.count) };
  }

  /** Restore a saved heap over a table whose `heapIndex` column was restored with it. */
  static load(table: HoldTable, image: { keys: Float64Array; rows: Int32Array }): ExpiryHeap {
    const heap = new ExpiryHeap(table, Math.max(64, Math.ceil(image.keys.length * 1.25)));
    heap.keys.set(image.keys);
    heap.rows.set(image.rows);
    heap.count = image.keys.length;
    for (let index = 0; index < heap.count; index += 1) {
      const row = image.rows[index] as number;
      invariant(table.heapIndex[row] === index, "expiry heap image disagrees with its hold table");
      invariant(index === 0 || (image.keys[(index - 1) >> 1] as number) <= (image.keys[index] as number), "expiry heap image is out of order");
    }
    return heap;
  }
}
