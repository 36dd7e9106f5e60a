import { describe, it, expect, beforeAll, afterAll } from "@jest/globals";
import type { KubernetesObject } from "@kubernetes/client-node";
import { startHarness, appObjects, MANAGED, type Harness } from "./harness.ts";

let h: Harness;

beforeAll(async () => {
  h = await startHarness();
});

afterAll(async () => {
  await h?.stop();
});

interface Applied {
  objects: (KubernetesObject & Record<string, unknown>)[];
}

function apply(params: Record<string, unknown>): Promise<Applied> {
  return h.broker.call("v1.kube.apply", params);
}

describe("v1.kube.apply", () => {
  it("applies a Namespace, Deployment, Service and ConfigMap, the Namespace first whatever the input order", async () => {
    const { objects } = await apply({ objects: appObjects("shop"), fieldManager: "k8s.deployments" });
    expect(objects.map((o) => `${o.kind}/${o.metadata?.name}`)).toEqual([
      "Namespace/shop",
      "Deployment/web",
      "Service/web-service",
      "ConfigMap/web-conf",
    ]);
    for (const o of objects) {
      expect(o.metadata?.uid).toEqual(expect.any(String));
      expect(o.metadata?.resourceVersion).toEqual(expect.any(String));
      expect(o.metadata).not.toHaveProperty("managedFields");
    }
    expect(h.sandbox.store.get("deployments.apps", "shop", "web")).toBeDefined();
  });

  it("is a no-op when applied again unchanged: the resourceVersions stay the same", async () => {
    const first = await apply({ objects: appObjects("noop"), fieldManager: "k8s.deployments" });
    const second = await apply({ objects: appObjects("noop"), fieldManager: "k8s.deployments" });
    const versions = (r: Applied) =>
      r.objects.map((o) => `${o.kind}/${o.metadata?.name}@${o.metadata?.resourceVersion}`);
    // The Deployment's status may move on (its controller writes it); compare the objects nobody else writes.
    const stable = (r: Applied) => versions(r).filter((v) => !v.startsWith("Deployment/"));
    expect(stable(second)).toEqual(stable(first));
    const cm = second.objects.find((o) => o.kind === "ConfigMap");
    expect(cm?.metadata?.resourceVersion).toBe(
      first.objects.find((o) => o.kind === "ConfigMap")?.metadata?.resourceVersion,
    );
  });

  it("leaves a Secret's data out of the response", async () => {
    const { objects } = await apply({
      objects: [
        { apiVersion: "v1", kind: "Namespace", metadata: { name: "secrets", labels: MANAGED } },
        {
          apiVersion: "v1",
          kind: "Secret",
          metadata: { name: "web-env", namespace: "secrets", labels: MANAGED },
          type: "Opaque",
          stringData: { PASSWORD: "hunter2" },
        },
      ],
      fieldManager: "k8s.envs",
    });
    const secret = objects[1];
    expect(secret?.kind).toBe("Secret");
    expect(secret).not.toHaveProperty("data");
    expect(secret).not.toHaveProperty("stringData");
    expect(JSON.stringify(objects)).not.toContain("hunter2");
  });

  it("rejects an object without a name with a 422 naming its index, before sending anything", async () => {
    const before = h.sandbox.requestCounts().writes;
    const objects = appObjects("never");
    objects.splice(2, 0, { apiVersion: "v1", kind: "ConfigMap", metadata: { namespace: "never" } });
    await expect(apply({ objects, fieldManager: "k8s.deployments" })).rejects.toMatchObject({
      code: 422,
      type: "VALIDATION_ERROR",
      data: [{ field: "objects[2].metadata.name" }],
    });
    expect(h.sandbox.requestCounts().writes).toBe(before);
    expect(h.sandbox.store.get("namespaces", undefined, "never")).toBeUndefined();
  });

  it("rejects unknown params and a missing fieldManager with 422", async () => {
    await expect(apply({ objects: appObjects("x") })).rejects.toMatchObject({ code: 422, type: "VALIDATION_ERROR" });
    await expect(apply({ objects: appObjects("x"), fieldManager: "m", extra: 1 })).rejects.toMatchObject({
      code: 422,
      type: "VALIDATION_ERROR",
    });
  });

  it("answers 409 K8S_CONFLICT when another field manager owns the field, and takes it with force", async () => {
    const cm = (value: string) => ({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "shared", namespace: "shop", labels: MANAGED },
      data: { key: value },
    });
    await apply({ objects: [cm("one")], fieldManager: "k8s.envs" });
    await expect(apply({ objects: [cm("two")], fieldManager: "k8s.deployments" })).rejects.toMatchObject({
      code: 409,
      type: "K8S_CONFLICT",
      data: { object: "ConfigMap shop/shared", applied: 0 },
    });
    const forced = await apply({ objects: [cm("two")], fieldManager: "k8s.deployments", force: true });
    expect(forced.objects[0]?.data).toEqual({ key: "two" });
  });

  it("answers 422 K8S_INVALID with the server's causes for an invalid name", async () => {
    const err = await apply({
      objects: [{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "bad_name", namespace: "shop" }, data: {} }],
      fieldManager: "k8s.envs",
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 422, type: "K8S_INVALID" });
    expect((err as { data: { field: string }[] }).data[0]?.field).toContain("metadata.name");
  });

  it("rejects an upper-case name before sending it (client-node would lower-case the URL and address another object)", async () => {
    await expect(
      apply({
        objects: [{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "Web", namespace: "shop" }, data: {} }],
        fieldManager: "k8s.envs",
      }),
    ).rejects.toMatchObject({ code: 422, data: [{ field: "objects[0].metadata.name" }] });
  });

  it("answers 404 K8S_NOT_FOUND for an object in a namespace that does not exist", async () => {
    await expect(
      apply({
        objects: [{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "c", namespace: "nowhere" }, data: {} }],
        fieldManager: "k8s.envs",
      }),
    ).rejects.toMatchObject({ code: 404, type: "K8S_NOT_FOUND" });
  });

  it("answers 403 K8S_FORBIDDEN with the quota message when a quota refuses an object", async () => {
    await apply({
      objects: [
        { apiVersion: "v1", kind: "Namespace", metadata: { name: "tight", labels: MANAGED } },
        {
          apiVersion: "v1",
          kind: "ResourceQuota",
          metadata: { name: "compute", namespace: "tight", labels: MANAGED },
          spec: { hard: { pods: "0" } },
        },
      ],
      fieldManager: "k8s.namespaces",
    });
    const err = await apply({
      objects: [
        {
          apiVersion: "v1",
          kind: "Pod",
          metadata: { name: "p", namespace: "tight" },
          spec: { containers: [{ name: "c", image: "nginx:1.27" }] },
        },
      ],
      fieldManager: "test",
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 403, type: "K8S_FORBIDDEN", data: { object: "Pod tight/p", applied: 0 } });
    expect((err as Error).message).toContain("exceeded quota");
  });

  it("leaves the caller's objects as they were", async () => {
    const objects = [{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "untouched" }, data: { a: "b" } }];
    const before = JSON.stringify(objects);
    const { objects: applied } = await apply({ objects, fieldManager: "k8s.envs" });
    expect(applied[0]?.metadata?.namespace).toBe("default");
    expect(JSON.stringify(objects)).toBe(before);
  });

  it("stores nothing on a dry run", async () => {
    const { objects } = await apply({
      objects: [
        { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "dry", namespace: "shop" }, data: { a: "b" } },
      ],
      fieldManager: "k8s.envs",
      dryRun: true,
    });
    expect(objects[0]?.data).toEqual({ a: "b" });
    expect(h.sandbox.store.get("configmaps", "shop", "dry")).toBeUndefined();
  });
});
