// Which live node should own a sale: rendezvous (highest random weight) hashing. Every node scores
// every (sale, node) pair the same way, so nodes that see the same live list agree without talking,
// and when a node joins or leaves only the sales it wins or held move (about 1/n of them).

/** The score of `nodeId` for `saleId`; the highest wins. A 64-bit hash, so ties do not happen in practice. */
function score(saleId: string, nodeId: string): bigint {
  return Bun.hash.wyhash(`${saleId}\n${nodeId}`);
}

/** The node among `nodeIds` that should own `saleId` (null when there is none). */
export function preferredNode(saleId: string, nodeIds: readonly string[]): string | null {
  let best: string | null = null;
  let bestScore = -1n;
  for (const nodeId of nodeIds) {
    const s = score(saleId, nodeId);
    if (s > bestScore || (s === bestScore && best !== null && nodeId < best)) {
      best = nodeId;
      bestScore = s;
    }
  }
  return best;
}
