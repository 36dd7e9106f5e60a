/**
 * Every route of GET /api/openapi.json × every kind of caller (anonymous, a token with a bad signature, a stranger,
 * the namespace's viewer, member and owner, an admin), against the whole suite on a real sandbox: 401 without a valid
 * token, 404 for strangers (existence not leaked), 403 for too small a role, 200 where allowed. The expectations are
 * keyed by each route's action (test/security/matrix.ts): a route whose action has none fails the test.
 * Then moleculer-db's list parameters (`query` with operators, `fields`, `sort`, paging, `search`, `populate`): none
 * widens a caller's scope or shows a secret value.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { readFile } from "node:fs/promises";
import { signToken } from "../../lib/auth.ts";
import { CALLERS, RULES, expectedStatus, type Caller } from "./matrix.ts";
import { SEED_SECRETS, USERS, seed, slug, type Seed } from "./seed.ts";
import { startSecurityStack, waitUntil, type RestAnswer, type SecurityStack } from "./stack.ts";

interface Operation {
  method: string;
  path: string;
  operationId: string;
  action: string;
}

interface Built {
  path?: Record<string, string>;
  body?: unknown;
}

let stack: SecurityStack;
let s: Seed;
let operations: Operation[] = [];
const tokens: Partial<Record<Caller, string>> = {};
const nginxFile = JSON.parse(
  await readFile(new URL("../../images/nginx-1-27.json", import.meta.url), "utf8"),
) as Record<string, unknown>;

/** Internal (trusted) calls for the per-caller copies that destructive routes act on. */
const internal = <T>(action: string, params: object): Promise<T> => stack.services.call<T, object>(action, params);
let copies = 0;
/** A name for a per-caller copy, unique across routes that share an action (PUT and PATCH). */
const copyName = (prefix: string, caller: Caller): string => `${prefix}-${slug(caller)}-${(copies += 1)}`;

