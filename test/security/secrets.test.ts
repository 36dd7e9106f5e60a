/**
 * Secrets never shown: the full reference example over REST (namespace, shared volume, php-fpm with its generated
 * PHP_ROOT_PASSWORD secret, nginx with its default.conf) plus env changes (a secret created with a known value and
 * updated, a plain one updated, a generated one), with the gateway and the domain services on two nodes over NATS.
 * Every REST answer (body and headers), every event seen on either node (a spy subscribed to "**") and every log line
 * of both brokers at debug level is captured, and no secret value (nor its base64 form) may appear in any of them.
 * Decision (docs/reliability.md, "Secrets"): no route returns a secret value to a person, owners and admins included;
 * only internal calls (`resolveENV`, `render`) see values.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { inspect } from "node:util";
import { nginxDefaultConf } from "../../examples/reference-example.service.ts";
import { SECRET_MASK } from "../../lib/entities.ts";
import { startSecurityStack, waitUntil, type RestAnswer, type SecurityStack } from "./stack.ts";

let stack: SecurityStack;
let owner: string;
let member: string;
let viewer: string;
let admin: string;
/** Every secret value the run stored; filled as they are created. */
const secrets = new Set<string>();
const ids = { ns: "", php: "", nginx: "", dbPassword: "" };

const KNOWN_1 = "first-known-secret-7Hq!x2#Lz";
const KNOWN_2 = "second-known-secret-Pw9$k4&Vm";

async function rest(token: string, method: string, path: string, body?: unknown): Promise<RestAnswer> {
  return stack.rest(method, path, token, body);
}

async function ok(token: string, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const answer = await rest(token, method, path, body);
  expect({ method, path, status: answer.status, text: answer.status === 200 ? "" : answer.text }).toEqual({
    method,
    path,
    status: 200,
    text: "",
  });
  return answer.body;
}

/** A stored value, as only an internal call (no userID) can read it. */
async function storedValue(deployment: string, key: string): Promise<string> {
  const env = await stack.services.call<{ value: string }, object>("v1.k8s.envs.resolveENV", { deployment, key });
  return env.value;
}

/** The forms a secret could leak in: as is, base64 (a Secret's data), base64url, and JSON-escaped. */
function formsOf(value: string): string[] {
  return [
    value,
    Buffer.from(value).toString("base64"),
    Buffer.from(value).toString("base64url"),
    JSON.stringify(value).slice(1, -1),
  ];
}

/** Where each secret form appears: `<where>: <secret form>` lines (empty when none does). */
function leaks(): string[] {
  const sources: [string, string][] = [
    ...stack.answers.map((a, i): [string, string] => [`answer ${i} body`, a.text]),
    ...stack.answers.map((a, i): [string, string] => [`answer ${i} headers`, JSON.stringify(a.headers)]),
    ...stack.events.map((e, i): [string, string] => [
      `event ${i} ${e.event} on ${e.node}`,
      inspect(e.payload, { depth: null, breakLength: Infinity }) + JSON.stringify(e.payload),
    ]),
    ...stack.lines.map((l, i): [string, string] => [`log line ${i}`, l]),
  ];
  const found: string[] = [];
  for (const secret of secrets) {
    for (const form of formsOf(secret)) {
      for (const [where, text] of sources) if (text.includes(form)) found.push(`${where}: ${form}`);
    }
  }
  return found;
}

beforeAll(async () => {
  stack = await startSecurityStack({ nodes: 2, record: true });
  owner = await stack.token("carol");
  member = await stack.token("mike");
  viewer = await stack.token("vera");
  admin = await stack.token("root", true);
}, 30_000);

afterAll(async () => {
  await stack?.stop();
});

