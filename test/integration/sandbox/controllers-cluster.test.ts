/**
 * The sandbox's cluster controllers on a bare Store: Services get cluster IPs and Endpoints, claims bind to
 * provisioned volumes, namespaces terminate and cascade, ResourceQuota refuses and counts, LimitRange defaults.
 */
import { describe, it, expect, beforeEach, afterEach } from "@jest/globals";
import { Store } from "../../../lib/sandbox/store.ts";
import { startControllers, type Controllers } from "../../../lib/sandbox/controllers/index.ts";
import { computeUsed } from "../../../lib/sandbox/controllers/quota.ts";
import type { KubeObject } from "../../../lib/sandbox/types.ts";

let store: Store;
let controllers: Controllers;
/** What the controllers reported as failures: a test leaves none. */
let logs: string[] = [];
const NS = "team";

beforeEach(() => {
  logs = [];
  store = new Store();
  controllers = startControllers(store, { podReadyDelayMs: 20, jobDurationMs: 50, log: (line) => logs.push(line) });
  store.create("namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: NS } });
});
afterEach(() => {
  controllers.stop();
  expect(logs).toEqual([]);
});

async function waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 5000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

type Rec = Record<string, unknown>;
const get = (key: string, name: string, ns: string | undefined = NS): KubeObject | undefined =>
  store.get(key, ns, name);
const list = (key: string, ns: string = NS): KubeObject[] => store.list(key, { namespace: ns }).items;
const status = (o: KubeObject | undefined): Rec => (o?.status ?? {}) as Rec;
const spec = (o: KubeObject | undefined): Rec => (o?.spec ?? {}) as Rec;
const events = (reason: string, ns: string = NS): Rec[] =>
  (list("events", ns) as unknown as Rec[]).filter((e) => e.reason === reason);

function deployment(name: string, replicas: number, resources?: Rec): KubeObject {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace: NS },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [
            {
              name: "app",
              image: "php:8.3-fpm",
              ports: [{ name: "http", containerPort: 9000 }],
              ...(resources ? { resources } : {}),
            },
          ],
        },
      },
    },
  };
}

function readyPods(app: string): KubeObject[] {
  return store
    .list("pods", { namespace: NS, labelSelector: `app=${app}` })
    .items.filter((p) =>
      ((status(p).conditions ?? []) as Rec[]).some((c) => c.type === "Ready" && c.status === "True"),
    );
}

