// The ledger's dense tables against plain models (fast-check): the buyer table against a Map, the
// expiry heap against a sorted list, the hold table's rows against a set; and their saved images
// restore the same table. Sizes run past every growth and rehash step.

import { expect, test } from "bun:test";
import fc from "fast-check";
import { BuyerTable } from "./buyer-table.ts";
import { ExpiryHeap } from "./expiry-heap.ts";
import { HoldTable } from "./hold-table.ts";
import { formatReservationId, parseReservationId, reservationIdPrefix } from "./reservation-id.ts";

const names = fc.oneof(
  fc.integer({ min: 0, max: 3000 }).map((n) => `user-${n}`),
  fc.string({ minLength: 1, maxLength: 40 }),
  fc.constantFrom("ü", "名前", "a\u{1F600}b"),
);

test("BuyerTable agrees with a Map through interning, releasing and saving", () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.boolean(), names, fc.integer({ min: 1, max: 5 })), { maxLength: 3000, size: "max" }), (steps) => {
      const table = new BuyerTable();
      const model = new Map<string, number>();
      for (const [add, name, units] of steps) {
        if (add) {
          const index = table.intern(name);
          table.units[index] = (table.units[index] as number) + units;
          model.set(name, (model.get(name) ?? 0) + units);
        } else if (model.has(name)) {
          const index = table.find(name);
          table.units[index] = 0;
          table.release(index);
          model.delete(name);
        }
      }
      expect(table.size).toBe(model.size);
      expect([...table.indexes()].length).toBe(model.size);
      expect([...table.liveIndexes()].sort((a, b) => a - b)).toEqual([...table.indexes()].sort((a, b) => a - b));
      for (const [name, units] of model) {
        const index = table.find(name);
        expect(index).not.toBe(-1);
        expect(table.name(index)).toBe(name);
        expect(table.units[index]).toBe(units);
      }
      const loaded = BuyerTable.load(table.save());
      for (const [name, units] of model) expect(loaded.units[loaded.find(name)]).toBe(units);
      expect(loaded.find("nobody-at-all")).toBe(-1);
    }),
    { numRuns: 60 },
  );
});

test("BuyerTable compacts its name arena and keeps finding everyone", () => {
  const table = new BuyerTable();
  for (let round = 0; round < 5; round += 1) {
    const batch = Array.from({ length: 5000 }, (_, i) => `round-${round}-buyer-${i}`);
    for (const name of batch) table.units[table.intern(name)] = 1;
    for (const name of batch.slice(0, 4900)) {
      const index = table.find(name);
      table.units[index] = 0;
      table.release(index);
    }
    for (const name of batch.slice(4900)) expect(table.name(table.find(name))).toBe(name);
  }
  expect(table.size).toBe(500);
});

test("ExpiryHeap pops in (expiresAt, placement) order, with removals anywhere", () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 50 })), { maxLength: 2000, size: "max" }), (steps) => {
      const table = new HoldTable();
      const heap = new ExpiryHeap(table);
      const model: { row: number; key: number; seq: number }[] = [];
      let seq = 0;
      for (const [push, value] of steps) {
        if (push || model.length === 0) {
          const row = table.allocate();
          table.seq[row] = ++seq;
          table.createdAt[row] = value;
          heap.push(row);
          model.push({ row, key: value, seq });
        } else {
          const [gone] = model.splice(value % model.length, 1);
          heap.remove(gone!.row);
          table.free(gone!.row);
        }
      }
      model.sort((a, b) => a.key - b.key || a.seq - b.seq);
      const restored = ExpiryHeap.load(HoldTable.load(table.save()), heap.save());
      for (const want of model) {
        expect(heap.peekKey()).toBe(want.key);
        expect(heap.peekRow()).toBe(want.row);
        expect(restored.peekRow()).toBe(want.row);
        heap.remove(want.row);
        restored.remove(want.row);
      }
      expect(heap.size).toBe(0);
    }),
    { numRuns: 60 },
  );
});

test("HoldTable reuses freed rows last-freed first and restores them from an image", () => {
  const table = new HoldTable();
  const rows = Array.from({ length: 1000 }, (_, i) => {
    const row = table.allocate();
    table.seq[row] = i + 1;
    return row;
  });
  expect(rows).toEqual(rows.map((_, i) => i));
  for (const row of [10, 500, 7]) table.free(row);
  const image = HoldTable.load(table.save());
  expect([table.allocate(), table.allocate(), table.allocate(), table.allocate()]).toEqual([7, 500, 10, 1000]);
  expect([image.allocate(), image.allocate(), image.allocate(), image.allocate()]).toEqual([7, 500, 10, 1000]);
});

test("reservation ids name their sale, number and row, in one spelling", () => {
  const prefix = reservationIdPrefix("drop-42");
  for (const [seq, row] of [[1, 0], [36 ** 8 - 1, 1 << 29], [123456, 35]] as const) {
    const id = formatReservationId("drop-42", seq, row);
    expect(parseReservationId(prefix, id)).toEqual({ seq, row });
  }
  for (const bad of ["drop-42.00000001.01", "drop-4.00000001.0", "drop-42.0000001.0", "drop-42.00000000.0", "drop-42.0000000A.0", "drop-42.00000001.", "drop-42.00000001.-1"]) {
    expect(parseReservationId(prefix, bad)).toBeNull();
  }
});

test("reservation ids are the base-36 text of their sequence number and row, whatever the number's representation", () => {
  const reference = (saleId: string, seq: number, row: number) => `${saleId}.${seq.toString(36).padStart(8, "0")}.${row.toString(36)}`;
  const seqs = [1, 35, 36, 1295, 1296, 46_655, 46_656, 1_679_615, 1_679_616, 123_456_789, 2 ** 31 + 5, 36 ** 8 - 1];
  const rows = [0, 1, 35, 36, 1295, 1296, 46_655, 46_656, 65_535, 1_679_615, 1_679_616, 2 ** 30 - 1];
  for (const seq of seqs) {
    for (const row of rows) {
      // As the journal's reader makes them: doubles read from bytes.
      const view = new DataView(new ArrayBuffer(8));
      view.setFloat64(0, seq);
      expect(formatReservationId("drop-42", view.getFloat64(0), row)).toBe(reference("drop-42", seq, row));
      expect(parseReservationId(reservationIdPrefix("drop-42"), formatReservationId("drop-42", seq, row))).toEqual({ seq, row });
    }
  }
});
