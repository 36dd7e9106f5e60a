/**
 * `DELETE /api/v1/k8s/images/:id` (admin) while deployments run the image: refused with 409 IN_USE naming them, the
 * image and the deployments untouched; once they are gone the image goes. `PATCH /api/v1/k8s/images/:id` that would
 * leave deployments of the image unable to run (over their namespace's quota): 422 naming the field and them. Without
 * a deployments service to ask, a retryable 503. The whole suite against the sandbox, the gateway on its own broker
 * over NATS.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import type { DeploymentEntity, ImageEntity, NamespaceEntity } from "../../../lib/entities.ts";
import { startStack, waitUntil, type Stack } from "./stack.ts";

let stack: Stack;
let admin: string;
let alice: string;
let ns: NamespaceEntity;

/** An image of the catalog's shape, under a name of its own. */
function image(name: string): Record<string, unknown> {
  return {
    name,
    namespace: "library",
    tag: "1.27",
    digest: `sha256:${"1".repeat(64)}`,
    image: "nginx:1.27",
    registry: "docker.io",
    repository: "library/nginx",
    ports: [{ name: "http", port: 80 }],
    resources: { limits: { cpu: 100, memory: 64 }, requests: { cpu: 10, memory: 16 } },
  };
}

async function createImage(name: string): Promise<ImageEntity> {
  const res = await stack.rest("POST", "/api/v1/k8s/images", admin, image(name));
  expect(res.status).toBe(200);
  return res.body as unknown as ImageEntity;
}

async function createDeployment(
  name: string,
  imageId: string,
  replicas: number,
  extra: Record<string, unknown> = {},
): Promise<DeploymentEntity> {
  const res = await stack.rest("POST", "/api/v1/k8s/deployments", alice, {
    name,
    namespace: ns.id,
    image: imageId,
    replicas,
    ...extra,
  });
  expect(res.status).toBe(200);
  return res.body as unknown as DeploymentEntity;
}

beforeAll(async () => {
  stack = await startStack({ gateway: true, settings: { deployments: { resyncIntervalSeconds: 0 } } });
  admin = await stack.token("root", true);
  alice = await stack.token("alice");
  ns = await stack.services.call("v1.k8s.namespaces.create", { name: "gallery", owner: "alice" });
  await waitUntil(async () => (await stack.kubectl("get", "ns", "gallery")).code === 0);
}, 30_000);

afterAll(async () => {
  await stack?.stop();
});

describe("PATCH /api/v1/k8s/images/:id that would leave deployments of the image unable to run", () => {
  it("answers 422 naming the field and the deployments over their namespace's quota, and changes nothing", async () => {
    const tight = await stack.services.call<NamespaceEntity, object>("v1.k8s.namespaces.create", {
      name: "tight",
      owner: "alice",
      quota: { cpu: 1000 },
    });
    await waitUntil(async () => (await stack.kubectl("get", "resourcequota", "-n", "tight")).stdout.includes("quota"));
    const sized = await createImage("sized");
    const create = (name: string, replicas: number, extra: Record<string, unknown> = {}) =>
      createDeployment(name, sized.id, replicas, { namespace: tight.id, ...extra });
    const api = await create("api", 3);
    // Its own resources: the image's do not count for it.
    await create("own", 3, { resources: { limits: { cpu: 300 } } });
    const before = (await stack.kubectl("get", "deployment", "api", "-n", "tight", "-o", "json")).stdout;

    // 3 pods of 400 millicores: 1,200 of the quota's 1,000.
    const refused = await stack.rest("PATCH", `/api/v1/k8s/images/${sized.id}`, admin, {
      resources: { limits: { cpu: 400, memory: 64 }, requests: { cpu: 10, memory: 16 } },
    });
    expect(refused).toEqual({
      status: 422,
      body: {
        name: "ValidationError",
        message:
          "The 'resources' field would leave deployment tight/api unable to run: The 'replicas' field asks for 3 pods of 400 millicores cpu each, more than the namespace's cpu quota of 1000 millicores.",
        code: 422,
        type: "VALIDATION_ERROR",
        data: [
          {
            type: "breaksDeployment",
            field: "resources",
            message:
              "The 'resources' field would leave deployment tight/api unable to run: The 'replicas' field asks for 3 pods of 400 millicores cpu each, more than the namespace's cpu quota of 1000 millicores.",
            actual: "tight/api",
          },
        ],
      },
    });
    // One pod over the quota names the image's own field.
    const alone = await stack.rest("PATCH", `/api/v1/k8s/images/${sized.id}`, admin, {
      resources: { limits: { cpu: 2000, memory: 64 }, requests: { cpu: 10, memory: 16 } },
    });
    expect(alone).toMatchObject({
      status: 422,
      body: { data: [{ field: "resources.limits.cpu", actual: "tight/api" }] },
    });
    const image = await stack.rest("GET", `/api/v1/k8s/images/${sized.id}`, admin);
    expect(image.body).toMatchObject({ resources: { limits: { cpu: 100, memory: 64 } } });
    expect((await stack.kubectl("get", "deployment", "api", "-n", "tight", "-o", "json")).stdout).toBe(before);
    const rendered = await stack.rest("GET", `/api/v1/k8s/deployments/${api.id}/generate`, alice);
    expect(JSON.stringify(rendered.body)).toContain('"limits":{"cpu":"100m"');

    // What still fits goes through, and the deployment rolls to it.
    const fits = await stack.rest("PATCH", `/api/v1/k8s/images/${sized.id}`, admin, {
      resources: { limits: { cpu: 300, memory: 64 }, requests: { cpu: 10, memory: 16 } },
    });
    expect(fits).toMatchObject({ status: 200, body: { resources: { limits: { cpu: 300 } } } });
    await waitUntil(async () => {
      const live = await stack.kubectl(
        "get",
        "deployment",
        "api",
        "-n",
        "tight",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].resources.limits.cpu}",
      );
      return live.stdout === "300m";
    });
    // A change the render does not check asks no one.
    const described = await stack.rest("PATCH", `/api/v1/k8s/images/${sized.id}`, admin, { description: "sized" });
    expect(described).toMatchObject({ status: 200, body: { description: "sized" } });
  }, 60_000);
});

