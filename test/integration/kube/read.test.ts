import { describe, it, expect, beforeAll, afterAll } from "@jest/globals";
import type { KubernetesObject } from "@kubernetes/client-node";
import { startHarness, appObjects, waitFor, MANAGED, type Harness } from "./harness.ts";

type Params = Record<string, unknown>;

let h: Harness;

interface ListResult {
  items: (KubernetesObject & Record<string, unknown>)[];
  cached: boolean;
}

beforeAll(async () => {
  h = await startHarness();
  await h.broker.call("v1.kube.apply", { objects: appObjects("reads"), fieldManager: "k8s.deployments" });
  await waitFor(
    () =>
      h.broker.call("v1.kube.readiness").then(
        () => true,
        () => false,
      ),
    5000,
    "readiness",
  );
});

afterAll(async () => {
  await h?.stop();
});

describe("v1.kube.get", () => {
  it("reads an object from the cluster", async () => {
    const dep = await h.broker.call<KubernetesObject & { spec: { replicas: number } }, Params>("v1.kube.get", {
      apiVersion: "apps/v1",
      kind: "Deployment",
      namespace: "reads",
      name: "web",
    });
    expect(dep).toMatchObject({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "web", namespace: "reads" },
    });
    expect(dep.spec.replicas).toBe(1);
  });

  it("answers 404 K8S_NOT_FOUND for a missing object", async () => {
    await expect(
      h.broker.call("v1.kube.get", { apiVersion: "v1", kind: "ConfigMap", namespace: "reads", name: "missing" }),
    ).rejects.toMatchObject({ code: 404, type: "K8S_NOT_FOUND" });
  });

  it("answers 422 K8S_INVALID for a kind the cluster does not serve", async () => {
    await expect(
      h.broker.call("v1.kube.get", { apiVersion: "v1", kind: "Gizmo", namespace: "reads", name: "g" }),
    ).rejects.toMatchObject({ code: 422, type: "K8S_INVALID" });
  });
});

