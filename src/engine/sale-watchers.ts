// Listeners of each sale's public document (the SSE stream). Changes are coalesced: a sale that
// changes many times within `intervalMs` is published once at the end of the interval, so a storm of
// holds costs one rendering per interval, not one per hold.

import { ListenerSets } from "./listener-sets.ts";

export class SaleWatchers {
  private readonly listeners = new ListenerSets<string>();
  private readonly dirty = new Set<string>();
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    /** The sale's current public document, rendered (null: no such sale any more). */
    private readonly render: (saleId: string) => string | null,
    private readonly intervalMs = 50,
  ) {}

  watch(saleId: string, listener: (document: string) => void): () => void {
    return this.listeners.add(saleId, listener);
  }

  get count(): number {
    return this.listeners.count;
  }

  /** These sales changed (called after each commit with the sales it touched). */
  changed(saleIds: Iterable<string>): void {
    if (this.listeners.size === 0) return;
    for (const saleId of saleIds) if (this.listeners.has(saleId)) this.dirty.add(saleId);
    if (this.dirty.size > 0 && this.timer === null) {
      this.timer = setTimeout(() => this.publish(), this.intervalMs);
    }
  }

  private publish(): void {
    this.timer = null;
    for (const saleId of this.dirty) {
      if (!this.listeners.has(saleId)) continue;
      const document = this.render(saleId);
      if (document !== null) this.listeners.emit(saleId, document);
    }
    this.dirty.clear();
  }

  close(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}
