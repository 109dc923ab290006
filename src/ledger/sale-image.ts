// A sale's whole state as bytes (a snapshot), and back: what recovery loads before it replays the
// journal's tail through `apply`. The dense tables go as their raw typed-array bytes, so a sale with
// a million live holds saves and loads at memory speed; the rest (settings, item counts, code pools,
// payments, idempotency keys) is a JSON header. A loaded sale is checked with assertAll() before
// anyone sells from it.
//
// Layout: u32 magic, u32 version, u32 header length, the header (UTF-8 JSON), then each section of
// the header's list at the next multiple of 8 bytes.

import { BuyerTable } from "./buyer-table.ts";
import { ExpiryHeap } from "./expiry-heap.ts";
import { HoldTable } from "./hold-table.ts";
import { invariant } from "./invariant.ts";
import type { RecentEnded } from "./recent-ended.ts";
import { type IdempotencyRecord, SaleState } from "./sale-state.ts";
import type { Payment, SaleSpec } from "./types.ts";
import { type RoomHeader, WaitingRoom } from "./waiting-room.ts";

const MAGIC = 0x53_41_4c_45; // "SALE"
/**
 * 2: holds store their length (holdMs) instead of expiresAt; the expiry heap stores rows only.
 * 3: the waiting room (its header and `room.*` sections); a version 2 image loads as a sale without one.
 */
const VERSION = 3;
const VERSIONS_READ: ReadonlySet<number> = new Set([2, 3]);

type Section = Float64Array | Int32Array | Uint32Array | Uint16Array | Uint8Array;
type SectionKind = "f64" | "i32" | "u32" | "u16" | "u8";

type Header = {
  spec: SaleSpec;
  createdAt: number;
  paused: boolean;
  holdSeq: number;
  version: number;
  items: { stock: number; available: number; held: number; confirmed: number; pool: string[]; delivered: string[] }[];
  idempotency: [string, IdempotencyRecord][];
  payments: Payment[];
  legacy: [string, number][];
  legacyIdsLoaded: boolean;
  holds: { freeHead: number; live: number };
  buyers: { freeHead: number; count: number; arenaGarbage: number };
  /** Version 3: the room's counters (null: no room) and how many rooms the sale has had. */
  room?: RoomHeader | null;
  roomEpoch?: number;
  sections: { name: string; kind: SectionKind; length: number }[];
};

const KINDS: Record<SectionKind, { bytes: number; make: (buffer: ArrayBuffer, offset: number, length: number) => Section }> = {
  f64: { bytes: 8, make: (b, o, n) => new Float64Array(b, o, n) },
  i32: { bytes: 4, make: (b, o, n) => new Int32Array(b, o, n) },
  u32: { bytes: 4, make: (b, o, n) => new Uint32Array(b, o, n) },
  u16: { bytes: 2, make: (b, o, n) => new Uint16Array(b, o, n) },
  u8: { bytes: 1, make: (b, o, n) => new Uint8Array(b, o, n) },
};

function kindOf(section: Section): SectionKind {
  if (section instanceof Float64Array) return "f64";
  if (section instanceof Int32Array) return "i32";
  if (section instanceof Uint32Array) return "u32";
  if (section instanceof Uint16Array) return "u16";
  return "u8";
}

const align8 = (n: number) => (n + 7) & ~7;

export function saveSale(state: SaleState): Uint8Array {
  const holds = state.holds.save();
  const heap = state.expiries.save();
  const buyers = state.buyers.save();
  const sections: [string, Section][] = [
    ["holds.seq", holds.seq],
    ["holds.createdAt", holds.createdAt],
    ["holds.holdMs", holds.holdMs],
    ["holds.buyer", holds.buyer],
    ["holds.nextOfBuyer", holds.nextOfBuyer],
    ["holds.heapIndex", holds.heapIndex],
    ["holds.item", holds.item],
    ["holds.quantity", holds.quantity],
    ["heap.rows", heap.rows],
    ["buyers.hashOf", buyers.hashOf],
    ["buyers.nameStart", buyers.nameStart],
    ["buyers.nameLength", buyers.nameLength],
    ["buyers.units", buyers.units],
    ["buyers.liveHead", buyers.liveHead],
    ["buyers.arena", buyers.arena],
  ];
  const room = state.room?.save() ?? null;
  if (room !== null) {
    sections.push(
      ["room.names.hashOf", room.names.hashOf],
      ["room.names.nameStart", room.names.nameStart],
      ["room.names.nameLength", room.names.nameLength],
      ["room.names.arena", room.names.arena],
      ["room.status", room.status],
      ["room.rank", room.rank],
      ["room.joinedAt", room.joinedAt],
      ["room.admissionExpiresAt", room.admissionExpiresAt],
      ["room.order", room.order],
      ["room.drawing", room.drawing],
    );
  }
  const header: Header = {
    spec: {
      id: state.id,
      name: state.name,
      startsAt: state.startsAt,
      endsAt: state.endsAt,
      holdSeconds: state.holdSeconds,
      limitPerUser: state.limitPerUser,
      // The room is restored from its own header below, not made anew from the spec.
      waitingRoom: null,
      items: state.itemList.map(({ id, name, price, currency, delivery, stock }) => ({ id, name, price, currency, delivery, stock })),
    },
    createdAt: state.createdAt,
    paused: state.paused,
    holdSeq: state.holdSeq,
    version: state.version,
    items: state.itemList.map((item) => ({
      stock: item.stock,
      available: item.available,
      held: item.held,
      confirmed: item.confirmed,
      pool: item.unassignedCodeList(),
      delivered: item.deliveredCodeList(),
    })),
    idempotency: [...state.idempotency],
    payments: [...state.paymentsByEvent.values()],
    legacy: [...state.legacyRowById],
    legacyIdsLoaded: state.legacyIdsLoaded,
    holds: { freeHead: holds.freeHead, live: holds.live },
    buyers: { freeHead: buyers.freeHead, count: buyers.count, arenaGarbage: buyers.arenaGarbage },
    room: room?.header ?? null,
    roomEpoch: state.roomEpoch,
    sections: sections.map(([name, section]) => ({ name, kind: kindOf(section), length: section.length })),
  };
  const headerBytes = Buffer.from(JSON.stringify(header), "utf8");
  let size = align8(12 + headerBytes.length);
  for (const [, section] of sections) size = align8(size + section.byteLength);
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, MAGIC, true);
  view.setUint32(4, VERSION, true);
  view.setUint32(8, headerBytes.length, true);
  bytes.set(headerBytes, 12);
  let offset = align8(12 + headerBytes.length);
  for (const [, section] of sections) {
    bytes.set(new Uint8Array(section.buffer, section.byteOffset, section.byteLength), offset);
    offset = align8(offset + section.byteLength);
  }
  return bytes;
}

