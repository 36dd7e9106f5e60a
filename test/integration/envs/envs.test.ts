/**
 * v1.k8s.envs against a real sandbox through v1.kube (client-node reads back what was applied), with a test double of
 * v1.k8s.deployments. The last test reads every log line the broker wrote (all levels) for the secret values used.
 */
import { describe, it, expect, beforeAll, afterAll } from "@jest/globals";
import { ApiException } from "@kubernetes/client-node";
import type { Context } from "moleculer";
import { SECRET_MASK, type EnvEntity } from "../../../lib/entities.ts";
import type { EnvPackResult, EnvPatchResult, EnvRenderResult } from "../../../services/envs.service.ts";
import { as, startEnvHarness, waitFor, type DeploymentRecord, type EnvHarness } from "./harness.ts";

let h: EnvHarness;
/** Every secret value the tests used or generated: none may appear in a response, event or log line. */
const secrets = new Set<string>();
let ns: { id: string; name: string };
let other: { id: string; name: string };
let phpImage: { id: string };
let postgresImage: { id: string };
let php: DeploymentRecord;
let pg: DeploymentRecord;

beforeAll(async () => {
  h = await startEnvHarness();
  ns = await h.createNamespace("shop", "alice");
  other = await h.createNamespace("elsewhere", "erin");
  await h.broker.call("v1.k8s.namespaces.addMember", { id: ns.id, userID: "bob", role: "member" }, as("alice"));
  await h.broker.call("v1.k8s.namespaces.addMember", { id: ns.id, userID: "carol", role: "viewer" }, as("alice"));
  phpImage = await h.broker.call("v1.k8s.images.resolveName", { name: "php-8-1-0-fpm" });
  postgresImage = await h.broker.call("v1.k8s.images.resolveName", { name: "postgres-16" });
}, 30_000);

afterAll(async () => {
  await h?.stop();
});

async function secretData(namespace: string, name: string): Promise<Record<string, string>> {
  const s = await h.core.readNamespacedSecret({ name, namespace });
  return Object.fromEntries(
    Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")]),
  );
}
async function configMapData(namespace: string, name: string): Promise<Record<string, string>> {
  return (await h.core.readNamespacedConfigMap({ name, namespace })).data ?? {};
}
async function exists(read: Promise<unknown>): Promise<boolean> {
  try {
    await read;
    return true;
  } catch (err) {
    if (err instanceof ApiException && err.code === 404) return false;
    throw err;
  }
}
function envsOf(deployment: string): Promise<EnvEntity[]> {
  return h.broker.call("v1.k8s.envs.find", { query: { deployment } });
}
function checksum(deployment: string): Promise<string> {
  return h.broker.call("v1.k8s.envs.checksum", { deployment });
}