describe("sandbox service controller", () => {
  it("lists in each Service's Endpoints exactly the ready pods its selector selects, through relabels and selector changes", async () => {
    const service = (svcName: string, selector: Record<string, string>): KubeObject => ({
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: svcName, namespace: NS },
      spec: { selector, ports: [{ port: 80 }] },
    });
    const pod = (podName: string, labels: Record<string, string>): KubeObject => ({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: podName, namespace: NS, labels },
      spec: { containers: [{ name: "main", image: "nginx:1.27" }] },
    });
    store.create("services", service("web", { tier: "web" }));
    store.create("services", service("web-blue", { tier: "web", color: "blue" }));
    store.create("services", service("db", { tier: "db" }));
    store.create("pods", pod("p1", { tier: "web", color: "blue" }));
    store.create("pods", pod("p2", { tier: "web", color: "green" }));
    store.create("pods", pod("p3", { tier: "db" }));
    store.create("pods", pod("p4", { other: "x" }));

    /** Each service's ready pod names: what a scan of every pod with every selector gives. */
    const expected = (): Record<string, string[]> =>
      Object.fromEntries(
        list("services").map((svc) => {
          const selector = (spec(svc).selector ?? {}) as Record<string, string>;
          const selected = list("pods").filter(
            (p) =>
              Object.keys(selector).length > 0 &&
              Object.entries(selector).every(([k, v]) => p.metadata.labels?.[k] === v) &&
              ((status(p).conditions ?? []) as Rec[]).some((c) => c.type === "Ready" && c.status === "True"),
          );
          return [svc.metadata.name, selected.map((p) => p.metadata.name).sort()];
        }),
      );
    const listed = (): Record<string, string[]> =>
      Object.fromEntries(
        list("services").map((svc) => {
          const subsets = (get("endpoints", svc.metadata.name)?.subsets ?? []) as Rec[];
          const names = subsets.flatMap((sub) =>
            ((sub.addresses ?? []) as Rec[]).map((a) => String((a.targetRef as Rec).name)),
          );
          return [svc.metadata.name, names.sort()];
        }),
      );
    const endpointsMatch = (what: string, check: (e: Record<string, string[]>) => boolean) =>
      waitFor(what, () => {
        const want = expected();
        return check(want) && JSON.stringify(listed()) === JSON.stringify(want) ? want : undefined;
      });

    // "kubernetes" lives in the default namespace; these are this namespace's.
    await endpointsMatch("p1, p2 and p3 ready", (e) => e.web?.length === 2 && e.db?.length === 1);
    expect(expected()).toMatchObject({ web: ["p1", "p2"], "web-blue": ["p1"], db: ["p3"] });

    // p2 turns blue, p3 leaves the db tier for the web tier, p1 goes.
    const relabel = (podName: string, labels: Record<string, string>) => {
      const current = get("pods", podName) as KubeObject;
      store.update("pods", { ...current, metadata: { ...current.metadata, labels } });
    };
    relabel("p2", { tier: "web", color: "blue" });
    relabel("p3", { tier: "web" });
    store.delete("pods", NS, "p1");
    await endpointsMatch("after the relabels", (e) => e.db?.length === 0 && e.web?.length === 2);
    expect(expected()).toMatchObject({ web: ["p2", "p3"], "web-blue": ["p2"], db: [] });

    // A selector changed, and a new service for pods that exist already.
    const db = get("services", "db") as KubeObject;
    store.update("services", { ...db, spec: { ...spec(db), selector: { other: "x" } } });
    store.create("services", service("green", { color: "blue", tier: "web" }));
    await endpointsMatch("after the selector change", (e) => e.db?.length === 1 && e.green?.length === 1);
    expect(expected()).toMatchObject({ db: ["p4"], green: ["p2"] });
  });

  it("allocates a stable cluster IP at create time and keeps Endpoints in step with ready pods", async () => {
    const svc = store.create("services", {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "api", namespace: NS, labels: { app: "api" } },
      spec: { selector: { app: "api" }, ports: [{ name: "http", port: 80, targetPort: "http" }] },
    });
    const ip = String(spec(svc).clusterIP);
    expect(ip).toMatch(/^10\.(9[6-9]|10\d|11[01])\.\d+\.\d+$/);
    expect(spec(svc)).toMatchObject({
      clusterIPs: [ip],
      type: "ClusterIP",
      ipFamilies: ["IPv4"],
      sessionAffinity: "None",
    });
    const other = store.create("services", {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "api2", namespace: NS },
      spec: { selector: { app: "x" }, ports: [{ port: 80 }] },
    });
    expect(spec(other).clusterIP).not.toBe(ip);
    // A replace without clusterIP keeps it.
    const replaced = store.update("services", {
      ...svc,
      spec: { ...spec(svc), clusterIP: undefined, clusterIPs: undefined },
    });
    expect(spec(replaced).clusterIP).toBe(ip);

    store.create("deployments.apps", deployment("api", 2));
    const ep = await waitFor("two ready addresses", () => {
      const e = get("endpoints", "api");
      const subsets = (e?.subsets ?? []) as Rec[];
      return subsets.length === 1 && ((subsets[0]?.addresses ?? []) as Rec[]).length === 2 ? e : undefined;
    });
    const subset = (ep.subsets as Rec[])[0] as Rec;
    const pods = readyPods("api");
    expect((subset.addresses as Rec[]).map((a) => a.ip).sort()).toEqual(pods.map((p) => status(p).podIP).sort());
    expect((subset.addresses as Rec[])[0]).toMatchObject({
      nodeName: "sandbox-node-1",
      targetRef: { kind: "Pod", namespace: NS },
    });
    expect(subset.ports).toEqual([{ name: "http", port: 9000, protocol: "TCP" }]);
    expect(ep.metadata.labels).toEqual({ app: "api" });

    const d = get("deployments.apps", "api") as KubeObject;
    (d.spec as Rec).replicas = 0;
    store.update("deployments.apps", d);
    await waitFor("no addresses", () => get("endpoints", "api")?.subsets === undefined);
    store.delete("services", NS, "api");
    await waitFor("endpoints gone", () => get("endpoints", "api") === undefined);
  });

  it("refuses a cluster IP that is taken and gives NodePort services node ports", () => {
    const a = store.create("services", {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "a", namespace: NS },
      spec: { type: "NodePort", selector: { app: "a" }, ports: [{ port: 80 }] },
    });
    const nodePort = Number(((spec(a).ports as Rec[])[0] as Rec).nodePort);
    expect(nodePort).toBeGreaterThanOrEqual(30000);
    expect(nodePort).toBeLessThanOrEqual(32767);
    expect(() =>
      store.create("services", {
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: "b", namespace: NS },
        spec: { clusterIP: spec(a).clusterIP, ports: [{ port: 80 }] },
      }),
    ).toThrow(
      expect.objectContaining({
        status: expect.objectContaining({
          code: 422,
          message: expect.stringContaining("provided IP is already allocated"),
        }),
      }),
    );
  });

  it("has the kubernetes Service in the default namespace", async () => {
    const svc = await waitFor("kubernetes service", () => get("services", "kubernetes", "default"));
    expect(spec(svc).clusterIP).toBe("10.96.0.1");
  });
});

