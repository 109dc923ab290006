// Forwarding tokens (issue "no unknown outcomes"): a worker that forwards a hold or a release to the
// sale's owner names the request with a token. The owner records the token in the events the
// command produced and keeps the latest tokens of each forwarding worker in a small ring. When the
// owner dies before its answer arrives, the forwarder waits for it to come back and sends the same
// command again; the owner finds the token and answers with what the first send did, so the buyer
// sees one hold, never two, and never a 503 for a hold that is in fact durable.
//
// A token is 53 bits: the forwarding worker's index (8 bits), an epoch picked at its start (13 bits)
// and a counter (32 bits), so tokens of a restarted forwarder do not meet its old ones.

const INDEX_FACTOR = 2 ** 45;
const EPOCH_FACTOR = 2 ** 32;
const EPOCH_COUNT = 8192;
/** Tokens remembered per forwarding worker: far more than the holds it may have in flight (4096). */
export const TOKENS_PER_FORWARDER = 8192;
export const FORWARDERS_MAX = 256;

/** Makes the tokens of one forwarding worker. */
export class TokenSource {
  private counter = 0;
  private readonly base: number;

  constructor(index: number, epoch = Math.floor(Math.random() * EPOCH_COUNT)) {
    if (!Number.isInteger(index) || index < 0 || index >= FORWARDERS_MAX) throw new RangeError("forwarder index out of range");
    this.base = index * INDEX_FACTOR + (epoch % EPOCH_COUNT) * EPOCH_FACTOR;
  }

  next(): number {
    this.counter = (this.counter + 1) % EPOCH_FACTOR || 1;
    return this.base + this.counter;
  }
}

export type TokenKind = "hold" | "release";
export type Remembered = { saleId: string; reservationId: string; kind: TokenKind };

/** The owner's memory of recent tokens, a ring per forwarding worker. */
export class ForwardTokens {
  private readonly rings = new Map<number, { tokens: Float64Array; entries: (Remembered | undefined)[] }>();

  remember(token: number, entry: Remembered): void {
    if (token === 0) return;
    const index = Math.floor(token / INDEX_FACTOR);
    let ring = this.rings.get(index);
    if (ring === undefined) {
      ring = { tokens: new Float64Array(TOKENS_PER_FORWARDER), entries: new Array(TOKENS_PER_FORWARDER) };
      this.rings.set(index, ring);
    }
    const slot = (token % EPOCH_FACTOR) % TOKENS_PER_FORWARDER;
    ring.tokens[slot] = token;
    ring.entries[slot] = entry;
  }

  find(token: number): Remembered | undefined {
    const ring = this.rings.get(Math.floor(token / INDEX_FACTOR));
    if (ring === undefined) return undefined;
    const slot = (token % EPOCH_FACTOR) % TOKENS_PER_FORWARDER;
    return ring.tokens[slot] === token ? ring.entries[slot] : undefined;
  }
}
