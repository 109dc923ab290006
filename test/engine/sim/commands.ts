// What the simulated clients ask for: random commands drawn from the seed, aimed at what exists
// (sales and items the journal has, holds the buyers were answered) with a share of mistakes,
// retries and duplicates, so that every refusal and every exactly-once path is walked.

import { RESEND_WAIT_MS } from "../../../src/cluster/peers.ts";
import { TokenSource } from "../../../src/engine/forward-tokens.ts";
import type { HoldCommand, ItemSpec, PaymentCommand, ReleaseCommand, SaleCommand, SalePatch, SaleSpec } from "../../../src/ledger/types.ts";
import type { Clients } from "./clients.ts";
import type { Model } from "./model.ts";
import type { Random } from "./random.ts";

export type Sent =
  | { kind: "hold"; saleId: string; command: HoldCommand; again?: boolean }
  | { kind: "execute"; saleId: string; command: SaleCommand; again?: boolean }
  | { kind: "create"; spec: SaleSpec };

/** The shape of one run, drawn from its seed. */
export type Shape = { users: number; salesMax: number; recentEndedMax: number; journalBacklogMax: number };

export function drawShape(rng: Random): Shape {
  return {
    users: rng.range(4, 40),
    salesMax: rng.range(2, 5),
    // A small window sends releases and payments of ended holds to the store (needsHistory).
    recentEndedMax: rng.pick([4, 16, 64, 4096]),
    journalBacklogMax: rng.pick([Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY, 400]),
  };
}

const HOLD_SECONDS = [1, 2, 5, 30, 120, 600];
/** Sales created in a run at most. */
const SALES_MAX = 12;

export class Commands {
  private saleCount = 0;
  private keyCount = 0;
  private paymentCount = 0;
  private codeCount = 0;
  private readonly forwarders: TokenSource[];
  /** Keys each buyer used in each sale: `sale \n user` -> keys. */
  private readonly keysOf = new Map<string, string[]>();
  private readonly payments: { saleId: string; command: PaymentCommand }[] = [];
  /** Forwarded commands sent by the running process's peers, which may send them again. */
  recentForwarded: { saleId: string; command: HoldCommand | ReleaseCommand; generation: number }[] = [];
  /** When each forwarded command was first sent (engine time): a peer resends only within RESEND_WAIT_MS of it. */
  private readonly firstSentAt = new Map<number, number>();
  private patched = new Set<string>();
  private now = 0;

  constructor(
    private readonly rng: Random,
    private readonly model: Model,
    private readonly clients: Clients,
    readonly shape: Shape,
  ) {
    this.forwarders = [new TokenSource(1, rng.int(8192)), new TokenSource(2, rng.int(8192))];
  }

  /** A new batch: one patch per sale in it at most (an acknowledged patch is then checked field by field). */
  beginBatch(): void {
    this.patched.clear();
  }

  private user(): string {
    return `u${this.rng.range(1, this.shape.users)}`;
  }

  /** Sales taking holds now. */
  private open(): string[] {
    const now = this.now;
    return [...this.model.sales.values()].filter((sale) => !sale.paused && sale.startsAt <= now && now < sale.endsAt).map((sale) => sale.id);
  }

  /** Mostly a sale that is open (the buyers' target), sometimes any, rarely one that does not exist. */
  private saleId(): string | null {
    const ids = [...this.model.sales.keys()];
    if (ids.length === 0 || this.rng.chance(0.03)) return this.rng.chance(0.5) || ids.length === 0 ? null : "nosale";
    const open = this.open();
    return this.rng.pick(open.length > 0 && this.rng.chance(0.85) ? open : ids);
  }

  spec(now: number): SaleSpec {
    const rng = this.rng;
    // Now and then an id that exists (already_exists), always once SALES_MAX sales were made.
    const again = this.saleCount > 0 && (this.saleCount >= SALES_MAX || rng.chance(0.08));
    const id = again ? `s${rng.range(1, this.saleCount)}` : `s${++this.saleCount}`;
    const startsAt = rng.chance(0.85) ? now - rng.range(0, 60_000) : now + rng.range(1_000, 120_000);
    const items: ItemSpec[] = [];
    for (let index = 0, count = rng.range(1, 3); index < count; index += 1) {
      const codes = rng.chance(0.35);
      items.push({
        ...{ id: `i${index + 1}`, name: `Item ${index + 1}`, price: rng.range(1, 50) * 100 },
        ...{ currency: rng.pick(["EUR", "USD"]), delivery: codes ? "codes" : "none", stock: codes ? 0 : rng.range(0, 25) },
      });
    }
    const holdSeconds = rng.pick(HOLD_SECONDS);
    return { id, name: `Sale ${id}`, startsAt, endsAt: startsAt + rng.range(30 * 60_000, 72 * 3_600_000), holdSeconds, limitPerUser: rng.range(1, 6), items };
  }

