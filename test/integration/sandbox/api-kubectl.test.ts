/**
 * The sandbox's API server driven by the real kubectl (/usr/bin/kubectl), as a person would drive it.
 */
import { describe, it, expect, beforeAll, afterAll } from "@jest/globals";
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startSandbox, kubeconfigYAML, type Sandbox } from "../../../lib/sandbox/index.ts";

let sandbox: Sandbox;
let dir: string;
let kubeconfig: string;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function kubectl(args: string[], config = kubeconfig, stdin?: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      "/usr/bin/kubectl",
      ["--kubeconfig", config, "--cache-dir", join(dir, "cache"), ...args],
      { timeout: 20000, env: { ...process.env, KUBECONFIG: "" } },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === "number" ? err.code : 1;
        resolve({ code, stdout, stderr });
      },
    );
    if (stdin !== undefined) child.stdin?.end(stdin);
  });
}

async function ok(args: string[], stdin?: string): Promise<string> {
  const run = await kubectl(args, kubeconfig, stdin);
  if (run.code !== 0) throw new Error(`kubectl ${args.join(" ")} failed (${run.code}): ${run.stderr}`);
  return run.stdout;
}

const NS = "shop";
const MANIFESTS = `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: ${NS}
  labels: {app: web, tier: front}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: nginx
          image: nginx:1.27
          ports: [{containerPort: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: web-service, namespace: ${NS}, labels: {app: web}}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 80}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: web-conf, namespace: ${NS}, labels: {app: web}}
data: {default.conf: "server { listen 80; }"}
---
apiVersion: v1
kind: Secret
metadata: {name: web-secret, namespace: ${NS}, labels: {app: web}}
stringData: {PASSWORD: hunter2}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: web-data, namespace: ${NS}}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: ${NS}}
spec:
  rules:
    - host: web.shop.example.com
      http:
        paths:
          - path: /
            pathType: Prefix
            backend: {service: {name: web-service, port: {number: 80}}}
`;

beforeAll(async () => {
  sandbox = await startSandbox({ port: 0, podReadyDelayMs: 20, jobDurationMs: 50 });
  dir = await mkdtemp(join(tmpdir(), "sandbox-kubectl-"));
  kubeconfig = join(dir, "kubeconfig");
  await sandbox.writeKubeconfig(kubeconfig);
  await writeFile(join(dir, "app.yaml"), MANIFESTS);
});

