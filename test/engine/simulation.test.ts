// The deterministic simulation of owner + journal + snapshots + store (test/engine/sim/): seeded
// steps of commands, time, clock steps, ticks, flushes, store and snapshot faults and kills at any
// point between decision, commit, answer and flush, with the invariants checked after every step.
//
// CI runs a fixed set of seeds (SIM_STEPS steps each, 10,000 in all by default). To replay a failure
// or to explore further:
//   SIM_SEED=<seed> SIM_STEPS=<steps> bun test test/engine/simulation.test.ts
//   SIM_SEED=random SIM_STEPS=50000 bun test test/engine/simulation.test.ts
// SIM_STATS=1 prints what each run covered (steps, fates, answers by kind); SIM_TRACE_FULL=1 keeps
// whole trace lines (a burst of commands is cut at 600 characters otherwise).

import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Simulation } from "./sim/simulation.ts";

const CI_SEEDS = [1, 2, 3, 4];
const CI_STEPS_PER_SEED = 2_500;

const seedSetting = process.env.SIM_SEED;
const seeds =
  seedSetting === undefined ? CI_SEEDS : seedSetting === "random" ? [Math.floor(Math.random() * 2 ** 31)] : seedSetting.split(",").map(Number);
const steps = Number(process.env.SIM_STEPS ?? CI_STEPS_PER_SEED);
// The simulation kills processes, not machines: memory-backed files (where there are) keep its
// thousands of restarts and checkpoints from waiting on a disk.
const root = mkdtempSync(join(existsSync("/dev/shm") ? "/dev/shm" : tmpdir(), "stampede-sim-"));

afterAll(() => rmSync(root, { recursive: true, force: true }));

test("a seed replays exactly: two runs of one seed take the same steps to the same journal", async () => {
  const digests: string[] = [];
  for (const run of [1, 2]) {
    const simulation = new Simulation(977, 400, join(root, `replay-${run}`));
    await simulation.run();
    digests.push(simulation.digest);
  }
  expect(digests[0]).toBe(digests[1] as string);
}, 60_000);

for (const seed of seeds) {
  test(`simulation seed ${seed}, ${steps} steps`, async () => {
    const started = performance.now();
    const stats = await new Simulation(seed, steps, join(root, `seed-${seed}`)).run();
    if (process.env.SIM_STATS === "1") console.log(`seed ${seed}: ${Math.round(performance.now() - started)} ms`, stats);
    expect(stats.holdsPlaced ?? 0).toBeGreaterThan(0);
  }, Math.max(120_000, steps * 30));
}
