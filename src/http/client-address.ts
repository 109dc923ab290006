// The client's address for rate limiting: the TCP peer, or with STAMPEDE_TRUST_PROXY=N the address
// N proxies deep in X-Forwarded-For (the entry our Nth trusted proxy appended), never an entry the
// client could have written itself.

export function clientAddress(request: Request, peer: string | undefined, trustProxy: number): string {
  if (trustProxy > 0) {
    const forwarded = request.headers.get("x-forwarded-for");
    if (forwarded !== null) {
      const hops = forwarded.split(",");
      const entry = hops[Math.max(0, hops.length - trustProxy)];
      const address = entry?.trim();
      if (address !== undefined && address.length > 0 && address.length <= 64) return address;
    }
  }
  return peer ?? "unknown";
}