describe("secret values during the reference example and env changes, across two nodes", () => {
  it("runs the reference example over REST with php-fpm's generated PHP_ROOT_PASSWORD", async () => {
    const ns = await ok(owner, "POST", "/api/v1/k8s/namespaces", { name: "shop" });
    ids.ns = String(ns.id);
    await ok(owner, "POST", `/api/v1/k8s/namespaces/${ids.ns}/members`, { userID: "mike", role: "member" });
    await ok(owner, "POST", `/api/v1/k8s/namespaces/${ids.ns}/members`, { userID: "vera", role: "viewer" });
    await ok(owner, "POST", "/api/v1/k8s/volumes", {
      namespace: ids.ns,
      name: "my-app-nginx-php-data",
      type: "persistentVolumeClaim",
      mountPath: "/var/www/html",
    });
    const php = await ok(owner, "GET", "/api/v1/k8s/images/resolve/php-8-1-0-fpm");
    const nginx = await ok(owner, "GET", "/api/v1/k8s/images/resolve/nginx-1-27");
    const claim = [
      {
        name: "data",
        type: "persistentVolumeClaim",
        mountPath: "/var/www/html",
        persistentVolumeClaim: { claimName: "my-app-nginx-php-data" },
      },
    ];
    ids.php = String(
      (
        await ok(owner, "POST", "/api/v1/k8s/deployments", {
          name: "my-app-php",
          namespace: ids.ns,
          image: php.id,
          volumes: claim,
        })
      ).id,
    );
    ids.nginx = String(
      (
        await ok(owner, "POST", "/api/v1/k8s/deployments", {
          name: "my-app-nginx",
          namespace: ids.ns,
          image: nginx.id,
          vHosts: ["my-app.nginx.example.com"],
          volumes: claim,
          configMap: { name: "nginx-config", data: { "default.conf": nginxDefaultConf("my-app-php", "shop") } },
        })
      ).id,
    );
    for (const id of [ids.php, ids.nginx]) {
      await waitUntil(
        async () => (await rest(owner, "GET", `/api/v1/k8s/deployments/${id}/status`)).body.phase === "Available",
        10_000,
        `deployment ${id} Available`,
      );
    }
    const generated = await storedValue(ids.php, "PHP_ROOT_PASSWORD");
    expect(generated.length).toBeGreaterThanOrEqual(16);
    secrets.add(generated);
  });

  it("creates a secret with a known value, updates it, updates a plain one, and generates another", async () => {
    const created = await ok(owner, "POST", "/api/v1/k8s/envs", {
      namespace: ids.ns,
      deployment: ids.php,
      key: "DB_PASSWORD",
      type: "secret",
      value: KNOWN_1,
    });
    secrets.add(KNOWN_1);
    expect(created.value).toBe(SECRET_MASK);
    ids.dbPassword = String(created.id);
    const updated = await ok(member, "PATCH", `/api/v1/k8s/envs/${ids.dbPassword}`, { value: KNOWN_2 });
    secrets.add(KNOWN_2);
    expect(updated.value).toBe(SECRET_MASK);
    expect(await storedValue(ids.php, "DB_PASSWORD")).toBe(KNOWN_2);

    const plain = await ok(owner, "POST", "/api/v1/k8s/envs", {
      namespace: ids.ns,
      deployment: ids.php,
      key: "APP_MODE",
      type: "plain",
      value: "development",
    });
    const plainUpdated = await ok(owner, "PUT", `/api/v1/k8s/envs/${String(plain.id)}`, { value: "production" });
    expect(plainUpdated.value).toBe("production");

    const generated = await ok(owner, "POST", "/api/v1/k8s/envs", {
      namespace: ids.ns,
      deployment: ids.nginx,
      key: "SESSION_KEY",
      type: "secret",
    });
    expect(generated.value).toBe(SECRET_MASK);
    secrets.add(await storedValue(ids.nginx, "SESSION_KEY"));
    // A secret turned plain needs a new value; the old one is never shown.
    const refused = await rest(owner, "PATCH", `/api/v1/k8s/envs/${ids.dbPassword}`, { type: "plain" });
    expect(refused).toMatchObject({ status: 422, body: { type: "VALIDATION_ERROR" } });
    // A change refused for its key (taken) does not echo the value it carried.
    const taken = await rest(owner, "PATCH", `/api/v1/k8s/envs/${ids.dbPassword}`, { key: "APP_MODE", value: KNOWN_1 });
    expect(taken.status).toBe(409);
    // The cluster has the values (so the search below looks for something that exists).
    const secret = stack.sandbox.store.get("secrets", "shop", "my-app-php-env") as { data?: Record<string, string> };
    expect(Buffer.from(secret.data?.DB_PASSWORD ?? "", "base64").toString()).toBe(KNOWN_2);
  });

  it("answers every read of every role with masked values; no route reveals a value, to owners or admins", async () => {
    const published = new Set(Object.keys((await rest(owner, "GET", "/api/openapi.json")).body.paths as object));
    for (const token of [owner, member, viewer, admin]) {
      const paths = [
        "/api/v1/k8s/envs?pageSize=100",
        "/api/v1/k8s/envs?fields=value&fields=key&pageSize=100",
        `/api/v1/k8s/envs/${ids.dbPassword}`,
        `/api/v1/k8s/envs/${ids.dbPassword}?fields=value`,
        `/api/v1/k8s/envs/resolve/${ids.php}/DB_PASSWORD`,
        `/api/v1/k8s/envs/resolve/${ids.php}/PHP_ROOT_PASSWORD`,
        `/api/v1/k8s/envs/pack/${ids.php}`,
        `/api/v1/k8s/envs/pack/${ids.nginx}`,
        `/api/v1/k8s/deployments/${ids.php}`,
        `/api/v1/k8s/deployments/${ids.php}/generate`,
        `/api/v1/k8s/deployments/${ids.php}/status`,
        `/api/v1/k8s/deployments/${ids.php}/logs`,
        `/api/v1/k8s/deployments/${ids.php}/events`,
        "/api/v1/k8s/deployments",
        `/api/v1/k8s/namespaces/${ids.ns}`,
        `/api/v1/k8s/deployments/${ids.php}?fields=revisions&fields=name`,
        "/api/v1/k8s/deployments?fields=revisions.spec.env&fields=id",
        ...["history", "state"]
          .filter((r) => published.has(`/api/v1/k8s/deployments/{id}/${r}`))
          .map((r) => `/api/v1/k8s/deployments/${ids.php}/${r}`),
      ];
      for (const path of paths) await ok(token, "GET", path);
      const secretEnv = await ok(token, "GET", `/api/v1/k8s/envs/resolve/${ids.php}/DB_PASSWORD`);
      expect(secretEnv.value).toBe(SECRET_MASK);
    }
    await ok(owner, "POST", `/api/v1/k8s/envs/patch/${ids.php}`);
    await ok(owner, "POST", `/api/v1/k8s/envs/repatch/${ids.ns}`);
    await ok(owner, "POST", `/api/v1/k8s/deployments/${ids.php}/restart`);
    const routes = (await rest(owner, "GET", "/api/openapi.json")).body.paths as Record<string, unknown>;
    expect(Object.keys(routes).filter((p) => /reveal|secret/i.test(p))).toEqual([]);
  });

  it("takes it all down again", async () => {
    await ok(owner, "DELETE", `/api/v1/k8s/envs/${ids.dbPassword}`);
    for (const id of [ids.nginx, ids.php]) await ok(owner, "DELETE", `/api/v1/k8s/deployments/${id}`);
    await ok(owner, "DELETE", `/api/v1/k8s/namespaces/${ids.ns}`);
    await waitUntil(
      () => stack.events.some((e) => e.event === "k8s.namespaces.removed" && e.node === "gateway"),
      10_000,
      "the namespace removed",
    );
  });

  it("shows no secret value (nor its base64 form) in any answer, header, event or log line", () => {
    // The capture saw what it should: both nodes' events, debug lines of both brokers, the plain value in answers.
    expect(secrets.size).toBe(4);
    const seen = (node: string, event: string) => stack.events.some((e) => e.node === node && e.event === event);
    for (const node of ["gateway", "services"]) {
      expect({ node, created: seen(node, "k8s.envs.created"), updated: seen(node, "k8s.envs.updated") }).toEqual({
        node,
        created: true,
        updated: true,
      });
    }
    expect(stack.events.some((e) => e.event.startsWith("kube.secrets."))).toBe(true);
    expect(stack.lines.some((l) => l.startsWith("gateway debug"))).toBe(true);
    expect(stack.lines.some((l) => l.startsWith("services debug"))).toBe(true);
    // The audit line of the secret's update was written (and is searched below).
    expect(stack.lines.some((l) => l.includes("[audit]") && l.includes(`'v1.k8s.envs.update'`))).toBe(true);
    expect(stack.answers.some((a) => a.text.includes("production"))).toBe(true);
    const found = leaks();
    process.stdout.write(
      `secrets: ${secrets.size} values × 4 forms searched in ${stack.answers.length} answers, ${stack.events.length} events, ` +
        `${stack.lines.length} log lines: ${found.length} seen\n`,
    );
    expect(found).toEqual([]);
  });
});
