import { describe, it, expect } from "@jest/globals";
import { labelSelectorMatcher, parseFieldSelector, parseLabelSelector } from "../../../lib/sandbox/selectors.ts";
import { StatusError } from "../../../lib/sandbox/status.ts";
import type { KubeObject } from "../../../lib/sandbox/types.ts";

function pod(name: string, labels: Record<string, string>, phase = "Running"): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: "default", labels },
    spec: { nodeName: "n1" },
    status: { phase },
  };
}
const pods = [pod("a", { app: "web", tier: "front" }), pod("b", { app: "api" }, "Pending"), pod("c", {})];
const names = (selector: string): string[] => {
  const m = parseLabelSelector(selector);
  return pods.filter((p) => m === undefined || m(p)).map((p) => p.metadata.name);
};
const fieldNames = (selector: string): string[] => {
  const m = parseFieldSelector(selector);
  return pods.filter((p) => m === undefined || m(p)).map((p) => p.metadata.name);
};

describe("sandbox label selectors", () => {
  it("supports =, ==, !=, in, notin, exists and !key, comma-joined", () => {
    expect(names("")).toEqual(["a", "b", "c"]);
    expect(names("app=web")).toEqual(["a"]);
    expect(names("app == api")).toEqual(["b"]);
    expect(names("app!=web")).toEqual(["b", "c"]);
    expect(names("app in (web, api)")).toEqual(["a", "b"]);
    expect(names("app notin (web)")).toEqual(["b", "c"]);
    expect(names("tier")).toEqual(["a"]);
    expect(names("!tier")).toEqual(["b", "c"]);
    expect(names("app,!tier")).toEqual(["b"]);
    expect(names("app in (web,api),tier=front")).toEqual(["a"]);
  });

  it("refuses what kube-apiserver cannot parse with a 400", () => {
    for (const bad of ["app in ()", "app=a b", "-bad=x", "app=(x"]) {
      expect(() => parseLabelSelector(bad)).toThrow(StatusError);
      try {
        parseLabelSelector(bad);
      } catch (err) {
        expect((err as StatusError).status).toMatchObject({ code: 400, reason: "BadRequest" });
      }
    }
  });

  it("matches LabelSelector objects with matchLabels and matchExpressions", () => {
    const m = labelSelectorMatcher({
      matchLabels: { app: "web" },
      matchExpressions: [{ key: "tier", operator: "In", values: ["front"] }],
    });
    expect(pods.filter(m).map((p) => p.metadata.name)).toEqual(["a"]);
    expect(
      pods
        .filter(labelSelectorMatcher({ matchExpressions: [{ key: "app", operator: "DoesNotExist" }] }))
        .map((p) => p.metadata.name),
    ).toEqual(["c"]);
  });
});

describe("sandbox field selectors", () => {
  it("compares field paths with =, == and !=", () => {
    expect(fieldNames("metadata.name=a")).toEqual(["a"]);
    expect(fieldNames("status.phase!=Running")).toEqual(["b"]);
    expect(fieldNames("spec.nodeName==n1,metadata.namespace=default")).toEqual(["a", "b", "c"]);
    expect(fieldNames("metadata.name=a,metadata.name=b")).toEqual([]);
  });

  it("refuses a malformed field selector with a 400", () => {
    expect(() => parseFieldSelector("metadata.name")).toThrow(StatusError);
  });
});
