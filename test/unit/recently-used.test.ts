import { describe, expect, it } from "@jest/globals";
import { setMostRecent } from "../../lib/recently-used.ts";

describe("setMostRecent (the bound of the caches of the last records read)", () => {
  it("keeps the last `max` keys set, a key set again counting as the most recent", () => {
    const entries = new Map<string, number>();
    setMostRecent(entries, "a", 1, 2);
    setMostRecent(entries, "b", 2, 2);
    setMostRecent(entries, "a", 3, 2);
    expect([...entries]).toEqual([
      ["b", 2],
      ["a", 3],
    ]);
    setMostRecent(entries, "c", 4, 2);
    expect([...entries]).toEqual([
      ["a", 3],
      ["c", 4],
    ]);
  });

  it("keeps the order when the key set last is set again, or removed and set again", () => {
    const entries = new Map<string, number>();
    setMostRecent(entries, "a", 1, 3);
    setMostRecent(entries, "b", 2, 3);
    setMostRecent(entries, "b", 3, 3);
    expect([...entries]).toEqual([
      ["a", 1],
      ["b", 3],
    ]);
    entries.delete("b");
    setMostRecent(entries, "c", 4, 3);
    setMostRecent(entries, "c", 5, 3);
    entries.delete("c");
    setMostRecent(entries, "a", 6, 3);
    setMostRecent(entries, "c", 7, 3);
    expect([...entries]).toEqual([
      ["a", 6],
      ["c", 7],
    ]);
    setMostRecent(entries, "d", 8, 1);
    expect([...entries]).toEqual([["d", 8]]);
  });

  it("brings a map over the bound back to it, and keeps nothing with a bound of 0", () => {
    const entries = new Map([
      ["a", 1],
      ["b", 2],
      ["c", 3],
    ]);
    setMostRecent(entries, "d", 4, 2);
    expect([...entries.keys()]).toEqual(["c", "d"]);
    setMostRecent(entries, "e", 5, 0);
    expect(entries.size).toBe(0);
  });
});
