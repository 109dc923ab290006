// Listeners of each sale's public document (the SSE stream). Changes are coalesced: a sale that
// changes many times within `intervalMs` is published once at the end of the interval, so a storm of
// holds costs one serialization per interval, not one per hold.

import type { SaleEvent } from "../ledger/types.ts";
import type { PublicSaleView } from "../ledger/views.ts";

type Listener = (view: PublicSaleView) => void;

export class SaleWatchers {
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly dirty = new Set<string>();
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly render: (saleId: string) => PublicSaleView | null,
    private readonly intervalMs = 50,
  ) {}

  watch(saleId: string, listener: Listener): () => void {
    let set = this.listeners.get(saleId);
    if (set === undefined) this.listeners.set(saleId, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(saleId);
    };
  }

  get count(): number {
    let count = 0;
    for (const set of this.listeners.values()) count += set.size;
    return count;
  }

  changed(events: readonly SaleEvent[]): void {
    if (this.listeners.size === 0) return;
    for (const event of events) if (this.listeners.has(event.saleId)) this.dirty.add(event.saleId);
    if (this.dirty.size > 0 && this.timer === null) {
      this.timer = setTimeout(() => this.publish(), this.intervalMs);
    }
  }

  private publish(): void {
    this.timer = null;
    for (const saleId of this.dirty) {
      const view = this.render(saleId);
      const set = this.listeners.get(saleId);
      if (view === null || set === undefined) continue;
      for (const listener of set) listener(view);
    }
    this.dirty.clear();
  }

  close(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}
