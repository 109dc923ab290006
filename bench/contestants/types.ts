// What the scenarios need from a contestant: its URL, a way to create a sale, the exact counts of an
// item after a run (the operator view), and whether anything of it crashed.

export type SaleSpec = {
  id: string;
  limitPerUser: number;
  holdSeconds: number;
  items: { id: string; stock: number; price: number }[];
};

export type ItemCounts = { stock: number; available: number; held: number; confirmed: number };

export type ContestantKind = "ceiling" | "stampede" | "usual-pg" | "redis-lua";

export interface Contestant {
  /** Short stable id used in the JSON results, e.g. "stampede-embedded-2w". */
  readonly key: string;
  /** What the report calls it. */
  readonly name: string;
  readonly kind: ContestantKind;
  readonly url: string;
  createSale(sale: SaleSpec): Promise<void>;
  /** Exact counts of one item, as the contestant's operator view reports them. */
  counts(saleId: string, itemId: string): Promise<ItemCounts>;
  /** A description of a crash seen so far, or null. */
  crashed(): string | null;
  /** Kill every process of the contestant (by pid) and wait for them to be gone. */
  stop(): Promise<void>;
}
