// The engine's one clock (DESIGN.md, "Bounded and self-sufficient"): wall time read once at start,
// then advanced by the monotonic clock. A step of the system clock (NTP, an operator) then moves
// nothing: a hold never expires early because the clock jumped forward, and expiry never freezes
// because it jumped back. The anchor is never earlier than the last time the journal recorded, so
// time also never runs backwards across a restart.

export type Clock = () => number;

export function engineClock(floorMs = 0, wall: Clock = Date.now, monotonic: Clock = () => performance.now()): Clock {
  const anchorWall = Math.max(wall(), floorMs);
  const anchorMonotonic = monotonic();
  let last = 0;
  return () => {
    const now = Math.floor(anchorWall + (monotonic() - anchorMonotonic));
    if (now > last) last = now;
    return last;
  };
}
