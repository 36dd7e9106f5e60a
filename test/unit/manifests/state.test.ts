import { describe, expect, it } from "@jest/globals";
import type { V1Deployment, V1Pod } from "@kubernetes/client-node";
import {
  containerInfoOf,
  deploymentStateOf,
  lastFailureOf,
  podInfoOf,
  podInfosOf,
  rolloutInProgress,
  StateAnswers,
} from "../../../lib/manifests/state.ts";
import { isSharedAnswer, jsonOf } from "../../../lib/shared-answer.ts";

const START = new Date("2026-11-26T10:00:00Z");

function pod(name: string, overrides: Partial<NonNullable<V1Pod["status"]>> = {}, deleting = false): V1Pod {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name,
      namespace: "shop",
      labels: { "pod-template-hash": "abc123" },
      ...(deleting ? { deletionTimestamp: START } : {}),
    },
    spec: { nodeName: "sandbox-node", containers: [{ name: "web", image: "nginx:1.27" }] },
    status: {
      phase: "Running",
      startTime: START,
      conditions: [{ type: "Ready", status: "True" }],
      containerStatuses: [
        {
          name: "web",
          image: "nginx:1.27",
          imageID: "",
          ready: true,
          restartCount: 0,
          state: { running: { startedAt: START } },
        },
      ],
      ...overrides,
    },
  };
}

function waiting(reason: string, restarts = 0): Partial<NonNullable<V1Pod["status"]>> {
  return {
    phase: "Pending",
    conditions: [{ type: "Ready", status: "False" }],
    containerStatuses: [
      {
        name: "web",
        image: "nginx:1.27",
        imageID: "",
        ready: false,
        restartCount: restarts,
        state: { waiting: { reason, message: `${reason} happened` } },
        ...(restarts > 0 ? { lastState: { terminated: { exitCode: 1, reason: "Error" } } } : {}),
      },
    ],
  };
}

function deployment(status: NonNullable<V1Deployment["status"]>, generation = 2): V1Deployment {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "web", namespace: "shop", generation },
    spec: { selector: {}, template: {} },
    status,
  };
}

const settled = deployment({
  observedGeneration: 2,
  replicas: 2,
  updatedReplicas: 2,
  readyReplicas: 2,
  availableReplicas: 2,
  conditions: [
    { type: "Available", status: "True", reason: "MinimumReplicasAvailable" },
    { type: "Progressing", status: "True", reason: "NewReplicaSetAvailable" },
  ],
});

describe("podInfoOf", () => {
  it("shows a running pod with its node, start time, template hash and container", () => {
    expect(podInfoOf(pod("web-abc123-aaaaa"))).toEqual({
      name: "web-abc123-aaaaa",
      phase: "Running",
      ready: true,
      restarts: 0,
      node: "sandbox-node",
      startTime: START.toISOString(),
      terminating: false,
      templateHash: "abc123",
      containers: [{ name: "web", state: "running", ready: true, restartCount: 0, image: "nginx:1.27" }],
    });
  });

  it("names the reason a container waits (ImagePullBackOff, CrashLoopBackOff) and why it last ended", () => {
    const info = podInfoOf(pod("web-abc123-bbbbb", waiting("CrashLoopBackOff", 3)));
    expect(info).toMatchObject({ phase: "Pending", ready: false, restarts: 3, reason: "CrashLoopBackOff" });
    expect(info.containers[0]).toEqual({
      name: "web",
      state: "waiting",
      reason: "CrashLoopBackOff",
      message: "CrashLoopBackOff happened",
      ready: false,
      restartCount: 3,
      image: "nginx:1.27",
      lastTerminationReason: "Error",
    });
  });

  it("lists a container without a status yet as waiting in ContainerCreating", () => {
    const info = podInfoOf(pod("web-abc123-ccccc", { phase: "Pending", containerStatuses: [], conditions: [] }));
    expect(info).toMatchObject({ ready: false, reason: "ContainerCreating" });
    expect(info.containers).toEqual([
      {
        name: "web",
        state: "waiting",
        reason: "ContainerCreating",
        ready: false,
        restartCount: 0,
        image: "nginx:1.27",
      },
    ]);
  });

  it("marks a pod being deleted as terminating and sorts pods by name", () => {
    const infos = podInfosOf([pod("web-b", {}, true), pod("web-a")]);
    expect(infos.map((p) => [p.name, p.terminating])).toEqual([
      ["web-a", false],
      ["web-b", true],
    ]);
  });

  it("shows a terminated container with its reason", () => {
    const info = containerInfoOf({
      name: "job",
      image: "busybox",
      imageID: "",
      ready: false,
      restartCount: 0,
      state: { terminated: { exitCode: 137, reason: "OOMKilled" } },
    });
    expect(info).toMatchObject({ state: "terminated", reason: "OOMKilled" });
  });
});

