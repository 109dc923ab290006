import { expect, test } from "bun:test";
import fc from "fast-check";
import { MinHeap } from "./min-heap.ts";

test("pops keys in ascending order under any interleaving of pushes and pops", () => {
  fc.assert(
    fc.property(fc.array(fc.oneof(fc.integer({ min: -1000, max: 1000 }), fc.constant(null)), { maxLength: 300 }), (ops) => {
      const heap = new MinHeap<number>();
      const model: number[] = [];
      for (const op of ops) {
        if (op === null) {
          model.sort((a, b) => a - b);
          expect(heap.pop()).toBe(model.shift() as number);
        } else {
          heap.push(op, op);
          model.push(op);
        }
        expect(heap.size).toBe(model.length);
        expect(heap.peekKey()).toBe(model.length === 0 ? undefined : Math.min(...model));
      }
    }),
    { numRuns: 500 },
  );
});
