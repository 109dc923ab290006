// The client's address for rate limiting: the TCP peer, or with STAMPEDE_TRUST_PROXY=N the address
// N proxies deep in X-Forwarded-For (the entry our Nth trusted proxy appended), never an entry the
// client could have written itself. A header with fewer than N entries did not come through our N
// proxies (or one of them does not append), so its entries are not trusted: the peer is used.

/** Longer than any IPv6 address with a zone; anything longer is not an address a proxy wrote. */
const ADDRESS_LENGTH_MAX = 64;

export function clientAddress(request: Request, peer: string | undefined, trustProxy: number): string {
  if (trustProxy > 0) {
    const forwarded = request.headers.get("x-forwarded-for");
    if (forwarded !== null) {
      // Several X-Forwarded-For lines arrive joined with ", ", in order, which is what we want.
      const hops = forwarded.split(",");
      if (hops.length >= trustProxy) {
        const address = hops[hops.length - trustProxy]?.trim();
        if (address !== undefined && address.length > 0 && address.length <= ADDRESS_LENGTH_MAX) return address;
      }
    }
  }
  return peer ?? "unknown";
}