describe("sandbox ingress controller", () => {
  it("publishes the node address in an Ingress's status after a sync", async () => {
    store.create("ingresses.networking.k8s.io", {
      apiVersion: "networking.k8s.io/v1",
      kind: "Ingress",
      metadata: { name: "web", namespace: NS },
      spec: {
        ingressClassName: "nginx",
        rules: [
          {
            host: "web.team.example.com",
            http: {
              paths: [{ path: "/", pathType: "Prefix", backend: { service: { name: "web", port: { number: 80 } } } }],
            },
          },
        ],
      },
    });
    const ing = await waitFor("status", () => {
      const i = get("ingresses.networking.k8s.io", "web");
      return (status(i).loadBalancer as Rec | undefined)?.ingress ? i : undefined;
    });
    expect(status(ing)).toEqual({ loadBalancer: { ingress: [{ ip: "172.18.0.2" }] } });
    expect(events("Sync")[0]).toMatchObject({
      message: "Scheduled for sync",
      source: { component: "nginx-ingress-controller" },
    });
  });
});

describe("sandbox volume provisioning", () => {
  it("binds a claim to a new PersistentVolume sized from the request", async () => {
    store.create("persistentvolumeclaims", {
      apiVersion: "v1",
      kind: "PersistentVolumeClaim",
      metadata: { name: "data", namespace: NS },
      spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "2048Mi" } } },
    });
    const pvc = await waitFor("Bound", () => {
      const c = get("persistentvolumeclaims", "data");
      return status(c).phase === "Bound" ? c : undefined;
    });
    const pvName = `pvc-${pvc.metadata.uid}`;
    expect(spec(pvc)).toMatchObject({ volumeName: pvName, storageClassName: "standard" });
    expect(status(pvc)).toEqual({ phase: "Bound", accessModes: ["ReadWriteOnce"], capacity: { storage: "2Gi" } });
    const pv = store.get("persistentvolumes", undefined, pvName);
    expect(spec(pv)).toMatchObject({
      capacity: { storage: "2Gi" },
      storageClassName: "standard",
      persistentVolumeReclaimPolicy: "Delete",
      claimRef: { kind: "PersistentVolumeClaim", namespace: NS, name: "data", uid: pvc.metadata.uid },
    });
    expect(status(pv).phase).toBe("Bound");
    expect(events("ProvisioningSucceeded")[0]).toMatchObject({
      type: "Normal",
      message: `Successfully provisioned volume ${pvName}`,
    });
    store.delete("persistentvolumeclaims", NS, "data");
    await waitFor("volume deleted", () => store.get("persistentvolumes", undefined, pvName) === undefined);
  });

  it("grows a bound claim's volume, refuses shrinking, and counts growth against quota", async () => {
    store.create("resourcequotas", {
      apiVersion: "v1",
      kind: "ResourceQuota",
      metadata: { name: "storage", namespace: NS },
      spec: { hard: { "requests.storage": "3Gi" } },
    });
    store.create("persistentvolumeclaims", {
      apiVersion: "v1",
      kind: "PersistentVolumeClaim",
      metadata: { name: "data", namespace: NS },
      spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
    });
    const bound = await waitFor("Bound", () => {
      const c = get("persistentvolumeclaims", "data");
      return status(c).phase === "Bound" ? c : undefined;
    });
    const resize = (size: string): KubeObject => {
      const c = get("persistentvolumeclaims", "data") as KubeObject;
      return store.update("persistentvolumeclaims", {
        ...c,
        spec: { ...spec(c), resources: { requests: { storage: size } } },
      });
    };
    resize("2Gi");
    await waitFor(
      "capacity 2Gi",
      () => (status(get("persistentvolumeclaims", "data")).capacity as Rec | undefined)?.storage === "2Gi",
    );
    expect((spec(store.get("persistentvolumes", undefined, `pvc-${bound.metadata.uid}`)).capacity as Rec).storage).toBe(
      "2Gi",
    );
    expect(events("Resizing")[0]).toMatchObject({
      message: `External resizer is resizing volume pvc-${bound.metadata.uid}`,
    });
    expect(() => resize("1Gi")).toThrow(
      'PersistentVolumeClaim "data" is invalid: spec.resources.requests.storage: Forbidden: field can not be less than previous value',
    );
    expect(() => resize("4Gi")).toThrow(
      'persistentvolumeclaims "data" is forbidden: exceeded quota: storage, requested: requests.storage=2Gi, used: requests.storage=2Gi, limited: requests.storage=3Gi',
    );
  });

  it("leaves a claim of the sandbox-unavailable class Pending with a ProvisioningFailed warning", async () => {
    store.create("persistentvolumeclaims", {
      apiVersion: "v1",
      kind: "PersistentVolumeClaim",
      metadata: { name: "never", namespace: NS },
      spec: {
        storageClassName: "sandbox-unavailable",
        accessModes: ["ReadWriteOnce"],
        resources: { requests: { storage: "1Gi" } },
      },
    });
    const ev = await waitFor("ProvisioningFailed", () => events("ProvisioningFailed")[0]);
    expect(ev).toMatchObject({
      type: "Warning",
      message: 'storageclass.storage.k8s.io "sandbox-unavailable" not found',
    });
    expect(status(get("persistentvolumeclaims", "never")).phase).toBe("Pending");
    expect(store.list("persistentvolumes").items).toHaveLength(0);
  });
});

