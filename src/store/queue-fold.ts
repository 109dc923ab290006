// The waiting room's events -> what the store writes for them (both dialects): place rows, the
// draw's ranks, admissions and sell-outs by rank, and each room's counters (queue_rooms).
//
// The counters include the room's pace (its credit and the time it was counted to), which every
// event of the sale moves, not only the queue's: the credit grows while the sale is open and has a
// unit available (waiting-room.ts). So the fold follows each sale with a room the way SaleState.apply
// does, on what the pace reads: the sale's window, whether it is paused, and each item's available
// units (from the items rows as the batch found them, moved by every event). It uses the room's own
// arithmetic (WaitingRoom.accrue, changeSettings, the constructor's full bucket), so a sale loaded
// from the store paces exactly as the ledger that decided it.
//
// A room opened before the store kept rooms has a settings column and no queue_rooms row: its
// places were never recorded, so its events are left out and it loads empty, as it always did.

import { invariant } from "../ledger/invariant.ts";
import type { RoomCounters } from "../ledger/restore.ts";
import type { SaleEvent, WaitingRoomSettings } from "../ledger/types.ts";
import { CREDIT_PER_ADMISSION, type PlaceStatus, type RoomSale, WaitingRoom, shuffleDrawn } from "../ledger/waiting-room.ts";

/** A sale as the batch finds it in the store, for a sale that has or may open a room. */
export type RoomStart = {
  saleId: string;
  startsAt: number;
  endsAt: number;
  paused: boolean;
  /** The sale's `waiting_room` settings. */
  settings: WaitingRoomSettings | null;
  /** The queue_rooms row, null when none. */
  counters: RoomCounters | null;
  /** Each item's available units. */
  available: [itemId: string, available: number][];
};

export type PlaceRow = {
  saleId: string;
  userId: string;
  status: PlaceStatus;
  rank: number;
  joinedAt: number;
  admissionExpiresAt: number;
  drawingPosition: number | null;
};

/** The writes, in event order: a later one may change rows an earlier one wrote. */
export type QueueWrite =
  | { kind: "place"; row: PlaceRow }
  /** The places at `positions` of the draw's list get `ranks`, in the same order. */
  | { kind: "draw"; saleId: string; positions: number[]; ranks: number[] }
  | { kind: "admit"; saleId: string; fromRank: number; toRank: number; admissionExpiresAt: number }
  | { kind: "sold_out"; saleId: string }
  /** The room was turned off: its places go. */
  | { kind: "clear"; saleId: string };

export type RoomRow = RoomCounters & { saleId: string };

/** One sale followed through the batch: what the pace reads, and its room's counters. */
class FollowedSale implements RoomSale {
  readonly available = new Map<string, number>();
  /** Whether anything of it changed, so that its row is written. */
  touched = false;

  constructor(
    readonly saleId: string,
    public startsAt: number,
    public endsAt: number,
    public paused: boolean,
    /** The room's number: the last one opened (0: none yet). */
    public epoch: number,
    /** The room's counters (its places are rows); null while the sale has no room. */
    public room: WaitingRoom | null,
  ) {}

  anyAvailable(): boolean {
    for (const units of this.available.values()) if (units > 0) return true;
    return false;
  }

  addAvailable(itemId: string, delta: number): void {
    this.available.set(itemId, (this.available.get(itemId) ?? 0) + delta);
  }

  row(): RoomRow {
    const room = this.room;
    if (room === null) {
      return { saleId: this.saleId, epoch: this.epoch, drawn: false, drawingCount: 0, nextRank: 1, served: 0, admitted: 0, soldOut: [0, 0], credit: 0, paceAt: 0 };
    }
    const { drawn, drawingCount, nextRank, served, admitted, soldOutFrom, soldOutTo, credit, paceAt } = room;
    return { saleId: this.saleId, epoch: this.epoch, drawn, drawingCount, nextRank, served, admitted, soldOut: [soldOutFrom, soldOutTo], credit, paceAt };
  }
}

