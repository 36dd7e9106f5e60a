import { afterAll, beforeAll, beforeEach, describe, expect, it } from "@jest/globals";
import type { Service, ServiceBroker } from "moleculer";
import { copyFile, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { ImageEntity } from "../../../lib/entities.ts";
import type { LoadImagesResult } from "../../../services/images.service.ts";
import { as, asAdmin, createRecordsBroker, IMAGES_DIR } from "../../helpers/records.ts";

const user = as("alice");
const admin = asAdmin();

/** The reference document's image, as written there. */
const REFERENCE_PHP = {
  name: "php-8-1-0-fpm",
  namespace: "library",
  tag: "8.1.0-fpm",
  digest: "sha256:001281a0eb6140b0e5096664d785abd6e6d2921316d002c1d912867725076299",
  image: "php:8.1.0-fpm",
  registry: "docker.io",
  repository: "library/php",
  description: "php is a widely used, open-source php management system (php).",
  imagePullPolicy: "IfNotPresent",
  imagePullSecrets: [],
  ports: [{ name: "php", port: 9000, protocol: "TCP" }],
  env: [{ key: "PHP_ROOT_PASSWORD", type: "secret" }],
  volumes: [{ name: "php-data", type: "persistentVolumeClaim", mountPath: "/var/www/html" }],
  resources: { limits: { cpu: 500, memory: 500 }, requests: { cpu: 100, memory: 20 } },
};

function imageFields(e: ImageEntity): Record<string, unknown> {
  const { id: _id, createdAt: _c, updatedAt: _u, ...rest } = e;
  return rest;
}

describe("v1.k8s.images with the repository catalog", () => {
  let broker: ServiceBroker;
  beforeAll(async () => {
    broker = await createRecordsBroker({ services: ["images"] });
  });
  afterAll(async () => {
    await broker.stop();
  });

  it("loads every catalog file on start, and a second load writes nothing", async () => {
    const files = (await readdir(IMAGES_DIR)).filter((f) => f.endsWith(".json"));
    expect(files.length).toBeGreaterThanOrEqual(7);
    await expect(broker.call("v1.k8s.images.count", {}, user)).resolves.toBe(files.length);
    const again = await broker.call<LoadImagesResult, object>("v1.k8s.images.loadImages", {}, admin);
    expect(again).toEqual({ created: [], updated: [], unchanged: expect.any(Array), failed: [], kept: [] });
    expect(again.unchanged).toHaveLength(files.length);
  });

  it("holds exactly the reference document's php-8-1-0-fpm image", async () => {
    const php = await broker.call<ImageEntity, object>("v1.k8s.images.resolveName", { name: "php-8-1-0-fpm" }, user);
    expect(imageFields(php)).toEqual(REFERENCE_PHP);
    await expect(broker.call("v1.k8s.images.get", { id: php.id }, user)).resolves.toEqual(php);
    await expect(broker.call("v1.k8s.images.getImage", { name: "php-8-1-0-fpm" }, user)).resolves.toEqual(php);
  });

  it.each(["nginx", "node", "python", "redis", "postgres", "mariadb"])("has a %s image", async (kind) => {
    const found = await broker.call<ImageEntity[], object>(
      "v1.k8s.images.find",
      { query: { repository: `library/${kind}` } },
      user,
    );
    expect(found).toHaveLength(1);
    expect(found[0]?.image).toMatch(new RegExp(`^${kind}:`));
  });

  it("gives nginx a config mount at /etc/nginx/conf.d", async () => {
    await expect(broker.call("v1.k8s.images.resolveName", { name: "nginx-1-27" }, user)).resolves.toMatchObject({
      config: { mountPath: "/etc/nginx/conf.d" },
      ports: [{ port: 80 }],
    });
  });
});

describe("v1.k8s.images.loadImages", () => {
  let dir: string;
  let broker: ServiceBroker;
  const errors: string[] = [];
  const events: string[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "moleculer-k8s-images-"));
    await copyFile(path.join(IMAGES_DIR, "php-8-1-0-fpm.json"), path.join(dir, "php.json"));
    await copyFile(path.join(IMAGES_DIR, "redis-7-4.json"), path.join(dir, "redis.json"));
    const bad = { ...REFERENCE_PHP, name: "bad-port", ports: [{ name: "php", port: "9000", protocol: "TCP" }] };
    await writeFile(path.join(dir, "bad-port.json"), JSON.stringify(bad));
    await writeFile(path.join(dir, "broken.json"), "{ not json");
    await writeFile(path.join(dir, "extra.json"), JSON.stringify({ ...REFERENCE_PHP, name: "extra", color: "red" }));
    await writeFile(path.join(dir, "notes.txt"), "not an image");

    broker = await createRecordsBroker({ services: ["images"], imagesDir: dir, noStart: true });
    broker.createService({
      name: "image-events",
      events: {
        "k8s.images.*"(ctx) {
          events.push(`${ctx.eventName ?? ""} ${(ctx.params as ImageEntity).name}`);
        },
      },
    });
    const svc = broker.getLocalService({ name: "k8s.images", version: 1 }) as Service;
    svc.logger.error = (...args: unknown[]) => {
      errors.push(args.map(String).join(" "));
    };
    await broker.start();
  });
  afterAll(async () => {
    await broker.stop();
    await rm(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    events.length = 0;
  });

  it("loads the good files and logs each bad one with its file and field", async () => {
    const names = (await broker.call<ImageEntity[], object>("v1.k8s.images.find", { sort: "name" }, user)).map(
      (i) => i.name,
    );
    expect(names).toEqual(["php-8-1-0-fpm", "redis-7-4"]);
    expect(errors).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/'bad-port\.json'.*ports\[0\]\.port/),
        expect.stringMatching(/'broken\.json'.*not valid JSON/),
        expect.stringMatching(/'extra\.json'.*color/),
      ]),
    );
    expect(errors.join("\n")).not.toMatch(/php\.json|redis\.json|notes\.txt/);
  });

  it("updates a changed file's record, removes dropped optional fields, and writes nothing for unchanged ones", async () => {
    const before = await broker.call<ImageEntity, object>("v1.k8s.images.getImage", { name: "redis-7-4" }, user);
    const php = await broker.call<ImageEntity, object>("v1.k8s.images.getImage", { name: "php-8-1-0-fpm" }, user);
    const file = path.join(dir, "redis.json");
    const original = await readFile(file, "utf8");
    const changed: Record<string, unknown> = {
      ...(JSON.parse(original) as Record<string, unknown>),
      tag: "7.4.1",
      image: "redis:7.4.1",
    };
    delete changed.description;
    // Reordered keys with the same content must not count as a change for php.
    const phpFile = path.join(dir, "php.json");
    const phpJson = JSON.parse(await readFile(phpFile, "utf8")) as Record<string, unknown>;
    await writeFile(phpFile, JSON.stringify(Object.fromEntries(Object.entries(phpJson).reverse())));
    await writeFile(file, JSON.stringify(changed));
    await new Promise((r) => setTimeout(r, 5));

    const result = await broker.call<LoadImagesResult, object>("v1.k8s.images.loadImages", {}, admin);
    expect(result.updated).toEqual(["redis-7-4"]);
    expect(result.unchanged).toEqual(["php-8-1-0-fpm"]);
    expect(result.created).toEqual([]);
    expect(result.failed.map((f) => f.file).sort()).toEqual(["bad-port.json", "broken.json", "extra.json"]);

    const after = await broker.call<ImageEntity, object>("v1.k8s.images.getImage", { name: "redis-7-4" }, user);
    expect(after).toMatchObject({ id: before.id, tag: "7.4.1", image: "redis:7.4.1", createdAt: before.createdAt });
    expect(after).not.toHaveProperty("description");
    expect(after.updatedAt > before.updatedAt).toBe(true);
    await expect(broker.call("v1.k8s.images.getImage", { name: "php-8-1-0-fpm" }, user)).resolves.toEqual(php);
    await new Promise((r) => setTimeout(r, 10));
    expect(events).toEqual(["k8s.images.updated redis-7-4"]);
  });

  it("creates an image for a new file", async () => {
    await copyFile(path.join(IMAGES_DIR, "nginx-1-27.json"), path.join(dir, "nginx.json"));
    const result = await broker.call<LoadImagesResult, object>("v1.k8s.images.loadImages", {}, admin);
    expect(result.created).toEqual(["nginx-1-27"]);
    await new Promise((r) => setTimeout(r, 10));
    expect(events).toEqual(["k8s.images.created nginx-1-27"]);
  });
});

