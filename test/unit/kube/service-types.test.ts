import { describe, it, expect } from "@jest/globals";
import type { V1ConfigMap, V1Deployment } from "@kubernetes/client-node";
import type { KubeApplyInput, KubeGetInput, KubeListParams } from "../../../services/kube.service.ts";
import { toPublic } from "../../../services/kube.service.ts";

describe("v1.kube caller types and toPublic", () => {
  it("accept rendered client-node models as apply input (checked by tsc)", () => {
    const dep: V1Deployment = { apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "web", namespace: "a" } };
    const cm: V1ConfigMap = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "c", namespace: "a" } };
    const input: KubeApplyInput = { objects: [dep, cm], fieldManager: "k8s.deployments" };
    const get: KubeGetInput = { apiVersion: "v1", kind: "ConfigMap", name: "c" };
    // @ts-expect-error fieldManager is required
    const missing: KubeApplyInput = { objects: [dep] };
    const list: KubeListParams = { apiVersion: "v1", kind: "Pod" };
    expect([input.objects.length, get.name, missing.objects.length, list.kind]).toEqual([2, "c", 1, "Pod"]);
  });

  it("copies an object without managedFields, and a Secret without its data", () => {
    const secret = {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "s", managedFields: [{ manager: "x" }] },
      data: { A: "aHVudGVyMg==" },
      stringData: { B: "b" },
    };
    const out = toPublic(secret);
    expect(out).toEqual({ apiVersion: "v1", kind: "Secret", metadata: { name: "s" } });
    expect(secret.data).toEqual({ A: "aHVudGVyMg==" });
    const created = toPublic({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "c", creationTimestamp: new Date(0) },
    });
    expect(created.metadata?.creationTimestamp).toBe("1970-01-01T00:00:00Z");
  });
});