/** The sales of a batch that may open a room in it (their settings appear in a patch). */
export function salesOpeningRooms(events: Iterable<SaleEvent>): Set<string> {
  const opening = new Set<string>();
  for (const event of events) {
    if (event.type === "sale_patched" && event.patch.waitingRoom !== undefined && event.patch.waitingRoom !== null) opening.add(event.saleId);
  }
  return opening;
}

export class QueueFold {
  /** Sales followed in this batch; null: a sale without a room (or one the store never recorded). */
  private readonly sales = new Map<string, FollowedSale | null>();
  readonly writes: QueueWrite[] = [];

  /** `startOf` answers for a sale the batch did not create: its start, or undefined when it has no room and opens none. */
  constructor(private readonly startOf: (saleId: string) => RoomStart | undefined) {}

  add(event: SaleEvent): void {
    if (event.type === "sale_created") {
      const spec = event.sale;
      const sale = new FollowedSale(spec.id, spec.startsAt, spec.endsAt, false, 0, null);
      for (const item of spec.items) sale.available.set(item.id, item.delivery === "codes" ? 0 : item.stock);
      // As the SaleState constructor: a room given at creation opens then, numbered 1.
      if (spec.waitingRoom !== undefined && spec.waitingRoom !== null) this.open(sale, spec.waitingRoom, event.at);
      sale.touched = sale.room !== null;
      this.sales.set(spec.id, sale);
      return;
    }
    const sale = this.followed(event.saleId);
    if (sale === null) return;
    // The pace runs on the sale as it was up to this event, as in SaleState.apply.
    if (sale.room !== null) {
      sale.room.accrue(sale, event.at);
      sale.touched = true;
    }
    switch (event.type) {
      case "sale_patched": {
        const { patch } = event;
        if (patch.startsAt !== undefined) sale.startsAt = patch.startsAt;
        if (patch.endsAt !== undefined) sale.endsAt = patch.endsAt;
        if (patch.paused !== undefined) sale.paused = patch.paused;
        if (patch.waitingRoom === null && sale.room !== null) {
          sale.room = null;
          sale.touched = true;
          this.writes.push({ kind: "clear", saleId: sale.saleId });
        } else if (patch.waitingRoom !== undefined && patch.waitingRoom !== null) {
          if (sale.room === null) this.open(sale, patch.waitingRoom, event.at);
          else sale.room.changeSettings(patch.waitingRoom);
          sale.touched = true;
        }
        break;
      }
      case "stock_adjusted":
        sale.addAvailable(event.itemId, event.delta);
        break;
      case "codes_added":
        sale.addAvailable(event.itemId, event.codes.length);
        break;
      case "hold_placed":
        sale.addAvailable(event.itemId, -event.quantity);
        break;
      case "hold_released":
      case "hold_expired":
        sale.addAvailable(event.itemId, event.quantity);
        break;
      case "payment_recorded":
        // A late confirmation takes its units back out of what is available (SaleState.applyPayment).
        if (event.confirm?.late === true) sale.addAvailable(event.confirm.itemId, -event.confirm.quantity);
        break;
      case "queue_joined":
        this.joined(sale, event);
        break;
      case "queue_drawn":
        this.drawn(sale, event.seed);
        break;
      case "queue_admitted": {
        const room = roomIn(sale, event.type);
        invariant(room.credit >= event.count * CREDIT_PER_ADMISSION, () => `sale ${sale.saleId}: the store's pace admits fewer than ${event.count}`);
        const admissionExpiresAt = event.at + room.settings.admissionSeconds * 1000;
        this.writes.push({ kind: "admit", saleId: sale.saleId, fromRank: room.served + 1, toRank: room.served + event.count, admissionExpiresAt });
        room.served += event.count;
        room.admitted += event.count;
        room.credit -= event.count * CREDIT_PER_ADMISSION;
        break;
      }
      case "queue_sold_out": {
        const room = roomIn(sale, event.type);
        this.writes.push({ kind: "sold_out", saleId: sale.saleId });
        room.soldOutFrom = room.served + 1;
        room.soldOutTo = room.nextRank - 1;
        room.served = room.nextRank - 1;
        room.drawingCount = 0;
        break;
      }
    }
  }

