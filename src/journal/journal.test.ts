// The journal's clock floor: a restart anchors the engine's clock at the later of the last commit
// and the mark the owner leaves about once a second, so time never runs backwards across a restart,
// even when the journal was truncated empty or nothing was committed for an hour before the stop.

import { expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SaleLedger } from "../ledger/sale-ledger.ts";
import type { SaleEvent } from "../ledger/types.ts";
import { Journal } from "./journal.ts";

const T0 = Date.UTC(2026, 11, 1);

function createEvents(): SaleEvent[] {
  const out: SaleEvent[] = [];
  SaleLedger.create(
    {
      id: "drop",
      name: "Drop",
      startsAt: T0,
      endsAt: T0 + 86_400_000,
      holdSeconds: 600,
      limitPerUser: 2,
      items: [{ id: "a", name: "A", price: 100, currency: "USD", delivery: "none", stock: 10 }],
    },
    T0,
    out,
  );
  return out;
}

test("the clock floor survives truncation and a reopen, and a mark never moves it back", () => {
  const dir = mkdtempSync(join(tmpdir(), "stampede-journal-"));
  try {
    const path = join(dir, "journal-0.db");
    const journal = new Journal(path, "process");
    expect(journal.clockFloor).toBe(0);
    const seq = journal.append(createEvents(), T0 + 1_000);
    expect(journal.clockFloor).toBe(T0 + 1_000);
    journal.markClock(T0 + 3_600_000); // an hour later, nothing committed meanwhile
    journal.markClock(T0 + 5_000); // a mark behind it (never written by the owner) is ignored
    expect(journal.truncateThrough(seq)).toBeGreaterThan(0);
    journal.close();

    const reopened = new Journal(path, "process");
    expect(reopened.lastCommittedAt).toBe(0); // no batch left to read a commit time from
    expect(reopened.lastSeq).toBe(seq);
    expect(reopened.clockFloor).toBe(T0 + 3_600_000);
    reopened.append(createEvents().map((event) => ({ ...event, saleId: "later" }) as SaleEvent), T0 + 3_700_000);
    expect(reopened.clockFloor).toBe(T0 + 3_700_000);
    reopened.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
