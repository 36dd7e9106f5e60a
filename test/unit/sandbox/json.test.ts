import { describe, expect, it } from "@jest/globals";
import fc from "fast-check";
import { jsonCopy } from "../../../lib/sandbox/json.ts";

/** Values as the sandbox's controllers and request bodies hand them over: JSON, plus what a JSON round trip changes. */
const anyValue = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    fc.string(),
    fc.integer(),
    fc.double(),
    fc.constantFrom(-0, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY),
    fc.boolean(),
    fc.constant(null),
    fc.constant(undefined),
    fc.constant(() => 1),
    fc.constant(Symbol("s")),
    fc.date({ noInvalidDate: true }),
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(fc.oneof(fc.string(), fc.constant("__proto__"), fc.constant("toString")), tie("value"), {
      maxKeys: 4,
    }),
  ),
})).value;

describe("sandbox jsonCopy", () => {
  it("gives what JSON.parse(JSON.stringify(value)) gives, for any value", () => {
    fc.assert(
      fc.property(anyValue, (value) => {
        const text = JSON.stringify(value) as string | undefined;
        const expected: unknown = text === undefined ? undefined : JSON.parse(text);
        expect(jsonCopy(value)).toStrictEqual(expected);
      }),
      { numRuns: 2000 },
    );
  });

  it("applies toJSON with the key, as JSON.stringify does", () => {
    const keyed = { toJSON: (key: string) => `at '${key}'` };
    expect(jsonCopy({ a: keyed, list: [keyed] })).toEqual({ a: "at 'a'", list: ["at '0'"] });
    expect(jsonCopy(keyed)).toBe("at ''");
  });

  it("copies: changing the copy leaves the original as it was", () => {
    const original = { metadata: { labels: { a: "1" } }, spec: { containers: [{ name: "c" }] } };
    const copy = jsonCopy(original);
    copy.metadata.labels.a = "2";
    (copy.spec.containers[0] as { name: string }).name = "d";
    expect(original).toEqual({ metadata: { labels: { a: "1" } }, spec: { containers: [{ name: "c" }] } });
  });

  it("refuses a BigInt, as JSON.stringify does", () => {
    expect(() => jsonCopy({ n: 1n })).toThrow(TypeError);
  });
});
