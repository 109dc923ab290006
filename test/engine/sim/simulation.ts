// The deterministic simulation of one worker: a seeded generator picks each step (a batch of
// commands with a fate, time passing, clock steps, expiry and snapshot ticks, write-behind flushes,
// faults, crashes) and the checks of checks.ts run after every step. A seed names one run exactly:
// no real time, no Math.random, no timer reaches the engine's decisions, so a failure replays from
// its seed, and its message carries the seed, the step and a trace of the last steps.

import { mkdirSync } from "node:fs";
import { Clients } from "./clients.ts";
import { checkBuyerList, checkExpired, checkJournalBounded, checkOwner, checkStore, readBack } from "./checks.ts";
import { Commands, type Sent, drawShape } from "./commands.ts";
import { advanceTime, anyFault, changeFaults, healFaults, stepWallClock } from "./environment.ts";
import { check, Model, SimFailure } from "./model.ts";
import { Random } from "./random.ts";
import { World } from "./world.ts";

const TRACE_STEPS = 50;
/** Event-loop turns a step may take to settle; past it an answer was lost (a request never answered). */
const SETTLE_TURNS_MAX = 1_000;
const START_WALL_MS = Date.UTC(2026, 11, 1, 12, 0, 0);

type Fate = "settle" | "before-commit" | "after-commit" | "after-replies";

export type SimStats = Record<string, number>;

export class Simulation {
  readonly rng: Random;
  readonly model = new Model();
  readonly world: World;
  readonly clients: Clients;
  readonly commands: Commands;
  readonly stats: SimStats = {};
  private readonly trace: string[] = [];
  /** A hash of every step's trace line and what the journal held after it: equal runs of one seed have equal digests. */
  digest = "";
  private step = 0;
  private line = "";

  constructor(
    readonly seed: number,
    private readonly steps: number,
    dir: string,
  ) {
    this.rng = new Random(seed);
    mkdirSync(dir, { recursive: true });
    const shape = drawShape(this.rng);
    this.world = new World({
      dir,
      startWallMs: START_WALL_MS + this.rng.int(1_000_000),
      recentEndedMax: shape.recentEndedMax,
      journalBacklogMax: shape.journalBacklogMax,
      committed: (events, lastSeq, committedAt) => this.model.committed(events, lastSeq, committedAt),
      log: (line) => this.note(line),
    });
    this.clients = new Clients(this.world, this.model);
    this.commands = new Commands(this.rng, this.model, this.clients, shape);
    this.note(`shape ${JSON.stringify(shape)}`);
  }

  private count(what: string, by = 1): void {
    this.stats[what] = (this.stats[what] ?? 0) + by;
  }

  private note(text: string): void {
    if (this.line.length < (process.env.SIM_TRACE_FULL === "1" ? 1e9 : 600)) this.line += ` ${text}`;
  }

  async run(): Promise<SimStats> {
    try {
      await this.world.storeDirect.migrate();
      await this.world.start(this.rng.int(1e9));
      await this.settle();
      for (this.step = 1; this.step <= this.steps; this.step += 1) {
        this.line = `#${this.step} t=${this.world.owner.now()}`;
        this.clients.beginStep();
        await this.oneStep();
        this.trace.push(this.line);
        this.digest = Bun.hash(`${this.digest}|${this.line}|${this.model.seq}|${this.model.lastCommittedAt}|${this.world.owner.now()}`).toString(36);
        if (this.trace.length > TRACE_STEPS) this.trace.shift();
        await checkOwner(this.world, this.model);
      }
      this.line = "final drain";
      await this.finish();
    } catch (error) {
      throw this.failure(error);
    }
    this.count("answers", this.clients.answered);
    for (const [what, count] of [...this.clients.tally].sort()) this.count(what, count);
    this.count("holdsPlaced", this.model.reservations.size);
    this.count("events", this.model.seq);
    return this.stats;
  }

  private failure(error: unknown): Error {
    const reason = error instanceof Error ? (error instanceof SimFailure ? error.message : (error.stack ?? error.message)) : String(error);
    const replay = `SIM_SEED=${this.seed} SIM_STEPS=${Math.min(this.step, this.steps)} bun test test/engine/simulation.test.ts`;
    return new SimFailure(
      `simulation failed: seed ${this.seed}, step ${this.step}: ${reason}\n  replay: ${replay}\n` +
        `  last steps:\n    ${[...this.trace, `${this.line}  <-- failed here`].join("\n    ")}`,
    );
  }

  private async oneStep(): Promise<void> {
    const kind = this.rng.weighted({ requests: 50, advance: 10, clock: 2, expire: 8, snapshot: 4, flush: 8, compact: 2.5, fault: 3, crash: 1, reads: 3 });
    this.count(kind);
    this.note(kind);
    switch (kind) {
      case "requests":
        return this.requests();
      case "advance":
        return this.note(advanceTime(this.world, this.rng));
      case "clock":
        return this.note(stepWallClock(this.world, this.rng));
      case "expire":
        this.world.expireTick();
        await this.settle();
        checkExpired(this.world, this.model);
        this.clients.endSettledStep();
        return;
      case "snapshot":
        return this.snapshot();
      case "flush":
        return this.flush();
      case "compact":
        return this.compact();
      case "fault":
        return this.note(changeFaults(this.world, this.rng));
      case "crash":
        this.world.kill();
        return this.recover();
      case "reads":
        return this.reads();
    }
  }

