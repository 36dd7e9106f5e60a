import { describe, expect, it } from "@jest/globals";
import fc from "fast-check";
import { PairIndex } from "../../../../lib/sandbox/controllers/services.ts";

/** Small label maps over few keys and values, so that selectors and labels overlap often. */
const labels = fc.dictionary(fc.constantFrom("app", "tier", "color", "managed-by"), fc.constantFrom("a", "b", "c"), {
  maxKeys: 4,
});
/** A sequence of (re)indexings of a few names, with removals (undefined). */
const changes = fc.array(
  fc.tuple(fc.constantFrom("s1", "s2", "s3", "s4", "s5"), fc.option(labels, { nil: undefined })),
  {
    maxLength: 30,
  },
);

function selects(selector: Record<string, string> | undefined, podLabels: Record<string, string>): boolean {
  const entries = Object.entries(selector ?? {});
  return entries.length > 0 && entries.every(([k, v]) => podLabels[k] === v);
}

/** What the services controller looks up: the names under any of the pod's pairs whose whole map the pod has. */
function found(
  index: PairIndex,
  current: Map<string, Record<string, string> | undefined>,
  pod: Record<string, string>,
) {
  const out = new Set<string>();
  for (const [k, v] of Object.entries(pod)) {
    for (const n of index.names("ns", k, v)) if (selects(current.get(n), pod)) out.add(n);
  }
  return [...out].sort();
}

describe("PairIndex (the endpoints controller's label-pair index)", () => {
  for (const onePair of [false, true]) {
    it(`finds exactly the selectors a pod's labels satisfy after any changes (onePair: ${String(onePair)})`, () => {
      fc.assert(
        fc.property(changes, labels, (steps, pod) => {
          const index = new PairIndex({ onePair });
          const current = new Map<string, Record<string, string> | undefined>();
          for (const [n, map] of steps) {
            index.set("ns", n, map);
            current.set(n, map);
          }
          const brute = [...current].filter(([, map]) => selects(map, pod)).map(([n]) => n);
          expect(found(index, current, pod)).toEqual(brute.sort());
          // Another namespace's lookups see none of them.
          expect(Object.entries(pod).flatMap(([k, v]) => [...index.names("other", k, v)])).toEqual([]);
        }),
        { numRuns: 500 },
      );
    });
  }

  it("lists every name under each of its pairs, and with onePair under one, the least used", () => {
    const all = new PairIndex();
    all.set("ns", "p1", { app: "web", tier: "front" });
    expect([...all.names("ns", "app", "web")]).toEqual(["p1"]);
    expect([...all.names("ns", "tier", "front")]).toEqual(["p1"]);

    const one = new PairIndex({ onePair: true });
    one.set("ns", "s1", { "managed-by": "us", instance: "a" });
    one.set("ns", "s2", { "managed-by": "us", instance: "b" });
    one.set("ns", "s3", { "managed-by": "us", instance: "c" });
    // s1 took the first pair while both were empty; s2 and s3 their own instance.
    expect([...one.names("ns", "managed-by", "us")]).toEqual(["s1"]);
    expect([...one.names("ns", "instance", "b")]).toEqual(["s2"]);
    // Re-indexed with the pair it has, it stays there; without it, it moves.
    one.set("ns", "s2", { "managed-by": "us", instance: "b", extra: "x" });
    expect([...one.names("ns", "instance", "b")]).toEqual(["s2"]);
    one.set("ns", "s2", { "managed-by": "us", instance: "z" });
    expect([...one.names("ns", "instance", "b")]).toEqual([]);
    expect([...one.names("ns", "instance", "z")]).toEqual(["s2"]);
    one.set("ns", "s2", undefined);
    expect([...one.names("ns", "instance", "z")]).toEqual([]);
  });
});
