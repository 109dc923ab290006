// Admission control, token buckets and the RateLimit fields, without a server.

import { describe, expect, test } from "bun:test";
import { Admission } from "./admission.ts";
import { rateLimitField, rateLimitPolicyField, rateLimited } from "./rate-limit-headers.ts";
import { TokenBuckets } from "../limits/token-buckets.ts";

async function problemOf(response: Response | undefined) {
  expect(response).toBeInstanceOf(Response);
  const r = response as Response;
  expect(r.headers.get("content-type")).toBe("application/problem+json");
  return { status: r.status, code: ((await r.json()) as { code: string }).code, retryAfter: r.headers.get("retry-after") };
}

describe("Admission", () => {
  test("while the loop is late the bound on holds in flight is lower; an idle process is never shed", async () => {
    let lag = 0;
    const admission = new Admission({ lagSeconds: () => lag }, { holdsInFlightMax: 4, holdsInFlightLateMax: 2, holdLagMaxSeconds: 0.2 });
    lag = 0.5;
    // One late sample with nothing waiting (a single long task): nothing to shed.
    expect(admission.admitHold()).toBeUndefined();
    const release: (() => void)[] = [];
    const wait = () => admission.hold(() => new Promise<void>((resolve) => release.push(resolve)));
    const waiting = [wait(), wait()];
    const shed = await problemOf(admission.admitHold());
    expect(shed.status).toBe(503);
    expect(shed.code).toBe("overloaded");
    lag = 0.1;
    expect(admission.admitHold()).toBeUndefined();
    waiting.push(wait(), wait());
    expect((await problemOf(admission.admitHold())).status).toBe(503);
    for (const open of release) open();
    await Promise.all(waiting);
    expect(admission.shed.holds).toBe(2);
  });

  test("reads are shed only past the much higher read bound", async () => {
    let lag = 0.5;
    const admission = new Admission({ lagSeconds: () => lag }, { readLagMaxSeconds: 1 });
    expect(admission.admitRead()).toBeUndefined();
    lag = 1.5;
    expect((await problemOf(admission.admitRead())).status).toBe(503);
    lag = 0;
    expect(admission.admitRead()).toBeUndefined();
    expect(admission.shed).toEqual({ holds: 0, reads: 1, streams: 0 });
  });

  test("holds are shed past the in-flight bound and again admitted once answered", async () => {
    const admission = new Admission({}, { holdsInFlightMax: 2 });
    const gates: (() => void)[] = [];
    const waiting = () => new Promise<void>((resolve) => gates.push(resolve));
    const first = admission.hold(waiting);
    const second = admission.hold(waiting);
    expect(admission.holdsInFlight).toBe(2);
    expect((await problemOf(admission.admitHold())).code).toBe("overloaded");
    for (const open of gates) open();
    await Promise.all([first, second]);
    expect(admission.holdsInFlight).toBe(0);
    expect(admission.admitHold()).toBeUndefined();
    // A hold that fails still leaves the count.
    await expect(admission.hold(() => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    expect(admission.holdsInFlight).toBe(0);
  });

  test("holds are shed while the journal queue is past its bound", async () => {
    let pending = 10;
    const admission = new Admission({ pendingEvents: () => pending }, { pendingEventsMax: 100 });
    expect(admission.admitHold()).toBeUndefined();
    pending = 101;
    expect((await problemOf(admission.admitHold())).status).toBe(503);
  });

  test("Retry-After is jittered and whole", async () => {
    const admission = new Admission({}, { retryAfterBaseSeconds: 4, holdsInFlightMax: 0 });
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) seen.add((await problemOf(admission.admitHold())).retryAfter ?? "");
    for (const value of seen) {
      expect(value).toMatch(/^\d+$/);
      expect(Number(value)).toBeGreaterThanOrEqual(2);
      expect(Number(value)).toBeLessThanOrEqual(6);
    }
    expect(seen.size).toBeGreaterThan(1);
  });

  test("event streams are bounded per address (429) and in all (503), and end on close", async () => {
    const admission = new Admission({}, { streamsPerAddressMax: 2, streamsMax: 3 });
    const a1 = admission.openStream("a");
    const a2 = admission.openStream("a");
    const refusedA = admission.openStream("a");
    expect(refusedA).toBeInstanceOf(Response);
    const refused = refusedA as Response;
    expect(refused.status).toBe(429);
    expect(refused.headers.get("ratelimit-policy")).toBe('"streams";q=2');
    expect(refused.headers.get("retry-after")).toBe("5");
    const b1 = admission.openStream("b");
    expect(b1).not.toBeInstanceOf(Response);
    expect((await problemOf(admission.openStream("c") as Response)).status).toBe(503);
    expect(admission.streams).toBe(3);
    if (a1 instanceof Response || a2 instanceof Response || b1 instanceof Response) throw new Error("unreachable");
    a1.release();
    a1.release(); // twice is once
    expect(admission.streams).toBe(2);
    expect(admission.openStream("a")).not.toBeInstanceOf(Response);
    expect(a2.signal.aborted).toBe(false);
    admission.close();
    expect(a2.signal.aborted).toBe(true);
    expect((await problemOf(admission.openStream("z") as Response)).status).toBe(503);
  });
});

describe("TokenBuckets", () => {
  test("a bucket says what is left, when it is full again, and when the next unit comes", () => {
    let now = 1_000_000;
    const buckets = new TokenBuckets(5, 10, 100, () => now);
    try {
      expect(buckets.windowSeconds).toBe(2);
      expect(buckets.take("u")).toEqual({ ok: true, remaining: 9, resetSeconds: 1 });
      for (let i = 0; i < 9; i++) expect(buckets.take("u").ok).toBe(true);
      expect(buckets.take("u")).toEqual({ ok: false, retryAfterSeconds: 1 });
      expect(buckets.take("v").ok).toBe(true);
      now += 200; // one unit back at 5 a second
      expect(buckets.take("u")).toEqual({ ok: true, remaining: 0, resetSeconds: 2 });
      expect(buckets.take("u").ok).toBe(false);
    } finally {
      buckets.close();
    }
  });

  test("a slow bucket asks for a longer wait; rate 0 is off", () => {
    const slow = new TokenBuckets(0.25, 1, 100, () => 0);
    const off = new TokenBuckets(0, 0);
    try {
      expect(slow.take("u").ok).toBe(true);
      expect(slow.take("u")).toEqual({ ok: false, retryAfterSeconds: 4 });
      expect(off.enabled).toBe(false);
      expect(off.take("u").ok).toBe(true);
    } finally {
      slow.close();
      off.close();
    }
  });

  test("keys are bounded: past keysMax the oldest are forgotten", () => {
    const buckets = new TokenBuckets(1, 1, 10, () => 0);
    try {
      for (let i = 0; i < 100; i++) buckets.take(`k${i}`);
      expect(buckets.size).toBeLessThanOrEqual(10);
    } finally {
      buckets.close();
    }
  });
});

describe("RateLimit fields (draft-ietf-httpapi-ratelimit-headers)", () => {
  test("policy and state are Structured Field items named by a string", () => {
    expect(rateLimitPolicyField("buyer", { burst: 10, windowSeconds: 2 })).toBe('"buyer";q=10;w=2');
    expect(rateLimitField("address", 3.7, 0.2)).toBe('"address";r=3;t=1');
  });

  test("a 429 carries Retry-After, RateLimit with the same moment, and the policy when known", async () => {
    const response = rateLimited("buyer", 3, { burst: 10, windowSeconds: 2 });
    expect(response.status).toBe(429);
    expect(response.headers.get("retry-after")).toBe("3");
    expect(response.headers.get("ratelimit")).toBe('"buyer";r=0;t=3');
    expect(response.headers.get("ratelimit-policy")).toBe('"buyer";q=10;w=2');
    expect(((await response.json()) as { code: string }).code).toBe("rate_limited");
    expect(rateLimited("buyer", 1).headers.get("ratelimit-policy")).toBeNull();
  });
});
