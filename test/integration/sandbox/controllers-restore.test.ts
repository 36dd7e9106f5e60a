/**
 * Controllers started on a store loaded from saved state (the sandbox's stateFile) pick up where the last run
 * stopped: settled objects stay as they are, unfinished work resumes, and what lost its owner meanwhile is collected.
 */
import { describe, it, expect, afterEach } from "@jest/globals";
import { Store } from "../../../lib/sandbox/store.ts";
import { startControllers, type Controllers } from "../../../lib/sandbox/controllers/index.ts";
import type { KubeObject } from "../../../lib/sandbox/types.ts";

const running: Controllers[] = [];
afterEach(() => {
  for (const c of running.splice(0)) c.stop();
});

function start(store: Store, jobDurationMs = 50): Controllers {
  const c = startControllers(store, { podReadyDelayMs: 20, jobDurationMs });
  running.push(c);
  return c;
}

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
const status = (o: KubeObject | undefined): Rec => (o?.status ?? {}) as Rec;
const available = (store: Store, name: string): boolean =>
  status(store.get("deployments.apps", "app", name)).availableReplicas === 2;

function deployment(name: string, image: string): KubeObject {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace: "app" },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: "main", image }] } },
    },
  };
}

describe("sandbox controllers on restored state", () => {
  it("keeps settled objects, resumes unfinished work and collects orphans", async () => {
    const first = new Store();
    const c1 = start(first, 60_000);
    first.create("namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: "app" } });
    first.create("deployments.apps", deployment("web", "nginx:1.27"));
    first.create("deployments.apps", deployment("old", "nginx:1.27"));
    first.create("services", {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "web", namespace: "app" },
      spec: { selector: { app: "web" }, ports: [{ port: 80 }] },
    });
    first.create("jobs.batch", {
      apiVersion: "batch/v1",
      kind: "Job",
      metadata: { name: "migrate", namespace: "app" },
      spec: { template: { spec: { restartPolicy: "Never", containers: [{ name: "main", image: "busybox" }] } } },
    });
    await waitFor("rolled out", () => available(first, "web") && available(first, "old"));
    await waitFor("job pod running", () =>
      first
        .list("pods", { namespace: "app", labelSelector: "job-name=migrate" })
        .items.some((p) => status(p).phase === "Running"),
    );
    c1.stop();

    const state = first.toJSON();
    state.objects = state.objects.filter((o) => !(o.key === "deployments.apps" && o.object.metadata.name === "old"));
    const second = Store.fromJSON(JSON.parse(JSON.stringify(state)) as typeof state);
    const podsBefore = first
      .list("pods", { namespace: "app", labelSelector: "app=web" })
      .items.map((p) => p.metadata.name)
      .sort();
    start(second);

    // The job's pod was running when the first run stopped: it finishes now.
    await waitFor("job complete", () =>
      ((status(second.get("jobs.batch", "app", "migrate")).conditions ?? []) as Rec[]).some(
        (c) => c.type === "Complete",
      ),
    );
    // The ReplicaSet and pods of the deployment that vanished are collected.
    await waitFor(
      "orphans collected",
      () => second.list("pods", { namespace: "app", labelSelector: "app=old" }).items.length === 0,
    );
    expect(second.list("replicasets.apps", { namespace: "app" }).items.map((rs) => rs.metadata.name)).toEqual([
      expect.stringMatching(/^web-/),
    ]);
    // Settled pods are left alone, and new objects get fresh IPs.
    expect(
      second
        .list("pods", { namespace: "app", labelSelector: "app=web" })
        .items.map((p) => p.metadata.name)
        .sort(),
    ).toEqual(podsBefore);
    second.create("deployments.apps", deployment("api", "node:22"));
    const fresh = second.create("services", {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "api", namespace: "app" },
      spec: { selector: { app: "api" }, ports: [{ port: 80 }] },
    });
    expect((fresh.spec as Rec).clusterIP).not.toBe((second.get("services", "app", "web")?.spec as Rec).clusterIP);
    await waitFor("api available", () => available(second, "api"));
    const ips = second
      .list("pods", { namespace: "app" })
      .items.filter((p) => status(p).phase === "Running")
      .map((p) => status(p).podIP);
    expect(new Set(ips).size).toBe(ips.length);
  });
});
