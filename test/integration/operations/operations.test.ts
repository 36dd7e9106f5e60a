/**
 * Day-2 operations of v1.k8s.deployments through the real gateway against the sandbox, checked with kubectl: pods,
 * state, top, events, logs, scale and restart (both kept by a later re-apply), and bad input naming the field.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import type { DeploymentEntity, DeploymentPodInfo, DeploymentState, DeploymentTop } from "../../../lib/entities.ts";
import { storedById } from "../../../lib/nedb-read.ts";
import { startOpsStack, waitUntil, type OpsStack } from "./stack.ts";

let stack: OpsStack;
let web: DeploymentEntity;

interface KubeDeployment {
  spec: { replicas: number; template: { metadata: { annotations?: Record<string, string> } } };
}

const base = (id: string) => `/api/v1/k8s/deployments/${id}`;

beforeAll(async () => {
  stack = await startOpsStack();
  web = await stack.deploy("web", { replicas: 2 });
}, 30_000);

afterAll(async () => {
  await stack?.stop();
});

describe("v1.k8s.deployments.pods", () => {
  it("lists each pod with phase, readiness, node, start time and container states", async () => {
    const res = await stack.http("GET", `${base(web.id)}/pods`, stack.tokens.vera);
    expect(res.status).toBe(200);
    const pods = res.json as unknown as DeploymentPodInfo[];
    const live = await stack.kubectlJson<{ items: { metadata: { name: string }; spec: { nodeName: string } }[] }>(
      "get",
      "pods",
      "-n",
      "ops",
      "-l",
      "app.kubernetes.io/name=web",
    );
    expect(pods.map((p) => p.name).sort()).toEqual(live.items.map((p) => p.metadata.name).sort());
    expect(pods).toHaveLength(2);
    for (const pod of pods) {
      expect(pod).toMatchObject({ phase: "Running", ready: true, restarts: 0, terminating: false });
      expect(pod.node).toBe(live.items[0]?.spec.nodeName);
      expect(Number.isNaN(Date.parse(pod.startTime ?? ""))).toBe(false);
      expect(pod.containers).toEqual([expect.objectContaining({ name: "web", state: "running", ready: true })]);
    }
  });

  it("names why a container waits (ImagePullBackOff)", async () => {
    const broken = await stack.services.call<{ id: string }, Record<string, unknown>>("v1.k8s.images.create", {
      name: "broken-ops",
      namespace: "library",
      tag: "1",
      digest: `sha256:${"1".repeat(64)}`,
      image: "sandbox.invalid/broken:1",
      registry: "sandbox.invalid",
      repository: "library/broken",
      ports: [{ name: "http", port: 80 }],
      resources: { limits: { cpu: 100, memory: 64 }, requests: { cpu: 10, memory: 16 } },
    });
    const res = await stack.http("POST", "/api/v1/k8s/deployments", stack.tokens.alice, {
      name: "broken",
      namespace: stack.ns.id,
      image: broken.id,
    });
    expect(res.status).toBe(200);
    const id = String(res.json.id);
    const pods = await waitUntil(async () => {
      const r = await stack.http("GET", `${base(id)}/pods`, stack.tokens.alice);
      const list = r.json as unknown as DeploymentPodInfo[];
      return list.some((p) => p.containers.some((c) => c.reason === "ImagePullBackOff")) ? list : undefined;
    });
    expect(pods[0]).toMatchObject({ ready: false, reason: "ImagePullBackOff" });
    const state = await stack.http("GET", `${base(id)}/state`, stack.tokens.alice);
    expect(state.json).toMatchObject({ lastFailureReason: "ImagePullBackOff", available: 0 });
    await stack.http("DELETE", base(id), stack.tokens.alice);
  });
});

describe("v1.k8s.deployments.state", () => {
  it("sums up replicas, conditions, pods, revision and whether a rollout runs, from the cache", async () => {
    const res = await stack.http("GET", `${base(web.id)}/state`, stack.tokens.vera);
    expect(res.status).toBe(200);
    const state = res.json as unknown as DeploymentState;
    const dep = await stack.kubectlJson<{ status: { updatedReplicas: number; availableReplicas: number } }>(
      "get",
      "deploy",
      "web",
      "-n",
      "ops",
    );
    expect(state).toMatchObject({
      id: web.id,
      name: "web",
      namespace: "ops",
      phase: "Available",
      desired: 2,
      updated: dep.status.updatedReplicas,
      available: dep.status.availableReplicas,
      ready: 2,
      podPhases: { Running: 2 },
      rolloutInProgress: false,
    });
    expect(state.revision).toBeGreaterThanOrEqual(1);
    expect(state.conditions.map((c) => c.type)).toContain("Available");
    expect(state.pods).toHaveLength(2);
    expect(state).not.toHaveProperty("lastFailureReason");
  });

  it("answers from v1.kube's cache on this node, and the same through v1.kube.listMany when that cannot answer", async () => {
    const lists = () =>
      stack.sandbox.auditLog().filter((e) => e.verb === "list" && ["deployments", "pods"].includes(e.resource)).length;
    const before = lists();
    const cached = await stack.http("GET", `${base(web.id)}/state`, stack.tokens.vera);
    expect(cached.status).toBe(200);
    expect(lists()).toBe(before);
    // As while a kind's cache is not synced yet: v1.kube answers listMany from the API server.
    const kube = stack.services.getLocalService({ name: "kube", version: 1 }) as unknown as Record<string, unknown>;
    const listCached = kube["listCached"];
    kube["listCached"] = () => undefined;
    try {
      const listed = await stack.http("GET", `${base(web.id)}/state`, stack.tokens.vera);
      expect(listed.status).toBe(200);
      expect(listed.json).toEqual(cached.json);
      expect(lists()).toBe(before + 2);
    } finally {
      kube["listCached"] = listCached;
    }
  });

  it("answers the same again while nothing changed, and follows the cluster and the record once they do", async () => {
    const memo = await stack.deploy("memo", { replicas: 1 });
    const read = async () =>
      (await stack.http("GET", `${base(memo.id)}/state`, stack.tokens.vera)).json as unknown as DeploymentState;
    const first = await read();
    expect(first).toMatchObject({ desired: 1, ready: 1, phase: "Available" });
    expect(await read()).toEqual(first);
    // The cluster: the pod deleted, the ReplicaSet makes another.
    const gone = first.pods[0]?.name ?? "";
    expect((await stack.kubectl("delete", "pod", "-n", "ops", gone, "--wait=false")).code).toBe(0);
    const replaced = await waitUntil(async () => {
      const state = await read();
      return state.pods.length === 1 && state.pods[0]?.name !== gone && state.ready === 1 ? state : undefined;
    });
    expect(replaced.podPhases).toEqual({ Running: 1 });
    // The record: scaled, then its revision and replicas.
    const scaled = await stack.http("POST", `${base(memo.id)}/scale`, stack.tokens.alice, { replicas: 2 });
    expect(scaled.status).toBe(200);
    const after = await read();
    expect(after).toMatchObject({ desired: 2, revision: replaced.revision + 1 });
    await waitUntil(async () => ((await read()).ready === 2 ? true : undefined));
    // A caller in this process gets the shared answer, frozen.
    const shared = await stack.services.call<DeploymentState, { id: string }>("v1.k8s.deployments.state", {
      id: memo.id,
    });
    expect(Object.isFrozen(shared) && Object.isFrozen(shared.pods[0])).toBe(true);
    await stack.http("DELETE", base(memo.id), stack.tokens.alice);
  });

  it("is 404 for a stranger and for an unknown id", async () => {
    expect((await stack.http("GET", `${base(web.id)}/state`, stack.tokens.mallory)).status).toBe(404);
    expect((await stack.http("GET", `${base("nope")}/state`, stack.tokens.alice)).status).toBe(404);
  });
});

describe("v1.k8s.deployments.top", () => {
  it("gives cpu (millicores) and memory (MiB) per pod and in total, as the metrics API reports", async () => {
    const res = await stack.http("GET", `${base(web.id)}/top`, stack.tokens.vera);
    expect(res.status).toBe(200);
    const top = res.json as unknown as DeploymentTop;
    expect(top.pods).toHaveLength(2);
    for (const pod of top.pods) {
      expect(pod.cpu).toBeGreaterThan(0);
      expect(pod.memory).toBeGreaterThan(0);
      expect(pod.containers.map((c) => c.name)).toEqual(["web"]);
    }
    const cpu = top.pods.reduce((s, p) => s + p.cpu, 0);
    expect(top.total.cpu).toBe(cpu);
    expect(top.total.memory).toBeGreaterThan(0);
    const metrics = await stack.kubectl("get", "--raw", "/apis/metrics.k8s.io/v1beta1/namespaces/ops/pods");
    expect(metrics.code).toBe(0);
    const names = (JSON.parse(metrics.stdout) as { items: { metadata: { name: string } }[] }).items.map(
      (m) => m.metadata.name,
    );
    for (const pod of top.pods) expect(names).toContain(pod.name);
  });
});

describe("v1.k8s.deployments.events", () => {
  it("lists the Events of the Deployment, its ReplicaSets and pods, newest first", async () => {
    const res = await stack.http("GET", `${base(web.id)}/events`, stack.tokens.vera);
    expect(res.status).toBe(200);
    const items = (res.json.items ?? []) as {
      involvedObject: { kind: string; name: string };
      lastTimestamp?: string;
      eventTime?: string;
      firstTimestamp?: string;
    }[];
    const kinds = new Set(items.map((e) => e.involvedObject.kind));
    expect(kinds).toEqual(new Set(["Deployment", "ReplicaSet", "Pod"]));
    expect(items.every((e) => e.involvedObject.name.startsWith("web"))).toBe(true);
    const times = items.map((e) => Date.parse(e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? ""));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    const kubectl = await stack.kubectlJson<{ items: { involvedObject: { kind: string; name: string } }[] }>(
      "get",
      "events",
      "-n",
      "ops",
    );
    const fromKubectl = kubectl.items.filter(
      (e) =>
        ["Deployment", "ReplicaSet", "Pod"].includes(e.involvedObject.kind) &&
        (e.involvedObject.name === "web" || e.involvedObject.name.startsWith("web-")),
    );
    expect(items.length).toBe(fromKubectl.length);
  });
});

describe("v1.k8s.deployments.get", () => {
  it("answers the record as stored now, the gateway one shared answer per version, any other caller its own copy", async () => {
    const entity = await stack.deploy("shown", { replicas: 1 });
    const deployments = stack.services.getLocalService({ name: "k8s.deployments", version: 1 }) as unknown as {
      adapter: { db: unknown };
      dbSharedEntities: { size: number };
    };
    const read = () => stack.http("GET", base(entity.id), stack.tokens.vera);
    const first = await read();
    expect(first.status).toBe(200);
    expect(first.json).toMatchObject({ id: entity.id, name: "shown", replicas: 1, namespace: stack.ns.id });
    // A create's first revision is stored with the record; it never leaves the service.
    expect(Object.keys(first.json)).not.toContain("revisions");
    expect(Object.keys(storedById(deployments.adapter.db, entity.id) ?? {})).toContain("revisions");
    expect((await read()).text).toBe(first.text);
    expect(deployments.dbSharedEntities.size).toBeGreaterThan(0);
    // Freezing the shared answer froze nothing of the store.
    const stored = storedById(deployments.adapter.db, entity.id) as Record<string, unknown>;
    expect(Object.isFrozen(stored) || Object.isFrozen(stored.status) || Object.isFrozen(stored.vHosts)).toBe(false);

    // A caller in this process gets a copy it may change; neither the store nor the gateway's answer sees it.
    const own = await stack.services.call<DeploymentEntity & { vHosts: string[] }, { id: string }>(
      "v1.k8s.deployments.get",
      { id: entity.id },
      { meta: { userID: "vera" } },
    );
    expect(Object.isFrozen(own)).toBe(false);
    own.name = "changed";
    own.vHosts.push("changed.example.com");
    expect((await read()).text).toBe(first.text);

    // A new version of the record: the next answer shows it.
    expect((await stack.http("POST", `${base(entity.id)}/scale`, stack.tokens.alice, { replicas: 2 })).status).toBe(
      200,
    );
    // Once the rollout has settled (its status writes are new versions too), two reads answer the same version.
    const scaled = await waitUntil(async () => {
      const answer = await read();
      const status = (answer.json as { status?: { phase?: string; readyReplicas?: number } }).status;
      return status?.phase === "Available" && status.readyReplicas === 2 ? answer : undefined;
    });
    expect(scaled.json).toMatchObject({ id: entity.id, replicas: 2 });
    expect((await read()).text).toBe(scaled.text);

    // A field selection answers only those fields, as before.
    const some = await stack.http("GET", `${base(entity.id)}?fields=name,replicas`, stack.tokens.vera);
    expect(some.json).toEqual({ name: "shown", replicas: 2 });
    await stack.http("DELETE", base(entity.id), stack.tokens.alice);
  });
});

describe("the reads that take the stored record uncopied (guardedReadOnly)", () => {
  it("leave it as it was: state, pods, top, events and logs", async () => {
    const deployments = stack.services.getLocalService({ name: "k8s.deployments", version: 1 }) as unknown as {
      findRawById(id: string): Promise<Record<string, unknown> | null>;
    };
    const before = await deployments.findRawById(web.id);
    for (const read of ["state", "pods", "top", "events", "logs?tail=1"]) {
      expect((await stack.http("GET", `${base(web.id)}/${read}`, stack.tokens.vera)).status).toBe(200);
    }
    expect(await deployments.findRawById(web.id)).toEqual(before);
  });
});

describe("v1.k8s.deployments.logs", () => {
  /**
   * The suite's logs answer for `query` and kubectl's for `args`, read until they agree: a line the pod writes between
   * the two reads (the sandbox's nginx logs a probe request a few seconds in) makes them differ once. At most 3 tries;
   * the last pair is returned for the assertion.
   */
  async function logsAgree(query: string, args: string[]): Promise<[string, string]> {
    let pair: [string, string] = ["", ""];
    for (let i = 0; i < 3; i++) {
      const viaSuite = (await stack.http("GET", `${base(web.id)}/logs?${query}`, stack.tokens.vera)).text;
      pair = [viaSuite, (await stack.kubectl("logs", "-n", "ops", ...args)).stdout];
      if (pair[0] === pair[1]) break;
    }
    return pair;
  }

  it("answers the recent lines of every pod as text, each line prefixed with its pod", async () => {
    const pods = (await stack.http("GET", `${base(web.id)}/pods`, stack.tokens.alice)).json as unknown as {
      name: string;
    }[];
    const res = await stack.http("GET", `${base(web.id)}/logs?tail=3`, stack.tokens.vera);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain/);
    const lines = res.text.trimEnd().split("\n");
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.length).toBeLessThanOrEqual(6);
    for (const line of lines) expect(pods.some((p) => line.startsWith(`[${p.name}] `))).toBe(true);
    const name = pods[0]?.name ?? "";
    const [one, direct] = await logsAgree(`pod=${name}&tail=2`, [name, "--tail=2"]);
    expect(one).toBe(direct);
    const [recent, directRecent] = await logsAgree(`pod=${name}&since=3600`, [name, "--since=1h", "--tail=100"]);
    expect(recent).toBe(directRecent);
    // No earlier instance: kubectl and the API server refuse it too.
    const previous = await stack.http("GET", `${base(web.id)}/logs?pod=${name}&previous=true`, stack.tokens.vera);
    expect(previous.status).toBeGreaterThanOrEqual(400);
    expect(previous.status).toBeLessThan(500);
    expect((await stack.kubectl("logs", "-n", "ops", name, "--previous")).code).not.toBe(0);
    const all = await stack.http("GET", `${base(web.id)}/logs?previous=true`, stack.tokens.vera);
    expect(all.status).toBe(200);
    expect(all.text).toContain(`[${name}] (no log: `);
  });

  it("refuses a pod of another deployment (404 naming pod) and an unknown container (422 naming container)", async () => {
    const other = await stack.deploy("other");
    const [pod] = (await stack.http("GET", `${base(other.id)}/pods`, stack.tokens.alice)).json as unknown as {
      name: string;
    }[];
    const res = await stack.http("GET", `${base(web.id)}/logs?pod=${pod?.name ?? ""}`, stack.tokens.alice);
    expect(res.status).toBe(404);
    expect(res.json).toMatchObject({ type: "NOT_FOUND", data: { field: "pod" } });
    const bad = await stack.http("GET", `${base(web.id)}/logs?container=sidecar`, stack.tokens.alice);
    expect(bad.status).toBe(422);
    expect(bad.json).toMatchObject({ data: [expect.objectContaining({ field: "container" })] });
    const tail = await stack.http("GET", `${base(web.id)}/logs?tail=-1`, stack.tokens.alice);
    expect(tail.status).toBe(422);
    expect(tail.json).toMatchObject({ data: [expect.objectContaining({ field: "tail" })] });
    await stack.http("DELETE", base(other.id), stack.tokens.alice);
  });
});

