import { describe, it, expect } from "@jest/globals";
import fc from "fast-check";
import { plainCopy } from "../../../lib/kube/plain.ts";

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

describe("v1.kube plainCopy", () => {
  it("gives what a JSON round trip gives, for any value client-node may hand over", () => {
    fc.assert(
      fc.property(clientValue, (value) => {
        const expected: unknown = value === undefined ? undefined : JSON.parse(JSON.stringify(value));
        expect(plainCopy(value)).toStrictEqual(expected);
      }),
      { numRuns: 1000 },
    );
  });

  it("copies: changing the copy leaves the original as it was", () => {
    const original = { metadata: { labels: { a: "1" } }, items: [{ b: 2 }] };
    const copy = plainCopy(original) as typeof original;
    copy.metadata.labels.a = "2";
    (copy.items[0] as { b: number }).b = 3;
    expect(original).toEqual({ metadata: { labels: { a: "1" } }, items: [{ b: 2 }] });
  });
});
