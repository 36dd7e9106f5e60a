/**
 * v1.k8s.namespaces against a real sandbox cluster through ctx.call, checked with kubectl and v1.kube: the objects,
 * their labels and id annotation, quota hard/used, bad input, drift put back by the watch, a quiet resync, removal.
 */
import { describe, it, expect, beforeAll, afterAll } from "@jest/globals";
import type { NamespaceEntity } from "../../../lib/entities.ts";
import { startKubeAgain } from "../../helpers/broker.ts";
import { holdNextCall } from "../../helpers/hold.ts";
import { as, startTenancy, storedId, tenancySchemas, waitFor, type Tenancy } from "./harness.ts";

const alice = as("alice");
const bob = as("bob");
/** Quotas are set by admins (QUOTA_SET_BY=admin, the default): the platform's limit on a tenant. */
const admin = as("root", ["admin"]);
let t: Tenancy;

beforeAll(async () => {
  t = await startTenancy({ settings: { sweepOrphans: true } });
});
afterAll(async () => {
  await t?.stop();
});

function create(params: Record<string, unknown>, opts = alice): Promise<NamespaceEntity> {
  return t.broker.call<NamespaceEntity, Record<string, unknown>>("v1.k8s.namespaces.create", params, opts);
}
function get(id: string): Promise<NamespaceEntity> {
  return t.broker.call<NamespaceEntity, { id: string }>("v1.k8s.namespaces.get", { id });
}
/** Waits until the record is gone (`get` answers 404). */
function recordGone(id: string): Promise<boolean> {
  return waitFor(
    () =>
      get(id).then(
        () => false,
        (err: { code?: number }) => err.code === 404,
      ),
    8000,
    "the record gone",
  );
}
async function kubectlJson<T = Record<string, unknown>>(...args: string[]): Promise<T> {
  return JSON.parse(await t.kubectl(...args, "-o", "json")) as T;
}
interface Obj {
  metadata: { uid: string; labels?: Record<string, string>; annotations?: Record<string, string>; name: string };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
}

describe("v1.k8s.namespaces.create", () => {
  it("makes the Namespace, ResourceQuota and LimitRange with the suite's labels and the record id", async () => {
    const ns = await create({ name: "shop", owner: "alice", quota: { cpu: 2000, memory: 2048, pods: 5 } }, admin);
    expect(ns).toMatchObject({ name: "shop", status: { phase: "Active" } });
    const obj = await kubectlJson<Obj>("get", "namespace", "shop");
    expect(ns.uid).toBe(obj.metadata.uid);
    expect(obj.metadata.labels).toMatchObject({
      "app.kubernetes.io/managed-by": "moleculer-k8s",
      "app.kubernetes.io/name": "shop",
      "app.kubernetes.io/component": "namespace",
      "moleculer-k8s/id": ns.id,
      "pod-security.kubernetes.io/enforce": "baseline",
    });
    expect(obj.metadata.annotations).toMatchObject({
      "moleculer-k8s/id": ns.id,
      "moleculer-k8s/domain": "apps.example.com",
    });
    const quota = await kubectlJson<Obj>("get", "resourcequota", "moleculer-k8s-quota", "-n", "shop");
    expect(quota.metadata.annotations).toMatchObject({ "moleculer-k8s/id": ns.id });
    expect(quota.spec).toMatchObject({
      hard: { "limits.cpu": "2", "limits.memory": "2Gi", pods: "5", persistentvolumeclaims: "10" },
    });
    const limits = await kubectlJson<Obj>("get", "limitrange", "moleculer-k8s-limits", "-n", "shop");
    expect(limits.metadata.labels).toMatchObject({ "moleculer-k8s/id": ns.id });
    expect(limits.spec).toMatchObject({
      limits: [{ type: "Container", default: { cpu: "500m", memory: "512Mi" } }],
    });
    await expect(t.broker.call("v1.k8s.namespaces.status", { id: ns.id }, alice)).resolves.toMatchObject({
      phase: "Active",
      uid: obj.metadata.uid,
    });
  });

  it("refuses bad names, unknown fields and a taken name with a 4xx naming the field, and makes nothing", async () => {
    for (const name of ["Bad_Name", "-x", "a".repeat(64), "kube-system"]) {
      const err = await create({ name }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 422, type: "VALIDATION_ERROR" });
      expect((err as { data: { field: string }[] }).data[0]?.field).toBe("name");
    }
    await expect(create({ name: "ok", quota: { pods: -1 } })).rejects.toMatchObject({
      code: 422,
      data: [expect.objectContaining({ field: "quota.pods" })],
    });
    await expect(create({ name: "shop" }, bob)).rejects.toMatchObject({ code: 409, type: "ALREADY_EXISTS" });
    // A Namespace the suite does not manage is not taken over.
    await t.kubectl("create", "namespace", "foreign");
    await expect(create({ name: "foreign" })).rejects.toMatchObject({
      code: 409,
      type: "ALREADY_EXISTS",
      data: { field: "name" },
    });
    await expect(t.broker.call("v1.k8s.namespaces.count", { query: { name: "foreign" } })).resolves.toBe(0);
  });

  it("refuses a quota the cluster could only round (beyond 2^53) with 422 naming the field, making nothing", async () => {
    const err = await create({ name: "too-big", quota: { memory: 2 ** 60 } }).catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: 422,
      type: "VALIDATION_ERROR",
      data: [expect.objectContaining({ field: "quota.memory" })],
    });
    await expect(t.broker.call("v1.k8s.namespaces.count", { query: { name: "too-big" } })).resolves.toBe(0);
    const res = await t.kubectlRaw("get", "namespace", "too-big");
    expect(res.stderr).toMatch(/NotFound/);
  });
});

