/**
 * v1.k8s.deployments.history and .rollback through the real gateway against the sandbox, checked with kubectl: each
 * change is a revision (who, what), secret env values are kept but never shown, and a rollback restores image, replicas,
 * config and env values together (the pod template's image and checksum equal the old revision's).
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import type { DeploymentEntity, DeploymentHistory, EnvEntity } from "../../../lib/entities.ts";
import { startOpsStack, waitUntil, type OpsStack } from "./stack.ts";

let stack: OpsStack;
let app: DeploymentEntity;

const base = (id: string) => `/api/v1/k8s/deployments/${id}`;
const CHECKSUM = "moleculer-k8s/config-checksum";

interface KubeDeployment {
  metadata: { annotations?: Record<string, string> };
  spec: {
    replicas: number;
    template: { metadata: { annotations?: Record<string, string> }; spec: { containers: { image: string }[] } };
  };
}

const kubeDeployment = (name: string) => stack.kubectlJson<KubeDeployment>("get", "deploy", name, "-n", "ops");

async function history(id: string, token = stack.tokens.alice): Promise<DeploymentHistory> {
  const res = await stack.http("GET", `${base(id)}/history`, token);
  expect(res.status).toBe(200);
  return res.json as unknown as DeploymentHistory;
}

/** Waits until the record's revision is `n` and its history holds it. */
async function revision(id: string, n: number): Promise<DeploymentHistory> {
  return waitUntil(
    async () => {
      const h = await history(id);
      return h.revision === n && h.items[0]?.revision === n ? h : undefined;
    },
    10_000,
    `revision ${n}`,
  );
}

async function envOf(id: string, key: string): Promise<EnvEntity> {
  const [env] = await stack.services.call<EnvEntity[], Record<string, unknown>>("v1.k8s.envs.find", {
    query: { deployment: id, key },
  });
  if (env === undefined) throw new Error(`no env ${key}`);
  return env;
}

beforeAll(async () => {
  stack = await startOpsStack({ settings: { deployments: { maxRevisions: 5, revisionDebounceMs: 300 } } });
  app = await stack.deploy("app", { configMap: { name: "conf", data: { "app.conf": "v1" } } });
  for (const [key, type, value] of [
    ["GREETING", "plain", "hello"],
    ["API_TOKEN", "secret", "s3cret-one"],
  ] as const) {
    const res = await stack.http("POST", "/api/v1/k8s/envs", stack.tokens.alice, {
      namespace: stack.ns.id,
      deployment: app.id,
      key,
      type,
      value,
    });
    expect(res.status).toBe(200);
  }
}, 30_000);

afterAll(async () => {
  await stack?.stop();
});