describe("v1.k8s.deployments.scale", () => {
  it("sets the replicas as a new revision that a later re-apply keeps", async () => {
    const before = (await stack.http("GET", base(web.id), stack.tokens.alice)).json as unknown as DeploymentEntity;
    const res = await stack.http("POST", `${base(web.id)}/scale`, stack.tokens.alice, { replicas: 3 });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ replicas: 3, revision: before.revision + 1 });
    await waitUntil(async () => {
      const dep = await stack.kubectlJson<KubeDeployment & { status: { readyReplicas?: number } }>(
        "get",
        "deploy",
        "web",
        "-n",
        "ops",
      );
      return dep.spec.replicas === 3 && dep.status.readyReplicas === 3;
    });
    const applied = await stack.http("POST", `${base(web.id)}/apply`, stack.tokens.alice);
    expect(applied.status).toBe(200);
    const dep = await stack.kubectlJson<KubeDeployment>("get", "deploy", "web", "-n", "ops");
    expect(dep.spec.replicas).toBe(3);
    const state = (await stack.http("GET", `${base(web.id)}/state`, stack.tokens.alice)).json;
    expect(state).toMatchObject({ desired: 3, revision: before.revision + 1 });
  });

  it("refuses a negative or excessive count and a viewer (4xx naming replicas), changing nothing", async () => {
    for (const replicas of [-1, 5, 1.5, "many"]) {
      const res = await stack.http("POST", `${base(web.id)}/scale`, stack.tokens.alice, { replicas });
      expect(res.status).toBe(422);
      expect(res.json).toMatchObject({ data: [expect.objectContaining({ field: "replicas" })] });
    }
    expect((await stack.http("POST", `${base(web.id)}/scale`, stack.tokens.vera, { replicas: 1 })).status).toBe(403);
    expect((await stack.http("POST", `${base(web.id)}/scale`, stack.tokens.mallory, { replicas: 1 })).status).toBe(404);
    const dep = await stack.kubectlJson<KubeDeployment>("get", "deploy", "web", "-n", "ops");
    expect(dep.spec.replicas).toBe(3);
  });
});