describe("v1.k8s.namespaces.resourcequota", () => {
  it("reports hard and used from the cluster, used counting the pods that run", async () => {
    const ns = await create({ name: "quota-use", owner: "alice", quota: { pods: 4, cpu: 3000 } }, admin);
    const deployment = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "web", namespace: "quota-use" },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: "web" } },
        template: {
          metadata: { labels: { app: "web" } },
          spec: { containers: [{ name: "main", image: "nginx:1.27" }] },
        },
      },
    };
    await t.broker.call("v1.kube.apply", { objects: [deployment], fieldManager: "test" });
    const rq = await waitFor(
      async () => {
        const q = await t.broker.call<{ hard: Record<string, string>; used: Record<string, string> }, object>(
          "v1.k8s.namespaces.resourcequota",
          { id: ns.id },
          alice,
        );
        return q.used.pods === "2" ? q : undefined;
      },
      8000,
      "two pods counted",
    );
    expect(rq.hard).toMatchObject({ pods: "4", "limits.cpu": "3", "requests.cpu": "3" });
    // The LimitRange gave the containers (which declare nothing) 500m/512Mi limits and 100m/128Mi requests.
    expect(rq.used).toMatchObject({ "limits.cpu": "1", "limits.memory": "1Gi", "requests.cpu": "200m" });
    await expect(t.broker.call("v1.k8s.namespaces.resourcequota", { id: ns.id }, bob)).rejects.toMatchObject({
      code: 404,
    });
  });
});

describe("v1.k8s.namespaces.update", () => {
  it("re-applies a changed quota", async () => {
    const ns = await create({ name: "grow" });
    await t.broker.call("v1.k8s.namespaces.update", { id: ns.id, quota: { pods: 7 } }, admin);
    const quota = await kubectlJson<Obj>("get", "resourcequota", "moleculer-k8s-quota", "-n", "grow");
    expect(quota.spec).toMatchObject({ hard: { pods: "7" } });
    expect(await get(ns.id)).toMatchObject({ status: { phase: "Active" }, quota: { pods: 7 } });
  });

  it("changes the quota fields given and keeps the others; null puts one back to its default", async () => {
    const ns = await create({ name: "tuned", owner: "alice", quota: { cpu: 2000, memory: 1024, pods: 5 } }, admin);
    const hard = async () =>
      (await kubectlJson<Obj>("get", "resourcequota", "moleculer-k8s-quota", "-n", "tuned")).spec as {
        hard: Record<string, string>;
      };
    const raised = await t.broker.call<NamespaceEntity, object>(
      "v1.k8s.namespaces.update",
      { id: ns.id, quota: { pods: 12 } },
      admin,
    );
    expect(raised.quota).toEqual({ cpu: 2000, memory: 1024, pods: 12 });
    expect((await hard()).hard).toMatchObject({ "limits.cpu": "2", "limits.memory": "1Gi", pods: "12" });

    const reset = await t.broker.call<NamespaceEntity, object>(
      "v1.k8s.namespaces.update",
      { id: ns.id, quota: { cpu: null } },
      admin,
    );
    expect(reset.quota).toEqual({ memory: 1024, pods: 12 });
    expect((await hard()).hard).toMatchObject({ "limits.cpu": "4", "limits.memory": "1Gi", pods: "12" });
    // The owner may repeat what is stored (QUOTA_SET_BY=admin), not change it.
    await expect(
      t.broker.call("v1.k8s.namespaces.update", { id: ns.id, quota: { pods: 12 } }, alice),
    ).resolves.toMatchObject({ quota: { memory: 1024, pods: 12 } });
    await expect(
      t.broker.call("v1.k8s.namespaces.update", { id: ns.id, quota: { memory: null } }, alice),
    ).rejects.toMatchObject({ code: 403, data: { field: "quota" } });
  });
});