describe("v1.k8s.deployments.history", () => {
  it("records each change as a revision with who and what changed, secret values masked", async () => {
    const first = await revision(app.id, 2);
    expect(first.items).toHaveLength(2);
    expect(first.items[1]).toMatchObject({ revision: 1, who: "alice", changes: ["created"], image: stack.nginx.id });
    expect(first.items[0]).toMatchObject({ revision: 2, changes: ["env"] });
    expect(first.items[0]?.env).toEqual([
      { key: "API_TOKEN", type: "secret", value: "********" },
      { key: "GREETING", type: "plain", value: "hello" },
    ]);
    expect(JSON.stringify(first)).not.toContain("s3cret-one");

    const res = await stack.http("PATCH", base(app.id), stack.tokens.alice, {
      image: stack.redis.id,
      // redis names no config mount path: the deployment gives one.
      configMap: { name: "conf", data: { "app.conf": "v2" }, mountPath: "/etc/app" },
    });
    expect(res.status).toBe(200);
    expect(JSON.stringify(res.json)).not.toContain("revisions");
    const third = await revision(app.id, 3);
    expect(third.items[0]).toMatchObject({
      revision: 3,
      who: "alice",
      image: stack.redis.id,
      configMap: { name: "conf", data: { "app.conf": "v2" }, mountPath: "/etc/app" },
    });
    expect(third.items[0]?.changes).toEqual(expect.arrayContaining(["image", "configMap"]));
  });

  it("stores a create's first revision with its Applied status, in one write", async () => {
    // NeDB's updates of the deployments datastore while one create runs (the record is new: every update is its own).
    const db = (
      stack.services.getLocalService({ name: "k8s.deployments", version: 1 }) as unknown as {
        adapter: {
          db: { updateAsync: (query: unknown, update: Record<string, unknown>, options: unknown) => unknown };
        };
      }
    ).adapter.db;
    const updates: Record<string, unknown>[] = [];
    const updateAsync = db.updateAsync;
    db.updateAsync = function (query, update, options) {
      updates.push(update);
      return updateAsync.call(this, query, update, options);
    };
    let res: Awaited<ReturnType<OpsStack["http"]>>;
    try {
      res = await stack.http("POST", "/api/v1/k8s/deployments", stack.tokens.alice, {
        name: "one-write",
        namespace: stack.ns.id,
        image: stack.nginx.id,
      });
    } finally {
      db.updateAsync = updateAsync;
    }
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ status: { phase: "Progressing", reason: "Applied" } });
    const withRevisions = updates.filter((u) => JSON.stringify(u).includes('"revisions"'));
    expect(withRevisions).toHaveLength(1);
    expect(JSON.stringify(withRevisions[0])).toContain('"reason":"Applied"');
    const h = await history(String(res.json.id));
    expect(h.items).toEqual([expect.objectContaining({ revision: 1, who: "alice", changes: ["created"] })]);
  });

  it("records an env change that raises the revision while the record's first apply is still running", async () => {
    // A create whose first apply is slow (a busy cluster) and an env value added meanwhile: the env revision raises the
    // revision and applies the record again, while the create's apply stores the Applied status (and, for a new record,
    // its first revision) under the same record's revision lock. Staged on an existing record: marked as being created
    // and Pending again, as between a create's insert and its first apply.
    const created = await stack.deploy("slow-first-apply");
    const svc = stack.services.getLocalService({ name: "k8s.deployments", version: 1 }) as unknown as {
      creating: Map<string, { who: string | undefined }>;
      updateEntity(ctx: null, id: string, changes: Record<string, unknown>): Promise<unknown>;
      withRevisionLock(id: string, fn: () => Promise<void>): Promise<void>;
      reconcileNow(id: string): Promise<{ ok: boolean }>;
    };
    const within = <T>(p: Promise<T>, what: string): Promise<T> =>
      Promise.race([
        p,
        new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what}: still waiting after 5 s`)), 5000)),
      ]);
    const key = `${stack.ns.id}/slow-first-apply`;
    svc.creating.set(key, { who: "alice" });
    try {
      // Only the phase decides whether an apply marks the record Applied (services/deployments.service.ts `reconcile`).
      await svc.updateEntity(null, created.id, { status: { ...created.status, phase: "Pending" } });
      const res = await stack.http("POST", "/api/v1/k8s/envs", stack.tokens.alice, {
        namespace: stack.ns.id,
        deployment: created.id,
        key: "LATE",
        type: "plain",
        value: "1",
      });
      expect(res.status).toBe(200);
      const h = await revision(created.id, 2);
      expect(h.items[0]).toMatchObject({ revision: 2, changes: ["env"] });
      // Neither waits for the other: the record's revision lock and its reconcile queue are free again (applying the
      // record under the lock made the first apply wait for the lock and the lock wait for the apply, for ever).
      await within(
        svc.withRevisionLock(created.id, async () => undefined),
        "the revision lock",
      );
      await expect(within(svc.reconcileNow(created.id), "a reconcile")).resolves.toMatchObject({ ok: true });
    } finally {
      svc.creating.delete(key);
    }
  });

  it("never shows the stored revisions: not in get, list, or a query on them (422)", async () => {
    const got = await stack.http("GET", base(app.id), stack.tokens.alice);
    expect(got.json).not.toHaveProperty("revisions");
    const list = await stack.http("GET", "/api/v1/k8s/deployments?fields=revisions&fields=name", stack.tokens.alice);
    expect(JSON.stringify(list.json)).not.toContain("s3cret");
    const query = encodeURIComponent(JSON.stringify({ "revisions.spec.env.value": "s3cret-one" }));
    const probe = await stack.http("GET", `/api/v1/k8s/deployments?query=${query}`, stack.tokens.alice);
    expect(probe.status).toBe(422);
    expect(probe.json).toMatchObject({ data: [expect.objectContaining({ field: "query" })] });
    const sort = await stack.http("GET", "/api/v1/k8s/deployments?sort=revisions.spec.env.value", stack.tokens.alice);
    expect(sort.status).toBe(422);
  });

  it("is readable by a viewer and 404 for a stranger", async () => {
    expect((await history(app.id, stack.tokens.vera)).items.length).toBeGreaterThan(0);
    expect((await stack.http("GET", `${base(app.id)}/history`, stack.tokens.mallory)).status).toBe(404);
  });
});

describe("concurrent changes of one deployment", () => {
  it("each get a revision of their own, in the history with what each changed; a rollback meanwhile too", async () => {
    const busy = await stack.deploy("busy");
    const changes: Record<string, unknown>[] = [
      { replicas: 2 },
      { configMap: { name: "conf", data: { "a.conf": "1" } } },
      { vHosts: ["busy.example.com"] },
    ];
    const answers = await Promise.all(
      changes.map((body) => stack.http("PATCH", base(busy.id), stack.tokens.alice, body)),
    );
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    expect(answers.map((a) => (a.json as { revision: number }).revision).sort()).toEqual([2, 3, 4]);
    const h = await revision(busy.id, 4);
    expect(h.items.map((r) => r.revision)).toEqual([4, 3, 2, 1]);
    expect(
      h.items
        .slice(0, 3)
        .flatMap((r) => r.changes)
        .sort(),
    ).toEqual(["configMap", "replicas", "vHosts"]);
    // A rollback and a scale at the same moment: each its own revision, the rollback's the revision's fields.
    const [rolledBack, scaled] = await Promise.all([
      stack.http("POST", `${base(busy.id)}/rollback`, stack.tokens.alice, { revision: 1 }),
      stack.http("POST", `${base(busy.id)}/scale`, stack.tokens.alice, { replicas: 3 }),
    ]);
    expect([rolledBack.status, scaled.status]).toEqual([200, 200]);
    const after = await revision(busy.id, 6);
    const byNumber = new Map(after.items.map((r) => [r.revision, r]));
    const rollbackRevision = (rolledBack.json as { revision: number }).revision;
    expect(byNumber.get(rollbackRevision)).toMatchObject({ rolledBackFrom: 1 });
    expect(byNumber.get((scaled.json as { revision: number }).revision)?.changes).toEqual(["replicas"]);
    // Its pods count against the namespace's quota, which the tests below need.
    expect((await stack.http("DELETE", base(busy.id), stack.tokens.alice)).status).toBe(200);
  });
});

describe("v1.k8s.deployments.rollback", () => {
  it("restores image, config and env values together and rolls the pods back to the old template", async () => {
    const atTwo = (await history(app.id)).items.find((r) => r.revision === 2);
    if (atTwo === undefined) throw new Error("no revision 2");
    // The pod template of revision 3 (node image, config v2); then the env changes as revision 4.
    const token = await envOf(app.id, "API_TOKEN");
    expect(
      (await stack.http("PATCH", `/api/v1/k8s/envs/${token.id}`, stack.tokens.alice, { value: "s3cret-two" })).status,
    ).toBe(200);
    const greeting = await envOf(app.id, "GREETING");
    expect((await stack.http("DELETE", `/api/v1/k8s/envs/${greeting.id}`, stack.tokens.alice)).status).toBe(200);
    const four = await revision(app.id, 4);
    expect(four.items[0]?.changes).toEqual(["env"]);
    expect(four.items[0]?.env).toEqual([{ key: "API_TOKEN", type: "secret", value: "********" }]);
    const changed = await kubeDeployment("app");
    expect(changed.spec.template.spec.containers[0]?.image).toContain("redis");

    const res = await stack.http("POST", `${base(app.id)}/rollback`, stack.tokens.alice, { revision: 2 });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ image: stack.nginx.id, configMap: { data: { "app.conf": "v1" } } });
    const five = await revision(app.id, 5);
    expect(five.items[0]).toMatchObject({ revision: 5, who: "alice", rolledBackFrom: 2, image: stack.nginx.id });
    expect(five.items[0]?.envChecksum).toBe(atTwo.envChecksum);
    expect(five.items[0]?.env).toEqual(atTwo.env);

    // The env values are back (the secret's real value, which only internal callers see).
    const restored = await stack.services.call<EnvEntity, Record<string, string>>("v1.k8s.envs.resolveENV", {
      deployment: app.id,
      key: "API_TOKEN",
    });
    expect(restored.value).toBe("s3cret-one");
    expect((await envOf(app.id, "GREETING")).value).toBe("hello");
    const secret = await stack.kubectlJson<{ data: Record<string, string> }>("get", "secret", "app-env", "-n", "ops");
    expect(Buffer.from(secret.data.API_TOKEN ?? "", "base64").toString()).toBe("s3cret-one");

    // The pods roll back: the template's image and checksum are those of revision 2's template.
    const dep = await waitUntil(async () => {
      const d = await kubeDeployment("app");
      return d.spec.template.spec.containers[0]?.image.includes("nginx") === true ? d : undefined;
    });
    expect(dep.metadata.annotations?.["moleculer-k8s/revision"]).toBe("5");
    expect(dep.spec.template.metadata.annotations?.[CHECKSUM]).toBe(twoChecksum);
    const rendered = await stack.http("GET", `${base(app.id)}/generate`, stack.tokens.alice);
    const template = (rendered.json.items as KubeDeployment[] & { kind?: string }[]).find(
      (o) => (o as { kind?: string }).kind === "Deployment",
    ) as KubeDeployment | undefined;
    expect(template?.spec.template.metadata.annotations?.[CHECKSUM]).toBe(twoChecksum);
    await waitUntil(async () => {
      const pods = await stack.kubectlJson<{ items: { spec: { containers: { image: string }[] } }[] }>(
        "get",
        "pods",
        "-n",
        "ops",
        "-l",
        "app.kubernetes.io/name=app",
      );
      return pods.items.length > 0 && pods.items.every((p) => p.spec.containers[0]?.image.includes("nginx"));
    });
  });

  it("keeps only the last maxRevisions revisions", async () => {
    const h = await history(app.id);
    expect(h.kept).toBe(5);
    expect(h.items.map((r) => r.revision)).toEqual([5, 4, 3, 2, 1]);
    const res = await stack.http("POST", `${base(app.id)}/scale`, stack.tokens.alice, { replicas: 2 });
    expect(res.status).toBe(200);
    const six = await revision(app.id, 6);
    expect(six.items.map((r) => r.revision)).toEqual([6, 5, 4, 3, 2]);
    expect(six.items[0]).toMatchObject({ changes: ["replicas"], replicas: 2, who: "alice" });
  });

  it("refuses a revision that is not kept (422 naming revision), a viewer (403) and bad input", async () => {
    for (const revision of [1, 99]) {
      const res = await stack.http("POST", `${base(app.id)}/rollback`, stack.tokens.alice, { revision });
      expect(res.status).toBe(422);
      expect(res.json).toMatchObject({ data: [expect.objectContaining({ field: "revision", actual: revision })] });
    }
    for (const revision of [0, -3, "two"]) {
      const res = await stack.http("POST", `${base(app.id)}/rollback`, stack.tokens.alice, { revision });
      expect(res.status).toBe(422);
      expect(res.json).toMatchObject({ data: [expect.objectContaining({ field: "revision" })] });
    }
    expect((await stack.http("POST", `${base(app.id)}/rollback`, stack.tokens.vera, { revision: 3 })).status).toBe(403);
    expect((await history(app.id)).revision).toBe(6);
  });
});

let twoChecksum = "";

beforeAll(async () => {
  // The pod template checksum of revision 2 (created + envs), seen on the cluster before anything else changes.
  const dep = await waitUntil(async () => {
    const h = await history(app.id);
    if (h.revision !== 2) return undefined;
    const d = await kubeDeployment("app");
    return d.metadata.annotations?.["moleculer-k8s/revision"] === "2" ? d : undefined;
  });
  twoChecksum = dep.spec.template.metadata.annotations?.[CHECKSUM] ?? "";
  expect(twoChecksum).not.toBe("");
}, 20_000);

describe("v1.k8s.deployments.rollback the update would refuse", () => {
  it("changes nothing, env values included, when the revision's host was taken since (409 naming vHosts[0])", async () => {
    const site = await stack.deploy("site", { vHosts: ["site-a.example.com"] });
    const env = await stack.http("POST", "/api/v1/k8s/envs", stack.tokens.alice, {
      namespace: stack.ns.id,
      deployment: site.id,
      key: "MODE",
      value: "one",
    });
    expect(env.status).toBe(200);
    await revision(site.id, 2); // host a, MODE=one
    const moved = await stack.http("PATCH", base(site.id), stack.tokens.alice, { vHosts: ["site-b.example.com"] });
    expect(moved.status).toBe(200);
    await stack.deploy("thief", { vHosts: ["site-a.example.com"] });
    const changed = await stack.http("PATCH", `/api/v1/k8s/envs/${String(env.json.id)}`, stack.tokens.alice, {
      value: "two",
    });
    expect(changed.status).toBe(200);
    const before = await revision(site.id, 4); // host b, MODE=two
    const template = (await kubeDeployment("site")).spec.template.metadata.annotations?.[CHECKSUM];

    const refused = await stack.http("POST", `${base(site.id)}/rollback`, stack.tokens.alice, { revision: 2 });
    expect(refused.status).toBe(409);
    expect(refused.json).toMatchObject({ type: "ALREADY_EXISTS", data: { field: "vHosts[0]" } });
    // Nothing changed: no env value restored, no revision, no rollout (past the env revision's debounce).
    await new Promise((r) => setTimeout(r, 800));
    expect((await envOf(site.id, "MODE")).value).toBe("two");
    expect(await history(site.id)).toEqual(before);
    expect((await kubeDeployment("site")).spec.template.metadata.annotations?.[CHECKSUM]).toBe(template);
  }, 30_000);
});
