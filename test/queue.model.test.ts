// Model-based test of the waiting room (STYLE.md, fast-check section), next to the ledger's own
// (ledger.model.test.ts). fast-check generates command lists: buyers join, the owner's tick runs,
// time passes, holds and payments come and go (they decide when units are available or held), and
// operators pause the sale, change the room's pace, add stock or turn the room off and on. Each
// command runs on the real SaleLedger and on a naive model written from API.md: a list of places,
// a list of ranks, a serving counter and a token bucket counted in thousandths. After every command
// each buyer's place and the room's counters are compared; at the end the events are replayed into
// a fresh ledger and loaded from a snapshot image, which must rebuild the same room.
//
// QUEUE_MODEL_RUNS sets the number of runs (default 500); a failure prints the seed and path to replay:
//   QUEUE_MODEL_SEED=<seed> QUEUE_MODEL_PATH=<path> bun test test/queue.model.test.ts

import { test } from "bun:test";
import fc from "fast-check";
import { RecentEnded } from "../src/ledger/recent-ended.ts";
import { loadSale, saveSale } from "../src/ledger/sale-image.ts";
import { SaleLedger } from "../src/ledger/sale-ledger.ts";
import type { SaleState } from "../src/ledger/sale-state.ts";
import type { SaleEvent, SaleSpec, WaitingRoomSettings } from "../src/ledger/types.ts";

const RUNS = Number(process.env.QUEUE_MODEL_RUNS ?? 500);
const SEED = process.env.QUEUE_MODEL_SEED === undefined ? undefined : Number(process.env.QUEUE_MODEL_SEED);
const PATH = process.env.QUEUE_MODEL_PATH;
const T0 = Date.UTC(2026, 10, 22, 20, 0, 0);
const SALE_ID = "drop-q";
const USERS = ["u1", "u2", "u3", "u4", "u5", "u6", "u7"] as const;
const HOLD_MS = 5_000;
/** QUEUE_MODEL_STATS=1 prints how often each command met each outcome, to see what the runs cover. */
const coverage = process.env.QUEUE_MODEL_STATS === "1" ? new Map<string, number>() : null;
const tally = (tag: string) => coverage?.set(tag, (coverage.get(tag) ?? 0) + 1);

type ModelPlace = { status: "drawing" | "waiting" | "admitted" | "sold_out"; rank: number; expiresAt: number };
type ModelRoom = {
  settings: WaitingRoomSettings;
  drawn: boolean;
  places: Map<string, ModelPlace>;
  /** Joined before the draw, in arrival order. */
  drawing: string[];
  /** ranks[rank - 1] is the buyer holding that rank. */
  ranks: string[];
  served: number;
  admitted: number;
  credit: number;
  paceAt: number;
};

class Model {
  now = T0;
  paused = false;
  stock: number;
  confirmed = 0;
  /** Live holds of one unit each. */
  holds: { id: string; expiresAt: number }[] = [];
  room: ModelRoom | null = null;
  readonly trace: string[] = [];

