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
};

export type PublicSaleView = {
  id: string;
  name: string;
  startsAt: string;
  endsAt: string;
  status: SaleStatus;
  items: { id: string; name: string; price: number; currency: string; available: number }[];
};

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
  return {
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
}

export function publicSaleView(state: SaleState, now: number): PublicSaleView {
  const items: PublicSaleView["items"] = [];
  for (const item of state.items.values()) {
    items.push({ id: item.id, name: item.name, price: item.price, currency: item.currency, available: item.available });
  }
  return {
    id: state.id,
    name: state.name,
    startsAt: iso(state.startsAt),
    endsAt: iso(state.endsAt),
    status: state.status(now),
    items,
  };
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