describe("DELETE /api/v1/k8s/images/:id while deployments run the image", () => {
  it("answers 409 IN_USE naming them (ten, then how many more), keeps everything, and removes once they are gone", async () => {
    const retiring = await createImage("retiring");
    const web = await createDeployment("web", retiring.id, 1);

    const refused = await stack.rest("DELETE", `/api/v1/k8s/images/${retiring.id}`, admin);
    expect(refused).toEqual({
      status: 409,
      body: {
        name: "MoleculerClientError",
        message: "image 'retiring' is in use by gallery/web",
        code: 409,
        type: "IN_USE",
        data: { id: "retiring", usedBy: ["gallery/web"] },
      },
    });
    expect((await stack.rest("GET", `/api/v1/k8s/images/${retiring.id}`, admin)).status).toBe(200);
    // The deployment still changes as before: its image is still there to render it from.
    const scaled = await stack.rest("POST", `/api/v1/k8s/deployments/${web.id}/scale`, alice, { replicas: 2 });
    expect(scaled).toMatchObject({ status: 200, body: { replicas: 2 } });

    // Twelve deployments: the first ten by name, then how many more.
    const more: DeploymentEntity[] = [];
    for (let i = 0; i < 11; i++) more.push(await createDeployment(`w${String(i).padStart(2, "0")}`, retiring.id, 0));
    const many = await stack.rest("DELETE", `/api/v1/k8s/images/${retiring.id}`, admin);
    expect(many).toMatchObject({ status: 409, body: { type: "IN_USE" } });
    expect((many.body.data as { usedBy: string[] }).usedBy).toEqual([
      ...["00", "01", "02", "03", "04", "05", "06", "07", "08", "09"].map((n) => `gallery/w${n}`),
      "2 more",
    ]);

    // A deployment of another image does not count.
    const other = await createImage("other");
    await createDeployment("bystander", other.id, 0);
    for (const d of [web, ...more]) {
      expect((await stack.rest("DELETE", `/api/v1/k8s/deployments/${d.id}`, alice)).status).toBe(200);
    }
    const removed = await stack.rest("DELETE", `/api/v1/k8s/images/${retiring.id}`, admin);
    expect(removed).toMatchObject({ status: 200, body: { id: retiring.id, name: "retiring" } });
    expect((await stack.rest("GET", `/api/v1/k8s/images/${retiring.id}`, admin)).status).toBe(404);
  }, 60_000);

  it("answers a retryable 503 while no deployments service can say who runs it, and keeps the image", async () => {
    const unused = await createImage("unused");
    const deployments = stack.services.getLocalService({ name: "k8s.deployments", version: 1 });
    await stack.services.destroyService(deployments);
    const refused = await stack.rest("DELETE", `/api/v1/k8s/images/${unused.id}`, admin);
    expect(refused).toMatchObject({
      status: 503,
      body: { type: "SERVICE_UNAVAILABLE", data: { action: "v1.k8s.deployments.find" } },
    });
    expect((await stack.rest("GET", `/api/v1/k8s/images/${unused.id}`, admin)).status).toBe(200);
    // A change of what deployments render from cannot be checked either; another change can.
    const resized = await stack.rest("PATCH", `/api/v1/k8s/images/${unused.id}`, admin, {
      resources: { limits: { cpu: 200, memory: 64 }, requests: { cpu: 10, memory: 16 } },
    });
    expect(resized).toMatchObject({
      status: 503,
      body: { type: "SERVICE_UNAVAILABLE", data: { action: "v1.k8s.deployments.imageChangeProblems" } },
    });
    const described = await stack.rest("PATCH", `/api/v1/k8s/images/${unused.id}`, admin, { description: "unused" });
    expect(described).toMatchObject({ status: 200, body: { description: "unused" } });
    // The services node tells the others that the service left after moleculer's debounce (1 s): let that timer
    // run before the brokers stop.
    await waitUntil(() => !stack.gatewayBroker.registry.actions.isAvailable("v1.k8s.deployments.find"), 5000);
  });
});