describe("v1.k8s.envs.createEnv", () => {
  it("creates the image's envs when a deployment is created, a strong generated secret in the Secret only", async () => {
    php = await h.addDeployment({ name: "web-php", namespace: ns.id, image: phpImage.id });
    const [env] = await waitFor(async () => {
      const found = await envsOf(php.id);
      return found.length === 1 && found;
    });
    expect(env).toMatchObject({ key: "PHP_ROOT_PASSWORD", type: "secret", value: SECRET_MASK, namespace: ns.id });
    const data = await waitFor(
      async () =>
        (await exists(h.core.readNamespacedSecret({ name: "web-php-env", namespace: "shop" }))) &&
        secretData("shop", "web-php-env"),
    );
    const generated = data.PHP_ROOT_PASSWORD ?? "";
    secrets.add(generated);
    expect(generated).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(Buffer.from(generated, "base64url")).toHaveLength(24);
    // No plain value: no ConfigMap (the Deployment's envFrom reference to it is optional).
    expect(await exists(h.core.readNamespacedConfigMap({ name: "web-php-env", namespace: "shop" }))).toBe(false);
  });

  it("is idempotent: running it again keeps the generated secret and the checksum", async () => {
    const before = await secretData("shop", "web-php-env");
    const sum = await checksum(php.id);
    const writes = h.sandbox.requestCounts().writes;
    const result: EnvPatchResult = await h.broker.call("v1.k8s.envs.createEnv", {
      deployment: php.id,
      namespace: ns.id,
      image: phpImage.id,
    });
    expect(result).toEqual({
      checksum: sum,
      configMapName: "web-php-env",
      secretName: "web-php-env",
      applied: true,
      created: 0,
    });
    // Nothing new, and already applied: no write reached the cluster.
    expect(h.sandbox.requestCounts().writes).toBe(writes);
    expect(await secretData("shop", "web-php-env")).toEqual(before);
    expect(await envsOf(php.id)).toHaveLength(1);
  });

  it("puts plain image values in the ConfigMap and secret ones in the Secret, generated secrets differing", async () => {
    pg = await h.addDeployment({ name: "db", namespace: ns.id, image: postgresImage.id });
    const result: EnvPatchResult = await h.broker.call("v1.k8s.envs.createEnv", {
      deployment: pg.id,
      namespace: ns.id,
      image: postgresImage.id,
      deploymentName: "db",
      namespaceName: "shop",
    });
    expect(result.configMapName).toBe("db-env");
    expect(await envsOf(pg.id)).toHaveLength(4);
    expect(await configMapData("shop", "db-env")).toEqual({
      PGDATA: "/var/lib/postgresql/data/pgdata",
      POSTGRES_DB: "app",
      POSTGRES_USER: "postgres",
    });
    const secret = await secretData("shop", "db-env");
    expect(Object.keys(secret)).toEqual(["POSTGRES_PASSWORD"]);
    secrets.add(secret.POSTGRES_PASSWORD ?? "");
    expect(secret.POSTGRES_PASSWORD).not.toBe([...secrets][0]);
    expect(result.checksum).toBe(await checksum(pg.id));
  });

  it("adds the envs a new image lists, keeping the ones it has; an updated deployment alone makes none", async () => {
    const d = await h.addDeployment({ name: "swap", namespace: ns.id, image: phpImage.id });
    await waitFor(async () => (await envsOf(d.id)).length === 1, 5000, "the php env");
    const phpSecret = (await secretData("shop", "swap-env")).PHP_ROOT_PASSWORD ?? "";
    secrets.add(phpSecret);
    const writes = h.sandbox.requestCounts().writes;
    await h.updateDeployment(d.id, {}); // a status-only update: nothing to do
    // Not even a change of image: the deployments service asks for the new image's envs itself (and records them
    // made), so that a restart, which empties every memory of what was made, cannot make removed ones again.
    await h.updateDeployment(d.id, { image: postgresImage.id });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(h.sandbox.requestCounts().writes).toBe(writes);
    expect(await envsOf(d.id)).toHaveLength(1);
    // what the deployments service calls after a change of image
    await h.broker.call("v1.k8s.envs.createEnv", { deployment: d.id, namespace: ns.id, image: postgresImage.id });
    expect(await envsOf(d.id)).toHaveLength(5);
    const secret = await secretData("shop", "swap-env");
    expect(secret.PHP_ROOT_PASSWORD).toBe(phpSecret);
    secrets.add(secret.POSTGRES_PASSWORD ?? "");
    expect(await configMapData("shop", "swap-env")).toMatchObject({ POSTGRES_USER: "postgres" });
    await h.removeDeployment(d.id);
    await waitFor(async () => (await envsOf(d.id)).length === 0, 5000, "envs removed");
  });

  it("refuses a deployment that does not exist with 404, storing nothing", async () => {
    await expect(
      h.broker.call("v1.k8s.envs.createEnv", { deployment: "nope", namespace: ns.id, image: phpImage.id }),
    ).rejects.toMatchObject({ code: 404, type: "NOT_FOUND" });
    expect(await envsOf("nope")).toEqual([]);
  });

  it("is internal: a person gets 403", async () => {
    await expect(
      h.broker.call("v1.k8s.envs.createEnv", { deployment: php.id, namespace: ns.id, image: phpImage.id }, as("alice")),
    ).rejects.toMatchObject({ code: 403 });
  });
});