/** What each route is called with, per caller: path parameters and a minimal valid body. */
const BUILD: Record<string, (caller: Caller) => Built | Promise<Built>> = {
  "api.health": () => ({}),
  "api.ready": () => ({}),
  "api.openapi": () => ({}),

  "v1.k8s.namespaces.list": () => ({}),
  "v1.k8s.namespaces.create": (c) => ({ body: { name: `ns-${slug(c)}` } }),
  "v1.k8s.namespaces.get": () => ({ path: { id: s.team.namespace.id } }),
  // (Not `quota`: only admins set it, QUOTA_SET_BY=admin; test/integration/records/namespaces.test.ts.)
  "v1.k8s.namespaces.update": () => ({ path: { id: s.team.namespace.id }, body: { domain: "apps.example.com" } }),
  "v1.k8s.namespaces.remove": async (c) => {
    const copy = await internal<{ id: string }>("v1.k8s.namespaces.create", {
      name: copyName("rm", c),
      owner: USERS.owner,
    });
    await internal("v1.k8s.namespaces.addMember", { id: copy.id, userID: USERS.member, role: "member" });
    await internal("v1.k8s.namespaces.addMember", { id: copy.id, userID: USERS.viewer, role: "viewer" });
    return { path: { id: copy.id } };
  },
  "v1.k8s.namespaces.status": () => ({ path: { id: s.team.namespace.id } }),
  "v1.k8s.namespaces.resourcequota": () => ({ path: { id: s.team.namespace.id } }),
  "v1.k8s.namespaces.resolveName": () => ({ path: { name: s.team.namespace.name } }),
  "v1.k8s.namespaces.available": () => ({ path: { name: s.team.namespace.name } }),
  "v1.k8s.namespaces.addMember": (c) => ({
    path: { id: s.team.namespace.id },
    body: { userID: `new-${slug(c)}`, role: "viewer" },
  }),
  "v1.k8s.namespaces.removeMember": async (c) => {
    const userID = copyName("gone", c);
    await internal("v1.k8s.namespaces.addMember", { id: s.team.namespace.id, userID, role: "viewer" });
    return { path: { id: s.team.namespace.id, userID } };
  },

  "v1.k8s.images.list": () => ({}),
  "v1.k8s.images.get": () => ({ path: { id: s.nginxImage.id } }),
  "v1.k8s.images.getImage": () => ({ path: { name: s.nginxImage.name } }),
  "v1.k8s.images.resolveName": () => ({ path: { name: s.nginxImage.name } }),
  "v1.k8s.images.create": (c) => ({ body: { ...nginxFile, name: `img-${slug(c)}` } }),
  "v1.k8s.images.update": async (c) => {
    const copy = await internal<{ id: string }>("v1.k8s.images.create", { ...nginxFile, name: copyName("upd", c) });
    return { path: { id: copy.id }, body: { description: `changed by ${c}` } };
  },
  "v1.k8s.images.remove": async (c) => {
    const copy = await internal<{ id: string }>("v1.k8s.images.create", { ...nginxFile, name: copyName("rmi", c) });
    return { path: { id: copy.id } };
  },
  "v1.k8s.images.loadImages": () => ({}),
  "v1.k8s.images.deploy": (c) => ({
    path: { id: s.nginxImage.id },
    body: { namespace: s.team.namespace.id, name: `i-${slug(c)}`, vHosts: [`i-${slug(c)}.example.com`] },
  }),

  "v1.k8s.images.build": (c) => ({
    path: { id: s.nginxImage.id },
    body: { git: "https://github.com/acme/shop-api.git", tag: `sec-${slug(c)}` },
  }),
  "v1.k8s.images.builds": () => ({ path: { id: s.nginxImage.id } }),
  "v1.k8s.images.buildLogs": async () => ({ path: { id: s.nginxImage.id, build: await aBuildWithPod() } }),

  "v1.k8s.volumes.list": () => ({}),
  "v1.k8s.volumes.get": () => ({ path: { id: s.team.volume.id } }),
  "v1.k8s.volumes.create": (c) => ({
    body: { namespace: s.team.namespace.id, name: `v-${slug(c)}`, mountPath: "/data" },
  }),
  "v1.k8s.volumes.update": () => ({ path: { id: s.team.volume.id }, body: { mountPath: "/srv/data" } }),
  "v1.k8s.volumes.remove": async (c) => {
    const copy = await internal<{ id: string }>("v1.k8s.volumes.create", {
      namespace: s.team.namespace.id,
      name: copyName("rm", c),
      mountPath: "/data",
    });
    return { path: { id: copy.id } };
  },
  "v1.k8s.volumes.status": () => ({ path: { id: s.team.volume.id } }),

  "v1.k8s.envs.list": () => ({}),
  "v1.k8s.envs.get": () => ({ path: { id: s.team.secretEnv.id } }),
  "v1.k8s.envs.create": (c) => ({
    body: {
      namespace: s.team.namespace.id,
      deployment: s.team.deployment.id,
      key: `K_${slug(c).toUpperCase()}`,
      type: "plain",
      value: "v",
    },
  }),
  "v1.k8s.envs.update": () => ({ path: { id: s.team.plainEnv.id }, body: { value: s.team.plainEnv.value } }),
  "v1.k8s.envs.remove": async (c) => {
    const copy = await internal<{ id: string }>("v1.k8s.envs.create", {
      namespace: s.team.namespace.id,
      deployment: s.team.deployment.id,
      key: copyName("RM", c).toUpperCase().replace(/-/g, "_"),
      type: "plain",
      value: "gone",
    });
    return { path: { id: copy.id } };
  },
  "v1.k8s.envs.resolveENV": () => ({ path: { deployment: s.team.deployment.id, key: s.team.secretEnv.key } }),
  "v1.k8s.envs.pack": () => ({ path: { deployment: s.team.deployment.id } }),
  "v1.k8s.envs.patchConfigMap": () => ({ path: { deployment: s.team.deployment.id } }),
  "v1.k8s.envs.rePatchConfigMap": () => ({ path: { namespace: s.team.namespace.id } }),

  "v1.k8s.deployments.list": () => ({}),
  "v1.k8s.deployments.get": () => ({ path: { id: s.team.deployment.id } }),
  "v1.k8s.deployments.create": (c) => ({
    body: { namespace: s.team.namespace.id, name: `d-${slug(c)}`, image: s.nginxImage.id },
  }),
  "v1.k8s.deployments.update": () => ({ path: { id: s.team.deployment.id }, body: { replicas: 1 } }),
  "v1.k8s.deployments.remove": async (c) => {
    const copy = await internal<{ id: string }>("v1.k8s.deployments.create", {
      namespace: s.team.namespace.id,
      name: copyName("rm", c),
      image: s.nginxImage.id,
    });
    return { path: { id: copy.id } };
  },
  "v1.k8s.deployments.apply": () => ({ path: { id: s.team.deployment.id } }),
  "v1.k8s.deployments.generate": () => ({ path: { id: s.team.deployment.id } }),
  "v1.k8s.deployments.status": () => ({ path: { id: s.team.deployment.id } }),
  "v1.k8s.deployments.scale": () => ({ path: { id: s.team.deployment.id }, body: { replicas: 1 } }),
  "v1.k8s.deployments.restart": () => ({ path: { id: s.team.deployment.id } }),
  "v1.k8s.deployments.pods": () => ({ path: { id: s.team.deployment.id } }),
  "v1.k8s.deployments.logs": () => ({ path: { id: s.team.deployment.id } }),
  "v1.k8s.deployments.events": () => ({ path: { id: s.team.deployment.id } }),
  "v1.k8s.deployments.state": () => ({ path: { id: s.team.deployment.id } }),
  "v1.k8s.deployments.top": () => ({ path: { id: s.team.deployment.id } }),
  "v1.k8s.deployments.history": () => ({ path: { id: s.team.deployment.id } }),
  "v1.k8s.deployments.rollback": async (c) => {
    // Its own copy: a rollback restores the env values of that revision too.
    const copy = await internal<{ id: string }>("v1.k8s.deployments.create", {
      namespace: s.team.namespace.id,
      name: copyName("rb", c),
      image: s.nginxImage.id,
    });
    await internal("v1.k8s.deployments.scale", { id: copy.id, replicas: 2 });
    const history = await internal<{ items: { revision: number }[] }>("v1.k8s.deployments.history", { id: copy.id });
    return { path: { id: copy.id }, body: { revision: history.items.at(-1)?.revision ?? 1 } };
  },
};

