import { describe, it, expect } from "@jest/globals";
import { backoffDelay, collectionPath, WATCHED_KINDS, MANAGED_BY_SELECTOR } from "../../../lib/kube/informers.ts";

describe("informer restart backoff", () => {
  it("doubles from 1 s and stays at 30 s", () => {
    expect([1, 2, 3, 4, 5, 6, 7, 50].map((n) => backoffDelay(n, 1000, 30_000))).toEqual([
      1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000,
    ]);
  });
});

describe("watched kinds", () => {
  it("watch the collections of every kind the suite owns, across namespaces, filtered to what it manages", () => {
    expect(WATCHED_KINDS.map((k) => collectionPath(k))).toEqual([
      "/api/v1/namespaces",
      "/api/v1/resourcequotas",
      "/api/v1/limitranges",
      "/api/v1/persistentvolumeclaims",
      "/api/v1/configmaps",
      "/api/v1/secrets",
      "/api/v1/services",
      "/apis/apps/v1/deployments",
      "/apis/apps/v1/replicasets",
      "/api/v1/pods",
      "/apis/networking.k8s.io/v1/ingresses",
      "/apis/batch/v1/jobs",
    ]);
    expect(MANAGED_BY_SELECTOR).toBe("app.kubernetes.io/managed-by=moleculer-k8s");
  });
});
