import { describe, it, expect } from "@jest/globals";
import { execFileSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { secretDataDigest } from "../../../lib/manifests/env.ts";
import {
  backoffDelay,
  cacheForm,
  collectionPath,
  slim,
  WATCHED_KINDS,
  MANAGED_BY_SELECTOR,
} from "../../../lib/kube/informers.ts";

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

describe("slim (what enters the watch cache)", () => {
  const managedFields = [{ manager: "moleculer-k8s", operation: "Apply" }];
  it("drops managedFields of every kind and keeps the rest of an object the suite writes", () => {
    const deployment = {
      kind: "Deployment",
      metadata: { name: "web", managedFields },
      spec: { replicas: 2, template: { spec: { containers: [{ name: "web", image: "nginx", env: [] }] } } },
    };
    expect(slim(structuredClone(deployment))).toEqual({ ...deployment, metadata: { name: "web" } });
  });

  it("keeps of a Pod its containers' names and images and its node, and all of its status", () => {
    const pod = {
      kind: "Pod",
      metadata: { name: "web-1", labels: { a: "b" }, managedFields },
      spec: {
        nodeName: "sandbox-node",
        initContainers: [{ name: "init", image: "busybox", command: ["true"] }],
        containers: [{ name: "web", image: "nginx", env: [{ name: "A", value: "1" }], volumeMounts: [] }],
        volumes: [{ name: "data" }],
        tolerations: [{ key: "x" }],
      },
      status: { phase: "Running", containerStatuses: [{ name: "web", ready: true }] },
    };
    expect(slim(structuredClone(pod))).toEqual({
      kind: "Pod",
      metadata: { name: "web-1", labels: { a: "b" } },
      spec: {
        initContainers: [{ name: "init", image: "busybox" }],
        containers: [{ name: "web", image: "nginx" }],
        nodeName: "sandbox-node",
      },
      status: pod.status,
    });
  });

  it("drops a ReplicaSet's pod template, also for list items without a kind (the kind is passed)", () => {
    const rs = {
      metadata: { name: "web-abc", labels: { "pod-template-hash": "abc" } },
      spec: { replicas: 1, selector: { matchLabels: { app: "web" } }, template: { spec: { containers: [] } } },
      status: { replicas: 1 },
    };
    expect(slim(structuredClone(rs), "ReplicaSet")).toEqual({
      metadata: rs.metadata,
      spec: { replicas: 1, selector: rs.spec.selector },
      status: rs.status,
    });
  });
});

describe("slim keeps V8's fast form (a deleted property turns an object into a dictionary, 3-5× the size)", () => {
  it("leaves out managedFields, a ReplicaSet's template and a Secret's data without deleting them", () => {
    // V8 tells whether an object has fast properties only with --allow-natives-syntax: asked in a child process.
    const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
    const script = `
      const { slim } = await import(${JSON.stringify(path.join(root, "lib/kube/informers.ts"))});
      const fast = (o) => %HasFastProperties(o);
      const mf = [{ manager: "moleculer-k8s" }];
      const dep = slim(JSON.parse('{"kind":"Deployment","metadata":{"name":"a","uid":"u","labels":{},"managedFields":[{}]},"spec":{}}'));
      const rs = slim({ kind: "ReplicaSet", metadata: { name: "r", managedFields: mf }, spec: { replicas: 1, selector: {}, template: {} } }, "ReplicaSet");
      const secret = slim({ kind: "Secret", type: "Opaque", metadata: { name: "s", managedFields: mf }, data: { a: "YQ==" }, stringData: {} }, "Secret");
      console.log(JSON.stringify([fast(dep.metadata), fast(rs.metadata), fast(rs.spec), fast(secret), fast(secret.metadata), Object.keys(secret), Object.keys(rs.spec)]));
    `;
    const out = execFileSync(process.execPath, ["--allow-natives-syntax", "--input-type=module", "-e", script], {
      encoding: "utf8",
    });
    expect(JSON.parse(out)).toEqual([
      true,
      true,
      true,
      true,
      true,
      ["kind", "type", "metadata"],
      ["replicas", "selector"],
    ]);
  });
});

describe("cacheForm (the form cached objects are kept and handed out in)", () => {
  const secrets = WATCHED_KINDS.find((k) => k.kind === "Secret");
  const pods = WATCHED_KINDS.find((k) => k.kind === "Pod");
  it("gives a list item its apiVersion and kind, frozen all the way down", () => {
    if (pods === undefined) throw new Error("Pods are watched");
    const item = {
      metadata: { name: "web-1", creationTimestamp: "2026-11-27T00:00:00Z" },
      status: { phase: "Running" },
    };
    const cached = cacheForm(item as never, pods) as unknown as Record<string, unknown>;
    expect(cached).toEqual({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "web-1", creationTimestamp: "2026-11-27T00:00:00Z" },
      status: { phase: "Running" },
    });
    expect(Object.isFrozen(cached)).toBe(true);
    expect(Object.isFrozen(cached.metadata)).toBe(true);
    expect(() => {
      (cached.status as { phase: string }).phase = "Failed";
    }).toThrow(TypeError);
  });

  it("keeps no Secret values: their keys and a digest stand for them", () => {
    if (secrets === undefined) throw new Error("Secrets are watched");
    const secret = {
      kind: "Secret",
      metadata: { name: "env" },
      data: { B: "Mg==", A: "MQ==" },
      stringData: { C: "3" },
    };
    const cached = cacheForm(secret as never, secrets);
    expect(cached).toEqual({
      apiVersion: "v1",
      kind: "Secret",
      metadata: {
        name: "env",
        annotations: {
          "moleculer-k8s/cached-data-keys": "A,B",
          "moleculer-k8s/cached-data-digest": secretDataDigest({ A: "MQ==", B: "Mg==" }),
        },
      },
    });
    expect(JSON.stringify(cached)).not.toMatch(/MQ==|Mg==|"3"/);
    // Another value, another digest; an empty Secret has one too.
    const changed = cacheForm({ ...secret, data: { A: "MQ==", B: "Mw==" } } as never, secrets);
    expect(changed.metadata?.annotations?.["moleculer-k8s/cached-data-digest"]).not.toBe(
      cached.metadata?.annotations?.["moleculer-k8s/cached-data-digest"],
    );
    expect(cacheForm({ kind: "Secret", metadata: { name: "e" } } as never, secrets).metadata?.annotations).toEqual({
      "moleculer-k8s/cached-data-keys": "",
      "moleculer-k8s/cached-data-digest": secretDataDigest({}),
    });
  });
});