describe("sandbox events", () => {
  it("counts repeats and deletes events after the event TTL", async () => {
    const own = new Store();
    const c = startControllers(own, { podReadyDelayMs: 20, jobDurationMs: 50, eventTTLMs: 150 });
    try {
      own.create("persistentvolumeclaims", {
        apiVersion: "v1",
        kind: "PersistentVolumeClaim",
        metadata: { name: "never", namespace: "default" },
        spec: { storageClassName: "sandbox-unavailable", resources: { requests: { storage: "1Gi" } } },
      });
      await waitFor("an event", () => own.list("events", { namespace: "default" }).items.length > 0);
      const pvc = own.get("persistentvolumeclaims", "default", "never") as KubeObject;
      own.update("persistentvolumeclaims", {
        ...pvc,
        spec: { ...spec(pvc), resources: { requests: { storage: "2Gi" } } },
      });
      const repeated = await waitFor("count 2", () =>
        own.list("events", { namespace: "default" }).items.find((e) => (e as Rec).count === 2),
      );
      expect(repeated).toMatchObject({
        reason: "ProvisioningFailed",
        firstTimestamp: expect.any(String),
        lastTimestamp: expect.any(String),
      });
      await waitFor("events expired", () => own.list("events", { namespace: "default" }).items.length === 0, 3000);
    } finally {
      c.stop();
    }
  });
});

