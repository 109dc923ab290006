// Callers waiting for the store to reach a journal sequence number (operator reads wait so that
// what was just acknowledged is listed), each with its own deadline.

type Waiter = { seq: number; resolve: (caughtUp: boolean) => void };

export class SeqWaiters {
  private waiters: Waiter[] = [];

  /** Resolves true once `reached(seq)` is called with `seq` or more, false after `timeoutMs`. */
  wait(seq: number, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve(false);
      }, timeoutMs);
      const waiter: Waiter = {
        seq,
        resolve: (ok) => {
          clearTimeout(timer);
          resolve(ok);
        },
      };
      this.waiters.push(waiter);
    });
  }

  /** The store now holds everything up to `applied`. */
  reached(applied: number): void {
    if (this.waiters.length === 0) return;
    const due = this.waiters.filter((w) => w.seq <= applied);
    this.waiters = this.waiters.filter((w) => w.seq > applied);
    for (const waiter of due) waiter.resolve(true);
  }
}
