// The store as a node-mode owner sees it when it starts: there is nothing to recover. Its sales come
// from PostgreSQL one by one as it wins their leases (leases.ts), so a worker starts, and answers 503
// for sales it does not hold yet, even while PostgreSQL is away; the journal's numbering is aligned
// with the store before the first lease (start-node.ts), not here. Every other call goes to the store.

import type { Store } from "../store/store.ts";

export function startingEmpty(store: Store): Store {
  return new Proxy(store, {
    get(target, key) {
      if (key === "loadSales") return async () => [];
      if (key === "appliedSeq") return async () => 0;
      const value = Reflect.get(target, key, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}
