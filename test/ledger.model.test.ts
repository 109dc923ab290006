// Model-based test of SaleLedger (STYLE.md, fast-check section). fast-check generates command lists; each
// command runs on the real ledger and on a naive model written here from API.md and DESIGN.md (plain arrays,
// counts derived by summing reservations, a fake clock). After every command the outcome, the events and
// the whole state are compared with the model and the invariants of DESIGN.md are checked; at the end of
// every run the emitted events are replayed into a fresh ledger, which must rebuild the same sale.
//
// LEDGER_MODEL_RUNS sets the number of runs (default 1000). A failure prints the seed, the path and the
// shrunk command list, with a trace of what each command resolved to, and the line that replays it exactly:
//   LEDGER_MODEL_SEED=<seed> LEDGER_MODEL_PATH=<path> LEDGER_MODEL_REPLAY_PATH=<replayPath> bun test test/ledger.model.test.ts

import { test } from "bun:test";
import fc from "fast-check";
import { RecentEnded } from "../src/ledger/recent-ended.ts";
import { formatReservationId } from "../src/ledger/reservation-id.ts";
import { loadSale, saveSale } from "../src/ledger/sale-image.ts";
import { SaleLedger } from "../src/ledger/sale-ledger.ts";
import type { SaleState } from "../src/ledger/sale-state.ts";
import type { Outcome, PaymentOutcome, Refusal, SaleCommand, SaleEvent, SalePatch, SaleSpec } from "../src/ledger/types.ts";

const RUNS = Number(process.env.LEDGER_MODEL_RUNS ?? 1000);
const SEED = process.env.LEDGER_MODEL_SEED === undefined ? undefined : Number(process.env.LEDGER_MODEL_SEED);
const PATH = process.env.LEDGER_MODEL_PATH;
/** fc.commands needs its own replay path to walk a shrink path again; a failure prints all three. */
const COMMANDS_REPLAY_PATH = process.env.LEDGER_MODEL_REPLAY_PATH;
const MAX_COMMANDS = Number(process.env.LEDGER_MODEL_MAX_COMMANDS ?? 60);
/** LEDGER_MODEL_STATS=1 prints how often each command met each outcome, to see what the runs cover. */
const coverage = process.env.LEDGER_MODEL_STATS === "1" ? new Map<string, number>() : null;

const T0 = Date.UTC(2026, 10, 22, 20, 0, 0);
const DAY_MS = 24 * 60 * 60 * 1000;
/** API.md: an Idempotency-Key is remembered for 24 hours. */
const IDEMPOTENCY_KEEP_MS = DAY_MS;
const SALE_ID = "drop-42";
const USERS = ["u1", "u2", "u3"] as const;
/** Large enough that no ended reservation leaves the window within a run, so all stay comparable. */
const RECENT_WINDOW = 100_000;

// ---------------------------------------------------------------------------------------------------
// The model: what the sale should be, in the plainest terms.

type Status = "held" | "confirmed" | "released" | "expired";
type ModelItem = { id: string; price: number; currency: string; delivery: "none" | "codes"; stock: number; codes: string[] };
type ModelReservation = {
  id: string;
  userId: string;
  itemId: string;
  quantity: number;
  amount: number;
  currency: string;
  createdAt: number;
  expiresAt: number;
  status: Status;
  endedAt: number;
  codes: string[];
  paymentId: string | null;
  idempotencyKey: string | null;
  /** The hold-table row it lived in while held (ids name it). */
  row: number;
};
type ModelPayment = {
  eventId: string;
  paymentId: string;
  reservationId: string;
  status: "succeeded" | "failed";
  outcome: PaymentOutcome;
  amount: number;
  currency: string;
  receivedAt: number;
};

class Model {
  now = T0;
  name: string;
  startsAt: number;
  endsAt: number;
  holdSeconds: number;
  limitPerUser: number;
  paused = false;
  readonly items = new Map<string, ModelItem>();
  /** In creation order. */
  readonly reservations: ModelReservation[] = [];
  readonly idempotency = new Map<string, { itemId: string; quantity: number; reservationId: string; at: number }>();
  /** Every payment event recorded, in order. */
  readonly payments: ModelPayment[] = [];
  /** Delivered code -> the reservation it went to. */
  readonly delivered = new Map<string, string>();
  /** Holds placed so far: the next one is numbered past it. */
  holdSeq = 0;
  /** Rows of the hold table: a stack of freed ones (reused last-freed first) and how many were ever used. */
  readonly freeRows: number[] = [];
  rowsUsed = 0;
  eventsSent = 0;
  paymentsSent = 0;
  /** What each command resolved to, printed with a failure. */
  readonly trace: string[] = [];

  constructor(spec: SaleSpec) {
    this.name = spec.name;
    this.startsAt = spec.startsAt;
    this.endsAt = spec.endsAt;
    this.holdSeconds = spec.holdSeconds;
    this.limitPerUser = spec.limitPerUser;
    for (const item of spec.items) {
      const stock = item.delivery === "codes" ? 0 : item.stock;
      this.items.set(item.id, { id: item.id, price: item.price, currency: item.currency, delivery: item.delivery, stock, codes: [] });
    }
  }

  reservation(id: string): ModelReservation | undefined {
    return this.reservations.find((r) => r.id === id);
  }
  private sum(keep: (r: ModelReservation) => boolean): number {
    let total = 0;
    for (const r of this.reservations) if (keep(r)) total += r.quantity;
    return total;
  }
  held(itemId: string): number {
    return this.sum((r) => r.itemId === itemId && r.status === "held");
  }
  confirmed(itemId: string): number {
    return this.sum((r) => r.itemId === itemId && r.status === "confirmed");
  }
  available(itemId: string): number {
    return (this.items.get(itemId)?.stock ?? 0) - this.held(itemId) - this.confirmed(itemId);
  }
  unitsOf(userId: string): number {
    return this.sum((r) => r.userId === userId && (r.status === "held" || r.status === "confirmed"));
  }
  maxUnits(): number {
    return Math.max(0, ...USERS.map((u) => this.unitsOf(u)));
  }
  status(): string {
    if (this.now >= this.endsAt) return "ended";
    if (this.paused) return "paused";
    return this.now < this.startsAt ? "scheduled" : "open";
  }
  /** A held reservation at or past its expiresAt is expired by whatever touches it. */
  expireIfDue(r: ModelReservation, events: string[]): void {
    if (r.status === "held" && this.now >= r.expiresAt) {
      this.end(r, "expired");
      events.push(`hold_expired:${r.id}`);
    }
  }
  /** A hold leaves the hold table: its row is free again. */
  end(r: ModelReservation, status: Status): void {
    if (r.status === "held") this.freeRows.push(r.row);
    r.status = status;
    r.endedAt = this.now;
  }
}

