/**
 * The env records a deployment gets from its image: made when it is created and when it moves to another image, never
 * again for a change of anything else — not after the suite restarted either. A user may remove an image's env on
 * purpose; it stayed removed only until the suite restarted, when the first status change of each deployment made it
 * again (the envs service knew the images it had made envs from in memory only). The record now keeps, hidden, the
 * image its envs were made from (`envsFrom`), and the resync makes the envs a record owes (`envsOwed`). The real stack (sandbox, every
 * service, the gateway). The stack's NeDB is in memory, so the restart is staged on the envs service itself: its own
 * stopped, created and started hooks run again, which drops everything it keeps in memory and starts its start-up
 * resync, while its records stay — what a restart of the process does to it.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import type { Service } from "moleculer";
import envsService from "../../../services/envs.service.ts";
import type { DeploymentEntity, EnvEntity, ImageEntity } from "../../../lib/entities.ts";
import { startOpsStack, waitUntil, type OpsStack } from "./stack.ts";

interface DeploymentsInternals {
  adapter: {
    findById(id: string): Promise<Record<string, unknown> | null>;
    updateById(id: string, update: Record<string, unknown>): Promise<unknown>;
  };
  resync(): Promise<string[]>;
}
interface EnvsInternals {
  adapter: { removeMany(query: Record<string, unknown>): Promise<unknown> };
}

let stack: OpsStack;
let postgres: ImageEntity;
let mariadb: ImageEntity;

beforeAll(async () => {
  stack = await startOpsStack();
  const resolve = (name: string) =>
    stack.services.call<ImageEntity, { name: string }>("v1.k8s.images.resolveName", { name });
  [postgres, mariadb] = await Promise.all([resolve("postgres-16"), resolve("mariadb-11-4")]);
}, 60_000);

const deployments = (): DeploymentsInternals =>
  stack.services.getLocalService({ name: "k8s.deployments", version: 1 }) as unknown as DeploymentsInternals;

/** The record as stored: what `envsFrom` holds. */
async function envsFrom(id: string): Promise<unknown> {
  return (await deployments().adapter.findById(id))?.envsFrom;
}

afterAll(async () => {
  await stack?.stop();
});

async function envKeys(deployment: string): Promise<string[]> {
  const query = encodeURIComponent(JSON.stringify({ deployment }));
  const res = await stack.http("GET", `/api/v1/k8s/envs?query=${query}&pageSize=100`, stack.tokens.alice);
  expect(res.status).toBe(200);
  return (res.json as unknown as { rows: EnvEntity[] }).rows.map((e) => e.key).sort();
}

/** The envs service's own lifecycle hooks run again on it (see the file's header). */
async function restartEnvsService(): Promise<void> {
  const svc = stack.services.getLocalService({ name: "k8s.envs", version: 1 }) as Service;
  const hook = (name: "stopped" | "created" | "started") => {
    const fn = envsService[name] as ((this: Service) => unknown) | undefined;
    if (typeof fn !== "function") throw new Error(`the envs service has no ${name} hook`);
    return fn.call(svc);
  };
  await hook("stopped");
  await hook("created");
  await hook("started");
}

