import { describe, it, expect } from "@jest/globals";
import { applyOrder, validateObjects, describeObject, type ApplyObject } from "../../../lib/kube/apply.ts";
import { parseLabelSelector } from "../../../lib/kube/selector.ts";

function obj(apiVersion: string, kind: string, name: string, namespace?: string): ApplyObject {
  return { apiVersion, kind, metadata: { name, ...(namespace === undefined ? {} : { namespace }) } };
}

describe("applyOrder", () => {
  it("puts Namespaces first, then cluster-scoped objects, then namespaced ones, keeping the given order within each", () => {
    const list = [
      obj("apps/v1", "Deployment", "web", "shop"),
      obj("v1", "ConfigMap", "conf", "shop"),
      obj("v1", "PersistentVolume", "pv-1"),
      obj("v1", "Namespace", "shop"),
      obj("rbac.authorization.k8s.io/v1", "ClusterRole", "reader"),
      obj("v1", "Service", "web-service", "shop"),
      obj("v1", "Namespace", "other"),
    ];
    expect(applyOrder(list).map(describeObject)).toEqual([
      "Namespace shop",
      "Namespace other",
      "PersistentVolume pv-1",
      "ClusterRole reader",
      "Deployment shop/web",
      "ConfigMap shop/conf",
      "Service shop/web-service",
    ]);
  });

  it("does not change the list it is given", () => {
    const list = [obj("v1", "ConfigMap", "a", "x"), obj("v1", "Namespace", "x")];
    applyOrder(list);
    expect(list[0]?.kind).toBe("ConfigMap");
  });
});

describe("validateObjects", () => {
  it("accepts objects that have apiVersion, kind and metadata.name", () => {
    expect(validateObjects([obj("v1", "Namespace", "a"), obj("v1", "ConfigMap", "c", "a")])).toHaveLength(2);
  });

  it.each([
    [{ kind: "ConfigMap", metadata: { name: "c" } }, "objects[1].apiVersion"],
    [{ apiVersion: "v1", metadata: { name: "c" } }, "objects[1].kind"],
    [{ apiVersion: "v1", kind: "ConfigMap" }, "objects[1].metadata.name"],
    [{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "" } }, "objects[1].metadata.name"],
    [{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "c", namespace: 3 } }, "objects[1].metadata.namespace"],
    ["a string", "objects[1]"],
    [{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "Upper" } }, "objects[1].metadata.name"],
  ])("rejects %j with a 422 naming %s", (bad, field) => {
    let caught: unknown;
    try {
      validateObjects([obj("v1", "Namespace", "a"), bad]);
    } catch (err) {
      caught = err;
    }
    expect(caught).toMatchObject({ code: 422, type: "VALIDATION_ERROR", data: [{ field }] });
  });

  it("rejects an empty list", () => {
    expect(() => validateObjects([])).toThrow("at least one object");
  });
});

describe("parseLabelSelector", () => {
  const labels = { app: "web", tier: "front", "app.kubernetes.io/managed-by": "moleculer-k8s" };

  it.each([
    ["", true],
    ["app=web", true],
    ["app==web", true],
    ["app=api", false],
    ["app!=api", true],
    ["app!=web", false],
    ["tier in (front, back)", true],
    ["tier notin (front)", false],
    ["app.kubernetes.io/managed-by=moleculer-k8s,app=web", true],
    ["app,tier", true],
    ["!missing", true],
    ["!app", false],
    ["missing", false],
    ["missing!=x", true],
  ])("%s → %s", (selector, expected) => {
    expect(parseLabelSelector(selector)(labels)).toBe(expected);
  });

  it("treats missing labels as an empty set", () => {
    expect(parseLabelSelector("app")(undefined)).toBe(false);
    expect(parseLabelSelector("!app")(undefined)).toBe(true);
  });

  it("rejects a malformed selector with a 422 on labelSelector", () => {
    expect(() => parseLabelSelector("app=(web")).toThrow();
    let caught: unknown;
    try {
      parseLabelSelector("bad key=x");
    } catch (err) {
      caught = err;
    }
    expect(caught).toMatchObject({ code: 422, data: [{ field: "labelSelector" }] });
  });
});