type Real = { ledger: SaleLedger; events: SaleEvent[] };

function fail(m: Model, message: string): never {
  throw new Error(`${message}\n  trace (t = ms since the sale was created):\n    ${m.trace.join("\n    ")}`);
}
function eq(m: Model, actual: unknown, expected: unknown, what: string): void {
  if (!Bun.deepEquals(actual, expected, true)) {
    fail(m, `${what}:\n    got  ${JSON.stringify(actual)}\n    want ${JSON.stringify(expected)}`);
  }
}
function check(m: Model, condition: boolean, what: string): void {
  if (!condition) fail(m, what);
}

// ---------------------------------------------------------------------------------------------------
// Predictions: what the model says a command answers and which events it records.

type ReservationView = Omit<ModelReservation, "idempotencyKey" | "row">;
type Expected =
  | { kind: "refusal"; refusal: Refusal }
  | { kind: "reservation"; reservation: ReservationView; replayed: boolean }
  | { kind: "payment"; payment: PaymentOutcome; reservationId: string }
  | { kind: "codes"; added: number; duplicates: number }
  | { kind: "sale" };
type Prediction = { expected: Expected; events: string[]; confirm?: { reservation: ModelReservation; late: boolean } };

function view(r: ReservationView): ReservationView {
  return {
    id: r.id,
    userId: r.userId,
    itemId: r.itemId,
    quantity: r.quantity,
    amount: r.amount,
    currency: r.currency,
    createdAt: r.createdAt,
    expiresAt: r.expiresAt,
    status: r.status,
    endedAt: r.endedAt,
    codes: [...r.codes],
    paymentId: r.paymentId,
  };
}
const refusal = (code: Refusal, events: string[] = []): Prediction => ({ expected: { kind: "refusal", refusal: code }, events });

function predictHold(m: Model, c: Extract<SaleCommand, { kind: "hold" }>): Prediction {
  const idempotencyMapKey = `${c.userId}\n${c.idempotencyKey}`;
  if (c.idempotencyKey !== null) {
    const record = m.idempotency.get(idempotencyMapKey);
    if (record !== undefined && record.at + IDEMPOTENCY_KEEP_MS > m.now) {
      if (record.itemId !== c.itemId || record.quantity !== c.quantity) return refusal("idempotency_key_reused");
      const first = m.reservation(record.reservationId) as ModelReservation;
      const answer = { ...view(first), status: "held" as const, endedAt: 0, codes: [], paymentId: null };
      return { expected: { kind: "reservation", reservation: answer, replayed: true }, events: [] };
    }
  }
  const item = m.items.get(c.itemId);
  if (item === undefined) return refusal("not_found");
  if (m.now >= m.endsAt) return refusal("sale_ended");
  if (m.paused || m.now < m.startsAt) return refusal("sale_not_open");
  if (m.available(item.id) < c.quantity) return refusal("sold_out");
  if (m.unitsOf(c.userId) + c.quantity > m.limitPerUser) return refusal("limit_exceeded");
  const seq = ++m.holdSeq;
  const row = m.freeRows.pop() ?? m.rowsUsed++;
  const reservation: ModelReservation = {
    id: formatReservationId(SALE_ID, seq, row),
    row,
    userId: c.userId,
    itemId: item.id,
    quantity: c.quantity,
    amount: item.price * c.quantity,
    currency: item.currency,
    createdAt: m.now,
    expiresAt: m.now + m.holdSeconds * 1000,
    status: "held",
    endedAt: 0,
    codes: [],
    paymentId: null,
    idempotencyKey: c.idempotencyKey,
  };
  m.reservations.push(reservation);
  if (c.idempotencyKey !== null) {
    m.idempotency.set(idempotencyMapKey, { itemId: item.id, quantity: c.quantity, reservationId: reservation.id, at: m.now });
  }
  return { expected: { kind: "reservation", reservation: view(reservation), replayed: false }, events: [`hold_placed:${reservation.id}`] };
}

function predictRelease(m: Model, c: Extract<SaleCommand, { kind: "release" }>): Prediction {
  const r = m.reservation(c.reservationId);
  if (r === undefined || r.userId !== c.userId) return refusal("not_found");
  const events: string[] = [];
  m.expireIfDue(r, events);
  if (r.status !== "held") return refusal("not_held", events);
  m.end(r, "released");
  events.push(`hold_released:${r.id}`);
  return { expected: { kind: "reservation", reservation: view(r), replayed: false }, events };
}

function predictPayment(m: Model, c: Extract<SaleCommand, { kind: "payment" }>): Prediction {
  const r = m.reservation(c.reservationId);
  if (r === undefined) return refusal("not_found");
  // Applied at most once: a known eventId, or the paymentId of a succeeded payment, replays its answer.
  const earlier =
    m.payments.find((p) => p.eventId === c.eventId) ??
    m.payments.find((p) => p.status === "succeeded" && p.paymentId === c.paymentId);
  if (earlier !== undefined) {
    const applied = earlier.outcome === "confirmed" || earlier.outcome === "confirmed_late";
    return { expected: { kind: "payment", payment: applied ? "already_confirmed" : earlier.outcome, reservationId: r.id }, events: [] };
  }
  const events: string[] = [];
  let outcome: PaymentOutcome = "ignored";
  let late: boolean | null = null;
  if (c.status === "succeeded") {
    m.expireIfDue(r, events);
    if (c.amount !== r.amount || c.currency !== r.currency) outcome = "refund_required";
    else if (r.status === "held") [outcome, late] = ["confirmed", false];
    else if (r.status === "confirmed") outcome = "refund_required";
    else if (m.available(r.itemId) >= r.quantity && m.unitsOf(r.userId) + r.quantity <= m.limitPerUser) {
      [outcome, late] = ["confirmed_late", true];
    } else outcome = "refund_required";
  }
  const { eventId, paymentId, status, amount, currency } = c;
  m.payments.push({ eventId, paymentId, reservationId: r.id, status, outcome, amount, currency, receivedAt: m.now });
  events.push(`payment_recorded:${c.eventId}`);
  const prediction: Prediction = { expected: { kind: "payment", payment: outcome, reservationId: r.id }, events };
  if (late !== null) {
    m.end(r, "confirmed");
    r.paymentId = c.paymentId;
    prediction.confirm = { reservation: r, late }; // its codes are checked and recorded from the event
  }
  return prediction;
}

