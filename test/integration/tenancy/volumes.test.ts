/**
 * v1.k8s.volumes against a real sandbox cluster through ctx.call, checked with kubectl: the reference call, a PVC that
 * becomes Bound, bad input, a class that cannot provision, quota, foreign namespaces, drift, removal.
 */
import { describe, it, expect, beforeAll, afterAll } from "@jest/globals";
import type { NamespaceEntity, VolumeEntity } from "../../../lib/entities.ts";
import { holdNextCall } from "../../helpers/hold.ts";
import { as, startTenancy, storedId, waitFor, type Tenancy } from "./harness.ts";

const alice = as("alice");
const bob = as("bob");
let t: Tenancy;
let ns: NamespaceEntity;

beforeAll(async () => {
  t = await startTenancy();
  ns = await t.broker.call<NamespaceEntity, object>("v1.k8s.namespaces.create", { name: "media" }, alice);
});
afterAll(async () => {
  await t?.stop();
});

function create(params: Record<string, unknown>, opts = alice): Promise<VolumeEntity> {
  return t.broker.call<VolumeEntity, Record<string, unknown>>("v1.k8s.volumes.create", params, opts);
}
function get(id: string): Promise<VolumeEntity> {
  return t.broker.call<VolumeEntity, { id: string }>("v1.k8s.volumes.get", { id });
}
interface Pvc {
  metadata: {
    name: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    deletionTimestamp?: string;
  };
  spec: { resources: { requests: { storage: string } }; accessModes: string[]; storageClassName?: string };
  status?: { phase?: string };
}
async function pvc(namespace: string, name: string): Promise<Pvc> {
  return JSON.parse(await t.kubectl("get", "pvc", name, "-n", namespace, "-o", "json")) as Pvc;
}

