import { describe, expect, it } from "@jest/globals";
import { AppliedRenders, liveFingerprint, renderDigest } from "../../lib/applied-renders.ts";

type Objs = { kind: string; n: number }[];
const json = (n: number) => JSON.stringify([{ kind: "Deployment", n }]);
const objs = (n: number): Objs => JSON.parse(json(n)) as Objs;

describe("AppliedRenders", () => {
  it("knows a record's last apply by the digest of its JSON", () => {
    const applied = new AppliedRenders<Objs>();
    expect(applied.has("a")).toBe(false);
    expect(applied.isApplied("a", json(1))).toBe(false);
    applied.record("a", json(1));
    expect(applied.has("a")).toBe(true);
    expect(applied.isApplied("a", json(1))).toBe(true);
    expect(applied.isApplied("a", json(2))).toBe(false);
    expect(applied.isApplied("b", json(1))).toBe(false);
    applied.record("a", json(2));
    expect(applied.isApplied("a", json(1))).toBe(false);
    expect(applied.isApplied("a", json(2))).toBe(true);
    applied.delete("a");
    expect(applied.has("a")).toBe(false);
    expect(applied.size).toEqual({ applied: 0, kept: 0 });
  });

  it("restores what an apply replaced when it fails, or forgets a first one", () => {
    const applied = new AppliedRenders<Objs>();
    expect(applied.record("a", json(1))).toBeUndefined();
    applied.setGenerations("a", [["Deployment", 3]]);
    const before = applied.record("a", json(2));
    applied.restore("a", before);
    expect(applied.isApplied("a", json(1))).toBe(true);
    expect(applied.generation("a", "Deployment")).toBe(3);
    const first = applied.record("b", json(1));
    applied.restore("b", first);
    expect(applied.has("b")).toBe(false);
  });

  it("keeps the generations of the apply before until the new apply answers", () => {
    const applied = new AppliedRenders<Objs>();
    applied.record("a", json(1));
    expect(applied.generation("a", "Deployment")).toBeUndefined();
    applied.setGenerations("a", [
      ["Deployment", 1],
      ["Service", 1],
    ]);
    applied.record("a", json(2));
    expect(applied.generation("a", "Deployment")).toBe(1);
    applied.setGenerations("a", [["Deployment", 2]]);
    expect(applied.generation("a", "Deployment")).toBe(2);
    expect(applied.generation("a", "Service")).toBeUndefined();
    // Nothing recorded for the key: no generations either.
    applied.setGenerations("z", [["Deployment", 9]]);
    expect(applied.generation("z", "Deployment")).toBeUndefined();
  });

  it("answers a drift check with the objects kept from the apply, without rendering", async () => {
    const applied = new AppliedRenders<Objs>();
    applied.record("a", json(1));
    let renders = 0;
    const render = () => {
      renders++;
      return Promise.resolve(json(1));
    };
    const last = await applied.lastRender("a", render);
    expect(last).toEqual({ objects: objs(1) });
    // The same objects each time: the ones kept from the apply, not a render parsed anew.
    const kept = last !== "none" && last !== "changed" && last.objects;
    const again = await applied.lastRender("a", render);
    expect(again !== "none" && again !== "changed" && again.objects).toBe(kept);
    expect(renders).toBe(0);
    expect(await applied.lastRender("none-here", () => Promise.resolve(json(1)))).toBe("none");
  });

  it("renders a record whose objects are no longer kept, and uses them only when they digest as applied", async () => {
    const applied = new AppliedRenders<Objs>(2);
    applied.record("a", json(1));
    applied.record("b", json(2));
    applied.record("c", json(3)); // the bound is 2: a's objects are dropped, its digest stays
    expect(applied.keepsObjectsOf("a")).toBe(false);
    expect(applied.keepsObjectsOf("c")).toBe(true);
    expect(applied.size).toEqual({ applied: 3, kept: 2 });
    // The record renders the same as applied: its objects, parsed from the render, now kept again.
    const again = await applied.lastRender("a", () => Promise.resolve(json(1)));
    expect(again).toEqual({ objects: objs(1) });
    expect(applied.keepsObjectsOf("a")).toBe(true);
    expect(applied.keepsObjectsOf("b")).toBe(false); // the least recently used now
    // It renders differently (changed since its apply): nothing to compare with, and nothing kept.
    expect(await applied.lastRender("b", () => Promise.resolve(json(20)))).toBe("changed");
    expect(applied.keepsObjectsOf("b")).toBe(false);
  });

  it("reads the apply again after rendering: one recorded meanwhile wins", async () => {
    const applied = new AppliedRenders<Objs>(1);
    applied.record("a", json(1));
    applied.record("b", json(2)); // a's objects dropped
    const renderWhileApplying = async () => {
      applied.record("a", json(5)); // an apply of a new render while the drift check rendered the old one
      return Promise.resolve(json(1));
    };
    expect(await applied.lastRender("a", renderWhileApplying)).toEqual({ objects: objs(5) });
    applied.record("c", json(3)); // a's dropped again
    const removedWhileRendering = async () => {
      applied.delete("a");
      return Promise.resolve(json(5));
    };
    expect(await applied.lastRender("a", removedWhileRendering)).toBe("none");
  });

  it("keeps a live object found in line until the next apply, through the answer's generations and an undone apply", () => {
    const applied = new AppliedRenders<Objs>();
    applied.markInLine("a", "Deployment", "fp1"); // nothing applied: nothing noted
    expect(applied.liveInLine("a", "Deployment", "fp1")).toBe(false);
    applied.record("a", json(1));
    applied.markInLine("a", "Deployment", "fp1");
    expect(applied.liveInLine("a", "Deployment", "fp1")).toBe(true);
    expect(applied.liveInLine("a", "Deployment", "fp2")).toBe(false);
    expect(applied.liveInLine("a", "Service", "fp1")).toBe(false);
    applied.setGenerations("a", [["Deployment", 2]]); // the same apply's answer
    expect(applied.liveInLine("a", "Deployment", "fp1")).toBe(true);
    const before = applied.record("a", json(2)); // a new apply: nothing is known in line with it yet
    expect(applied.liveInLine("a", "Deployment", "fp1")).toBe(false);
    applied.restore("a", before); // that apply failed: the one before is what is live
    expect(applied.liveInLine("a", "Deployment", "fp1")).toBe(true);
    applied.delete("a");
    expect(applied.liveInLine("a", "Deployment", "fp1")).toBe(false);
  });

  it("fingerprints a live object by its generation, labels and annotations, not by its status", () => {
    const live = (generation: number | undefined, labels: object, status: object) => ({
      metadata: { ...(generation === undefined ? {} : { generation }), labels, annotations: { x: "1" } },
      status,
    });
    const one = liveFingerprint(live(1, { app: "a" }, { readyReplicas: 0 }));
    expect(liveFingerprint(live(1, { app: "a" }, { readyReplicas: 1 }))).toBe(one);
    expect(liveFingerprint(live(2, { app: "a" }, { readyReplicas: 0 }))).not.toBe(one);
    expect(liveFingerprint(live(1, { app: "b" }, { readyReplicas: 0 }))).not.toBe(one);
    expect(liveFingerprint({ metadata: { generation: 1, labels: { app: "a" }, annotations: { x: "2" } } })).not.toBe(
      one,
    );
    expect(liveFingerprint(live(undefined, { app: "a" }, {}))).toBeUndefined();
  });

  it("says an apply is under way from its start to its end, counting overlapping ones", () => {
    const applied = new AppliedRenders<unknown>();
    expect(applied.isApplying("a")).toBe(false);
    applied.applyStarted("a");
    applied.applyStarted("a");
    expect([applied.isApplying("a"), applied.isApplying("b")]).toEqual([true, false]);
    applied.applyEnded("a");
    expect(applied.isApplying("a")).toBe(true);
    applied.applyEnded("a");
    expect(applied.isApplying("a")).toBe(false);
    // An end without a start leaves nothing behind.
    applied.applyEnded("a");
    expect(applied.isApplying("a")).toBe(false);
  });

  it("digests equal JSON alike and different JSON apart", () => {
    expect(renderDigest(json(1))).toBe(renderDigest(json(1)));
    expect(renderDigest(json(1))).not.toBe(renderDigest(json(2)));
    expect(renderDigest(json(1))).toMatch(/^[A-Za-z0-9+/]{43}=$/);
  });
});