  /** One command of a batch. */
  next(now: number, generation: number): Sent | null {
    const rng = this.rng;
    this.now = now;
    // New sales come as old ones end (time runs on by hours and days here), up to a few open at
    // once; past SALES_MAX, an operator reopens an old one instead (an owner keeps every sale).
    const open = this.open().length;
    if (open === 0 ? rng.chance(0.3) : open < this.shape.salesMax && rng.chance(0.01)) {
      if (this.model.sales.size < SALES_MAX) return { kind: "create", spec: this.spec(now) };
      const closed = [...this.model.sales.keys()].filter((id) => !this.open().includes(id) && !this.patched.has(id));
      if (closed.length > 0) {
        const saleId = rng.pick(closed);
        this.patched.add(saleId);
        return { kind: "execute", saleId, command: { kind: "patch", patch: { endsAt: now + rng.range(3_600_000, 48 * 3_600_000), paused: false } } };
      }
    }
    const kind = rng.weighted({ hold: 60, release: 12, payment: 15, patch: 2, stock: 4, codes: 3, resend: 3, create: 0.3 });
    if (kind === "create") return { kind, spec: this.spec(now) };
    if (kind === "resend") return this.resend(generation);
    const saleId = this.saleId();
    if (saleId === null) return null;
    switch (kind) {
      case "hold":
        return { kind: "hold", saleId, command: this.hold(saleId) };
      case "release":
        return this.release();
      case "payment":
        return this.payment();
      case "patch":
        return this.patch(saleId, now);
      case "stock":
      case "codes":
        return this.itemChange(saleId, kind);
    }
  }

  hold(saleId: string): HoldCommand {
    const rng = this.rng;
    const items = [...(this.model.sales.get(saleId)?.items.keys() ?? ["i1"])];
    let itemId = rng.chance(0.02) ? "noitem" : rng.pick(items);
    let quantity = rng.chance(0.7) ? 1 : rng.range(2, 4);
    const userId = this.user();
    let idempotencyKey: string | null = null;
    if (rng.chance(0.3)) {
      const mine = this.keysOf.get(`${saleId}\n${userId}`) ?? [];
      const used = mine.length > 0 && rng.chance(0.5) ? rng.pick(mine) : null;
      const known = used === null ? undefined : this.clients.keys.get(`${saleId}\n${userId}\n${used}`);
      if (used !== null && known !== undefined) {
        idempotencyKey = used;
        if (rng.chance(0.75)) ({ itemId, quantity } = known);
      } else {
        idempotencyKey = `k${++this.keyCount}`;
        this.keysOf.set(`${saleId}\n${userId}`, [...mine, idempotencyKey]);
        this.clients.keys.set(`${saleId}\n${userId}\n${idempotencyKey}`, { itemId, quantity, firstBody: null, firstAt: 0 });
      }
    }
    const command: HoldCommand = { kind: "hold", userId, itemId, quantity, idempotencyKey };
    if (rng.chance(0.15)) command.token = this.rng.pick(this.forwarders).next();
    return command;
  }

  private heldTarget(): { id: string; saleId: string; userId: string } | null {
    const held = this.clients.held;
    if (held.length === 0) return null;
    // Mostly recent holds (live ones), sometimes any from the whole run (ended, maybe only in the store).
    return this.rng.chance(0.7) ? (held[held.length - 1 - this.rng.int(Math.min(held.length, 40))] ?? null) : this.rng.pick(held);
  }

  private release(): Sent | null {
    const rng = this.rng;
    const target = this.heldTarget();
    if (target === null || rng.chance(0.06)) {
      const saleId = this.saleId() ?? "nosale";
      const id = rng.pick([`${saleId}.00000000.0`, "nope", `${saleId}.zzzzzzzz.0`]);
      return { kind: "execute", saleId, command: { kind: "release", reservationId: id, userId: this.user() } };
    }
    const userId = rng.chance(0.9) ? target.userId : this.user();
    const command: ReleaseCommand = { kind: "release", reservationId: target.id, userId };
    if (rng.chance(0.15)) command.token = rng.pick(this.forwarders).next();
    return { kind: "execute", saleId: target.saleId, command };
  }

