import { describe, expect, it } from "@jest/globals";
import { pooledPercentile, type LatencySummary } from "../../bench/lib.ts";

/** An autocannon latency summary: `below` up to p97_5, then p99, p99_9 (and beyond), max. */
function summary(below: number, p99: number, p999: number, max = p999): LatencySummary {
  return {
    p1: below,
    p2_5: below,
    p10: below,
    p25: below,
    p50: below,
    p75: below,
    p90: below,
    p97_5: below,
    p99,
    p99_9: p999,
    p99_99: p999,
    p99_999: p999,
    max,
  };
}

describe("bench/lib pooledPercentile (the Reads row's p99 and p50 over its slices)", () => {
  it("is a run's own percentile when there is one run, or several alike", () => {
    const run = { requests: 1000, latency: summary(2, 6, 9, 12) };
    expect(pooledPercentile([run], 99)).toBe(6);
    expect(pooledPercentile([run], 50)).toBe(2);
    expect(pooledPercentile([run, run, run], 99)).toBe(6);
  });

  it("weighs each run by its requests, and errs high between two listed latencies", () => {
    const fast = { requests: 1000, latency: summary(1, 1, 1) };
    const slow = { requests: 1000, latency: summary(10, 20, 30) };
    // 2.5% of the slow run (25 of 2,000 answers) took longer than 10 ms: more than 1% of all, so not 10 but 20.
    expect(pooledPercentile([fast, slow], 99)).toBe(20);
    // Half of all answers took 1 ms.
    expect(pooledPercentile([fast, slow], 50)).toBe(1);
    // A slow run of few answers hardly counts: 2.5% of 100 is 2.5 answers of 10,100.
    expect(
      pooledPercentile(
        [
          { ...fast, requests: 10_000 },
          { ...slow, requests: 100 },
        ],
        99,
      ),
    ).toBe(1);
  });

  it("answers the largest latency seen when nothing smaller holds, and NaN without answers", () => {
    expect(pooledPercentile([{ requests: 10, latency: summary(1, 1, 1, 50) }], 100)).toBe(50);
    expect(pooledPercentile([], 99)).toBeNaN();
    expect(pooledPercentile([{ requests: 0, latency: summary(1, 1, 1) }], 99)).toBeNaN();
  });
});
