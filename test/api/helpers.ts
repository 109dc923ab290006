// Helpers shared by the black-box API tests: the shapes API.md promises, read back from real
// responses, and small checks every test file repeats (problem documents, balanced counts).

import { expect } from "bun:test";
import type { Harness } from "../support/harness.ts";

export type AdminItem = {
  id: string;
  name: string;
  price: number;
  currency: string;
  delivery: "none" | "codes";
  stock: number;
  available: number;
  held: number;
  confirmed: number;
};

export type AdminSale = {
  id: string;
  name: string;
  startsAt: string;
  endsAt: string;
  holdSeconds: number;
  limitPerUser: number;
  paused: boolean;
  status: "scheduled" | "open" | "paused" | "ended";
  items: AdminItem[];
};

export type PublicSale = {
  id: string;
  name: string;
  startsAt: string;
  endsAt: string;
  status: string;
  items: { id: string; name: string; price: number; currency: string; available: number }[];
};

export type Reservation = {
  id: string;
  saleId: string;
  itemId: string;
  userId: string;
  quantity: number;
  status: "held" | "confirmed" | "released" | "expired";
  amount: number;
  currency: string;
  createdAt: string;
  expiresAt: string;
  codes: string[];
};

export type Problem = {
  type: string;
  title: string;
  status: number;
  code: string;
  detail: string;
  errors?: { path: string; message: string }[];
};

export type PaymentRow = {
  paymentId: string;
  eventId: string;
  reservationId: string;
  amount: number;
  currency: string;
  outcome: string;
};

/** The fields of a reservation as API.md lists them. */
export const RESERVATION_FIELDS = [
  "amount",
  "codes",
  "createdAt",
  "currency",
  "expiresAt",
  "id",
  "itemId",
  "quantity",
  "saleId",
  "status",
  "userId",
];

export async function body<T>(response: Response): Promise<T> {
  return (await response.json()) as T;
}

/** Assert the status (showing the body when it differs) and return the parsed JSON body. */
export async function expectStatus<T>(response: Response, status: number): Promise<T> {
  const text = await response.text();
  expect(`${response.status} ${text}`).toStartWith(`${status} `);
  return (text.length === 0 ? undefined : JSON.parse(text)) as T;
}

/** Assert that `response` is an RFC 9457 problem with this status and code; returns the document. */
export async function expectProblem(response: Response, status: number, code: string): Promise<Problem> {
  const text = await response.text();
  // Status and body together, so that a failure shows what came back instead.
  expect(`${response.status} ${text}`).toStartWith(`${status} `);
  expect(response.headers.get("content-type") ?? "").toStartWith("application/problem+json");
  const problem = JSON.parse(text) as Problem;
  // Plain comparisons: in Bun 1.4.5 toMatchObject with asymmetric matchers overwrites the actual object.
  expect({ status: problem.status, code: problem.code }).toEqual({ status, code });
  for (const field of ["type", "title", "detail"] as const) {
    expect(typeof problem[field]).toBe("string");
    expect(problem[field].length).toBeGreaterThan(0);
  }
  if (problem.errors !== undefined) {
    expect(Array.isArray(problem.errors)).toBe(true);
    for (const error of problem.errors) {
      expect(Object.keys(error).sort()).toEqual(["message", "path"]);
      expect(error.path).toStartWith("/");
      expect(typeof error.message).toBe("string");
    }
  }
  return problem;
}

/** A 422 whose `errors` names `path`. */
export async function expectValidation(response: Response, path: string): Promise<Problem> {
  const problem = await expectProblem(response, 422, "validation_failed");
  expect(problem.errors?.map((error) => error.path)).toContain(path);
  return problem;
}

export async function createSale(h: Harness, sale: Record<string, unknown>): Promise<AdminSale> {
  return expectStatus<AdminSale>(await h.admin("POST", "/v1/admin/sales", sale), 201);
}

/** The admin view, with invariant 1 checked on every item. */
export async function adminSale(h: Harness, saleId: string): Promise<AdminSale> {
  const sale = await expectStatus<AdminSale>(await h.admin("GET", `/v1/admin/sales/${saleId}`), 200);
  expectBalanced(sale);
  return sale;
}

