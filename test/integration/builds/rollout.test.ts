/**
 * What a rebuilt image does to its deployments, against a real sandbox through REST (the gateway on its own broker over
 * NATS) and checked with kubectl: a successful build rolls every deployment of the image within seconds (driven by
 * `k8s.images.updated`, no resync: the periodic one is off here) and records why as a revision; deployments of other
 * images get no write; a catalog reload keeps the built tag, digest and image and says so in `kept`; an admin update
 * of the tag rolls the deployments too and ends the build's standing; bad input stays 4xx.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import type { DeploymentEntity, DeploymentHistory, ImageEntity, NamespaceEntity } from "../../../lib/entities.ts";
import type { AuditEntry } from "../../../lib/sandbox/server.ts";
import { buildDigest } from "../../../lib/sandbox/synthetic.ts";
import type { ImageBuild } from "../../../mixins/image-build.mixin.ts";
import type { LoadImagesResult } from "../../../services/images.service.ts";
import { startStack, waitUntil, type Stack } from "../deployments/stack.ts";

const BUILD_NS = "moleculer-k8s-builds";
const REPO = "https://github.com/acme/shop-api.git#refs/heads/main";
const WRITE_VERBS = new Set(["create", "update", "patch", "delete", "deletecollection"]);
const ALICE = { meta: { userID: "alice" } };

let stack: Stack;
let admin: string;
let ns: NamespaceEntity;
let nginx: ImageEntity;
let web: DeploymentEntity;
let cache: DeploymentEntity;

/** The image of the first container of a Deployment in the sandbox, as kubectl prints it. */
async function deployedImage(name: string): Promise<string> {
  const res = await stack.kubectl(
    "get",
    "deploy",
    name,
    "-n",
    ns.name,
    "-o",
    "jsonpath={.spec.template.spec.containers[0].image}",
  );
  if (res.code !== 0) throw new Error(`kubectl get deploy ${name}: ${res.stderr}`);
  return res.stdout;
}

/** Waits (at most 5 s) until the Deployment runs `image` and every pod of it that is not terminating does too. */
async function rolledTo(name: string, recordId: string, image: string): Promise<void> {
  await waitUntil(async () => (await deployedImage(name)) === image, 5_000, `deploy ${name} on ${image}`);
  await waitUntil(
    async () => {
      const pods = await stack.kubectlJson<{
        items: { metadata: { deletionTimestamp?: string }; spec: { containers: { image: string }[] } }[];
      }>("get", "pods", "-n", ns.name, "-l", `moleculer-k8s/id=${recordId}`);
      const live = pods.items.filter((p) => p.metadata.deletionTimestamp === undefined);
      return live.length > 0 && live.every((p) => p.spec.containers[0]?.image === image);
    },
    5_000,
    `pods of ${name} on ${image}`,
  );
}

/** The API writes since audit entry `from` that touched the objects of deployment `name`. */
function writesTo(from: number, name: string): AuditEntry[] {
  const ours = new Set([name, `${name}-service`, `${name}-ingress`, `${name}-env`]);
  return stack.sandbox
    .auditLog()
    .slice(from)
    .filter((e) => WRITE_VERBS.has(e.verb) && e.namespace === ns.name && ours.has(e.name));
}

async function finished(buildId: string): Promise<ImageBuild> {
  return waitUntil(
    async () => {
      const builds = await stack.services.call<ImageBuild[], { id: string }>("v1.k8s.images.builds", { id: nginx.id });
      const b = builds.find((x) => x.id === buildId);
      return b !== undefined && b.status !== "Running" ? b : undefined;
    },
    15_000,
    `build ${buildId} finished`,
  );
}

const history = (id: string) =>
  stack.services.call<DeploymentHistory, { id: string }>("v1.k8s.deployments.history", { id }, ALICE);

beforeAll(async () => {
  stack = await startStack({
    gateway: true,
    sandbox: { jobDurationMs: 150 },
    settings: {
      images: { builder: { recheckSeconds: 0, initialRecheckMs: -1 } },
      // No periodic resync: whatever rolls below is driven by the image events.
      deployments: { resyncIntervalSeconds: 0, allowedDomains: ["example.com"] },
    },
  });
  admin = await stack.token("root", true);
  ns = await stack.services.call("v1.k8s.namespaces.create", { name: "shop", owner: "alice" });
  await waitUntil(async () => (await stack.kubectl("get", "ns", "shop")).code === 0);
  nginx = await stack.services.call("v1.k8s.images.resolveName", { name: "nginx-1-27" });
  const redis = await stack.services.call<ImageEntity, { name: string }>("v1.k8s.images.resolveName", {
    name: "redis-7-4",
  });
  const create = (name: string, image: string) =>
    stack.services.call<DeploymentEntity, Record<string, unknown>>(
      "v1.k8s.deployments.create",
      { name, namespace: ns.id, image, vHosts: [`${name}.example.com`] },
      ALICE,
    );
  web = await create("web", nginx.id);
  cache = await create("cache", redis.id);
  await rolledTo("web", web.id, "docker.io/nginx:1.27");
  await rolledTo("cache", cache.id, await deployedImage("cache"));
}, 30_000);

