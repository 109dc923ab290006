// What happens to the simulated machine around the worker: time passing, steps of the wall clock,
// and the store and disk failing and healing. Each function changes the world and returns a note
// for the trace.

import type { Random } from "./random.ts";
import type { World } from "./world.ts";

/** Time passes on both clocks: mostly a little, sometimes past holds' expiry, rarely hours or a day (keys age out). */
export function advanceTime(world: World, rng: Random): string {
  const by = rng.weighted({ short: 60, hold: 30, long: 8, day: 2 });
  const ranges = { short: [1, 1_500], hold: [1_000, 130_000], long: [600_000, 3 * 3_600_000], day: [23 * 3_600_000, 26 * 3_600_000] } as const;
  const [min, max] = ranges[by];
  const ms = rng.range(min, max);
  world.advance(ms);
  return `+${ms}ms`;
}

/** A step of the wall clock alone (NTP, an operator), either way: the engine's time must not move. */
export function stepWallClock(world: World, rng: Random): string {
  const by = (rng.chance(0.5) ? -1 : 1) * rng.range(1_000, 6 * 3_600_000);
  world.wallMs += by;
  return `wall ${by > 0 ? "+" : ""}${by}`;
}

/** Heal every fault (most often, when there is one), or start or end one: store down, batches failing before or after they apply, snapshot writes failing. */
export function changeFaults(world: World, rng: Random): string {
  const faults = world.faults;
  const any = faults.storeDown || faults.applyFails !== "no" || faults.snapshotWritesFail;
  if (any && rng.chance(0.75)) {
    healFaults(world);
    return "healed";
  }
  switch (rng.weighted({ down: 2, before: 1, after: 1, snapshots: 1 })) {
    case "down":
      faults.storeDown = !faults.storeDown;
      break;
    case "before":
      faults.applyFails = "before";
      break;
    case "after":
      faults.applyFails = "after";
      break;
    case "snapshots":
      faults.snapshotWritesFail = !faults.snapshotWritesFail;
      break;
  }
  return JSON.stringify(faults);
}

export function healFaults(world: World): void {
  Object.assign(world.faults, { storeDown: false, applyFails: "no", snapshotWritesFail: false });
}

export function anyFault(world: World): boolean {
  const faults = world.faults;
  return faults.storeDown || faults.applyFails !== "no" || faults.snapshotWritesFail;
}
