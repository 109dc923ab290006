// Unit-count changes of one write-behind batch, merged per item, so the store gets one UPDATE per
// item per batch however many holds the batch carries.

export type ItemCountDelta = {
  saleId: string;
  itemId: string;
  stock: number;
  available: number;
  held: number;
  confirmed: number;
};

export class ItemCountDeltas {
  private readonly byItem = new Map<string, ItemCountDelta>();

  add(saleId: string, itemId: string, stock: number, available: number, held: number, confirmed: number): void {
    const key = `${saleId}\n${itemId}`;
    let delta = this.byItem.get(key);
    if (delta === undefined) {
      delta = { saleId, itemId, stock: 0, available: 0, held: 0, confirmed: 0 };
      this.byItem.set(key, delta);
    }
    delta.stock += stock;
    delta.available += available;
    delta.held += held;
    delta.confirmed += confirmed;
  }

  values(): IterableIterator<ItemCountDelta> {
    return this.byItem.values();
  }
}
