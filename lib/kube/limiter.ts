/**
 * Client-side cap on writes to the Kubernetes API server: a token bucket (QPS + burst, as client-go's
 * `flowcontrol.NewTokenBucketRateLimiter`) and a cap on writes in flight.
 *
 * Defaults: QPS 500, burst 1,000, 32 writes in flight. client-go's `rest.Config` defaults to QPS 5 / burst 10, but
 * kubectl does not throttle its writes in practice: `kubectl apply --server-side -f` of 200 objects sends its PATCHes
 * one after another at ~150-200/s against the sandbox, and `-v=6` shows no "Waited for ... due to client-side
 * throttling" (kubectl 1.32; measured for docs/performance.md). controller-runtime dropped its default client-side
 * limit (v0.21) too and leaves fairness to the API server (API Priority and Fairness; kube-apiserver's
 * `--max-mutating-requests-inflight` default is 200). Our writes come in bursts (a deployment is 4-6 objects with its
 * env ConfigMap and Secret, 100 deployments ~500 writes), so the old 50 QPS / burst 100 made creating 100 deployments
 * take 8 s where kubectl applies the same objects in ~2 s. What bounds us now is the pipeline: at most 32 writes in
 * flight (kubectl: 1), well under the server's own limit; QPS 500 with a burst of 1,000 only caps floods (a resync
 * re-applying 10,000 objects is spread over ~20 s). `KUBE_QPS`, `KUBE_BURST`, `KUBE_MAX_INFLIGHT` override them.
 *
 * The clock is injected so tests run with a fake one (no timed tests).
 */
import { unavailable } from "../errors.ts";

export interface LimiterClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: LimiterClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface LimiterOptions {
  /** Sustained writes per second. */
  qps: number;
  /** Writes allowed at once after a quiet period (bucket size). */
  burst: number;
  /** Writes running at the same time. */
  maxInflight: number;
  /** Writes waiting before new ones are refused with a retryable 503. */
  maxQueue?: number;
  clock?: LimiterClock;
}

export const DEFAULT_LIMITS = { qps: 500, burst: 1000, maxInflight: 32, maxQueue: 10_000 } as const;

/** Reads KUBE_QPS / KUBE_BURST / KUBE_MAX_INFLIGHT (positive numbers), falling back to the defaults. */
export function limitsFromEnv(env: NodeJS.ProcessEnv = process.env): Required<Omit<LimiterOptions, "clock">> {
  const read = (name: string, fallback: number, integer: boolean): number => {
    const raw = env[name]?.trim();
    if (raw === undefined || raw === "") return fallback;
    const value = Number(raw);
    if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
      throw new Error(`${name} must be a positive ${integer ? "integer" : "number"}, got '${raw}'`);
    }
    return value;
  };
  return {
    qps: read("KUBE_QPS", DEFAULT_LIMITS.qps, false),
    burst: read("KUBE_BURST", DEFAULT_LIMITS.burst, true),
    maxInflight: read("KUBE_MAX_INFLIGHT", DEFAULT_LIMITS.maxInflight, true),
    maxQueue: DEFAULT_LIMITS.maxQueue,
  };
}

interface Waiter {
  start: () => void;
  fail: (err: Error) => void;
}

export class WriteLimiter {
  readonly #qps: number;
  readonly #burst: number;
  readonly #maxInflight: number;
  readonly #maxQueue: number;
  readonly #clock: LimiterClock;
  #tokens: number;
  #last: number;
  #inflight = 0;
  #queue: Waiter[] = [];
  #timer: unknown = undefined;
  #closed = false;

  constructor(options: LimiterOptions) {
    if (!(options.qps > 0) || !(options.burst >= 1) || !(options.maxInflight >= 1)) {
      throw new Error("WriteLimiter needs qps > 0, burst >= 1 and maxInflight >= 1");
    }
    this.#qps = options.qps;
    this.#burst = options.burst;
    this.#maxInflight = options.maxInflight;
    this.#maxQueue = options.maxQueue ?? DEFAULT_LIMITS.maxQueue;
    this.#clock = options.clock ?? systemClock;
    this.#tokens = options.burst;
    this.#last = this.#clock.now();
  }

  /** Runs `fn` when a token and an in-flight slot are free (FIFO). Refuses with a retryable 503 when the queue is full or the limiter closed. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(unavailable("Kubernetes API", "v1.kube is stopping"));
    if (this.#queue.length >= this.#maxQueue) {
      return Promise.reject(unavailable("Kubernetes API", `too many writes waiting (${this.#queue.length})`));
    }
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({
        start: () => {
          this.#inflight++;
          let settled: Promise<T>;
          try {
            settled = fn();
          } catch (err) {
            settled = Promise.reject(err);
          }
          settled.then(resolve, reject).finally(() => {
            this.#inflight--;
            this.#pump();
          });
        },
        fail: reject,
      });
      this.#pump();
    });
  }

  /** What is going on now (for status and the benchmark). */
  stats(): { inflight: number; queued: number; tokens: number } {
    this.#refill();
    return { inflight: this.#inflight, queued: this.#queue.length, tokens: this.#tokens };
  }

  /** Refuses the writes still waiting (503) and new ones; writes in flight finish. */
  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    const waiting = this.#queue;
    this.#queue = [];
    for (const w of waiting) w.fail(unavailable("Kubernetes API", "v1.kube is stopping"));
  }

  #refill(): void {
    const now = this.#clock.now();
    const elapsed = Math.max(0, now - this.#last);
    this.#last = now;
    this.#tokens = Math.min(this.#burst, this.#tokens + (elapsed * this.#qps) / 1000);
  }

  #pump(): void {
    if (this.#timer !== undefined) return;
    this.#refill();
    while (this.#queue.length > 0 && this.#inflight < this.#maxInflight && this.#tokens >= 1) {
      this.#tokens -= 1;
      const next = this.#queue.shift();
      next?.start();
    }
    if (this.#queue.length > 0 && this.#inflight < this.#maxInflight && this.#tokens < 1) {
      const wait = Math.ceil(((1 - this.#tokens) * 1000) / this.#qps);
      this.#timer = this.#clock.setTimeout(() => {
        this.#timer = undefined;
        this.#pump();
      }, wait);
    }
  }
}
