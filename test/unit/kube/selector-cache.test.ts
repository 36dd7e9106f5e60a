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
});