describe("v1.k8s.envs.create", () => {
  it("lets a member add a plain value: the ConfigMap is re-patched and the checksum changes", async () => {
    const before = await checksum(php.id);
    const env: EnvEntity = await h.broker.call(
      "v1.k8s.envs.create",
      { namespace: ns.id, deployment: php.id, key: "APP_MODE", value: "production" },
      as("bob"),
    );
    expect(env).toMatchObject({ key: "APP_MODE", type: "plain", value: "production", deployment: php.id });
    expect(await configMapData("shop", "web-php-env")).toEqual({ APP_MODE: "production" });
    expect(await checksum(php.id)).not.toBe(before);
  });

  it("stores a secret value in the Secret only and answers it masked", async () => {
    const value = "s3cret-DB-pass-4471";
    secrets.add(value);
    const env: EnvEntity = await h.broker.call(
      "v1.k8s.envs.create",
      { namespace: ns.id, deployment: php.id, key: "DB_PASSWORD", type: "secret", value },
      as("alice"),
    );
    expect(env.value).toBe(SECRET_MASK);
    expect((await secretData("shop", "web-php-env")).DB_PASSWORD).toBe(value);
    expect(Object.values(await configMapData("shop", "web-php-env"))).not.toContain(value);
    const event = await waitFor(() => h.events.find((e) => (e.payload as EnvEntity).key === "DB_PASSWORD"));
    expect(event).toMatchObject({ name: "k8s.envs.created", payload: { value: SECRET_MASK } });
  });

  it("generates a strong value for a secret created without one", async () => {
    const env: EnvEntity = await h.broker.call(
      "v1.k8s.envs.create",
      { namespace: ns.id, deployment: php.id, key: "API_TOKEN", type: "secret" },
      as("bob"),
    );
    expect(env.value).toBe(SECRET_MASK);
    const token = (await secretData("shop", "web-php-env")).API_TOKEN ?? "";
    secrets.add(token);
    expect(Buffer.from(token, "base64url")).toHaveLength(24);
  });

  it("refuses a key the deployment already has with 409, storing nothing", async () => {
    const before = await envsOf(php.id);
    await expect(
      h.broker.call(
        "v1.k8s.envs.create",
        { namespace: ns.id, deployment: php.id, key: "APP_MODE", value: "other" },
        as("bob"),
      ),
    ).rejects.toMatchObject({ code: 409, type: "ALREADY_EXISTS", data: { field: "key" } });
    expect(await envsOf(php.id)).toEqual(before);
    expect((await configMapData("shop", "web-php-env")).APP_MODE).toBe("production");
  });

  it.each([
    ["a key that is not an env var name", { key: "1 BAD-KEY", value: "x" }, "key"],
    ["an empty key", { key: "", value: "x" }, "key"],
    ["a value that is not a string", { key: "GOOD", value: 42 }, "value"],
    ["an unknown type", { key: "GOOD", type: "file", value: "x" }, "type"],
    ["a plain env without value", { key: "GOOD" }, "value"],
    ["a deployment that is not a string", { key: "GOOD", value: "x", deployment: 7 }, "deployment"],
  ])("refuses %s with 422 naming the field, storing nothing", async (_what, fields, field) => {
    const before = await h.broker.call<number, unknown>("v1.k8s.envs.count", {});
    await expect(
      h.broker.call("v1.k8s.envs.create", { namespace: ns.id, deployment: php.id, ...fields }, as("bob")),
    ).rejects.toMatchObject({
      code: 422,
      type: "VALIDATION_ERROR",
      data: expect.arrayContaining([expect.objectContaining({ field })]),
    });
    expect(await h.broker.call("v1.k8s.envs.count", {})).toBe(before);
  });

  it("refuses unknown fields with 422 naming them, storing nothing", async () => {
    await expect(
      h.broker.call(
        "v1.k8s.envs.create",
        { namespace: ns.id, deployment: php.id, key: "GOOD", value: "x", color: "red" },
        as("bob"),
      ),
    ).rejects.toMatchObject({ code: 422, data: [expect.objectContaining({ type: "objectStrict", actual: "color" })] });
    expect((await envsOf(php.id)).map((e) => e.key)).not.toContain("GOOD");
  });

  it("refuses viewers (403) and strangers (404), and a deployment of another namespace (404)", async () => {
    const params = { namespace: ns.id, deployment: php.id, key: "NOPE", value: "x" };
    await expect(h.broker.call("v1.k8s.envs.create", params, as("carol"))).rejects.toMatchObject({ code: 403 });
    await expect(h.broker.call("v1.k8s.envs.create", params, as("dave"))).rejects.toMatchObject({ code: 404 });
    await expect(
      h.broker.call("v1.k8s.envs.create", { ...params, namespace: other.id }, as("erin")),
    ).rejects.toMatchObject({ code: 404, data: { what: "deployment" } });
    expect((await envsOf(php.id)).map((e) => e.key)).not.toContain("NOPE");
  });
});

describe("v1.k8s.envs size", () => {
  it("takes plain values up to the 1 MiB a ConfigMap holds, and refuses the next byte with 422 naming value, storing nothing", async () => {
    const big = await h.addDeployment({ name: "big", namespace: other.id, image: "none" });
    const create = (key: string, value: string, type = "plain") =>
      h.broker.call<EnvEntity, object>(
        "v1.k8s.envs.create",
        { namespace: other.id, deployment: big.id, key, type, value },
        as("erin"),
      );
    // 15 × 64 KiB + (64 KiB - 1) + 1 = 1 MiB exactly: applied.
    for (let i = 0; i < 15; i++) await create(`CHUNK_${i}`, "x".repeat(65_536));
    const shorter = await create("CHUNK_15", "x".repeat(65_535));
    await create("ONE", "y");
    expect(Object.keys(await configMapData("elsewhere", "big-env"))).toHaveLength(17);
    const before = await envsOf(big.id);
    await expect(create("TWO", "z")).rejects.toMatchObject({
      code: 422,
      data: [
        expect.objectContaining({
          field: "value",
          type: "envTooLarge",
          message:
            "The env values of deployment 'big' would hold 1048577 bytes of plain values (its ConfigMap), more than the 1048576 the cluster takes.",
        }),
      ],
    });
    // A longer value in place of a shorter one counts too.
    await expect(
      h.broker.call("v1.k8s.envs.update", { id: shorter.id, value: "x".repeat(65_536) }, as("erin")),
    ).rejects.toMatchObject({ code: 422, data: [expect.objectContaining({ field: "value", type: "envTooLarge" })] });
    expect(await envsOf(big.id)).toEqual(before);
    expect(Object.keys(await configMapData("elsewhere", "big-env"))).toHaveLength(17);
    // Secret values count apart (the Secret's own 1 MiB).
    await expect(create("TOKEN", "s", "secret")).resolves.toMatchObject({ key: "TOKEN", type: "secret" });
  });
});