describe("v1.k8s.namespaces drift", () => {
  it("puts back a Namespace deleted behind the suite's back, with a new uid", async () => {
    const ns = await create({ name: "phoenix" });
    await t.kubectl("delete", "namespace", "phoenix", "--wait=true");
    const back = await waitFor(
      async () => {
        const r = await get(ns.id);
        return r.status.phase === "Active" && r.uid !== ns.uid ? r : undefined;
      },
      8000,
      "the namespace back",
    );
    const obj = await kubectlJson<Obj>("get", "namespace", "phoenix");
    expect(obj.metadata.uid).toBe(back.uid);
    await kubectlJson("get", "resourcequota", "moleculer-k8s-quota", "-n", "phoenix");
    await kubectlJson("get", "limitrange", "moleculer-k8s-limits", "-n", "phoenix");
  });

  it("puts back a ResourceQuota deleted or changed behind the suite's back", async () => {
    await create({ name: "guarded", owner: "alice", quota: { pods: 3 } }, admin);
    await t.kubectl("delete", "resourcequota", "moleculer-k8s-quota", "-n", "guarded");
    await waitFor(
      async () => (await t.kubectlRaw("get", "resourcequota", "moleculer-k8s-quota", "-n", "guarded")).code === 0,
      5000,
      "quota back",
    );
    await t.kubectl(
      "patch",
      "resourcequota",
      "moleculer-k8s-quota",
      "-n",
      "guarded",
      "--type=merge",
      "-p",
      JSON.stringify({ spec: { hard: { pods: "100" } } }),
    );
    await waitFor(
      async () => {
        const q = await kubectlJson<Obj>("get", "resourcequota", "moleculer-k8s-quota", "-n", "guarded");
        return (q.spec as { hard: Record<string, string> }).hard.pods === "3";
      },
      5000,
      "quota put back to 3 pods",
    );
  });

  it("puts back a Namespace label changed behind the suite's back", async () => {
    await create({ name: "labelled" });
    await t.kubectl("label", "namespace", "labelled", "pod-security.kubernetes.io/enforce=privileged", "--overwrite");
    await waitFor(
      async () =>
        (await kubectlJson<Obj>("get", "namespace", "labelled")).metadata.labels?.[
          "pod-security.kubernetes.io/enforce"
        ] === "baseline",
      5000,
      "label put back",
    );
  });

  it("with sweepOrphans, deletes on resync a Namespace labelled as the suite's whose record is unknown", async () => {
    const svc = t.broker.getLocalService("v1.k8s.namespaces") as unknown as { resync(): Promise<string[]> };
    const labels = { "app.kubernetes.io/managed-by": "moleculer-k8s", "app.kubernetes.io/component": "namespace" };
    await t.broker.call("v1.kube.apply", {
      objects: [
        {
          apiVersion: "v1",
          kind: "Namespace",
          metadata: { name: "orphan", labels, annotations: { "moleculer-k8s/id": "no-such-record-id-000" } },
        },
      ],
      fieldManager: "test",
    });
    await waitFor(async () => (await t.kubectlRaw("get", "namespace", "orphan")).code === 0, 5000, "orphan there");
    await svc.resync();
    await waitFor(
      async () => /NotFound/.test((await t.kubectlRaw("get", "namespace", "orphan")).stderr),
      5000,
      "orphan swept",
    );
    // What is not labelled as ours is never touched.
    expect((await t.kubectlRaw("get", "namespace", "foreign")).code).toBe(0);
  });

  it("sends no write on a resync when nothing drifted", async () => {
    const svc = t.broker.getLocalService("v1.k8s.namespaces") as unknown as { resync(): Promise<string[]> };
    // Let the changes of the earlier tests settle, then resync twice: the second one finds nothing to do.
    await new Promise((r) => setTimeout(r, 300));
    await svc.resync();
    const before = t.sandbox.requestCounts();
    const reconciled = await svc.resync();
    const after = t.sandbox.requestCounts();
    expect(reconciled).toEqual([]);
    expect(after.writes).toBe(before.writes);
    expect(await t.broker.call("v1.k8s.namespaces.count")).toBeGreaterThan(3);
  });

  it("sends no write on a resync after v1.kube starts again on a cluster that already holds the objects", async () => {
    const ns = await create({ name: "kept", quota: { cpu: 1000, memory: 1024, pods: 4 } }, admin);
    await waitFor(async () => (await get(ns.id)).status.phase === "Active", 5000, "kept Active");
    await startKubeAgain(t.broker, tenancySchemas(t.sandbox.kubeconfig()).kube);
    // The listed LimitRange reads as the cluster holds it (kubectl's `default`), not as client-node's model names it.
    const limits = await t.broker.call<{ items: { spec: { limits: Record<string, unknown>[] } }[] }, object>(
      "v1.kube.list",
      {
        apiVersion: "v1",
        kind: "LimitRange",
        namespace: "kept",
        labelSelector: "app.kubernetes.io/managed-by=moleculer-k8s",
      },
    );
    expect(limits.items[0]?.spec.limits[0]).toMatchObject({ type: "Container", default: { cpu: "500m" } });
    expect(limits.items[0]?.spec.limits[0]).not.toHaveProperty("_default");
    const svc = t.broker.getLocalService("v1.k8s.namespaces") as unknown as { resync(): Promise<string[]> };
    const before = t.sandbox.requestCounts();
    const reconciled = await svc.resync();
    expect(reconciled).toEqual([]);
    expect(t.sandbox.requestCounts().writes).toBe(before.writes);
  });
});