describe("v1.k8s.volumes.create", () => {
  it("works as the reference calls it: a PVC named after the record that becomes Bound", async () => {
    const vol = await create({
      namespace: ns.id,
      name: "shared",
      type: "persistentVolumeClaim",
      mountPath: "/var/www",
    });
    expect(vol).toMatchObject({
      namespace: ns.id,
      namespaceName: "media",
      name: "shared",
      type: "persistentVolumeClaim",
      mountPath: "/var/www",
      size: "1Gi",
      accessModes: ["ReadWriteOnce"],
    });
    const bound = await waitFor(
      async () => {
        const v = await get(vol.id);
        return v.status.phase === "Bound" ? v : undefined;
      },
      5000,
      "record Bound",
    );
    expect(bound.status).toEqual({ phase: "Bound" });
    const claim = await pvc("media", "shared");
    expect(claim.status?.phase).toBe("Bound");
    expect(claim.spec.resources.requests.storage).toBe("1Gi");
    expect(claim.metadata.labels).toMatchObject({
      "app.kubernetes.io/managed-by": "moleculer-k8s",
      "app.kubernetes.io/component": "volume",
      "app.kubernetes.io/name": "shared",
      "moleculer-k8s/id": vol.id,
    });
    expect(claim.metadata.annotations).toMatchObject({ "moleculer-k8s/id": vol.id });
    await expect(t.broker.call("v1.k8s.volumes.status", { id: vol.id }, alice)).resolves.toMatchObject({
      phase: "Bound",
      capacity: "1Gi",
    });
  });

  it("refuses bad names, sizes, paths and modes with 422 naming the field, and makes nothing", async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ name: "Bad_Name" }, "name"],
      [{ name: "x".repeat(64) }, "name"],
      [{ size: "-1Gi" }, "size"],
      [{ size: "lots" }, "size"],
      [{ size: "0" }, "size"],
      [{ mountPath: "relative/path" }, "mountPath"],
      [{ mountPath: "/../etc" }, "mountPath"],
      [{ mountPath: "/data:rw" }, "mountPath"],
      [{ accessModes: ["ReadWriteSometimes"] }, "accessModes[0]"],
      [{ type: "hostPath" }, "type"],
      [{ storageClass: "Not_A_Class" }, "storageClass"],
    ];
    for (const [change, field] of cases) {
      const err = await create({ namespace: ns.id, name: "bad", mountPath: "/data", ...change }).catch(
        (e: unknown) => e,
      );
      expect(err).toMatchObject({ code: 422, type: "VALIDATION_ERROR" });
      expect((err as { data: { field: string }[] }).data[0]?.field).toBe(field);
    }
    await expect(t.broker.call("v1.k8s.volumes.count", { query: { namespace: ns.id } })).resolves.toBe(1);
    expect((await t.kubectl("get", "pvc", "-n", "media", "-o", "name")).trim()).toBe("persistentvolumeclaim/shared");
  });

  it("lets a viewer of the namespace read its volumes but not create or remove them", async () => {
    await t.broker.call("v1.k8s.namespaces.addMember", { id: ns.id, userID: "vera", role: "viewer" }, alice);
    const vera = as("vera");
    await expect(create({ namespace: ns.id, name: "viewer-made", mountPath: "/v" }, vera)).rejects.toMatchObject({
      code: 403,
      type: "FORBIDDEN",
    });
    const [shared] = await t.broker.call<VolumeEntity[], object>(
      "v1.k8s.volumes.find",
      { query: { name: "shared" } },
      vera,
    );
    expect(shared).toMatchObject({ name: "shared", namespace: ns.id });
    await expect(t.broker.call("v1.k8s.volumes.remove", { id: shared?.id ?? "" }, vera)).rejects.toMatchObject({
      code: 403,
    });
    await expect(t.broker.call("v1.k8s.volumes.status", { id: shared?.id ?? "" }, vera)).resolves.toMatchObject({
      phase: "Bound",
    });
  });

  it("answers 404 for a namespace that is not the caller's or does not exist, 409 for a taken name", async () => {
    await expect(create({ namespace: ns.id, name: "mine", mountPath: "/d" }, bob)).rejects.toMatchObject({
      code: 404,
      type: "NOT_FOUND",
    });
    await expect(create({ namespace: "no-such-namespace-id", name: "x", mountPath: "/d" })).rejects.toMatchObject({
      code: 404,
      type: "NOT_FOUND",
    });
    await expect(create({ namespace: ns.id, name: "shared", mountPath: "/d" })).rejects.toMatchObject({
      code: 409,
      type: "ALREADY_EXISTS",
      data: { field: "name" },
    });
    await expect(t.broker.call("v1.k8s.volumes.count", { query: { namespace: ns.id } })).resolves.toBe(1);
  });

  it("accepts a class the cluster cannot provision (it serves no StorageClass list) and says Pending and why", async () => {
    const vol = await create({
      namespace: ns.id,
      name: "stuck",
      mountPath: "/data",
      storageClass: "sandbox-unavailable",
      size: "2Gi",
    });
    expect(vol.status.phase).toBe("Pending");
    const pending = await waitFor(
      async () => {
        const v = await get(vol.id);
        return v.status.reason === "ProvisioningFailed" ? v : undefined;
      },
      5000,
      "the reason recorded",
    );
    expect(pending.status).toMatchObject({ phase: "Pending", message: expect.stringMatching(/sandbox-unavailable/) });
    await expect(t.broker.call("v1.k8s.volumes.status", { id: vol.id }, alice)).resolves.toMatchObject({
      phase: "Pending",
      reason: "ProvisioningFailed",
      storageClass: "sandbox-unavailable",
    });
    expect((await pvc("media", "stuck")).status?.phase).toBe("Pending");
  });

  it("refuses a claim beyond the namespace's quota with 422, leaving no record and no claim", async () => {
    const small = await t.broker.call<NamespaceEntity, object>(
      "v1.k8s.namespaces.create",
      { name: "small", owner: "alice", quota: { storage: 1, persistentvolumeclaims: 5 } },
      as("root", ["admin"]),
    );
    const err = await create({ namespace: small.id, name: "big", mountPath: "/d", size: "5Gi" }).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({
      code: 422,
      type: "VALIDATION_ERROR",
      data: [expect.objectContaining({ field: "size" })],
    });
    await expect(t.broker.call("v1.k8s.volumes.count", { query: { namespace: small.id } })).resolves.toBe(0);
    expect((await t.kubectl("get", "pvc", "-n", "small", "-o", "name")).trim()).toBe("");
  });
});

