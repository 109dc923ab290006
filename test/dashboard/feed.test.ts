// The stream's shared poller: it reads only while someone listens, sends only what changed, and a
// source that fails (even by throwing outright) shows up in the snapshot instead of stopping it.

import { expect, test } from "bun:test";
import type { AdminSaleView } from "../../src/ledger/views.ts";
import { DashboardFeed, type FeedSource } from "../../src/http/dashboard/feed.ts";
import type { DashboardSnapshot } from "../../src/http/dashboard/snapshot.ts";

const POLL_MS = 10;
const readiness = { ready: true, reasons: [], journalBacklog: 0, storeError: null };

function source(listSales: () => Promise<AdminSaleView[]>) {
  const calls = { sales: 0 };
  const feed: FeedSource = {
    listSales: () => {
      calls.sales += 1;
      return listSales();
    },
    readiness: () => readiness,
    metricsText: () => "",
  };
  return { feed, calls };
}

test("polls only while a listener is subscribed, and sends only changes", async () => {
  const { feed, calls } = source(async () => []);
  const poller = new DashboardFeed(feed, POLL_MS);
  const received: string[] = [];
  const unsubscribe = poller.subscribe((data) => received.push(data));
  await Bun.sleep(POLL_MS * 10);
  expect(calls.sales).toBeGreaterThan(3);
  expect(received).toHaveLength(1); // nothing changed after the first
  unsubscribe();
  await Bun.sleep(POLL_MS * 3);
  const stopped = calls.sales;
  await Bun.sleep(POLL_MS * 10);
  expect(calls.sales).toBe(stopped);
});

test("a failing source is reported and polling goes on", async () => {
  let fail = true;
  const { feed, calls } = source(() => {
    if (fail) throw new Error("worker 1 restarting");
    return Promise.resolve([]);
  });
  const poller = new DashboardFeed(feed, POLL_MS);
  const received: DashboardSnapshot[] = [];
  const unsubscribe = poller.subscribe((data) => received.push(JSON.parse(data) as DashboardSnapshot));
  await Bun.sleep(POLL_MS * 5);
  expect(received[0]?.salesError).toBe("worker 1 restarting");
  fail = false;
  await Bun.sleep(POLL_MS * 5);
  expect(received.at(-1)?.salesError).toBeNull();
  expect(calls.sales).toBeGreaterThan(4);
  unsubscribe();
});
