// Which worker owns a sale: a stable hash of its id modulo the number of workers. Stable across
// restarts and processes, so every worker routes a sale to the same owner without asking anyone.

/** FNV-1a, 32 bits, over the UTF-16 code units of the id (ids are ASCII by contract). */
export function saleHash(saleId: string): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < saleId.length; index += 1) {
    hash ^= saleId.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

export function ownerOf(saleId: string, workers: number): number {
  return saleHash(saleId) % workers;
}
