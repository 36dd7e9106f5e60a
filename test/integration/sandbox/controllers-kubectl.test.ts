/**
 * The whole sandbox (API server + controllers) driven by kubectl and @kubernetes/client-node the way people and the
 * suite drive a real cluster: wait for Available, rollout status, scale, rollout restart, logs, quota refusals,
 * namespace deletion.
 */
import { describe, it, expect, beforeAll, afterAll } from "@jest/globals";
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AppsV1Api, CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { startSandbox, type Sandbox } from "../../../lib/sandbox/index.ts";

let sandbox: Sandbox;
let dir: string;
let kubeconfig: string;
let core: CoreV1Api;
let apps: AppsV1Api;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function kubectl(args: string[], stdin?: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      "/usr/bin/kubectl",
      ["--kubeconfig", kubeconfig, "--cache-dir", join(dir, "cache"), ...args],
      { timeout: 25000, env: { ...process.env, KUBECONFIG: "" } },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === "number" ? err.code : 1;
        resolve({ code, stdout, stderr });
      },
    );
    if (stdin !== undefined) child.stdin?.end(stdin);
  });
}

async function ok(args: string[], stdin?: string): Promise<string> {
  const run = await kubectl(args, stdin);
  if (run.code !== 0) throw new Error(`kubectl ${args.join(" ")} failed (${run.code}): ${run.stderr}`);
  return run.stdout;
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 8000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const deployment = (ns: string, name: string, image: string, replicas: number, resources = ""): string => `
apiVersion: apps/v1
kind: Deployment
metadata: {name: ${name}, namespace: ${ns}}
spec:
  replicas: ${replicas}
  selector: {matchLabels: {app: ${name}}}
  template:
    metadata: {labels: {app: ${name}}}
    spec:
      containers:
        - name: main
          image: ${image}
          ports: [{containerPort: 80}]${resources}
`;

beforeAll(async () => {
  sandbox = await startSandbox({ port: 0, podReadyDelayMs: 20, jobDurationMs: 50 });
  dir = await mkdtemp(join(tmpdir(), "sandbox-controllers-"));
  kubeconfig = join(dir, "kubeconfig");
  await sandbox.writeKubeconfig(kubeconfig);
  const kc = new KubeConfig();
  kc.loadFromString(sandbox.kubeconfig());
  core = kc.makeApiClient(CoreV1Api);
  apps = kc.makeApiClient(AppsV1Api);
});

afterAll(async () => {
  await sandbox?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe("sandbox controllers with kubectl", () => {
  it("rolls out, scales and restarts a Deployment as kubectl expects", async () => {
    await ok(["create", "namespace", "web"]);
    await ok(["apply", "-f", "-"], deployment("web", "site", "nginx:1.27", 2));
    expect(await ok(["-n", "web", "wait", "--for=condition=Available", "deployment/site", "--timeout=15s"])).toContain(
      "deployment.apps/site condition met",
    );
    expect(await ok(["-n", "web", "rollout", "status", "deployment/site", "--timeout=15s"])).toContain(
      'deployment "site" successfully rolled out',
    );
    await ok(["-n", "web", "scale", "deployment/site", "--replicas=4"]);
    await ok(["-n", "web", "rollout", "status", "deployment/site", "--timeout=15s"]);
    const pods = JSON.parse(await ok(["-n", "web", "get", "pods", "-l", "app=site", "-o", "json"])) as {
      items: { status: { phase: string } }[];
    };
    expect(pods.items.map((p) => p.status.phase)).toEqual(["Running", "Running", "Running", "Running"]);

    const before = (await ok(["-n", "web", "get", "rs", "-o", "name"])).trim().split("\n");
    expect(await ok(["-n", "web", "rollout", "restart", "deployment/site"])).toContain(
      "deployment.apps/site restarted",
    );
    expect(await ok(["-n", "web", "rollout", "status", "deployment/site", "--timeout=15s"])).toContain(
      "successfully rolled out",
    );
    const after = (await ok(["-n", "web", "get", "rs", "-o", "name"])).trim().split("\n");
    expect(after).toHaveLength(2);
    expect(after).toEqual(expect.arrayContaining(before));
    const history = await ok(["-n", "web", "rollout", "history", "deployment/site"]);
    expect(history).toMatch(/1\s+<none>/);
    expect(history).toMatch(/2\s+<none>/);
    const d = await apps.readNamespacedDeployment({ name: "site", namespace: "web" });
    expect(d.status).toMatchObject({ replicas: 4, updatedReplicas: 4, readyReplicas: 4, availableReplicas: 4 });
    expect(d.metadata?.annotations?.["deployment.kubernetes.io/revision"]).toBe("2");
    // Undo goes back to the first ReplicaSet (same pod-template-hash), which takes revision 3.
    await ok(["-n", "web", "rollout", "undo", "deployment/site"]);
    await ok(["-n", "web", "rollout", "status", "deployment/site", "--timeout=15s"]);
    expect((await ok(["-n", "web", "get", "rs", "-o", "name"])).trim().split("\n").sort()).toEqual([...after].sort());
    const first = before[0]?.replace("replicaset.apps/", "") ?? "";
    const rs = await apps.readNamespacedReplicaSet({ name: first, namespace: "web" });
    expect(rs.spec?.replicas).toBe(4);
    expect(rs.metadata?.annotations?.["deployment.kubernetes.io/revision"]).toBe("3");
  });

  it("shows a deployment's logs", async () => {
    await ok(["create", "namespace", "logs"]);
    await ok(["apply", "-f", "-"], deployment("logs", "fpm", "php:8.3-fpm", 1));
    await ok(["-n", "logs", "wait", "--for=condition=Available", "deployment/fpm", "--timeout=15s"]);
    expect(await ok(["-n", "logs", "logs", "deploy/fpm"])).toMatch(/NOTICE: fpm is running, pid 1/);
    const [pod] = (await core.listNamespacedPod({ namespace: "logs" })).items;
    const text = await core.readNamespacedPodLog({ name: pod?.metadata?.name ?? "", namespace: "logs", tailLines: 1 });
    expect(String(text).trimEnd().split("\n")).toHaveLength(1);
  });

  it("reports quota refusals as FailedCreate events and recovers when the quota grows", async () => {
    await ok(["create", "namespace", "tight"]);
    await ok(
      ["apply", "-f", "-"],
      `apiVersion: v1
kind: ResourceQuota
metadata: {name: compute, namespace: tight}
spec: {hard: {pods: "1", limits.cpu: "1"}}
---` + deployment("tight", "api", "node:22", 2, "\n          resources: {limits: {cpu: 200m, memory: 64Mi}}"),
    );
    const events = await waitFor("FailedCreate", async () => {
      const out = await ok(["-n", "tight", "get", "events", "-o", "json"]);
      const all = (JSON.parse(out) as { items: { reason: string; message: string; type: string }[] }).items;
      const items = all.filter((e) => e.reason === "FailedCreate");
      return items.length > 0 ? items : undefined;
    });
    expect(events[0]).toMatchObject({
      type: "Warning",
      message: expect.stringMatching(
        /is forbidden: exceeded quota: compute, requested: pods=1, used: pods=1, limited: pods=1$/,
      ),
    });
    const wait = await kubectl(["-n", "tight", "rollout", "status", "deployment/api", "--timeout=1s"]);
    expect(wait.code).not.toBe(0);
    const described = await ok(["-n", "tight", "describe", "quota", "compute"]);
    expect(described).toMatch(/limits\.cpu\s+200m\s+1/);
    expect(described).toMatch(/pods\s+1\s+1/);
    await ok([
      "-n",
      "tight",
      "patch",
      "resourcequota",
      "compute",
      "--type=merge",
      "-p",
      '{"spec":{"hard":{"pods":"4"}}}',
    ]);
    await ok(["-n", "tight", "rollout", "status", "deployment/api", "--timeout=15s"]);
  });

  it("deletes a namespace with everything in it", async () => {
    await ok(["create", "namespace", "gone"]);
    await ok(["apply", "-f", "-"], deployment("gone", "api", "nginx:1.27", 2));
    await ok(["-n", "gone", "wait", "--for=condition=Available", "deployment/api", "--timeout=15s"]);
    await ok(["delete", "namespace", "gone", "--wait=true", "--timeout=15s"]);
    const run = await kubectl(["get", "namespace", "gone"]);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('namespaces "gone" not found');
    expect(sandbox.store.list("pods", { namespace: "gone" }).items).toHaveLength(0);
  });
});
