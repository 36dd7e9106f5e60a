import { describe, expect, it } from "@jest/globals";
import { isSharedAnswer, jsonOf, sharedAnswer } from "../../lib/shared-answer.ts";

describe("sharedAnswer and jsonOf", () => {
  it("freezes the answer and everything in it, a part held twice included", () => {
    const part = { tags: ["a"] };
    const answer = sharedAnswer({ id: "x", items: [part, { inner: part }], meta: { n: 1 } });
    expect(isSharedAnswer(answer)).toBe(true);
    for (const o of [answer, answer.items, part, part.tags, answer.items[1], answer.meta]) {
      expect(Object.isFrozen(o)).toBe(true);
    }
    expect(() => {
      (answer.meta as { n: number }).n = 2;
    }).toThrow(TypeError);
  });

  it("writes a shared answer's JSON, the same each time", () => {
    const answer = sharedAnswer({ id: "x", list: [1, 2, { a: 'b"c' }] });
    const json = jsonOf(answer);
    expect(json).toBe(JSON.stringify({ id: "x", list: [1, 2, { a: 'b"c' }] }));
    expect(jsonOf(answer)).toBe(json);
  });

  it("serializes anything else anew each time: a later change shows", () => {
    const plain: { n: number; list: number[] } = { n: 1, list: [1] };
    expect(jsonOf(plain)).toBe('{"n":1,"list":[1]}');
    plain.n = 2;
    plain.list.push(2);
    expect(jsonOf(plain)).toBe('{"n":2,"list":[1,2]}');
    // Frozen is not enough: what it holds may change.
    const frozenTop = Object.freeze({ inner: { n: 1 } });
    expect(isSharedAnswer(frozenTop)).toBe(false);
    expect(jsonOf(frozenTop)).toBe('{"inner":{"n":1}}');
    frozenTop.inner.n = 3;
    expect(jsonOf(frozenTop)).toBe('{"inner":{"n":3}}');
    for (const value of [null, 3, "s", [1, "a"], true]) expect(jsonOf(value)).toBe(JSON.stringify(value));
  });
});
