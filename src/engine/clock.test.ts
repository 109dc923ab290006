// The engine's clock ignores steps of the wall clock: anchored once, advanced by the monotonic
// clock, never earlier than the journal's last record, never backwards.

import { expect, test } from "bun:test";
import { engineClock } from "./clock.ts";

test("wall-clock steps back and forward move nothing; time never runs backwards", () => {
  let wall = 1_800_000_000_000;
  let monotonic = 5_000;
  const now = engineClock(0, () => wall, () => monotonic);
  expect(now()).toBe(1_800_000_000_000);
  monotonic += 1_500;
  wall -= 3_600_000; // an hour back (NTP, an operator)
  expect(now()).toBe(1_800_000_001_500);
  wall += 7_200_000; // two hours forward
  monotonic += 500;
  expect(now()).toBe(1_800_000_002_000);
  // A monotonic clock that stalls (or a suspended VM) still never sends time back.
  monotonic -= 10;
  expect(now()).toBe(1_800_000_002_000);
});

test("the anchor is never earlier than the journal's last record (a restart after the wall clock went back)", () => {
  const now = engineClock(1_900_000_000_000, () => 1_800_000_000_000, () => 0);
  expect(now()).toBe(1_900_000_000_000);
});
