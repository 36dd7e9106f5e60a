/**
 * Token-bucket rate limiting for the gateway (docs/architecture.md, "The gateway"). Pure: the clock is injected, no
 * timers. One bucket per key holds up to `burst` tokens and refills at `rate` tokens per second; a request spends
 * one. A bucket left alone long enough to refill completely is indistinguishable from a new one, so such idle
 * buckets are dropped (swept at most once per fill time), and the number of buckets kept is capped (past the cap,
 * the least recently used are dropped down to 90% of it), which bounds memory whatever the number of keys callers
 * present.
 */

/** Defaults when RATE_LIMIT / RATE_LIMIT_BURST are unset: generous, so that only runaway clients meet them. */
export const DEFAULT_RATE = 50;
export const DEFAULT_BURST = 100;
/** Default cap on the buckets one limiter keeps. */
export const DEFAULT_MAX_KEYS = 10_000;

export interface RateLimit {
  /** Tokens added per second; 0 = limiting off. */
  rate: number;
  /** Bucket size: the most requests accepted at once after an idle period (≥ 1 when rate > 0). */
  burst: number;
}

export interface RateLimiterOptions extends RateLimit {
  /** Most buckets kept; past it, the least recently used are dropped down to 90% of it (default 10,000). */
  maxKeys?: number;
  /** Milliseconds since some fixed point; default Date.now. */
  now?: () => number;
}

/** The answer to one request. */
export interface RateDecision {
  allowed: boolean;
  /** Whole tokens left in the bucket after this request. */
  remaining: number;
  /** When refused: whole seconds (≥ 1) until one token is back; 0 when allowed. */
  retryAfter: number;
}

export interface RateLimiter {
  readonly enabled: boolean;
  /** Spends one token of `key`'s bucket if there is one. */
  take(key: string): RateDecision;
  /** Buckets held now (tests and metrics). */
  size(): number;
}

interface Bucket {
  tokens: number;
  /** Clock reading when `tokens` was computed. */
  at: number;
}

const ALLOWED_UNLIMITED: RateDecision = { allowed: true, remaining: Number.POSITIVE_INFINITY, retryAfter: 0 };

/** A limiter; with `rate` 0 every request is allowed and nothing is kept. Throws on nonsensical options. */
export function createRateLimiter(options: RateLimiterOptions): RateLimiter {
  const { rate, burst } = options;
  const maxKeys = options.maxKeys ?? DEFAULT_MAX_KEYS;
  const now = options.now ?? Date.now;
  if (!Number.isFinite(rate) || rate < 0) throw new RangeError(`rate must be a number ≥ 0, got ${rate}`);
  if (rate > 0 && (!Number.isInteger(burst) || burst < 1)) {
    throw new RangeError(`burst must be an integer ≥ 1, got ${burst}`);
  }
  if (!Number.isInteger(maxKeys) || maxKeys < 1) throw new RangeError(`maxKeys must be an integer ≥ 1, got ${maxKeys}`);
  if (rate === 0) return { enabled: false, take: () => ALLOWED_UNLIMITED, size: () => 0 };

  // Insertion order = last use: a key is re-inserted on every take, so the first entries are the idlest.
  const buckets = new Map<string, Bucket>();
  /** Milliseconds an empty bucket needs to fill up: idle at least this long = full = forgettable. */
  const fillMs = (burst / rate) * 1000;
  /** Size a sweep forced by the cap brings the map down to (10% headroom, so that such sweeps are rare). */
  const afterCapSweep = Math.max(1, Math.floor(maxKeys * 0.9));
  let lastSweep = now();

  /**
   * Drops idle buckets, and the least recently used beyond `target`, from the front of the map. Not run on every
   * take: iterating a Map from its start walks over the holes its deletions left, so sweeps are batched (once per
   * fill time, or when the cap is passed) to keep a take O(1) amortized.
   */
  function sweep(t: number, target: number): void {
    lastSweep = t;
    for (const [key, bucket] of buckets) {
      if (buckets.size > target || t - bucket.at >= fillMs) buckets.delete(key);
      else break;
    }
  }

  return {
    enabled: true,
    take(key: string): RateDecision {
      const t = now();
      const previous = buckets.get(key);
      let tokens = burst;
      if (previous !== undefined) {
        // A clock that went backwards refills nothing (and takes nothing back).
        const elapsed = Math.max(0, t - previous.at);
        tokens = Math.min(burst, previous.tokens + (elapsed / 1000) * rate);
        buckets.delete(key);
      }
      const allowed = tokens >= 1;
      if (allowed) tokens -= 1;
      buckets.set(key, { tokens, at: t });
      if (buckets.size > maxKeys) sweep(t, afterCapSweep);
      else if (t - lastSweep >= fillMs) sweep(t, maxKeys);
      if (allowed) return { allowed, remaining: Math.floor(tokens), retryAfter: 0 };
      return { allowed, remaining: 0, retryAfter: Math.max(1, Math.ceil((1 - tokens) / rate)) };
    },
    size: () => buckets.size,
  };
}

/**
 * The gateway's limit from the environment: `RATE_LIMIT` (requests per second, ≥ 0, 0 = off; default 50) and
 * `RATE_LIMIT_BURST` (integer ≥ 1; default twice the rate, at least 1). Throws a message naming the variable when
 * a value is not a number in range, so that a typo does not silently turn limiting off.
 */
export function rateLimitFromEnv(env: Record<string, string | undefined> = process.env): RateLimit {
  const rawRate = env["RATE_LIMIT"]?.trim() ?? "";
  const rawBurst = env["RATE_LIMIT_BURST"]?.trim() ?? "";
  const rate = rawRate === "" ? DEFAULT_RATE : Number(rawRate);
  if (!Number.isFinite(rate) || rate < 0) {
    throw new Error(`RATE_LIMIT must be a number of requests per second ≥ 0 (0 = off), got '${rawRate}'`);
  }
  if (rate === 0) return { rate: 0, burst: 0 };
  const defaultBurst = rawRate === "" ? DEFAULT_BURST : Math.max(1, Math.ceil(rate * 2));
  const burst = rawBurst === "" ? defaultBurst : Number(rawBurst);
  if (!Number.isInteger(burst) || burst < 1) {
    throw new Error(`RATE_LIMIT_BURST must be a whole number of requests ≥ 1, got '${rawBurst}'`);
  }
  return { rate, burst };
}