describe("v1.k8s.envs.update", () => {
  it("re-patches the Secret when a secret value changes, changes the checksum, and answers masked", async () => {
    const [env] = (await envsOf(php.id)).filter((e) => e.key === "DB_PASSWORD");
    const before = await checksum(php.id);
    const value = "n3w-DB-pass-9902";
    secrets.add(value);
    const updated: EnvEntity = await h.broker.call("v1.k8s.envs.update", { id: env?.id, value }, as("bob"));
    expect(updated.value).toBe(SECRET_MASK);
    expect((await secretData("shop", "web-php-env")).DB_PASSWORD).toBe(value);
    expect(await checksum(php.id)).not.toBe(before);
    const event = await waitFor(() => h.events.find((e) => e.name === "k8s.envs.updated"));
    expect(event.payload).toMatchObject({ key: "DB_PASSWORD", value: SECRET_MASK });
  });

  it("re-patches the ConfigMap when a plain value changes", async () => {
    const [env] = (await envsOf(php.id)).filter((e) => e.key === "APP_MODE");
    const before = await checksum(php.id);
    await h.broker.call("v1.k8s.envs.update", { id: env?.id, value: "staging" }, as("alice"));
    expect((await configMapData("shop", "web-php-env")).APP_MODE).toBe("staging");
    expect(await checksum(php.id)).not.toBe(before);
  });

  it("moves a value from the ConfigMap to the Secret when its type becomes secret", async () => {
    const env: EnvEntity = await h.broker.call(
      "v1.k8s.envs.create",
      { namespace: ns.id, deployment: php.id, key: "SMTP_PASS", value: "mail-Pa55-0013" },
      as("bob"),
    );
    // Until it becomes a secret, the value is plain and may be seen; from then on it may not.
    const [lines, events] = [h.lines.length, h.events.length];
    const updated: EnvEntity = await h.broker.call("v1.k8s.envs.update", { id: env.id, type: "secret" }, as("bob"));
    expect(updated).toMatchObject({ type: "secret", value: SECRET_MASK });
    expect(await configMapData("shop", "web-php-env")).not.toHaveProperty("SMTP_PASS");
    expect((await secretData("shop", "web-php-env")).SMTP_PASS).toBe("mail-Pa55-0013");
    const pack: EnvPackResult = await h.broker.call("v1.k8s.envs.pack", { deployment: php.id }, as("bob"));
    const later = JSON.stringify([pack, h.lines.slice(lines), h.events.slice(events)]);
    expect(later).toContain("SMTP_PASS");
    expect(later).not.toContain("mail-Pa55-0013");
  });

  it("refuses a key another env of the deployment has (409), an unknown field or a moved deployment (422)", async () => {
    const [env] = (await envsOf(php.id)).filter((e) => e.key === "APP_MODE");
    await expect(
      h.broker.call("v1.k8s.envs.update", { id: env?.id, key: "DB_PASSWORD" }, as("bob")),
    ).rejects.toMatchObject({ code: 409, type: "ALREADY_EXISTS" });
    await expect(
      h.broker.call("v1.k8s.envs.update", { id: env?.id, deployment: pg.id }, as("bob")),
    ).rejects.toMatchObject({ code: 422, data: [expect.objectContaining({ field: "deployment" })] });
    await expect(h.broker.call("v1.k8s.envs.update", { id: env?.id, type: "binary" }, as("bob"))).rejects.toMatchObject(
      { code: 422, data: [expect.objectContaining({ field: "type" })] },
    );
    expect((await configMapData("shop", "web-php-env")).APP_MODE).toBe("staging");
  });

  it("renames a key: the ConfigMap drops the old key and holds the new one", async () => {
    const env: EnvEntity = await h.broker.call(
      "v1.k8s.envs.create",
      { namespace: ns.id, deployment: php.id, key: "OLD_NAME", value: "v1" },
      as("bob"),
    );
    await h.broker.call("v1.k8s.envs.update", { id: env.id, key: "NEW_NAME" }, as("bob"));
    const data = await configMapData("shop", "web-php-env");
    expect(data).toMatchObject({ NEW_NAME: "v1" });
    expect(data).not.toHaveProperty("OLD_NAME");
    await h.broker.call("v1.k8s.envs.remove", { id: env.id }, as("bob"));
    expect(await configMapData("shop", "web-php-env")).not.toHaveProperty("NEW_NAME");
  });

  it("does not turn a secret plain without a new value (that would show the secret)", async () => {
    const [env] = (await envsOf(php.id)).filter((e) => e.key === "DB_PASSWORD");
    await expect(h.broker.call("v1.k8s.envs.update", { id: env?.id, type: "plain" }, as("bob"))).rejects.toMatchObject({
      code: 422,
      data: [expect.objectContaining({ field: "value" })],
    });
    expect((await secretData("shop", "web-php-env")).DB_PASSWORD).toBe("n3w-DB-pass-9902");
    expect(await configMapData("shop", "web-php-env")).not.toHaveProperty("DB_PASSWORD");
  });

  it("refuses viewers (403) and strangers (404)", async () => {
    const [env] = (await envsOf(php.id)).filter((e) => e.key === "APP_MODE");
    await expect(h.broker.call("v1.k8s.envs.update", { id: env?.id, value: "x" }, as("carol"))).rejects.toMatchObject({
      code: 403,
    });
    await expect(h.broker.call("v1.k8s.envs.update", { id: env?.id, value: "x" }, as("dave"))).rejects.toMatchObject({
      code: 404,
    });
  });
});

