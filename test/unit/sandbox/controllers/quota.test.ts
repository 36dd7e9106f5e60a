import { describe, it, expect } from "@jest/globals";
import type { KubeObject } from "../../../../lib/sandbox/types.ts";
import {
  checkQuota,
  computeUsed,
  missingConstraints,
  podUsage,
  pvcUsage,
  resourceForQuotaKey,
  usageOf,
} from "../../../../lib/sandbox/controllers/quota.ts";
import { formatQuantity } from "../../../../lib/sandbox/controllers/quantity.ts";
import { applyLimitRangeDefaults, limitRangeViolations } from "../../../../lib/sandbox/controllers/limitranges.ts";
import { resolveIntOrPercent, surgeAndUnavailable } from "../../../../lib/sandbox/controllers/deployments.ts";

function pod(name: string, containers: unknown[], phase?: string, initContainers?: unknown[]): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: "team" },
    spec: { containers, ...(initContainers ? { initContainers } : {}) },
    ...(phase ? { status: { phase } } : {}),
  };
}
const c = (name: string, requests?: Record<string, string>, limits?: Record<string, string>) => ({
  name,
  image: "nginx",
  resources: { ...(requests ? { requests } : {}), ...(limits ? { limits } : {}) },
});
const text = (u: Map<string, { milli: bigint; format: "DecimalSI" | "BinarySI" }>) =>
  Object.fromEntries([...u].map(([k, v]) => [k, formatQuantity(v)]));

describe("sandbox quota arithmetic", () => {
  it("sums container requests and limits of a pod, taking the largest init container when bigger", () => {
    const p = pod(
      "web",
      [c("a", { cpu: "250m", memory: "64Mi" }, { cpu: "500m", memory: "128Mi" }), c("b", { cpu: "250m" })],
      undefined,
      [c("init", { cpu: "2" })],
    );
    expect(text(podUsage(p))).toEqual({
      pods: "1",
      "count/pods": "1",
      cpu: "2",
      "requests.cpu": "2",
      memory: "64Mi",
      "requests.memory": "64Mi",
      "limits.cpu": "500m",
      "limits.memory": "128Mi",
    });
  });

  it("does not count finished pods", () => {
    expect(podUsage(pod("done", [c("a", { cpu: "1" })], "Succeeded")).size).toBe(0);
    expect(podUsage(pod("failed", [c("a", { cpu: "1" })], "Failed")).size).toBe(0);
  });

  it("counts claims, storage per class and plain objects", () => {
    const pvc: KubeObject = {
      apiVersion: "v1",
      kind: "PersistentVolumeClaim",
      metadata: { name: "data" },
      spec: { storageClassName: "fast", resources: { requests: { storage: "5Gi" } } },
    };
    expect(text(pvcUsage(pvc))).toEqual({
      persistentvolumeclaims: "1",
      "count/persistentvolumeclaims": "1",
      "requests.storage": "5Gi",
      "fast.storageclass.storage.k8s.io/persistentvolumeclaims": "1",
      "fast.storageclass.storage.k8s.io/requests.storage": "5Gi",
    });
    expect(
      text(usageOf("deployments.apps", { apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "x" } })),
    ).toEqual({
      "count/deployments.apps": "1",
    });
    expect(text(usageOf("configmaps", { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "x" } }))).toEqual({
      "count/configmaps": "1",
      configmaps: "1",
    });
    expect(resourceForQuotaKey("count/deployments.apps")).toBe("deployments.apps");
    expect(resourceForQuotaKey("limits.memory")).toBe("pods");
    expect(resourceForQuotaKey("requests.storage")).toBe("persistentvolumeclaims");
    expect(resourceForQuotaKey("services.nodeports")).toBe("services");
    expect(resourceForQuotaKey("pods")).toBe("pods");
    // Object.prototype's names are quota keys like any other unknown one, not legacy counts.
    for (const key of ["constructor", "toString", "valueOf", "__proto__"])
      expect(resourceForQuotaKey(key)).toBeUndefined();
  });

  it("words a refusal exactly as kube-apiserver does", () => {
    const used = new Map([
      ["pods", { milli: 2000n, format: "DecimalSI" as const }],
      ["requests.memory", { milli: 600n * 1024n * 1024n * 1000n, format: "BinarySI" as const }],
    ]);
    const requested = new Map([
      ["pods", { milli: 1000n, format: "DecimalSI" as const }],
      ["requests.memory", { milli: 700n * 1024n * 1024n * 1000n, format: "BinarySI" as const }],
    ]);
    expect(checkQuota("compute", { pods: "10", "requests.memory": "1Gi" }, used, requested)).toBe(
      "exceeded quota: compute, requested: requests.memory=700Mi, used: requests.memory=600Mi, limited: requests.memory=1Gi",
    );
    expect(checkQuota("compute", { pods: "2", "requests.memory": "1Gi" }, used, requested)).toBe(
      "exceeded quota: compute, requested: pods=1,requests.memory=700Mi, used: pods=2,requests.memory=600Mi, limited: pods=2,requests.memory=1Gi",
    );
    expect(checkQuota("compute", { pods: "3", "requests.memory": "2Gi" }, used, requested)).toBeUndefined();
  });

  it("requires containers to declare what a quota limits", () => {
    const p = pod("web", [c("nginx", { cpu: "100m" }), c("sidecar")]);
    expect(missingConstraints(p, ["pods", "limits.cpu", "requests.cpu", "requests.memory"])).toBe(
      "must specify limits.cpu for: nginx,sidecar; requests.cpu for: sidecar; requests.memory for: nginx,sidecar",
    );
    expect(missingConstraints(p, ["pods", "count/pods"])).toBeUndefined();
  });

  it("computes status.used for every hard key, in canonical form", () => {
    const pods = [
      pod("a", [c("x", { cpu: "250m", memory: "128Mi" })], "Running"),
      pod("b", [c("x", { cpu: "750m", memory: "128Mi" })], "Running"),
      pod("c", [c("x", { cpu: "4" })], "Succeeded"),
    ];
    const used = computeUsed(
      { pods: "10", "requests.cpu": "4", "requests.memory": "1Gi", "limits.cpu": "2", secrets: "5" },
      (r) => (r === "pods" ? pods : []),
    );
    expect(used).toEqual({
      "limits.cpu": "0",
      pods: "2",
      "requests.cpu": "1",
      "requests.memory": "256Mi",
      secrets: "0",
    });
  });
});