describe("sandbox claim limits", () => {
  it("refuses claims outside the namespace's PersistentVolumeClaim limits", () => {
    store.create("limitranges", {
      apiVersion: "v1",
      kind: "LimitRange",
      metadata: { name: "storage", namespace: NS },
      spec: { limits: [{ type: "PersistentVolumeClaim", min: { storage: "1Gi" }, max: { storage: "5Gi" } }] },
    });
    const claim = (name: string, size: string): KubeObject => ({
      apiVersion: "v1",
      kind: "PersistentVolumeClaim",
      metadata: { name, namespace: NS },
      spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: size } } },
    });
    expect(() => store.create("persistentvolumeclaims", claim("big", "10Gi"))).toThrow(
      'persistentvolumeclaims "big" is forbidden: maximum storage usage per PersistentVolumeClaim is 5Gi, but request is 10Gi',
    );
    expect(() => store.create("persistentvolumeclaims", claim("tiny", "100Mi"))).toThrow(
      "minimum storage usage per PersistentVolumeClaim is 1Gi, but request is 100Mi",
    );
    expect(store.create("persistentvolumeclaims", claim("ok", "2Gi")).metadata.name).toBe("ok");
  });
});

describe("sandbox pods and what they reference", () => {
  function pod(name: string, podSpec: Rec): KubeObject {
    return { apiVersion: "v1", kind: "Pod", metadata: { name, namespace: NS }, spec: podSpec };
  }
  const phase = (name: string): unknown => status(get("pods", name)).phase;
  const waiting = (name: string): Rec | undefined =>
    (((status(get("pods", name)).containerStatuses ?? []) as Rec[])[0]?.state as Rec | undefined)?.waiting as
      Rec | undefined;

  it("holds a container in CreateContainerConfigError until its ConfigMap and Secret exist", async () => {
    store.create(
      "pods",
      pod("env", {
        containers: [
          {
            name: "app",
            image: "node:22",
            envFrom: [{ configMapRef: { name: "settings" } }],
            env: [{ name: "PASSWORD", valueFrom: { secretKeyRef: { name: "creds", key: "password" } } }],
          },
        ],
      }),
    );
    await waitFor("config error", () => waiting("env")?.reason === "CreateContainerConfigError");
    expect(waiting("env")).toEqual({ reason: "CreateContainerConfigError", message: 'configmap "settings" not found' });
    expect(events("Failed").map((e) => e.message)).toContain('Error: configmap "settings" not found');
    store.create("configmaps", {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "settings", namespace: NS },
      data: { A: "1" },
    });
    await waitFor("secret error", () => waiting("env")?.message === 'secret "creds" not found');
    store.create("secrets", {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "creds", namespace: NS },
      data: { user: "YQ==" },
    });
    await waitFor("key error", () => waiting("env")?.message === `couldn't find key password in Secret ${NS}/creds`);
    const secret = get("secrets", "creds") as KubeObject;
    store.update("secrets", { ...secret, data: { user: "YQ==", password: "cA==" } });
    await waitFor("Running", () => phase("env") === "Running");
  });

  it("keeps a pod ContainerCreating with FailedMount until its ConfigMap volume exists", async () => {
    store.create(
      "pods",
      pod("mounted", {
        containers: [{ name: "web", image: "nginx" }],
        volumes: [{ name: "conf", configMap: { name: "nginx-conf" } }],
      }),
    );
    const ev = await waitFor("FailedMount", () => events("FailedMount")[0]);
    expect(ev).toMatchObject({
      type: "Warning",
      message: 'MountVolume.SetUp failed for volume "conf" : configmap "nginx-conf" not found',
    });
    expect(waiting("mounted")?.reason).toBe("ContainerCreating");
    store.create("configmaps", {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "nginx-conf", namespace: NS },
      data: {},
    });
    await waitFor("Running", () => phase("mounted") === "Running");
  });

  it("does not schedule a pod until its claims are bound", async () => {
    store.create(
      "pods",
      pod("db", {
        containers: [{ name: "pg", image: "postgres:17" }],
        volumes: [{ name: "data", persistentVolumeClaim: { claimName: "pgdata" } }],
      }),
    );
    const missing = await waitFor("FailedScheduling", () => events("FailedScheduling")[0]);
    expect(missing.message).toBe(
      '0/1 nodes are available: persistentvolumeclaim "pgdata" not found. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.',
    );
    store.create("persistentvolumeclaims", {
      apiVersion: "v1",
      kind: "PersistentVolumeClaim",
      metadata: { name: "pgdata", namespace: NS },
      spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
    });
    await waitFor("Running", () => phase("db") === "Running");
    expect(spec(get("pods", "db")).nodeName).toBe("sandbox-node-1");
  });

  it("leaves a pod Pending while its claim cannot be provisioned", async () => {
    store.create("persistentvolumeclaims", {
      apiVersion: "v1",
      kind: "PersistentVolumeClaim",
      metadata: { name: "stuck", namespace: NS },
      spec: {
        storageClassName: "sandbox-unavailable",
        accessModes: ["ReadWriteOnce"],
        resources: { requests: { storage: "1Gi" } },
      },
    });
    store.create(
      "pods",
      pod("waits", {
        containers: [{ name: "c", image: "nginx" }],
        volumes: [{ name: "d", persistentVolumeClaim: { claimName: "stuck" } }],
      }),
    );
    const ev = await waitFor("FailedScheduling", () => events("FailedScheduling")[0]);
    expect(ev.message).toBe(
      "0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.",
    );
    expect(phase("waits")).toBe("Pending");
  });
});

