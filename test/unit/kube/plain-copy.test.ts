import { describe, it, expect } from "@jest/globals";
import fc from "fast-check";
import { freezePooled, kubeTime, plainCopy, StringPool } from "../../../lib/kube/plain.ts";

/** Values as client-node hands them over: JSON plus Dates, undefined fields and holes a JSON round trip would drop. */
const clientValue = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    fc.string(),
    fc.integer(),
    fc.double(),
    fc.constantFrom(-0, Number.NaN, Number.POSITIVE_INFINITY),
    fc.boolean(),
    fc.constant(null),
    fc.constant(undefined),
    fc.date({ noInvalidDate: true }),
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(fc.oneof(fc.string(), fc.constant("__proto__")), tie("value"), { maxKeys: 4 }),
  ),
})).value;

/** The value with its Dates replaced by `kubeTime` (before JSON.stringify, which would call their toJSON first). */
function timesAsKube(value: unknown): unknown {
  if (value instanceof Date) return kubeTime(value);
  if (Array.isArray(value)) return value.map(timesAsKube);
  if (value === null || typeof value !== "object") return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    Object.defineProperty(out, k, { value: timesAsKube(v), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

describe("kubeTime", () => {
  it("writes a time as the API server does: whole seconds without a fraction, milliseconds when there are some", () => {
    expect(kubeTime(new Date("2026-11-27T11:00:44Z"))).toBe("2026-11-27T11:00:44Z");
    expect(kubeTime(new Date("2026-11-27T11:00:44.000Z"))).toBe("2026-11-27T11:00:44Z");
    expect(kubeTime(new Date("2026-11-27T11:00:44.120Z"))).toBe("2026-11-27T11:00:44.120Z");
    expect(kubeTime(new Date("2026-11-27T11:00:44.123456Z"))).toBe("2026-11-27T11:00:44.123Z");
  });
});

describe("v1.kube plainCopy", () => {
  it("gives what a JSON round trip gives, times as the API server writes them, for any value client-node may hand over", () => {
    fc.assert(
      fc.property(clientValue, (value) => {
        const expected: unknown = value === undefined ? undefined : JSON.parse(JSON.stringify(timesAsKube(value)));
        expect(plainCopy(value)).toStrictEqual(expected);
      }),
      { numRuns: 1000 },
    );
  });

  it("writes a time client-node parsed into a Date as the watch event that carried the same object says it", () => {
    const fromWatch = JSON.parse('{"status":{"startTime":"2026-11-27T11:00:44Z"}}') as unknown;
    const fromList = { status: { startTime: new Date("2026-11-27T11:00:44Z") } };
    expect(plainCopy(fromList)).toStrictEqual(fromWatch);
  });

  it("copies: changing the copy leaves the original as it was", () => {
    const original = { metadata: { labels: { a: "1" } }, items: [{ b: 2 }] };
    const copy = plainCopy(original) as typeof original;
    copy.metadata.labels.a = "2";
    (copy.items[0] as { b: number }).b = 3;
    expect(original).toEqual({ metadata: { labels: { a: "1" } }, items: [{ b: 2 }] });
  });
});

/** JSON values as a watch event's JSON.parse gives them, with the keys whose values are never pooled among them. */
const jsonValue = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    fc.string({ maxLength: 80 }),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(fc.oneof(fc.string(), fc.constantFrom("uid", "resourceVersion", "name")), tie("value"), {
      maxKeys: 4,
    }),
  ),
})).value;

function isDeepFrozen(value: unknown): boolean {
  if (value === null || typeof value !== "object") return true;
  return Object.isFrozen(value) && Object.values(value).every(isDeepFrozen);
}

/**
 * The string values inside a JSON value that a pool takes: short ones, not under uid or resourceVersion (`key` is
 * undefined for the value itself, which is not inside anything).
 */
function poolableStrings(value: unknown, key?: string, out = new Set<string>(), maxLength = 64): Set<string> {
  if (typeof value === "string") {
    if (key !== undefined && value.length <= maxLength && key !== "uid" && key !== "resourceVersion") out.add(value);
  } else if (Array.isArray(value)) {
    for (const v of value) poolableStrings(v, "", out, maxLength);
  } else if (value !== null && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) poolableStrings(v, k, out, maxLength);
  }
  return out;
}

describe("freezePooled and StringPool (the watch cache's shared strings)", () => {
  it("leaves any JSON value as it was, deeply frozen, and pools exactly its short strings but uids and versions", () => {
    fc.assert(
      fc.property(jsonValue, (value) => {
        const before = JSON.stringify(value);
        const pool = new StringPool();
        const frozen = freezePooled(value, pool);
        expect(frozen).toBe(value);
        expect(JSON.stringify(frozen)).toBe(before);
        expect(isDeepFrozen(frozen)).toBe(true);
        expect(pool.size).toBe(poolableStrings(JSON.parse(before)).size);
      }),
      { numRuns: 300 },
    );
  });

  it("answers an equal string, keeps one entry per value, passes long strings by, and starts afresh when full", () => {
    const pool = new StringPool({ maxSize: 3, maxLength: 8 });
    expect(pool.intern("True")).toBe("True");
    expect(pool.intern(["Tr", "ue"].join(""))).toBe("True");
    expect(pool.size).toBe(1);
    expect(pool.intern("a-string-longer-than-8")).toBe("a-string-longer-than-8");
    expect(pool.size).toBe(1);
    pool.intern("b");
    pool.intern("c");
    expect(pool.size).toBe(3);
    expect(pool.intern("d")).toBe("d");
    expect(pool.size).toBe(1);
  });

  it("skips what is already frozen (a shared constant) and freezes arrays and objects inside arrays", () => {
    const shared = Object.freeze({ kind: "Shared" });
    const value = { items: [{ name: "web", labels: { app: "web" } }, shared], tags: ["a", "b"] };
    const pool = new StringPool();
    freezePooled(value, pool);
    expect(isDeepFrozen(value)).toBe(true);
    expect(pool.size).toBe(3); // "web" (twice), "a", "b"; "Shared" was never visited
  });
});