afterAll(async () => {
  await sandbox?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe("sandbox API with kubectl", () => {
  it("reports its version and creates a namespace", async () => {
    expect(await ok(["version", "-o", "json"])).toContain('"gitVersion": "v1.33.0-sandbox"');
    expect(await ok(["create", "namespace", NS])).toBe(`namespace/${NS} created\n`);
    expect(await ok(["get", "namespace", NS, "-o", "jsonpath={.status.phase}"])).toBe("Active");
  });

  it("applies a Deployment, Service, ConfigMap, Secret, PVC and Ingress client-side, then again unchanged", async () => {
    const first = await ok(["apply", "-f", join(dir, "app.yaml")]);
    expect(first.trim().split("\n")).toEqual([
      "deployment.apps/web created",
      "service/web-service created",
      "configmap/web-conf created",
      "secret/web-secret created",
      "persistentvolumeclaim/web-data created",
      "ingress.networking.k8s.io/web created",
    ]);
    const again = await ok(["apply", "-f", join(dir, "app.yaml")]);
    expect(again).toContain("deployment.apps/web unchanged");
    expect(again).toContain("configmap/web-conf unchanged");
    expect(again).toContain("ingress.networking.k8s.io/web unchanged");
  });

  it("applies server-side, with conflicts reported for another manager unless forced", async () => {
    const applied = await ok(["apply", "--server-side", "-f", join(dir, "app.yaml")]);
    expect(applied).toContain("deployment.apps/web serverside-applied");
    const replicas = `apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: ${NS}}\nspec: {replicas: 5}\n`;
    const conflict = await kubectl(
      ["apply", "--server-side", "--field-manager", "ops", "-f", "-"],
      kubeconfig,
      replicas,
    );
    expect(conflict.code).not.toBe(0);
    expect(conflict.stderr).toContain("Apply failed with 2 conflicts");
    expect(conflict.stderr).toContain('conflicts with "kubectl":\n- .spec.replicas');
    const forced = await ok(
      ["apply", "--server-side", "--field-manager", "ops", "--force-conflicts", "-f", "-"],
      replicas,
    );
    expect(forced).toBe("deployment.apps/web serverside-applied\n");
    expect(await ok(["get", "deploy", "web", "-n", NS, "-o", "jsonpath={.spec.replicas}"])).toBe("5");
  });

  it("gets objects as JSON, YAML and wide tables", async () => {
    const json = JSON.parse(await ok(["get", "deployment", "web", "-n", NS, "-o", "json"])) as {
      kind: string;
      metadata: { name: string; uid: string; generation: number };
      spec: { template: { spec: { containers: { imagePullPolicy: string }[] } } };
    };
    expect(json.kind).toBe("Deployment");
    expect(json.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(json.spec.template.spec.containers[0]?.imagePullPolicy).toBe("IfNotPresent");
    const yaml = await ok(["get", "configmap", "web-conf", "-n", NS, "-o", "yaml"]);
    expect(yaml).toContain("kind: ConfigMap");
    expect(yaml).toContain("default.conf: server { listen 80; }");
    const secret = await ok(["get", "secret", "web-secret", "-n", NS, "-o", "jsonpath={.data.PASSWORD}"]);
    expect(Buffer.from(secret, "base64").toString()).toBe("hunter2");
    const wide = await ok(["get", "deployments", "-n", NS, "-o", "wide"]);
    expect(wide.split("\n")[0]).toMatch(
      /^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE\s+CONTAINERS\s+IMAGES\s+SELECTOR$/,
    );
    expect(wide).toMatch(/web\s+\d\/5\s+\d+\s+\d+\s+\S+\s+nginx\s+nginx:1.27\s+app=web/);
    const services = await ok(["get", "svc", "-n", NS]);
    expect(services).toMatch(/web-service\s+ClusterIP\s+\S+\s+<none>\s+80\/TCP/);
  });

  it("lists everything with get all -A", async () => {
    const all = await ok(["get", "all", "-A"]);
    expect(all).toMatch(/^NAMESPACE\s+NAME\s+/m);
    expect(all).toMatch(new RegExp(`^${NS}\\s+service/web-service\\s+ClusterIP`, "m"));
    expect(all).toMatch(new RegExp(`^${NS}\\s+deployment.apps/web\\s+`, "m"));
  });

  it("selects by label", async () => {
    const names = await ok(["get", "cm,secret", "-n", NS, "-l", "app=web", "-o", "name"]);
    expect(names.trim().split("\n")).toEqual(["configmap/web-conf", "secret/web-secret"]);
    const none = await kubectl(["get", "cm", "-n", NS, "-l", "app in (nothing)"]);
    expect(none.stderr).toContain(`No resources found in ${NS} namespace.`);
    const notWeb = await ok(["get", "cm", "-n", NS, "-l", "app,app!=web", "-o", "name"]);
    expect(notWeb).toBe("");
  });

  it("deletes objects", async () => {
    expect(await ok(["delete", "configmap", "web-conf", "-n", NS])).toBe('configmap "web-conf" deleted\n');
    const gone = await kubectl(["get", "configmap", "web-conf", "-n", NS]);
    expect(gone.code).not.toBe(0);
    expect(gone.stderr).toContain('Error from server (NotFound): configmaps "web-conf" not found');
  });

  it("creates objects imperatively, from the protobuf bodies kubectl create sends", async () => {
    expect(
      await ok(["create", "deployment", "imp", "--image=nginx:1.27", "--replicas=0", "--port=8080", "-n", NS]),
    ).toBe("deployment.apps/imp created\n");
    const dep = JSON.parse(await ok(["get", "deployment", "imp", "-n", NS, "-o", "json"])) as {
      metadata: { labels: Record<string, string> };
      spec: {
        replicas: number;
        selector: unknown;
        template: { metadata: Record<string, unknown>; spec: { containers: unknown[] } };
      };
    };
    expect(dep.metadata.labels).toEqual({ app: "imp" });
    expect(dep.spec.replicas).toBe(0);
    expect(dep.spec.selector).toEqual({ matchLabels: { app: "imp" } });
    expect(dep.spec.template.metadata.creationTimestamp).toBeUndefined();
    expect(dep.spec.template.spec.containers).toEqual([
      expect.objectContaining({
        name: "nginx",
        image: "nginx:1.27",
        ports: [{ containerPort: 8080, protocol: "TCP" }],
      }),
    ]);
    expect(await ok(["create", "service", "clusterip", "imp", "--tcp=80:8080", "-n", NS])).toBe(
      "service/imp created\n",
    );
    expect(await ok(["get", "service", "imp", "-n", NS, "-o", "jsonpath={.spec.ports[0].targetPort}"])).toBe("8080");
    expect(await ok(["create", "job", "once", "--image=busybox:1.36", "-n", NS, "--", "echo", "hi"])).toBe(
      "job.batch/once created\n",
    );
    expect(
      await ok(["get", "job", "once", "-n", NS, "-o", "jsonpath={.spec.template.spec.containers[0].command}"]),
    ).toBe('["echo","hi"]');
    expect(await ok(["create", "ingress", "imp", "--rule=imp.example.com/=imp:80", "-n", NS])).toBe(
      "ingress.networking.k8s.io/imp created\n",
    );
    expect(
      await ok([
        "get",
        "ingress",
        "imp",
        "-n",
        NS,
        "-o",
        "jsonpath={.spec.rules[0].http.paths[0].backend.service.port.number}",
      ]),
    ).toBe("80");
    expect(await ok(["create", "quota", "imp", "--hard=pods=50", "-n", NS])).toBe("resourcequota/imp created\n");
    expect(await ok(["delete", "deployment,service,ingress,quota", "imp", "-n", NS])).toContain(
      'deployment.apps "imp" deleted',
    );
    await ok(["delete", "job", "once", "-n", NS]);
  });

  it("says NotFound for a missing object and refuses a bad token", async () => {
    const missing = await kubectl(["get", "deployment", "nope", "-n", NS]);
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim()).toBe('Error from server (NotFound): deployments.apps "nope" not found');
    const bad = join(dir, "bad-kubeconfig");
    const url = new URL(sandbox.kubeconfig().match(/server: (\S+)/)?.[1] ?? "");
    await writeFile(bad, kubeconfigYAML(url.origin, "not-the-token"));
    const refused = await kubectl(["get", "pods", "-n", NS], bad);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("You must be logged in to the server");
  });

  it("refuses a manifest with unknown fields (kubectl asks for strict field validation)", async () => {
    const typo = `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: typo, namespace: ${NS}}\ndata: {a: b}\ndatta: {c: d}\n`;
    const strict = await kubectl(["apply", "-f", "-"], kubeconfig, typo);
    expect(strict.code).toBe(1);
    expect(strict.stderr).toContain(
      'ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: unknown field "datta"',
    );
    const warned = await kubectl(["apply", "--validate=warn", "-f", "-"], kubeconfig, typo);
    expect(warned.code).toBe(0);
    expect(warned.stderr).toContain('Warning: unknown field "datta"');
    await ok(["delete", "configmap", "typo", "-n", NS]);
  });

  it("refuses an invalid object with the server's field errors", async () => {
    const bad = `apiVersion: v1\nkind: Service\nmetadata: {name: Bad.Service, namespace: ${NS}}\nspec: {ports: [{port: 80}]}\n`;
    const run = await kubectl(["apply", "-f", "-"], kubeconfig, bad);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('Service "Bad.Service" is invalid: metadata.name: Invalid value: "Bad.Service"');
  });

  it("refuses a ConfigMap or Secret whose values hold more than 1 MiB, as kube-apiserver does", async () => {
    const configMap = (bytes: number) =>
      JSON.stringify({
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "big", namespace: NS },
        data: { a: "x".repeat(bytes - 10), b: "y".repeat(10) },
      });
    const tooBig = await kubectl(["apply", "--server-side", "-f", "-"], kubeconfig, configMap(1024 * 1024 + 1));
    expect(tooBig.code).toBe(1);
    expect(tooBig.stderr).toContain('ConfigMap "big" is invalid: []: Too long: may not be more than 1048576 bytes');
    const secret = JSON.stringify({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "big", namespace: NS },
      stringData: { a: "x".repeat(1024 * 1024 + 1) },
    });
    const run = await kubectl(["apply", "--server-side", "-f", "-"], kubeconfig, secret);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('Secret "big" is invalid: data: Too long: may not be more than 1048576 bytes');
    // Exactly 1 MiB is taken.
    await ok(["apply", "--server-side", "-f", "-"], configMap(1024 * 1024));
    await ok(["delete", "configmap", "big", "-n", NS]);
  });

  it("refuses what kube-apiserver refuses in keys, mounts and port names: '..' keys, climbing subPaths, twin names", async () => {
    const apply = (o: object) => kubectl(["apply", "--server-side", "-f", "-"], kubeconfig, JSON.stringify(o));
    const dots = await apply({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "dots", namespace: NS },
      data: { "..data": "x" },
    });
    expect(dots.code).toBe(1);
    expect(dots.stderr).toContain(
      `ConfigMap "dots" is invalid: data[..data]: Invalid value: "..data": must not start with '..'`,
    );
    const climbing = await apply({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "climbing", namespace: NS },
      spec: {
        selector: { matchLabels: { app: "climbing" } },
        template: {
          metadata: { labels: { app: "climbing" } },
          spec: {
            containers: [
              {
                name: "c",
                image: "nginx",
                ports: [
                  { name: "http", containerPort: 80 },
                  { name: "http", containerPort: 81 },
                ],
                volumeMounts: [
                  { name: "v", mountPath: "/a", subPath: "../../etc" },
                  { name: "v", mountPath: "/b", subPath: "/abs" },
                ],
              },
            ],
            volumes: [{ name: "v", emptyDir: {} }],
          },
        },
      },
    });
    expect(climbing.code).toBe(1);
    for (const cause of [
      `spec.template.spec.containers[0].ports[1].name: Duplicate value: "http"`,
      `spec.template.spec.containers[0].volumeMounts[0].subPath: Invalid value: "../../etc": must not contain '..'`,
      `spec.template.spec.containers[0].volumeMounts[1].subPath: Invalid value: "/abs": must be a relative path`,
    ]) {
      expect(climbing.stderr).toContain(cause);
    }
    const twins = await apply({
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "twins", namespace: NS },
      spec: {
        ports: [{ name: "web", port: 80 }, { name: "web", port: 81 }, { port: 82 }],
      },
    });
    expect(twins.code).toBe(1);
    expect(twins.stderr).toContain(`spec.ports[1].name: Duplicate value: "web"`);
    expect(twins.stderr).toContain(`spec.ports[2].name: Required value`);
  });
});

