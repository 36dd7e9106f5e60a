import { describe, it, expect } from "@jest/globals";
import { WriteLimiter, limitsFromEnv, DEFAULT_LIMITS, type LimiterClock } from "../../../lib/kube/limiter.ts";

/** A clock that moves only when told to. */
class FakeClock implements LimiterClock {
  time = 0;
  timers: { at: number; fn: () => void; id: number }[] = [];
  #next = 1;
  now(): number {
    return this.time;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.#next++;
    this.timers.push({ at: this.time + ms, fn, id });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timers = this.timers.filter((t) => t.id !== handle);
  }
  /** Moves time forward, firing due timers in order, and lets promise callbacks run. */
  async advance(ms: number): Promise<void> {
    const end = this.time + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at);
      const due = this.timers[0];
      if (due === undefined || due.at > end) break;
      this.timers.shift();
      this.time = due.at;
      due.fn();
      await flush();
    }
    this.time = end;
    await flush();
  }
}

async function flush(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

/** A write that finishes when the test says so. */
function deferred(): { promise: Promise<string>; resolve: (v: string) => void; reject: (e: Error) => void } {
  let resolve!: (v: string) => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<string>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe("WriteLimiter", () => {
  it("lets a burst through at once, then one write per 1/qps seconds", async () => {
    const clock = new FakeClock();
    const limiter = new WriteLimiter({ qps: 10, burst: 3, maxInflight: 100, clock });
    const started: number[] = [];
    const runs = Array.from({ length: 6 }, (_, i) =>
      limiter.run(async () => {
        started.push(clock.now());
        return i;
      }),
    );
    await flush();
    expect(started).toEqual([0, 0, 0]);
    await clock.advance(100);
    expect(started).toEqual([0, 0, 0, 100]);
    await clock.advance(200);
    expect(started).toEqual([0, 0, 0, 100, 200, 300]);
    await expect(Promise.all(runs)).resolves.toEqual([0, 1, 2, 3, 4, 5]);
  });

  it("refills the bucket while idle, up to the burst", async () => {
    const clock = new FakeClock();
    const limiter = new WriteLimiter({ qps: 2, burst: 4, maxInflight: 100, clock });
    for (let i = 0; i < 4; i++) await limiter.run(async () => i);
    expect(Math.floor(limiter.stats().tokens)).toBe(0);
    await clock.advance(60_000);
    expect(limiter.stats().tokens).toBe(4);
  });

  it("never runs more than maxInflight writes at once, and starts the next one when one finishes", async () => {
    const clock = new FakeClock();
    const limiter = new WriteLimiter({ qps: 1000, burst: 1000, maxInflight: 2, clock });
    const writes = [deferred(), deferred(), deferred()];
    const results = writes.map((w) => limiter.run(() => w.promise));
    await flush();
    expect(limiter.stats()).toMatchObject({ inflight: 2, queued: 1 });
    writes[0]?.resolve("a");
    await flush();
    expect(limiter.stats()).toMatchObject({ inflight: 2, queued: 0 });
    writes[1]?.reject(new Error("b failed"));
    writes[2]?.resolve("c");
    await expect(results[0]).resolves.toBe("a");
    await expect(results[1]).rejects.toThrow("b failed");
    await expect(results[2]).resolves.toBe("c");
    expect(limiter.stats()).toMatchObject({ inflight: 0, queued: 0 });
  });

  it("frees the slot of a write that throws synchronously", async () => {
    const limiter = new WriteLimiter({ qps: 100, burst: 100, maxInflight: 1, clock: new FakeClock() });
    await expect(
      limiter.run(() => {
        throw new Error("sync");
      }),
    ).rejects.toThrow("sync");
    await expect(limiter.run(async () => "next")).resolves.toBe("next");
  });

  it("refuses with a retryable 503 when the queue is full", async () => {
    const clock = new FakeClock();
    const limiter = new WriteLimiter({ qps: 1, burst: 1, maxInflight: 1, maxQueue: 1, clock });
    const hold = deferred();
    const first = limiter.run(() => hold.promise);
    const second = limiter.run(async () => "queued");
    await expect(limiter.run(async () => "x")).rejects.toMatchObject({
      code: 503,
      type: "K8S_UNAVAILABLE",
      retryable: true,
    });
    hold.resolve("done");
    await clock.advance(1000);
    await expect(first).resolves.toBe("done");
    await expect(second).resolves.toBe("queued");
  });

  it("refuses waiting and new writes with a 503 once closed, and clears its timer", async () => {
    const clock = new FakeClock();
    const limiter = new WriteLimiter({ qps: 1, burst: 1, maxInflight: 10, clock });
    await limiter.run(async () => 1);
    const waiting = limiter.run(async () => 2);
    await flush();
    expect(clock.timers).toHaveLength(1);
    limiter.close();
    expect(clock.timers).toHaveLength(0);
    await expect(waiting).rejects.toMatchObject({ code: 503 });
    await expect(limiter.run(async () => 3)).rejects.toMatchObject({ code: 503 });
  });
});

describe("limitsFromEnv", () => {
  it("uses QPS 500, burst 1000, 32 in flight by default and reads KUBE_QPS, KUBE_BURST, KUBE_MAX_INFLIGHT", () => {
    expect(limitsFromEnv({})).toMatchObject({
      qps: 500,
      burst: 1000,
      maxInflight: 32,
      maxQueue: DEFAULT_LIMITS.maxQueue,
    });
    expect(limitsFromEnv({ KUBE_QPS: "7.5", KUBE_BURST: "20", KUBE_MAX_INFLIGHT: "4" })).toMatchObject({
      qps: 7.5,
      burst: 20,
      maxInflight: 4,
    });
  });

  it("names the variable when a value is not a positive number", () => {
    expect(() => limitsFromEnv({ KUBE_BURST: "1.5" })).toThrow("KUBE_BURST");
    expect(() => limitsFromEnv({ KUBE_QPS: "-1" })).toThrow("KUBE_QPS");
  });
});
