/**
 * The sandbox's workload controllers on a bare Store: Deployments roll out through ReplicaSets to pods that become
 * Ready, roll over on template changes, scale, roll back; unpullable and crashing images fail the real way; Jobs
 * complete or fail; the garbage collector removes what an owner leaves behind.
 */
import { describe, it, expect, beforeEach, afterEach } from "@jest/globals";
import { Store } from "../../../lib/sandbox/store.ts";
import { startControllers, type Controllers } from "../../../lib/sandbox/controllers/index.ts";
import type { KubeObject } from "../../../lib/sandbox/types.ts";

let store: Store;
let controllers: Controllers;
/** What the controllers reported as failures: a test leaves none. */
let logs: string[] = [];
const NS = "shop";

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

const get = (key: string, name: string, ns: string | undefined = NS): KubeObject | undefined =>
  store.get(key, ns, name);
const list = (key: string, labelSelector?: string): KubeObject[] =>
  store.list(key, { namespace: NS, ...(labelSelector === undefined ? {} : { labelSelector }) }).items;
type Rec = Record<string, unknown>;
const status = (o: KubeObject | undefined): Rec => (o?.status ?? {}) as Rec;
const spec = (o: KubeObject | undefined): Rec => (o?.spec ?? {}) as Rec;
const condition = (o: KubeObject | undefined, type: string): Rec | undefined =>
  ((status(o).conditions ?? []) as Rec[]).find((c) => c.type === type);
const events = (reason?: string): Rec[] =>
  (list("events") as unknown as Rec[]).filter((e) => reason === undefined || e.reason === reason);

function deployment(name: string, image: string, replicas = 3, extra: Rec = {}): KubeObject {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace: NS },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: "main", image, ports: [{ containerPort: 80 }] }] },
      },
      ...extra,
    },
  };
}

function available(name: string): Promise<KubeObject> {
  return waitFor(`deployment ${name} available`, () => {
    const d = get("deployments.apps", name);
    const s = status(d);
    const done =
      d !== undefined &&
      s.observedGeneration === d.metadata.generation &&
      s.updatedReplicas === spec(d).replicas &&
      s.availableReplicas === spec(d).replicas &&
      s.replicas === spec(d).replicas &&
      condition(d, "Progressing")?.reason === "NewReplicaSetAvailable";
    return done ? d : undefined;
  });
}

