/**
 * What `PATCH /deployments/:id` (and scale, restart) answer: the rollout the change started, not the state before it.
 * Pods take a second to become ready here (as in `npm start`'s sandbox), so a rollout is under way when the answer is written. The whole suite against
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
  stack = await startStack({
    gateway: true,
    sandbox: { podReadyDelayMs: 1000 },
    // As `npm start` has them.
    settings: { deployments: { statusDebounceMs: 100 } },
  });
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

describe("a burst of env changes while the pods roll", () => {
  it("takes the suite's own applies for its own, not for drift: no repair, no extra apply", async () => {
    const deployments = stack.services.getLocalService("v1.k8s.deployments") as unknown as {
      scheduleDriftRepair(recordId: string): void;
    };
    const repairs: string[] = [];
    const original = deployments.scheduleDriftRepair.bind(deployments);
    deployments.scheduleDriftRepair = (recordId: string) => {
      repairs.push(recordId);
      original(recordId);
    };
    try {
      const postgres = await stack.services.call<ImageEntity, object>("v1.k8s.images.resolveName", {
        name: "postgres-16",
      });
      const db = await stack.rest("POST", `/api/v1/k8s/images/${postgres.id}/deploy`, alice, {
        namespace: web.namespace,
        name: "db",
      });
      expect(db.status).toBe(200);
      await waitUntil(async () => (await phaseOverRest(String(db.body.id))) === "Available", 10_000, "db Available");
      const [env] = (
        await stack.rest(
          "GET",
          `/api/v1/k8s/envs?query={"deployment":"${String(db.body.id)}","key":"POSTGRES_DB"}`,
          alice,
        )
      ).body.rows as { id: string }[];
      // Each change rolls the pods again (a new checksum, a new revision) while the last rollout's events arrive.
      for (let i = 1; i <= 25; i += 1) {
        const res = await stack.rest("PATCH", `/api/v1/k8s/envs/${env?.id ?? ""}`, alice, { value: `v${i}` });
        expect(res.status).toBe(200);
        await new Promise((r) => setTimeout(r, 200));
      }
      await waitUntil(
        async () => (await phaseOverRest(web.id)) === "Available",
        10_000,
        "web Available after the burst",
      );
      expect(repairs).toEqual([]);
    } finally {
      deployments.scheduleDriftRepair = original;
    }
  }, 30_000);
});