describe("a deployment's env records from its image", () => {
  it("are not made again after a restart for a change of something else; a new image brings its own", async () => {
    const db = await stack.deploy("db", { image: postgres.id });
    expect(await envKeys(db.id)).toEqual(["PGDATA", "POSTGRES_DB", "POSTGRES_PASSWORD", "POSTGRES_USER"]);
    // recorded with the record, and never shown
    expect(await envsFrom(db.id)).toBe(postgres.id);
    expect(db).not.toHaveProperty("envsFrom");
    // the user removes one of the image's envs on purpose
    const query = encodeURIComponent(JSON.stringify({ deployment: db.id, key: "PGDATA" }));
    const listed = await stack.http("GET", `/api/v1/k8s/envs?query=${query}`, stack.tokens.alice);
    const pgdata = (listed.json as unknown as { rows: EnvEntity[] }).rows[0];
    expect((await stack.http("DELETE", `/api/v1/k8s/envs/${String(pgdata?.id)}`, stack.tokens.alice)).status).toBe(200);
    await stack.phase(db.id, "Available");

    await restartEnvsService();
    // a change of replicas, its rollout and the status writes that follow: none brings PGDATA back
    const scaled = await stack.http("POST", `/api/v1/k8s/deployments/${db.id}/scale`, stack.tokens.alice, {
      replicas: 2,
    });
    expect(scaled.status).toBe(200);
    await waitUntil(async () => (await stack.phase(db.id, "Available")).status?.availableReplicas === 2, 10_000);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await envKeys(db.id)).toEqual(["POSTGRES_DB", "POSTGRES_PASSWORD", "POSTGRES_USER"]);

    // moved to another image: that image's envs are made (the kept ones stay)
    const moved = await stack.http("PATCH", `/api/v1/k8s/deployments/${db.id}`, stack.tokens.alice, {
      image: mariadb.id,
    });
    expect(moved.status).toBe(200);
    expect((moved.json as unknown as DeploymentEntity).image).toBe(mariadb.id);
    // made before the answer: the update's reconcile makes them before applying the record
    expect(await envKeys(db.id)).toEqual([
      "MARIADB_DATABASE",
      "MARIADB_ROOT_PASSWORD",
      "POSTGRES_DB",
      "POSTGRES_PASSWORD",
      "POSTGRES_USER",
    ]);
    expect(await envsFrom(db.id)).toBe(mariadb.id);
  });

  it("owed (the envs service away during a create or a change of image) are made by the next resync", async () => {
    const cache = await stack.deploy("owed", { image: postgres.id });
    // as if createEnv could not run: no env records, envsFrom null (written through the adapters: no events)
    const envs = stack.services.getLocalService({ name: "k8s.envs", version: 1 }) as unknown as EnvsInternals;
    await envs.adapter.removeMany({ deployment: cache.id });
    await deployments().adapter.updateById(cache.id, { $set: { envsFrom: null } });
    expect(await envKeys(cache.id)).toEqual([]);

    await deployments().resync();

    expect(await envKeys(cache.id)).toEqual(["PGDATA", "POSTGRES_DB", "POSTGRES_PASSWORD", "POSTGRES_USER"]);
    expect(await envsFrom(cache.id)).toBe(postgres.id);
    // and a resync with nothing owed makes nothing and writes nothing
    const removed = (
      await stack.http(
        "GET",
        `/api/v1/k8s/envs?query=${encodeURIComponent(JSON.stringify({ deployment: cache.id, key: "PGDATA" }))}`,
        stack.tokens.alice,
      )
    ).json as unknown as { rows: EnvEntity[] };
    expect(
      (await stack.http("DELETE", `/api/v1/k8s/envs/${String(removed.rows[0]?.id)}`, stack.tokens.alice)).status,
    ).toBe(200);
    // once the removal's own writes are done (the env objects, the Deployment's checksum)
    let writes = -1;
    await waitUntil(async () => {
      const now = stack.sandbox.requestCounts().writes;
      const settled = now === writes;
      writes = now;
      await new Promise((resolve) => setTimeout(resolve, 300));
      return settled;
    }, 10_000);
    await deployments().resync();
    expect(await envKeys(cache.id)).toEqual(["POSTGRES_DB", "POSTGRES_PASSWORD", "POSTGRES_USER"]);
    expect(stack.sandbox.requestCounts().writes).toBe(writes);
  });

  it("of a record stored before `envsFrom` existed are left as they are, unless its create was cut short", async () => {
    const old = await stack.deploy("legacy", { image: postgres.id });
    await deployments().adapter.updateById(old.id, { $unset: { envsFrom: true } });
    const query = encodeURIComponent(JSON.stringify({ deployment: old.id, key: "PGDATA" }));
    const listed = (await stack.http("GET", `/api/v1/k8s/envs?query=${query}`, stack.tokens.alice)).json as unknown as {
      rows: EnvEntity[];
    };
    expect(
      (await stack.http("DELETE", `/api/v1/k8s/envs/${String(listed.rows[0]?.id)}`, stack.tokens.alice)).status,
    ).toBe(200);

    await deployments().resync();

    expect(await envKeys(old.id)).toEqual(["POSTGRES_DB", "POSTGRES_PASSWORD", "POSTGRES_USER"]);
    expect(await envsFrom(old.id)).toBeUndefined();
  });
});