function predictPatch(m: Model, c: Extract<SaleCommand, { kind: "patch" }>): Prediction {
  const p = c.patch;
  if ((p.startsAt ?? m.startsAt) >= (p.endsAt ?? m.endsAt)) return refusal("invalid_window");
  if (p.limitPerUser !== undefined && p.limitPerUser < m.maxUnits()) return refusal("limit_below_holdings");
  if (p.name !== undefined) m.name = p.name;
  if (p.startsAt !== undefined) m.startsAt = p.startsAt;
  if (p.endsAt !== undefined) m.endsAt = p.endsAt;
  if (p.paused !== undefined) m.paused = p.paused;
  if (p.holdSeconds !== undefined) m.holdSeconds = p.holdSeconds;
  if (p.limitPerUser !== undefined) m.limitPerUser = p.limitPerUser;
  return { expected: { kind: "sale" }, events: ["sale_patched"] };
}

function predictStock(m: Model, c: Extract<SaleCommand, { kind: "stock" }>): Prediction {
  const item = m.items.get(c.itemId);
  if (item === undefined) return refusal("not_found");
  if (item.delivery === "codes") return refusal("codes_item_stock");
  if (c.delta < 0 && m.available(item.id) < -c.delta) return refusal("insufficient_stock");
  item.stock += c.delta;
  return { expected: { kind: "sale" }, events: c.delta === 0 ? [] : [`stock_adjusted:${item.id}:${c.delta}`] };
}

function predictCodes(m: Model, c: Extract<SaleCommand, { kind: "codes" }>): Prediction {
  const item = m.items.get(c.itemId);
  if (item === undefined) return refusal("not_found");
  if (item.delivery !== "codes") return refusal("not_codes_item");
  const fresh: string[] = [];
  for (const code of c.codes) if (!item.codes.includes(code) && !fresh.includes(code)) fresh.push(code);
  item.codes.push(...fresh);
  item.stock += fresh.length;
  const events = fresh.length === 0 ? [] : [`codes_added:${item.id}:${fresh.join(",")}`];
  return { expected: { kind: "codes", added: fresh.length, duplicates: c.codes.length - fresh.length }, events };
}

function predictExpire(m: Model): Prediction {
  const events: string[] = [];
  // Oldest expiry first, ties in the order the holds were placed (which row is freed first matters).
  const due = m.reservations.map((r, order) => ({ r, order })).sort((a, b) => a.r.expiresAt - b.r.expiresAt || a.order - b.order);
  for (const { r } of due) m.expireIfDue(r, events);
  return { expected: { kind: "sale" }, events };
}

function predict(m: Model, c: SaleCommand): Prediction {
  switch (c.kind) {
    case "hold":
      return predictHold(m, c);
    case "release":
      return predictRelease(m, c);
    case "payment":
      return predictPayment(m, c);
    case "patch":
      return predictPatch(m, c);
    case "stock":
      return predictStock(m, c);
    case "codes":
      return predictCodes(m, c);
    case "expire":
      return predictExpire(m);
  }
}

// ---------------------------------------------------------------------------------------------------
// Comparing the ledger with the model.

/** The outcome as plain data, taken at once: the ledger answers with its live reservation object. */
function plainOutcome(m: Model, o: Outcome): Expected {
  if (!o.ok) {
    check(m, o.detail.length > 0, `refusal ${o.refusal} has no detail`);
    return { kind: "refusal", refusal: o.refusal };
  }
  if ("reservation" in o) {
    check(m, o.reservation.saleId === SALE_ID, "reservation names the wrong sale");
    return { kind: "reservation", reservation: view(o.reservation), replayed: o.replayed === true };
  }
  if ("payment" in o) return { kind: "payment", payment: o.payment, reservationId: o.reservationId };
  if ("added" in o) return { kind: "codes", added: o.added, duplicates: o.duplicates };
  return { kind: "sale" };
}

function eventKey(e: SaleEvent): string {
  switch (e.type) {
    case "hold_placed":
    case "hold_released":
    case "hold_expired":
      return `${e.type}:${e.reservationId}`;
    case "payment_recorded":
      return `${e.type}:${e.payment.eventId}`;
    case "stock_adjusted":
      return `${e.type}:${e.itemId}:${e.delta}`;
    case "codes_added":
      return `${e.type}:${e.itemId}:${e.codes.join(",")}`;
    default:
      return e.type;
  }
}

/** Codes delivered with a confirmation: exactly `quantity` unassigned codes of the item, or none. */
function acceptCodes(m: Model, r: ModelReservation, codes: readonly string[]): void {
  const item = m.items.get(r.itemId) as ModelItem;
  const want = item.delivery === "codes" ? r.quantity : 0;
  check(m, codes.length === want, `${r.id} confirmed with ${codes.length} codes, want ${want}`);
  for (const code of codes) {
    check(m, item.codes.includes(code), `${r.id} got code ${code}, never added to ${item.id}`);
    const owner = m.delivered.get(code);
    check(m, owner === undefined, `code ${code} delivered to ${r.id} and to ${owner}`);
    m.delivered.set(code, r.id);
  }
  r.codes = [...codes];
}