describe("sandbox namespace controller", () => {
  it("gives a new namespace its default ServiceAccount and kube-root-ca.crt", async () => {
    await waitFor("defaults", () => get("serviceaccounts", "default") && get("configmaps", "kube-root-ca.crt"));
    expect(String((get("configmaps", "kube-root-ca.crt")?.data as Rec)["ca.crt"])).toMatch(
      /^-----BEGIN CERTIFICATE-----/,
    );
  });

  it("deletes everything in a terminating namespace, then the namespace", async () => {
    store.create("deployments.apps", deployment("api", 2));
    store.create("persistentvolumeclaims", {
      apiVersion: "v1",
      kind: "PersistentVolumeClaim",
      metadata: { name: "data", namespace: NS },
      spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
    });
    await waitFor("pods ready", () => readyPods("api").length === 2);
    await waitFor("bound", () => status(get("persistentvolumeclaims", "data")).phase === "Bound");
    store.delete("namespaces", undefined, NS);
    expect(status(store.get("namespaces", undefined, NS)).phase).toBe("Terminating");
    await waitFor("namespace gone", () => store.get("namespaces", undefined, NS) === undefined);
    for (const key of [
      "pods",
      "replicasets.apps",
      "deployments.apps",
      "persistentvolumeclaims",
      "events",
      "configmaps",
    ]) {
      expect(store.list(key, { namespace: NS }).items).toHaveLength(0);
    }
    await waitFor("volume deleted", () => store.list("persistentvolumes").items.length === 0);
  });
});