describe("sandbox API with kubectl, rollouts driven by the controllers", () => {
  const RNS = "rollout";
  const app = (image: string): string => `apiVersion: v1
kind: Namespace
metadata: {name: ${RNS}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: ${RNS}}
spec:
  replicas: 2
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers: [{name: api, image: ${image}, ports: [{containerPort: 80}]}]
`;

  it("waits for Available and a finished rollout", async () => {
    await ok(["apply", "-f", "-"], app("nginx:1.27"));
    expect(await ok(["wait", "--for=condition=Available", "deployment/api", "-n", RNS, "--timeout=20s"])).toBe(
      "deployment.apps/api condition met\n",
    );
    expect(await ok(["rollout", "status", "deployment/api", "-n", RNS, "--timeout=20s"])).toContain(
      'deployment "api" successfully rolled out',
    );
    const pods = await ok(["get", "pods", "-n", RNS, "-l", "app=api", "-o", "wide"]);
    expect(pods.trim().split("\n").slice(1)).toHaveLength(2);
    expect(pods).toMatch(/api-\S+\s+1\/1\s+Running\s+0\s+/);
  });

  it("scales and restarts, rolling out again", async () => {
    expect(await ok(["scale", "deployment/api", "-n", RNS, "--replicas=3"])).toBe("deployment.apps/api scaled\n");
    await ok(["rollout", "status", "deployment/api", "-n", RNS, "--timeout=20s"]);
    expect(await ok(["get", "deployment", "api", "-n", RNS, "-o", "jsonpath={.status.readyReplicas}"])).toBe("3");
    const before = await ok(["get", "rs", "-n", RNS, "-o", "name"]);
    expect(await ok(["rollout", "restart", "deployment/api", "-n", RNS])).toBe("deployment.apps/api restarted\n");
    await ok(["rollout", "status", "deployment/api", "-n", RNS, "--timeout=30s"]);
    const after = await ok(["get", "rs", "-n", RNS, "-o", "name"]);
    expect(after.trim().split("\n").length).toBeGreaterThan(before.trim().split("\n").length);
  });

  it("shows logs and metrics of the pods, and the node", async () => {
    const logs = await ok(["logs", "deployment/api", "-n", RNS, "--tail=5"]);
    expect(logs.trim().length).toBeGreaterThan(0);
    const top = await ok(["top", "pod", "-n", RNS]);
    expect(top.split("\n")[0]).toMatch(/^NAME\s+CPU\(cores\)\s+MEMORY\(bytes\)/);
    expect(top).toMatch(/api-\S+\s+\d+m\s+\d+Mi/);
    const nodes = await ok(["get", "nodes"]);
    expect(nodes).toMatch(/^sandbox-node-1\s+Ready\s+control-plane\s+/m);
    const topNode = await ok(["top", "node"]);
    expect(topNode).toMatch(/^sandbox-node-1\s+\d+m\s+\d+%\s+\d+Mi\s+\d+%/m);
  });

  it("never makes an unpullable image Available", async () => {
    await ok(["set", "image", "deployment/api", "-n", RNS, "api=sandbox.invalid/missing:1"]);
    const run = await kubectl(["rollout", "status", "deployment/api", "-n", RNS, "--timeout=2s"]);
    expect(run.code).not.toBe(0);
    const pods = await ok(["get", "pods", "-n", RNS]);
    expect(pods).toMatch(/ErrImagePull|ImagePullBackOff/);
  });

  it("deletes a namespace with everything in it", async () => {
    expect(await ok(["delete", "namespace", RNS, "--timeout=20s"])).toBe(`namespace "${RNS}" deleted\n`);
    const left = await kubectl(["get", "all", "-n", RNS]);
    expect(left.stderr).toContain(`No resources found in ${RNS} namespace.`);
    expect(sandbox.store.list("pods", { namespace: RNS }).items).toEqual([]);
    expect(sandbox.store.get("namespaces", undefined, RNS)).toBeUndefined();
  });
});
