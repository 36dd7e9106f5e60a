/**
 * A namespace removed while the services that keep records in it were away: moleculer keeps no event for a service
 * that is down, so `k8s.namespaces.removed` never reaches them. Their resync finds the namespace record gone and
 * removes what the event would have: the deployment and volume records, their envs, and their objects in the cluster
 * (here in `default`, a namespace the cluster keeps). The whole suite on one broker against the sandbox; the lost event
 * is a removal done by hand without a broadcast: the namespace record taken from its datastore, and its objects from
 * the cluster as `v1.k8s.namespaces.remove` deletes them. A record missing while its namespace is still in the cluster
 * is not a removal, and nothing is removed for it.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import type { Service } from "moleculer";
import type { RawDoc } from "../../../mixins/db.mixin.ts";
import { startStack, waitUntil, type Stack } from "../deployments/stack.ts";

interface Entity {
  id: string;
}
/** The services' resync, as their periodic timer runs it (v1.k8s.deployments and volumes have no resync action). */
interface Resyncing {
  resync(): Promise<string[]>;
}

let stack: Stack;
const call = <T>(action: string, params: object): Promise<T> => stack.services.call<T, object>(action, params);
const records = (service: string, namespace: string) =>
  call<Entity[]>(`v1.k8s.${service}.find`, { query: { namespace } });
const resync = (service: string) =>
  (stack.services.getLocalService(`v1.k8s.${service}`) as unknown as Resyncing).resync();
/** Our objects of one deployment or volume record in a cluster namespace, as kubectl lists them. */
async function objectsOf(namespace: string, recordId: string): Promise<string[]> {
  const listed = await stack.kubectlJson<{ items: { kind: string; metadata: { name: string } }[] }>(
    "get",
    "deployments,services,configmaps,secrets,persistentvolumeclaims",
    "-n",
    namespace,
    "-l",
    `app.kubernetes.io/managed-by=moleculer-k8s,moleculer-k8s/id=${recordId}`,
    "-o",
    "json",
  );
  return listed.items.map((o) => `${o.kind}/${o.metadata.name}`).sort();
}
/** The env Secret of a deployment (php's generated PHP_ROOT_PASSWORD), as kubectl reads it. */
async function envSecret(namespace: string, name: string): Promise<boolean> {
  return (await stack.kubectl("get", "secret", `${name}-env`, "-n", namespace)).code === 0;
}

async function deployWithVolume(namespace: Entity): Promise<{ deployment: Entity; volume: Entity }> {
  const php = await call<Entity>("v1.k8s.images.resolveName", { name: "php-8-1-0-fpm" });
  const volume = await call<Entity>("v1.k8s.volumes.create", {
    namespace: namespace.id,
    name: "data",
    type: "persistentVolumeClaim",
    mountPath: "/var/www/html",
  });
  const deployment = await call<Entity>("v1.k8s.deployments.create", {
    name: "app",
    namespace: namespace.id,
    image: php.id,
    volumes: [
      {
        name: "data",
        type: "persistentVolumeClaim",
        mountPath: "/var/www/html",
        persistentVolumeClaim: { claimName: "data" },
      },
    ],
  });
  return { deployment, volume };
}

let lost: Entity;
let kept: Entity;
let survivor: Entity;
let inLost: { deployment: Entity; volume: Entity };
let inKept: { deployment: Entity; volume: Entity };
let inSurvivor: { deployment: Entity; volume: Entity };

/** A namespace's deployment and volume: their records, envs and objects all still there. */
async function expectKept(
  nsName: string,
  namespace: Entity,
  made: { deployment: Entity; volume: Entity },
): Promise<void> {
  expect((await records("deployments", namespace.id)).map((d) => d.id)).toEqual([made.deployment.id]);
  expect((await records("volumes", namespace.id)).map((v) => v.id)).toEqual([made.volume.id]);
  expect(await call<unknown[]>("v1.k8s.envs.find", { query: { deployment: made.deployment.id } })).not.toEqual([]);
  expect(await objectsOf(nsName, made.deployment.id)).toEqual(
    expect.arrayContaining(["Deployment/app", "Service/app-service"]),
  );
  expect(await objectsOf(nsName, made.volume.id)).toHaveLength(1);
  expect(await envSecret(nsName, "app")).toBe(true);
}

/** The namespace record taken from the datastore of v1.k8s.namespaces, with no event. */
async function dropNamespaceRecord(id: string): Promise<void> {
  const namespaces = stack.services.getLocalService("v1.k8s.namespaces") as unknown as Service & {
    adapter: { removeById(id: string): Promise<RawDoc> };
  };
  await namespaces.adapter.removeById(id);
}