  /** The counters of every room the batch changed, to be written after its places. */
  rooms(): RoomRow[] {
    const rows: RoomRow[] = [];
    for (const sale of this.sales.values()) if (sale !== null && sale.touched) rows.push(sale.row());
    return rows;
  }

  private followed(saleId: string): FollowedSale | null {
    const known = this.sales.get(saleId);
    if (known !== undefined) return known;
    const start = this.startOf(saleId);
    // Settings without counters: a room the store never recorded. It stays unrecorded.
    const sale =
      start === undefined || (start.counters === null && start.settings !== null)
        ? null
        : new FollowedSale(
            saleId,
            start.startsAt,
            start.endsAt,
            start.paused,
            start.counters?.epoch ?? 0,
            start.settings === null || start.counters === null ? null : WaitingRoom.withCounters({ ...start.counters, settings: start.settings }),
          );
    if (sale !== null) for (const [itemId, units] of start?.available ?? []) sale.available.set(itemId, units);
    this.sales.set(saleId, sale);
    return sale;
  }

  /** A new room, as SaleState.openRoom makes it: the next number, drawn already once the sale has started. */
  private open(sale: FollowedSale, settings: WaitingRoomSettings, at: number): void {
    sale.epoch += 1;
    sale.room = new WaitingRoom(settings, sale.epoch, at, at >= sale.startsAt);
  }

  private joined(sale: FollowedSale, event: Extract<SaleEvent, { type: "queue_joined" }>): void {
    const room = roomIn(sale, event.type);
    const row: PlaceRow = {
      saleId: sale.saleId,
      userId: event.userId,
      status: "drawing",
      rank: 0,
      joinedAt: event.at,
      admissionExpiresAt: 0,
      drawingPosition: null,
    };
    if (event.rank === 0) {
      row.drawingPosition = room.drawingCount;
      room.drawingCount += 1;
    } else {
      invariant(event.rank === room.nextRank, () => `sale ${sale.saleId}: join ranked ${event.rank} in the store, not ${room.nextRank}`);
      row.status = "waiting";
      row.rank = event.rank;
      room.nextRank = event.rank + 1;
      if (event.admitted) {
        invariant(room.credit >= CREDIT_PER_ADMISSION, () => `sale ${sale.saleId}: the store's pace admits no join`);
        row.status = "admitted";
        row.admissionExpiresAt = event.at + room.settings.admissionSeconds * 1000;
        room.served = event.rank;
        room.admitted += 1;
        room.credit -= CREDIT_PER_ADMISSION;
      }
    }
    this.writes.push({ kind: "place", row });
  }

  /** The lottery: positions of the draw's list get the next ranks in the order the seed shuffles them. */
  private drawn(sale: FollowedSale, seed: number): void {
    const room = roomIn(sale, "queue_drawn");
    const count = room.drawingCount;
    const list = new Int32Array(count);
    for (let position = 0; position < count; position += 1) list[position] = position;
    shuffleDrawn(list, count, seed);
    const ranks = new Array<number>(count);
    for (let i = 0; i < count; i += 1) ranks[i] = room.nextRank + i;
    if (count > 0) this.writes.push({ kind: "draw", saleId: sale.saleId, positions: Array.from(list), ranks });
    room.nextRank += count;
    room.drawingCount = 0;
    room.drawn = true;
  }
}

function roomIn(sale: FollowedSale, type: string): WaitingRoom {
  invariant(sale.room !== null, () => `sale ${sale.saleId}: ${type} without a waiting room in the store`);
  return sale.room;
}