let buildWithPod: string | undefined;
/** A build of the seed's nginx image whose builder pod exists (its log can be read), started once. */
async function aBuildWithPod(): Promise<string> {
  if (buildWithPod !== undefined) return buildWithPod;
  const build = await internal<{ id: string }>("v1.k8s.images.build", {
    id: s.nginxImage.id,
    git: "https://github.com/acme/shop-api.git",
    tag: "sec-logs",
  });
  await waitUntil(
    () =>
      internal("v1.k8s.images.buildLogs", { id: s.nginxImage.id, build: build.id }).then(
        () => true,
        () => false,
      ),
    10_000,
    "the builder pod",
  );
  buildWithPod = build.id;
  return build.id;
}

function fillPath(template: string, values: Record<string, string>): string {
  return template.replace(/\{([^}]+)\}/g, (_m, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`no value for path parameter '${name}' of ${template}`);
    return encodeURIComponent(value);
  });
}

const call = (method: string, path: string, caller: Caller, body?: unknown): Promise<RestAnswer> =>
  stack.rest(method, path, tokens[caller], body);

/** The namespace ids a list's rows belong to (the namespace's own id for namespaces). */
function namespacesOfRows(answer: RestAnswer, resource: string): string[] {
  const rows = (answer.body.rows ?? []) as Record<string, unknown>[];
  return rows.map((r) => String(resource === "namespaces" ? r.id : r.namespace));
}

