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
import { startSecurityStack, type RestAnswer, type SecurityStack } from "./stack.ts";

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
  "v1.k8s.namespaces.update": () => ({ path: { id: s.team.namespace.id }, body: { quota: { pods: 40 } } }),
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
};

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
    expect(Object.keys(RULES).filter((a) => !actions.has(a))).toEqual([]);
    expect(Object.keys(BUILD).filter((a) => !actions.has(a))).toEqual([]);
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
