/**
 * What `PATCH /deployments/:id` (and scale, restart) answer: the rollout the change started, not the state before it.
 * Pods take 500 ms to become ready here, so a rollout is under way when the answer is written. The whole suite against
 * the sandbox, the gateway on its own broker over NATS.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import type { DeploymentEntity, ImageEntity, NamespaceEntity } from "../../../lib/entities.ts";
import { startStack, waitUntil, type Stack } from "./stack.ts";

let stack: Stack;
let alice: string;
let web: DeploymentEntity;

async function phaseOverRest(id: string): Promise<string> {
  const res = await stack.rest("GET", `/api/v1/k8s/deployments/${id}/status`, alice);
  return String(res.body.phase);
}

beforeAll(async () => {
  stack = await startStack({ gateway: true, sandbox: { podReadyDelayMs: 500 } });
  alice = await stack.token("alice");
  const ns = await stack.services.call<NamespaceEntity, object>("v1.k8s.namespaces.create", {
    name: "answers",
    owner: "alice",
  });
  const nginx = await stack.services.call<ImageEntity, object>("v1.k8s.images.resolveName", { name: "nginx-1-27" });
  const created = await stack.rest("POST", "/api/v1/k8s/deployments", alice, {
    name: "web",
    namespace: ns.id,
    image: nginx.id,
    replicas: 1,
  });
  expect(created.status).toBe(200);
  web = created.body as unknown as DeploymentEntity;
  await waitUntil(async () => (await phaseOverRest(web.id)) === "Available", 10_000, "web Available");
}, 30_000);

afterAll(async () => {
  await stack?.stop();
});

describe("the answer of a change to a deployment", () => {
  it("shows the rollout it started (Progressing), then the status follows it to Available", async () => {
    const patched = await stack.rest("PATCH", `/api/v1/k8s/deployments/${web.id}`, alice, { replicas: 2 });
    expect(patched).toMatchObject({
      status: 200,
      body: { revision: 2, replicas: 2, status: { phase: "Progressing" } },
    });
    await waitUntil(async () => (await phaseOverRest(web.id)) === "Available", 10_000, "web Available again");

    const restarted = await stack.rest("POST", `/api/v1/k8s/deployments/${web.id}/restart`, alice);
    expect(restarted).toMatchObject({ status: 200, body: { revision: 3, status: { phase: "Progressing" } } });
    await waitUntil(async () => (await phaseOverRest(web.id)) === "Available", 10_000, "web Available after restart");
    // The record's own status follows the rollout too (what GET and lists show).
    await waitUntil(async () => {
      const again = await stack.rest("GET", `/api/v1/k8s/deployments/${web.id}`, alice);
      return (again.body.status as { phase: string }).phase === "Available";
    });
  }, 30_000);
});