describe("sandbox resource quota", () => {
  function quota(hard: Record<string, string>): void {
    store.create("resourcequotas", {
      apiVersion: "v1",
      kind: "ResourceQuota",
      metadata: { name: "compute", namespace: NS },
      spec: { hard },
    });
  }

  it("refuses pods over quota with the apiserver's message, records FailedCreate, and creates them once quota allows", async () => {
    quota({ pods: "2", "requests.cpu": "1" });
    store.create("deployments.apps", deployment("api", 3, { requests: { cpu: "100m" } }));
    const ev = await waitFor("FailedCreate", () => events("FailedCreate")[0]);
    expect(ev).toMatchObject({
      type: "Warning",
      source: { component: "replicaset-controller" },
      message: expect.stringMatching(
        /^Error creating: pods "api-\w+-\w{5}" is forbidden: exceeded quota: compute, requested: pods=1, used: pods=2, limited: pods=2$/,
      ),
    });
    await waitFor("quota status", () => {
      const s = status(get("resourcequotas", "compute"));
      return JSON.stringify(s.used) === JSON.stringify({ pods: "2", "requests.cpu": "200m" }) ? s : undefined;
    });
    expect(status(get("resourcequotas", "compute")).hard).toEqual({ pods: "2", "requests.cpu": "1" });
    const d = await waitFor("ReplicaFailure", () => {
      const x = get("deployments.apps", "api");
      return ((status(x).conditions ?? []) as Rec[]).find((c) => c.type === "ReplicaFailure");
    });
    expect(d).toMatchObject({ status: "True", reason: "FailedCreate" });

    const q = get("resourcequotas", "compute") as KubeObject;
    (q.spec as Rec).hard = { pods: "5", "requests.cpu": "1" };
    store.update("resourcequotas", q);
    await waitFor("three ready pods", () => readyPods("api").length === 3);
    await waitFor("ReplicaFailure cleared", () =>
      ((status(get("deployments.apps", "api")).conditions ?? []) as Rec[]).every((c) => c.type !== "ReplicaFailure"),
    );
  });

  it("refuses containers that do not declare what the quota limits", () => {
    quota({ "limits.memory": "1Gi" });
    expect(() =>
      store.create("pods", {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "naked", namespace: NS },
        spec: { containers: [{ name: "nginx", image: "nginx" }] },
      }),
    ).toThrow(
      expect.objectContaining({
        status: expect.objectContaining({
          code: 403,
          reason: "Forbidden",
          message: 'pods "naked" is forbidden: failed quota: compute: must specify limits.memory for: nginx',
        }),
      }),
    );
  });

  it("counts claims, storage and object counts", async () => {
    quota({ persistentvolumeclaims: "1", "requests.storage": "5Gi", "count/deployments.apps": "1" });
    const claim = (name: string, size: string): KubeObject => ({
      apiVersion: "v1",
      kind: "PersistentVolumeClaim",
      metadata: { name, namespace: NS },
      spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: size } } },
    });
    expect(() => store.create("persistentvolumeclaims", claim("big", "10Gi"))).toThrow(
      'persistentvolumeclaims "big" is forbidden: exceeded quota: compute, requested: requests.storage=10Gi, used: requests.storage=0, limited: requests.storage=5Gi',
    );
    store.create("persistentvolumeclaims", claim("small", "2Gi"));
    expect(() => store.create("persistentvolumeclaims", claim("second", "1Gi"))).toThrow(
      "exceeded quota: compute, requested: persistentvolumeclaims=1, used: persistentvolumeclaims=1, limited: persistentvolumeclaims=1",
    );
    store.create("deployments.apps", deployment("one", 0));
    expect(() => store.create("deployments.apps", deployment("two", 0))).toThrow(
      'deployments.apps "two" is forbidden: exceeded quota: compute, requested: count/deployments.apps=1, used: count/deployments.apps=1, limited: count/deployments.apps=1',
    );
    await waitFor("used", () => {
      const used = status(get("resourcequotas", "compute")).used as Rec | undefined;
      return (
        used?.["requests.storage"] === "2Gi" &&
        used["count/deployments.apps"] === "1" &&
        used.persistentvolumeclaims === "1"
      );
    });
  });
});

