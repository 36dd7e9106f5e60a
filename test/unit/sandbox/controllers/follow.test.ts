import { describe, it, expect } from "@jest/globals";
import { Store } from "../../../../lib/sandbox/store.ts";
import type { KubeObject } from "../../../../lib/sandbox/types.ts";
import { followPodLog, renderPodLog } from "../../../../lib/sandbox/synthetic.ts";

function storeWithPod(image: string, state: Record<string, unknown>): { store: Store; pod: KubeObject } {
  const store = new Store();
  const pod = store.create("pods", {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "web", namespace: "default" },
    spec: { containers: [{ name: "main", image }] },
  });
  const running = store.update(
    "pods",
    {
      ...pod,
      status: { phase: "Running", containerStatuses: [{ name: "main", ready: true, restartCount: 0, state }] },
    },
    { subresource: "status" },
  );
  return { store, pod: running };
}

function collect(): { chunks: string[]; ended: Promise<void>; onChunk: (t: string) => void; onEnd: () => void } {
  const chunks: string[] = [];
  let end: () => void = () => undefined;
  const ended = new Promise<void>((resolve) => (end = resolve));
  return { chunks, ended, onChunk: (t) => chunks.push(t), onEnd: () => end() };
}

describe("sandbox followPodLog", () => {
  it("sends what is there first, then ends when the pod goes", async () => {
    const startedAt = new Date(Date.now() - 60_000).toISOString().replace(/\.\d{3}Z$/, "Z");
    const { store, pod } = storeWithPod("nginx:1.27", { running: { startedAt } });
    const c = collect();
    const stop = followPodLog(store, pod, { tailLines: 2 }, c.onChunk, c.onEnd);
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(c.chunks[0]?.trimEnd().split("\n")).toHaveLength(2);
    expect(c.chunks[0]).toBe(renderPodLog(pod, { tailLines: 2 }, new Date()));
    store.delete("pods", "default", "web");
    await c.ended;
    stop();
  });

  it("sends new lines as the container writes them", async () => {
    const startedAt = new Date(Date.now() - 2600).toISOString();
    const { store, pod } = storeWithPod("nginx:1.27", { running: { startedAt } });
    const c = collect();
    const stop = followPodLog(store, pod, { timestamps: true }, c.onChunk, c.onEnd);
    const until = Date.now() + 4000;
    while (c.chunks.length < 2 && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 50));
    stop();
    expect(c.chunks.length).toBeGreaterThanOrEqual(2);
    expect(c.chunks[0]).toContain("start worker processes");
    expect(c.chunks[1]).toMatch(/^\S+Z \d+\.\d+\.\d+\.\d+ - - \[.*\] "GET /);
  });

  it("ends after the last lines of a container that has exited", async () => {
    const { store, pod } = storeWithPod("sandbox.invalid/crash:1", {
      terminated: {
        exitCode: 1,
        reason: "Error",
        startedAt: "2026-11-26T10:00:00Z",
        finishedAt: "2026-11-26T10:00:01Z",
      },
    });
    const c = collect();
    followPodLog(store, pod, {}, c.onChunk, c.onEnd);
    await c.ended;
    expect(c.chunks.join("")).toContain("Error: Cannot find module");
  });

  it("stops quietly when the caller stops it, and refuses bad requests at once", async () => {
    const { store, pod } = storeWithPod("nginx:1.27", { running: { startedAt: "2026-11-26T10:00:00Z" } });
    let ended = false;
    const stop = followPodLog(
      store,
      pod,
      {},
      () => undefined,
      () => (ended = true),
    );
    stop();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(ended).toBe(false);
    expect(() =>
      followPodLog(
        store,
        pod,
        { container: "nope" },
        () => undefined,
        () => undefined,
      ),
    ).toThrow(expect.objectContaining({ status: expect.objectContaining({ code: 400 }) }));
  });
});