beforeAll(async () => {
  stack = await startSecurityStack({ nodes: 1 });
  s = await seed(stack.services);
  // Pods exist (logs, pods, top answer for them) before any caller asks.
  for (const id of [s.team.deployment.id, s.rival.deployment.id]) {
    await waitUntil(
      async () => (await internal<{ phase?: string }>("v1.k8s.deployments.status", { id })).phase === "Available",
      10_000,
      `deployment ${id} Available`,
    );
  }
  tokens.badSignature = await signToken({ userID: USERS.owner }, "not-the-gateway-secret-0123456789abcdef");
  for (const caller of ["stranger", "viewer", "member", "owner", "admin"] as const) {
    tokens[caller] = await stack.token(USERS[caller], caller === "admin");
  }
  const doc = (await stack.rest("GET", "/api/openapi.json")).body as {
    paths: Record<string, Record<string, { operationId: string; "x-moleculer-action": string }>>;
  };
  operations = Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.entries(ops).map(([method, op]) => ({
      method: method.toUpperCase(),
      path,
      operationId: op.operationId,
      action: op["x-moleculer-action"],
    })),
  );
}, 30_000);

afterAll(async () => {
  await stack?.stop();
});

describe("the authorization matrix over GET /api/openapi.json", () => {
  it("has an expectation and a request for every published route, and none for a route that is gone", () => {
    expect(operations.length).toBeGreaterThan(40);
    const actions = new Set(operations.map((o) => o.action));
    const missing = [...actions].filter((a) => RULES[a] === undefined || BUILD[a] === undefined);
    expect(missing).toEqual([]);
    // Expectations may come before their routes (a service being finished); they are listed, not failed.
    const unpublished = Object.keys(RULES).filter((a) => !actions.has(a));
    if (unpublished.length > 0) process.stdout.write(`matrix entries not published now: ${unpublished.join(", ")}\n`);
    expect(Object.keys(BUILD).sort()).toEqual(Object.keys(RULES).sort());
  });

  it("answers every route × caller with 401, 404 (strangers), 403 (too small a role) or success", async () => {
    const seen: string[] = [];
    const mismatches: string[] = [];
    let checked = 0;
    for (const op of operations) {
      const rule = RULES[op.action];
      const build = BUILD[op.action];
      if (rule === undefined || build === undefined) continue; // reported by the test above
      for (const caller of CALLERS) {
        const built = await build(caller);
        const path = fillPath(op.path, built.path ?? {});
        const answer = await call(op.method, path, caller, built.body);
        const expected = expectedStatus(rule, caller);
        checked += 1;
        const line = `${op.method} ${op.path} as ${caller}: ${answer.status}`;
        seen.push(line);
        if (answer.status !== expected) {
          mismatches.push(`${line}, expected ${expected} (${answer.text.slice(0, 200)})`);
          continue;
        }
        // Refusals say why, in the gateway's shape; none of them names the record's content.
        if (expected === 401) expect(answer.body).toMatchObject({ code: 401, type: expect.any(String) });
        if (expected === 404) expect(answer.body).toMatchObject({ code: 404, type: "NOT_FOUND" });
        if (expected === 403) expect(answer.body).toMatchObject({ code: 403, type: "FORBIDDEN" });
        if (rule === "list" && expected === 200) {
          const resource = op.action.split(".")[2] ?? "";
          const nsIds = namespacesOfRows(answer, resource);
          const team = s.team.namespace.id;
          const rival = s.rival.namespace.id;
          if (caller === "stranger") expect(nsIds.filter((id) => id === team || id === rival)).toEqual([]);
          if (caller === "viewer" || caller === "member" || caller === "owner") {
            expect(nsIds).toContain(team);
            expect(nsIds).not.toContain(rival);
          }
          if (caller === "admin") expect(nsIds).toEqual(expect.arrayContaining([team, rival]));
        }
        // No answer to a person holds a secret value.
        expect(answer.text).not.toContain(SEED_SECRETS.team);
        expect(answer.text).not.toContain(SEED_SECRETS.rival);
      }
    }
    expect(mismatches).toEqual([]);
    expect(checked).toBe(operations.length * CALLERS.length);
    // The figure docs/reliability.md reports.
    process.stdout.write(
      `authorization matrix: ${operations.length} routes × ${CALLERS.length} callers = ${checked}\n`,
    );
  }, 60_000);
});

const LIST_ROUTES = ["namespaces", "volumes", "envs", "deployments"] as const;
const listPath = (resource: string, params: Record<string, string | string[]>): string => {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) for (const one of [v].flat()) qs.append(k, one);
  return `/api/v1/k8s/${resource}?${qs.toString()}`;
};

