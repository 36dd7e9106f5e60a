/**
 * Plain JSON values for the watch cache and for callers: a copy that is what a JSON round trip gives (times written as
 * the API server writes them), and a deep freeze that shares short strings (`freezePooled`).
 */

/**
 * A time as the API server writes it (metav1.Time, RFC 3339): `2026-11-27T11:00:44Z`, with milliseconds only when it
 * has some (a MicroTime such as an Event's `eventTime`, which client-node keeps to the millisecond).
 */
export function kubeTime(date: Date): string {
  return date.toISOString().replace(/\.000Z$/, "Z");
}

/**
 * What `JSON.parse(JSON.stringify(value))` gives — plain objects and arrays, Dates as the API server writes them
 * (`kubeTime`: client-node parses every time into a Date, and its ISO string would add `.000` to what the API server
 * and a watch event say; the cache keeps objects from both), any other `toJSON` applied,
 * undefined and functions left out of objects and null in arrays, non-finite numbers null — in about half the time
 * (6 vs 13 µs for a Pod): this copy was made for every object a cached list returned and is for every event; it was the
 * suite's largest cost when status and state reads list pods (docs/performance.md).
 */
export function plainCopy(value: unknown): unknown {
  if (value === null || typeof value !== "object") {
    if (typeof value !== "number") return value;
    return Number.isFinite(value) ? (Object.is(value, -0) ? 0 : value) : null;
  }
  if (Array.isArray(value)) {
    return value.map((v: unknown) => {
      const p = typeof v === "function" || typeof v === "symbol" ? undefined : plainCopy(v);
      return p === undefined ? null : p;
    });
  }
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : kubeTime(value);
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === "function") return plainCopy((toJSON as () => unknown).call(value));
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    const v = (value as Record<string, unknown>)[key];
    if (v === undefined || typeof v === "function" || typeof v === "symbol") continue;
    if (key === "__proto__")
      Object.defineProperty(out, key, { value: plainCopy(v), enumerable: true, writable: true, configurable: true });
    else out[key] = plainCopy(v);
  }
  return out;
}

/**
 * One copy of each short string value, for objects kept a long time. JSON.parse makes a new string for every value of
 * every watch event, so the watch cache of 1,000 deployments held 16,000 copies of `moleculer-k8s` (our managed-by
 * label) and thousands of each kind, condition type and reason, image and time of one second: 5.5 MiB of duplicate
 * strings in a heap snapshot, a tenth of the heap (docs/performance.md, change 46). Bounded: once it holds `maxSize`
 * strings it starts afresh (strings already shared stay shared; a value met again is pooled again).
 */
export class StringPool {
  readonly #strings = new Map<string, string>();
  readonly maxSize: number;
  readonly maxLength: number;

  constructor(options: { maxSize?: number; maxLength?: number } = {}) {
    this.maxSize = options.maxSize ?? 20_000;
    this.maxLength = options.maxLength ?? 64;
  }

  /** The pool's copy of `text` (`text` itself the first time); longer strings as they are. */
  intern(text: string): string {
    if (text.length > this.maxLength) return text;
    const known = this.#strings.get(text);
    if (known !== undefined) return known;
    if (this.#strings.size >= this.maxSize) this.#strings.clear();
    this.#strings.set(text, text);
    return text;
  }

  get size(): number {
    return this.#strings.size;
  }
}

/** Values unique to one object (or one version of it): pooling them would only fill the pool. */
const UNPOOLED_KEYS: ReadonlySet<string> = new Set(["uid", "resourceVersion"]);

/**
 * Freezes a plain JSON value that nothing else holds yet and everything in it (what is frozen already is left as it
 * is), each short string value in it replaced by the pool's copy first (the same value: only which copy of an equal
 * string the object points at changes). Returns it.
 */
export function freezePooled<T>(value: T, pool: StringPool): T {
  if (value === null || typeof value !== "object" || Object.isFrozen(value)) return value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      if (typeof v === "string") value[i] = pool.intern(v);
      else freezePooled(v, pool);
    }
  } else {
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      const v = record[key];
      if (typeof v === "string") {
        if (!UNPOOLED_KEYS.has(key)) record[key] = pool.intern(v);
      } else freezePooled(v, pool);
    }
  }
  return Object.freeze(value);
}
