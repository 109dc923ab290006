// The sales one owner holds, with the group commit they share and what the owner tracks per sale:
// how far its snapshot reaches, how much happened since, its cached public document. Every command
// goes through `execute` here, which expires what is due first (so a unit whose hold just expired
// is never refused as sold out) and appends the events to the pending group commit.

import { GroupCommit } from "../journal/group-commit.ts";
import type { Journal } from "../journal/journal.ts";
import { saveSale } from "../ledger/sale-image.ts";
import type { SaleLedger } from "../ledger/sale-ledger.ts";
import type { Outcome, Reservation, SaleCommand, SaleEvent } from "../ledger/types.ts";

export type OwnedSale = {
  ledger: SaleLedger;
  /** The journal sequence of its last durable snapshot (0: none yet). */
  snapshotSeq: number;
  /** The sequence of its latest committed event. */
  lastEventSeq: number;
  /** Events committed since the last snapshot was taken, and when that was. */
  changedSinceSnapshot: number;
  snapshotTakenAt: number;
  snapshotting: boolean;
  /** The rendered public document and the version (events applied, status) it shows. */
  document: { version: number; status: string; document: string; etag: string } | null;
};

export type CommitHooks = {
  now: () => number;
  committed: (events: number, commitMs: number, saleIds: Set<string>) => void;
  failed: (error: unknown) => void;
};

export class OwnedSales {
  private readonly byId = new Map<string, OwnedSale>();
  /**
   * Sales with a waiting room, kept as decisions turn rooms on and off: the hold path asks it for
   * every hold (admissionRequired), so it is a set that is empty when no sale has a room.
   */
  readonly roomSaleIds = new Set<string>();
  readonly commit: GroupCommit;

  constructor(
    private readonly journal: Journal,
    hooks: CommitHooks,
  ) {
    this.commit = new GroupCommit(journal, {
      now: hooks.now,
      failed: hooks.failed,
      committed: (events, commitMs) => hooks.committed(events.length, commitMs, this.noteCommitted(events)),
    });
  }

  get size(): number {
    return this.byId.size;
  }

  get(saleId: string): OwnedSale | undefined {
    return this.byId.get(saleId);
  }

  ids(): string[] {
    return [...this.byId.keys()];
  }

  values(): IterableIterator<OwnedSale> {
    return this.byId.values();
  }

  add(saleId: string, ledger: SaleLedger, snapshotSeq: number, lastEventSeq: number): void {
    this.byId.set(saleId, {
      ledger,
      snapshotSeq,
      lastEventSeq,
      // A sale recovered with events after its snapshot has changed since it too: were it counted
      // as unchanged, no snapshot would follow until its next event, and the journal could never be
      // truncated past its old snapshot (the simulation found the journal growing so).
      changedSinceSnapshot: snapshotSeq === 0 || lastEventSeq > snapshotSeq ? 1 : 0,
      snapshotTakenAt: 0,
      snapshotting: false,
      document: null,
    });
    this.noteRoom(saleId, ledger);
  }

  private noteRoom(saleId: string, ledger: SaleLedger): void {
    if (ledger.state.room !== null) this.roomSaleIds.add(saleId);
    else this.roomSaleIds.delete(saleId);
  }

  /**
   * Forget a sale this owner no longer owns (node mode: its lease moved to another node). The caller
   * has let everything decided for it commit; its journal rows stay as the audit log.
   */
  remove(saleId: string): void {
    this.byId.delete(saleId);
    this.roomSaleIds.delete(saleId);
  }

  /** Decide a command on a sale at `now`, holds past their time expiring first. */
  execute(sale: OwnedSale, command: SaleCommand, now: number, known?: Reservation): Outcome {
    const ledger = sale.ledger;
    const due = ledger.nextExpiry();
    if (due !== undefined && due <= now) ledger.expire(now, this.commit.pending);
    const outcome = ledger.execute(command, now, this.commit.pending, known);
    if (command.kind === "patch" && command.patch.waitingRoom !== undefined) this.noteRoom(ledger.state.id, ledger);
    return outcome;
  }

  /** Expire what is due in one sale, before a command asks what it knows; the expiries commit this turn. */
  expireSale(sale: OwnedSale, now: number): void {
    const due = sale.ledger.nextExpiry();
    if (due === undefined || due > now) return;
    sale.ledger.expire(now, this.commit.pending);
    this.commit.schedule();
  }

  /** Expire what is due in every sale; the expiries commit this turn. */
  expireDue(now: number): number {
    const before = this.commit.pending.length;
    for (const sale of this.byId.values()) {
      const due = sale.ledger.nextExpiry();
      if (due !== undefined && due <= now) sale.ledger.expire(now, this.commit.pending);
      // Keys age out on this tick too, also in a sale none of whose holds expires (all paid).
      else sale.ledger.state.pruneIdempotency(now);
    }
    const expired = this.commit.pending.length - before;
    if (expired > 0) this.commit.schedule();
    return expired;
  }

  /** Note each committed event's sequence against its sale; returns the sales touched. */
  private noteCommitted(events: readonly SaleEvent[]): Set<string> {
    const touched = new Set<string>();
    let seq = this.journal.lastSeq - events.length;
    let lastId = "";
    let last: OwnedSale | undefined;
    for (const event of events) {
      seq += 1;
      if (event.saleId !== lastId) {
        lastId = event.saleId;
        last = this.byId.get(lastId);
        touched.add(lastId);
      }
      if (last === undefined) continue;
      last.lastEventSeq = seq;
      last.changedSinceSnapshot += 1;
    }
    return touched;
  }

  /** Sales whose snapshot is due: `events` changes since the last, or `ms` since it with any change. */
  snapshotsDue(now: number, events: number, ms: number): OwnedSale[] {
    const due: OwnedSale[] = [];
    for (const sale of this.byId.values()) {
      if (sale.snapshotting || sale.changedSinceSnapshot === 0) continue;
      if (sale.changedSinceSnapshot >= events || now - sale.snapshotTakenAt >= ms || sale.snapshotSeq === 0) due.push(sale);
    }
    return due;
  }

  /** The sale's state as bytes at the journal's last sequence (call with nothing pending). */
  takeSnapshot(sale: OwnedSale, now: number): { seq: number; bytes: Uint8Array } {
    const seq = this.journal.lastSeq;
    sale.snapshotting = true;
    sale.changedSinceSnapshot = 0;
    sale.snapshotTakenAt = now;
    return { seq, bytes: saveSale(sale.ledger.state) };
  }

  snapshotDurable(sale: OwnedSale, seq: number): void {
    sale.snapshotting = false;
    sale.snapshotSeq = Math.max(sale.snapshotSeq, seq);
  }

  snapshotFailed(sale: OwnedSale): void {
    sale.snapshotting = false;
    sale.changedSinceSnapshot = Math.max(1, sale.changedSinceSnapshot);
  }

  /**
   * The journal may be cut through this sequence: every sale's snapshot holds all of its events up
   * to it. A sale with nothing new since its snapshot holds everything; one never snapshotted holds
   * nothing.
   */
  truncationBound(): number {
    let bound = this.journal.lastSeq;
    for (const sale of this.byId.values()) {
      if (sale.snapshotSeq === 0 || sale.lastEventSeq > sale.snapshotSeq) bound = Math.min(bound, sale.snapshotSeq);
    }
    return bound;
  }
}
