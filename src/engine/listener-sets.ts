// Listeners by key (a sale id): who watches which sale's public document. Shared by the owner's
// event streams and the snapshot copies of sales other workers own.

export class ListenerSets<T> {
  private readonly sets = new Map<string, Set<(value: T) => void>>();

  /** Add a listener; returns the function that removes it. */
  add(key: string, listener: (value: T) => void): () => void {
    let set = this.sets.get(key);
    if (set === undefined) this.sets.set(key, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.sets.delete(key);
    };
  }

  has(key: string): boolean {
    return this.sets.has(key);
  }

  get size(): number {
    return this.sets.size;
  }

  get count(): number {
    let count = 0;
    for (const set of this.sets.values()) count += set.size;
    return count;
  }

  emit(key: string, value: T): void {
    const set = this.sets.get(key);
    if (set !== undefined) for (const listener of set) listener(value);
  }
}
