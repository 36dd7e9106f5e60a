/**
 * deploy/'s ClusterRole is enough, and no more: against the sandbox (which authorizes as kube-apiserver does),
 * apply deploy/00-namespace.yaml and 10-rbac.yaml with kubectl, mint a token for the moleculer-k8s ServiceAccount
 * with the TokenRequest API, and run v1.kube with a kubeconfig holding only that token. Every v1.kube action the
 * suite uses (apply of every kind the suite renders, get, list from the cache and from the API, delete, logs and
 * follow, top, events, status, readiness with its informers), then the reference example through the domain
 * services, run without a single 403 in the sandbox's audit log, and every permission of the role is used. A call
 * outside the role is refused (403, which v1.kube reports as its own RBAC failure: 500 K8S_FORBIDDEN).
 */
import { describe, it, expect, beforeAll, afterAll } from "@jest/globals";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { ServiceBroker, type ServiceSchema } from "moleculer";
import { parse, stringify } from "yaml";
import type { KubernetesObject } from "@kubernetes/client-node";
import { startSandbox, type AuditEntry, type Sandbox } from "../../../lib/sandbox/index.ts";
import { permissionTriples, SUITE_PERMISSIONS } from "../../../lib/kube/permissions.ts";
import type { DeploymentEntity, NamespaceEntity } from "../../../lib/entities.ts";
import kubeService from "../../../services/kube.service.ts";
import namespacesService from "../../../services/namespaces.service.ts";
import imagesService from "../../../services/images.service.ts";
import volumesService from "../../../services/volumes.service.ts";
import envsService from "../../../services/envs.service.ts";
import deploymentsService from "../../../services/deployments.service.ts";
import exampleService, { type ReferenceExampleResult } from "../../../examples/reference-example.service.ts";
import { kubectlOk, type KubectlOptions } from "../../helpers/kubectl.ts";

const DEPLOY = fileURLToPath(new URL("../../../deploy/", import.meta.url));
const IMAGES_DIR = fileURLToPath(new URL("../../../images/", import.meta.url));
const SA_USER = "system:serviceaccount:moleculer-k8s:moleculer-k8s";
const NS = "rbac-cov";
const MANAGED = { "app.kubernetes.io/managed-by": "moleculer-k8s", "app.kubernetes.io/name": "web" };
const SELECTOR = { "app.kubernetes.io/instance": "rbac-web" };
const LABELS = { ...MANAGED, ...SELECTOR };

type Params = Record<string, unknown>;
/** A manifest: apiVersion, kind, metadata and whatever its kind has. */
type Manifest = KubernetesObject & Record<string, unknown>;

let sandbox: Sandbox;
let dir: string;
let opts: KubectlOptions;
let token: string;
let broker: ServiceBroker;
let pod: string;

/** One object of every kind the suite renders and applies (as lib/manifests and images.build produce them). */
function objects(): Manifest[] {
  const meta = (name: string) => ({ name, namespace: NS, labels: LABELS });
  const podSpec = (image: string) => ({ containers: [{ name: "main", image, ports: [{ containerPort: 80 }] }] });
  return [
    { apiVersion: "v1", kind: "Namespace", metadata: { name: NS, labels: MANAGED } },
    { apiVersion: "v1", kind: "ResourceQuota", metadata: meta("quota"), spec: { hard: { pods: "20" } } },
    {
      apiVersion: "v1",
      kind: "LimitRange",
      metadata: meta("limits"),
      spec: { limits: [{ type: "Container", default: { cpu: "500m", memory: "256Mi" } }] },
    },
    {
      apiVersion: "v1",
      kind: "PersistentVolumeClaim",
      metadata: meta("data"),
      spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
    },
    { apiVersion: "v1", kind: "ConfigMap", metadata: meta("web-env"), data: { MODE: "test" } },
    { apiVersion: "v1", kind: "Secret", metadata: meta("web-env"), stringData: { TOKEN: "s3cret" } },
    {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: meta("web"),
      spec: {
        replicas: 1,
        selector: { matchLabels: SELECTOR },
        template: { metadata: { labels: LABELS }, spec: podSpec("nginx:1.27") },
      },
    },
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: meta("web-service"),
      spec: { selector: SELECTOR, ports: [{ port: 80, targetPort: 80 }] },
    },
    {
      apiVersion: "networking.k8s.io/v1",
      kind: "Ingress",
      metadata: meta("web-ingress"),
      spec: {
        rules: [
          {
            host: "web.rbac-cov.example.com",
            http: {
              paths: [
                {
                  path: "/",
                  pathType: "Prefix",
                  backend: { service: { name: "web-service", port: { number: 80 } } },
                },
              ],
            },
          },
        ],
      },
    },
    {
      apiVersion: "batch/v1",
      kind: "Job",
      metadata: meta("web-build-1"),
      spec: {
        backoffLimit: 0,
        template: {
          metadata: { labels: MANAGED },
          spec: { ...podSpec("gcr.io/kaniko-project/executor:v1.23.2"), restartPolicy: "Never" },
        },
      },
    },
  ];
}