describe("v1.k8s.volumes drift and removal", () => {
  it("puts back a claim deleted behind the suite's back", async () => {
    const vol = await create({ namespace: ns.id, name: "kept", mountPath: "/kept" });
    await waitFor(async () => (await get(vol.id)).status.phase === "Bound", 5000, "Bound");
    await t.kubectl("delete", "pvc", "kept", "-n", "media", "--wait=true");
    await waitFor(async () => (await t.kubectlRaw("get", "pvc", "kept", "-n", "media")).code === 0, 5000, "claim back");
    await waitFor(async () => (await get(vol.id)).status.phase === "Bound", 5000, "Bound again");
  });

  it("removes the claim and the record", async () => {
    const vol = await create({ namespace: ns.id, name: "temp", mountPath: "/tmp/x" });
    await expect(t.broker.call("v1.k8s.volumes.remove", { id: vol.id }, bob)).rejects.toMatchObject({ code: 404 });
    await t.broker.call("v1.k8s.volumes.remove", { id: vol.id }, alice);
    await expect(get(vol.id)).rejects.toMatchObject({ code: 404 });
    await waitFor(
      async () => /NotFound/.test((await t.kubectlRaw("get", "pvc", "temp", "-n", "media")).stderr),
      5000,
      "claim gone",
    );
  });

  it("lets an apply already under way end before it deletes the claim: none is left behind", async () => {
    const vol = await create({ namespace: ns.id, name: "late", mountPath: "/late" });
    await waitFor(async () => (await get(vol.id)).status.phase === "Bound", 5000, "late Bound");
    const svc = t.broker.getLocalService("v1.k8s.volumes") as unknown as {
      reconcileNow(id: string): Promise<unknown>;
    };
    // A reconcile of the record holds its apply until the removal has been asked for.
    const { release } = holdNextCall(svc, "applyRecord");
    const reconciling = svc.reconcileNow(vol.id);
    const removing = t.broker.call("v1.k8s.volumes.remove", { id: vol.id }, alice);
    await new Promise((resolve) => setTimeout(resolve, 200));
    release();
    await reconciling;
    await removing;
    const gone = async () => /NotFound/.test((await t.kubectlRaw("get", "pvc", "late", "-n", "media")).stderr);
    await waitFor(gone, 5000, "claim gone");
    // Still gone a moment later: no late apply made it again.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await gone()).toBe(true);
  });

  it("lets the create's own apply end before it deletes: a volume removed while created leaves no claim", async () => {
    const svc = t.broker.getLocalService("v1.k8s.volumes") as unknown as {
      findRaw(query: object): Promise<{ _id: string }[]>;
    };
    // The create's apply waits until the removal has been asked for.
    const { release } = holdNextCall(svc, "applyRecord");
    const creating = create({ namespace: ns.id, name: "brief", mountPath: "/brief" }).catch((err: unknown) => err);
    const removing = t.broker.call("v1.k8s.volumes.remove", { id: await storedId(svc, "brief") }, alice);
    await new Promise((resolve) => setTimeout(resolve, 200));
    release();
    await creating;
    await removing;
    expect(await svc.findRaw({ name: "brief" })).toEqual([]);
    const gone = async () => /NotFound/.test((await t.kubectlRaw("get", "pvc", "brief", "-n", "media")).stderr);
    await waitFor(gone, 5000, "claim gone");
    // Still gone a moment later: the create's apply did not make it again after the removal.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await gone()).toBe(true);
  });

  it("goes with its namespace: no claim, no record", async () => {
    const gone = await t.broker.call<NamespaceEntity, object>("v1.k8s.namespaces.create", { name: "scratch" }, alice);
    await create({ namespace: gone.id, name: "a", mountPath: "/a" });
    await create({ namespace: gone.id, name: "b", mountPath: "/b", size: "2Gi" });
    await t.broker.call("v1.k8s.namespaces.remove", { id: gone.id }, alice);
    await waitFor(
      async () =>
        (await t.broker.call<number, object>("v1.k8s.volumes.count", { query: { namespace: gone.id } })) === 0,
      8000,
      "volume records gone",
    );
    await waitFor(
      async () => /NotFound/.test((await t.kubectlRaw("get", "namespace", "scratch")).stderr),
      8000,
      "namespace gone",
    );
    const left = await t.kubectlRaw("get", "all,pvc,cm,secret,quota,limits", "-n", "scratch", "-o", "name");
    expect(left.stdout.trim()).toBe("");
    await expect(t.broker.call("v1.k8s.namespaces.get", { id: gone.id })).rejects.toMatchObject({ code: 404 });
  });
});