afterAll(async () => {
  await stack?.stop();
});

describe("a rebuilt image and its deployments", () => {
  let build: ImageBuild;
  let builtImage: string;

  it("rolls the deployments of the image to the build within seconds, records why, and writes nothing for other images", async () => {
    const cacheImage = await deployedImage("cache");
    const from = stack.sandbox.auditLog().length;
    const res = await stack.rest("POST", `/api/v1/k8s/images/${nginx.id}/build`, admin, { git: REPO, tag: "2.0.0" });
    expect(res.status).toBe(200);
    build = await finished((res.body as unknown as ImageBuild).id);
    const job = await stack.kubectlJson<{ metadata: { uid: string } }>("get", "job", build.job, "-n", BUILD_NS);
    const digest = buildDigest("docker.io/library/nginx:2.0.0", job.metadata.uid);
    expect(build).toMatchObject({ status: "Succeeded", tag: "2.0.0", digest });
    builtImage = `docker.io/library/nginx:2.0.0@${digest}`;
    // The image is pinned by the pushed digest.
    const image = await stack.services.call<ImageEntity, { id: string }>("v1.k8s.images.get", { id: nginx.id });
    expect(image).toMatchObject({ tag: "2.0.0", digest, image: builtImage });

    const started = Date.now();
    await rolledTo("web", web.id, builtImage);
    expect(Date.now() - started).toBeLessThan(5_000);

    // The history says why the pods rolled: the image reference changed (a revision the Deployment carries).
    const h = await history(web.id);
    expect(h.revision).toBe(2);
    expect(h.items[0]).toMatchObject({ revision: 2, changes: ["imageReference"], imageReference: builtImage });
    expect(h.items[0]?.who).toBeUndefined();
    expect(h.items[1]).toMatchObject({ revision: 1, changes: ["created"], imageReference: "docker.io/nginx:1.27" });
    const annotations = await stack.kubectl(
      "get",
      "deploy",
      "web",
      "-n",
      ns.name,
      "-o",
      "jsonpath={.metadata.annotations.moleculer-k8s/revision}",
    );
    expect(annotations.stdout).toBe("2");

    // The deployment of the other image: no write at all, same image, same revision.
    await new Promise((r) => setTimeout(r, 300));
    expect(writesTo(from, "cache")).toEqual([]);
    expect(writesTo(from, "web").length).toBeGreaterThan(0);
    expect(await deployedImage("cache")).toBe(cacheImage);
    expect((await history(cache.id)).revision).toBe(1);
  });

  it("keeps the built tag, digest and image on a catalog reload and says so; other fields still follow the file", async () => {
    // A field the build does not own, changed by an admin: the reload puts the file's value back.
    const patched = await stack.rest("PATCH", `/api/v1/k8s/images/${nginx.id}`, admin, { description: "changed" });
    expect(patched.status).toBe(200);
    const from = stack.sandbox.auditLog().length;
    const res = await stack.rest("POST", "/api/v1/k8s/images/load", admin, {});
    expect(res.status).toBe(200);
    const result = res.body as unknown as LoadImagesResult;
    expect(result.kept).toEqual([
      {
        name: "nginx-1-27",
        file: "nginx-1-27.json",
        fields: ["tag", "digest", "image"],
        build: build.id,
        reason: expect.stringContaining(builtImage),
      },
    ]);
    expect(result.updated).toEqual(["nginx-1-27"]);
    expect(result.failed).toEqual([]);
    const image = await stack.services.call<ImageEntity, { id: string }>("v1.k8s.images.get", { id: nginx.id });
    expect(image).toMatchObject({
      tag: "2.0.0",
      digest: build.digest,
      image: builtImage,
      description: nginx.description,
    });

    // A second reload: nothing to write, the build still stands.
    const again = (await stack.rest("POST", "/api/v1/k8s/images/load", admin, {})).body as unknown as LoadImagesResult;
    expect(again.unchanged).toContain("nginx-1-27");
    expect(again.kept.map((k) => k.name)).toEqual(["nginx-1-27"]);
    // The load a restart runs (started(), or the database connecting late) is the same method: the build stands.
    const images = stack.services.getLocalService("v1.k8s.images") as unknown as {
      loadCatalog(ctx: null): Promise<LoadImagesResult>;
    };
    expect((await images.loadCatalog(null)).kept.map((k) => k.name)).toEqual(["nginx-1-27"]);
    expect(await stack.services.call("v1.k8s.images.get", { id: nginx.id })).toMatchObject({ image: builtImage });

    // The description changed the image but not what the deployments render: no write, no revision.
    await new Promise((r) => setTimeout(r, 300));
    expect(writesTo(from, "web")).toEqual([]);
    expect(await deployedImage("web")).toBe(builtImage);
    expect((await history(web.id)).revision).toBe(2);
  });

  it("rolls the deployments on an admin update of the tag; the file then applies again at a reload (and rolls them back)", async () => {
    const res = await stack.rest("PATCH", `/api/v1/k8s/images/${nginx.id}`, admin, { tag: "2.0.1" });
    expect(res.status).toBe(200);
    // The tag `image` names follows; the old build's digest is dropped from it (it belonged to 2.0.0).
    expect(res.body).toMatchObject({ tag: "2.0.1", image: "docker.io/library/nginx:2.0.1" });
    await rolledTo("web", web.id, "docker.io/library/nginx:2.0.1");
    expect((await history(web.id)).items[0]).toMatchObject({
      revision: 3,
      changes: ["imageReference"],
      imageReference: "docker.io/library/nginx:2.0.1",
    });

    const from = stack.sandbox.auditLog().length;
    const load = (await stack.rest("POST", "/api/v1/k8s/images/load", admin, {})).body as unknown as LoadImagesResult;
    expect(load.kept).toEqual([]);
    expect(load.updated).toEqual(["nginx-1-27"]);
    const image = await stack.services.call<ImageEntity, { id: string }>("v1.k8s.images.get", { id: nginx.id });
    expect(image).toMatchObject({ tag: nginx.tag, digest: nginx.digest, image: nginx.image });
    await rolledTo("web", web.id, "docker.io/nginx:1.27");
    expect((await history(web.id)).items[0]).toMatchObject({ revision: 4, changes: ["imageReference"] });
    await new Promise((r) => setTimeout(r, 300));
    expect(writesTo(from, "cache")).toEqual([]);
  });

  it("answers bad input with 4xx naming the field, and writes nothing", async () => {
    const from = stack.sandbox.auditLog().length;
    const cases: [string, string, Record<string, unknown>, number, string | undefined][] = [
      ["PATCH", `/api/v1/k8s/images/${nginx.id}`, { tag: "not a tag" }, 422, "tag"],
      ["PATCH", `/api/v1/k8s/images/${nginx.id}`, { digest: "sha256:zz" }, 422, "digest"],
      ["PATCH", `/api/v1/k8s/images/${nginx.id}`, { kept: [] }, 422, "kept"],
      ["POST", "/api/v1/k8s/images/load", { force: true }, 422, "force"],
      ["POST", `/api/v1/k8s/images/${nginx.id}/build`, { git: REPO, tag: "-bad" }, 422, "tag"],
      ["PATCH", "/api/v1/k8s/images/no-such-image", { tag: "3" }, 404, undefined],
    ];
    for (const [method, url, body, status, field] of cases) {
      const res = await stack.rest(method, url, admin, body);
      expect({ url, body, status: res.status }).toEqual({ url, body, status });
      // A field the schema does not know is named in `actual` (fastest-validator's objectStrict).
      const issue = (res.body.data as { field?: string; actual?: string }[] | undefined)?.[0];
      if (field !== undefined) expect(issue?.field ?? issue?.actual).toBe(field);
    }
    const alice = await stack.token("alice");
    expect((await stack.rest("PATCH", `/api/v1/k8s/images/${nginx.id}`, alice, { tag: "3" })).status).toBe(403);
    expect((await stack.rest("POST", "/api/v1/k8s/images/load", alice, {})).status).toBe(403);
    await new Promise((r) => setTimeout(r, 300));
    expect(writesTo(from, "web")).toEqual([]);
    expect(await deployedImage("web")).toBe("docker.io/nginx:1.27");
  });
});