describe("sandbox limit ranges", () => {
  const lr: KubeObject = {
    apiVersion: "v1",
    kind: "LimitRange",
    metadata: { name: "defaults", namespace: "team" },
    spec: {
      limits: [
        {
          type: "Container",
          default: { cpu: "500m", memory: "256Mi" },
          defaultRequest: { cpu: "100m" },
          max: { cpu: "1" },
        },
      ],
    },
  };

  it("fills in missing requests and limits and says so in the annotation text", () => {
    const p = pod("web", [c("nginx"), c("app", { cpu: "200m" }, { memory: "64Mi" })]);
    const note = applyLimitRangeDefaults(p, [lr]);
    const containers = (p.spec as { containers: { resources: unknown }[] }).containers;
    expect(containers[0]?.resources).toEqual({ limits: { cpu: "500m", memory: "256Mi" }, requests: { cpu: "100m" } });
    expect(containers[1]?.resources).toEqual({ requests: { cpu: "200m" }, limits: { memory: "64Mi", cpu: "500m" } });
    expect(note).toBe(
      "LimitRanger plugin set: cpu request for container nginx; cpu, memory limit for container nginx; cpu limit for container app",
    );
  });

  it("reports max violations with the apiserver's words", () => {
    const p = pod("web", [c("nginx", { cpu: "2" }, { cpu: "2" })]);
    expect(limitRangeViolations(p, [lr])).toEqual(["maximum cpu usage per Container is 1, but limit is 2"]);
  });
});

describe("sandbox rolling update bounds", () => {
  it("resolves maxSurge up and maxUnavailable down", () => {
    expect(resolveIntOrPercent("25%", 3, true)).toBe(1);
    expect(resolveIntOrPercent("25%", 3, false)).toBe(0);
    expect(resolveIntOrPercent(2, 3, false)).toBe(2);
    expect(surgeAndUnavailable(3, {})).toEqual({ surge: 1, unavailable: 0 });
    expect(surgeAndUnavailable(10, {})).toEqual({ surge: 3, unavailable: 2 });
    expect(
      surgeAndUnavailable(1, {
        strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 0, maxUnavailable: 0 } },
      }),
    ).toEqual({
      surge: 0,
      unavailable: 1,
    });
    expect(surgeAndUnavailable(4, { strategy: { type: "Recreate" } })).toEqual({ surge: 0, unavailable: 4 });
  });
});
