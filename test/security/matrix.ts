/**
 * The authorization matrix: who may call which route, and what each caller gets. Keyed by the action a route calls
 * (`x-moleculer-action` in GET /api/openapi.json); a route whose action has no entry here fails the matrix test, so a
 * new route cannot escape. docs/reliability.md ("Authorization matrix") is the same table in prose.
 */

export const CALLERS = ["anonymous", "badSignature", "stranger", "viewer", "member", "owner", "admin"] as const;
export type Caller = (typeof CALLERS)[number];

/**
 * - `public`: everyone, no token needed (probes, the document).
 * - `signedIn`: any valid token (the image catalog, a namespace name's availability, creating a namespace).
 * - `list`: any valid token; the rows are scoped (strangers see none of the namespace's records).
 * - `read`: viewer and up in the record's namespace; strangers 404.
 * - `write`: member and up; viewers 403; strangers 404.
 * - `owner`: the namespace's owners; members and viewers 403; strangers 404.
 * - `admin`: the admin role; everyone else 403 (catalog changes: nothing to hide, the catalog is readable by all).
 */
export type Rule = "public" | "signedIn" | "list" | "read" | "write" | "owner" | "admin";

const EXPECTED: Record<Rule, Record<Caller, number>> = {
  public: { anonymous: 200, badSignature: 200, stranger: 200, viewer: 200, member: 200, owner: 200, admin: 200 },
  signedIn: { anonymous: 401, badSignature: 401, stranger: 200, viewer: 200, member: 200, owner: 200, admin: 200 },
  list: { anonymous: 401, badSignature: 401, stranger: 200, viewer: 200, member: 200, owner: 200, admin: 200 },
  read: { anonymous: 401, badSignature: 401, stranger: 404, viewer: 200, member: 200, owner: 200, admin: 200 },
  write: { anonymous: 401, badSignature: 401, stranger: 404, viewer: 403, member: 200, owner: 200, admin: 200 },
  owner: { anonymous: 401, badSignature: 401, stranger: 404, viewer: 403, member: 403, owner: 200, admin: 200 },
  admin: { anonymous: 401, badSignature: 401, stranger: 403, viewer: 403, member: 403, owner: 403, admin: 200 },
};

/** The HTTP status `caller` must get from a route with `rule`. */
export function expectedStatus(rule: Rule, caller: Caller): number {
  return EXPECTED[rule][caller];
}

/**
 * Every published action and the rule its routes follow. An entry may name an action that is not published (yet): the
 * test lists those, but only a published route without an entry fails it.
 */
export const RULES: Record<string, Rule> = {
  "api.health": "public",
  "api.ready": "public",
  "api.openapi": "public",

  "v1.k8s.namespaces.list": "list",
  "v1.k8s.namespaces.create": "signedIn",
  "v1.k8s.namespaces.get": "read",
  "v1.k8s.namespaces.update": "owner",
  "v1.k8s.namespaces.remove": "owner",
  "v1.k8s.namespaces.status": "read",
  "v1.k8s.namespaces.resourcequota": "read",
  "v1.k8s.namespaces.resolveName": "read",
  "v1.k8s.namespaces.available": "signedIn",
  "v1.k8s.namespaces.addMember": "owner",
  "v1.k8s.namespaces.removeMember": "owner",

  "v1.k8s.images.list": "signedIn",
  "v1.k8s.images.get": "signedIn",
  "v1.k8s.images.getImage": "signedIn",
  "v1.k8s.images.resolveName": "signedIn",
  "v1.k8s.images.create": "admin",
  "v1.k8s.images.update": "admin",
  "v1.k8s.images.remove": "admin",
  "v1.k8s.images.loadImages": "admin",
  "v1.k8s.images.deploy": "write",
  "v1.k8s.images.build": "admin",
  "v1.k8s.images.builds": "signedIn",
  "v1.k8s.images.buildLogs": "admin",

  "v1.k8s.volumes.list": "list",
  "v1.k8s.volumes.get": "read",
  "v1.k8s.volumes.create": "write",
  "v1.k8s.volumes.update": "write",
  "v1.k8s.volumes.remove": "write",
  "v1.k8s.volumes.status": "read",

  "v1.k8s.envs.list": "list",
  "v1.k8s.envs.get": "read",
  "v1.k8s.envs.create": "write",
  "v1.k8s.envs.update": "write",
  "v1.k8s.envs.remove": "write",
  "v1.k8s.envs.resolveENV": "read",
  "v1.k8s.envs.pack": "read",
  "v1.k8s.envs.patchConfigMap": "write",
  "v1.k8s.envs.rePatchConfigMap": "write",

  "v1.k8s.deployments.list": "list",
  "v1.k8s.deployments.get": "read",
  "v1.k8s.deployments.create": "write",
  "v1.k8s.deployments.update": "write",
  "v1.k8s.deployments.remove": "write",
  "v1.k8s.deployments.apply": "write",
  "v1.k8s.deployments.generate": "read",
  "v1.k8s.deployments.status": "read",
  "v1.k8s.deployments.scale": "write",
  "v1.k8s.deployments.restart": "write",
  "v1.k8s.deployments.pods": "read",
  "v1.k8s.deployments.logs": "read",
  "v1.k8s.deployments.events": "read",
  "v1.k8s.deployments.state": "read",
  "v1.k8s.deployments.top": "read",
  "v1.k8s.deployments.history": "read",
  "v1.k8s.deployments.rollback": "write",
};
