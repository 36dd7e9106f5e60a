import { describe, it, expect } from "@jest/globals";
import { parseLabelSelector } from "../../../lib/kube/selector.ts";

describe("v1.kube label selectors", () => {
  it("match the same after being parsed again (the matcher is kept), and a malformed one is refused every time", () => {
    const selector = "app.kubernetes.io/managed-by=moleculer-k8s,moleculer-k8s/id in (a,b),!gone";
    const first = parseLabelSelector(selector);
    const again = parseLabelSelector(selector);
    const labels = { "app.kubernetes.io/managed-by": "moleculer-k8s", "moleculer-k8s/id": "b" };
    expect([first(labels), again(labels), again({ ...labels, gone: "x" })]).toEqual([true, true, false]);
    for (let i = 0; i < 2; i++) {
      expect(() => parseLabelSelector("a in (b")).toThrow(expect.objectContaining({ code: 422 }) as unknown as Error);
    }
  });

  it("say which values each equality or set requirement allows (what the cache's index by record id reads)", () => {
    const m = parseLabelSelector("a=b,c in (x,y),c in (y,z),!d,e!=f,g notin (h),i==j");
    expect(Object.fromEntries(m.allowed)).toEqual({ a: ["b"], c: ["y"], i: ["j"] });
    expect(parseLabelSelector("").allowed.size).toBe(0);
    expect(parseLabelSelector("x,!y").allowed.size).toBe(0);
  });
});
