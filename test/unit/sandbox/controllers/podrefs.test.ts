import { describe, it, expect } from "@jest/globals";
import type { KubeObject } from "../../../../lib/sandbox/types.ts";
import { Store } from "../../../../lib/sandbox/store.ts";
import { claimProblem, envProblem, mountProblem, type Lookup } from "../../../../lib/sandbox/controllers/podrefs.ts";
import { normalizeImage, unschedulableReason } from "../../../../lib/sandbox/controllers/pods.ts";
import { EventRecorder } from "../../../../lib/sandbox/controllers/events.ts";

const objects: Record<string, KubeObject> = {
  "configmaps/app": { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "app" }, data: { MODE: "prod" } },
  "secrets/db": { apiVersion: "v1", kind: "Secret", metadata: { name: "db" }, data: { password: "cA==" } },
  "persistentvolumeclaims/bound": {
    apiVersion: "v1",
    kind: "PersistentVolumeClaim",
    metadata: { name: "bound" },
    status: { phase: "Bound" },
  },
  "persistentvolumeclaims/pending": {
    apiVersion: "v1",
    kind: "PersistentVolumeClaim",
    metadata: { name: "pending" },
    status: { phase: "Pending" },
  },
};
const lookup: Lookup = (resource, name) => objects[`${resource}/${name}`];
const pod = (spec: Record<string, unknown>): KubeObject => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name: "p" },
  spec,
});

describe("sandbox pod references", () => {
  it("finds missing and unbound claims", () => {
    expect(
      claimProblem(pod({ volumes: [{ name: "d", persistentVolumeClaim: { claimName: "bound" } }] }), lookup),
    ).toBeUndefined();
    expect(
      claimProblem(pod({ volumes: [{ name: "d", persistentVolumeClaim: { claimName: "pending" } }] }), lookup),
    ).toBe("pod has unbound immediate PersistentVolumeClaims");
    expect(claimProblem(pod({ volumes: [{ name: "d", persistentVolumeClaim: { claimName: "nope" } }] }), lookup)).toBe(
      'persistentvolumeclaim "nope" not found',
    );
  });

  it("finds volumes that cannot be mounted, ignoring optional ones", () => {
    expect(mountProblem(pod({ volumes: [{ name: "c", configMap: { name: "app" } }] }), lookup)).toBeUndefined();
    expect(mountProblem(pod({ volumes: [{ name: "s", secret: { secretName: "tls" } }] }), lookup)).toEqual({
      volume: "s",
      message: 'secret "tls" not found',
    });
    expect(
      mountProblem(pod({ volumes: [{ name: "s", secret: { secretName: "tls", optional: true } }] }), lookup),
    ).toBeUndefined();
    expect(
      mountProblem(pod({ volumes: [{ name: "p", projected: { sources: [{ configMap: { name: "x" } }] } }] }), lookup),
    ).toEqual({
      volume: "p",
      message: 'configmap "x" not found',
    });
  });

  it("finds environment references the kubelet cannot resolve", () => {
    const c = (extra: Record<string, unknown>) => ({ name: "app", image: "node", ...extra });
    expect(
      envProblem(c({ envFrom: [{ configMapRef: { name: "app" } }, { secretRef: { name: "db" } }] }), "ns", lookup),
    ).toBeUndefined();
    expect(envProblem(c({ envFrom: [{ configMapRef: { name: "other" } }] }), "ns", lookup)).toBe(
      'configmap "other" not found',
    );
    expect(
      envProblem(c({ env: [{ name: "P", valueFrom: { secretKeyRef: { name: "db", key: "user" } } }] }), "ns", lookup),
    ).toBe("couldn't find key user in Secret ns/db");
    expect(
      envProblem(
        c({ env: [{ name: "P", valueFrom: { configMapKeyRef: { name: "gone", key: "k", optional: true } } }] }),
        "ns",
        lookup,
      ),
    ).toBeUndefined();
  });

  it("refuses pods bigger than the node or selecting other nodes", () => {
    expect(
      unschedulableReason({ containers: [{ name: "a", resources: { requests: { cpu: "2", memory: "1Gi" } } }] }),
    ).toBeUndefined();
    expect(
      unschedulableReason({ containers: [{ name: "a", resources: { requests: { cpu: "9", memory: "20Gi" } } }] }),
    ).toBe(
      "0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.",
    );
    expect(unschedulableReason({ nodeSelector: { disktype: "ssd" }, containers: [] })).toBe(
      "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.",
    );
    expect(unschedulableReason({ nodeSelector: { "kubernetes.io/os": "linux" }, containers: [] })).toBeUndefined();
  });

  it("names images as the container runtime reports them", () => {
    expect(normalizeImage("nginx")).toBe("docker.io/library/nginx:latest");
    expect(normalizeImage("nginx:1.27")).toBe("docker.io/library/nginx:1.27");
    expect(normalizeImage("bitnami/redis:7")).toBe("docker.io/bitnami/redis:7");
    expect(normalizeImage("ghcr.io/acme/app:1")).toBe("ghcr.io/acme/app:1");
    expect(normalizeImage("localhost:5000/app")).toBe("localhost:5000/app:latest");
  });
});

describe("sandbox event recorder", () => {
  it("counts repeats and combines many similar events, as the correlator does", () => {
    const store = new Store();
    const recorder = new EventRecorder(store, () => new Date());
    const rs: KubeObject = {
      apiVersion: "apps/v1",
      kind: "ReplicaSet",
      metadata: { name: "web-1", namespace: "default", uid: "u1" },
    };
    recorder.record(rs, "Normal", "SuccessfulCreate", "Created pod: a", { component: "replicaset-controller" });
    recorder.record(rs, "Normal", "SuccessfulCreate", "Created pod: a", { component: "replicaset-controller" });
    let events = store.list("events", { namespace: "default" }).items as unknown as Record<string, unknown>[];
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      count: 2,
      reason: "SuccessfulCreate",
      involvedObject: { kind: "ReplicaSet", name: "web-1", uid: "u1" },
    });
    for (let i = 0; i < 12; i++) {
      recorder.record(rs, "Warning", "FailedCreate", `Error creating: pod web-1-${i}`, {
        component: "replicaset-controller",
      });
    }
    events = (store.list("events", { namespace: "default" }).items as unknown as Record<string, unknown>[]).filter(
      (e) => e.reason === "FailedCreate",
    );
    expect(events).toHaveLength(10);
    const combined = events.find((e) => String(e.message).startsWith("(combined from similar events): "));
    expect(combined).toMatchObject({
      count: 3,
      message: "(combined from similar events): Error creating: pod web-1-11",
    });
  });
});
