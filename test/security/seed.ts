/**
 * The seed of the authorization tests: namespace `team` owned by `olga` with `mike` (member) and `vera` (viewer), and
 * in it a volume, a deployment `web` and two envs (a plain one and a secret with a known value); a second tenant's
 * namespace `rival` (owner `rita`) with the same kinds of records. Seeded through internal calls (trusted).
 */
import type { ServiceBroker } from "moleculer";
import type { Caller } from "./matrix.ts";

export const USERS = {
  owner: "olga",
  member: "mike",
  viewer: "vera",
  stranger: "sam",
  admin: "root",
  rival: "rita",
} as const;

/** The secret env values of the seed: none may ever appear in an answer to a person. */
export const SEED_SECRETS = {
  team: "team-secret-Qx7!vL9#pR2z",
  rival: "rival-secret-Hn4$wK8&tY1m",
} as const;

export interface TenantSeed {
  namespace: { id: string; name: string };
  volume: { id: string; name: string };
  deployment: { id: string; name: string };
  plainEnv: { id: string; key: string; value: string };
  secretEnv: { id: string; key: string };
}

export interface Seed {
  team: TenantSeed;
  rival: TenantSeed;
  nginxImage: { id: string; name: string };
}

interface WithId {
  id: string;
  name: string;
}

async function seedTenant(broker: ServiceBroker, name: string, owner: string, secret: string): Promise<TenantSeed> {
  const ns = await broker.call<WithId, object>("v1.k8s.namespaces.create", { name, owner });
  const volume = await broker.call<WithId, object>("v1.k8s.volumes.create", {
    namespace: ns.id,
    name: `${name}-data`,
    mountPath: "/data",
  });
  const nginx = await broker.call<WithId, object>("v1.k8s.images.getImage", { name: "nginx-1-27" });
  const deployment = await broker.call<WithId, object>("v1.k8s.deployments.create", {
    namespace: ns.id,
    name: "web",
    image: nginx.id,
  });
  const plain = await broker.call<WithId, object>("v1.k8s.envs.create", {
    namespace: ns.id,
    deployment: deployment.id,
    key: "GREETING",
    type: "plain",
    value: `hello-${name}`,
  });
  const secretEnv = await broker.call<WithId, object>("v1.k8s.envs.create", {
    namespace: ns.id,
    deployment: deployment.id,
    key: "API_TOKEN",
    type: "secret",
    value: secret,
  });
  return {
    namespace: { id: ns.id, name },
    volume: { id: volume.id, name: volume.name },
    deployment: { id: deployment.id, name: "web" },
    plainEnv: { id: plain.id, key: "GREETING", value: `hello-${name}` },
    secretEnv: { id: secretEnv.id, key: "API_TOKEN" },
  };
}

export async function seed(broker: ServiceBroker): Promise<Seed> {
  const team = await seedTenant(broker, "team", USERS.owner, SEED_SECRETS.team);
  await broker.call("v1.k8s.namespaces.addMember", { id: team.namespace.id, userID: USERS.member, role: "member" });
  await broker.call("v1.k8s.namespaces.addMember", { id: team.namespace.id, userID: USERS.viewer, role: "viewer" });
  const rival = await seedTenant(broker, "rival", USERS.rival, SEED_SECRETS.rival);
  const nginx = await broker.call<WithId, object>("v1.k8s.images.getImage", { name: "nginx-1-27" });
  return { team, rival, nginxImage: { id: nginx.id, name: nginx.name } };
}

/** A DNS-label-safe suffix per caller (`badsignature`), and an env-key-safe one (`BADSIGNATURE`). */
export function slug(caller: Caller): string {
  return caller.toLowerCase();
}
