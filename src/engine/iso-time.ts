// ISO 8601 strings of millisecond times, cached: every hold answer carries two (createdAt and
// expiresAt) and many holds share a millisecond. A direct-mapped cache of a few hundred entries
// catches both, since `now` and `now + holdSeconds` fall in different slots.

const SLOTS = 512;
const cachedMs = new Float64Array(SLOTS).fill(Number.NaN);
const cachedText: string[] = new Array(SLOTS).fill("");

export function isoTime(ms: number): string {
  const slot = ms & (SLOTS - 1);
  if (cachedMs[slot] === ms) return cachedText[slot] as string;
  const text = new Date(ms).toISOString();
  cachedMs[slot] = ms;
  cachedText[slot] = text;
  return text;
}