  private payment(): Sent | null {
    const rng = this.rng;
    if (this.payments.length > 0 && rng.chance(0.15)) return { kind: "execute", ...rng.pick(this.payments.slice(-100)) };
    const target = this.heldTarget();
    if (target === null) return null;
    const reservation = this.model.reservations.get(target.id);
    const amount = reservation?.amount ?? 100;
    const currency = reservation?.currency ?? "EUR";
    const earlier = this.payments.filter((p) => p.command.reservationId === target.id);
    const again = earlier.length > 0 && rng.chance(0.3) ? rng.pick(earlier).command : null;
    const n = ++this.paymentCount;
    const command: PaymentCommand = {
      kind: "payment",
      eventId: `e${n}`,
      paymentId: again?.paymentId ?? `p${n}`,
      reservationId: target.id,
      status: rng.chance(0.85) ? "succeeded" : "failed",
      amount: rng.chance(0.88) ? amount : amount + 1,
      currency: rng.chance(0.97) ? currency : currency === "EUR" ? "USD" : "EUR",
    };
    this.payments.push({ saleId: target.saleId, command });
    return { kind: "execute", saleId: target.saleId, command };
  }

  private patch(saleId: string, now: number): Sent | null {
    if (this.patched.has(saleId)) return null;
    this.patched.add(saleId);
    const rng = this.rng;
    const sale = this.model.sales.get(saleId);
    const patch: SalePatch = {};
    switch (rng.weighted({ limit: 3, holdSeconds: 2, paused: 2, endsAt: 3, startsAt: 1, name: 1 })) {
      case "limit":
        patch.limitPerUser = rng.range(1, 6);
        break;
      case "holdSeconds":
        patch.holdSeconds = rng.pick(HOLD_SECONDS);
        break;
      case "paused":
        patch.paused = !(sale?.paused ?? false);
        break;
      case "endsAt":
        patch.endsAt = now + rng.range(-600_000, 48 * 3_600_000);
        break;
      case "startsAt":
        patch.startsAt = now + rng.range(-3_600_000, 120_000);
        break;
      case "name":
        patch.name = `Sale ${saleId} v${rng.range(1, 99)}`;
        break;
    }
    return { kind: "execute", saleId, command: { kind: "patch", patch } };
  }

  private itemChange(saleId: string, kind: "stock" | "codes"): Sent {
    const rng = this.rng;
    const items = [...(this.model.sales.get(saleId)?.items.values() ?? [])];
    const wanted = items.filter((item) => (item.delivery === "codes") === (kind === "codes"));
    const item = wanted.length > 0 && rng.chance(0.92) ? rng.pick(wanted) : items.length > 0 ? rng.pick(items) : undefined;
    const itemId = item?.id ?? "noitem";
    if (kind === "stock") return { kind: "execute", saleId, command: { kind: "stock", itemId, delta: rng.range(-6, 12) } };
    const codes: string[] = [];
    for (let index = 0, count = rng.range(1, 6); index < count; index += 1) {
      const known = item === undefined ? [] : [...item.known];
      codes.push(known.length > 0 && rng.chance(0.2) ? rng.pick(known) : `${saleId}-${itemId}-c${++this.codeCount}`);
    }
    return { kind: "execute", saleId, command: { kind: "codes", itemId, codes } };
  }

  /** A peer sends a forwarded command again (its link dropped) to the same, running owner. */
  private resend(generation: number): Sent | null {
    // Only to the process that took the first send: a restarted owner remembers tokens of the last
    // few seconds of its journal, and the simulation resends lost ones right after recovery.
    const candidates = this.recentForwarded.filter((f) => f.generation === generation && this.resendable(f.command.token ?? 0, this.now));
    if (candidates.length === 0) return null;
    const { saleId, command } = this.rng.pick(candidates);
    return command.kind === "hold" ? { kind: "hold", saleId, command, again: true } : { kind: "execute", saleId, command, again: true };
  }

  /**
   * Whether a peer still sends a forwarded command again: within RESEND_WAIT_MS of its first send
   * (cluster/peers.ts), which is what lets a restarted owner remember only a few seconds of tokens.
   */
  resendable(token: number, now: number): boolean {
    return now - (this.firstSentAt.get(token) ?? Number.NEGATIVE_INFINITY) <= RESEND_WAIT_MS;
  }

  /** Remember forwarded commands, so that peers can send them again. */
  sent(sent: Sent, generation: number, now: number): void {
    if (sent.kind === "create" || sent.again === true || (sent.command.kind !== "hold" && sent.command.kind !== "release")) return;
    if ((sent.command.token ?? 0) === 0) return;
    this.firstSentAt.set(sent.command.token ?? 0, now);
    this.recentForwarded.push({ saleId: sent.saleId, command: sent.command, generation });
    if (this.recentForwarded.length > 30) this.recentForwarded.shift();
  }
}
