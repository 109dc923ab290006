// Reservation ids (API.md: "ids the server makes are opaque strings"). An id names its sale, the
// hold's sequence number within the sale and the row of the sale's hold table it lives in:
// `drop-42.0000002s.1f`. The row makes a live hold O(1) to find with no index; the sequence number,
// fixed-width so that ids sort in the order holds were placed, makes the id unique forever (a row is
// reused, a sequence number never) and tells a live hold from an ended one that used the row before.
// The sale id makes ids unique across sales, which share one reservations table in the store.

/** Base-36 digits of the sequence number: 36^8 ≈ 2.8e12 holds a sale. */
const SEQ_DIGITS = 8;
export const HOLD_SEQ_MAX = 36 ** SEQ_DIGITS - 1;

export function formatReservationId(saleId: string, seq: number, row: number): string {
  return `${saleId}.${seqDigits(seq)}.${rowDigits(row)}`;
}

/** The prefix every id of a sale starts with; the ledger keeps it to make ids cheaply. */
export function reservationIdPrefix(saleId: string): string {
  return `${saleId}.`;
}

export function formatWithPrefix(prefix: string, seq: number, row: number): string {
  return `${prefix}${seqDigits(seq)}.${rowDigits(row)}`;
}

/**
 * Base-36 digit pairs "00".."zz". A sequence number read back from the journal is a double, and
 * `toString(36)` of a double takes JSC's general radix path (about 3 µs): a start replaying 200,000
 * holds spent a third of its time there. Four lookups of two digits each make the same text.
 */
const PAIRS: readonly string[] = Array.from({ length: 36 * 36 }, (_, n) => n.toString(36).padStart(2, "0"));

function seqDigits(seq: number): string {
  if (!(seq >= 0 && seq <= HOLD_SEQ_MAX && Number.isInteger(seq))) return seq.toString(36).padStart(SEQ_DIGITS, "0");
  const d0 = seq % 1296;
  const r1 = (seq - d0) / 1296;
  const d1 = r1 % 1296;
  const r2 = (r1 - d1) / 1296;
  const d2 = r2 % 1296;
  const d3 = (r2 - d2) / 1296;
  return `${PAIRS[d3]}${PAIRS[d2]}${PAIRS[d1]}${PAIRS[d0]}`;
}

function rowDigits(row: number): string {
  if (!(row >= 0 && row <= 0x3fffffff && Number.isInteger(row))) return row.toString(36);
  if (row < 1296) return row < 36 ? ((PAIRS[row] as string)[1] as string) : (PAIRS[row] as string);
  const d0 = row % 1296;
  const r1 = (row - d0) / 1296;
  if (r1 < 1296) return `${r1 < 36 ? (PAIRS[r1] as string)[1] : PAIRS[r1]}${PAIRS[d0]}`;
  const d1 = r1 % 1296;
  const d2 = (r1 - d1) / 1296; // < 1296: a row is below 2^30 < 36^6
  return `${d2 < 36 ? (PAIRS[d2] as string)[1] : PAIRS[d2]}${PAIRS[d1]}${PAIRS[d0]}`;
}

/** The sequence number and row of an id of this sale, or null for anything else (a foreign or made-up id). */
export function parseReservationId(prefix: string, id: string): { seq: number; row: number } | null {
  if (!id.startsWith(prefix)) return null;
  const seqEnd = prefix.length + SEQ_DIGITS;
  if (id.length < seqEnd + 2 || id.charCodeAt(seqEnd) !== 0x2e) return null;
  // One spelling per id: a row written with a leading zero ("01") is not the row of "1".
  if (id.charCodeAt(seqEnd + 1) === 0x30 && id.length > seqEnd + 2) return null;
  const seq = parseBase36(id, prefix.length, seqEnd);
  const row = parseBase36(id, seqEnd + 1, id.length);
  if (seq <= 0 || row < 0 || row > 0x3fffffff) return null;
  return { seq, row };
}

/** Lowercase base-36 digits only (no sign, no spaces: `parseInt` would accept those); -1 otherwise. */
function parseBase36(text: string, start: number, end: number): number {
  if (end <= start || end - start > 10) return -1;
  let value = 0;
  for (let i = start; i < end; i += 1) {
    const c = text.charCodeAt(i);
    const digit = c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x7a ? c - 0x61 + 10 : -1;
    if (digit < 0) return -1;
    value = value * 36 + digit;
  }
  return value;
}