describe("rolloutInProgress", () => {
  it("is false for a settled Deployment and for none", () => {
    expect(rolloutInProgress(settled, 2)).toBe(false);
    expect(rolloutInProgress(undefined, 2)).toBe(false);
  });

  it("is true while the controller has not seen the new generation", () => {
    expect(rolloutInProgress({ ...settled, metadata: { ...settled.metadata, generation: 3 } }, 2)).toBe(true);
  });

  it("is true while old pods remain, too few are updated, or updated ones are not available", () => {
    expect(
      rolloutInProgress(
        deployment({ observedGeneration: 2, replicas: 3, updatedReplicas: 2, availableReplicas: 2 }),
        2,
      ),
    ).toBe(true);
    expect(
      rolloutInProgress(
        deployment({ observedGeneration: 2, replicas: 2, updatedReplicas: 1, availableReplicas: 2 }),
        2,
      ),
    ).toBe(true);
    expect(
      rolloutInProgress(
        deployment({ observedGeneration: 2, replicas: 2, updatedReplicas: 2, availableReplicas: 1 }),
        2,
      ),
    ).toBe(true);
  });

  it("is false once the progress deadline is exceeded (the rollout has failed, not progressing)", () => {
    const stuck = deployment({
      observedGeneration: 2,
      replicas: 2,
      updatedReplicas: 1,
      availableReplicas: 1,
      conditions: [{ type: "Progressing", status: "False", reason: "ProgressDeadlineExceeded" }],
    });
    expect(rolloutInProgress(stuck, 2)).toBe(false);
  });

  it("follows a scale to zero", () => {
    expect(rolloutInProgress(deployment({ observedGeneration: 2, replicas: 1, updatedReplicas: 0 }), 0)).toBe(true);
    expect(rolloutInProgress(deployment({ observedGeneration: 2 }), 0)).toBe(false);
  });
});

describe("lastFailureOf", () => {
  it("prefers a failing container of a live pod", () => {
    const pods = podInfosOf([pod("web-a"), pod("web-b", waiting("ImagePullBackOff"))]);
    expect(lastFailureOf(settled, pods)).toEqual({ reason: "ImagePullBackOff", message: "ImagePullBackOff happened" });
  });

  it("ignores pods on their way out and creating containers", () => {
    const pods = podInfosOf([
      pod("web-a", waiting("ImagePullBackOff"), true),
      pod("web-b", waiting("ContainerCreating")),
    ]);
    expect(lastFailureOf(settled, pods)).toBeUndefined();
  });

  it("reports a stalled rollout, then a replica failure", () => {
    const stalled = deployment({
      conditions: [{ type: "Progressing", status: "False", reason: "ProgressDeadlineExceeded", message: "too slow" }],
    });
    expect(lastFailureOf(stalled, [])).toEqual({ reason: "ProgressDeadlineExceeded", message: "too slow" });
    const quota = deployment({ conditions: [{ type: "ReplicaFailure", status: "True", reason: "FailedCreate" }] });
    expect(lastFailureOf(quota, [])).toEqual({ reason: "FailedCreate" });
  });

  it("reports a container that restarted after an error", () => {
    const restarted = pod("web-a", {
      containerStatuses: [
        {
          name: "web",
          image: "nginx:1.27",
          imageID: "",
          ready: true,
          restartCount: 1,
          state: { running: { startedAt: START } },
          lastState: { terminated: { exitCode: 137, reason: "OOMKilled" } },
        },
      ],
    });
    expect(lastFailureOf(settled, podInfosOf([restarted]))?.reason).toBe("OOMKilled");
  });
});