function checkEvents(m: Model, out: readonly SaleEvent[], prediction: Prediction, command: SaleCommand): void {
  eq(m, out.map(eventKey).sort(), [...prediction.events].sort(), "events recorded");
  let confirmSeen = false;
  let lastExpiresAt = -Infinity;
  for (const e of out) {
    check(m, e.saleId === SALE_ID && e.at === m.now, `event ${e.type} has saleId ${e.saleId} at ${e.at}`);
    if (e.type === "hold_placed") {
      const r = m.reservation(e.reservationId) as ModelReservation;
      const { itemId, userId, quantity, amount, currency, expiresAt, idempotencyKey } = e;
      eq(m, { itemId, userId, quantity, amount, currency, expiresAt, idempotencyKey }, {
        itemId: r.itemId, userId: r.userId, quantity: r.quantity, amount: r.amount,
        currency: r.currency, expiresAt: r.expiresAt, idempotencyKey: r.idempotencyKey,
      }, "hold_placed event");
      check(m, (e.fingerprint === null) === (e.idempotencyKey === null), "hold_placed: fingerprint without key or key without one");
    }
    if (e.type === "hold_expired" || e.type === "hold_released") {
      const r = m.reservation(e.reservationId) as ModelReservation;
      eq(m, [e.itemId, e.quantity], [r.itemId, r.quantity], `${e.type} event of ${r.id}`);
    }
    if (e.type === "hold_expired") {
      const r = m.reservation(e.reservationId) as ModelReservation;
      check(m, e.at >= r.expiresAt, `${r.id} expired at ${e.at}, before its expiresAt ${r.expiresAt}`);
      if (command.kind === "expire") {
        check(m, r.expiresAt >= lastExpiresAt, "an expiry pass did not go oldest first");
        lastExpiresAt = r.expiresAt;
      }
    }
    if (e.type === "payment_recorded") {
      const p = m.payments.find((x) => x.eventId === e.payment.eventId) as ModelPayment;
      const { eventId, paymentId, reservationId, status, outcome, amount, currency, receivedAt } = e.payment;
      eq(m, { eventId, paymentId, reservationId, status, outcome, amount, currency, receivedAt }, p, "payment_recorded event");
      const want = prediction.confirm;
      eq(m, e.confirm === null ? null : e.confirm.late, want === undefined ? null : want.late, "payment_recorded confirm.late");
      if (want !== undefined && e.confirm !== null) {
        eq(m, [e.confirm.itemId, e.confirm.quantity], [want.reservation.itemId, want.reservation.quantity], "confirmation event");
        acceptCodes(m, want.reservation, e.confirm.codes);
        confirmSeen = true;
      }
    }
  }
  check(m, prediction.confirm === undefined || confirmSeen, "a confirmation recorded no codes");
}

/** Everything the ledger knows, compared with the model, and every invariant of DESIGN.md. */
function checkState(m: Model, r: Real): void {
  const state = r.ledger.state;
  state.assertAll();
  eq(m, { name: state.name, startsAt: state.startsAt, endsAt: state.endsAt, paused: state.paused,
          holdSeconds: state.holdSeconds, limitPerUser: state.limitPerUser, status: state.status(m.now) },
     { name: m.name, startsAt: m.startsAt, endsAt: m.endsAt, paused: m.paused,
       holdSeconds: m.holdSeconds, limitPerUser: m.limitPerUser, status: m.status() }, "sale settings");

  // Invariant 1, and the counts against the model's sums over reservations.
  for (const item of m.items.values()) {
    const real = state.items.get(item.id);
    if (real === undefined) return fail(m, `item ${item.id} missing`);
    check(m, real.available >= 0 && real.available + real.held + real.confirmed === real.stock,
      `item ${item.id}: available ${real.available} + held ${real.held} + confirmed ${real.confirmed} != stock ${real.stock}`);
    eq(m, { stock: real.stock, available: real.available, held: real.held, confirmed: real.confirmed },
       { stock: item.stock, available: m.available(item.id), held: m.held(item.id), confirmed: m.confirmed(item.id) },
       `counts of item ${item.id}`);
    if (item.delivery === "codes") {
      const unassigned = item.codes.filter((code) => !m.delivered.has(code));
      eq(m, [...real.unassignedCodeList()].sort(), unassigned.sort(), `unassigned codes of ${item.id}`);
    }
  }

  // Reservations, field by field: the live ones from the hold table, the ended ones from the window.
  eq(m, liveIds(state), m.reservations.filter((x) => x.status === "held").map((x) => x.id).sort(), "live reservation ids");
  const codeOwner = new Map<string, string>();
  for (const want of m.reservations) {
    const got = state.findReservation(want.id);
    if (got === undefined) return fail(m, `reservation ${want.id} missing`);
    eq(m, view(got), view(want), `reservation ${want.id}`);
    // Invariant 6: never expired before expiresAt.
    check(m, got.status !== "expired" || got.endedAt >= got.expiresAt, `${got.id} expired before its expiresAt`);
    // Invariant 4: a code goes to one reservation only.
    for (const code of got.codes) {
      check(m, !codeOwner.has(code), `code ${code} delivered to ${codeOwner.get(code)} and ${got.id}`);
      codeOwner.set(code, got.id);
    }
  }
  for (const userId of USERS) {
    const held = m.reservations.filter((x) => x.userId === userId && x.status === "held").map((x) => x.id);
    eq(m, state.liveOf(userId).map((x) => x.id), held, `live reservations of ${userId}`);
  }

  // Invariant 2: held plus confirmed units of a buyer never pass limitPerUser.
  for (const userId of USERS) {
    let units = 0;
    for (const want of m.reservations) {
      const x = state.findReservation(want.id);
      if (x !== undefined && x.userId === userId && (x.status === "held" || x.status === "confirmed")) units += x.quantity;
    }
    check(m, units <= state.limitPerUser, `${userId} holds and owns ${units} > limitPerUser ${state.limitPerUser}`);
    eq(m, [state.unitsOf(userId), units], [m.unitsOf(userId), m.unitsOf(userId)], `units of ${userId}`);
  }

  // Invariant 5: every payment recorded, every succeeded one confirmed or listed for a refund.
  const payments = [...state.paymentsByEvent.values()].map(({ eventId, paymentId, reservationId, status, outcome, amount, currency, receivedAt }) =>
    ({ eventId, paymentId, reservationId, status, outcome, amount, currency, receivedAt }));
  eq(m, payments, m.payments, "payments");
  for (const p of m.payments) {
    if (p.outcome === "confirmed" || p.outcome === "confirmed_late") {
      const x = state.findReservation(p.reservationId);
      check(m, x?.status === "confirmed" && x.paymentId === p.paymentId, `payment ${p.eventId} confirmed nothing`);
    } else {
      check(m, p.outcome === (p.status === "failed" ? "ignored" : "refund_required"), `payment ${p.eventId}: ${p.outcome}`);
    }
  }

  // The expiry schedule never runs late: the next due time is no later than the earliest live hold.
  const liveExpiries = m.reservations.filter((x) => x.status === "held").map((x) => x.expiresAt);
  if (liveExpiries.length > 0) {
    const next = r.ledger.nextExpiry();
    check(m, next !== undefined && next <= Math.min(...liveExpiries), `nextExpiry ${next} is after a live hold's expiry`);
  }
}

