// A full garbage collection of the request thread, run only when it has been idle for a moment
// after doing work. JSC collects as it goes, but after a burst of a million holds the allocator
// keeps the pages the burst's garbage used; collecting once the burst is over gives them back, so
// the process's memory follows what is live (DESIGN.md, "Bounded and self-sufficient") without a
// pause while buyers are waiting.

/** How often the collector looks; it collects when nothing was decided since the last look. */
const CHECK_INTERVAL_MS = 1_000;
/** Decisions since the last collection worth one (below this the garbage is not worth the pause). */
const DECISIONS_WORTH_COLLECTING = 50_000;

export function startIdleCollector(decisions: () => number): { stop(): void } {
  let seen = decisions();
  // From zero, not from `seen`: what a recovery counted before the collector started is worth one too.
  let collectedAt = 0;
  const timer = setInterval(() => {
    const now = decisions();
    const idle = now === seen;
    seen = now;
    if (!idle || now - collectedAt < DECISIONS_WORTH_COLLECTING) return;
    collectedAt = now;
    Bun.gc(true);
  }, CHECK_INTERVAL_MS);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
