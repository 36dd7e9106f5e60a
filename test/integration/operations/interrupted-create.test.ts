/**
 * A create whose node stopped after storing the deployment record and before its first apply (SIGKILL, OOM between
 * the two): the record is left `Pending / Applying`, without its first revision and without the env records its image
 * lists. The next resync finishes that create: the image's envs made before the record's first apply, so the pods
 * start with them (one rollout), and its first revision stored. Staged on the real stack (sandbox, every service, the
 * gateway) by rewinding a record through the adapter, which sends no event (as the stopped node sent none).
 * `envsOwed` and `isInterruptedCreate` themselves: test/unit/envs-owed.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import type { DeploymentHistory, EnvEntity, ImageEntity } from "../../../lib/entities.ts";
import { startOpsStack, type OpsStack } from "./stack.ts";

interface DeploymentsInternals {
  adapter: {
    updateById(id: string, update: Record<string, unknown>): Promise<unknown>;
  };
  resync(): Promise<string[]>;
}

let stack: OpsStack;
let postgres: ImageEntity;
let svc: DeploymentsInternals;

beforeAll(async () => {
  // no periodic or start-up resync: the test runs the one that finds the record
  stack = await startOpsStack({
    settings: { deployments: { resyncIntervalSeconds: 0, reconciler: { initialResyncDelayMs: -1 } } },
  });
  postgres = await stack.services.call<ImageEntity, { name: string }>("v1.k8s.images.resolveName", {
    name: "postgres-16",
  });
  svc = stack.services.getLocalService({ name: "k8s.deployments", version: 1 }) as unknown as DeploymentsInternals;
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

/**
 * A record as a create leaves it when its node stops before createEnv and the first apply: one made by a whole create
 * (nginx, no envs), rewound in the store to that moment and switched to postgres (whose image lists four envs, one a
 * generated secret). Written through the adapter: no event, as from a dead node.
 */
async function storeInterruptedCreate(name: string): Promise<string> {
  const { id } = await stack.deploy(name);
  await svc.adapter.updateById(id, {
    $set: {
      image: postgres.id,
      status: { phase: "Pending", reason: "Applying", message: "not yet applied to the cluster" },
      envsFrom: null,
    },
    $unset: { revisions: true },
  });
  return id;
}

async function envsOf(id: string): Promise<EnvEntity[]> {
  const res = await stack.http(
    "GET",
    `/api/v1/k8s/envs?query=${encodeURIComponent(JSON.stringify({ deployment: id }))}`,
    stack.tokens.alice,
  );
  expect(res.status).toBe(200);
  return (res.json as unknown as { rows: EnvEntity[] }).rows;
}

describe("a create interrupted between storing its record and its first apply", () => {
  it("is finished by the next resync: the image's envs made first, the record applied once with them, its first revision stored", async () => {
    const id = await storeInterruptedCreate("db");
    expect(await envsOf(id)).toEqual([]);
    const generation = async (): Promise<number> =>
      (
        await stack.kubectlJson<{ metadata: { generation: number } }>(
          "get",
          "deployment",
          "db",
          "-n",
          "ops",
          "-o",
          "json",
        )
      ).metadata.generation;
    const before = await generation();

    await svc.resync();

    const keys = (await envsOf(id)).map((e) => e.key).sort();
    expect(keys).toEqual(["PGDATA", "POSTGRES_DB", "POSTGRES_PASSWORD", "POSTGRES_USER"]);
    // the env Secret exists with a generated password, and the Deployment reads it
    const secret = await stack.kubectlJson<{ data: Record<string, string> }>(
      "get",
      "secret",
      "db-env",
      "-n",
      "ops",
      "-o",
      "json",
    );
    expect(Buffer.from(secret.data.POSTGRES_PASSWORD ?? "", "base64").toString().length).toBeGreaterThan(16);
    const deployment = await stack.kubectlJson<{
      spec: { template: { spec: { containers: { envFrom?: unknown[] }[] } } };
    }>("get", "deployment", "db", "-n", "ops", "-o", "json");
    expect(JSON.stringify(deployment.spec.template.spec.containers[0]?.envFrom)).toContain("db-env");
    const entity = await stack.phase(id, "Available");
    expect(entity.revision).toBe(1);
    // applied once, with its envs: no second rollout once they arrived (what applying without them first caused)
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(await generation()).toBe(before + 1);
    const history = await stack.http("GET", `/api/v1/k8s/deployments/${id}/history`, stack.tokens.alice);
    expect((history.json as unknown as DeploymentHistory).items).toEqual([
      expect.objectContaining({ revision: 1, changes: ["created"] }),
    ]);
  });
});