/** The ids of the live holds in the hold table, sorted. */
function liveIds(state: SaleState): string[] {
  const ids: string[] = [];
  for (let row = 0; row < state.holds.usedRows; row += 1) if (state.holds.seq[row] !== 0) ids.push(state.idOf(row));
  return ids.sort();
}

/** Run one resolved command on both sides and compare everything. */
function step(m: Model, r: Real, command: SaleCommand, label: string): void {
  m.trace.push(`t=${m.now - T0} ${label}`);
  const out: SaleEvent[] = [];
  const outcome = plainOutcome(m, r.ledger.execute(command, m.now, out));
  const prediction = predict(m, command);
  eq(m, outcome, prediction.expected, "outcome");
  if (coverage !== null) {
    const o = prediction.expected;
    const detail = o.kind === "refusal" ? o.refusal : o.kind === "payment" ? o.payment : o.kind === "reservation" && o.replayed ? "replayed" : "ok";
    const tags = [`${command.kind} ${detail}`, ...prediction.events.map((e) => `  event ${e.split(":")[0]} (${command.kind})`)];
    if (prediction.confirm !== undefined && m.items.get(prediction.confirm.reservation.itemId)?.delivery === "codes") tags.push(`  codes delivered`);
    for (const tag of tags) coverage.set(tag, (coverage.get(tag) ?? 0) + 1);
  }
  checkEvents(m, out, prediction, command);
  r.events.push(...out);
  checkState(m, r);
}

// ---------------------------------------------------------------------------------------------------
// Commands. They hold only generated choices; reservations and ids are picked from the model when run,
// so that a shrunk list still means something. toString() is what a failure report prints.

type LedgerCommand = fc.Command<Model, Real>;
const userAt = (i: number): string => USERS[i % USERS.length] as string;
/** The n-th most recent reservation. */
function recent(m: Readonly<Model>, n: number): ModelReservation | undefined {
  const list = m.reservations;
  return list.length === 0 ? undefined : list[list.length - 1 - (n % list.length)];
}

class Hold implements LedgerCommand {
  constructor(readonly user: number, readonly itemId: string, readonly quantity: number, readonly key: string | null) {}
  check(): boolean {
    return true;
  }
  run(m: Model, r: Real): void {
    const { itemId, quantity, key } = this;
    const command: SaleCommand = { kind: "hold", userId: userAt(this.user), itemId, quantity, idempotencyKey: key };
    step(m, r, command, `${this}`);
  }
  toString(): string {
    return `Hold(${userAt(this.user)}, ${this.itemId}x${this.quantity}${this.key === null ? "" : `, key=${this.key}`})`;
  }
}

/** Resends a keyed hold: the same body (a replay) or a different one (idempotency_key_reused). */
class RetryHold implements LedgerCommand {
  constructor(readonly pick: number, readonly change: "none" | "quantity" | "item") {}
  check(m: Readonly<Model>): boolean {
    return m.reservations.some((x) => x.idempotencyKey !== null);
  }
  run(m: Model, r: Real): void {
    const keyed = m.reservations.filter((x) => x.idempotencyKey !== null);
    const first = keyed[keyed.length - 1 - (this.pick % keyed.length)] as ModelReservation;
    const quantity = this.change === "quantity" ? (first.quantity % 4) + 1 : first.quantity;
    const itemId = this.change === "item" ? (first.itemId === "a" ? "b" : "a") : first.itemId;
    const command: SaleCommand = {
      kind: "hold", userId: first.userId, itemId, quantity, idempotencyKey: first.idempotencyKey,
    };
    step(m, r, command, `${this}: ${first.userId} key=${first.idempotencyKey} ${itemId}x${quantity} (first was ${first.id})`);
  }
  toString(): string {
    return `RetryHold(keyed#${this.pick}, change=${this.change})`;
  }
}

class Release implements LedgerCommand {
  constructor(readonly pick: number | null, readonly byOwner: boolean, readonly user: number) {}
  check(m: Readonly<Model>): boolean {
    return this.pick === null || m.reservations.length > 0;
  }
  run(m: Model, r: Real): void {
    const target = this.pick === null ? undefined : recent(m, this.pick);
    const reservationId = target?.id ?? `unknown-${this.user}`;
    const userId = target !== undefined && this.byOwner ? target.userId : userAt(this.user);
    step(m, r, { kind: "release", reservationId, userId }, `${this}: ${reservationId} by ${userId}`);
  }
  toString(): string {
    const who = this.byOwner && this.pick !== null ? "owner" : userAt(this.user);
    return `Release(${this.pick === null ? "unknown id" : `recent#${this.pick}`} by ${who})`;
  }
}

type PaySpec = {
  pick: number | null; // null: an unknown reservation
  status: "succeeded" | "failed";
  amountOk: boolean;
  currencyOk: boolean;
  event: number | null; // null: a fresh eventId; n: the eventId of an earlier payment
  payment: "fresh" | "same-reservation" | number; // n: the paymentId of an earlier payment
};