  constructor(readonly startsAt: number, readonly endsAt: number, stock: number, settings: WaitingRoomSettings | null) {
    this.stock = stock;
    if (settings !== null) this.openRoom(settings);
  }
  get held(): number {
    return this.holds.length;
  }
  get available(): number {
    return this.stock - this.held - this.confirmed;
  }
  open(): boolean {
    return this.now >= this.startsAt && this.now < this.endsAt && !this.paused;
  }
  openRoom(settings: WaitingRoomSettings): void {
    // The bucket starts full on a sale already selling, empty on one that waits for startsAt.
    const drawn = this.now >= this.startsAt;
    const credit = drawn ? settings.admitPerSecond * 1000 : 0;
    this.room = { settings, drawn, places: new Map(), drawing: [], ranks: [], served: 0, admitted: 0, credit, paceAt: this.now };
  }
  /** The token bucket, in plain terms: a rate of credit while the sale could admit, capped at a second's worth. */
  accrue(): void {
    const room = this.room;
    if (room === null || this.now <= room.paceAt) return;
    const from = Math.max(room.paceAt, this.startsAt);
    const to = Math.min(this.now, this.endsAt);
    if (to > from && !this.paused && this.available > 0) {
      room.credit = Math.min(room.settings.admitPerSecond * 1000, room.credit + (to - from) * room.settings.admitPerSecond);
    }
    room.paceAt = this.now;
  }
  waitingRanked(room: ModelRoom): number {
    return room.ranks.length - room.served;
  }
  place(room: ModelRoom, userId: string) {
    const place = room.places.get(userId);
    if (place === undefined) return { status: "not_joined" };
    if (place.status === "drawing") return { status: "waiting", rank: 0 };
    if (place.status === "admitted") return this.now < place.expiresAt ? { status: "admitted", rank: place.rank, admissionExpiresAt: place.expiresAt } : { status: "not_joined" };
    return { status: place.status, rank: place.rank };
  }
  admit(room: ModelRoom, count: number): void {
    for (let i = 0; i < count; i += 1) {
      room.served += 1;
      const place = room.places.get(room.ranks[room.served - 1] as string) as ModelPlace;
      place.status = "admitted";
      place.expiresAt = this.now + room.settings.admissionSeconds * 1000;
      room.admitted += 1;
    }
  }
}

type Real = { ledger: SaleLedger; events: SaleEvent[] };

function fail(m: Model, message: string): never {
  throw new Error(`${message}\ntrace:\n${m.trace.join("\n")}`);
}
function eq(m: Model, actual: unknown, expected: unknown, what: string): void {
  const a = JSON.stringify(actual);
  const b = JSON.stringify(expected);
  if (a !== b) fail(m, `${what}: got ${a}, expected ${b}`);
}

function placeOfReal(state: SaleState, userId: string, now: number) {
  const place = state.room?.place(userId, now);
  if (place === undefined) return null;
  if (place.status === "waiting") return { status: "waiting", rank: place.rank };
  return place;
}

/** Compare every buyer's place and the room's counters. */
function checkRoom(m: Model, r: Real): void {
  const state = r.ledger.state;
  const room = m.room;
  eq(m, state.room === null, room === null, "whether the sale has a room");
  if (room === null || state.room === null) return;
  for (const user of USERS) eq(m, placeOfReal(state, user, m.now), m.place(room, user), `place of ${user}`);
  const real = state.room;
  eq(m, [real.waiting, real.admitted, real.served, real.nextRank - 1, real.drawn], [room.drawing.length + m.waitingRanked(room), room.admitted, room.served, room.ranks.length, room.drawn], "room counters");
  state.assertAll();
}

/** After a draw, adopt the ranks the ledger drew, checking they are the next ranks, each once. */
function learnDraw(m: Model, r: Real, room: ModelRoom): void {
  const first = room.ranks.length + 1;
  const ranks = room.drawing.map((user) => {
    const place = placeOfReal(r.ledger.state, user, m.now);
    return place !== null && "rank" in place ? place.rank : -1;
  });
  eq(m, [...ranks].sort((a, b) => a - b), room.drawing.map((_, i) => first + i), "ranks of the draw (a permutation of the next ranks)");
  room.drawing.forEach((user, i) => {
    const place = room.places.get(user) as ModelPlace;
    place.status = "waiting";
    place.rank = ranks[i] as number;
    room.ranks[place.rank - 1] = user;
  });
  room.drawing = [];
  room.drawn = true;
}

function drawIfDue(m: Model, room: ModelRoom, expected: string[]): boolean {
  if (room.drawn || m.now < m.startsAt) return false;
  expected.push("queue_drawn");
  return true;
}

const types = (events: SaleEvent[]) => events.map((e) => e.type);

