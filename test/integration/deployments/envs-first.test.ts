/**
 * A Deployment made again (a new or emptied cluster after a restart, one deleted behind the suite's back) gets its env
 * objects first when they are missing: its containers read them with an optional `envFrom`, so pods started before
 * them would run without the values, and nothing would roll them afterwards. The whole suite against the sandbox, with
 * v1.kube's watches off (nothing reacts to the deletions: as for objects gone while the suite was down).
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import type { DeploymentEntity, ImageEntity, NamespaceEntity } from "../../../lib/entities.ts";
import { startStack, waitUntil, type Stack } from "./stack.ts";

const ALICE = { meta: { userID: "alice" } };

let stack: Stack;
let ns: NamespaceEntity;
let nginx: ImageEntity;

interface Obj {
  metadata: { resourceVersion: string };
  data?: Record<string, string>;
}

beforeAll(async () => {
  stack = await startStack({
    settings: {
      kube: { informers: false },
      deployments: { resyncIntervalSeconds: 0 },
      envs: { resyncIntervalSeconds: 0, initialResyncDelayMs: -1 },
    },
  });
  ns = await stack.services.call("v1.k8s.namespaces.create", { name: "first", owner: "alice" });
  nginx = await stack.services.call("v1.k8s.images.resolveName", { name: "nginx-1-27" });
  await waitUntil(async () => (await stack.kubectl("get", "ns", "first")).code === 0);
}, 30_000);

afterAll(async () => {
  await stack?.stop();
});

describe("a Deployment made again", () => {
  it("is applied after its missing env objects, which hold the values again", async () => {
    const web = await stack.services.call<DeploymentEntity, object>(
      "v1.k8s.deployments.create",
      { name: "web", namespace: ns.id, image: nginx.id },
      ALICE,
    );
    await stack.services.call(
      "v1.k8s.envs.create",
      { namespace: ns.id, deployment: web.id, key: "TOKEN", type: "secret", value: "first-S3cret" },
      ALICE,
    );
    await waitUntil(async () => (await stack.kubectl("get", "secret", "web-env", "-n", "first")).code === 0);
    // Both gone, and no watch tells the suite.
    expect((await stack.kubectl("delete", "deployment/web", "secret/web-env", "-n", "first")).code).toBe(0);

    await stack.services.call("v1.k8s.deployments.apply", { id: web.id }, ALICE);
    const secret = await stack.kubectlJson<Obj>("get", "secret", "web-env", "-n", "first");
    const deployment = await stack.kubectlJson<Obj>("get", "deployment", "web", "-n", "first");
    expect(Buffer.from(secret.data?.TOKEN ?? "", "base64").toString()).toBe("first-S3cret");
    expect(Number(secret.metadata.resourceVersion)).toBeLessThan(Number(deployment.metadata.resourceVersion));
  }, 30_000);
});
