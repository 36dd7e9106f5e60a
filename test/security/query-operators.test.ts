/**
 * The operators a person's `query` may not hold (mixins/membership.mixin.ts): those that run code, and those that reach a
 * field without naming it as a key (which would defeat per-field guards such as the envs' refusal to filter on
 * `value`). NeDB refuses `$expr` and `$jsonSchema` by itself; MongoDB runs them, so the guard must.
 */
import { describe, expect, it } from "@jest/globals";
import { findForbiddenOperator } from "../../mixins/membership.mixin.ts";
import { queryMentions } from "../../services/envs.service.ts";

describe("findForbiddenOperator", () => {
  it("finds code-running and field-hiding operators at any depth", () => {
    const cases: [unknown, string][] = [
      [{ $where: "return true" }, "$where"],
      [{ $or: [{ a: 1 }, { $where: "1" }] }, "$where"],
      [{ a: { $function: { body: "", args: [], lang: "js" } } }, "$function"],
      [{ $expr: { $accumulator: {} } }, "$expr"],
      [{ $expr: { $gt: ["$$ROOT.value", "m"] } }, "$expr"],
      [{ $and: [{ type: "secret" }, { $expr: { $eq: [{ $getField: "value" }, "x"] } }] }, "$expr"],
      [{ $jsonSchema: { patternProperties: { "^valu": { pattern: "^a" } } } }, "$jsonSchema"],
      [{ $nor: [{ $jsonSchema: {} }] }, "$jsonSchema"],
    ];
    for (const [query, operator] of cases)
      expect({ query, found: findForbiddenOperator(query) }).toEqual({ query, found: operator });
  });

  it("lets ordinary operators through (they are ANDed under the membership filter)", () => {
    for (const query of [
      { name: { $ne: "x" } },
      { $or: [{ name: "a" }, { name: { $regex: "^b" } }] },
      { namespace: { $in: ["a", "b"] }, createdAt: { $exists: true } },
      { name: { $not: { $eq: "x" } } },
      { $nor: [{ name: "x" }] },
    ]) {
      expect(findForbiddenOperator(query)).toBeUndefined();
    }
  });
});

describe("the envs' guard on `value` (an oracle for secrets) once $expr and $jsonSchema are refused", () => {
  it("sees `value` as a key or a `$value` reference anywhere", () => {
    for (const query of [
      { value: "x" },
      { "value.length": 3 },
      { $or: [{ key: "A" }, { value: { $regex: "^a" } }] },
      { $jsonSchema: { properties: { value: { pattern: "^a" } } } },
      { a: "$value" },
    ]) {
      expect(queryMentions(query, "value")).toBe(true);
    }
  });
});