class Pay implements LedgerCommand {
  constructor(readonly spec: PaySpec) {}
  check(m: Readonly<Model>): boolean {
    const s = this.spec;
    const needsPayments = s.event !== null || typeof s.payment === "number";
    return (s.pick === null || m.reservations.length > 0) && (!needsPayments || m.payments.length > 0);
  }
  run(m: Model, r: Real): void {
    const s = this.spec;
    const target = s.pick === null ? undefined : recent(m, s.pick);
    const earlier = (n: number) => m.payments[n % m.payments.length] as ModelPayment;
    const eventId = s.event === null ? `evt${++m.eventsSent}` : earlier(s.event).eventId;
    let paymentId: string | undefined;
    if (typeof s.payment === "number") paymentId = earlier(s.payment).paymentId;
    else if (s.payment === "same-reservation") paymentId = m.payments.findLast((p) => p.reservationId === target?.id)?.paymentId;
    paymentId ??= `pay${++m.paymentsSent}`;
    const amount = target === undefined ? 100 : target.amount + (s.amountOk ? 0 : 1);
    const rightCurrency = target?.currency ?? "USD";
    const currency = s.currencyOk ? rightCurrency : rightCurrency === "USD" ? "EUR" : "USD";
    const reservationId = target?.id ?? "unknown";
    const command: SaleCommand = { kind: "payment", eventId, paymentId, reservationId, status: s.status, amount, currency };
    step(m, r, command, `${this}: ${eventId} ${paymentId} for ${reservationId} (${target?.status ?? "-"}) ${amount} ${currency}`);
  }
  toString(): string {
    const s = this.spec;
    const parts = [
      s.pick === null ? "unknown id" : `recent#${s.pick}`,
      s.status,
      s.amountOk ? "" : "wrong amount",
      s.currencyOk ? "" : "wrong currency",
      s.event === null ? "" : `eventId of payment#${s.event}`,
      s.payment === "fresh" ? "" : typeof s.payment === "number" ? `paymentId of payment#${s.payment}` : "paymentId of same reservation",
    ];
    return `Pay(${parts.filter((p) => p !== "").join(", ")})`;
  }
}

class Expire implements LedgerCommand {
  check(): boolean {
    return true;
  }
  run(m: Model, r: Real): void {
    step(m, r, { kind: "expire" }, `${this}`);
  }
  toString(): string {
    return "Expire()";
  }
}

type AdvanceSpec =
  | { to: "by"; ms: number }
  | { to: "expiry"; pick: number; offset: number } // the pick-th held reservation by expiresAt, +offset ms
  | { to: "end"; offset: number }
  | { to: "hours"; ms: number } // up to 26 h: across the 24 h an idempotency key is kept
  | { to: "keyExpiry"; pick: number; offset: number }; // 24 h after the pick-th keyed hold, +offset ms

/** The fake clock: only the model holds the time, handed to the ledger with each command. */
class AdvanceTime implements LedgerCommand {
  constructor(readonly spec: AdvanceSpec) {}
  target(m: Readonly<Model>): number | undefined {
    const s = this.spec;
    switch (s.to) {
      case "by":
        return m.now + s.ms;
      case "hours":
        return m.now + s.ms;
      case "keyExpiry": {
        const keyed = m.reservations.filter((x) => x.idempotencyKey !== null);
        const x = keyed[keyed.length - 1 - (s.pick % Math.max(1, keyed.length))];
        return x === undefined ? undefined : x.createdAt + IDEMPOTENCY_KEEP_MS + s.offset;
      }
      case "end":
        return m.endsAt + s.offset;
      case "expiry": {
        const held = m.reservations.filter((x) => x.status === "held").sort((a, b) => a.expiresAt - b.expiresAt);
        const x = held[s.pick % Math.max(1, held.length)];
        return x === undefined ? undefined : x.expiresAt + s.offset;
      }
    }
  }
  check(m: Readonly<Model>): boolean {
    const target = this.target(m);
    return target !== undefined && target >= m.now;
  }
  run(m: Model, r: Real): void {
    m.now = this.target(m) as number;
    m.trace.push(`t=${m.now - T0} ${this}`);
    checkState(m, r);
  }
  toString(): string {
    const s = this.spec;
    const offset = (n: number) => (n === 0 ? "" : n > 0 ? `+${n}` : `${n}`);
    switch (s.to) {
      case "by":
        return `AdvanceTime(+${s.ms}ms)`;
      case "hours":
        return `AdvanceTime(+${s.ms}ms, ${(s.ms / 3_600_000).toFixed(1)}h)`;
      case "keyExpiry":
        return `AdvanceTime(to 24h${s.offset === 0 ? "" : `${offset(s.offset)}ms`} after keyed#${s.pick})`;
      case "end":
        return `AdvanceTime(to endsAt${offset(s.offset)})`;
      case "expiry":
        return `AdvanceTime(to expiresAt${offset(s.offset)} of held#${s.pick})`;
    }
  }
}

type PatchSpec = Omit<SalePatch, "startsAt" | "endsAt"> & { startsIn?: number; endsIn?: number };

class Patch implements LedgerCommand {
  constructor(readonly spec: PatchSpec) {}
  check(): boolean {
    return true;
  }
  run(m: Model, r: Real): void {
    const { startsIn, endsIn, ...rest } = this.spec;
    const patch: SalePatch = { ...rest };
    if (startsIn !== undefined) patch.startsAt = m.now + startsIn;
    if (endsIn !== undefined) patch.endsAt = m.now + endsIn;
    step(m, r, { kind: "patch", patch }, `${this}`);
  }
  toString(): string {
    const relative = (n: number) => `now${n >= 0 ? "+" : ""}${n}ms`;
    const parts = Object.entries(this.spec).map(([key, value]) =>
      key === "startsIn" ? `startsAt=${relative(value as number)}` : key === "endsIn" ? `endsAt=${relative(value as number)}` : `${key}=${value}`,
    );
    return `Patch(${parts.join(", ")})`;
  }
}

class Stock implements LedgerCommand {
  constructor(readonly itemId: string, readonly delta: number) {}
  check(): boolean {
    return true;
  }
  run(m: Model, r: Real): void {
    step(m, r, { kind: "stock", itemId: this.itemId, delta: this.delta }, `${this}`);
  }
  toString(): string {
    return `Stock(${this.itemId}, ${this.delta >= 0 ? "+" : ""}${this.delta})`;
  }
}