export function loadSale(bytes: Uint8Array, recent?: RecentEnded): SaleState {
  // Typed-array views need aligned offsets: work on an aligned copy when the bytes are not.
  const data = bytes.byteOffset % 8 === 0 ? bytes : bytes.slice();
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  invariant(data.byteLength >= 12 && view.getUint32(0, true) === MAGIC, "a sale snapshot has no magic number");
  invariant(VERSIONS_READ.has(view.getUint32(4, true)), "a sale snapshot of an unknown version");
  const headerLength = view.getUint32(8, true);
  const header = JSON.parse(Buffer.from(data.buffer, data.byteOffset + 12, headerLength).toString("utf8")) as Header;
  const sections = new Map<string, Section>();
  let offset = align8(12 + headerLength);
  for (const { name, kind, length } of header.sections) {
    const { bytes: width, make } = KINDS[kind];
    invariant(offset + length * width <= data.byteLength, "a sale snapshot ends inside a section");
    sections.set(name, make(data.buffer as ArrayBuffer, data.byteOffset + offset, length));
    offset = align8(offset + length * width);
  }
  const section = <T extends Section>(name: string) => {
    const found = sections.get(name);
    invariant(found !== undefined, () => `a sale snapshot lacks section ${name}`);
    return found as T;
  };

  const state = new SaleState(header.spec, header.createdAt, recent);
  state.paused = header.paused;
  state.holdSeq = header.holdSeq;
  state.version = header.version;
  header.items.forEach((saved, index) => {
    const item = state.itemList[index];
    invariant(item !== undefined, "a sale snapshot has more item counts than items");
    const codes = [...saved.delivered.map((code) => ({ code, assigned: true })), ...saved.pool.map((code) => ({ code, assigned: false }))];
    item.restore(saved, codes);
  });
  state.holds = HoldTable.load({
    ...header.holds,
    seq: section("holds.seq"),
    createdAt: section("holds.createdAt"),
    holdMs: section("holds.holdMs"),
    buyer: section("holds.buyer"),
    nextOfBuyer: section("holds.nextOfBuyer"),
    heapIndex: section("holds.heapIndex"),
    item: section("holds.item"),
    quantity: section("holds.quantity"),
  });
  state.expiries = ExpiryHeap.load(state.holds, { rows: section("heap.rows") });
  state.buyers = BuyerTable.load({
    ...header.buyers,
    hashOf: section("buyers.hashOf"),
    nameStart: section("buyers.nameStart"),
    nameLength: section("buyers.nameLength"),
    units: section("buyers.units"),
    liveHead: section("buyers.liveHead"),
    arena: section("buyers.arena"),
  });
  const byAge = [...header.idempotency].sort((a, b) => a[1].at - b[1].at);
  for (const [mapKey, record] of byAge) {
    const split = mapKey.indexOf("\n");
    state.rememberIdempotencyKey(mapKey.slice(0, split), mapKey.slice(split + 1), record);
  }
  for (const payment of header.payments) {
    state.paymentsByEvent.set(payment.eventId, payment);
    if (payment.status === "succeeded" && !state.paymentsById.has(payment.paymentId)) state.paymentsById.set(payment.paymentId, payment);
  }
  for (const [id, row] of header.legacy) {
    state.legacyRowById.set(id, row);
    state.legacyIdByRow.set(row, id);
  }
  state.legacyIdsLoaded = header.legacyIdsLoaded;
  state.roomEpoch = header.roomEpoch ?? 0;
  if (header.room !== undefined && header.room !== null) {
    state.room = WaitingRoom.load({
      header: header.room,
      names: {
        hashOf: section("room.names.hashOf"),
        nameStart: section("room.names.nameStart"),
        nameLength: section("room.names.nameLength"),
        arena: section("room.names.arena"),
      },
      status: section("room.status"),
      rank: section("room.rank"),
      joinedAt: section("room.joinedAt"),
      admissionExpiresAt: section("room.admissionExpiresAt"),
      order: section("room.order"),
      drawing: section("room.drawing"),
    });
  }
  state.assertAll();
  return state;
}