  /** Let the event loop run until every answer of the step came and nothing waits to commit. */
  private async settle(): Promise<void> {
    // At least one turn, so that what a step left to microtasks (a snapshot noted durable, the
    // truncation after it) has run before the checks.
    await new Promise<void>((resolve) => setImmediate(resolve));
    for (let turn = 0; turn < SETTLE_TURNS_MAX; turn += 1) {
      if (this.world.fatal !== null) throw this.world.fatal;
      if (this.clients.failure !== null) throw this.clients.failure;
      const process = this.world.process;
      if (process.dead) return;
      const waiting = this.clients.open.some((r) => r.generation === process.generation);
      if (!waiting && !process.owner.commit.busy) return;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    throw new SimFailure(`the step did not settle: ${this.clients.open.map((r) => r.n).join(",")} never answered`);
  }

  private send(sent: Sent): void {
    const generation = this.world.generation;
    // Now and then the link to a forwarding peer drops the answer: the peer sends the command again.
    const forwarded = sent.kind !== "create" && (sent.command.kind === "hold" || sent.command.kind === "release") && (sent.command.token ?? 0) !== 0;
    const linkLost = forwarded && this.rng.chance(0.15);
    if (sent.kind === "create") {
      this.note(`create ${sent.spec.id}`);
      this.clients.sendCreate(sent.spec);
    } else if (sent.kind === "hold") {
      const c = sent.command;
      this.note(`hold ${sent.saleId}/${c.itemId} ${c.userId} x${c.quantity}${c.idempotencyKey === null ? "" : ` key=${c.idempotencyKey}`}${c.token ? ` token=${c.token}` : ""}${sent.again ? " again" : ""}${linkLost ? " (link lost)" : ""}`);
      this.clients.sendHold(sent.saleId, c, sent.again === true, linkLost);
    } else {
      const c = sent.command;
      const what = c.kind === "release" ? `${c.reservationId} ${c.userId}${c.token ? ` token=${c.token}` : ""}` : c.kind === "payment" ? `${c.eventId}/${c.paymentId} ${c.reservationId} ${c.status} ${c.amount}` : JSON.stringify(c);
      this.note(`${c.kind} ${sent.saleId} ${what}${sent.again ? " again" : ""}${linkLost ? " (link lost)" : ""}`);
      this.clients.sendExecute(sent.saleId, c, sent.again === true, linkLost);
    }
    this.commands.sent(sent, generation, this.world.owner.now());
  }

  /** A batch of commands decided in one event-loop turn, then a fate: answered, or killed somewhere between decision and flush. */
  private async requests(): Promise<void> {
    const rng = this.rng;
    const burst = rng.chance(0.01);
    const count = burst ? rng.range(260, 320) : rng.range(1, 6);
    const fate: Fate = rng.weighted({ settle: 88, "before-commit": 4, "after-commit": 4, "after-replies": 4 });
    this.note(`x${count} ${fate}:`);
    this.count(`fate ${fate}`);
    const process = this.world.process;
    if (fate === "after-commit") process.background.afterCommit = () => this.world.kill();
    this.commands.beginBatch();
    const now = this.world.owner.now();
    if (this.clients.lostOnLink.length > 0 && rng.chance(0.5)) this.resendLostOnLink();
    for (let index = 0; index < count && !process.dead; index += 1) {
      const sent = this.commands.next(now, this.world.generation);
      if (sent !== null) this.send(sent);
    }
    // The owner's timers may fire while the batch waits for its commit (timers run before
    // setImmediate callbacks in an event-loop turn).
    if (!process.dead && rng.chance(0.08)) {
      this.note("| snapshot tick mid-batch");
      this.world.owner.snapshotDue(rng.chance(0.5));
    }
    if (!process.dead && rng.chance(0.08)) {
      this.note("| expiry tick mid-batch");
      this.world.expireTick();
    }
    if (fate === "before-commit") this.world.kill();
    await this.settle();
    process.background.afterCommit = null;
    if (fate === "after-replies") this.world.kill();
    if (process.dead) return this.recover();
    this.clients.endSettledStep();
  }

  /** Peers send again the forwarded commands whose answers their links lost (within their resend window). */
  private resendLostOnLink(): void {
    const lost = this.clients.lostOnLink;
    this.clients.lostOnLink = [];
    for (const request of lost) {
      if (request.kind === "create") continue;
      if (!this.commands.resendable(request.command.kind === "hold" || request.command.kind === "release" ? (request.command.token ?? 0) : 0, this.world.owner.now())) continue;
      if (request.kind === "hold") this.send({ kind: "hold", saleId: request.saleId, command: request.command, again: true });
      else this.send({ kind: "execute", saleId: request.saleId, command: request.command, again: true });
    }
  }

  /**
   * Kill the process (already done by the caller or a hook), close its files and start a new one
   * on them, sometimes with the store down (recovery must not need it once the journal has state).
   * Then the clients send again what was lost: peers their forwarded commands, buyers their keyed
   * holds, the provider its webhooks.
   */
  private async recover(): Promise<void> {
    check(this.world.process.dead, "recovering a running process");
    this.count("crashes");
    const lost = this.clients.open.filter((r) => r.generation === this.world.generation);
    this.clients.open = [];
    await this.world.closeDead();
    this.model.sync();
    const faults = this.world.faults;
    if (this.model.seq === 0) faults.storeDown = false; // a new data dir loads from the store
    else if (this.rng.chance(0.2)) faults.storeDown = true;
    this.note(`| restart${faults.storeDown ? " (store down)" : ""}, ${lost.length} lost`);
    // Sometimes the new process dies too, while its start snapshots the sales it replayed.
    const crashLoop = this.rng.chance(0.1);
    if (crashLoop) this.world.snapshotFate = () => (this.rng.chance(0.5) ? "crash-before" : "crash-after");
    try {
      await this.world.start(this.rng.int(1e9));
    } catch (error) {
      throw new SimFailure(`recovery failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    } finally {
      this.world.snapshotFate = () => "write";
    }
    if (this.world.process.dead) {
      this.note("| killed again during its start");
      this.count("killed during start");
      return this.recover();
    }
    await this.settle();
    await checkOwner(this.world, this.model);
    const live = this.clients.held.filter((h) => this.model.sales.get(h.saleId)?.live.has(h.id) === true);
    await readBack(this.world, this.model, live.slice(-60));
    this.clients.beginStep();
    this.resendLostOnLink();
    for (const request of lost) {
      if (!this.rng.chance(0.85)) continue;
      const token = request.kind === "create" ? 0 : "token" in request.command ? (request.command.token ?? 0) : 0;
      if (token !== 0 && !this.commands.resendable(token, this.world.owner.now())) continue;
      if (request.kind === "hold" && (request.command.idempotencyKey !== null || token !== 0)) {
        this.send({ kind: "hold", saleId: request.saleId, command: request.command, again: true });
      } else if (request.kind === "execute" && (request.command.kind === "payment" || (request.command.kind === "release" && token !== 0))) {
        this.send({ kind: "execute", saleId: request.saleId, command: request.command, again: true });
      } else if (request.kind === "create") {
        this.send({ kind: "create", spec: request.spec });
      }
    }
    await this.settle();
    if (this.world.process.dead) return this.recover();
    this.clients.endSettledStep();
  }

  private async snapshot(): Promise<void> {
    const rng = this.rng;
    const fate = rng.weighted({ plain: 70, "crash-before-durable": 10, "crash-before": 10, "crash-after": 10 });
    this.note(fate);
    const owner = this.world.owner;
    if (fate === "crash-before" || fate === "crash-after") {
      // Killed while writing the k-th snapshot of the tick (before or after it reached the file).
      let writes = rng.int(3);
      this.world.snapshotFate = () => (writes-- === 0 ? fate : "write");
    }
    owner.snapshotDue(rng.chance(0.4));
    this.world.snapshotFate = () => "write";
    // The snapshots are written; their durability is noted in a later microtask, which a kill now precedes.
    if (fate === "crash-before-durable") this.world.kill();
    await this.settle();
    if (this.world.process.dead) return this.recover();
  }

  private async flush(): Promise<void> {
    const faults = this.world.faults;
    try {
      await this.world.process.background.flush();
    } catch (error) {
      check(faults.storeDown || faults.applyFails !== "no", () => `a flush failed with the store healthy: ${String(error)}`);
      this.note("failed");
      return;
    }
    this.count("fullFlushes");
    await checkStore(this.world, this.model, (this.stats.fullFlushes ?? 0) % 20 === 1);
  }

  /** Flush, snapshot every sale: the journal must shrink to its recent window (bounded disk). */
  private async compact(): Promise<void> {
    if (anyFault(this.world)) return this.note("skipped (faults)");
    await this.world.process.background.flush();
    this.world.owner.snapshotDue(true);
    await this.settle();
    checkJournalBounded(this.world, this.model);
    this.count("compactions");
  }

  private async reads(): Promise<void> {
    const held = this.clients.held;
    if (held.length === 0) return;
    const picks = Array.from({ length: 5 }, () => this.rng.pick(held));
    this.count("readBack", await readBack(this.world, this.model, picks));
    const buyer = this.rng.pick(held);
    if (await checkBuyerList(this.world, this.model, buyer.saleId, buyer.userId)) this.count("buyerLists");
  }

  /** The end: heal, drain the store, compare everything, stop cleanly. */
  private async finish(): Promise<void> {
    healFaults(this.world);
    this.clients.beginStep();
    this.world.expireTick();
    await this.settle();
    await this.world.process.background.flush();
    await checkStore(this.world, this.model, true);
    await this.world.shutdown();
  }
}