export function expectBalanced(sale: AdminSale): void {
  for (const item of sale.items) {
    expect(item.stock).toBe(item.available + item.held + item.confirmed);
    expect(item.available).toBeGreaterThanOrEqual(0);
  }
}

export async function counts(h: Harness, saleId: string, itemId: string) {
  const sale = await adminSale(h, saleId);
  const item = sale.items.find((candidate) => candidate.id === itemId);
  if (item === undefined) throw new Error(`no item ${itemId} in ${saleId}`);
  return { stock: item.stock, available: item.available, held: item.held, confirmed: item.confirmed };
}

export function hold(
  h: Harness,
  userId: string,
  saleId: string,
  itemId: string,
  quantity = 1,
  headers?: Record<string, string>,
): Promise<Response> {
  return h.buyer(userId, "POST", `/v1/sales/${saleId}/reservations`, { itemId, quantity }, headers);
}

/** A hold that must succeed; returns the reservation. */
export async function held(h: Harness, userId: string, saleId: string, itemId: string, quantity = 1) {
  return expectStatus<Reservation>(await hold(h, userId, saleId, itemId, quantity), 201);
}

let eventCounter = 0;

/** A payment event for `reservation`, succeeded with its own amount unless overridden. */
export function paymentFor(reservation: Reservation, overrides: Record<string, unknown> = {}) {
  eventCounter += 1;
  return {
    eventId: `evt_${reservation.id}_${eventCounter}`,
    paymentId: `pay_${reservation.id}`,
    saleId: reservation.saleId,
    reservationId: reservation.id,
    status: "succeeded",
    amount: reservation.amount,
    currency: reservation.currency,
    ...overrides,
  };
}

export async function outcomeOf(response: Response): Promise<string> {
  return (await expectStatus<{ outcome: string }>(response, 200)).outcome;
}

export async function reservationOf(h: Harness, reservation: Reservation): Promise<Reservation> {
  const path = `/v1/sales/${reservation.saleId}/reservations/${reservation.id}`;
  return expectStatus<Reservation>(await h.buyer(reservation.userId, "GET", path), 200);
}

export async function payments(h: Harness, saleId: string, outcome?: string): Promise<PaymentRow[]> {
  const query = outcome === undefined ? "" : `?outcome=${outcome}`;
  const response = await h.admin("GET", `/v1/admin/sales/${saleId}/payments${query}`);
  return (await expectStatus<{ payments: PaymentRow[] }>(response, 200)).payments;
}

/** RFC 4180: rows of cells, quoted cells may hold commas, quotes ("") and line breaks. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') {
        quoted = false;
      } else {
        cell += c;
      }
    } else if (c === '"') {
      quoted = true;
    } else if (c === ",") {
      row.push(cell);
      cell = "";
    } else if (c === "\r" && text[i + 1] === "\n") {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = "";
      i++;
    } else {
      cell += c;
    }
  }
  if (cell !== "" || row.length > 0) {
    row.push(cell);
    rows.push(row);
  }
  return rows;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export const iso = (ms: number) => new Date(ms).toISOString();

/** Read the `data:` events of an SSE response one at a time, each within `timeoutMs`. */
export function sseReader(response: Response) {
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  return {
    async next<T>(timeoutMs = 3000): Promise<T> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        let end = buffer.indexOf("\n\n");
        while (end !== -1) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = block
            .split("\n")
            .filter((line) => line.startsWith("data:"))
            .map((line) => line.slice(5).trimStart())
            .join("\n");
          if (data.length > 0) return JSON.parse(data) as T;
          end = buffer.indexOf("\n\n");
        }
        const left = deadline - Date.now();
        if (left <= 0) throw new Error("no SSE event in time");
        const chunk = await Promise.race([
          reader.read(),
          sleep(left).then(() => ({ done: true, value: undefined, timeout: true }) as const),
        ]);
        if ("timeout" in chunk) throw new Error("no SSE event in time");
        if (chunk.done) throw new Error("SSE stream ended");
        buffer += decoder.decode(chunk.value, { stream: true });
      }
    },
    async cancel() {
      await reader.cancel().catch(() => {});
    },
  };
}