describe("v1.k8s.namespaces.remove", () => {
  it("removes the namespace and everything in it, then the record", async () => {
    const ns = await create({ name: "doomed" });
    await t.broker.call("v1.kube.apply", {
      objects: [
        { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "c", namespace: "doomed" }, data: { a: "b" } },
        { apiVersion: "v1", kind: "Secret", metadata: { name: "s", namespace: "doomed" }, stringData: { a: "b" } },
      ],
      fieldManager: "test",
    });
    const removing = await t.broker.call<NamespaceEntity, object>("v1.k8s.namespaces.remove", { id: ns.id }, alice);
    expect(removing.status.phase).toBe("Terminating");
    // Not twice: 409 NAMESPACE_LOCKED while it terminates (or 404 if the sandbox was already done).
    const again = (await t.broker.call("v1.k8s.namespaces.remove", { id: ns.id }, alice).catch((e: unknown) => e)) as {
      code?: number;
      type?: string;
    };
    expect([
      { code: 409, type: "NAMESPACE_LOCKED" },
      { code: 404, type: "NOT_FOUND" },
    ]).toContainEqual({ code: again.code, type: again.type });
    await recordGone(ns.id);
    const res = await t.kubectlRaw("get", "all,pvc,cm,secret,quota,limits", "-n", "doomed", "-o", "name");
    expect(res.stdout.trim()).toBe("");
    expect((await t.kubectlRaw("get", "namespace", "doomed")).stderr).toMatch(/NotFound/);
  });

  it("lets an apply already under way end before it deletes: the Namespace is not created again", async () => {
    const ns = await create({ name: "busy" });
    await waitFor(async () => (await get(ns.id)).status.phase === "Active", 5000, "busy Active");
    const svc = t.broker.getLocalService("v1.k8s.namespaces") as unknown as {
      reconcileNow(id: string): Promise<unknown>;
    };
    // A reconcile of the record holds its apply until the removal has been asked for.
    const { release } = holdNextCall(svc, "applyRecord");
    const reconciling = svc.reconcileNow(ns.id);
    const removing = t.broker.call<NamespaceEntity, object>("v1.k8s.namespaces.remove", { id: ns.id }, alice);
    await new Promise((resolve) => setTimeout(resolve, 200));
    release();
    await reconciling;
    expect((await removing).status.phase).toBe("Terminating");
    await recordGone(ns.id);
    // Gone, and still gone a moment later: no late apply made it again.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await t.kubectlRaw("get", "namespace", "busy")).stderr).toMatch(/NotFound/);
  });

  it("lets the create's own apply end before it deletes: a namespace removed while created is not left behind", async () => {
    const svc = t.broker.getLocalService("v1.k8s.namespaces") as unknown as {
      findRaw(query: object): Promise<{ _id: string }[]>;
    };
    // The create's apply waits until the removal has been asked for.
    const { release } = holdNextCall(svc, "applyRecord");
    const creating = create({ name: "brief" }).catch((err: unknown) => err);
    const id = await storedId(svc, "brief");
    const removing = t.broker.call<NamespaceEntity, object>("v1.k8s.namespaces.remove", { id }, alice);
    await new Promise((resolve) => setTimeout(resolve, 200));
    release();
    await creating;
    expect((await removing).status.phase).toBe("Terminating");
    await recordGone(id);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await t.kubectlRaw("get", "namespace", "brief")).stderr).toMatch(/NotFound/);
  });

  it("answers Terminating when the cluster finished the removal before the answer", async () => {
    const ns = await create({ name: "quick" });
    await waitFor(async () => (await get(ns.id)).status.phase === "Active", 5000, "quick Active");
    const svc = t.broker.getLocalService("v1.k8s.namespaces") as unknown as {
      findRawById(id: string): Promise<unknown>;
      deleteClusterObjects(...args: unknown[]): Promise<boolean>;
    };
    // The deletion returns only once the watch has seen the Namespace gone and the record removed.
    const deleteClusterObjects = svc.deleteClusterObjects;
    svc.deleteClusterObjects = async (...args: unknown[]) => {
      svc.deleteClusterObjects = deleteClusterObjects;
      const started = await deleteClusterObjects(...args);
      await waitFor(async () => (await svc.findRawById(ns.id)) === null, 8000, "the record removed");
      return started;
    };
    const removing = await t.broker.call<NamespaceEntity, object>("v1.k8s.namespaces.remove", { id: ns.id }, alice);
    expect(removing).toMatchObject({ id: ns.id, status: { phase: "Terminating" } });
  });

  it("is not undone by a cluster event that read the record before the removal began", async () => {
    const ns = await create({ name: "racing" });
    await waitFor(async () => (await get(ns.id)).status.phase === "Active", 5000, "racing Active");
    const listed = await t.broker.call<{ items: Record<string, unknown>[] }, object>("v1.kube.list", {
      apiVersion: "v1",
      kind: "Namespace",
      fieldSelector: "metadata.name=racing",
      labelSelector: "app.kubernetes.io/managed-by=moleculer-k8s",
    });
    const svc = t.broker.getLocalService("v1.k8s.namespaces") as unknown as {
      onClusterObject(type: string, object: unknown): Promise<void>;
    };
    // A "modified" event of the Active Namespace reads the record, and is held there until the removal has begun.
    const { release } = holdNextCall(svc, "findRawById", { answerHeld: true });
    const event = svc.onClusterObject("modified", listed.items[0]);
    const removing = await t.broker.call<NamespaceEntity, object>("v1.k8s.namespaces.remove", { id: ns.id }, alice);
    expect(removing.status.phase).toBe("Terminating");
    release();
    await event;
    // The event's Active must not replace Terminating: the record would then take the Namespace's deletion for a
    // deletion outside the suite, and create it again.
    await waitFor(
      () =>
        get(ns.id).then(
          (entity) => {
            expect(entity.status.phase).toBe("Terminating");
            return false;
          },
          (err: { code?: number }) => err.code === 404,
        ),
      8000,
      "the record gone",
    );
    expect((await t.kubectlRaw("get", "namespace", "racing")).stderr).toMatch(/NotFound/);
  });

  it("in the cluster-owned namespace default, applies and removes only the quota and limits", async () => {
    const ns = await create({ name: "default", quota: { pods: 9 } }, as("root", ["admin"]));
    expect(ns).toMatchObject({ clusterOwned: true, status: { phase: "Active" } });
    const quota = await kubectlJson<Obj>("get", "resourcequota", "moleculer-k8s-quota", "-n", "default");
    expect(quota.spec).toMatchObject({ hard: { pods: "9" } });
    // The answer says what happens: the namespace stays.
    await expect(t.broker.call("v1.k8s.namespaces.remove", { id: ns.id })).resolves.toMatchObject({
      status: {
        phase: "Terminating",
        message: "the suite is deleting what it put in the cluster's own namespace; the namespace stays",
      },
    });
    await expect(get(ns.id)).rejects.toMatchObject({ code: 404 });
    expect((await t.kubectlRaw("get", "resourcequota", "moleculer-k8s-quota", "-n", "default")).stderr).toMatch(
      /NotFound/,
    );
    expect((await t.kubectlRaw("get", "limitrange", "moleculer-k8s-limits", "-n", "default")).stderr).toMatch(
      /NotFound/,
    );
    expect((await kubectlJson<Obj>("get", "namespace", "default")).status).toMatchObject({ phase: "Active" });
  });
});