describe("v1.k8s.envs reads", () => {
  it("shows viewers every value of a secret masked (get, list, find with fields), strangers nothing", async () => {
    const list: { rows: EnvEntity[] } = await h.broker.call("v1.k8s.envs.list", { pageSize: 100 }, as("carol"));
    const secretRows = list.rows.filter((r) => r.type === "secret");
    expect(secretRows.length).toBeGreaterThanOrEqual(4);
    for (const r of secretRows) expect(r.value).toBe(SECRET_MASK);
    const one: EnvEntity = await h.broker.call("v1.k8s.envs.get", { id: secretRows[0]?.id }, as("carol"));
    expect(one.value).toBe(SECRET_MASK);
    const projected: Record<string, unknown>[] = await h.broker.call(
      "v1.k8s.envs.find",
      { query: { deployment: php.id }, fields: ["key", "value"] },
      as("carol"),
    );
    for (const r of projected) if (r.key !== "APP_MODE") expect(r.value).toBe(SECRET_MASK);
    const stranger: { rows: EnvEntity[] } = await h.broker.call("v1.k8s.envs.list", {}, as("dave"));
    expect(stranger.rows).toEqual([]);
    await expect(h.broker.call("v1.k8s.envs.get", { id: secretRows[0]?.id }, as("dave"))).rejects.toMatchObject({
      code: 404,
    });
  });

  it("refuses queries and sorts on value from people (an oracle for guessing secrets)", async () => {
    await expect(
      h.broker.call("v1.k8s.envs.find", { query: { value: { $regex: "^s" } } }, as("carol")),
    ).rejects.toMatchObject({ code: 422, data: [expect.objectContaining({ field: "query" })] });
    await expect(
      h.broker.call("v1.k8s.envs.count", { query: JSON.stringify({ $or: [{ value: "x" }] }) }, as("alice")),
    ).rejects.toMatchObject({ code: 422 });
    await expect(h.broker.call("v1.k8s.envs.list", { sort: "-value" }, as("alice"))).rejects.toMatchObject({
      code: 422,
      data: [expect.objectContaining({ field: "sort" })],
    });
  });

  it("pack shows what would be applied, secrets masked; render (internal) holds the values", async () => {
    const pack: EnvPackResult = await h.broker.call("v1.k8s.envs.pack", { deployment: php.id }, as("carol"));
    expect(pack).toEqual({
      configMap: { name: "web-php-env", namespace: "shop", data: { APP_MODE: "staging" } },
      secret: {
        name: "web-php-env",
        namespace: "shop",
        keys: ["API_TOKEN", "DB_PASSWORD", "PHP_ROOT_PASSWORD", "SMTP_PASS"],
        data: {
          API_TOKEN: SECRET_MASK,
          DB_PASSWORD: SECRET_MASK,
          PHP_ROOT_PASSWORD: SECRET_MASK,
          SMTP_PASS: SECRET_MASK,
        },
      },
      checksum: await checksum(php.id),
    });
    const render: EnvRenderResult = await h.broker.call("v1.k8s.envs.render", { deployment: php.id });
    const [, secret] = render.objects;
    expect(Buffer.from(secret.data?.DB_PASSWORD ?? "", "base64").toString()).toBe("n3w-DB-pass-9902");
    expect(render.checksum).toBe(pack.checksum);
    await expect(h.broker.call("v1.k8s.envs.render", { deployment: php.id }, as("alice"))).rejects.toMatchObject({
      code: 403,
    });
    await expect(h.broker.call("v1.k8s.envs.pack", { deployment: php.id }, as("dave"))).rejects.toMatchObject({
      code: 404,
      data: { what: "deployment" },
    });
  });

  it("resolveENV gives internal callers the value and people the masked value", async () => {
    const internal: EnvEntity = await h.broker.call("v1.k8s.envs.resolveENV", {
      deployment: php.id,
      key: "DB_PASSWORD",
    });
    expect(internal.value).toBe("n3w-DB-pass-9902");
    const person: EnvEntity = await h.broker.call(
      "v1.k8s.envs.resolveENV",
      { deployment: php.id, key: "DB_PASSWORD" },
      as("carol"),
    );
    expect(person).toMatchObject({ key: "DB_PASSWORD", value: SECRET_MASK });
    await expect(
      h.broker.call("v1.k8s.envs.resolveENV", { deployment: php.id, key: "DB_PASSWORD" }, as("dave")),
    ).rejects.toMatchObject({ code: 404 });
  });
});

