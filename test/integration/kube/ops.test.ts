import { describe, it, expect, beforeAll, afterAll } from "@jest/globals";
import type { Readable } from "node:stream";
import type { KubernetesObject } from "@kubernetes/client-node";
import { startHarness, appObjects, waitFor, type Harness } from "./harness.ts";

type Params = Record<string, unknown>;

let h: Harness;
let pod: string;

interface ListResult {
  items: (KubernetesObject & { status?: { phase?: string } })[];
}

beforeAll(async () => {
  h = await startHarness();
  await h.broker.call("v1.kube.apply", { objects: appObjects("ops"), fieldManager: "k8s.deployments" });
  pod = await waitFor(
    async () => {
      const r = await h.broker.call<ListResult, Params>("v1.kube.list", {
        apiVersion: "v1",
        kind: "Pod",
        namespace: "ops",
        labelSelector: "app.kubernetes.io/instance=ops-web",
      });
      const running = r.items.find((p) => p.status?.phase === "Running");
      return running?.metadata?.name;
    },
    5000,
    "a running pod",
  );
});

afterAll(async () => {
  await h?.stop();
});

describe("v1.kube.logs", () => {
  it("returns a container's log as text", async () => {
    const text = await h.broker.call<string, Params>("v1.kube.logs", { namespace: "ops", pod });
    expect(typeof text).toBe("string");
    expect(text.length).toBeGreaterThan(0);
  });

  it("honours tailLines", async () => {
    const text = await h.broker.call<string, Params>("v1.kube.logs", {
      namespace: "ops",
      pod,
      container: "main",
      tailLines: 1,
    });
    expect(text.trimEnd().split("\n")).toHaveLength(1);
  });

  it("answers 404 for a missing pod", async () => {
    await expect(h.broker.call("v1.kube.logs", { namespace: "ops", pod: "nope" })).rejects.toMatchObject({ code: 404 });
  });

  it("follows a log as a stream that stops, closing its request, when the caller destroys it", async () => {
    const stream = await h.broker.call<Readable, Params>("v1.kube.logs", { namespace: "ops", pod, follow: true });
    const first = await new Promise<string>((resolve, reject) => {
      stream.once("data", (chunk: Buffer) => resolve(chunk.toString("utf8")));
      stream.once("error", reject);
    });
    expect(first.length).toBeGreaterThan(0);
    stream.destroy();
    await new Promise((r) => stream.once("close", r));
  });

  it("refuses a follow with the API server's reason, as it refuses a read", async () => {
    // Each refusal as the API server words it (client-node's Log answered "HTTP 404" / "HTTP 400" for every one).
    for (const follow of [false, true]) {
      await expect(
        h.broker.call("v1.kube.logs", { namespace: "ops", pod: "nope", container: "main", follow }),
      ).rejects.toMatchObject({
        code: 404,
        type: "K8S_NOT_FOUND",
        message: 'pods "nope" not found',
        data: { kind: "pods", name: "nope" },
      });
      await expect(
        h.broker.call("v1.kube.logs", { namespace: "ops", pod, container: "nope", follow }),
      ).rejects.toMatchObject({
        code: 422,
        type: "K8S_INVALID",
        message: `container nope is not valid for pod ${pod}`,
      });
      await expect(
        h.broker.call("v1.kube.logs", { namespace: "ops", pod, container: "main", previous: true, follow }),
      ).rejects.toMatchObject({
        code: 422,
        message: `previous terminated container "main" in pod "${pod}" not found`,
      });
    }
  });

  it("ends a followed log after maxSeconds", async () => {
    const stream = await h.broker.call<Readable, Params>("v1.kube.logs", {
      namespace: "ops",
      pod,
      follow: true,
      maxSeconds: 1,
    });
    stream.resume();
    await new Promise((r) => stream.once("end", r));
  });

  it("ends a followed log when the pod goes away", async () => {
    await h.broker.call("v1.kube.apply", {
      objects: [
        {
          apiVersion: "v1",
          kind: "Pod",
          metadata: { name: "lonely", namespace: "ops" },
          spec: { containers: [{ name: "c", image: "nginx:1.27" }] },
        },
      ],
      fieldManager: "test",
    });
    await waitFor(async () => {
      const p = await h.broker.call<{ status?: { phase?: string } }, Params>("v1.kube.get", {
        apiVersion: "v1",
        kind: "Pod",
        namespace: "ops",
        name: "lonely",
      });
      return p.status?.phase === "Running";
    });
    const stream = await h.broker.call<Readable, Params>("v1.kube.logs", {
      namespace: "ops",
      pod: "lonely",
      follow: true,
    });
    stream.resume();
    const ended = new Promise((r) => stream.once("end", r));
    await h.broker.call("v1.kube.delete", { apiVersion: "v1", kind: "Pod", namespace: "ops", name: "lonely" });
    await ended;
  });
});

describe("v1.kube.top", () => {
  it("reports cpu and memory per container and pod, with totals", async () => {
    const top = await waitFor(async () => {
      const r = await h.broker.call<
        {
          pods: { name: string; cpuMillicores: number; memoryBytes: number; containers: { name: string }[] }[];
          totals: { cpuMillicores: number; memoryBytes: number; memoryMi: number };
        },
        Params
      >("v1.kube.top", { namespace: "ops", labelSelector: "app.kubernetes.io/instance=ops-web" });
      return r.pods.length > 0 ? r : undefined;
    });
    expect(top.pods[0]?.name).toBe(pod);
    expect(top.pods[0]?.containers[0]?.name).toBe("main");
    expect(top.totals.cpuMillicores).toBeGreaterThan(0);
    expect(top.totals.memoryBytes).toBeGreaterThan(0);
    expect(top.totals.memoryMi).toBeCloseTo(top.totals.memoryBytes / 2 ** 20, 1);
  });

  it("filters to one pod", async () => {
    const top = await h.broker.call<{ pods: { name: string }[] }, Params>("v1.kube.top", { namespace: "ops", pod });
    expect(top.pods.map((p) => p.name)).toEqual([pod]);
  });
});

describe("v1.kube.events", () => {
  it("lists a pod's events, newest first", async () => {
    const { items } = await waitFor(async () => {
      const r = await h.broker.call<
        { items: { reason?: string; lastTimestamp?: string; involvedObject: { name?: string } }[] },
        Params
      >("v1.kube.events", { namespace: "ops", kind: "Pod", name: pod });
      return r.items.length > 1 ? r : undefined;
    });
    expect(items.every((e) => e.involvedObject.name === pod)).toBe(true);
    const times = items.map((e) => new Date(e.lastTimestamp ?? 0).getTime());
    expect([...times].sort((a, b) => b - a)).toEqual(times);
  });
});

describe("v1.kube.status", () => {
  it("says the sandbox is reachable, with its version", async () => {
    const status = await h.broker.call<{ reachable: boolean; source: string; version: string }>("v1.kube.status");
    expect(status).toMatchObject({ reachable: true, source: "kubeconfig" });
    expect(status.version).toMatch(/^v1\.\d+/);
  });

  it("is ready once the watches have listed", async () => {
    await expect(h.broker.call("v1.kube.readiness")).resolves.toEqual({ ready: true, checks: { cluster: "ok" } });
  });
});