describe("v1.kube.list", () => {
  it("serves a managed-by selector from the informer cache without asking the API server", async () => {
    const selector = "app.kubernetes.io/managed-by=moleculer-k8s,app.kubernetes.io/name=web";
    await waitFor(async () => {
      const r = await h.broker.call<ListResult, Params>("v1.kube.list", {
        apiVersion: "apps/v1",
        kind: "Deployment",
        namespace: "reads",
        labelSelector: selector,
      });
      return r.items.length === 1;
    });
    const before = h.sandbox.requestCounts().reads;
    const result = await h.broker.call<ListResult, Params>("v1.kube.list", {
      apiVersion: "apps/v1",
      kind: "Deployment",
      namespace: "reads",
      labelSelector: selector,
    });
    expect(result.cached).toBe(true);
    expect(result.items.map((d) => d.metadata?.name)).toEqual(["web"]);
    expect(result.items[0]).toMatchObject({ apiVersion: "apps/v1", kind: "Deployment" });
    expect(h.sandbox.requestCounts().reads).toBe(before);
  });

  it("serves the managed-by label's `in` form from the cache, and a selector that allows another manager from the API", async () => {
    const list = (labelSelector: string) =>
      h.broker.call<ListResult, Params>("v1.kube.list", {
        apiVersion: "apps/v1",
        kind: "Deployment",
        namespace: "reads",
        labelSelector,
      });
    const ours = await list("app.kubernetes.io/managed-by in (moleculer-k8s), app.kubernetes.io/name == web");
    expect([ours.cached, ours.items.map((d) => d.metadata?.name)]).toEqual([true, ["web"]]);
    const either = await list("app.kubernetes.io/managed-by in (moleculer-k8s,helm),app.kubernetes.io/name=web");
    expect([either.cached, either.items.map((d) => d.metadata?.name)]).toEqual([false, ["web"]]);
  });

  it("asks the API server for other selectors and kinds", async () => {
    const result = await h.broker.call<ListResult, Params>("v1.kube.list", {
      apiVersion: "v1",
      kind: "ConfigMap",
      namespace: "reads",
      fieldSelector: "metadata.name=web-conf",
    });
    expect(result.cached).toBe(false);
    expect(result.items.map((c) => c.metadata?.name)).toEqual(["web-conf"]);
    expect(result.items[0]).toMatchObject({ apiVersion: "v1", kind: "ConfigMap" });
  });

  it("lists pods that the controllers made from the managed Deployment", async () => {
    const pods = await waitFor(async () => {
      const r = await h.broker.call<ListResult, Params>("v1.kube.list", {
        apiVersion: "v1",
        kind: "Pod",
        namespace: "reads",
        labelSelector: "app.kubernetes.io/instance=reads-web",
      });
      return r.items.length > 0 ? r.items : undefined;
    });
    expect(pods[0]?.metadata?.name).toMatch(/^web-/);
  });

  it("answers a list by record id from the cache, following relabels and deletes, as the API server would", async () => {
    const configMap = (name: string, id: string) => ({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name, namespace: "reads", labels: { ...MANAGED, "moleculer-k8s/id": id } },
      data: { k: name },
    });
    // Only selectors that require the managed-by label are served from the cache (it holds only those objects).
    const names = async (selector: string, namespace = "reads") => {
      const r = await h.broker.call<ListResult, Params>("v1.kube.list", {
        apiVersion: "v1",
        kind: "ConfigMap",
        namespace,
        labelSelector: `app.kubernetes.io/managed-by=moleculer-k8s,${selector}`,
      });
      expect(r.cached).toBe(true);
      return r.items.map((c) => c.metadata?.name).sort();
    };
    const byId = (ids: string) => `moleculer-k8s/id in (${ids})`;
    await h.broker.call("v1.kube.apply", {
      objects: [configMap("idx-a", "rec-a"), configMap("idx-b", "rec-b"), configMap("idx-b2", "rec-b")],
      fieldManager: "k8s.envs",
    });
    await waitFor(async () => (await names(byId("rec-a,rec-b"))).length === 3);
    const reads = h.sandbox.requestCounts().reads;
    expect(await names("moleculer-k8s/id=rec-a")).toEqual(["idx-a"]);
    expect(await names("moleculer-k8s/id==rec-b,k8s-not-there!=x")).toEqual(["idx-b", "idx-b2"]);
    expect(await names("moleculer-k8s/id=rec-b,moleculer-k8s/id in (rec-a)")).toEqual([]);
    expect(await names("moleculer-k8s/id=rec-a", "elsewhere")).toEqual([]);
    // No equality on the id: the whole cache is matched (the ConfigMap of appObjects has no id label).
    expect(await names("moleculer-k8s/id notin (rec-a),moleculer-k8s/id")).toEqual(["idx-b", "idx-b2"]);

    await h.broker.call("v1.kube.apply", { objects: [configMap("idx-a", "rec-b")], fieldManager: "k8s.envs" });
    await waitFor(async () => (await names("moleculer-k8s/id=rec-a")).length === 0);
    expect(await names("moleculer-k8s/id=rec-b")).toEqual(["idx-a", "idx-b", "idx-b2"]);
    await h.broker.call("v1.kube.delete", { apiVersion: "v1", kind: "ConfigMap", namespace: "reads", name: "idx-b" });
    await waitFor(async () => (await names("moleculer-k8s/id=rec-b")).length === 2);
    expect(await names(byId("rec-a,rec-b"))).toEqual(["idx-a", "idx-b2"]);
    expect(h.sandbox.requestCounts().reads).toBe(reads);
  });

  it("answers a managed list by one name (field selector metadata.name) from the cache, other field selectors from the API", async () => {
    const list = (fieldSelector: string, namespace?: string) =>
      h.broker.call<ListResult, Params>("v1.kube.list", {
        apiVersion: "v1",
        kind: "ConfigMap",
        ...(namespace === undefined ? {} : { namespace }),
        labelSelector: "app.kubernetes.io/managed-by=moleculer-k8s",
        fieldSelector,
      });
    const reads = h.sandbox.requestCounts().reads;
    const one = await list("metadata.name=web-conf", "reads");
    const anywhere = await list("metadata.name==web-conf");
    const none = await list("metadata.name=not-there", "reads");
    expect([one.cached, anywhere.cached, none.cached]).toEqual([true, true, true]);
    expect(one.items.map((c) => `${c.metadata?.namespace}/${c.metadata?.name}`)).toEqual(["reads/web-conf"]);
    expect(anywhere.items.map((c) => `${c.metadata?.namespace}/${c.metadata?.name}`)).toEqual(["reads/web-conf"]);
    expect(none.items).toEqual([]);
    expect(h.sandbox.requestCounts().reads).toBe(reads);
    const other = await list("metadata.namespace=reads", "reads");
    expect(other.cached).toBe(false);
    expect(other.items.map((c) => c.metadata?.name)).toContain("web-conf");
  });

  it("rejects a malformed label selector with 422", async () => {
    await expect(
      h.broker.call("v1.kube.list", { apiVersion: "v1", kind: "Pod", namespace: "reads", labelSelector: "a in (b" }),
    ).rejects.toMatchObject({ code: 422 });
  });
});

