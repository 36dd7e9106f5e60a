import { describe, expect, it } from "@jest/globals";
import { LatencyRecord } from "../../bench/lib.ts";

function recordOf(values: number[]): LatencyRecord {
  const record = new LatencyRecord();
  for (const v of values) record.add(v);
  return record;
}

describe("bench/lib LatencyRecord (the Reads rows' percentiles over all of a target's answers)", () => {
  it("answers the nearest-rank percentile: the smallest latency that q% of the answers do not exceed", () => {
    // 1..100 in a shuffled order: the q-th percentile is q itself.
    const values = Array.from({ length: 100 }, (_, i) => ((i * 37) % 100) + 1);
    const record = recordOf(values);
    expect(record.count).toBe(100);
    expect(record.percentile(50)).toBe(50);
    expect(record.percentile(99)).toBe(99);
    expect(record.percentile(99.9)).toBe(100);
    expect(record.percentile(100)).toBe(100);
    expect(record.percentile(1)).toBe(1);
    expect(record.percentile(0)).toBe(1);
    // Between ranks it takes the higher: 34% of 3 answers is 1.02 answers, so the 2nd smallest.
    expect(recordOf([3, 1, 2]).percentile(34)).toBe(2);
    expect(recordOf([3, 1, 2]).percentile(33)).toBe(1);
  });

  it("keeps fractions of a millisecond, which autocannon's own summary rounds away", () => {
    const record = recordOf([0.41, 4.99, 0.42, 0.4]);
    expect(record.percentile(50)).toBe(0.41);
    expect(record.percentile(99)).toBe(4.99);
  });

  it("counts every answer alike, however the slices were split: one slow slice of few answers hardly moves p99", () => {
    const record = recordOf([...Array<number>(10_000).fill(1), ...Array<number>(100).fill(20)]);
    // 100 of 10,100 answers (0.99%) took 20 ms: the p99 is 1 ms, the p99.9 20 ms.
    expect(record.percentile(99)).toBe(1);
    expect(record.percentile(99.9)).toBe(20);
    // 2.5% slow answers move it.
    const slower = recordOf([...Array<number>(1000).fill(1), ...Array<number>(25).fill(20)]);
    expect(slower.percentile(99)).toBe(20);
  });

  it("grows past its first buffer without losing answers, and stays right as answers keep coming after a read", () => {
    const record = new LatencyRecord();
    const n = 200_000; // more than the first 65,536
    for (let i = n; i >= 1; i--) record.add(i / 1000);
    expect(record.count).toBe(n);
    expect(record.percentile(50)).toBe(100);
    expect(record.percentile(100)).toBe(200);
    record.add(0.0005);
    record.add(1_000);
    expect(record.count).toBe(n + 2);
    expect(record.percentile(100)).toBe(1_000);
    expect(record.percentile(0)).toBe(0.0005);
  });

  it("is NaN without answers", () => {
    expect(new LatencyRecord().percentile(99)).toBeNaN();
    expect(new LatencyRecord().count).toBe(0);
  });
});