class Join implements fc.Command<Model, Real> {
  constructor(readonly user: string, readonly seed: number) {}
  check = () => true;
  run(m: Model, r: Real): void {
    m.accrue();
    const out: SaleEvent[] = [];
    const outcome = r.ledger.join(this.user, m.now, this.seed, out);
    r.events.push(...out);
    const room = m.room;
    const expected: string[] = [];
    let want: string;
    if (room === null) want = "no_waiting_room";
    else if (m.now >= m.endsAt) want = "sale_ended";
    else if (m.now < m.startsAt - room.settings.opensSecondsBefore * 1000) want = "queue_not_open";
    else {
      if (drawIfDue(m, room, expected)) learnDraw(m, r, room);
      const current = m.place(room, this.user);
      if (current.status === "waiting" || current.status === "admitted") want = `kept ${current.status}`;
      else if (m.now >= m.startsAt && m.available === 0 && m.held === 0) want = "sold_out";
      else {
        expected.push("queue_joined");
        const admitted = room.drawn && m.waitingRanked(room) === 0 && m.open() && m.available > 0 && Math.floor(room.credit / 1000) >= 1;
        if (!room.drawn) {
          room.places.set(this.user, { status: "drawing", rank: 0, expiresAt: 0 });
          room.drawing.push(this.user);
        } else {
          room.ranks.push(this.user);
          room.places.set(this.user, { status: "waiting", rank: room.ranks.length, expiresAt: 0 });
          if (admitted) {
            room.credit -= 1000;
            m.admit(room, 1);
          }
        }
        want = `joined ${admitted ? "admitted" : "waiting"}`;
      }
    }
    const got = outcome.ok ? `${outcome.joined ? "joined" : "kept"} ${outcome.place.status}` : outcome.refusal;
    m.trace.push(`${this} at +${m.now - T0}: ${got}`);
    tally(`join ${got} ${types(out).join(",")}`);
    eq(m, got, want, `join of ${this.user}`);
    eq(m, types(out), expected, `events of the join of ${this.user}`);
    checkRoom(m, r);
  }
  toString = () => `Join(${this.user})`;
}

class Tick implements fc.Command<Model, Real> {
  constructor(readonly seed: number) {}
  check = () => true;
  run(m: Model, r: Real): void {
    m.accrue();
    const out: SaleEvent[] = [];
    const outcome = r.ledger.queueTick(m.now, this.seed, out);
    r.events.push(...out);
    const expected: string[] = [];
    const room = m.room;
    if (room !== null) {
      if (drawIfDue(m, room, expected)) learnDraw(m, r, room);
      const waiting = room.drawing.length + m.waitingRanked(room);
      if (waiting > 0 && (m.now >= m.endsAt || (m.now >= m.startsAt && m.available === 0 && m.held === 0))) {
        expected.push("queue_sold_out");
        for (const place of room.places.values()) if (place.status === "waiting" || place.status === "drawing") place.status = "sold_out";
        room.drawing = [];
        room.served = room.ranks.length;
      } else if (m.open() && m.available > 0 && m.waitingRanked(room) > 0) {
        const count = Math.min(Math.floor(room.credit / 1000), m.waitingRanked(room));
        if (count > 0) {
          expected.push("queue_admitted");
          eq(m, outcome.waitedMs.length, count, "waits reported by the tick");
          room.credit -= count * 1000;
          m.admit(room, count);
        }
      }
    }
    m.trace.push(`${this} at +${m.now - T0}: ${types(out).join(",")}`);
    tally(`tick ${types(out).join(",")}`);
    eq(m, types(out), expected, "events of the tick");
    checkRoom(m, r);
  }
  toString = () => `Tick`;
}

class Advance implements fc.Command<Model, Real> {
  constructor(readonly ms: number) {}
  check = () => true;
  run(m: Model, r: Real): void {
    m.accrue(); // the interval before the step, with the sale as it was
    m.now += this.ms;
    m.accrue();
    m.trace.push(`${this}`);
    checkRoom(m, r);
  }
  toString = () => `Advance(${this.ms})`;
}