describe("v1.k8s.deployments.restart", () => {
  it("annotates the pod template as kubectl rollout restart does, rolls the pods, and a re-apply keeps it", async () => {
    const podsBefore = (await stack.http("GET", `${base(web.id)}/pods`, stack.tokens.alice)).json as unknown as {
      name: string;
    }[];
    const res = await stack.http("POST", `${base(web.id)}/restart`, stack.tokens.alice);
    expect(res.status).toBe(200);
    const restartedAt = String(res.json.restartedAt);
    expect(Number.isNaN(Date.parse(restartedAt))).toBe(false);
    const dep = await stack.kubectlJson<KubeDeployment>("get", "deploy", "web", "-n", "ops");
    expect(dep.spec.template.metadata.annotations?.["kubectl.kubernetes.io/restartedAt"]).toBe(restartedAt);
    await waitUntil(async () => {
      const r = await stack.http("GET", `${base(web.id)}/state`, stack.tokens.alice);
      const s = r.json as unknown as DeploymentState;
      const names = s.pods.filter((p) => !p.terminating).map((p) => p.name);
      return !s.rolloutInProgress && s.available === 3 && names.every((n) => !podsBefore.some((b) => b.name === n));
    });
    await stack.http("POST", `${base(web.id)}/apply`, stack.tokens.alice);
    const again = await stack.kubectlJson<KubeDeployment>("get", "deploy", "web", "-n", "ops");
    expect(again.spec.template.metadata.annotations?.["kubectl.kubernetes.io/restartedAt"]).toBe(restartedAt);
    expect(again.spec.replicas).toBe(3);
    const history = (await stack.http("GET", `${base(web.id)}/history`, stack.tokens.vera)).json as {
      items: { revision: number; who?: string; changes: string[]; restartedAt?: string; replicas: number }[];
    };
    expect(history.items.slice(0, 2)).toEqual([
      expect.objectContaining({ who: "alice", changes: ["restartedAt"], restartedAt, replicas: 3 }),
      expect.objectContaining({ who: "alice", changes: ["replicas"], replicas: 3 }),
    ]);
  });
});