class AddCodes implements LedgerCommand {
  constructor(readonly itemId: string, readonly codes: readonly string[]) {}
  check(): boolean {
    return true;
  }
  run(m: Model, r: Real): void {
    step(m, r, { kind: "codes", itemId: this.itemId, codes: [...this.codes] }, `${this}`);
  }
  toString(): string {
    return `AddCodes(${this.itemId}, [${this.codes.join(" ")}])`;
  }
}

// ---------------------------------------------------------------------------------------------------
// Generators.

const weighted = <T,>(...choices: [number, T][]) =>
  fc.oneof(...choices.map(([weight, value]) => ({ weight, arbitrary: fc.constant(value) })));
const user = fc.nat({ max: USERS.length - 1 });
const recentPick = fc.nat({ max: 7 });
// "zz" is not an item of the sale.
const holdItem = weighted([3, "a"], [2, "b"], [3, "c"], [1, "zz"]);
const holdArb = fc
  .tuple(user, holdItem, fc.integer({ min: 1, max: 4 }), weighted<string | null>([3, null], [1, "k1"], [1, "k2"]))
  .map(([u, item, quantity, key]) => new Hold(u, item, quantity, key));
const retryArb = fc
  .tuple(recentPick, weighted<"none" | "quantity" | "item">([2, "none"], [1, "quantity"], [1, "item"]))
  .map(([pick, change]) => new RetryHold(pick, change));
const releaseArb = fc
  .tuple(fc.option(recentPick, { nil: null, freq: 8 }), fc.boolean(), user)
  .map(([pick, byOwner, u]) => new Release(pick, byOwner, u));
const payArb = fc
  .record({
    pick: fc.option(recentPick, { nil: null, freq: 12 }),
    status: weighted<"succeeded" | "failed">([5, "succeeded"], [1, "failed"]),
    amountOk: weighted([6, true], [1, false]),
    currencyOk: weighted([8, true], [1, false]),
    event: fc.oneof({ weight: 5, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.nat({ max: 7 }) }),
    payment: fc.oneof(
      { weight: 5, arbitrary: fc.constant<"fresh" | "same-reservation">("fresh") },
      { weight: 2, arbitrary: fc.constant<"fresh" | "same-reservation">("same-reservation") },
      { weight: 1, arbitrary: fc.nat({ max: 7 }) },
    ),
  })
  .map((spec) => new Pay(spec));
const advanceArb = fc
  .oneof(
    { weight: 8, arbitrary: fc.integer({ min: 0, max: 45_000 }).map((ms): AdvanceSpec => ({ to: "by", ms })) },
    {
      weight: 6,
      arbitrary: fc.tuple(fc.nat({ max: 5 }), weighted([1, -1], [3, 0], [1, 1])).map(([pick, offset]): AdvanceSpec => ({ to: "expiry", pick, offset })),
    },
    { weight: 1, arbitrary: weighted([1, -1], [1, 0]).map((offset): AdvanceSpec => ({ to: "end", offset })) },
    { weight: 1, arbitrary: fc.integer({ min: 3_600_000, max: 26 * 3_600_000 }).map((ms): AdvanceSpec => ({ to: "hours", ms })) },
    {
      weight: 1,
      arbitrary: fc.tuple(fc.nat({ max: 3 }), weighted([1, -1], [1, 0])).map(([pick, offset]): AdvanceSpec => ({ to: "keyExpiry", pick, offset })),
    },
  )
  .map((spec) => new AdvanceTime(spec));
const patchArb = fc
  .record(
    {
      paused: weighted([1, true], [4, false]),
      limitPerUser: fc.integer({ min: 1, max: 6 }),
      holdSeconds: fc.integer({ min: 1, max: 90 }),
      name: fc.constantFrom("Winter drop", "Spring drop"),
      // Mostly a start in the past; sometimes in the future, which closes the sale again (sale_not_open).
      startsIn: fc.oneof({ weight: 3, arbitrary: fc.integer({ min: -60_000, max: 0 }) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 30_000 }) }),
      // Sometimes ends the sale now or a moment ago (sale_ended), mostly moves the end later.
      endsIn: fc.oneof(
        { weight: 1, arbitrary: fc.constant(0) },
        { weight: 1, arbitrary: fc.integer({ min: -5_000, max: -1 }) },
        { weight: 2, arbitrary: fc.integer({ min: 1_000, max: 600_000 }) },
        { weight: 3, arbitrary: fc.constant(2 * DAY_MS) },
      ),
    },
    { requiredKeys: [] },
  )
  .map((spec) => new Patch(spec));
const stockArb = fc
  .tuple(weighted([3, "a"], [3, "b"], [1, "c"], [1, "zz"]), fc.integer({ min: -6, max: 6 }))
  .map(([item, delta]) => new Stock(item, delta));
const codesArb = fc
  .tuple(
    weighted([5, "c"], [1, "a"], [1, "zz"]),
    fc.array(fc.nat({ max: 24 }).map((n) => `CODE-${n}`), { maxLength: 6 }),
  )
  .map(([item, codes]) => new AddCodes(item, codes));

const commandArbs = [holdArb, holdArb, holdArb, retryArb, releaseArb, payArb, payArb, fc.constant(new Expire()),
  advanceArb, advanceArb, patchArb, stockArb, codesArb, codesArb];

const saleArb = fc
  .record({
    stockA: fc.integer({ min: 0, max: 8 }),
    stockB: fc.integer({ min: 0, max: 4 }),
    limitPerUser: fc.integer({ min: 1, max: 6 }),
    holdSeconds: fc.integer({ min: 1, max: 90 }),
    startsIn: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 30_000 }) }),
    lasts: fc.oneof({ weight: 3, arbitrary: fc.constant(3 * DAY_MS) }, { weight: 1, arbitrary: fc.integer({ min: 60_000, max: 600_000 }) }),
  })
  .map((s): SaleSpec => ({
    id: SALE_ID,
    name: "Winter drop",
    startsAt: T0 + s.startsIn,
    endsAt: T0 + s.startsIn + s.lasts,
    holdSeconds: s.holdSeconds,
    limitPerUser: s.limitPerUser,
    items: [
      { id: "a", name: "Hoodie M", price: 4900, currency: "USD", delivery: "none", stock: s.stockA },
      { id: "b", name: "Cap", price: 1250, currency: "EUR", delivery: "none", stock: s.stockB },
      { id: "c", name: "Gift card 50", price: 5000, currency: "USD", delivery: "codes", stock: 0 },
    ],
  }));