/** Holds, releases, payments and expiries: what makes units available, held or gone. */
class Stock implements fc.Command<Model, Real> {
  constructor(readonly action: "hold" | "release" | "pay" | "expire" | "add" | "remove", readonly user: string) {}
  check = () => true;
  run(m: Model, r: Real): void {
    m.accrue();
    const out: SaleEvent[] = [];
    const ledger = r.ledger;
    const now = m.now;
    // Due holds expire first, as the owner does before any command (owned-sales.ts).
    ledger.expire(now, out);
    m.holds = m.holds.filter((h) => h.expiresAt > now);
    const first = m.holds[0];
    if (this.action === "hold") {
      const outcome = ledger.execute({ kind: "hold", userId: this.user, itemId: "tee", quantity: 1, idempotencyKey: null }, now, out);
      if (outcome.ok && "reservation" in outcome) m.holds.push({ id: outcome.reservation.id, expiresAt: outcome.reservation.expiresAt });
    } else if (this.action === "release" && first !== undefined) {
      const userId = ledger.state.findReservation(first.id)?.userId ?? "";
      const outcome = ledger.execute({ kind: "release", reservationId: first.id, userId }, now, out);
      if (outcome.ok) m.holds.shift();
    } else if (this.action === "pay" && first !== undefined) {
      const n = r.events.length + out.length;
      const outcome = ledger.execute(
        { kind: "payment", eventId: `ev${n}`, paymentId: `pay${n}`, reservationId: first.id, status: "succeeded", amount: 100, currency: "USD" },
        now,
        out,
      );
      if (outcome.ok && "payment" in outcome && outcome.payment === "confirmed") {
        m.holds.shift();
        m.confirmed += 1;
      }
    } else if (this.action === "add" || this.action === "remove") {
      const delta = this.action === "add" ? 2 : -Math.min(2, m.available);
      const outcome = ledger.execute({ kind: "stock", itemId: "tee", delta }, now, out);
      if (outcome.ok) m.stock += delta;
    }
    r.events.push(...out);
    m.trace.push(`${this} at +${now - T0}: ${types(out).join(",")} (available ${m.available}, held ${m.held})`);
    eq(m, [ledger.state.item("tee").available, ledger.state.item("tee").held], [m.available, m.held], "units");
    checkRoom(m, r);
  }
  toString = () => `${this.action}(${this.user})`;
}

class Patch implements fc.Command<Model, Real> {
  constructor(readonly change: { paused?: boolean; waitingRoom?: WaitingRoomSettings | null }) {}
  check = () => true;
  run(m: Model, r: Real): void {
    m.accrue();
    const out: SaleEvent[] = [];
    r.ledger.execute({ kind: "patch", patch: this.change }, m.now, out);
    r.events.push(...out);
    if (this.change.paused !== undefined) m.paused = this.change.paused;
    const settings = this.change.waitingRoom;
    if (settings === null) m.room = null;
    else if (settings !== undefined && m.room === null) m.openRoom(settings);
    else if (settings !== undefined && m.room !== null) {
      m.room.settings = settings;
      m.room.credit = Math.min(m.room.credit, settings.admitPerSecond * 1000);
    }
    m.trace.push(`${this} at +${m.now - T0}`);
    checkRoom(m, r);
  }
  toString = () => `Patch(${JSON.stringify(this.change)})`;
}

const settingsArb = fc.record({
  admitPerSecond: fc.constantFrom(1, 2, 3, 7, 1000),
  admissionSeconds: fc.constantFrom(10, 30),
  opensSecondsBefore: fc.constantFrom(0, 5, 60),
});
const userArb = fc.constantFrom(...USERS);
const commandArbs = [
  fc.tuple(userArb, fc.nat()).map(([u, seed]) => new Join(u, seed)),
  fc.tuple(userArb, fc.nat()).map(([u, seed]) => new Join(u, seed)),
  fc.nat().map((seed) => new Tick(seed)),
  fc.nat().map((seed) => new Tick(seed)),
  fc.integer({ min: 1, max: 4_000 }).map((ms) => new Advance(ms)),
  fc.integer({ min: 1, max: 40_000 }).map((ms) => new Advance(ms)),
  fc.tuple(userArb, fc.nat()).map(([u, seed]) => new Join(u, seed)),
  fc.nat().map((seed) => new Tick(seed)),
  fc.tuple(fc.constantFrom("hold", "hold", "release", "pay", "expire", "add", "remove") as fc.Arbitrary<Stock["action"]>, userArb).map(([a, u]) => new Stock(a, u)),
  fc.oneof(
    { weight: 4, arbitrary: fc.boolean().map((paused) => new Patch({ paused })) },
    { weight: 2, arbitrary: settingsArb.map((waitingRoom) => new Patch({ waitingRoom })) },
    { weight: 1, arbitrary: fc.constant(new Patch({ waitingRoom: null })) },
  ),
];