describe("v1.kube.list answers from the cache", () => {
  it("are frozen: a caller cannot change what later reads get, and a change of the object is seen at once", async () => {
    const configMap = (value: string) => ({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "frozen", namespace: "reads", labels: { ...MANAGED, "moleculer-k8s/id": "rec-frozen" } },
      data: { k: value },
    });
    const list = () =>
      h.broker.call<ListResult, Params>("v1.kube.list", {
        apiVersion: "v1",
        kind: "ConfigMap",
        namespace: "reads",
        labelSelector: `app.kubernetes.io/managed-by=moleculer-k8s,moleculer-k8s/id=rec-frozen`,
      });
    await h.broker.call("v1.kube.apply", { objects: [configMap("one")], fieldManager: "k8s.envs" });
    const first = await waitFor(async () => {
      const r = await list();
      return r.items[0]?.data !== undefined ? r : undefined;
    });
    expect(first.cached).toBe(true);
    const obj = first.items[0] as unknown as KubernetesObject & { data: Record<string, string> };
    expect(Object.isFrozen(obj) && Object.isFrozen(obj.data) && Object.isFrozen(obj.metadata)).toBe(true);
    expect(() => {
      obj.data.k = "changed";
    }).toThrow(TypeError);
    expect(() => {
      delete obj.metadata?.labels;
    }).toThrow(TypeError);
    const again = await list();
    expect(again.items[0]).toMatchObject({
      data: { k: "one" },
      metadata: { labels: { "moleculer-k8s/id": "rec-frozen" } },
    });
    expect(again.items[0]?.metadata).not.toHaveProperty("managedFields");

    await h.broker.call("v1.kube.apply", { objects: [configMap("two")], fieldManager: "k8s.envs" });
    await waitFor(async () => ((await list()).items[0] as { data?: { k?: string } } | undefined)?.data?.k === "two");
    await h.broker.call("v1.kube.delete", { apiVersion: "v1", kind: "ConfigMap", namespace: "reads", name: "frozen" });
    await waitFor(async () => (await list()).items.length === 0);
  });
});

describe("v1.kube.listMany", () => {
  it("answers each list as v1.kube.list does, in the order asked, in one call", async () => {
    const queries = [
      {
        apiVersion: "apps/v1",
        kind: "Deployment",
        namespace: "reads",
        labelSelector: "app.kubernetes.io/managed-by=moleculer-k8s,app.kubernetes.io/name=web",
      },
      { apiVersion: "v1", kind: "ConfigMap", namespace: "reads", fieldSelector: "metadata.name=web-conf" },
      {
        apiVersion: "v1",
        kind: "Pod",
        namespace: "reads",
        labelSelector: "app.kubernetes.io/managed-by=moleculer-k8s",
      },
    ];
    const many = await h.broker.call<{ lists: ListResult[] }, Params>("v1.kube.listMany", { lists: queries });
    const each = await Promise.all(queries.map((q) => h.broker.call<ListResult, Params>("v1.kube.list", q)));
    expect(many.lists).toHaveLength(3);
    expect(many.lists.map((l) => l.cached)).toEqual([true, false, true]);
    expect(many.lists.map((l) => l.items.map((o) => `${o.kind}/${o.metadata?.name}`))).toEqual(
      each.map((l) => l.items.map((o) => `${o.kind}/${o.metadata?.name}`)),
    );
    expect(many.lists[0]?.items.map((d) => d.metadata?.name)).toEqual(["web"]);
  });

  it("rejects an empty request, an unknown field and a malformed selector with 422", async () => {
    const pod = { apiVersion: "v1", kind: "Pod", namespace: "reads" };
    for (const lists of [[], [{ ...pod, name: "x" }], [pod, { ...pod, labelSelector: "a in (b" }]]) {
      await expect(h.broker.call("v1.kube.listMany", { lists })).rejects.toMatchObject({ code: 422 });
    }
  });
});