/** Queries that would widen the scope if they replaced the membership filter instead of being ANDed under it. */
function wideningQueries(): Record<string, unknown>[] {
  const team = s.team.namespace.id;
  const rival = s.rival.namespace.id;
  return [
    { createdAt: { $ne: "x" } },
    { namespace: { $ne: "x" } },
    { $or: [{ createdAt: { $exists: true } }, { namespace: rival }] },
    { $nor: [{ createdAt: "x" }] },
    { createdAt: { $regex: "." } },
    { name: { $regex: ".*" } },
    { namespace: { $in: [team, rival] } },
    { _id: { $in: [team, rival, s.rival.volume.id, s.rival.deployment.id, s.rival.secretEnv.id] } },
    { "members.userID": { $in: [USERS.owner, USERS.rival] } },
    { createdAt: { $exists: true } },
    { namespace: { $exists: true } },
    { createdAt: { $not: { $eq: "x" } } },
    { $and: [{ createdAt: { $exists: true } }] },
    { $or: [{}] },
  ];
}

describe("moleculer-db's list parameters cannot widen the membership scope", () => {
  it("ANDs $ne, $or, $nor, $regex, $in, $exists, $not under the membership filter (or refuses them with 422)", async () => {
    let probes = 0;
    for (const resource of LIST_ROUTES) {
      for (const caller of ["stranger", "viewer"] as const) {
        for (const q of wideningQueries()) {
          const answer = await call("GET", listPath(resource, { query: JSON.stringify(q), pageSize: "100" }), caller);
          probes += 1;
          expect({ resource, caller, q, status: [200, 422].includes(answer.status) }).toEqual({
            resource,
            caller,
            q,
            status: true,
          });
          if (answer.status !== 200) continue;
          const nsIds = namespacesOfRows(answer, resource);
          expect({ resource, caller, q, rival: nsIds.includes(s.rival.namespace.id) }).toMatchObject({ rival: false });
          if (caller === "stranger")
            expect({ resource, q, team: nsIds.includes(s.team.namespace.id) }).toMatchObject({ team: false });
          expect(answer.body.total).toBe(nsIds.length);
        }
      }
    }
    process.stdout.write(`list scope probes: ${probes}\n`);
  });

  it("refuses $where, $function, $expr and $jsonSchema anywhere in `query` with 422", async () => {
    for (const resource of LIST_ROUTES) {
      for (const q of [
        { $where: "return true" },
        { $or: [{ $where: "1" }] },
        { a: { $function: {} } },
        { $expr: { $gt: ["$$ROOT.createdAt", ""] } },
        { $jsonSchema: { required: ["name"] } },
      ]) {
        const answer = await call("GET", listPath(resource, { query: JSON.stringify(q) }), "stranger");
        expect({ resource, q, status: answer.status, type: answer.body.type }).toEqual({
          resource,
          q,
          status: 422,
          type: "VALIDATION_ERROR",
        });
      }
    }
  });

  it("treats `query` in the bracket form of the query string the same way", async () => {
    for (const resource of LIST_ROUTES) {
      const path = `/api/v1/k8s/${resource}?query[namespace][$ne]=x&query[createdAt][$exists]=true`;
      const answer = await call("GET", path, "stranger");
      expect([200, 422]).toContain(answer.status);
      if (answer.status === 200) {
        const nsIds = namespacesOfRows(answer, resource);
        expect(nsIds).not.toContain(s.team.namespace.id);
        expect(nsIds).not.toContain(s.rival.namespace.id);
      }
    }
  });

  it("scopes `fields`, `excludeFields`, `sort`, `page` and `pageSize` like any list", async () => {
    for (const resource of LIST_ROUTES) {
      for (const params of [
        { fields: ["id", "namespace", "members", "name"] },
        { fields: "members" },
        { excludeFields: "namespace" },
        { sort: "-createdAt", pageSize: "100" },
        { page: "1", pageSize: "1" },
        { page: "2", pageSize: "1" },
      ]) {
        const answer = await call("GET", listPath(resource, params), "stranger");
        expect({ resource, params, status: answer.status }).toEqual({ resource, params, status: 200 });
        expect({ resource, params, total: answer.body.total }).toMatchObject({
          total: resource === "namespaces" ? 1 : 0,
        });
        expect(answer.text).not.toContain(s.team.namespace.id);
        expect(answer.text).not.toContain(USERS.owner);
      }
    }
  });

  it("refuses `search`, `searchFields` and `populate` (422) on every list, whoever asks", async () => {
    for (const resource of [...LIST_ROUTES, "images"]) {
      for (const params of [
        { search: "team" },
        { search: "team", searchFields: "name" },
        { searchFields: "name" },
        { populate: "namespace" },
      ]) {
        for (const caller of ["stranger", "owner", "admin"] as const) {
          const answer = await call("GET", listPath(resource, params), caller);
          expect({ resource, params, caller, status: answer.status }).toEqual({
            resource,
            params,
            caller,
            status: 422,
          });
        }
      }
    }
  });

  it("refuses to filter or sort envs by `value` (an oracle for secrets), even for owners", async () => {
    const oracles: Record<string, string>[] = [
      { query: JSON.stringify({ value: { $regex: "^team" } }) },
      { query: JSON.stringify({ $and: [{ type: "secret" }, { value: { $gt: "m" } }] }) },
      { query: JSON.stringify({ "value.length": 24 }) },
      { sort: "value" },
      { sort: "key,-value" },
    ];
    for (const params of oracles) {
      for (const caller of ["viewer", "member", "owner", "admin"] as const) {
        const answer = await call("GET", listPath("envs", params), caller);
        expect({ params, caller, status: answer.status }).toEqual({ params, caller, status: 422 });
      }
    }
  });
});

