/**
 * The sandbox's API server driven by the real @kubernetes/client-node, as v1.kube drives it.
 */
import { describe, it, expect, beforeAll, afterAll } from "@jest/globals";
import {
  ApiException,
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  makeInformer,
  setHeaderOptions,
  type KubernetesObject,
  type V1ConfigMap,
  type V1Deployment,
} from "@kubernetes/client-node";
import { startSandbox, type Sandbox } from "../../../lib/sandbox/index.ts";

let sandbox: Sandbox;
let kc: KubeConfig;
let core: CoreV1Api;
let apps: AppsV1Api;
let objects: KubernetesObjectApi;
const NS = "client-node";

function deployment(name: string, replicas = 1, image = "nginx:1.27"): V1Deployment {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace: NS, labels: { app: name } },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: "web", image, ports: [{ containerPort: 80 }] }] },
      },
    },
  };
}

async function failure(p: Promise<unknown>): Promise<{ code: number; body: Record<string, unknown> }> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ApiException) {
      const body =
        typeof err.body === "string"
          ? (JSON.parse(err.body) as Record<string, unknown>)
          : (err.body as Record<string, unknown>);
      return { code: err.code, body };
    }
    throw err;
  }
  throw new Error("expected the call to fail");
}

async function raw(
  method: string,
  path: string,
  body: string,
  contentType: string,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${sandbox.url}${path}`, {
    method,
    headers: { Authorization: `Bearer ${sandbox.token}`, "Content-Type": contentType },
    body,
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

function until(check: () => boolean, timeoutMs = 5000): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const tick = (): void => {
      if (check()) resolve();
      else if (Date.now() - started > timeoutMs) reject(new Error("condition not met in time"));
      else setTimeout(tick, 10);
    };
    tick();
  });
}

beforeAll(async () => {
  sandbox = await startSandbox({ port: 0, podReadyDelayMs: 20, jobDurationMs: 50, historySize: 50 });
  kc = new KubeConfig();
  kc.loadFromString(sandbox.kubeconfig());
  core = kc.makeApiClient(CoreV1Api);
  apps = kc.makeApiClient(AppsV1Api);
  objects = KubernetesObjectApi.makeApiClient(kc);
  await core.createNamespace({ body: { metadata: { name: NS } } });
});

afterAll(async () => {
  await sandbox?.stop();
});

describe("sandbox API with client-node typed APIs", () => {
  it("creates, reads, lists by label, replaces and deletes ConfigMaps", async () => {
    const created = await core.createNamespacedConfigMap({
      namespace: NS,
      body: { metadata: { name: "conf", labels: { app: "conf" } }, data: { a: "1" } },
    });
    expect(created.metadata?.uid).toBeDefined();
    const read = await core.readNamespacedConfigMap({ name: "conf", namespace: NS });
    expect(read.data).toEqual({ a: "1" });
    const listed = await core.listNamespacedConfigMap({ namespace: NS, labelSelector: "app=conf" });
    expect(listed.items.map((i) => i.metadata?.name)).toEqual(["conf"]);
    const replaced = await core.replaceNamespacedConfigMap({
      name: "conf",
      namespace: NS,
      body: { ...read, data: { a: "2" } },
    });
    expect(replaced.data).toEqual({ a: "2" });
    expect(Number(replaced.metadata?.resourceVersion)).toBeGreaterThan(Number(read.metadata?.resourceVersion));
    await core.deleteNamespacedConfigMap({ name: "conf", namespace: NS });
    expect((await failure(core.readNamespacedConfigMap({ name: "conf", namespace: NS }))).code).toBe(404);
  });

  it("refuses a replace with a stale resourceVersion (409 Conflict)", async () => {
    const created = await core.createNamespacedConfigMap({
      namespace: NS,
      body: { metadata: { name: "stale" }, data: { a: "1" } },
    });
    await core.replaceNamespacedConfigMap({ name: "stale", namespace: NS, body: { ...created, data: { a: "2" } } });
    const err = await failure(
      core.replaceNamespacedConfigMap({ name: "stale", namespace: NS, body: { ...created, data: { a: "3" } } }),
    );
    expect(err.code).toBe(409);
    expect(err.body).toMatchObject({
      kind: "Status",
      reason: "Conflict",
      message:
        'Operation cannot be fulfilled on configmaps "stale": the object has been modified; please apply your changes to the latest version and try again',
    });
  });

  it("answers a missing object with a 404 Status naming the plural resource", async () => {
    const err = await failure(apps.readNamespacedDeployment({ name: "missing", namespace: NS }));
    expect(err.code).toBe(404);
    expect(err.body).toMatchObject({
      kind: "Status",
      status: "Failure",
      reason: "NotFound",
      message: 'deployments.apps "missing" not found',
      details: { name: "missing", group: "apps", kind: "deployments" },
      code: 404,
    });
  });

  it("patches with json-patch, merge-patch and strategic-merge-patch", async () => {
    await apps.createNamespacedDeployment({ namespace: NS, body: deployment("patched") });
    await apps.patchNamespacedDeployment(
      { name: "patched", namespace: NS, body: [{ op: "replace", path: "/spec/replicas", value: 2 }] },
      setHeaderOptions("Content-Type", PatchStrategy.JsonPatch),
    );
    await apps.patchNamespacedDeployment(
      { name: "patched", namespace: NS, body: { metadata: { labels: { merged: "yes" } } } },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
    const patched = await apps.patchNamespacedDeployment(
      {
        name: "patched",
        namespace: NS,
        body: { spec: { template: { spec: { containers: [{ name: "sidecar", image: "busybox:1.36" }] } } } },
      },
      setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch),
    );
    expect(patched.spec?.replicas).toBe(2);
    expect(patched.metadata?.labels).toEqual({ app: "patched", merged: "yes" });
    // strategic merge: containers merge by name, the original stays
    expect(patched.spec?.template.spec?.containers.map((c) => c.name)).toEqual(["web", "sidecar"]);
    expect(patched.metadata?.generation).toBe(3);
  });

  it("scales through the scale subresource", async () => {
    await apps.createNamespacedDeployment({ namespace: NS, body: deployment("scaled") });
    const scale = await apps.replaceNamespacedDeploymentScale({
      name: "scaled",
      namespace: NS,
      body: {
        apiVersion: "autoscaling/v1",
        kind: "Scale",
        metadata: { name: "scaled", namespace: NS },
        spec: { replicas: 4 },
      },
    });
    expect(scale.spec?.replicas).toBe(4);
    const read = await apps.readNamespacedDeploymentScale({ name: "scaled", namespace: NS });
    expect(read).toMatchObject({ kind: "Scale", spec: { replicas: 4 }, status: { selector: "app=scaled" } });
  });
});

describe("sandbox API with client-node KubernetesObjectApi (server-side apply)", () => {
  it("creates on first apply, and a re-apply of the same object changes nothing", async () => {
    // a ConfigMap: no controller writes to it between the two applies
    const spec: KubernetesObject & { data: Record<string, string> } = {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "ssa", namespace: NS, labels: { app: "ssa" } },
      data: { "default.conf": "server {}" },
    };
    const first = await objects.patch(spec, undefined, undefined, "suite", true, PatchStrategy.ServerSideApply);
    expect(first.metadata?.uid).toBeDefined();
    const managers = (first.metadata?.managedFields ?? []).map((m) => `${m.manager}/${m.operation}`);
    expect(managers).toEqual(["suite/Apply"]);
    const again = await objects.patch(spec, undefined, undefined, "suite", true, PatchStrategy.ServerSideApply);
    expect(again.metadata?.resourceVersion).toBe(first.metadata?.resourceVersion);
    expect(again.metadata?.managedFields).toEqual(first.metadata?.managedFields);
    const deployment1 = await objects.patch(
      deployment("ssa") as KubernetesObject,
      undefined,
      undefined,
      "suite",
      true,
      PatchStrategy.ServerSideApply,
    );
    expect(deployment1.metadata?.generation).toBe(1);
    const deployment2 = await objects.patch(
      deployment("ssa") as KubernetesObject,
      undefined,
      undefined,
      "suite",
      true,
      PatchStrategy.ServerSideApply,
    );
    expect(deployment2.metadata?.generation).toBe(1);
  });

  it("reports conflicts with another field manager (409) unless forced", async () => {
    await objects.patch(
      deployment("contested", 1) as KubernetesObject,
      undefined,
      undefined,
      "owner",
      false,
      PatchStrategy.ServerSideApply,
    );
    const other = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "contested", namespace: NS },
      spec: { replicas: 3 },
    };
    const err = await failure(
      objects.patch(other, undefined, undefined, "intruder", false, PatchStrategy.ServerSideApply),
    );
    expect(err.code).toBe(409);
    expect(err.body).toMatchObject({
      reason: "Conflict",
      message: 'Apply failed with 1 conflict: conflict with "owner": .spec.replicas',
      details: {
        causes: [{ reason: "FieldManagerConflict", message: 'conflict with "owner"', field: ".spec.replicas" }],
      },
    });
    const forced = (await objects.patch(
      other,
      undefined,
      undefined,
      "intruder",
      true,
      PatchStrategy.ServerSideApply,
    )) as V1Deployment;
    expect(forced.spec?.replicas).toBe(3);
    const owners = Object.fromEntries(
      (forced.metadata?.managedFields ?? []).map((m) => [m.manager, JSON.stringify(m.fieldsV1)]),
    );
    expect(owners.intruder).toContain("f:replicas");
    expect(owners.owner).not.toContain("f:replicas");
  });

  it("removes fields a manager stops applying", async () => {
    const withLabel = {
      ...deployment("shrinking"),
      metadata: { name: "shrinking", namespace: NS, labels: { app: "shrinking", extra: "x" } },
    };
    await objects.patch(
      withLabel as KubernetesObject,
      undefined,
      undefined,
      "suite",
      true,
      PatchStrategy.ServerSideApply,
    );
    const without = (await objects.patch(
      deployment("shrinking") as KubernetesObject,
      undefined,
      undefined,
      "suite",
      true,
      PatchStrategy.ServerSideApply,
    )) as V1Deployment;
    expect(without.metadata?.labels).toEqual({ app: "shrinking" });
  });

  it("requires a field manager for apply", async () => {
    const res = await raw(
      "PATCH",
      `/apis/apps/v1/namespaces/${NS}/deployments/nomanager`,
      JSON.stringify(deployment("nomanager")),
      "application/apply-patch+yaml",
    );
    expect(res.status).toBe(422);
    expect(res.json).toMatchObject({ kind: "Status", reason: "Invalid" });
    expect(String(res.json.message)).toContain("fieldManager: Required value: is required for apply patch");
  });
});

describe("sandbox API errors for malformed input", () => {
  it("answers a malformed JSON body with a 400 Status", async () => {
    const res = await raw("POST", `/api/v1/namespaces/${NS}/configmaps`, "{not json", "application/json");
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ kind: "Status", status: "Failure", reason: "BadRequest", code: 400 });
  });

  it("answers a malformed YAML apply with a 400 Status", async () => {
    const res = await raw(
      "PATCH",
      `/api/v1/namespaces/${NS}/configmaps/x?fieldManager=t`,
      "a: [1, 2\n  b: :",
      "application/apply-patch+yaml",
    );
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ kind: "Status", reason: "BadRequest" });
  });

  it("answers an unknown resource with a 404 Status", async () => {
    const res = await raw(
      "GET",
      `/api/v1/namespaces/${NS}/widgets`,
      undefined as unknown as string,
      "application/json",
    );
    expect(res.status).toBe(404);
    expect(res.json).toMatchObject({ kind: "Status", reason: "NotFound", code: 404 });
  });

  it("answers an invalid object with a 422 Status carrying causes", async () => {
    const err = await failure(
      apps.createNamespacedDeployment({
        namespace: NS,
        body: { ...deployment("Bad_Name"), metadata: { name: "Bad_Name" } },
      }),
    );
    expect(err.code).toBe(422);
    expect(err.body).toMatchObject({ reason: "Invalid", details: { kind: "Deployment", group: "apps" } });
    expect((err.body.details as { causes: unknown[] }).causes[0]).toMatchObject({ field: "metadata.name" });
  });

  it("answers an unsupported patch media type with 415", async () => {
    const res = await raw("PATCH", `/api/v1/namespaces/${NS}/configmaps/x`, "{}", "text/plain");
    expect(res.status).toBe(415);
    expect(res.json).toMatchObject({ reason: "UnsupportedMediaType" });
  });

  it("answers without or with a wrong token with 401", async () => {
    const none = await fetch(`${sandbox.url}/api/v1/namespaces`);
    expect(none.status).toBe(401);
    expect(await none.json()).toMatchObject({ kind: "Status", reason: "Unauthorized", code: 401 });
    const wrong = await fetch(`${sandbox.url}/api/v1/namespaces`, { headers: { Authorization: "Bearer nope" } });
    expect(wrong.status).toBe(401);
  });
});

describe("sandbox API watches with client-node informers", () => {
  it("sees adds, updates and deletes, and re-lists after a 410", async () => {
    const informer = makeInformer<V1ConfigMap>(
      kc,
      `/api/v1/namespaces/${NS}/configmaps`,
      () => core.listNamespacedConfigMap({ namespace: NS, labelSelector: "watched=yes" }),
      "watched=yes",
    );
    const seen: string[] = [];
    informer.on("add", (o) => seen.push(`add ${o.metadata?.name}`));
    informer.on("update", (o) => seen.push(`update ${o.metadata?.name}`));
    informer.on("delete", (o) => seen.push(`delete ${o.metadata?.name}`));
    await informer.start();
    try {
      await core.createNamespacedConfigMap({
        namespace: NS,
        body: { metadata: { name: "w1", labels: { watched: "yes" } }, data: { a: "1" } },
      });
      await core.patchNamespacedConfigMap(
        { name: "w1", namespace: NS, body: { data: { a: "2" } } },
        setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
      );
      // an object that stops matching the selector arrives as a delete
      await core.createNamespacedConfigMap({
        namespace: NS,
        body: { metadata: { name: "w2", labels: { watched: "yes" } } },
      });
      await core.patchNamespacedConfigMap(
        { name: "w2", namespace: NS, body: { metadata: { labels: { watched: "no" } } } },
        setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
      );
      await core.deleteNamespacedConfigMap({ name: "w1", namespace: NS });
      await until(() => seen.includes("delete w1"));
      expect(seen).toEqual(["add w1", "update w1", "add w2", "delete w2", "delete w1"]);

      // the watch drops while more changes than the history keeps happen: resuming gets 410, the informer re-lists
      const listsBefore = sandbox.requestCounts().byVerb.list ?? 0;
      expect(sandbox.dropWatches()).toBeGreaterThan(0);
      for (let i = 0; i < 100; i++) {
        sandbox.store.create("configmaps", {
          apiVersion: "v1",
          kind: "ConfigMap",
          metadata: { name: `bulk-${i}`, namespace: NS, labels: { watched: i === 99 ? "yes" : "no" } },
        });
      }
      await until(() => informer.list().some((o) => o.metadata?.name === "bulk-99"), 8000);
      expect(informer.list().map((o) => o.metadata?.name)).toEqual(["bulk-99"]);
      expect(sandbox.requestCounts().byVerb.list ?? 0).toBeGreaterThan(listsBefore);
    } finally {
      await informer.stop();
    }
  });
});
