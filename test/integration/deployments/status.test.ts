/**
 * How a deployment record's status is derived from its Deployment and pods (`deploymentStatusOf`, pure), and how the
 * drift log names the field (`driftPath`).
 */
import { describe, expect, it } from "@jest/globals";
import type { V1Deployment, V1Pod } from "@kubernetes/client-node";
import { deploymentStatusOf, driftPath } from "../../../services/deployments.service.ts";

function deployment(status: NonNullable<V1Deployment["status"]>, generation = 1): V1Deployment {
  return { metadata: { name: "web", generation }, status };
}
function pod(waiting?: string, scheduled = true): V1Pod {
  return {
    metadata: { name: "web-abc" },
    status: {
      ...(scheduled ? {} : { conditions: [{ type: "PodScheduled", status: "False", reason: "Unschedulable" }] }),
      containerStatuses: [
        {
          name: "web",
          image: "x",
          imageID: "",
          ready: waiting === undefined,
          restartCount: 0,
          ...(waiting === undefined ? {} : { state: { waiting: { reason: waiting, message: `${waiting} here` } } }),
        },
      ],
    },
  };
}
const rolledOut = { observedGeneration: 1, replicas: 2, readyReplicas: 2, availableReplicas: 2, updatedReplicas: 2 };

describe("v1.k8s.deployments status", () => {
  it("is Available once every replica is updated, ready and available and no old one is left", () => {
    expect(deploymentStatusOf(deployment(rolledOut), [pod(), pod()], 2)).toMatchObject({
      phase: "Available",
      readyReplicas: 2,
    });
    expect(deploymentStatusOf(deployment({ ...rolledOut, replicas: 3 }), [], 2).phase).toBe("Progressing");
    expect(deploymentStatusOf(deployment(rolledOut, 2), [], 2).phase).toBe("Progressing");
    expect(deploymentStatusOf(deployment({ observedGeneration: 1 }), [], 0).phase).toBe("Available");
  });

  it("is Failed with the pod's reason for an image that cannot be pulled or a crashing container", () => {
    expect(
      deploymentStatusOf(deployment({ observedGeneration: 1, replicas: 1 }), [pod("ImagePullBackOff")], 1),
    ).toMatchObject({
      phase: "Failed",
      reason: "ImagePullBackOff",
      message: "ImagePullBackOff here",
    });
    expect(deploymentStatusOf(deployment(rolledOut), [pod(), pod("CrashLoopBackOff")], 2).reason).toBe(
      "CrashLoopBackOff",
    );
  });

  it("is Failed when the rollout passed its deadline, Progressing with the reason when pods cannot be made or placed", () => {
    const deadline = deployment({
      observedGeneration: 1,
      conditions: [{ type: "Progressing", status: "False", reason: "ProgressDeadlineExceeded", message: "too slow" }],
    });
    expect(deploymentStatusOf(deadline, [], 1)).toMatchObject({ phase: "Failed", reason: "ProgressDeadlineExceeded" });
    const quota = deployment({
      observedGeneration: 1,
      conditions: [{ type: "ReplicaFailure", status: "True", reason: "FailedCreate", message: "exceeded quota" }],
    });
    expect(deploymentStatusOf(quota, [], 1)).toMatchObject({ phase: "Progressing", reason: "FailedCreate" });
    expect(deploymentStatusOf(deployment({ observedGeneration: 1 }), [pod(undefined, false)], 1)).toMatchObject({
      phase: "Progressing",
      reason: "Unschedulable",
    });
  });

  it("is Progressing / Paused while `kubectl rollout pause` holds an unfinished rollout", () => {
    const paused: V1Deployment = {
      ...deployment({ ...rolledOut, updatedReplicas: 0 }, 1),
      spec: { paused: true } as NonNullable<V1Deployment["spec"]>,
    };
    expect(deploymentStatusOf(paused, [], 2)).toMatchObject({
      phase: "Progressing",
      reason: "Paused",
      message: "rollout paused with 0 of 2 replicas updated (kubectl rollout resume)",
    });
    // A finished one is Available, paused or not.
    expect(
      deploymentStatusOf(
        { ...deployment(rolledOut), spec: { paused: true } as NonNullable<V1Deployment["spec"]> },
        [],
        2,
      ).phase,
    ).toBe("Available");
  });

  it("is Pending while there is no Deployment in the cluster", () => {
    expect(deploymentStatusOf(undefined, [], 1)).toMatchObject({ phase: "Pending", reason: "NotApplied" });
  });

  it("names the first field that drifted", () => {
    expect(
      driftPath({ spec: { replicas: 1, template: { a: "x" } } }, { spec: { replicas: 3, template: { a: "x" } } }),
    ).toBe("spec.replicas");
    expect(
      driftPath(
        { spec: { ports: [{ port: 80 }, { port: 443 }] } },
        { spec: { ports: [{ port: 80 }, { port: 8443 }] } },
      ),
    ).toBe("spec.ports[1].port");
  });
});