describe("hidden fields stay hidden through `fields`", () => {
  it("masks secret env values with any `fields` combination, in lists and gets, for every role", async () => {
    const combos: Record<string, string | string[]>[] = [
      {},
      { fields: "value" },
      { fields: ["value", "key"] },
      { fields: ["value", "type"] },
      { fields: ["id", "key", "type", "value", "deployment", "namespace"] },
      { excludeFields: "type" },
      { excludeFields: ["type", "key"] },
      { fields: "value", excludeFields: "type" },
    ];
    let probes = 0;
    for (const caller of ["viewer", "member", "owner", "admin"] as const) {
      for (const params of combos) {
        const listed = await call("GET", listPath("envs", { ...params, pageSize: "100" }), caller);
        const got = await call("GET", `${listPath(`envs/${s.team.secretEnv.id}`, params)}`, caller);
        const resolved = await call(
          "GET",
          listPath(`envs/resolve/${s.team.deployment.id}/${s.team.secretEnv.key}`, {}),
          caller,
        );
        probes += 3;
        for (const answer of [listed, got, resolved]) {
          expect({ caller, params, status: answer.status }).toEqual({ caller, params, status: 200 });
          expect(answer.text).not.toContain(SEED_SECRETS.team);
          expect(answer.text).not.toContain(Buffer.from(SEED_SECRETS.team).toString("base64"));
          expect(answer.text).not.toContain(SEED_SECRETS.rival);
        }
        const secretRow = ((listed.body.rows ?? []) as Record<string, unknown>[]).find(
          (r) => r.id === s.team.secretEnv.id,
        );
        if (secretRow !== undefined && "value" in secretRow) expect(secretRow.value).toBe("********");
      }
    }
    process.stdout.write(`secret masking probes: ${probes}\n`);
  });

  it("shows a namespace's members to its viewers (decided: viewers see who is on the team), never to strangers", async () => {
    const viewer = await call("GET", `/api/v1/k8s/namespaces/${s.team.namespace.id}`, "viewer");
    expect(viewer.status).toBe(200);
    expect(viewer.body.members).toEqual(
      expect.arrayContaining([
        { userID: USERS.owner, role: "owner" },
        { userID: USERS.member, role: "member" },
        { userID: USERS.viewer, role: "viewer" },
      ]),
    );
    for (const path of [
      `/api/v1/k8s/namespaces/${s.team.namespace.id}?fields=members`,
      `/api/v1/k8s/namespaces/resolve/${s.team.namespace.name}`,
    ]) {
      const stranger = await call("GET", path, "stranger");
      expect(stranger.status).toBe(404);
      expect(stranger.text).not.toContain(USERS.owner);
      expect(stranger.text).not.toContain(USERS.member);
    }
  });

  it("does not let an `id` in the query string replace the one in the path", async () => {
    const teamVolume = s.team.volume.id;
    for (const path of [
      `/api/v1/k8s/volumes/nope?id=${teamVolume}`,
      `/api/v1/k8s/volumes/nope?id=${teamVolume}&id=${s.rival.volume.id}`,
      `/api/v1/k8s/volumes/nope?id[]=${teamVolume}&mapping=true`,
    ]) {
      const answer = await call("GET", path, "stranger");
      expect([404, 422]).toContain(answer.status);
      expect(answer.text).not.toContain(s.team.volume.name);
    }
  });
});

