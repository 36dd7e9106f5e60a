import { describe, it, expect } from "@jest/globals";
import { Store } from "../../../lib/sandbox/store.ts";
import { StatusError } from "../../../lib/sandbox/status.ts";
import type { KubeObject, StoreEvent } from "../../../lib/sandbox/types.ts";

function cm(name: string, namespace = "default", data: Record<string, string> = { a: "1" }): KubeObject {
  return { apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace, labels: { app: name } }, data };
}

function deployment(name: string, replicas = 1): KubeObject {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace: "default" },
    spec: { replicas, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } } } },
  };
}

function statusOf(fn: () => unknown): StatusError["status"] {
  try {
    fn();
  } catch (err) {
    if (err instanceof StatusError) return err.status;
    throw err;
  }
  throw new Error("expected a StatusError");
}

describe("sandbox Store", () => {
  it("seeds the default namespaces as Active", () => {
    const store = new Store();
    const names = store.list("namespaces").items.map((n) => n.metadata.name);
    expect(names).toEqual(["default", "kube-node-lease", "kube-public", "kube-system"]);
    expect(store.get("namespaces", undefined, "default")).toMatchObject({
      status: { phase: "Active" },
      spec: { finalizers: ["kubernetes"] },
      metadata: { labels: { "kubernetes.io/metadata.name": "default" } },
    });
  });

  it("creates with uid, creationTimestamp, resourceVersion and generation, and copies in and out", () => {
    const store = new Store();
    const input = cm("one");
    const created = store.create("configmaps", input);
    expect(created.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.metadata.creationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(created.metadata.generation).toBe(1);
    expect(created.metadata.resourceVersion).toBe(store.currentResourceVersion());
    expect(input.metadata.uid).toBeUndefined();
    created.data = { changed: "yes" };
    expect(store.get("configmaps", "default", "one")?.data).toEqual({ a: "1" });
  });

  it("supports generateName", () => {
    const store = new Store();
    const created = store.create("pods", {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "", generateName: "web-", namespace: "default" },
    });
    expect(created.metadata.name).toMatch(/^web-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
  });

  it("refuses duplicates, missing namespaces and invalid names with the real Status bodies", () => {
    const store = new Store();
    store.create("configmaps", cm("one"));
    expect(statusOf(() => store.create("configmaps", cm("one")))).toMatchObject({
      code: 409,
      reason: "AlreadyExists",
      message: 'configmaps "one" already exists',
      details: { name: "one", group: "", kind: "configmaps" },
    });
    expect(statusOf(() => store.create("configmaps", cm("two", "nowhere")))).toMatchObject({
      code: 404,
      reason: "NotFound",
      message: 'namespaces "nowhere" not found',
    });
    const invalid = statusOf(() => store.create("deployments.apps", deployment("Bad_Name")));
    expect(invalid).toMatchObject({ code: 422, reason: "Invalid", details: { kind: "Deployment", group: "apps" } });
    expect(invalid.message).toContain(
      'Deployment.apps "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name"',
    );
    expect(invalid.details?.causes?.[0]).toMatchObject({ field: "metadata.name", reason: "FieldValueInvalid" });
    expect(
      statusOf(() => store.create("namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: "a.b" } })),
    ).toMatchObject({ code: 422 });
  });

  it("updates with optimistic concurrency, bumps generation on spec changes only, and skips no-op writes", () => {
    const store = new Store();
    const created = store.create("deployments.apps", deployment("web"));
    const noop = store.update("deployments.apps", created);
    expect(noop.metadata.resourceVersion).toBe(created.metadata.resourceVersion);
    const labelled = store.update("deployments.apps", {
      ...created,
      metadata: { ...created.metadata, labels: { x: "y" } },
    });
    expect(labelled.metadata.generation).toBe(1);
    expect(Number(labelled.metadata.resourceVersion)).toBeGreaterThan(Number(created.metadata.resourceVersion));
    expect(statusOf(() => store.update("deployments.apps", { ...created, spec: { replicas: 3 } }))).toMatchObject({
      code: 409,
      reason: "Conflict",
      message:
        'Operation cannot be fulfilled on deployments.apps "web": the object has been modified; please apply your changes to the latest version and try again',
    });
    const scaled = store.update("deployments.apps", {
      ...labelled,
      spec: { ...(labelled.spec as object), replicas: 3 },
    });
    expect(scaled.metadata.generation).toBe(2);
  });

  it("keeps status on a main update and takes only status on a status update", () => {
    const store = new Store();
    const created = store.create("deployments.apps", deployment("web"));
    const withStatus = store.update(
      "deployments.apps",
      { ...created, status: { replicas: 1 } },
      { subresource: "status" },
    );
    expect(withStatus.status).toEqual({ replicas: 1 });
    expect(withStatus.metadata.generation).toBe(1);
    const main = store.update("deployments.apps", { ...withStatus, status: { replicas: 99 }, spec: { replicas: 2 } });
    expect(main.status).toEqual({ replicas: 1 });
    expect(main.spec).toEqual({ replicas: 2 });
  });

  it("lists by namespace, label and field selectors, sorted by namespace and name", () => {
    const store = new Store();
    store.create("namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: "other" } });
    store.create("configmaps", cm("b"));
    store.create("configmaps", cm("a"));
    store.create("configmaps", cm("c", "other"));
    const names = (opts: Parameters<Store["list"]>[1]): string[] =>
      store.list("configmaps", opts).items.map((o) => `${o.metadata.namespace}/${o.metadata.name}`);
    expect(names({})).toEqual(["default/a", "default/b", "other/c"]);
    expect(names({ namespace: "other" })).toEqual(["other/c"]);
    expect(names({ labelSelector: "app=a" })).toEqual(["default/a"]);
    expect(names({ labelSelector: "app in (a,c)" })).toEqual(["default/a", "other/c"]);
    expect(names({ labelSelector: "app notin (a,c)" })).toEqual(["default/b"]);
    expect(names({ labelSelector: "app!=a,app" })).toEqual(["default/b", "other/c"]);
    expect(names({ labelSelector: "!app" })).toEqual([]);
    expect(names({ fieldSelector: "metadata.name=b" })).toEqual(["default/b"]);
    expect(names({ fieldSelector: "metadata.namespace!=default" })).toEqual(["other/c"]);
    expect(statusOf(() => store.list("configmaps", { labelSelector: "app in ()" }))).toMatchObject({ code: 400 });
  });

  it("deletes at once without finalizers, waits for finalizers otherwise", () => {
    const store = new Store();
    store.create("configmaps", cm("gone"));
    const deleted = store.delete("configmaps", "default", "gone");
    expect(deleted.metadata.name).toBe("gone");
    expect(store.get("configmaps", "default", "gone")).toBeUndefined();
    const held = store.create("configmaps", {
      ...cm("held"),
      metadata: { ...cm("held").metadata, finalizers: ["x/y"] },
    });
    const pending = store.delete("configmaps", "default", "held");
    expect(pending.metadata.deletionTimestamp).toBeDefined();
    const current = store.get("configmaps", "default", "held") as KubeObject;
    expect(current.metadata.deletionTimestamp).toBeDefined();
    store.update("configmaps", { ...current, metadata: { ...current.metadata, finalizers: [] } });
    expect(store.get("configmaps", "default", "held")).toBeUndefined();
    expect(held.metadata.uid).toBeDefined();
    expect(statusOf(() => store.delete("configmaps", "default", "gone"))).toMatchObject({ code: 404 });
  });

  it("orphans dependents when asked", () => {
    const store = new Store();
    const owner = store.create("deployments.apps", deployment("web"));
    const uid = owner.metadata.uid as string;
    store.create("replicasets.apps", {
      apiVersion: "apps/v1",
      kind: "ReplicaSet",
      metadata: {
        name: "web-1",
        namespace: "default",
        ownerReferences: [{ apiVersion: "apps/v1", kind: "Deployment", name: "web", uid, controller: true }],
      },
    });
    store.delete("deployments.apps", "default", "web", { propagationPolicy: "Orphan" });
    expect(store.get("replicasets.apps", "default", "web-1")?.metadata.ownerReferences).toBeUndefined();
  });

  it("terminates namespaces: refuses new content, then finalizeNamespace removes it", () => {
    const store = new Store();
    store.create("namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: "team" } });
    const terminating = store.delete("namespaces", undefined, "team");
    expect(terminating.status).toMatchObject({ phase: "Terminating" });
    expect(terminating.metadata.deletionTimestamp).toBeDefined();
    expect(statusOf(() => store.create("configmaps", cm("x", "team")))).toMatchObject({
      code: 403,
      reason: "Forbidden",
      message:
        'configmaps "x" is forbidden: unable to create new content in namespace team because it is being terminated',
    });
    store.finalizeNamespace("team");
    expect(store.get("namespaces", undefined, "team")).toBeUndefined();
  });

  it("fans out events, runs admission before storing, and keeps a resumable history", () => {
    const store = new Store();
    const events: StoreEvent[] = [];
    const unsubscribe = store.subscribe((e) => events.push(e));
    const start = Number(store.currentResourceVersion());
    store.addAdmission((req) => {
      if (req.operation === "CREATE" && req.object.metadata.name === "refused") {
        throw new StatusError({
          kind: "Status",
          apiVersion: "v1",
          metadata: {},
          status: "Failure",
          code: 403,
          reason: "Forbidden",
        });
      }
      if (req.operation === "CREATE") req.object.metadata.annotations = { admitted: "yes" };
    });
    expect(statusOf(() => store.create("configmaps", cm("refused")))).toMatchObject({ code: 403 });
    expect(store.get("configmaps", "default", "refused")).toBeUndefined();
    const made = store.create("configmaps", cm("ok"));
    expect(made.metadata.annotations).toEqual({ admitted: "yes" });
    store.update("configmaps", { ...made, data: { b: "2" } });
    store.delete("configmaps", "default", "ok");
    unsubscribe();
    expect(events.map((e) => `${e.type} ${e.resource.key} ${e.object.metadata.name}`)).toEqual([
      "ADDED configmaps ok",
      "MODIFIED configmaps ok",
      "DELETED configmaps ok",
    ]);
    expect(store.changesSince(start)?.map((e) => e.type)).toEqual(["ADDED", "MODIFIED", "DELETED"]);
  });

  it("expires history beyond its size", () => {
    const store = new Store({ historySize: 10 });
    const start = Number(store.currentResourceVersion());
    for (let i = 0; i < 30; i++) store.create("configmaps", cm(`c${i}`));
    expect(store.changesSince(start)).toBeUndefined();
    const recent = Number(store.currentResourceVersion()) - 3;
    expect(store.changesSince(recent)).toHaveLength(3);
  });

  it("dry-runs without storing", () => {
    const store = new Store();
    const rv = store.currentResourceVersion();
    const made = store.create("configmaps", cm("dry"), { dryRun: true });
    expect(made.metadata.uid).toBeDefined();
    expect(store.get("configmaps", "default", "dry")).toBeUndefined();
    expect(store.currentResourceVersion()).toBe(rv);
  });

  it("saves and loads its state", () => {
    const store = new Store();
    store.create("configmaps", cm("kept"));
    const loaded = Store.fromJSON(JSON.parse(JSON.stringify(store.toJSON())));
    expect(loaded.get("configmaps", "default", "kept")?.data).toEqual({ a: "1" });
    expect(loaded.currentResourceVersion()).toBe(store.currentResourceVersion());
    const next = loaded.create("configmaps", cm("more"));
    expect(Number(next.metadata.resourceVersion)).toBeGreaterThan(Number(store.currentResourceVersion()));
  });
});