describe("v1.k8s.volumes.update", () => {
  it("grows a claim, and refuses a shrink the cluster rejects with 422 size, keeping the record", async () => {
    const vol = await create({ namespace: ns.id, name: "growing", mountPath: "/g", size: "1Gi" });
    await waitFor(async () => (await get(vol.id)).status.phase === "Bound", 5000, "Bound");
    // Spaces around it are the cluster's to ignore, and the record's too: it says what the cluster holds.
    const grown = await t.broker.call("v1.k8s.volumes.update", { id: vol.id, size: "  3Gi " }, alice);
    expect(grown).toMatchObject({ size: "3Gi" });
    expect((await pvc("media", "growing")).spec.resources.requests.storage).toBe("3Gi");
    await expect(t.broker.call("v1.k8s.volumes.update", { id: vol.id, size: "1Gi" }, alice)).rejects.toMatchObject({
      code: 422,
      data: [expect.objectContaining({ field: "size" })],
    });
    expect(await get(vol.id)).toMatchObject({ size: "3Gi" });
    expect((await pvc("media", "growing")).spec.resources.requests.storage).toBe("3Gi");
    await expect(
      t.broker.call("v1.k8s.volumes.update", { id: vol.id, storageClass: "other" }, alice),
    ).rejects.toMatchObject({ code: 422, data: [expect.objectContaining({ field: "storageClass" })] });

    // Grown in the cluster with kubectl: it cannot shrink back, so the record follows (it stayed ApplyFailed).
    await t.kubectl(
      "patch",
      "pvc",
      "growing",
      "-n",
      "media",
      "-p",
      '{"spec":{"resources":{"requests":{"storage":"5Gi"}}}}',
    );
    await waitFor(async () => (await get(vol.id)).size === "5Gi", 5000, "the record at 5Gi");
    expect((await get(vol.id)).status).toMatchObject({ phase: "Bound" });
    expect((await pvc("media", "growing")).spec.resources.requests.storage).toBe("5Gi");
    // Smaller than the claim now holds: refused before anything is stored.
    await expect(t.broker.call("v1.k8s.volumes.update", { id: vol.id, size: "4Gi" }, alice)).rejects.toMatchObject({
      code: 422,
      data: [expect.objectContaining({ field: "size", type: "storageShrink" })],
    });
    expect(await get(vol.id)).toMatchObject({ size: "5Gi" });
  });
});

describe("v1.k8s.volumes.remove while a deployment mounts it", () => {
  it("answers 409 IN_USE naming the deployment", async () => {
    const vol = await create({ namespace: ns.id, name: "mounted", mountPath: "/m" });
    // A stand-in v1.k8s.deployments (a real service of that name) that has one deployment mounting the claim.
    const queries: unknown[] = [];
    const double = t.broker.createService({
      name: "k8s.deployments",
      version: 1,
      actions: {
        find(ctx) {
          queries.push((ctx.params as { query: unknown }).query);
          return [{ id: "d1", name: "php-fpm" }];
        },
      },
    });
    await t.broker.waitForServices(["v1.k8s.deployments"], 5000);
    try {
      await expect(t.broker.call("v1.k8s.volumes.remove", { id: vol.id }, alice)).rejects.toMatchObject({
        code: 409,
        type: "IN_USE",
        data: { usedBy: ["php-fpm"] },
      });
      expect(queries).toEqual([{ namespace: ns.id, "volumes.persistentVolumeClaim.claimName": "mounted" }]);
      await expect(get(vol.id)).resolves.toMatchObject({ name: "mounted" });
    } finally {
      await t.broker.destroyService(double);
    }
    await t.broker.call("v1.k8s.volumes.remove", { id: vol.id }, alice);
    await expect(get(vol.id)).rejects.toMatchObject({ code: 404 });
  });
});

