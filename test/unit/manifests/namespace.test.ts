import { describe, expect, it } from "@jest/globals";
import { dumpYaml } from "@kubernetes/client-node";
import { getIdFromAnnotation } from "../../../lib/manifests/labels.ts";
import {
  DEFAULT_CONTAINER_RESOURCES,
  DEFAULT_QUOTA,
  LIMIT_RANGE_NAME,
  RESOURCE_QUOTA_NAME,
  renderLimitRange,
  renderNamespace,
  quotaFromHard,
  renderResourceQuota,
  resolveQuota,
} from "../../../lib/manifests/namespace.ts";
import { cpuQuantity, memoryQuantity, storageQuantity } from "../../../lib/manifests/quantity.ts";
import { deepFreeze, expectWellFormed } from "./fixtures.ts";

const LABELS = {
  "app.kubernetes.io/managed-by": "moleculer-k8s",
  "app.kubernetes.io/part-of": "moleculer-k8s",
  "app.kubernetes.io/name": "shop",
  "app.kubernetes.io/instance": "shop",
  "app.kubernetes.io/component": "namespace",
  "moleculer-k8s/id": "ns1",
};

describe("lib/manifests/namespace renderNamespace", () => {
  it("renders the whole Namespace with pod-security baseline and the id and domain annotations", () => {
    expect(renderNamespace({ id: "ns1", name: "shop", domain: "shop.example.com" })).toEqual({
      apiVersion: "v1",
      kind: "Namespace",
      metadata: {
        name: "shop",
        labels: {
          ...LABELS,
          "pod-security.kubernetes.io/enforce": "baseline",
          "pod-security.kubernetes.io/enforce-version": "latest",
        },
        annotations: { "moleculer-k8s/id": "ns1", "moleculer-k8s/domain": "shop.example.com" },
      },
    });
  });

  it("leaves the domain annotation out when there is no domain, and is well-formed", () => {
    const ns = renderNamespace({ id: "ns1", name: "shop" });
    expect(ns.metadata?.annotations).toEqual({ "moleculer-k8s/id": "ns1" });
    expect(getIdFromAnnotation(ns)).toBe("ns1");
    expectWellFormed(ns);
  });
});

describe("lib/manifests/namespace renderResourceQuota", () => {
  it("renders the whole ResourceQuota with quantities as strings", () => {
    const quota = renderResourceQuota({
      id: "ns1",
      namespace: "shop",
      quota: { cpu: 500, memory: 512, pods: 5, persistentvolumeclaims: 2, storage: 10 },
    });
    expect(quota).toEqual({
      apiVersion: "v1",
      kind: "ResourceQuota",
      metadata: {
        name: "moleculer-k8s-quota",
        namespace: "shop",
        labels: LABELS,
        annotations: { "moleculer-k8s/id": "ns1" },
      },
      spec: {
        hard: {
          "requests.cpu": "500m",
          "limits.cpu": "500m",
          "requests.memory": "512Mi",
          "limits.memory": "512Mi",
          pods: "5",
          persistentvolumeclaims: "2",
          "requests.storage": "10Gi",
        },
      },
    });
    expect(RESOURCE_QUOTA_NAME).toBe("moleculer-k8s-quota");
    expectWellFormed(quota);
  });

  it("fills unset fields from the defaults, DEFAULT_QUOTA when none are given", () => {
    expect(renderResourceQuota({ id: "ns1", namespace: "shop" }).spec?.hard).toEqual({
      "requests.cpu": cpuQuantity(DEFAULT_QUOTA.cpu),
      "limits.cpu": cpuQuantity(DEFAULT_QUOTA.cpu),
      "requests.memory": memoryQuantity(DEFAULT_QUOTA.memory),
      "limits.memory": memoryQuantity(DEFAULT_QUOTA.memory),
      pods: String(DEFAULT_QUOTA.pods),
      persistentvolumeclaims: String(DEFAULT_QUOTA.persistentvolumeclaims),
      "requests.storage": storageQuantity(DEFAULT_QUOTA.storage),
    });
    const defaults = { cpu: 1000, memory: 1024, pods: 3, persistentvolumeclaims: 1, storage: 1 };
    expect(renderResourceQuota({ id: "x", namespace: "shop", quota: { pods: 7 }, defaults }).spec?.hard).toEqual({
      "requests.cpu": "1",
      "limits.cpu": "1",
      "requests.memory": "1Gi",
      "limits.memory": "1Gi",
      pods: "7",
      persistentvolumeclaims: "1",
      "requests.storage": "1Gi",
    });
    expect(resolveQuota({ cpu: 0 })).toEqual({ ...DEFAULT_QUOTA, cpu: 0 });
  });
});