describe("probes for holes around the matrix", () => {
  it("answers a stranger deploying into a namespace they cannot see with 404, whatever the name (no 409 oracle)", async () => {
    for (const name of [s.team.deployment.name, "never-used-name"]) {
      const answer = await call("POST", `/api/v1/k8s/images/${s.nginxImage.id}/deploy`, "stranger", {
        namespace: s.team.namespace.id,
        name,
      });
      expect({ name, status: answer.status }).toEqual({ name, status: 404 });
    }
    const viewer = await call("POST", `/api/v1/k8s/images/${s.nginxImage.id}/deploy`, "viewer", {
      namespace: s.team.namespace.id,
      name: s.team.deployment.name,
    });
    expect(viewer.status).toBe(403);
  });

  it("does not let a member move a record into a namespace they are a stranger to", async () => {
    const moves: [string, Record<string, unknown>][] = [
      [`/api/v1/k8s/volumes/${s.team.volume.id}`, { namespace: s.rival.namespace.id }],
      [`/api/v1/k8s/envs/${s.team.plainEnv.id}`, { namespace: s.rival.namespace.id }],
      [`/api/v1/k8s/envs/${s.team.plainEnv.id}`, { deployment: s.rival.deployment.id }],
      [`/api/v1/k8s/deployments/${s.team.deployment.id}`, { namespace: s.rival.namespace.id }],
    ];
    for (const [path, body] of moves) {
      const answer = await call("PATCH", path, "member", body);
      expect({ path, body, refused: answer.status === 404 || answer.status === 422 }).toEqual({
        path,
        body,
        refused: true,
      });
    }
    const rivalVolumes = await call("GET", "/api/v1/k8s/volumes", "admin");
    const moved = ((rivalVolumes.body.rows ?? []) as { id: string; namespace: string }[]).find(
      (v) => v.id === s.team.volume.id,
    );
    expect(moved?.namespace).toBe(s.team.namespace.id);
  });

  it("does not let an owner hand the namespace over through update (owner, members are changed by addMember only)", async () => {
    for (const body of [
      { owner: USERS.stranger },
      { members: [{ userID: USERS.stranger, role: "owner" }] },
      { name: "renamed" },
    ]) {
      const answer = await call("PATCH", `/api/v1/k8s/namespaces/${s.team.namespace.id}`, "owner", body);
      expect({ body, status: answer.status }).toEqual({ body, status: 422 });
    }
    const stranger = await call("GET", `/api/v1/k8s/namespaces/${s.team.namespace.id}`, "stranger");
    expect(stranger.status).toBe(404);
  });

  it("does not let a member promote themselves or a viewer write", async () => {
    const promote = await call("POST", `/api/v1/k8s/namespaces/${s.team.namespace.id}/members`, "member", {
      userID: USERS.member,
      role: "owner",
    });
    expect(promote.status).toBe(403);
    const selfPromote = await call("POST", `/api/v1/k8s/namespaces/${s.team.namespace.id}/members`, "viewer", {
      userID: USERS.viewer,
      role: "member",
    });
    expect(selfPromote.status).toBe(403);
    const namespaceFor = await call("POST", "/api/v1/k8s/namespaces", "stranger", {
      name: "for-olga",
      owner: USERS.owner,
    });
    expect(namespaceFor.status).toBe(403);
  });
});