describe("v1.kube.delete", () => {
  it("deletes an object, then answers deleted: false when it is gone", async () => {
    await h.broker.call("v1.kube.apply", {
      objects: [
        { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "doomed", namespace: "reads", labels: MANAGED } },
      ],
      fieldManager: "k8s.envs",
    });
    const ref = { apiVersion: "v1", kind: "ConfigMap", namespace: "reads", name: "doomed" };
    await expect(h.broker.call("v1.kube.delete", ref)).resolves.toEqual({ deleted: true });
    await expect(h.broker.call("v1.kube.delete", ref)).resolves.toEqual({ deleted: false });
    await expect(h.broker.call("v1.kube.get", ref)).rejects.toMatchObject({ code: 404 });
  });
});

describe("kube.<plural>.<change> events", () => {
  it("broadcasts added, modified and deleted with the object, and never a Secret's data", async () => {
    const cm = (v: string) => ({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "watched", namespace: "reads", labels: MANAGED },
      data: { v },
    });
    await h.broker.call("v1.kube.apply", { objects: [cm("1")], fieldManager: "k8s.envs" });
    const added = await waitFor(() =>
      h.events.find(
        (e) => e.name === "kube.configmaps.added" && (e.payload.metadata as { name: string }).name === "watched",
      ),
    );
    expect(added.payload).toMatchObject({ apiVersion: "v1", kind: "ConfigMap", data: { v: "1" } });
    // The watch cache's own object, public and frozen: no handler can change what the others (and readers) see.
    expect(added.payload.metadata).not.toHaveProperty("managedFields");
    expect(Object.isFrozen(added.payload) && Object.isFrozen(added.payload.metadata)).toBe(true);

    await h.broker.call("v1.kube.apply", { objects: [cm("2")], fieldManager: "k8s.envs" });
    await waitFor(() =>
      h.events.find(
        (e) =>
          e.name === "kube.configmaps.modified" && (e.payload.data as Record<string, string> | undefined)?.v === "2",
      ),
    );

    await h.broker.call("v1.kube.delete", { apiVersion: "v1", kind: "ConfigMap", namespace: "reads", name: "watched" });
    await waitFor(() =>
      h.events.find(
        (e) => e.name === "kube.configmaps.deleted" && (e.payload.metadata as { name: string }).name === "watched",
      ),
    );

    await h.broker.call("v1.kube.apply", {
      objects: [
        {
          apiVersion: "v1",
          kind: "Secret",
          metadata: { name: "pw", namespace: "reads", labels: MANAGED },
          stringData: { PASSWORD: "hunter2" },
        },
      ],
      fieldManager: "k8s.envs",
    });
    const secret = await waitFor(() => h.events.find((e) => e.name === "kube.secrets.added"));
    expect(secret.payload).not.toHaveProperty("data");
    expect(JSON.stringify(h.events)).not.toContain("hunter2");
    expect(JSON.stringify(h.events)).not.toContain(Buffer.from("hunter2").toString("base64"));
  });

  it("broadcasts deployments and the pods the controllers make", async () => {
    await waitFor(() => h.events.find((e) => e.name === "kube.deployments.added"));
    await waitFor(() => h.events.find((e) => e.name === "kube.pods.added" || e.name === "kube.pods.modified"));
  });
});
