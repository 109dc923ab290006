// A binary min-heap keyed by a number. The ledger keeps live holds in one, ordered by `expiresAt`,
// so that each expiry tick looks only at the holds that are due instead of scanning every reservation.

export class MinHeap<T> {
  private readonly keys: number[] = [];
  private readonly values: T[] = [];

  get size(): number {
    return this.keys.length;
  }

  peekKey(): number | undefined {
    return this.keys[0];
  }

  push(key: number, value: T): void {
    this.keys.push(key);
    this.values.push(value);
    this.siftUp(this.keys.length - 1);
  }

  pop(): T | undefined {
    const count = this.keys.length;
    if (count === 0) return undefined;
    const top = this.values[0];
    const lastKey = this.keys.pop() as number;
    const lastValue = this.values.pop() as T;
    if (count > 1) {
      this.keys[0] = lastKey;
      this.values[0] = lastValue;
      this.siftDown(0);
    }
    return top;
  }

  private siftUp(index: number): void {
    const keys = this.keys;
    const values = this.values;
    const key = keys[index] as number;
    const value = values[index] as T;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      const parentKey = keys[parent] as number;
      if (parentKey <= key) break;
      keys[index] = parentKey;
      values[index] = values[parent] as T;
      index = parent;
    }
    keys[index] = key;
    values[index] = value;
  }

  private siftDown(index: number): void {
    const keys = this.keys;
    const values = this.values;
    const count = keys.length;
    const key = keys[index] as number;
    const value = values[index] as T;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= count) break;
      const right = left + 1;
      const child = right < count && (keys[right] as number) < (keys[left] as number) ? right : left;
      const childKey = keys[child] as number;
      if (childKey >= key) break;
      keys[index] = childKey;
      values[index] = values[child] as T;
      index = child;
    }
    keys[index] = key;
    values[index] = value;
  }
}