describe("sandbox deployment controller", () => {
  it("rolls a Deployment out to Ready pods with the status and conditions kubectl waits for", async () => {
    store.create("deployments.apps", deployment("web", "nginx:1.27"));
    const d = await available("web");
    const s = status(d);
    expect(s).toMatchObject({
      observedGeneration: 1,
      replicas: 3,
      updatedReplicas: 3,
      readyReplicas: 3,
      availableReplicas: 3,
      unavailableReplicas: 0,
    });
    expect(condition(d, "Available")).toMatchObject({
      status: "True",
      reason: "MinimumReplicasAvailable",
      message: "Deployment has minimum availability.",
    });
    const [rs] = list("replicasets.apps");
    const hash = rs?.metadata.labels?.["pod-template-hash"];
    expect(rs?.metadata.name).toBe(`web-${hash}`);
    expect(condition(d, "Progressing")).toMatchObject({
      status: "True",
      reason: "NewReplicaSetAvailable",
      message: `ReplicaSet "web-${hash}" has successfully progressed.`,
    });
    expect(d.metadata.annotations?.["deployment.kubernetes.io/revision"]).toBe("1");
    expect(rs?.metadata.annotations?.["deployment.kubernetes.io/revision"]).toBe("1");
    expect(rs?.metadata.ownerReferences).toEqual([
      {
        apiVersion: "apps/v1",
        kind: "Deployment",
        name: "web",
        uid: d.metadata.uid,
        controller: true,
        blockOwnerDeletion: true,
      },
    ]);
    expect(status(rs)).toMatchObject({
      replicas: 3,
      readyReplicas: 3,
      availableReplicas: 3,
      fullyLabeledReplicas: 3,
      observedGeneration: 1,
    });
    const pods = list("pods", "app=web");
    expect(pods).toHaveLength(3);
    for (const pod of pods) {
      expect(pod.metadata.name).toMatch(new RegExp(`^web-${hash}-[bcdfghjklmnpqrstvwxz2456789]{5}$`));
      expect(pod.metadata.ownerReferences?.[0]).toMatchObject({
        kind: "ReplicaSet",
        name: rs?.metadata.name,
        uid: rs?.metadata.uid,
        controller: true,
      });
      expect(spec(pod).nodeName).toBe("sandbox-node-1");
      const ps = status(pod);
      expect(ps).toMatchObject({ phase: "Running", hostIP: "172.18.0.2", qosClass: "BestEffort" });
      expect(ps.podIP).toMatch(/^10\.244\.\d+\.\d+$/);
      expect((ps.conditions as Rec[]).map((c) => `${String(c.type)}=${String(c.status)}`)).toEqual([
        "PodReadyToStartContainers=True",
        "Initialized=True",
        "Ready=True",
        "ContainersReady=True",
        "PodScheduled=True",
      ]);
      expect((ps.containerStatuses as Rec[])[0]).toMatchObject({
        name: "main",
        ready: true,
        started: true,
        restartCount: 0,
        image: "docker.io/library/nginx:1.27",
        imageID: expect.stringMatching(/^docker\.io\/library\/nginx@sha256:[0-9a-f]{64}$/),
        state: { running: { startedAt: expect.any(String) } },
      });
    }
    expect(new Set(pods.map((p) => status(p).podIP)).size).toBe(3);
    expect(events("ScalingReplicaSet").map((e) => e.message)).toEqual([
      `Scaled up replica set web-${hash} from 0 to 3`,
    ]);
    expect(events("SuccessfulCreate")).toHaveLength(3);
    const podEvents = events().filter((e) => (e.involvedObject as Rec).name === pods[0]?.metadata.name);
    expect(podEvents.map((e) => e.reason)).toEqual(["Scheduled", "Pulling", "Pulled", "Created", "Started"]);
    expect(podEvents[0]).toMatchObject({
      type: "Normal",
      source: { component: "default-scheduler" },
      count: 1,
      involvedObject: { kind: "Pod", namespace: NS, uid: pods[0]?.metadata.uid, apiVersion: "v1" },
      message: `Successfully assigned ${NS}/${pods[0]?.metadata.name} to sandbox-node-1`,
    });
    expect(String(podEvents[0]?.metadata && (podEvents[0].metadata as Rec).name)).toMatch(
      new RegExp(`^${pods[0]?.metadata.name}\\.[0-9a-f]+$`),
    );
  });

  it("scales up and down through spec.replicas", async () => {
    store.create("deployments.apps", deployment("web", "nginx:1.27", 2));
    await available("web");
    const d = get("deployments.apps", "web") as KubeObject;
    (d.spec as Rec).replicas = 5;
    store.update("deployments.apps", d);
    await available("web");
    expect(list("pods", "app=web")).toHaveLength(5);
    // The image is on the node now: IfNotPresent pods do not pull it again.
    expect(events("Pulled").map((e) => e.message)).toContain('Container image "nginx:1.27" already present on machine');
    expect(events("Pulling")).toHaveLength(2);
    const d2 = get("deployments.apps", "web") as KubeObject;
    (d2.spec as Rec).replicas = 1;
    store.update("deployments.apps", d2);
    await waitFor("one pod left", () => list("pods", "app=web").length === 1);
    await available("web");
    expect(events("SuccessfulDelete")).toHaveLength(4);
    expect(events("ScalingReplicaSet").map((e) => e.message)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^Scaled down replica set web-\w+ from 5 to 1$/)]),
    );
  });

  it("rolls over to a new ReplicaSet when the template changes (rollout restart) and back on undo", async () => {
    store.create("deployments.apps", deployment("web", "nginx:1.27", 4));
    await available("web");
    const [first] = list("replicasets.apps");
    const d = get("deployments.apps", "web") as KubeObject;
    const template = (d.spec as Rec).template as Rec;
    template.metadata = {
      ...(template.metadata as Rec),
      annotations: { "kubectl.kubernetes.io/restartedAt": "2026-11-26T10:00:00Z" },
    };
    store.update("deployments.apps", d);
    const rolled = await available("web");
    expect(rolled.metadata.annotations?.["deployment.kubernetes.io/revision"]).toBe("2");
    const sets = list("replicasets.apps");
    expect(sets).toHaveLength(2);
    const second = sets.find((rs) => rs.metadata.name !== first?.metadata.name);
    expect(spec(second).replicas).toBe(4);
    expect(spec(get("replicasets.apps", first?.metadata.name ?? ""))?.replicas).toBe(0);
    expect(second?.metadata.annotations?.["deployment.kubernetes.io/revision"]).toBe("2");
    const pods = list("pods", "app=web");
    expect(pods).toHaveLength(4);
    expect(
      pods.every((p) => p.metadata.labels?.["pod-template-hash"] === second?.metadata.labels?.["pod-template-hash"]),
    ).toBe(true);
    const scaling = events("ScalingReplicaSet").map((e) => String(e.message));
    expect(scaling).toEqual(expect.arrayContaining([expect.stringMatching(/^Scaled up replica set .* from 0 to 1$/)]));
    expect(
      scaling.filter((m) => m.startsWith(`Scaled down replica set ${first?.metadata.name}`)).length,
    ).toBeGreaterThan(0);
    // Undo: the old template again reuses the first ReplicaSet, with a new revision.
    const back = get("deployments.apps", "web") as KubeObject;
    ((back.spec as Rec).template as Rec).metadata = { labels: { app: "web" } };
    store.update("deployments.apps", back);
    const undone = await available("web");
    expect(undone.metadata.annotations?.["deployment.kubernetes.io/revision"]).toBe("3");
    expect(list("replicasets.apps")).toHaveLength(2);
    expect(
      get("replicasets.apps", first?.metadata.name ?? "")?.metadata.annotations?.["deployment.kubernetes.io/revision"],
    ).toBe("3");
    expect(spec(get("replicasets.apps", first?.metadata.name ?? "")).replicas).toBe(4);
  });

  it("replaces all pods at once with the Recreate strategy", async () => {
    store.create("deployments.apps", deployment("db", "postgres:17", 2, { strategy: { type: "Recreate" } }));
    await available("db");
    const d = get("deployments.apps", "db") as KubeObject;
    (((d.spec as Rec).template as Rec).spec as Rec).containers = [{ name: "main", image: "postgres:17.2" }];
    store.update("deployments.apps", d);
    await available("db");
    const sets = list("replicasets.apps");
    expect(sets.map((rs) => spec(rs).replicas).sort()).toEqual([0, 2]);
  });

  it("never makes a Deployment with an unpullable image Available, and says why", async () => {
    store.create("deployments.apps", deployment("bad", "sandbox.invalid/app:1", 1, { progressDeadlineSeconds: 1 }));
    const pod = await waitFor("ImagePullBackOff", () =>
      list("pods", "app=bad").find(
        (p) =>
          ((status(p).containerStatuses as Rec[] | undefined)?.[0]?.state as Rec | undefined)?.waiting !== undefined &&
          (((status(p).containerStatuses as Rec[])[0]?.state as Rec).waiting as Rec).reason === "ImagePullBackOff",
      ),
    );
    expect(status(pod).phase).toBe("Pending");
    expect(condition(pod, "Ready")).toMatchObject({
      status: "False",
      reason: "ContainersNotReady",
      message: "containers with unready status: [main]",
    });
    const failed = events("Failed").map((e) => [e.type, e.message]);
    expect(failed).toEqual(
      expect.arrayContaining([
        [
          "Warning",
          expect.stringMatching(/^Failed to pull image "sandbox.invalid\/app:1": rpc error: code = NotFound/),
        ],
        ["Warning", "Error: ErrImagePull"],
        ["Warning", "Error: ImagePullBackOff"],
      ]),
    );
    expect(events("BackOff")[0]).toMatchObject({ message: 'Back-off pulling image "sandbox.invalid/app:1"' });
    const d = await waitFor(
      "progress deadline",
      () => {
        const x = get("deployments.apps", "bad");
        return condition(x, "Progressing")?.reason === "ProgressDeadlineExceeded" ? x : undefined;
      },
      4000,
    );
    expect(condition(d, "Available")).toMatchObject({ status: "False", reason: "MinimumReplicasUnavailable" });
    expect(condition(d, "Progressing")).toMatchObject({
      status: "False",
      message: expect.stringMatching(/^ReplicaSet "bad-\w+" has timed out progressing\.$/),
    });
    expect(status(d)).toMatchObject({ availableReplicas: 0, unavailableReplicas: 1 });
  });

  it("recovers when a broken Deployment gets a pullable image", async () => {
    store.create("deployments.apps", deployment("fix", "sandbox.invalid/app:1", 3));
    await waitFor("pods pulling", () => list("pods", "app=fix").length === 3);
    const d = get("deployments.apps", "fix") as KubeObject;
    ((((d.spec as Rec).template as Rec).spec as Rec).containers as Rec[])[0] = { name: "main", image: "nginx:1.27" };
    store.update("deployments.apps", d);
    await available("fix");
    const sets = list("replicasets.apps");
    expect(
      sets.map((rs) => [rs.metadata.annotations?.["deployment.kubernetes.io/revision"], spec(rs).replicas]).sort(),
    ).toEqual([
      ["1", 0],
      ["2", 3],
    ]);
    await waitFor("old pods gone", () => list("pods", "app=fix").length === 3);
  });

  it("runs init containers first, and holds the pod in Init when one cannot run", async () => {
    const withInit = (name: string, initImage: string): KubeObject => {
      const d = deployment(name, "nginx:1.27", 1);
      (((d.spec as Rec).template as Rec).spec as Rec).initContainers = [
        { name: "setup", image: "busybox:1.36" },
        { name: "migrate", image: initImage },
      ];
      return d;
    };
    store.create("deployments.apps", withInit("good", "node:22"));
    await available("good");
    const [ok] = list("pods", "app=good");
    expect(
      (status(ok).initContainerStatuses as Rec[]).map((s) => [s.name, (s.state as Rec).terminated !== undefined]),
    ).toEqual([
      ["setup", true],
      ["migrate", true],
    ]);
    store.create("deployments.apps", withInit("stuck", "sandbox.invalid/migrate:1"));
    const pod = await waitFor("Init:ImagePullBackOff", () =>
      list("pods", "app=stuck").find(
        (p) =>
          (
            ((status(p).initContainerStatuses as Rec[] | undefined)?.[1]?.state as Rec | undefined)?.waiting as
              Rec | undefined
          )?.reason === "ImagePullBackOff",
      ),
    );
    expect(status(pod).phase).toBe("Pending");
    expect(condition(pod, "Initialized")).toMatchObject({
      status: "False",
      reason: "ContainersNotInitialized",
      message: "containers with incomplete status: [migrate]",
    });
    expect((status(pod).containerStatuses as Rec[])[0]).toMatchObject({
      state: { waiting: { reason: "PodInitializing" } },
    });
    expect(events("Failed").some((e) => (e.involvedObject as Rec).fieldPath === "spec.initContainers{migrate}")).toBe(
      true,
    );
  });

  it("puts a crashing container into CrashLoopBackOff with restarts counting up", async () => {
    store.create("deployments.apps", deployment("crash", "sandbox.invalid/crash:1", 1));
    const pod = await waitFor("two restarts", () =>
      list("pods", "app=crash").find(
        (p) => Number((status(p).containerStatuses as Rec[] | undefined)?.[0]?.restartCount ?? 0) >= 2,
      ),
    );
    const cs = (status(pod).containerStatuses as Rec[])[0] as Rec;
    expect(status(pod).phase).toBe("Running");
    expect(cs.ready).toBe(false);
    expect(cs.lastState).toMatchObject({ terminated: { exitCode: 1, reason: "Error" } });
    expect(events("BackOff")[0]).toMatchObject({
      type: "Warning",
      message: expect.stringMatching(/^Back-off restarting failed container main in pod crash-/),
    });
    expect(status(get("deployments.apps", "crash")).availableReplicas ?? 0).toBe(0);
  });

  it("leaves pods the node cannot take Pending with a FailedScheduling warning", async () => {
    const d = deployment("huge", "nginx:1.27", 1);
    ((((d.spec as Rec).template as Rec).spec as Rec).containers as Rec[])[0] = {
      name: "main",
      image: "nginx:1.27",
      resources: { requests: { cpu: "64", memory: "1Gi" } },
    };
    store.create("deployments.apps", d);
    const ev = await waitFor("FailedScheduling", () => events("FailedScheduling")[0]);
    expect(ev).toMatchObject({
      type: "Warning",
      source: { component: "default-scheduler" },
      message:
        "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.",
    });
    const [pod] = list("pods", "app=huge");
    expect(status(pod).phase).toBe("Pending");
    expect(spec(pod).nodeName).toBeUndefined();
    expect(condition(pod, "PodScheduled")).toMatchObject({ status: "False", reason: "Unschedulable" });
  });

  it("deletes ReplicaSets and pods when their Deployment is deleted (garbage collection)", async () => {
    store.create("deployments.apps", deployment("web", "nginx:1.27", 2));
    await available("web");
    store.delete("deployments.apps", NS, "web", { propagationPolicy: "Background" });
    await waitFor("dependents gone", () => list("replicasets.apps").length === 0 && list("pods").length === 0);
  });

  it("deletes dependents first when the owner carries the foregroundDeletion finalizer", async () => {
    const d = deployment("web", "nginx:1.27", 2);
    d.metadata.finalizers = ["foregroundDeletion"];
    store.create("deployments.apps", d);
    await available("web");
    const deleting = store.delete("deployments.apps", NS, "web", { propagationPolicy: "Foreground" });
    expect(deleting.metadata.deletionTimestamp).toBeDefined();
    await waitFor("owner gone after its dependents", () => get("deployments.apps", "web") === undefined);
    expect(list("replicasets.apps")).toHaveLength(0);
    expect(list("pods")).toHaveLength(0);
  });

  it("leaves dependents alone with propagationPolicy Orphan", async () => {
    store.create("deployments.apps", deployment("web", "nginx:1.27", 2));
    await available("web");
    store.delete("deployments.apps", NS, "web", { propagationPolicy: "Orphan" });
    await controllers.idle();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const sets = list("replicasets.apps");
    expect(sets).toHaveLength(1);
    expect(sets[0]?.metadata.ownerReferences).toBeUndefined();
    expect(list("pods")).toHaveLength(2);
    // The same Deployment again adopts what it left behind instead of starting over.
    const pods = list("pods")
      .map((p) => p.metadata.name)
      .sort();
    const again = store.create("deployments.apps", deployment("web", "nginx:1.27", 2));
    await available("web");
    const adopted = list("replicasets.apps");
    expect(adopted.map((rs) => rs.metadata.name)).toEqual([sets[0]?.metadata.name]);
    expect(adopted[0]?.metadata.ownerReferences?.[0]).toMatchObject({
      kind: "Deployment",
      uid: again.metadata.uid,
      controller: true,
    });
    expect(
      list("pods")
        .map((p) => p.metadata.name)
        .sort(),
    ).toEqual(pods);
  });

  it("releases a pod whose labels no longer match and replaces it", async () => {
    store.create("deployments.apps", deployment("web", "nginx:1.27", 2));
    await available("web");
    const [pod] = list("pods", "app=web");
    store.update("pods", {
      ...(pod as KubeObject),
      metadata: { ...(pod as KubeObject).metadata, labels: { app: "debug" } },
    });
    await waitFor("replacement", () => list("pods", "app=web").length === 2);
    const released = get("pods", pod?.metadata.name ?? "");
    expect(released?.metadata.ownerReferences).toBeUndefined();
    await available("web");
  });

  it("replaces a deleted pod", async () => {
    store.create("deployments.apps", deployment("web", "nginx:1.27", 2));
    await available("web");
    const [victim] = list("pods");
    store.delete("pods", NS, victim?.metadata.name ?? "");
    await waitFor("a new pod", () => {
      const pods = list("pods");
      return (
        pods.length === 2 &&
        pods.every((p) => p.metadata.name !== victim?.metadata.name) &&
        status(p0(pods)).phase === "Running"
      );
    });
    await available("web");
  });
});

