import { describe, it, expect } from "@jest/globals";
import type { KubeObject } from "../../../../lib/sandbox/types.ts";
import { buildDestination, imageKind, podMetrics, renderPodLog } from "../../../../lib/sandbox/synthetic.ts";

const START = "2026-11-26T10:00:00Z";

function runningPod(image: string, extra: Partial<{ containers: unknown[]; statuses: unknown[] }> = {}): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "web-abc12-xyz89", namespace: "shop", uid: "0b6a3c1e-1111-2222-3333-444455556666" },
    spec: { containers: extra.containers ?? [{ name: "main", image }] },
    status: {
      phase: "Running",
      podIP: "10.244.0.7",
      containerStatuses: extra.statuses ?? [
        { name: "main", ready: true, restartCount: 0, state: { running: { startedAt: START } } },
      ],
    },
  };
}

const at = (seconds: number): Date => new Date(Date.parse(START) + seconds * 1000);

describe("sandbox synthetic logs", () => {
  it("writes nginx's start-up lines and then access-log lines", () => {
    const log = renderPodLog(runningPod("nginx:1.27"), {}, at(60));
    const lines = log.trimEnd().split("\n");
    expect(lines[0]).toBe(
      "/docker-entrypoint.sh: /docker-entrypoint.d/ is not empty, will attempt to perform configuration",
    );
    expect(log).toContain("2026/11/26 10:00:00 [notice] 1#1: start worker processes");
    expect(lines.filter((l) => / - - \[26\/Nov\/2026:10:0\d:\d\d \+0000\] "GET /.test(l)).length).toBeGreaterThan(10);
  });

  it("gives the same text for the same pod and time, and more lines later", () => {
    const pod = runningPod("nginx:1.27");
    const a = renderPodLog(pod, {}, at(120));
    expect(renderPodLog(structuredClone(pod), {}, at(120))).toBe(a);
    expect(renderPodLog(pod, {}, at(240)).startsWith(a)).toBe(true);
    expect(renderPodLog(pod, {}, at(240)).length).toBeGreaterThan(a.length);
  });

  it("knows php-fpm, node, redis and postgres", () => {
    expect(renderPodLog(runningPod("php:8.3-fpm"), {}, at(5))).toContain("NOTICE: fpm is running, pid 1");
    expect(renderPodLog(runningPod("node:22-alpine"), {}, at(5))).toContain("Server listening on http://0.0.0.0:3000");
    expect(renderPodLog(runningPod("redis:7"), {}, at(5))).toContain("Ready to accept connections tcp");
    expect(renderPodLog(runningPod("postgres:17"), {}, at(5))).toContain(
      "database system is ready to accept connections",
    );
    expect(imageKind("ghcr.io/acme/shop-api:1.4.2")).toBe("generic");
    expect(imageKind("sandbox.invalid/crash:1")).toBe("crash");
  });

  it("honours tailLines, sinceSeconds, timestamps and limitBytes", () => {
    const pod = runningPod("nginx:1.27");
    const now = at(300);
    expect(renderPodLog(pod, { tailLines: 3 }, now).trimEnd().split("\n")).toHaveLength(3);
    expect(renderPodLog(pod, { tailLines: 0 }, now)).toBe("");
    const recent = renderPodLog(pod, { sinceSeconds: 20, timestamps: true }, now).trimEnd().split("\n");
    expect(recent.length).toBeGreaterThan(0);
    for (const line of recent) {
      const stamp = line.split(" ")[0] ?? "";
      expect(stamp).toMatch(/^2026-11-26T10:0\d:\d\d\.\d{9}Z$/);
      expect(Date.parse(stamp)).toBeGreaterThanOrEqual(now.getTime() - 20_000);
    }
    expect(Buffer.byteLength(renderPodLog(pod, { limitBytes: 100 }, now))).toBe(100);
  });

  it("answers 400 like the kubelet for unknown, ambiguous or waiting containers", () => {
    const two = runningPod("nginx", {
      containers: [
        { name: "web", image: "nginx" },
        { name: "sidecar", image: "busybox" },
      ],
    });
    expect(() => renderPodLog(two, {}, at(5))).toThrow(
      expect.objectContaining({
        status: expect.objectContaining({
          code: 400,
          message: "a container name must be specified for pod web-abc12-xyz89, choose one of: [web sidecar]",
        }),
      }),
    );
    expect(() => renderPodLog(two, { container: "db" }, at(5))).toThrow(
      "container db is not valid for pod web-abc12-xyz89",
    );
    const pulling = runningPod("sandbox.invalid/x", {
      statuses: [{ name: "main", ready: false, restartCount: 0, state: { waiting: { reason: "ImagePullBackOff" } } }],
    });
    expect(() => renderPodLog(pulling, {}, at(5))).toThrow(
      'container "main" in pod "web-abc12-xyz89" is waiting to start: image can\'t be pulled',
    );
    const creating = runningPod("nginx", {
      statuses: [{ name: "main", ready: false, restartCount: 0, state: { waiting: { reason: "ContainerCreating" } } }],
    });
    expect(() => renderPodLog(creating, {}, at(5))).toThrow("is waiting to start: ContainerCreating");
    expect(() => renderPodLog(runningPod("nginx"), { previous: true }, at(5))).toThrow(
      'previous terminated container "main" in pod "web-abc12-xyz89" not found',
    );
  });

  it("shows a crashed container's last run, also with previous", () => {
    const crashed = runningPod("sandbox.invalid/crash:1", {
      statuses: [
        {
          name: "main",
          ready: false,
          restartCount: 2,
          state: { waiting: { reason: "CrashLoopBackOff" } },
          lastState: {
            terminated: { exitCode: 1, reason: "Error", startedAt: START, finishedAt: "2026-11-26T10:00:01Z" },
          },
        },
      ],
    });
    const log = renderPodLog(crashed, {}, at(30));
    expect(log).toContain("Error: Cannot find module '/app/server.js'");
    expect(renderPodLog(crashed, { previous: true }, at(30))).toBe(log);
  });

  it("finds the destination of kaniko and buildkit builds", () => {
    expect(
      buildDestination({
        image: "gcr.io/kaniko-project/executor:v1.23.2",
        args: ["--context=dir:///ws", "--destination=reg.local/app:1"],
      }),
    ).toBe("reg.local/app:1");
    expect(
      buildDestination({
        image: "moby/buildkit:v0.18.0",
        args: ["--output", "type=image,name=reg.local/app:2,push=true"],
      }),
    ).toBe("reg.local/app:2");
    expect(buildDestination({ image: "nginx", args: ["--destination=x"] })).toBeUndefined();
  });
});

describe("sandbox synthetic metrics", () => {
  it("reports stable, plausible usage for running containers only", () => {
    const pod = runningPod("nginx:1.27");
    const m = podMetrics(pod, at(100));
    expect(m).toMatchObject({
      kind: "PodMetrics",
      apiVersion: "metrics.k8s.io/v1beta1",
      metadata: { name: "web-abc12-xyz89", namespace: "shop" },
      window: "15s",
      containers: [
        { name: "main", usage: { cpu: expect.stringMatching(/^\d+n$/), memory: expect.stringMatching(/^\d+Ki$/) } },
      ],
    });
    expect((podMetrics(pod, at(101)) as { containers?: unknown }).containers).toEqual(
      (m as { containers?: unknown }).containers,
    );
    const containers = (m as unknown as { containers: { usage: { cpu: string; memory: string } }[] }).containers;
    const cpuMilli = Number.parseInt(containers[0]?.usage.cpu ?? "0", 10) / 1e6;
    const memMi = Number.parseInt(containers[0]?.usage.memory ?? "0", 10) / 1024;
    expect(cpuMilli).toBeGreaterThan(0.5);
    expect(cpuMilli).toBeLessThan(10);
    expect(memMi).toBeGreaterThan(2);
    expect(memMi).toBeLessThan(20);
    const pending = { ...pod, status: { phase: "Pending" } };
    expect(podMetrics(pending, at(100))).toBeUndefined();
  });
});