beforeAll(async () => {
  stack = await startStack();
  // `default` is kept by the cluster when its record goes: only the suite's objects in it are removed.
  lost = await call<Entity>("v1.k8s.namespaces.create", { name: "default", owner: "alice" });
  kept = await call<Entity>("v1.k8s.namespaces.create", { name: "kept", owner: "alice" });
  survivor = await call<Entity>("v1.k8s.namespaces.create", { name: "survivor", owner: "alice" });
  for (const name of ["kept", "survivor"]) {
    await waitUntil(async () => (await stack.kubectl("get", "ns", name)).code === 0, 10_000, `the ${name} Namespace`);
  }
  inLost = await deployWithVolume(lost);
  inKept = await deployWithVolume(kept);
  inSurvivor = await deployWithVolume(survivor);
  await waitUntil(async () => (await objectsOf("default", inLost.deployment.id)).length >= 2, 10_000, "objects");
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

describe("a namespace removed while the deployments and volumes services were away", () => {
  it("is found by their resync, which removes the records it left, their envs and their objects", async () => {
    const before = await objectsOf("default", inLost.deployment.id);
    expect(before).toEqual(expect.arrayContaining(["Deployment/app", "Service/app-service"]));
    expect(await envSecret("default", "app")).toBe(true);
    expect(await objectsOf("default", inLost.volume.id)).toHaveLength(1);
    expect(await call<unknown[]>("v1.k8s.envs.find", { query: { deployment: inLost.deployment.id } })).not.toEqual([]);

    // The removal of `default`'s record, as v1.k8s.namespaces.remove does it (the record removed, its quota and limits
    // deleted: in that order here, so that no repair of a record still there puts them back), but no
    // k8s.namespaces.removed is broadcast.
    await dropNamespaceRecord(lost.id);
    const removed = await stack.kubectl(
      "delete",
      "resourcequota,limitrange",
      "-n",
      "default",
      "-l",
      `moleculer-k8s/id=${lost.id}`,
    );
    expect(removed.stdout).toMatch(/resourcequota.*deleted/);
    // v1.kube's watch has seen the deletions (the resync reads its cache).
    await waitUntil(
      async () => {
        for (const kind of ["ResourceQuota", "LimitRange"]) {
          const { items } = await call<{ items: unknown[] }>("v1.kube.list", {
            apiVersion: "v1",
            kind,
            namespace: "default",
            labelSelector: `app.kubernetes.io/managed-by=moleculer-k8s,moleculer-k8s/id=${lost.id}`,
          });
          if (items.length > 0) return false;
        }
        return true;
      },
      10_000,
      "the quota and limits gone from the watch cache",
    );
    // Nothing reacted: the records are all still there.
    expect(await records("deployments", lost.id)).toHaveLength(1);
    expect(await records("volumes", lost.id)).toHaveLength(1);

    await resync("deployments");
    await resync("volumes");
    expect(await records("deployments", lost.id)).toEqual([]);
    expect(await records("volumes", lost.id)).toEqual([]);
    // The deployments' removal events take their envs; the resync deleted the objects, the claim's delete follows.
    await waitUntil(
      async () =>
        (await call<unknown[]>("v1.k8s.envs.find", { query: { deployment: inLost.deployment.id } })).length === 0,
      10_000,
      "the envs removed",
    );
    await waitUntil(
      async () =>
        (await objectsOf("default", inLost.deployment.id)).length === 0 &&
        (await objectsOf("default", inLost.volume.id)).length === 0 &&
        !(await envSecret("default", "app")),
      10_000,
      "the objects in default deleted",
    );

    // The other namespace's records and objects are untouched.
    await expectKept("kept", kept, inKept);
  });

  it("removes nothing for a namespace whose record is missing while the cluster still holds it", async () => {
    // Not a removal: the Namespace, its quota and limits are all there (a namespaces service started on an empty
    // database would look the same).
    await dropNamespaceRecord(survivor.id);
    await resync("deployments");
    await resync("volumes");
    await expectKept("survivor", survivor, inSurvivor);
  });

  it("takes nothing for gone while the namespaces service cannot answer", async () => {
    const namespaces = stack.services.getLocalService("v1.k8s.namespaces");
    if (namespaces === undefined) throw new Error("no v1.k8s.namespaces on the broker");
    await stack.services.destroyService(namespaces);
    await resync("deployments");
    await resync("volumes");
    await expectKept("kept", kept, inKept);
  });
});