describe("references across tenants", () => {
  it("answers a member naming another tenant's deployment or namespace as if it did not exist (404)", async () => {
    const rivalDeployment = s.rival.deployment.id;
    const probes: [string, string, unknown][] = [
      [
        "POST",
        "/api/v1/k8s/envs",
        { namespace: s.team.namespace.id, deployment: rivalDeployment, key: "X", type: "plain", value: "x" },
      ],
      ["GET", `/api/v1/k8s/envs/pack/${rivalDeployment}`, undefined],
      ["POST", `/api/v1/k8s/envs/patch/${rivalDeployment}`, undefined],
      ["GET", `/api/v1/k8s/envs/resolve/${rivalDeployment}/${s.rival.secretEnv.key}`, undefined],
      ["POST", `/api/v1/k8s/envs/repatch/${s.rival.namespace.id}`, undefined],
      ["GET", `/api/v1/k8s/namespaces/${s.rival.namespace.id}/status`, undefined],
      ["GET", `/api/v1/k8s/namespaces/resolve/${s.rival.namespace.name}`, undefined],
    ];
    for (const [method, path, body] of probes) {
      const answer = await call(method, path, "member", body);
      expect({ method, path, status: answer.status }).toEqual({ method, path, status: 404 });
      expect(answer.text).not.toContain(s.rival.plainEnv.value);
    }
  });

  it("cannot tell another tenant's volume from a missing one when mounting it", async () => {
    const mount = (claimName: string) =>
      call("POST", "/api/v1/k8s/deployments", "member", {
        namespace: s.team.namespace.id,
        name: "mounts-foreign",
        image: s.nginxImage.id,
        volumes: [{ name: "d", type: "persistentVolumeClaim", mountPath: "/d", persistentVolumeClaim: { claimName } }],
      });
    const foreign = await mount(s.rival.volume.name);
    const missing = await mount("no-such-claim");
    expect(foreign.status).toBe(422);
    expect({ status: foreign.status, type: foreign.body.type }).toEqual({
      status: missing.status,
      type: missing.body.type,
    });
  });

  it("never shows the stored hidden fields (_unique, _request, revisions) whatever `fields` asks for", async () => {
    const fields = ["_unique", "_request", "_id", "id", "revisions", "revisions.spec.env"];
    for (const resource of LIST_ROUTES) {
      const answers = [
        await call("GET", listPath(resource, { fields, pageSize: "100" }), "admin"),
        await call("GET", listPath(resource, { fields: "revisions" }), "owner"),
      ];
      for (const answer of answers) {
        expect(answer.status).toBe(200);
        for (const hidden of ["_unique", "_request", "revisions"]) expect(answer.text).not.toContain(hidden);
      }
    }
    const got = await call("GET", listPath(`deployments/${s.team.deployment.id}`, { fields }), "owner");
    expect(got.status).toBe(200);
    expect(got.text).not.toContain("revisions");
  });
});

describe("secret values in the image catalog", () => {
  it("refuses an image whose env gives a secret a value (the catalog is readable by every user), without echoing it", async () => {
    const value = "catalog-default-password-Zr5";
    const env = [
      { key: "MODE", type: "plain", value: "prod" },
      { key: "ROOT_PASSWORD", type: "secret", value },
    ];
    const created = await call("POST", "/api/v1/k8s/images", "admin", { ...nginxFile, name: "with-secret", env });
    expect(created).toMatchObject({ status: 422, body: { type: "VALIDATION_ERROR" } });
    expect(JSON.stringify(created.body.data)).toContain("env[1].value");
    expect(created.text).not.toContain(value);
    const updated = await call("PATCH", `/api/v1/k8s/images/${s.nginxImage.id}`, "admin", { env });
    expect(updated.status).toBe(422);
    expect(updated.text).not.toContain(value);
    const withoutValue = await call("POST", "/api/v1/k8s/images", "admin", {
      ...nginxFile,
      name: "with-generated-secret",
      env: [{ key: "ROOT_PASSWORD", type: "secret" }],
    });
    expect(withoutValue.status).toBe(200);
  });
});