const specArb = fc.record({
  startsIn: fc.integer({ min: -5_000, max: 30_000 }),
  lasts: fc.integer({ min: 20_000, max: 1_000_000 }),
  stock: fc.integer({ min: 0, max: 4 }),
  room: fc.option(settingsArb, { freq: 5 }),
});

function roomSummary(s: SaleState, now: number) {
  const room = s.room;
  if (room === null) return null;
  return {
    places: USERS.map((u) => room.place(u, now)),
    counters: [room.waiting, room.admitted, room.served, room.nextRank, room.drawn, room.credit, room.paceAt, room.epoch, room.soldOutFrom, room.soldOutTo],
  };
}

function checkReplay(m: Model, r: Real): void {
  const [first, ...rest] = r.events;
  if (first?.type !== "sale_created") return fail(m, "the first event is not sale_created");
  const replayed = SaleLedger.fromCreated(first, new RecentEnded());
  for (const e of rest) replayed.state.apply(e);
  replayed.state.assertAll();
  eq(m, roomSummary(replayed.state, m.now), roomSummary(r.ledger.state, m.now), "room rebuilt from the events");
  const imaged = loadSale(saveSale(r.ledger.state), new RecentEnded());
  eq(m, roomSummary(imaged, m.now), roomSummary(r.ledger.state, m.now), "room loaded from a snapshot image");
  // The image goes on exactly as the live room: the next tick decides the same.
  const later = m.now + 5_000;
  const a: SaleEvent[] = [];
  const b: SaleEvent[] = [];
  r.ledger.queueTick(later, 7, a);
  new SaleLedger(imaged).queueTick(later, 7, b);
  eq(m, b, a, "the next tick of the imaged room");
}

test(`the waiting room agrees with its model (${RUNS} runs)`, () => {
  const property = fc.property(specArb, fc.commands(commandArbs, { maxCommands: 80, size: "max" }), (s, commands) => {
    const spec: SaleSpec = {
      id: SALE_ID,
      name: "Queue drop",
      startsAt: T0 + s.startsIn,
      endsAt: T0 + s.startsIn + s.lasts,
      holdSeconds: HOLD_MS / 1000,
      limitPerUser: 2,
      items: [{ id: "tee", name: "Tee", price: 100, currency: "USD", delivery: "none", stock: s.stock }],
      waitingRoom: s.room,
    };
    const model = new Model(spec.startsAt, spec.endsAt, s.stock, s.room);
    const events: SaleEvent[] = [];
    const real: Real = { ledger: SaleLedger.create(spec, T0, events), events };
    checkRoom(model, real);
    fc.modelRun(() => ({ model, real }), commands);
    checkReplay(model, real);
  });
  const details = fc.check(property, { numRuns: RUNS, seed: SEED, path: PATH, endOnFailure: PATH !== undefined });
  if (coverage !== null) console.log([...coverage].sort().map(([tag, n]) => `${String(n).padStart(7)}  ${tag}`).join("\n"));
  if (details.failed) {
    const error = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
    throw new Error(`${fc.defaultReportMessage(details)}\n${error}\nReplay: QUEUE_MODEL_SEED=${details.seed} QUEUE_MODEL_PATH="${details.counterexamplePath}" bun test test/queue.model.test.ts`);
  }
}, 120_000);
