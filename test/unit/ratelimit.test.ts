import { describe, it, expect } from "@jest/globals";
import { createRateLimiter, rateLimitFromEnv, DEFAULT_BURST, DEFAULT_RATE } from "../../lib/ratelimit.ts";

/** A clock the test moves by hand. */
function manualClock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

function takeN(limiter: ReturnType<typeof createRateLimiter>, key: string, n: number): boolean[] {
  return Array.from({ length: n }, () => limiter.take(key).allowed);
}

describe("lib/ratelimit createRateLimiter", () => {
  it("accepts a burst at once, then refuses with the whole seconds until a token is back", () => {
    const clock = manualClock();
    const limiter = createRateLimiter({ rate: 2, burst: 5, now: clock.now });
    expect(takeN(limiter, "alice", 5)).toEqual([true, true, true, true, true]);
    expect(limiter.take("alice")).toEqual({ allowed: false, remaining: 0, retryAfter: 1 });
  });

  it("refills at the rate, never above the burst", () => {
    const clock = manualClock();
    const limiter = createRateLimiter({ rate: 2, burst: 5, now: clock.now });
    takeN(limiter, "alice", 5);
    clock.advance(499);
    expect(limiter.take("alice").allowed).toBe(false);
    clock.advance(1);
    expect(limiter.take("alice")).toEqual({ allowed: true, remaining: 0, retryAfter: 0 });
    clock.advance(60_000);
    expect(takeN(limiter, "alice", 6)).toEqual([true, true, true, true, true, false]);
  });

  it("says how long to wait in whole seconds, rounded up, at least 1", () => {
    const clock = manualClock();
    const slow = createRateLimiter({ rate: 0.1, burst: 1, now: clock.now });
    expect(slow.take("k").allowed).toBe(true);
    expect(slow.take("k").retryAfter).toBe(10);
    clock.advance(2500);
    expect(slow.take("k").retryAfter).toBe(8);
    const fast = createRateLimiter({ rate: 1000, burst: 1, now: clock.now });
    fast.take("k");
    expect(fast.take("k")).toMatchObject({ allowed: false, retryAfter: 1 });
  });

  it("does not count refused requests against the budget", () => {
    const clock = manualClock();
    const limiter = createRateLimiter({ rate: 1, burst: 1, now: clock.now });
    limiter.take("k");
    for (let i = 0; i < 50; i++) expect(limiter.take("k").allowed).toBe(false);
    clock.advance(1000);
    expect(limiter.take("k").allowed).toBe(true);
  });

  it("keeps one bucket per key: one caller's spending leaves another's budget whole", () => {
    const clock = manualClock();
    const limiter = createRateLimiter({ rate: 1, burst: 3, now: clock.now });
    expect(takeN(limiter, "mallory", 4)).toEqual([true, true, true, false]);
    expect(takeN(limiter, "alice", 3)).toEqual([true, true, true]);
  });

  it("forgets buckets once they have been idle long enough to be full again", () => {
    const clock = manualClock();
    const limiter = createRateLimiter({ rate: 10, burst: 20, now: clock.now });
    for (let i = 0; i < 100; i++) limiter.take(`ip-${i}`);
    expect(limiter.size()).toBe(100);
    clock.advance(1999);
    limiter.take("fresh");
    expect(limiter.size()).toBe(101);
    clock.advance(1);
    limiter.take("fresh");
    expect(limiter.size()).toBe(1);
  });

  it("never holds more than maxKeys buckets, dropping the least recently used", () => {
    const clock = manualClock();
    const limiter = createRateLimiter({ rate: 1, burst: 2, maxKeys: 3, now: clock.now });
    limiter.take("a");
    limiter.take("a");
    limiter.take("b");
    limiter.take("c");
    expect(limiter.take("a").allowed).toBe(false); // "a" is now the most recently used
    for (let i = 0; i < 1000; i++) limiter.take(`churn-${i % 2}`);
    expect(limiter.size()).toBe(3);
    expect(limiter.take("a").allowed).toBe(false); // kept, still empty
    expect(takeN(limiter, "b", 2)).toEqual([true, true]); // dropped earlier: a fresh bucket
  });

  it("stays within maxKeys however many keys it meets", () => {
    const clock = manualClock();
    const limiter = createRateLimiter({ rate: 1, burst: 5, maxKeys: 100, now: clock.now });
    let largest = 0;
    for (let i = 0; i < 10_000; i++) {
      limiter.take(`addr-${i}`);
      largest = Math.max(largest, limiter.size());
    }
    expect(largest).toBe(100);
    expect(limiter.size()).toBeGreaterThanOrEqual(90);
  });

  it("does not refill when the clock goes backwards", () => {
    const clock = manualClock();
    const limiter = createRateLimiter({ rate: 1, burst: 1, now: clock.now });
    limiter.take("k");
    clock.advance(-5000);
    expect(limiter.take("k").allowed).toBe(false);
  });

  it("allows everything and keeps nothing when the rate is 0", () => {
    const limiter = createRateLimiter({ rate: 0, burst: 0 });
    expect(limiter.enabled).toBe(false);
    expect(takeN(limiter, "k", 1000).every(Boolean)).toBe(true);
    expect(limiter.size()).toBe(0);
  });

  it.each([
    [{ rate: -1, burst: 1 }],
    [{ rate: Number.NaN, burst: 1 }],
    [{ rate: 1, burst: 0 }],
    [{ rate: 1, burst: 1.5 }],
    [{ rate: 1, burst: 1, maxKeys: 0 }],
  ])("refuses nonsensical options %j", (options) => {
    expect(() => createRateLimiter(options)).toThrow(RangeError);
  });
});

