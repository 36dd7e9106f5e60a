/**
 * v1.k8s.deployments while the cluster is away (phase 2 contract): create still succeeds with the record saying
 * `Pending / ClusterUnavailable`, and the reconciler applies it once the cluster is back; an update in the outage
 * converges the same way. Objects of a deployment removed during the outage are deleted by the resync.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { DeploymentEntity, ImageEntity, NamespaceEntity } from "../../../lib/entities.ts";
import { startStack, waitUntil, type Stack } from "./stack.ts";

const ALICE = { meta: { userID: "alice" } };

let stack: Stack;
let dir: string;
let ns: NamespaceEntity;
let nginx: ImageEntity;

const get = (id: string) =>
  stack.services.call<DeploymentEntity, { id: string }>("v1.k8s.deployments.get", { id }, ALICE);

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "deployments-outage-"));
  stack = await startStack({
    sandbox: { stateFile: path.join(dir, "state.json") },
    settings: {
      kube: { watchBackoff: { initialMs: 50, maxMs: 200 } },
      deployments: { resyncIntervalSeconds: 1 },
    },
  });
  ns = await stack.services.call("v1.k8s.namespaces.create", { name: "ops", owner: "alice" });
  nginx = await stack.services.call("v1.k8s.images.resolveName", { name: "nginx-1-27" });
  await waitUntil(async () => (await stack.kubectl("get", "ns", "ops")).code === 0);
}, 30_000);

afterAll(async () => {
  await stack?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe("v1.k8s.deployments.create while the cluster is down", () => {
  it("stores the record as Pending/ClusterUnavailable and applies it when the cluster is back", async () => {
    const kept = await stack.services.call<DeploymentEntity, object>(
      "v1.k8s.deployments.create",
      { name: "kept", namespace: ns.id, image: nginx.id },
      ALICE,
    );
    await waitUntil(async () => (await get(kept.id)).status.phase === "Available");

    await stack.stopSandbox();
    const created = await stack.services.call<DeploymentEntity, object>(
      "v1.k8s.deployments.create",
      { name: "web", namespace: ns.id, image: nginx.id, vHosts: ["web.ops.example.com"] },
      ALICE,
    );
    expect(created).toMatchObject({
      name: "web",
      revision: 1,
      status: { phase: "Pending", reason: "ClusterUnavailable" },
    });
    const updated = await stack.services.call<DeploymentEntity, object>(
      "v1.k8s.deployments.update",
      { id: kept.id, replicas: 2 },
      ALICE,
    );
    expect(updated).toMatchObject({ replicas: 2, revision: 2 });
    await stack.services.call("v1.k8s.deployments.remove", { id: kept.id }, ALICE);
    // The cluster keeps its objects over the outage (the sandbox's state file), the removed deployment's too.
    expect(await readFile(path.join(dir, "state.json"), "utf8")).toContain('"name":"kept"');

    await stack.restartSandbox();
    const web = await waitUntil(
      async () => {
        const d = await get(created.id);
        return d.status.phase === "Available" ? d : undefined;
      },
      15_000,
      "web Available after the outage",
    );
    expect(web.status).toMatchObject({ readyReplicas: 1 });
    const ing = await stack.kubectlJson<{ spec: { rules: { host: string }[] } }>(
      "get",
      "ingress",
      "web-ingress",
      "-n",
      "ops",
    );
    expect(ing.spec.rules[0]?.host).toBe("web.ops.example.com");
    // The deployment removed during the outage: its objects are deleted once the cluster answers again.
    await waitUntil(
      async () => {
        const res = await stack.kubectl(
          "get",
          "deploy,svc",
          "-n",
          "ops",
          "-l",
          "app.kubernetes.io/name=kept",
          "-o",
          "name",
        );
        return res.code === 0 && res.stdout.trim() === "";
      },
      15_000,
      "the removed deployment's objects gone",
    );
  }, 40_000);
});