describe("sandbox controllers lifecycle", () => {
  it("leaves no timer or queued work behind when stopped", async () => {
    store.create("deployments.apps", deployment("crash", "sandbox.invalid/crash:1", 2));
    store.create("deployments.apps", deployment("pull", "sandbox.invalid/app:1", 2, { progressDeadlineSeconds: 600 }));
    await waitFor("timers running", () => controllers.stats().timers > 0);
    controllers.stop();
    expect(controllers.stats()).toMatchObject({ queued: 0, timers: 0 });
    // Writes after stop() are not acted upon (and admission lets them through).
    store.create("deployments.apps", deployment("late", "nginx:1.27", 1));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(list("replicasets.apps", "app=late")).toHaveLength(0);
  });
});

function p0(pods: KubeObject[]): KubeObject | undefined {
  return pods[0];
}

function job(name: string, image: string, extra: Rec = {}, args?: string[]): KubeObject {
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { name, namespace: NS },
    spec: {
      ...extra,
      template: { spec: { restartPolicy: "Never", containers: [{ name: "main", image, ...(args ? { args } : {}) }] } },
    },
  };
}

describe("sandbox job controller", () => {
  it("runs a Job's pod to completion", async () => {
    store.create("jobs.batch", job("migrate", "busybox:1.36", { completions: 2 }));
    const done = await waitFor("Complete", () => {
      const j = get("jobs.batch", "migrate");
      return condition(j, "Complete")?.status === "True" ? j : undefined;
    });
    expect(status(done)).toMatchObject({
      succeeded: 2,
      startTime: expect.any(String),
      completionTime: expect.any(String),
    });
    expect(condition(done, "Complete")).toMatchObject({ reason: "CompletionsReached" });
    const pods = list("pods", "job-name=migrate");
    expect(pods).toHaveLength(2);
    for (const p of pods) {
      expect(status(p).phase).toBe("Succeeded");
      expect((status(p).containerStatuses as Rec[])[0]).toMatchObject({
        state: { terminated: { exitCode: 0, reason: "Completed" } },
      });
    }
    expect(events("Completed")[0]).toMatchObject({ message: "Job completed", source: { component: "job-controller" } });
  });

  it("runs a work-queue Job (parallelism without completions) until its pods are done", async () => {
    store.create("jobs.batch", job("queue", "busybox:1.36", { parallelism: 2 }));
    const done = await waitFor("Complete", () => {
      const j = get("jobs.batch", "queue");
      return condition(j, "Complete")?.status === "True" ? j : undefined;
    });
    expect(spec(done).completions).toBeUndefined();
    expect(status(done).succeeded).toBe(2);
    expect(list("pods", "job-name=queue")).toHaveLength(2);
  });

  it("fails a Job whose image cannot run after backoffLimit retries", async () => {
    store.create("jobs.batch", job("broken", "sandbox.invalid/tool:1", { backoffLimit: 1 }));
    const failed = await waitFor("Failed", () => {
      const j = get("jobs.batch", "broken");
      return condition(j, "Failed")?.status === "True" ? j : undefined;
    });
    expect(condition(failed, "Failed")).toMatchObject({
      reason: "BackoffLimitExceeded",
      message: "Job has reached the specified backoff limit",
    });
    expect(status(failed).failed).toBe(2);
    expect(list("pods", "job-name=broken").every((p) => status(p).phase === "Failed")).toBe(true);
  });

  it("fails a Job that runs past activeDeadlineSeconds and deletes finished Jobs after their TTL", async () => {
    store.create("jobs.batch", job("slow", "busybox:1.36", { activeDeadlineSeconds: 0 }));
    const failed = await waitFor("DeadlineExceeded", () => {
      const j = get("jobs.batch", "slow");
      return condition(j, "Failed")?.status === "True" ? j : undefined;
    });
    expect(condition(failed, "Failed")).toMatchObject({
      reason: "DeadlineExceeded",
      message: "Job was active longer than specified deadline",
    });
    store.create("jobs.batch", job("once", "busybox:1.36", { ttlSecondsAfterFinished: 0 }));
    await waitFor(
      "Complete",
      () => condition(get("jobs.batch", "once"), "Complete") !== undefined || get("jobs.batch", "once") === undefined,
    );
    await waitFor(
      "job and pods deleted",
      () => get("jobs.batch", "once") === undefined && list("pods", "job-name=once").length === 0,
    );
  });

  it("reports the pushed image digest of a kaniko build in the termination message", async () => {
    store.create(
      "jobs.batch",
      job("build", "gcr.io/kaniko-project/executor:v1.23.2", {}, [
        "--context=git://example/repo",
        "--destination=registry.local/shop/web:7",
      ]),
    );
    await waitFor("Complete", () => condition(get("jobs.batch", "build"), "Complete")?.status === "True");
    const [pod] = list("pods", "job-name=build");
    const terminated = (((status(pod).containerStatuses as Rec[])[0] as Rec).state as Rec).terminated as Rec;
    expect(JSON.parse(String(terminated.message))).toEqual({ digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) });
  });
});
