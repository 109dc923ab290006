// Listeners of each sale's public document (the SSE stream). Changes are coalesced: a sale that
// changes many times within `intervalMs` is published once at the end of the interval, so a storm of
// holds costs one serialization per interval, not one per hold.

import type { SaleEvent } from "../ledger/types.ts";
import type { PublicSaleView } from "../ledger/views.ts";
import { ListenerSets } from "./listener-sets.ts";

export class SaleWatchers {
  private readonly listeners = new ListenerSets<PublicSaleView>();
  private readonly dirty = new Set<string>();
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly render: (saleId: string) => PublicSaleView | null,
    private readonly intervalMs = 50,
  ) {}

  watch(saleId: string, listener: (view: PublicSaleView) => void): () => void {
    return this.listeners.add(saleId, listener);
  }

  get count(): number {
    return this.listeners.count;
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
      if (!this.listeners.has(saleId)) continue;
      const view = this.render(saleId);
      if (view !== null) this.listeners.emit(saleId, view);
    }
    this.dirty.clear();
  }

  close(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}