describe("v1.k8s.volumes.remove while a Deployment mounts it and v1.k8s.deployments is away", () => {
  it("answers 409 IN_USE naming the Deployment the cluster has, and removes once it is gone", async () => {
    const vol = await create({ namespace: ns.id, name: "mounted-live", mountPath: "/m" });
    // No v1.k8s.deployments on this broker (its node away): the suite's Deployment in the cluster still mounts it.
    const deployment = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "web", namespace: "media", labels: { "app.kubernetes.io/managed-by": "moleculer-k8s" } },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: "web" } },
        template: {
          metadata: { labels: { app: "web" } },
          spec: {
            containers: [{ name: "web", image: "nginx:1.27", volumeMounts: [{ name: "data", mountPath: "/m" }] }],
            volumes: [{ name: "data", persistentVolumeClaim: { claimName: "mounted-live" } }],
          },
        },
      },
    };
    await t.broker.call("v1.kube.apply", { objects: [deployment], fieldManager: "test" });
    await waitFor(
      async () =>
        (
          await t.broker.call<{ items: unknown[] }, object>("v1.kube.list", {
            apiVersion: "apps/v1",
            kind: "Deployment",
            namespace: "media",
          })
        ).items.length > 0,
      5000,
      "the Deployment listed",
    );
    await expect(t.broker.call("v1.k8s.volumes.remove", { id: vol.id }, alice)).rejects.toMatchObject({
      code: 409,
      type: "IN_USE",
      data: { usedBy: ["web"] },
    });
    expect((await pvc("media", "mounted-live")).metadata.deletionTimestamp).toBeUndefined();
    await expect(get(vol.id)).resolves.toMatchObject({ name: "mounted-live" });

    await t.broker.call("v1.kube.delete", {
      apiVersion: "apps/v1",
      kind: "Deployment",
      namespace: "media",
      name: "web",
    });
    await waitFor(
      async () => {
        try {
          await t.broker.call("v1.k8s.volumes.remove", { id: vol.id }, alice);
          return true;
        } catch (err) {
          if ((err as { type?: unknown }).type === "IN_USE") return false;
          throw err;
        }
      },
      5000,
      "the volume removed once the Deployment is gone",
    );
    await expect(get(vol.id)).rejects.toMatchObject({ code: 404 });
  });
});

describe("a namespace being removed", () => {
  it("refuses new volumes and changes with 409 NAMESPACE_LOCKED until the cluster has deleted it", async () => {
    const slow = await t.broker.call<NamespaceEntity, object>("v1.k8s.namespaces.create", { name: "slow" }, alice);
    // A ConfigMap with a finalizer holds the Namespace in Terminating until the finalizer is removed.
    await t.broker.call("v1.kube.apply", {
      objects: [
        {
          apiVersion: "v1",
          kind: "ConfigMap",
          metadata: { name: "held", namespace: "slow", finalizers: ["example.com/hold"] },
          data: {},
        },
      ],
      fieldManager: "test",
    });
    const removing = await t.broker.call<NamespaceEntity, object>("v1.k8s.namespaces.remove", { id: slow.id }, alice);
    expect(removing.status.phase).toBe("Terminating");
    await expect(create({ namespace: slow.id, name: "late", mountPath: "/l" })).rejects.toMatchObject({
      code: 409,
      type: "NAMESPACE_LOCKED",
    });
    await expect(
      t.broker.call("v1.k8s.namespaces.update", { id: slow.id, domain: "late.example.com" }, alice),
    ).rejects.toMatchObject({ code: 409, type: "NAMESPACE_LOCKED" });
    await new Promise((r) => setTimeout(r, 200));
    await expect(t.broker.call("v1.k8s.namespaces.get", { id: slow.id })).resolves.toMatchObject({
      status: { phase: "Terminating" },
    });
    await t.kubectl(
      "patch",
      "configmap",
      "held",
      "-n",
      "slow",
      "--type=merge",
      "-p",
      '{"metadata":{"finalizers":null}}',
    );
    await waitFor(
      () =>
        t.broker.call("v1.k8s.namespaces.get", { id: slow.id }).then(
          () => false,
          (err: { code?: number }) => err.code === 404,
        ),
      8000,
      "record gone once the cluster is done",
    );
  });
});

describe("v1.k8s.volumes resync", () => {
  it("sends no write when nothing drifted, a Pending claim included", async () => {
    const svc = t.broker.getLocalService("v1.k8s.volumes") as unknown as { resync(): Promise<string[]> };
    await new Promise((r) => setTimeout(r, 200));
    await svc.resync();
    const before = t.sandbox.requestCounts();
    expect(await svc.resync()).toEqual([]);
    expect(t.sandbox.requestCounts().writes).toBe(before.writes);
    const all = await t.broker.call<VolumeEntity[], object>("v1.k8s.volumes.find", {});
    expect(all.map((v) => v.status.phase)).toContain("Pending");
    expect(all.length).toBeGreaterThan(2);
  });
});