describe("lib/ratelimit rateLimitFromEnv", () => {
  it("defaults to a generous limit", () => {
    expect(rateLimitFromEnv({})).toEqual({ rate: DEFAULT_RATE, burst: DEFAULT_BURST });
    expect(DEFAULT_RATE).toBe(50);
    expect(DEFAULT_BURST).toBe(100);
  });

  it("reads RATE_LIMIT and RATE_LIMIT_BURST, the burst defaulting to twice the rate", () => {
    expect(rateLimitFromEnv({ RATE_LIMIT: "5", RATE_LIMIT_BURST: "7" })).toEqual({ rate: 5, burst: 7 });
    expect(rateLimitFromEnv({ RATE_LIMIT: "5" })).toEqual({ rate: 5, burst: 10 });
    expect(rateLimitFromEnv({ RATE_LIMIT: "0.2" })).toEqual({ rate: 0.2, burst: 1 });
    expect(rateLimitFromEnv({ RATE_LIMIT_BURST: "300" })).toEqual({ rate: DEFAULT_RATE, burst: 300 });
  });

  it("turns limiting off with RATE_LIMIT=0", () => {
    expect(rateLimitFromEnv({ RATE_LIMIT: "0", RATE_LIMIT_BURST: "9" })).toEqual({ rate: 0, burst: 0 });
  });

  it.each([
    [{ RATE_LIMIT: "fast" }, /RATE_LIMIT must/],
    [{ RATE_LIMIT: "-3" }, /RATE_LIMIT must/],
    [{ RATE_LIMIT: "Infinity" }, /RATE_LIMIT must/],
    [{ RATE_LIMIT_BURST: "0" }, /RATE_LIMIT_BURST must/],
    [{ RATE_LIMIT_BURST: "2.5" }, /RATE_LIMIT_BURST must/],
    [{ RATE_LIMIT_BURST: "lots" }, /RATE_LIMIT_BURST must/],
  ])("refuses %j naming the variable instead of turning limiting off", (env, message) => {
    expect(() => rateLimitFromEnv(env)).toThrow(message);
  });
});
