import { describe, expect, it } from "@jest/globals";
import { isSharedAnswer, jsonOf, sharedAnswer, SharedAnswersByRecord } from "../../lib/shared-answer.ts";

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

describe("SharedAnswersByRecord (get's answer to the gateway)", () => {
  it("gives one shared answer while the record is the same stored object, and a new one for a new object", () => {
    const answers = new SharedAnswersByRecord();
    let made = 0;
    const make = (stored: { n: number; spec: { image: string } }) => () => {
      made++;
      return { n: stored.n, spec: { ...stored.spec } };
    };
    const v1 = { n: 1, spec: { image: "nginx" } };
    const a = answers.answerFor("r1", v1, make(v1));
    expect(a).toEqual({ n: 1, spec: { image: "nginx" } });
    expect(isSharedAnswer(a)).toBe(true);
    expect(Object.isFrozen(a.spec)).toBe(true);
    expect(answers.answerFor("r1", v1, make(v1))).toBe(a);
    expect(made).toBe(1);
    // The stored record itself is left alone: only what `make` built is frozen.
    expect(Object.isFrozen(v1) || Object.isFrozen(v1.spec)).toBe(false);
    // An update stores a new object, even with equal values: a new answer.
    const v2 = { n: 1, spec: { image: "nginx" } };
    const b = answers.answerFor("r1", v2, make(v2));
    expect(b).not.toBe(a);
    expect(made).toBe(2);
    const v3 = { n: 2, spec: { image: "httpd" } };
    expect(answers.answerFor("r1", v3, make(v3))).toEqual({ n: 2, spec: { image: "httpd" } });
    // Another record, the same stored object: its own answer.
    expect(answers.answerFor("r2", v3, make(v3))).not.toBe(answers.answerFor("r1", v3, make(v3)));
    expect(jsonOf(b)).toBe('{"n":1,"spec":{"image":"nginx"}}');
  });

  it("keeps the answers of the last records asked for, up to its bound", () => {
    const answers = new SharedAnswersByRecord(2);
    const stored = { a: {}, b: {}, c: {} };
    const first = answers.answerFor("a", stored.a, () => ({ id: "a" }));
    answers.answerFor("b", stored.b, () => ({ id: "b" }));
    // `a` asked again: now the most recent, so `b` is the one to go when `c` comes.
    expect(answers.answerFor("a", stored.a, () => ({ id: "a2" }))).toBe(first);
    answers.answerFor("c", stored.c, () => ({ id: "c" }));
    expect(answers.size).toBe(2);
    expect(answers.answerFor("a", stored.a, () => ({ id: "a3" }))).toBe(first);
    expect(answers.answerFor("b", stored.b, () => ({ id: "b2" }))).toEqual({ id: "b2" });
  });
});