describe("v1.k8s.images access and input", () => {
  let broker: ServiceBroker;
  let imagesDir: string;
  beforeAll(async () => {
    imagesDir = await mkdtemp(path.join(tmpdir(), "moleculer-k8s-empty-images-"));
    broker = await createRecordsBroker({ services: ["images"], imagesDir });
  });
  afterAll(async () => {
    await broker.stop();
    await rm(imagesDir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    await broker.call("v1.k8s.images.clean");
  });

  it("lets admins and internal calls create and update, answers 403 to other users, and keeps an image no deployments service can vouch for", async () => {
    const create = (opts?: { meta: object }) =>
      broker.call<ImageEntity, object>("v1.k8s.images.create", { ...REFERENCE_PHP, name: "custom" }, opts);
    await expect(create(user)).rejects.toMatchObject({ code: 403, type: "FORBIDDEN" });
    const img = await create(admin);
    expect(imageFields(img)).toEqual({ ...REFERENCE_PHP, name: "custom" });
    await expect(broker.call("v1.k8s.images.update", { id: img.id, tag: "x" }, user)).rejects.toMatchObject({
      code: 403,
    });
    await expect(
      broker.call("v1.k8s.images.update", { id: img.id, tag: "8.1.1-fpm", description: "newer" }, admin),
    ).resolves.toMatchObject({ tag: "8.1.1-fpm", description: "newer", name: "custom" });
    await expect(broker.call("v1.k8s.images.update", { id: img.id, tag: "8.1.2-fpm" })).resolves.toMatchObject({
      tag: "8.1.2-fpm",
    });
    for (const action of ["remove", "clean", "loadImages"]) {
      const params = action === "remove" ? { id: img.id } : {};
      await expect(broker.call(`v1.k8s.images.${action}`, params, user)).rejects.toMatchObject({ code: 403 });
    }
    // No deployments service runs here to say whether a deployment runs the image: refused, retryable (the admin's
    // removal is test/integration/deployments/image-in-use.test.ts).
    await expect(broker.call("v1.k8s.images.remove", { id: img.id }, admin)).rejects.toMatchObject({
      type: "SERVICE_NOT_AVAILABLE",
      retryable: true,
      data: { action: "v1.k8s.deployments.find" },
    });
    await expect(broker.call("v1.k8s.images.get", { id: img.id }, user)).resolves.toMatchObject({ id: img.id });
  });

  it("lets any signed-in user read", async () => {
    const img = await broker.call<ImageEntity, object>("v1.k8s.images.create", { ...REFERENCE_PHP });
    for (const [action, params] of [
      ["list", {}],
      ["find", {}],
      ["count", {}],
      ["get", { id: img.id }],
      ["getImage", { name: img.name }],
      ["resolveName", { name: img.name }],
    ] as const) {
      await expect(broker.call(`v1.k8s.images.${action}`, params, as("anyone"))).resolves.toBeDefined();
    }
    await expect(broker.call("v1.k8s.images.getImage", { name: "missing" }, user)).rejects.toMatchObject({
      code: 404,
      type: "NOT_FOUND",
    });
  });

  it("refuses a second image with the same name with 409", async () => {
    await broker.call("v1.k8s.images.create", { ...REFERENCE_PHP });
    await expect(broker.call("v1.k8s.images.create", { ...REFERENCE_PHP })).rejects.toMatchObject({
      code: 409,
      type: "ALREADY_EXISTS",
      data: { field: "name" },
    });
  });

  it.each([
    ["empty params", {}, "name"],
    ["a missing image", { ...REFERENCE_PHP, image: undefined }, "image"],
    ["an upper-case name", { ...REFERENCE_PHP, name: "PHP" }, "name"],
    ["a 64-character name", { ...REFERENCE_PHP, name: "p".repeat(64) }, "name"],
    ["a string port", { ...REFERENCE_PHP, ports: [{ name: "php", port: "9000" }] }, "ports[0].port"],
    ["a port out of range", { ...REFERENCE_PHP, ports: [{ name: "php", port: 70000 }] }, "ports[0].port"],
    ["an unknown env type", { ...REFERENCE_PHP, env: [{ key: "A", type: "file" }] }, "env[0].type"],
    [
      "a relative mount path",
      { ...REFERENCE_PHP, volumes: [{ name: "v", type: "emptyDir", mountPath: "data" }] },
      "volumes[0].mountPath",
    ],
    [
      "a fractional cpu",
      { ...REFERENCE_PHP, resources: { limits: { cpu: 0.5, memory: 1 }, requests: { cpu: 1, memory: 1 } } },
      "resources.limits.cpu",
    ],
    [
      "a limit of 0 (no limit at all)",
      { ...REFERENCE_PHP, resources: { limits: { cpu: 0, memory: 64 }, requests: { cpu: 0, memory: 16 } } },
      "resources.limits.cpu",
    ],
    [
      "requests over the limits",
      { ...REFERENCE_PHP, resources: { limits: { cpu: 100, memory: 64 }, requests: { cpu: 10, memory: 128 } } },
      "resources.requests.memory",
    ],
    ["a bad digest", { ...REFERENCE_PHP, digest: "sha256:abc" }, "digest"],
    ["an image reference with a space", { ...REFERENCE_PHP, image: "php 8.1" }, "image"],
    ["an upper-case image reference", { ...REFERENCE_PHP, image: "PHP:8.1" }, "image"],
    ["a bad pull policy", { ...REFERENCE_PHP, imagePullPolicy: "Sometimes" }, "imagePullPolicy"],
    ["an unknown field inside ports", { ...REFERENCE_PHP, ports: [{ name: "php", port: 9000, host: 1 }] }, "ports[0]"],
  ])("refuses %s with 422 naming the field, storing nothing", async (_why, params, field) => {
    await expect(broker.call("v1.k8s.images.create", params, admin)).rejects.toMatchObject({
      code: 422,
      type: "VALIDATION_ERROR",
      data: expect.arrayContaining([expect.objectContaining({ field })]),
    });
    await expect(broker.call("v1.k8s.images.count")).resolves.toBe(0);
  });

  it("refuses unknown top-level fields and updates of unknown fields with 422", async () => {
    await expect(broker.call("v1.k8s.images.create", { ...REFERENCE_PHP, color: "red" }, admin)).rejects.toMatchObject({
      code: 422,
      data: [expect.objectContaining({ type: "objectStrict", actual: "color" })],
    });
    const img = await broker.call<ImageEntity, object>("v1.k8s.images.create", { ...REFERENCE_PHP });
    await expect(broker.call("v1.k8s.images.update", { id: img.id, color: "red" }, admin)).rejects.toMatchObject({
      code: 422,
    });
    await expect(broker.call("v1.k8s.images.update", { id: img.id, name: "Bad" }, admin)).rejects.toMatchObject({
      code: 422,
      data: [expect.objectContaining({ field: "name" })],
    });
  });
});
