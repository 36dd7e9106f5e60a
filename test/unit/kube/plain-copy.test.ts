import { describe, it, expect } from "@jest/globals";
import fc from "fast-check";
import { kubeTime, plainCopy } from "../../../lib/kube/plain.ts";

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
