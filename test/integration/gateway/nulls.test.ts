/**
 * `null` in a request body through the gateway: every field refuses it (422 naming the field, "must not be null") and
 * nothing changes, where fastest-validator's default let it through optional fields as if absent and the handlers
 * took it as a value — a secret env turned plain (its value into the ConfigMap), 500s on updates, a namespace domain
 * stored as null. The whole suite against the sandbox, the gateway on its own broker over NATS, checked with kubectl.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import type { DeploymentEntity, ImageEntity, NamespaceEntity } from "../../../lib/entities.ts";
import { startStack, waitUntil, type Stack } from "../deployments/stack.ts";

let stack: Stack;
let alice: string;
let admin: string;
let ns: NamespaceEntity;
let web: DeploymentEntity;
let nginx: ImageEntity;

/** The 422 of one refused null, as the gateway answers it. */
function refusedNull(field: string): { status: number; body: Record<string, unknown> } {
  return {
    status: 422,
    body: expect.objectContaining({
      type: "VALIDATION_ERROR",
      data: [expect.objectContaining({ field, message: `The '${field}' field must not be null.` })],
    }) as Record<string, unknown>,
  };
}

/** The data of a ConfigMap or Secret of the namespace; none when it does not exist (env objects come and go). */
async function data(kind: string, name: string): Promise<Record<string, string>> {
  const got = await stack.kubectl("get", kind, name, "-n", "nulls", "-o", "json");
  return got.code === 0 ? ((JSON.parse(got.stdout) as { data?: Record<string, string> }).data ?? {}) : {};
}

beforeAll(async () => {
  stack = await startStack({ gateway: true, settings: { deployments: { resyncIntervalSeconds: 0 } } });
  alice = await stack.token("alice");
  admin = await stack.token("root", true);
  ns = (await stack.rest("POST", "/api/v1/k8s/namespaces", alice, { name: "nulls" }))
    .body as unknown as NamespaceEntity;
  nginx = (await stack.rest("GET", "/api/v1/k8s/images/resolve/nginx-1-27", alice)).body as unknown as ImageEntity;
  web = (await stack.rest("POST", "/api/v1/k8s/deployments", alice, { name: "web", namespace: ns.id, image: nginx.id }))
    .body as unknown as DeploymentEntity;
  await waitUntil(async () => (await stack.kubectl("get", "deployment", "web", "-n", "nulls")).code === 0);
}, 30_000);

afterAll(async () => {
  await stack?.stop();
});

describe("null in a request body", () => {
  it("cannot turn a secret env value plain: 422 naming type, the value stays in the Secret", async () => {
    const created = await stack.rest("POST", "/api/v1/k8s/envs", alice, {
      namespace: ns.id,
      deployment: web.id,
      key: "API_TOKEN",
      type: "secret",
      value: "letmein",
    });
    expect(created).toMatchObject({ status: 200, body: { type: "secret", value: "********" } });
    const id = String(created.body.id);
    await waitUntil(
      async () => Buffer.from((await data("secret", "web-env")).API_TOKEN ?? "", "base64").toString() === "letmein",
    );

    expect(await stack.rest("PATCH", `/api/v1/k8s/envs/${id}`, alice, { type: null })).toEqual(refusedNull("type"));
    expect(await stack.rest("PATCH", `/api/v1/k8s/envs/${id}`, alice, { value: null })).toEqual(refusedNull("value"));
    expect(await stack.rest("PATCH", `/api/v1/k8s/envs/${id}`, alice, { key: null })).toEqual(refusedNull("key"));
    expect((await stack.rest("GET", `/api/v1/k8s/envs/${id}`, alice)).body).toMatchObject({
      key: "API_TOKEN",
      type: "secret",
      value: "********",
    });
    expect(await data("configmap", "web-env")).not.toHaveProperty("API_TOKEN");
    expect(Buffer.from((await data("secret", "web-env")).API_TOKEN ?? "", "base64").toString()).toBe("letmein");
  });

  it("answers 422, not 500, for null fields of a deployment update or create, and changes nothing", async () => {
    const before = (await stack.rest("GET", `/api/v1/k8s/deployments/${web.id}`, alice)).body;
    for (const field of ["configMap", "vHosts", "volumes", "resources", "replicas", "image"]) {
      expect(await stack.rest("PATCH", `/api/v1/k8s/deployments/${web.id}`, alice, { [field]: null })).toEqual(
        refusedNull(field),
      );
    }
    const create = { name: "other", namespace: ns.id, image: nginx.id };
    expect(await stack.rest("POST", "/api/v1/k8s/deployments", alice, { ...create, resources: null })).toEqual(
      refusedNull("resources"),
    );
    expect((await stack.rest("GET", `/api/v1/k8s/deployments/${web.id}`, alice)).body).toEqual(before);
    expect((await stack.kubectl("get", "deployment", "other", "-n", "nulls")).code).not.toBe(0);
  });

  it("refuses null for a namespace's domain, a volume's mount path and an image's ports", async () => {
    expect(await stack.rest("PATCH", `/api/v1/k8s/namespaces/${ns.id}`, alice, { domain: null })).toEqual(
      refusedNull("domain"),
    );
    expect((await stack.rest("GET", `/api/v1/k8s/namespaces/${ns.id}`, alice)).body.domain).toBe(ns.domain);

    const vol = await stack.rest("POST", "/api/v1/k8s/volumes", alice, {
      namespace: ns.id,
      name: "data",
      mountPath: "/d",
    });
    expect(vol.status).toBe(200);
    expect(await stack.rest("PATCH", `/api/v1/k8s/volumes/${String(vol.body.id)}`, alice, { mountPath: null })).toEqual(
      refusedNull("mountPath"),
    );

    expect(await stack.rest("PATCH", `/api/v1/k8s/images/${nginx.id}`, admin, { ports: null })).toEqual(
      refusedNull("ports"),
    );
    expect((await stack.rest("GET", `/api/v1/k8s/images/${nginx.id}`, admin)).body.ports).toEqual(nginx.ports);
  });
});