describe("v1.k8s.envs over REST", () => {
  it("creates, lists, packs and reads secrets masked; viewers cannot write, strangers see nothing", async () => {
    const bob = await h.token("bob");
    const carol = await h.token("carol");
    const dave = await h.token("dave");
    const value = "rest-Secr3t-5521";
    secrets.add(value);
    const created = await h.request("/api/v1/k8s/envs", {
      method: "POST",
      token: bob,
      body: { namespace: ns.id, deployment: pg.id, key: "REPLICA_PASSWORD", type: "secret", value },
    });
    expect(created.status).toBe(200);
    const body = (await created.json()) as EnvEntity;
    expect(body.value).toBe(SECRET_MASK);
    expect((await secretData("shop", "db-env")).REPLICA_PASSWORD).toBe(value);

    const texts: string[] = [];
    for (const [path, token] of [
      ["/api/v1/k8s/envs?pageSize=100", carol],
      [`/api/v1/k8s/envs/${body.id}`, carol],
      [`/api/v1/k8s/envs/pack/${pg.id}`, carol],
      [`/api/v1/k8s/envs/resolve/${pg.id}/REPLICA_PASSWORD`, carol],
    ] as const) {
      const res = await h.request(path, { token });
      expect(res.status).toBe(200);
      texts.push(await res.text());
    }
    for (const t of texts) expect(t).toContain(SECRET_MASK);

    const patched = await h.request(`/api/v1/k8s/envs/${body.id}`, {
      method: "PATCH",
      token: carol,
      body: { value: "x" },
    });
    expect(patched.status).toBe(403);
    expect((await h.request(`/api/v1/k8s/envs/${body.id}`, { token: dave })).status).toBe(404);
    expect((await h.request(`/api/v1/k8s/envs/pack/${pg.id}`, { token: dave })).status).toBe(404);
    const bad = await h.request("/api/v1/k8s/envs", {
      method: "POST",
      token: bob,
      body: { namespace: ns.id, deployment: pg.id, key: "BAD KEY", value: "x" },
    });
    expect(bad.status).toBe(422);
    expect(JSON.stringify(await bad.json())).toContain('"field":"key"');
    const patch = await h.request(`/api/v1/k8s/envs/patch/${pg.id}`, { method: "POST", token: bob });
    expect(patch.status).toBe(200);
    expect(await patch.json()).toMatchObject({ configMapName: "db-env", secretName: "db-env", applied: true });
    expect((await h.request(`/api/v1/k8s/envs/patch/${pg.id}`, { method: "POST", token: carol })).status).toBe(403);
    expect((await h.request(`/api/v1/k8s/envs/patch/${pg.id}`, { method: "POST", token: dave })).status).toBe(404);
    expect((await h.request(`/api/v1/k8s/envs/repatch/${ns.id}`, { method: "POST", token: carol })).status).toBe(403);
    expect((await h.request(`/api/v1/k8s/envs/repatch/${ns.id}`, { method: "POST", token: dave })).status).toBe(404);
    const internalOnly = await h.request(`/api/v1/k8s/envs/render/${pg.id}`, { token: bob });
    expect(internalOnly.status).toBe(404);
    const removed = await h.request(`/api/v1/k8s/envs/${body.id}`, { method: "DELETE", token: bob });
    expect(removed.status).toBe(200);
    expect(await secretData("shop", "db-env")).not.toHaveProperty("REPLICA_PASSWORD");
    for (const s of secrets) for (const t of texts) expect(t).not.toContain(s);
  });
});

describe("v1.k8s.envs.remove", () => {
  it("removes the key from the Secret and changes the checksum", async () => {
    const [env] = (await envsOf(php.id)).filter((e) => e.key === "API_TOKEN");
    const before = await checksum(php.id);
    await h.broker.call("v1.k8s.envs.remove", { id: env?.id }, as("bob"));
    expect(await secretData("shop", "web-php-env")).not.toHaveProperty("API_TOKEN");
    expect(await checksum(php.id)).not.toBe(before);
  });
});