// ---------------------------------------------------------------------------------------------------
// Replay: the events of a run, applied to a fresh ledger, rebuild the same sale.

function snapshot(s: SaleState, now: number) {
  const sorted = <T,>(list: T[]) => list.map((x) => JSON.stringify(x)).sort();
  return {
    sale: { name: s.name, startsAt: s.startsAt, endsAt: s.endsAt, holdSeconds: s.holdSeconds, limitPerUser: s.limitPerUser,
            paused: s.paused, createdAt: s.createdAt, version: s.version, status: s.status(now) },
    items: [...s.items.values()].map((i) => ({ id: i.id, stock: i.stock, available: i.available, held: i.held,
                                                confirmed: i.confirmed, unassigned: i.unassignedCodeList() })),
    live: liveIds(s).map((id) => s.findReservation(id)),
    ended: [...s.recent.values()].map((r) => ({ ...r, codes: [...r.codes] })),
    byUser: USERS.map((u) => s.liveOf(u).map((r) => r.id)),
    units: sorted([...s.buyers.entries()].map(([index, name]) => [name, s.buyers.units[index]])),
    holdSeq: s.holdSeq,
    payments: [...s.paymentsByEvent.values()].map((p) => ({ ...p })),
    paymentsById: sorted([...s.paymentsById].map(([id, p]) => [id, p.eventId])),
    // Keys past their 24 h may or may not have been pruned yet; they answer nothing either way.
    idempotency: sorted([...s.idempotency].filter(([, rec]) => rec.at + IDEMPOTENCY_KEEP_MS > now)),
  };
}

function checkReplay(m: Model, r: Real): void {
  m.trace.push("(replay of the events into a fresh ledger)");
  const [first, ...rest] = r.events;
  if (first?.type !== "sale_created") return fail(m, "the first event is not sale_created");
  check(m, r.events.every((e, i) => i === 0 || e.at >= (r.events[i - 1] as SaleEvent).at), "events out of time order");
  eq(m, r.ledger.state.version, r.events.length, "events applied by the live ledger");
  const replayed = SaleLedger.fromCreated(first, new RecentEnded(RECENT_WINDOW));
  for (const e of rest) replayed.state.apply(e);
  replayed.state.assertAll();
  eq(m, snapshot(replayed.state, m.now), snapshot(r.ledger.state, m.now), "state rebuilt from events");
  // A snapshot image of the sale (what recovery loads) restores everything but the window of ended
  // reservations, which is not part of it.
  const imaged = new SaleLedger(loadSale(saveSale(r.ledger.state), new RecentEnded(RECENT_WINDOW)));
  const withoutEnded = (s: SaleState, now: number) => ({ ...snapshot(s, now), ended: [] });
  eq(m, withoutEnded(imaged.state, m.now), withoutEnded(r.ledger.state, m.now), "state loaded from a snapshot image");
  // The rebuilt expiry schedule expires exactly the holds the live one does.
  const later = m.now + 10 * DAY_MS;
  const liveOut: SaleEvent[] = [];
  const replayOut: SaleEvent[] = [];
  r.ledger.execute({ kind: "expire" }, later, liveOut);
  replayed.execute({ kind: "expire" }, later, replayOut);
  const held = m.reservations.filter((x) => x.status === "held").map((x) => `hold_expired:${x.id}`);
  eq(m, liveOut.map(eventKey).sort(), held.sort(), "final expiry of the live ledger");
  eq(m, replayOut.map(eventKey).sort(), held.sort(), "final expiry of the rebuilt ledger");
  eq(m, snapshot(replayed.state, later), snapshot(r.ledger.state, later), "state after the final expiry");
  const imagedOut: SaleEvent[] = [];
  imaged.execute({ kind: "expire" }, later, imagedOut);
  eq(m, imagedOut.map(eventKey).sort(), held.sort(), "final expiry of the ledger loaded from an image");
  eq(m, withoutEnded(imaged.state, later), withoutEnded(r.ledger.state, later), "image state after the final expiry");
  replayed.state.assertAll();
  r.ledger.state.assertAll();
}

test(`SaleLedger agrees with its model (${RUNS} runs of up to ${MAX_COMMANDS} commands)`, () => {
  const property = fc.property(saleArb, fc.commands(commandArbs, {
    maxCommands: MAX_COMMANDS,
    // Without "max" fast-check generates at most 10 commands whatever maxCommands says.
    size: "max",
    ...(COMMANDS_REPLAY_PATH === undefined ? {} : { replayPath: COMMANDS_REPLAY_PATH }),
  }), (spec, commands) => {
    const model = new Model(spec);
    const events: SaleEvent[] = [];
    const real: Real = { ledger: SaleLedger.create(spec, T0, events, new RecentEnded(RECENT_WINDOW)), events };
    checkState(model, real);
    fc.modelRun(() => ({ model, real }), commands);
    checkReplay(model, real);
  });
  const details = fc.check(property, { numRuns: RUNS, seed: SEED, path: PATH, endOnFailure: PATH !== undefined });
  if (coverage !== null) console.log([...coverage].sort().map(([tag, n]) => `${String(n).padStart(7)}  ${tag}`).join("\n"));
  if (details.failed) {
    const replayPath = /replayPath="([^"]*)"/.exec(String(details.counterexample?.[1]))?.[1] ?? "";
    const replay =
      `Replay: LEDGER_MODEL_SEED=${details.seed} LEDGER_MODEL_PATH="${details.counterexamplePath}" ` +
      `LEDGER_MODEL_REPLAY_PATH="${replayPath}" bun test test/ledger.model.test.ts`;
    const error = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
    throw new Error(`${fc.defaultReportMessage(details)}\nError of the shrunk counterexample: ${error}\n${replay}`);
  }
}, 120_000);