describe("deploymentStateOf", () => {
  const input = { id: "rec1", name: "web", namespace: "shop", revision: 4, desired: 2, phase: "Available" as const };

  it("sums up a settled deployment", () => {
    const state = deploymentStateOf(input, settled, [pod("web-b"), pod("web-a")]);
    expect(state).toMatchObject({
      id: "rec1",
      name: "web",
      namespace: "shop",
      revision: 4,
      phase: "Available",
      desired: 2,
      replicas: 2,
      updated: 2,
      ready: 2,
      available: 2,
      podPhases: { Running: 2 },
      rolloutInProgress: false,
    });
    expect(state.conditions.map((c) => c.type)).toEqual(["Available", "Progressing"]);
    expect(state.pods.map((p) => p.name)).toEqual(["web-a", "web-b"]);
    expect(state).not.toHaveProperty("lastFailureReason");
  });

  it("shows a failing rollout with its reason", () => {
    const rolling = deployment({
      observedGeneration: 2,
      replicas: 3,
      updatedReplicas: 1,
      readyReplicas: 2,
      availableReplicas: 2,
    });
    const state = deploymentStateOf({ ...input, phase: "Failed" }, rolling, [
      pod("web-a"),
      pod("web-b"),
      pod("web-c", waiting("ImagePullBackOff")),
    ]);
    expect(state).toMatchObject({
      rolloutInProgress: true,
      lastFailureReason: "ImagePullBackOff",
      lastFailureMessage: "ImagePullBackOff happened",
      podPhases: { Running: 2, Pending: 1 },
    });
  });

  it("answers zeros for a Deployment not applied yet", () => {
    const state = deploymentStateOf({ ...input, phase: "Pending" }, undefined, []);
    expect(state).toMatchObject({
      replicas: 0,
      updated: 0,
      ready: 0,
      available: 0,
      pods: [],
      rolloutInProgress: false,
    });
  });

  it("answers its fields in the same order whichever optional ones are present (the JSON a dashboard gets)", () => {
    const failing = pod("web-c", {
      phase: "Pending",
      containerStatuses: [
        {
          name: "web",
          image: "nginx:1.27",
          imageID: "",
          ready: false,
          restartCount: 3,
          state: { waiting: { reason: "CrashLoopBackOff", message: "back-off" } },
          lastState: { terminated: { reason: "Error", exitCode: 1 } },
        },
      ],
    });
    const state = deploymentStateOf(input, settled, [failing]);
    expect(Object.keys(state)).toEqual([
      "id",
      "name",
      "namespace",
      "revision",
      "phase",
      "desired",
      "replicas",
      "updated",
      "ready",
      "available",
      "conditions",
      "pods",
      "podPhases",
      "lastFailureReason",
      "lastFailureMessage",
      "rolloutInProgress",
    ]);
    const [info] = state.pods;
    expect(Object.keys(info ?? {})).toEqual([
      "name",
      "phase",
      "ready",
      "restarts",
      "node",
      "startTime",
      "terminating",
      "templateHash",
      "reason",
      "containers",
    ]);
    expect(Object.keys(info?.containers[0] ?? {})).toEqual([
      "name",
      "ready",
      "restartCount",
      "image",
      "lastTerminationReason",
      "state",
      "reason",
      "message",
    ]);
    const creating = podInfoOf({ ...failing, status: { phase: "Pending" } });
    expect(Object.keys(creating.containers[0] ?? {})).toEqual([
      "name",
      "state",
      "reason",
      "ready",
      "restartCount",
      "image",
    ]);
  });
});

describe("StateAnswers", () => {
  const input = { id: "rec1", name: "web", namespace: "shop", revision: 4, desired: 2, phase: "Available" as const };
  const pods = [pod("web-a"), pod("web-b")];

  it("answers deploymentStateOf, deep-frozen and shared", () => {
    const state = new StateAnswers().answer({}, input, settled, pods);
    expect(state).toEqual(deploymentStateOf(input, settled, pods));
    expect(isSharedAnswer(state)).toBe(true);
    for (const part of [state, state.pods, state.pods[0], state.pods[0]?.containers[0], state.conditions[0]]) {
      expect(Object.isFrozen(part)).toBe(true);
    }
    expect(JSON.parse(jsonOf(state))).toEqual(deploymentStateOf(input, settled, pods));
  });

  it("gives the same object again for the same record, input values, Deployment and pods", () => {
    const answers = new StateAnswers();
    const record = {};
    const first = answers.answer(record, input, settled, pods);
    expect(answers.answer(record, { ...input }, settled, [...pods])).toBe(first);
    // Another record (a replaced one) has its own.
    expect(answers.answer({}, input, settled, pods)).not.toBe(first);
  });

  it.each([
    ["the revision", { revision: 5 }],
    ["the desired replicas", { desired: 3 }],
    ["the phase", { phase: "Progressing" as const }],
    ["the name", { name: "web2" }],
    ["the namespace", { namespace: "shop2" }],
    ["the id", { id: "rec2" }],
  ])("makes a new one when %s changed", (_what, change) => {
    const answers = new StateAnswers();
    const record = {};
    const first = answers.answer(record, input, settled, pods);
    const changed = answers.answer(record, { ...input, ...change }, settled, pods);
    expect(changed).not.toBe(first);
    expect(changed).toEqual(deploymentStateOf({ ...input, ...change }, settled, pods));
    // And remembers the new one.
    expect(answers.answer(record, { ...input, ...change }, settled, pods)).toBe(changed);
  });

  it("makes a new one when the Deployment or any pod is another object, even an equal one", () => {
    const answers = new StateAnswers();
    const record = {};
    const first = answers.answer(record, input, settled, pods);
    const [a, b] = pods as [V1Pod, V1Pod];
    const variants: [V1Deployment | undefined, V1Pod[]][] = [
      [{ ...settled }, pods],
      [undefined, pods],
      [settled, [a, { ...b }]],
      [settled, [a]],
      [settled, [a, b, pod("web-c")]],
      [settled, [b, a]],
    ];
    for (const [dep, list] of variants) {
      const again = answers.answer(record, input, dep, list);
      expect(again).not.toBe(first);
      expect(again).toEqual(deploymentStateOf(input, dep, list));
      expect(answers.answer(record, input, settled, pods)).not.toBe(again);
    }
  });
});