describe("v1.k8s.envs concurrent writes", () => {
  it("lets one of several concurrent creates of a key win; the others get 409", async () => {
    const results = await Promise.allSettled(
      ["a", "b", "c", "d", "e"].map((v) =>
        h.broker.call(
          "v1.k8s.envs.create",
          { namespace: ns.id, deployment: php.id, key: "RACE", value: `race-${v}` },
          as("bob"),
        ),
      ),
    );
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    for (const r of results.filter((x) => x.status === "rejected")) {
      expect((r as PromiseRejectedResult).reason).toMatchObject({ code: 409 });
    }
    const stored = (await envsOf(php.id)).filter((e) => e.key === "RACE");
    expect(stored).toHaveLength(1);
    expect((await configMapData("shop", "web-php-env")).RACE).toBe(stored[0]?.value);
    await h.broker.call("v1.k8s.envs.remove", { id: stored[0]?.id }, as("bob"));
  });

  it("puts the objects back to what is stored when the store fails after the apply (another node won)", async () => {
    type Create = (ctx: unknown, fields: Record<string, unknown>) => Promise<unknown>;
    const svc = h.broker.getLocalService("v1.k8s.envs") as unknown as { createEntity: Create };
    const original = svc.createEntity;
    // Another node stores the same key between this node's check and its insert (methods are bound to the service).
    svc.createEntity = async (ctx, fields) => {
      svc.createEntity = original;
      await original(null, { ...fields, value: "other-node-value" });
      return original(ctx, fields);
    };
    await expect(
      h.broker.call(
        "v1.k8s.envs.create",
        { namespace: ns.id, deployment: php.id, key: "LATE", value: "this-node-value" },
        as("bob"),
      ),
    ).rejects.toMatchObject({ code: 409, type: "ALREADY_EXISTS" });
    expect((await configMapData("shop", "web-php-env")).LATE).toBe("other-node-value");
    const [late] = (await envsOf(php.id)).filter((e) => e.key === "LATE");
    await h.broker.call("v1.k8s.envs.remove", { id: late?.id }, as("bob"));
    expect(await configMapData("shop", "web-php-env")).not.toHaveProperty("LATE");
  });

  it("lets a local k8s.envs.* listener call back into a write of the same deployment without a deadlock", async () => {
    const seen: EnvPatchResult[] = [];
    // The store broadcasts k8s.envs.created and waits for local listeners, while the deployment's lock is held.
    const listener = h.broker.createService({
      name: "envs-reentrant",
      events: {
        async "k8s.envs.created"(ctx: Context<EnvEntity>) {
          if (ctx.params.key !== "REENTRANT") return;
          seen.push(await ctx.call<EnvPatchResult, unknown>("v1.k8s.envs.patchConfigMap", { deployment: php.id }));
        },
      },
    });
    await h.broker.waitForServices(["envs-reentrant"]);
    const env: EnvEntity = await h.broker.call(
      "v1.k8s.envs.create",
      { namespace: ns.id, deployment: php.id, key: "REENTRANT", value: "again" },
      as("bob"),
    );
    expect(seen).toEqual([expect.objectContaining({ checksum: await checksum(php.id), applied: true })]);
    await h.broker.destroyService(listener);
    await h.broker.call("v1.k8s.envs.remove", { id: env.id }, as("bob"));
  });

  it("keeps one generated secret when createEnv runs three times at once", async () => {
    // Made with no envs, so that the three calls below race to make PHP_ROOT_PASSWORD.
    const d = await h.addDeployment({ name: "twin", namespace: ns.id, image: "none" });
    await Promise.all(
      [1, 2, 3].map(() =>
        h.broker.call("v1.k8s.envs.createEnv", { deployment: d.id, namespace: ns.id, image: phpImage.id }),
      ),
    );
    await waitFor(async () => (await envsOf(d.id)).length === 1, 5000, "one env");
    const stored: EnvEntity = await h.broker.call("v1.k8s.envs.resolveENV", {
      deployment: d.id,
      key: "PHP_ROOT_PASSWORD",
    });
    secrets.add(stored.value);
    expect((await secretData("shop", "twin-env")).PHP_ROOT_PASSWORD).toBe(stored.value);
    await h.removeDeployment(d.id);
    await waitFor(async () => (await envsOf(d.id)).length === 0, 5000, "envs removed");
  });
});

describe("v1.k8s.envs reconciliation", () => {
  it("puts back a ConfigMap deleted behind its back, and a value changed behind its back", async () => {
    await h.core.deleteNamespacedConfigMap({ name: "web-php-env", namespace: "shop" });
    await waitFor(
      async () =>
        (await exists(h.core.readNamespacedConfigMap({ name: "web-php-env", namespace: "shop" }))) || undefined,
      5000,
      "the ConfigMap back",
    );
    expect(await configMapData("shop", "web-php-env")).toEqual({ APP_MODE: "staging" });
    await h.core.patchNamespacedConfigMap({
      name: "web-php-env",
      namespace: "shop",
      body: [{ op: "replace", path: "/data/APP_MODE", value: "hacked" }],
    });
    await waitFor(
      async () => (await configMapData("shop", "web-php-env")).APP_MODE === "staging",
      5000,
      "the value back",
    );
  });

  it("puts back a Secret value changed behind its back, and removes keys added to the ConfigMap or the Secret", async () => {
    const password = (await secretData("shop", "db-env")).POSTGRES_PASSWORD;
    expect(password).toBeDefined();
    // A changed secret value: the watch cache keeps a digest of the Secret's data, not the values.
    await h.core.patchNamespacedSecret({
      name: "db-env",
      namespace: "shop",
      body: [{ op: "replace", path: "/data/POSTGRES_PASSWORD", value: Buffer.from("tampered").toString("base64") }],
    });
    await waitFor(
      async () => (await secretData("shop", "db-env")).POSTGRES_PASSWORD === password,
      5000,
      "the secret value back",
    );
    // Keys someone else added reach every new pod through envFrom; server-side apply alone would leave them.
    await h.core.patchNamespacedConfigMap({
      name: "web-php-env",
      namespace: "shop",
      body: [{ op: "add", path: "/data/LD_PRELOAD", value: "/tmp/evil.so" }],
    });
    await h.core.patchNamespacedSecret({
      name: "db-env",
      namespace: "shop",
      body: [{ op: "add", path: "/data/EXTRA_SECRET", value: Buffer.from("x").toString("base64") }],
    });
    await waitFor(
      async () =>
        !("LD_PRELOAD" in (await configMapData("shop", "web-php-env"))) &&
        !("EXTRA_SECRET" in (await secretData("shop", "db-env"))),
      5000,
      "the added keys gone",
    );
    expect(await configMapData("shop", "web-php-env")).toEqual({ APP_MODE: "staging" });
    expect((await secretData("shop", "db-env")).POSTGRES_PASSWORD).toBe(password);
  });

  it("rePatchConfigMap re-applies every deployment's objects of a namespace", async () => {
    await h.core.deleteNamespacedSecret({ name: "db-env", namespace: "shop" });
    const result = await h.broker.call("v1.k8s.envs.rePatchConfigMap", { namespace: ns.id }, as("bob"));
    expect(result).toEqual({ namespace: ns.id, deployments: 2, applied: 2 });
    expect(await secretData("shop", "db-env")).toHaveProperty("POSTGRES_PASSWORD");
  });
});