async function waitUntil<T>(check: () => Promise<T | undefined | false>, what: string, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The audit entries of the suite's ServiceAccount. */
const mine = (): AuditEntry[] => sandbox.auditLog().filter((e) => e.user === SA_USER);

beforeAll(async () => {
  sandbox = await startSandbox({ port: 0, podReadyDelayMs: 20, jobDurationMs: 100, auditLogSize: 100_000 });
  dir = await mkdtemp(join(tmpdir(), "rbac-coverage-"));
  const kubeconfig = join(dir, "admin.kubeconfig");
  await sandbox.writeKubeconfig(kubeconfig);
  opts = { kubeconfig, cacheDir: join(dir, "cache") };
  await kubectlOk(
    ["apply", "--server-side", "-f", join(DEPLOY, "00-namespace.yaml"), "-f", join(DEPLOY, "10-rbac.yaml")],
    opts,
  );
  // the TokenRequest API, as the kubelet (or `kubectl create token`) asks it
  const res = await fetch(`${sandbox.url}/api/v1/namespaces/moleculer-k8s/serviceaccounts/moleculer-k8s/token`, {
    method: "POST",
    headers: { authorization: `Bearer ${sandbox.token}`, "content-type": "application/json" },
    body: JSON.stringify({
      apiVersion: "authentication.k8s.io/v1",
      kind: "TokenRequest",
      spec: { expirationSeconds: 3600 },
    }),
  });
  expect(res.status).toBe(201);
  token = ((await res.json()) as { status: { token: string } }).status.token;
  const restricted = parse(sandbox.kubeconfig()) as { users: { user: { token: string } }[] };
  for (const u of restricted.users) u.user.token = token;

  broker = new ServiceBroker({ logger: false, nodeID: `rbac-coverage-${process.pid}` });
  const memory = { db: { memory: true } };
  const add = (schema: ServiceSchema, extra: Record<string, unknown>) =>
    broker.createService({ ...schema, settings: { ...schema.settings, ...extra } });
  add(kubeService as unknown as ServiceSchema, { kubeconfig: stringify(restricted) });
  add(namespacesService as unknown as ServiceSchema, memory);
  add(imagesService as unknown as ServiceSchema, { ...memory, imagesDir: IMAGES_DIR });
  add(volumesService as unknown as ServiceSchema, memory);
  add(envsService as unknown as ServiceSchema, memory);
  add(deploymentsService as unknown as ServiceSchema, {
    ...memory,
    statusDebounceMs: 20,
    reconciler: { initialBackoffMs: 100, maxBackoffMs: 500, initialResyncDelayMs: -1 },
  });
  broker.createService(exampleService);
  await broker.start();
}, 30_000);

afterAll(async () => {
  await broker?.stop();
  await sandbox?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe("v1.kube with the deploy/ ServiceAccount's token", () => {
  it("is ready: its informers list and watch every kind in all namespaces", async () => {
    await waitUntil(
      () =>
        broker.call("v1.kube.readiness").then(
          () => true,
          () => false,
        ),
      "v1.kube ready with the restricted token",
    );
    const status = await broker.call<{ reachable: boolean; synced: boolean; version: string }>("v1.kube.status");
    expect(status).toMatchObject({ reachable: true, synced: true, version: "v1.33.0-sandbox" });
    expect(mine().some((e) => e.verb === "watch" && e.resource === "deployments" && e.namespace === "")).toBe(true);
  });

  it("applies every kind the suite renders (creating, then changing) and reads each back", async () => {
    const created = await broker.call<{ objects: KubernetesObject[] }, Params>("v1.kube.apply", {
      objects: objects(),
      fieldManager: "k8s.rbac-coverage",
    });
    expect(created.objects.map((o) => o.kind)).toEqual([
      "Namespace",
      "ResourceQuota",
      "LimitRange",
      "PersistentVolumeClaim",
      "ConfigMap",
      "Secret",
      "Deployment",
      "Service",
      "Ingress",
      "Job",
    ]);
    const changed = objects().map((o) => (o.kind === "ConfigMap" ? { ...o, data: { MODE: "changed" } } : o));
    await broker.call("v1.kube.apply", { objects: changed, fieldManager: "k8s.rbac-coverage" });
    for (const o of objects()) {
      const got = await broker.call<KubernetesObject, Params>("v1.kube.get", {
        apiVersion: o.apiVersion,
        kind: o.kind,
        name: o.metadata?.name,
        ...(o.kind === "Namespace" ? {} : { namespace: NS }),
      });
      expect([got.kind, got.metadata?.name]).toEqual([o.kind, o.metadata?.name]);
    }
    expect(sandbox.store.get("configmaps", NS, "web-env")?.data).toEqual({ MODE: "changed" });
  });

  it("lists from the watch cache and from the API, in a namespace and in all", async () => {
    pod = await waitUntil(async () => {
      const r = await broker.call<{ items: (KubernetesObject & { status?: { phase?: string } })[] }, Params>(
        "v1.kube.list",
        { apiVersion: "v1", kind: "Pod", namespace: NS, labelSelector: "app.kubernetes.io/instance=rbac-web" },
      );
      return r.items.find((p) => p.status?.phase === "Running")?.metadata?.name;
    }, "a running pod of the Deployment");
    const kinds = [
      ["v1", "Namespace"],
      ["v1", "ResourceQuota"],
      ["v1", "LimitRange"],
      ["v1", "PersistentVolumeClaim"],
      ["v1", "ConfigMap"],
      ["v1", "Secret"],
      ["v1", "Service"],
      ["v1", "Pod"],
      ["apps/v1", "Deployment"],
      ["apps/v1", "ReplicaSet"],
      ["networking.k8s.io/v1", "Ingress"],
      ["batch/v1", "Job"],
    ] as const;
    for (const [apiVersion, kind] of kinds) {
      const cached = await broker.call<{ cached: boolean; items: unknown[] }, Params>("v1.kube.list", {
        apiVersion,
        kind,
        labelSelector: "app.kubernetes.io/managed-by=moleculer-k8s",
      });
      expect([kind, cached.cached, cached.items.length > 0]).toEqual([kind, true, true]);
      const live = await broker.call<{ cached: boolean }, Params>("v1.kube.list", {
        apiVersion,
        kind,
        labelSelector: "app.kubernetes.io/name=web",
      });
      expect([kind, live.cached]).toEqual([kind, false]);
    }
    const byField = await broker.call<{ items: KubernetesObject[] }, Params>("v1.kube.list", {
      apiVersion: "v1",
      kind: "Pod",
      namespace: NS,
      fieldSelector: `metadata.name=${pod}`,
    });
    expect(byField.items.map((p) => p.metadata?.name)).toEqual([pod]);
    // volumes ask for the StorageClasses: allowed; the sandbox does not serve them (404, not 403)
    await expect(
      broker.call("v1.kube.list", { apiVersion: "storage.k8s.io/v1", kind: "StorageClass" }),
    ).rejects.toMatchObject({ code: 404 });
  });

  it("reads logs (text and followed), metrics and events", async () => {
    const text = await broker.call<string, Params>("v1.kube.logs", { namespace: NS, pod, tailLines: 5 });
    expect(text.length).toBeGreaterThan(0);
    for (const container of [undefined, "main"]) {
      const stream = await broker.call<Readable, Params>("v1.kube.logs", {
        namespace: NS,
        pod,
        follow: true,
        ...(container === undefined ? {} : { container }),
      });
      const first = await new Promise<string>((resolve, reject) => {
        stream.once("data", (chunk: Buffer) => resolve(chunk.toString("utf8")));
        stream.once("error", reject);
      });
      expect(first.length).toBeGreaterThan(0);
      stream.destroy();
      await new Promise((r) => stream.once("close", r));
    }
    const top = await broker.call<{ pods: { name: string }[] }, Params>("v1.kube.top", { namespace: NS });
    expect(top.pods.map((p) => p.name)).toContain(pod);
    const events = await broker.call<{ items: { involvedObject: { name: string } }[] }, Params>("v1.kube.events", {
      namespace: NS,
      kind: "Pod",
      name: pod,
    });
    expect(events.items.length).toBeGreaterThan(0);
  });

  it("deletes every kind it applied", async () => {
    for (const o of objects().reverse()) {
      const deleted = await broker.call<{ deleted: boolean }, Params>("v1.kube.delete", {
        apiVersion: o.apiVersion,
        kind: o.kind,
        name: o.metadata?.name,
        ...(o.kind === "Namespace" ? {} : { namespace: NS }),
        ...(o.kind === "Job" ? { propagationPolicy: "Background" } : {}),
      });
      expect([o.kind, deleted.deleted]).toEqual([o.kind, true]);
    }
    await waitUntil(async () => sandbox.store.get("namespaces", undefined, NS) === undefined, "namespace gone");
  });
});

describe("the domain services with the deploy/ ServiceAccount's token", () => {
  it("run the reference example and take it down again", async () => {
    const ns = await broker.call<NamespaceEntity, Params>("v1.k8s.namespaces.create", {
      name: "team-a",
      owner: "alice",
    });
    const result = await broker.call<ReferenceExampleResult, Params>("examples.reference.run", { namespace: "team-a" });
    for (const id of [result.php.id, result.nginx.id]) {
      await waitUntil(async () => {
        const d = await broker.call<DeploymentEntity, Params>("v1.k8s.deployments.get", { id });
        return d.status.phase === "Available";
      }, `deployment ${id} Available`);
    }
    expect(sandbox.store.get("persistentvolumeclaims", "team-a", result.sharedVolume.name)).toBeDefined();
    expect(sandbox.store.get("ingresses.networking.k8s.io", "team-a", "my-app-nginx-ingress")).toBeDefined();
    await broker.call("examples.reference.remove", { namespace: "team-a" });
    await broker.call("v1.k8s.namespaces.remove", { id: ns.id });
    await waitUntil(async () => sandbox.store.get("namespaces", undefined, "team-a") === undefined, "team-a gone");
  }, 30_000);
});

describe("the deploy/ ClusterRole", () => {
  it("was never short: no request of the ServiceAccount was refused, and each of its permissions was used", () => {
    const entries = mine();
    expect(entries.length).toBeGreaterThan(100);
    expect(entries.filter((e) => e.code === 401 || e.code === 403)).toEqual([]);
    const used = new Set<string>();
    for (const e of entries) {
      if (!e.resourceRequest) continue;
      const resource = e.subresource === "" ? e.resource : `${e.resource}/${e.subresource}`;
      used.add(`${e.apiGroup}\t${resource}\t${e.verb}`);
      // a server-side apply that created its object (201) was also authorized as create
      if (e.verb === "patch" && e.code === 201) used.add(`${e.apiGroup}\t${resource}\tcreate`);
    }
    // client-node asks discovery first, and the sandbox does not serve storage.k8s.io (volumes then skip their storage
    // class check): that one permission is checked with a SelfSubjectAccessReview instead of by use
    expect(permissionTriples(SUITE_PERMISSIONS).filter((t) => !used.has(t))).toEqual([
      "storage.k8s.io\tstorageclasses\tlist",
    ]);
  });

  it("allows listing StorageClasses (a SelfSubjectAccessReview, what kubectl auth can-i sends)", async () => {
    const ask = async (resource: string): Promise<boolean> => {
      const res = await fetch(`${sandbox.url}/apis/authorization.k8s.io/v1/selfsubjectaccessreviews`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({
          kind: "SelfSubjectAccessReview",
          apiVersion: "authorization.k8s.io/v1",
          spec: { resourceAttributes: { group: "storage.k8s.io", resource, verb: "list" } },
        }),
      });
      return ((await res.json()) as { status: { allowed: boolean } }).status.allowed;
    };
    expect(await ask("storageclasses")).toBe(true);
    expect(await ask("csidrivers")).toBe(false);
  });

  it("is what the API server reports for the ServiceAccount (SelfSubjectRulesReview)", async () => {
    const res = await fetch(`${sandbox.url}/apis/authorization.k8s.io/v1/selfsubjectrulesreviews`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({
        kind: "SelfSubjectRulesReview",
        apiVersion: "authorization.k8s.io/v1",
        spec: { namespace: "x" },
      }),
    });
    const review = (await res.json()) as {
      status: { resourceRules: { apiGroups: string[]; resources: string[]; verbs: string[] }[] };
    };
    const granted = review.status.resourceRules.flatMap((r) =>
      r.apiGroups.flatMap((g) => r.resources.map((resource) => ({ apiGroup: g, resource, verbs: r.verbs }))),
    );
    const selfReviews = (t: string) => t.includes("selfsubject");
    expect(permissionTriples(granted).filter((t) => !selfReviews(t))).toEqual(permissionTriples(SUITE_PERMISSIONS));
  });

  it("refuses what the suite does not need, and v1.kube reports it as its own RBAC failure", async () => {
    const rbacFailure = { code: 500, type: "K8S_FORBIDDEN" };
    const nodes = broker.call("v1.kube.list", { apiVersion: "v1", kind: "Node" });
    await expect(nodes).rejects.toMatchObject(rbacFailure);
    await expect(nodes).rejects.toMatchObject({
      message: expect.stringContaining(
        `User "${SA_USER}" cannot list resource "nodes" in API group "" at the cluster scope`,
      ),
    });
    await expect(
      broker.call("v1.kube.delete", {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRole",
        name: "moleculer-k8s",
      }),
    ).rejects.toMatchObject(rbacFailure);
    const escalate = broker.call("v1.kube.apply", {
      objects: [
        {
          apiVersion: "rbac.authorization.k8s.io/v1",
          kind: "ClusterRoleBinding",
          metadata: { name: "take-over" },
          roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "cluster-admin" },
          subjects: [{ kind: "ServiceAccount", name: "moleculer-k8s", namespace: "moleculer-k8s" }],
        },
      ],
      fieldManager: "k8s.rbac-coverage",
    });
    await expect(escalate).rejects.toMatchObject(rbacFailure);
    expect(sandbox.store.get("clusterroles.rbac.authorization.k8s.io", undefined, "moleculer-k8s")).toBeDefined();
    expect(sandbox.store.get("clusterrolebindings.rbac.authorization.k8s.io", undefined, "take-over")).toBeUndefined();
    const refused = mine().filter((e) => e.code === 403);
    expect(refused.map((e) => `${e.verb} ${e.apiGroup}/${e.resource}`)).toEqual([
      "list /nodes",
      "delete rbac.authorization.k8s.io/clusterroles",
      "patch rbac.authorization.k8s.io/clusterrolebindings",
    ]);
  });
});