describe("lib/manifests/namespace renderLimitRange", () => {
  it("renders the whole LimitRange with container default limits and requests", () => {
    const lr = renderLimitRange({ id: "ns1", namespace: "shop" });
    expect(lr).toEqual({
      apiVersion: "v1",
      kind: "LimitRange",
      metadata: {
        name: "moleculer-k8s-limits",
        namespace: "shop",
        labels: LABELS,
        annotations: { "moleculer-k8s/id": "ns1" },
      },
      spec: {
        limits: [
          {
            type: "Container",
            _default: { cpu: "500m", memory: "512Mi" },
            defaultRequest: { cpu: "100m", memory: "128Mi" },
          },
        ],
      },
    });
    expect(LIMIT_RANGE_NAME).toBe("moleculer-k8s-limits");
    expectWellFormed(lr);
  });

  it("sends `default` on the wire (client-node's model calls it `_default`)", () => {
    const yaml = dumpYaml(renderLimitRange({ id: "ns1", namespace: "shop" }));
    expect(yaml).toMatch(/- default:\n/);
    expect(yaml).not.toContain("_default");
  });

  it("uses given defaults, and the default container resources fit the default quota", () => {
    const d = { limits: { cpu: 2000, memory: 2048 }, requests: { cpu: 250, memory: 256 } };
    expect(renderLimitRange({ id: "ns1", namespace: "shop", defaults: d }).spec?.limits[0]).toMatchObject({
      _default: { cpu: "2", memory: "2Gi" },
      defaultRequest: { cpu: "250m", memory: "256Mi" },
    });
    const upside = { limits: { cpu: 100, memory: 64 }, requests: { cpu: 500, memory: 128 } };
    expect(
      renderLimitRange({ id: "ns1", namespace: "shop", defaults: upside }).spec?.limits[0]?.defaultRequest,
    ).toEqual({
      cpu: "100m",
      memory: "64Mi",
    });
    expect(DEFAULT_CONTAINER_RESOURCES.limits.cpu).toBeLessThanOrEqual(DEFAULT_QUOTA.cpu);
    expect(DEFAULT_CONTAINER_RESOURCES.limits.memory).toBeLessThanOrEqual(DEFAULT_QUOTA.memory);
    expect(DEFAULT_CONTAINER_RESOURCES.requests.cpu).toBeLessThanOrEqual(DEFAULT_CONTAINER_RESOURCES.limits.cpu);
  });

  it("is pure: frozen inputs, equal outputs", () => {
    const input = deepFreeze({ id: "ns1", namespace: "shop", quota: { cpu: 100 }, defaults: DEFAULT_QUOTA });
    expect(renderResourceQuota(input)).toEqual(renderResourceQuota(input));
    const lr = deepFreeze({ id: "ns1", namespace: "shop", defaults: DEFAULT_CONTAINER_RESOURCES });
    expect(renderLimitRange(lr)).toEqual(renderLimitRange(lr));
    const ns = deepFreeze({ id: "ns1", name: "shop", domain: "a.example.com" });
    expect(renderNamespace(ns)).toEqual(renderNamespace(ns));
  });
});

describe("quotaFromHard", () => {
  it("reads back the quota the suite renders, in its units", () => {
    const rendered = renderResourceQuota({ id: "ns1", namespace: "shop", quota: { cpu: 1500, memory: 3072, pods: 7 } });
    expect(quotaFromHard(rendered.spec?.hard as Record<string, string>)).toEqual({ cpu: 1500, memory: 3072, pods: 7 });
  });

  it("takes the smaller of requests and limits, and leaves out what is not bound or cannot be read", () => {
    expect(quotaFromHard({ "requests.cpu": "2", "limits.cpu": "1500m", "limits.memory": "1Gi", pods: "x" })).toEqual({
      cpu: 1500,
      memory: 1024,
    });
    expect(quotaFromHard(undefined)).toEqual({});
  });
});
