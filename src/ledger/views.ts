// The JSON shapes of API.md, made from a sale's state. Pure functions of (state, now), so that the
// owner of a sale can produce them wherever the request arrived and send them as plain data.

import type { SaleState } from "./sale-state.ts";
import type { Delivery, Reservation } from "./types.ts";

export type SaleStatus = "scheduled" | "open" | "paused" | "ended";

export type AdminItemView = {
  id: string;
  name: string;
  price: number;
  currency: string;
  delivery: Delivery;
  stock: number;
  available: number;
  held: number;
  confirmed: number;
};

/** A sale's waiting room in its views: its settings and how many wait and have been admitted. */
export type WaitingRoomView = {
  admitPerSecond: number;
  admissionSeconds: number;
  opensSecondsBefore: number;
  waiting: number;
  admitted: number;
};

export type AdminSaleView = {
  id: string;
  name: string;
  startsAt: string;
  endsAt: string;
  holdSeconds: number;
  limitPerUser: number;
  paused: boolean;
  status: SaleStatus;
  items: AdminItemView[];
  /** Present once the sale has had a room; null after it was turned off. */
  waitingRoom?: WaitingRoomView | null;
};

export type PublicSaleView = {
  id: string;
  name: string;
  startsAt: string;
  endsAt: string;
  status: SaleStatus;
  items: { id: string; name: string; price: number; currency: string; available: number }[];
  waitingRoom?: WaitingRoomView | null;
};

/**
 * The room as views show it. A sale that never had one shows no field at all (the views stay as
 * they were for every sale without a room); one whose room was turned off shows null.
 */
function withRoom<T extends object>(view: T, state: SaleState): T & { waitingRoom?: WaitingRoomView | null } {
  const room = state.room;
  if (room === null) return state.roomEpoch === 0 ? view : { ...view, waitingRoom: null };
  const { admitPerSecond, admissionSeconds, opensSecondsBefore } = room.settings;
  return { ...view, waitingRoom: { admitPerSecond, admissionSeconds, opensSecondsBefore, waiting: room.waiting, admitted: room.admitted } };
}

export type ReservationView = {
  id: string;
  saleId: string;
  itemId: string;
  userId: string;
  quantity: number;
  status: Reservation["status"];
  amount: number;
  currency: string;
  createdAt: string;
  expiresAt: string;
  codes: string[];
};

const iso = (ms: number) => new Date(ms).toISOString();

export function adminSaleView(state: SaleState, now: number): AdminSaleView {
  const items: AdminItemView[] = [];
  for (const item of state.items.values()) {
    const { id, name, price, currency, delivery, stock, available, held, confirmed } = item;
    items.push({ id, name, price, currency, delivery, stock, available, held, confirmed });
  }
  const view: AdminSaleView = {
    id: state.id,
    name: state.name,
    startsAt: iso(state.startsAt),
    endsAt: iso(state.endsAt),
    holdSeconds: state.holdSeconds,
    limitPerUser: state.limitPerUser,
    paused: state.paused,
    status: state.status(now),
    items,
  };
  return state.roomEpoch === 0 ? view : withRoom(view, state);
}

export function publicSaleView(state: SaleState, now: number): PublicSaleView {
  const items: PublicSaleView["items"] = [];
  for (const item of state.items.values()) {
    items.push({ id: item.id, name: item.name, price: item.price, currency: item.currency, available: item.available });
  }
  const view: PublicSaleView = {
    id: state.id,
    name: state.name,
    startsAt: iso(state.startsAt),
    endsAt: iso(state.endsAt),
    status: state.status(now),
    items,
  };
  return state.roomEpoch === 0 ? view : withRoom(view, state);
}

/** A reservation as its buyer sees it; codes appear only once it is confirmed. */
export function reservationView(reservation: Reservation): ReservationView {
  return {
    id: reservation.id,
    saleId: reservation.saleId,
    itemId: reservation.itemId,
    userId: reservation.userId,
    quantity: reservation.quantity,
    status: reservation.status,
    amount: reservation.amount,
    currency: reservation.currency,
    createdAt: iso(reservation.createdAt),
    expiresAt: iso(reservation.expiresAt),
    codes: reservation.status === "confirmed" ? reservation.codes : [],
  };
}
