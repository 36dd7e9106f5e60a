import { describe, it, expect, beforeAll, afterAll } from "@jest/globals";
import { ServiceBroker, type Context } from "moleculer";
import { startSandbox, type Sandbox } from "../../../lib/sandbox/index.ts";
import kubeService from "../../../services/kube.service.ts";
import { waitFor, MANAGED, type RecordedEvent } from "./harness.ts";

let sandbox: Sandbox;
let broker: ServiceBroker;
const events: RecordedEvent[] = [];

const cm = (name: string) => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name, namespace: "default", labels: MANAGED },
  data: { a: name },
});

beforeAll(async () => {
  sandbox = await startSandbox({ port: 0, podReadyDelayMs: 20 });
  broker = new ServiceBroker({ logger: false });
  broker.createService({
    ...kubeService,
    // Short backoff so that the test does not wait 1 s, 2 s, 4 s... for the watches to come back.
    settings: {
      ...kubeService.settings,
      kubeconfig: sandbox.kubeconfig(),
      watchBackoff: { initialMs: 50, maxMs: 200 },
    },
  });
  broker.createService({
    name: "recorder",
    events: {
      "kube.**"(ctx: Context<Record<string, unknown>>) {
        events.push({ name: ctx.eventName ?? "", payload: ctx.params, at: Date.now() });
      },
    },
  });
  await broker.start();
  await waitFor(
    () =>
      broker.call("v1.kube.readiness").then(
        () => true,
        () => false,
      ),
    5000,
    "readiness",
  );
});

afterAll(async () => {
  await broker?.stop();
  await sandbox?.stop();
});

describe("v1.kube when the cluster goes away and comes back", () => {
  it("answers retryable 503s while the cluster is down, and resumes its watches when it is back", async () => {
    await broker.call("v1.kube.apply", { objects: [cm("before-outage")], fieldManager: "test" });
    await waitFor(() => events.find((e) => e.name === "kube.configmaps.added"), 5000, "the first change");
    const port = Number(new URL(sandbox.url).port);
    const token = sandbox.token;
    await sandbox.stop();

    await expect(
      broker.call("v1.kube.apply", { objects: [cm("while-down")], fieldManager: "test" }),
    ).rejects.toMatchObject({ code: 503, type: "K8S_UNAVAILABLE", retryable: true });
    await expect(
      broker.call("v1.kube.get", { apiVersion: "v1", kind: "ConfigMap", namespace: "default", name: "x" }),
    ).rejects.toMatchObject({ code: 503, type: "K8S_UNAVAILABLE" });
    await expect(
      broker.call("v1.kube.list", {
        apiVersion: "v1",
        kind: "ConfigMap",
        labelSelector: "app.kubernetes.io/managed-by=moleculer-k8s",
      }),
    ).rejects.toMatchObject({ code: 503 });
    await expect(broker.call("v1.kube.readiness")).rejects.toMatchObject({ code: 503 });
    await expect(broker.call("v1.kube.status")).resolves.toMatchObject({ reachable: false });
    await waitFor(() => events.find((e) => e.name === "kube.watch.failed"), 5000, "kube.watch.failed");
    expect(events.find((e) => e.name === "kube.watch.failed")?.payload).toMatchObject({
      error: { code: 503, type: "K8S_UNAVAILABLE" },
      attempt: expect.any(Number),
    });

    sandbox = await startSandbox({ port, token, podReadyDelayMs: 20 });
    await waitFor(
      () =>
        broker.call("v1.kube.readiness").then(
          () => true,
          () => false,
        ),
      10_000,
      "readiness after restart",
    );

    await broker.call("v1.kube.apply", {
      objects: [cm("after-restart")],
      fieldManager: "test",
    });
    const seen = await waitFor(
      () =>
        events.find(
          (e) =>
            e.name === "kube.configmaps.added" && (e.payload.metadata as { name: string }).name === "after-restart",
        ),
      5000,
      "the watch to report a change after the restart",
    );
    expect(seen.payload).toMatchObject({ kind: "ConfigMap", data: { a: "after-restart" } });
    // The cluster came back empty (no state file): the fresh list reports what disappeared meanwhile.
    await waitFor(
      () =>
        events.find(
          (e) =>
            e.name === "kube.configmaps.deleted" && (e.payload.metadata as { name: string }).name === "before-outage",
        ),
      5000,
      "the deletion seen by the re-list",
    );
  });

  it("starts while the cluster is down, says it is not ready, and becomes ready when the cluster appears", async () => {
    const probe = await startSandbox({ port: 0 });
    const port = Number(new URL(probe.url).port);
    const { token } = probe;
    const kubeconfig = probe.kubeconfig();
    await probe.stop();

    const late = new ServiceBroker({ logger: false, nodeID: "late" });
    late.createService({
      ...kubeService,
      settings: { ...kubeService.settings, kubeconfig, watchBackoff: { initialMs: 50, maxMs: 200 } },
    });
    await late.start();
    let cluster: Sandbox | undefined;
    try {
      await expect(late.call("v1.kube.readiness")).rejects.toMatchObject({ code: 503, type: "K8S_UNAVAILABLE" });
      await expect(late.call("v1.kube.status")).resolves.toMatchObject({ reachable: false, synced: false });
      cluster = await startSandbox({ port, token, podReadyDelayMs: 20 });
      await waitFor(
        () =>
          late.call("v1.kube.readiness").then(
            () => true,
            () => false,
          ),
        10_000,
        "readiness",
      );
      await expect(late.call("v1.kube.status")).resolves.toMatchObject({ reachable: true, synced: true });
    } finally {
      await late.stop();
      await cluster?.stop();
    }
  });

  it("answers 500 K8S_FORBIDDEN when the cluster refuses its credentials, and is not ready", async () => {
    const wrong = new ServiceBroker({ logger: false, nodeID: "wrong-token" });
    const kubeconfig = sandbox.kubeconfig().replace(sandbox.token, "not-the-token");
    wrong.createService({ ...kubeService, settings: { ...kubeService.settings, kubeconfig, informers: false } });
    await wrong.start();
    try {
      const err = await wrong
        .call("v1.kube.get", { apiVersion: "v1", kind: "Namespace", name: "default" })
        .catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 500, type: "K8S_FORBIDDEN" });
      expect((err as Error).message).toContain("refused our credentials");
      await expect(wrong.call("v1.kube.readiness")).rejects.toMatchObject({ code: 503 });
    } finally {
      await wrong.stop();
    }
  });
});
