import { describe, expect, it } from "@jest/globals";
import { ParsedJson } from "../../lib/parsed-json.ts";

describe("ParsedJson", () => {
  it("parses a key's text, and gives the same value again while the text is the same", () => {
    const cache = new ParsedJson<{ n: number }[]>();
    const first = cache.parse("a", '[{"n":1}]');
    expect(first).toEqual([{ n: 1 }]);
    expect(cache.parse("a", '[{"n":1}]')).toBe(first);
    // A new text for the key: parsed anew.
    const second = cache.parse("a", '[{"n":2}]');
    expect(second).toEqual([{ n: 2 }]);
    expect(cache.parse("a", '[{"n":1}]')).not.toBe(first);
    // Keys do not share entries.
    expect(cache.parse("b", '[{"n":2}]')).not.toBe(second);
  });

  it("keeps the most recently used keys up to its bound", () => {
    const cache = new ParsedJson<{ i: number }>(3);
    const values = ["a", "b", "c"].map((k, i) => cache.parse(k, `{"i":${i}}`));
    expect(cache.parse("a", '{"i":0}')).toBe(values[0]); // a is now the most recent: b is the oldest
    cache.parse("d", '{"i":3}');
    expect(cache.size).toBe(3);
    expect(cache.parse("a", '{"i":0}')).toBe(values[0]);
    expect(cache.parse("c", '{"i":2}')).toBe(values[2]);
    // b was dropped: parsed anew.
    const b = cache.parse("b", '{"i":1}');
    expect(b).toEqual({ i: 1 });
    expect(b).not.toBe(values[1]);
    expect(cache.size).toBe(3);
  });

  it("throws on text that is not JSON, keeping nothing for the key", () => {
    const cache = new ParsedJson<unknown>();
    expect(() => cache.parse("x", "{")).toThrow(SyntaxError);
    expect(cache.size).toBe(0);
  });
});
