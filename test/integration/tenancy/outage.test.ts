/**
 * The cluster goes away and comes back (the sandbox stopped, then started again on the same port with the same token):
 * writes still succeed and say Pending ClusterUnavailable, and the records converge when the cluster is back; a removal
 * while it is down leaves nothing behind once it is back.
 */
import { describe, it, expect, beforeAll, afterAll } from "@jest/globals";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { NamespaceEntity, VolumeEntity } from "../../../lib/entities.ts";
import { as, startTenancy, waitFor, type Tenancy } from "./harness.ts";

const alice = as("alice");
let t: Tenancy;
let dir: string;

beforeAll(async () => {
  // The sandbox saves its objects on stop and loads them on start, as a cluster keeps its state across an outage.
  dir = await mkdtemp(path.join(tmpdir(), "tenancy-outage-"));
  t = await startTenancy({ sandbox: { stateFile: path.join(dir, "state.json") } });
});
afterAll(async () => {
  await t?.stop();
  await rm(dir, { recursive: true, force: true });
});

function getNs(id: string): Promise<NamespaceEntity> {
  return t.broker.call<NamespaceEntity, { id: string }>("v1.k8s.namespaces.get", { id });
}
function getVol(id: string): Promise<VolumeEntity> {
  return t.broker.call<VolumeEntity, { id: string }>("v1.k8s.volumes.get", { id });
}

describe("v1.k8s.namespaces.create while the cluster is down", () => {
  it("stores the record as Pending ClusterUnavailable and converges when the cluster is back", async () => {
    await t.stopSandbox();
    const ns = await t.broker.call<NamespaceEntity, object>(
      "v1.k8s.namespaces.create",
      { name: "patient", owner: "alice", quota: { pods: 6 } },
      as("root", ["admin"]),
    );
    expect(ns.status).toMatchObject({
      phase: "Pending",
      reason: "ClusterUnavailable",
      message: expect.stringMatching(/unavailable/i),
    });
    expect(ns.uid).toBe("");
    const vol = await t.broker.call<VolumeEntity, object>(
      "v1.k8s.volumes.create",
      { namespace: ns.id, name: "data", mountPath: "/data" },
      alice,
    );
    expect(vol.status).toMatchObject({ phase: "Pending", reason: "ClusterUnavailable" });
    await expect(t.broker.call("v1.k8s.namespaces.status", { id: ns.id }, alice)).rejects.toMatchObject({
      code: 503,
      retryable: true,
    });
    // Still down a moment later: still Pending (retries failed quietly).
    await new Promise((r) => setTimeout(r, 300));
    expect((await getNs(ns.id)).status.phase).toBe("Pending");

    await t.startSandboxAgain();
    const active = await waitFor(
      async () => {
        const r = await getNs(ns.id);
        return r.status.phase === "Active" && r.uid !== "" ? r : undefined;
      },
      8000,
      "namespace Active",
    );
    expect(active.status).toEqual({ phase: "Active" });
    await waitFor(async () => (await getVol(vol.id)).status.phase === "Bound", 8000, "volume Bound");
    const obj = JSON.parse(await t.kubectl("get", "namespace", "patient", "-o", "json")) as {
      metadata: { uid: string; annotations: Record<string, string> };
    };
    expect(obj.metadata.uid).toBe(active.uid);
    expect(obj.metadata.annotations["moleculer-k8s/id"]).toBe(ns.id);
    const quota = JSON.parse(
      await t.kubectl("get", "resourcequota", "moleculer-k8s-quota", "-n", "patient", "-o", "json"),
    ) as { spec: { hard: Record<string, string> } };
    expect(quota.spec.hard.pods).toBe("6");
    await t.kubectl("get", "limitrange", "moleculer-k8s-limits", "-n", "patient");
    await t.kubectl("get", "pvc", "data", "-n", "patient");
  });
});

describe("v1.k8s.namespaces.remove while the cluster is down", () => {
  it("removes the records at once and deletes the Namespace when the cluster is back", async () => {
    const ns = await t.broker.call<NamespaceEntity, object>("v1.k8s.namespaces.create", { name: "leaving" }, alice);
    expect(ns.status.phase).toBe("Active");
    const vol = await t.broker.call<VolumeEntity, object>(
      "v1.k8s.volumes.create",
      { namespace: ns.id, name: "v", mountPath: "/v" },
      alice,
    );
    await t.stopSandbox();
    const removed = await t.broker.call<NamespaceEntity, object>("v1.k8s.namespaces.remove", { id: ns.id }, alice);
    expect(removed.status).toMatchObject({ phase: "Terminating", reason: "ClusterUnavailable" });
    await expect(getNs(ns.id)).rejects.toMatchObject({ code: 404 });
    await waitFor(
      () =>
        getVol(vol.id).then(
          () => false,
          (err: { code?: number }) => err.code === 404,
        ),
      5000,
      "volume record gone",
    );
    await t.startSandboxAgain();
    // The cluster kept the Namespace through the outage; the queued deletion removes it and what is in it.
    await waitFor(
      async () => /NotFound/.test((await t.kubectlRaw("get", "namespace", "leaving")).stderr),
      8000,
      "namespace leaving deleted",
    );
    const left = await t.kubectlRaw("get", "all,pvc,cm,secret,quota,limits", "-n", "leaving", "-o", "name");
    expect(left.stdout.trim()).toBe("");
    expect((await t.kubectlRaw("get", "namespace", "patient")).code).toBe(0);
  });
});