describe("v1.k8s.envs reactions", () => {
  it("removes a deployment's envs and their ConfigMap and Secret when the deployment is removed", async () => {
    await h.removeDeployment(pg.id);
    await waitFor(async () => (await envsOf(pg.id)).length === 0, 5000, "envs removed");
    await waitFor(
      async () =>
        !(await exists(h.core.readNamespacedSecret({ name: "db-env", namespace: "shop" }))) &&
        !(await exists(h.core.readNamespacedConfigMap({ name: "db-env", namespace: "shop" }))),
      5000,
      "objects deleted",
    );
    expect(await envsOf(php.id)).not.toHaveLength(0);
  });

  it("refuses changes while the namespace is being removed (409 NAMESPACE_LOCKED), then cleans up", async () => {
    const closing = await h.createNamespace("closing", "alice");
    const d = await h.addDeployment({ name: "app", namespace: closing.id, image: "none" });
    const env: EnvEntity = await h.broker.call(
      "v1.k8s.envs.create",
      { namespace: closing.id, deployment: d.id, key: "A", value: "1" },
      as("alice"),
    );
    // An object with a finalizer keeps the Namespace (and so the record) terminating until it is released.
    await h.core.createNamespacedConfigMap({
      namespace: "closing",
      body: { metadata: { name: "blocker", finalizers: ["example.com/hold"] } },
    });
    await h.broker.call("v1.k8s.namespaces.remove", { id: closing.id }, as("alice"));
    const record = await h.broker.call<{ status: { phase: string } }, unknown>("v1.k8s.namespaces.get", {
      id: closing.id,
    });
    expect(record.status.phase).toBe("Terminating");
    const locked = { code: 409, type: "NAMESPACE_LOCKED" };
    await expect(
      h.broker.call(
        "v1.k8s.envs.create",
        { namespace: closing.id, deployment: d.id, key: "B", value: "2" },
        as("alice"),
      ),
    ).rejects.toMatchObject(locked);
    await expect(h.broker.call("v1.k8s.envs.update", { id: env.id, value: "3" }, as("alice"))).rejects.toMatchObject(
      locked,
    );
    expect((await envsOf(d.id)).map((e) => [e.key, e.value])).toEqual([["A", "1"]]);
    await h.core.patchNamespacedConfigMap({
      name: "blocker",
      namespace: "closing",
      body: [{ op: "remove", path: "/metadata/finalizers" }],
    });
    await waitFor(async () => (await envsOf(d.id)).length === 0, 10_000, "envs cleaned");
  });

  it("cleans a namespace's envs and objects when the namespace is removed", async () => {
    await h.broker.call("v1.k8s.namespaces.remove", { id: ns.id }, as("alice"));
    await waitFor(
      async () => (await h.broker.call<number, unknown>("v1.k8s.envs.count", { query: { namespace: ns.id } })) === 0,
      10_000,
      "envs cleaned",
    );
    await waitFor(
      async () => !(await exists(h.core.readNamespacedSecret({ name: "web-php-env", namespace: "shop" }))),
      10_000,
      "Secret gone",
    );
  });
});

describe("secrets stay out of logs and events", () => {
  it("wrote no secret value (nor its base64) to any log line or event payload", () => {
    expect(secrets.size).toBeGreaterThanOrEqual(6);
    // The logger records debug lines (and v1.kube's debug line about applies), so the check below can fail.
    expect(h.lines.some((l) => l.startsWith("debug "))).toBe(true);
    const log = h.lines.join("\n");
    const events = JSON.stringify(h.events);
    for (const s of secrets) {
      expect(s.length).toBeGreaterThan(8);
      for (const form of [s, Buffer.from(s).toString("base64")]) {
        expect(log).not.toContain(form);
        expect(events).not.toContain(form);
      }
    }
  });
});