describe("sandbox resource quota usage, kept from the store's events", () => {
  const hard = {
    pods: "20",
    "requests.cpu": "10",
    "requests.memory": "8Gi",
    "limits.memory": "16Gi",
    "count/configmaps": "5",
    services: "5",
  };
  const resources = { requests: { cpu: "250m", memory: "128Mi" }, limits: { memory: "256Mi" } };
  const createQuota = (): void => {
    store.create("resourcequotas", {
      apiVersion: "v1",
      kind: "ResourceQuota",
      metadata: { name: "compute", namespace: NS },
      spec: { hard },
    });
  };
  /** status.used summed over every stored object now, as the quota controller once did on each change. */
  const summedNow = (): Record<string, string> => computeUsed(hard, (r) => store.list(r, { namespace: NS }).items);
  const usedIsSum = (what: string): Promise<unknown> =>
    waitFor(what, () => {
      const used = status(get("resourcequotas", "compute")).used;
      return JSON.stringify(used) === JSON.stringify(summedNow()) ? used : undefined;
    });
  const configMap = (name: string): KubeObject => ({
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name, namespace: NS },
    data: {},
  });
  const job: KubeObject = {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { name: "once", namespace: NS },
    spec: {
      template: { spec: { restartPolicy: "Never", containers: [{ name: "main", image: "busybox:1.36", resources }] } },
    },
  };

  it("matches a sum over the stored objects through creates, scaling, deletes, finished pods and a quota made again", async () => {
    createQuota();
    store.create("deployments.apps", deployment("api", 3, resources));
    store.create("configmaps", configMap("a"));
    store.create("configmaps", configMap("b"));
    store.create("services", {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "api", namespace: NS },
      spec: { selector: { app: "api" }, ports: [{ port: 80 }] },
    });
    await waitFor("three ready pods", () => readyPods("api").length === 3);
    const three = (await usedIsSum("used after the creates")) as Record<string, string>;
    expect(three).toMatchObject({ pods: "3", "requests.cpu": "750m", "requests.memory": "384Mi", services: "1" });
    // a and b, and the namespace's kube-root-ca.crt
    expect(three["count/configmaps"]).toBe("3");

    // Scaled down, a config map removed, a Job's pod run to completion (a finished pod uses nothing).
    const scaleApi = (replicas: number): void => {
      const api = get("deployments.apps", "api") as KubeObject;
      store.update("deployments.apps", { ...api, spec: { ...spec(api), replicas } });
    };
    scaleApi(1);
    store.delete("configmaps", NS, "a");
    store.create("jobs.batch", job);
    await waitFor("the Job complete", () =>
      ((status(get("jobs.batch", "once")).conditions ?? []) as Rec[]).some((c) => c.type === "Complete"),
    );
    await waitFor("one pod of api", () => list("pods").filter((p) => p.metadata.name.startsWith("api-")).length === 1);
    const one = (await usedIsSum("used after scaling down")) as Record<string, string>;
    expect(one).toMatchObject({ pods: "1", "requests.cpu": "250m", "count/configmaps": "2" });

    // The count freed by the delete is admitted again; the limit still holds.
    store.create("configmaps", configMap("c"));
    store.create("configmaps", configMap("d"));
    store.create("configmaps", configMap("e"));
    expect(() => store.create("configmaps", configMap("f"))).toThrow(
      "exceeded quota: compute, requested: count/configmaps=1, used: count/configmaps=5, limited: count/configmaps=5",
    );

    // Without a quota nothing is counted; a new one starts from what is stored then.
    store.delete("resourcequotas", NS, "compute");
    scaleApi(2);
    store.delete("configmaps", NS, "c");
    await waitFor("two ready pods", () => readyPods("api").length === 2);
    createQuota();
    const again = (await usedIsSum("used of the new quota")) as Record<string, string>;
    expect(again).toMatchObject({ pods: "2", "requests.cpu": "500m", "count/configmaps": "4" });
  });
});

describe("sandbox limit ranges", () => {
  it("applies default requests and limits to containers without them, before quota is checked", async () => {
    store.create("limitranges", {
      apiVersion: "v1",
      kind: "LimitRange",
      metadata: { name: "defaults", namespace: NS },
      spec: {
        limits: [
          {
            type: "Container",
            default: { cpu: "500m", memory: "256Mi" },
            defaultRequest: { cpu: "250m", memory: "128Mi" },
          },
        ],
      },
    });
    store.create("resourcequotas", {
      apiVersion: "v1",
      kind: "ResourceQuota",
      metadata: { name: "mem", namespace: NS },
      spec: { hard: { "limits.memory": "1Gi", "requests.cpu": "2" } },
    });
    const pod = store.create("pods", {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "web", namespace: NS },
      spec: { containers: [{ name: "nginx", image: "nginx" }] },
    });
    expect(((spec(pod).containers as Rec[])[0] as Rec).resources).toEqual({
      limits: { cpu: "500m", memory: "256Mi" },
      requests: { cpu: "250m", memory: "128Mi" },
    });
    expect(pod.metadata.annotations?.["kubernetes.io/limit-ranger"]).toBe(
      "LimitRanger plugin set: cpu, memory request for container nginx; cpu, memory limit for container nginx",
    );
    const running = await waitFor("Running", () => {
      const p = get("pods", "web");
      return status(p).phase === "Running" ? p : undefined;
    });
    expect(status(running).qosClass).toBe("Burstable");
  });
});
