/**
 * v1.k8s.images.build against a real sandbox, through REST (the gateway on its own broker over NATS): a build runs as
 * a kaniko Job, is followed by the watch, and on success records the tag and the digest the builder reported; a build
 * whose builder image cannot run reports Failed with the reason; bad input is a 422 naming the field; only admins build.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import type { ImageEntity } from "../../../lib/entities.ts";
import { buildDigest } from "../../../lib/sandbox/synthetic.ts";
import type { ImageBuild, ImageBuildLogsResult } from "../../../mixins/image-build.mixin.ts";
import { startStack, waitUntil, type Stack } from "../deployments/stack.ts";

const BUILD_NS = "moleculer-k8s-builds";
const REPO = "https://github.com/acme/shop-api.git#refs/heads/main";

async function finished(stack: Stack, imageId: string, buildId: string): Promise<ImageBuild> {
  return waitUntil(
    async () => {
      const builds = await stack.services.call<ImageBuild[], { id: string }>("v1.k8s.images.builds", { id: imageId });
      const b = builds.find((x) => x.id === buildId);
      return b !== undefined && b.status !== "Running" ? b : undefined;
    },
    15_000,
    `build ${buildId} finished`,
  );
}

describe("v1.k8s.images.build", () => {
  let stack: Stack;
  let nginx: ImageEntity;
  let admin: string;

  beforeAll(async () => {
    stack = await startStack({
      gateway: true,
      sandbox: { jobDurationMs: 150 },
      settings: { images: { builder: { recheckSeconds: 0, initialRecheckMs: -1 } } },
    });
    nginx = await stack.services.call("v1.k8s.images.resolveName", { name: "nginx-1-27" });
    admin = await stack.token("root", true);
  }, 30_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it("runs a kaniko Job, then records the new tag and the digest the builder reported", async () => {
    const res = await stack.rest("POST", `/api/v1/k8s/images/${nginx.id}/build`, admin, { git: REPO, tag: "2.0.0" });
    expect(res.status).toBe(200);
    const started = res.body as unknown as ImageBuild;
    expect(started).toMatchObject({
      tag: "2.0.0",
      status: "Running",
      namespace: BUILD_NS,
      destination: "docker.io/library/nginx:2.0.0",
      source: { git: REPO, dockerfile: "Dockerfile" },
    });

    const job = await stack.kubectlJson<{
      metadata: { uid: string; labels: Record<string, string> };
      spec: { backoffLimit: number; template: { spec: { containers: { image: string; args: string[] }[] } } };
    }>("get", "job", started.job, "-n", BUILD_NS);
    expect(job.metadata.labels).toMatchObject({
      "app.kubernetes.io/managed-by": "moleculer-k8s",
      "app.kubernetes.io/component": "image",
    });
    expect(job.spec.backoffLimit).toBe(0);
    expect(job.spec.template.spec.containers[0]).toMatchObject({
      image: "gcr.io/kaniko-project/executor:v1.23.2",
      args: [
        "--context=git://github.com/acme/shop-api.git#refs/heads/main",
        "--dockerfile=Dockerfile",
        "--destination=docker.io/library/nginx:2.0.0",
        "--digest-file=/dev/termination-log",
      ],
    });

    const done = await finished(stack, nginx.id, started.id);
    const digest = buildDigest("docker.io/library/nginx:2.0.0", job.metadata.uid);
    expect(done).toMatchObject({ id: started.id, status: "Succeeded", tag: "2.0.0", digest });
    expect(Date.parse(done.finishedAt ?? "")).toBeGreaterThanOrEqual(Date.parse(done.startedAt));

    const image = await stack.rest("GET", `/api/v1/k8s/images/${nginx.id}`, admin);
    // Pinned by the pushed digest: pulls get exactly what was built.
    expect(image.body).toMatchObject({ tag: "2.0.0", digest, image: `docker.io/library/nginx:2.0.0@${digest}` });
    const history = await stack.rest("GET", `/api/v1/k8s/images/${nginx.id}/builds`, await stack.token("carol"));
    expect(history.status).toBe(200);
    expect(history.body).toEqual([expect.objectContaining({ id: started.id, status: "Succeeded", digest })]);

    const logs = await stack.rest("GET", `/api/v1/k8s/images/${nginx.id}/builds/${started.id}/logs`, admin);
    expect(logs.status).toBe(200);
    const body = logs.body as unknown as ImageBuildLogsResult;
    expect(body).toMatchObject({ image: nginx.id, build: started.id, container: "build" });
    expect(body.logs).toContain("nginx:2.0.0");
  });

  it("refuses what is not a repository URL, a bad Dockerfile path and an unknown namespace with 422 naming the field", async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ git: "git@github.com:acme/app.git", tag: "1" }, "git"],
      [{ git: "ftp://example.com/app.git", tag: "1" }, "git"],
      [{ git: "not a url", tag: "1" }, "git"],
      [{ git: "https://ghp_secret@github.com/acme/app.git", tag: "1" }, "git"],
      [{ tag: "1" }, "git"],
      [{ context: "bucket/ctx.tar.gz", tag: "1" }, "context"],
      [{ git: REPO, context: "s3://bucket/ctx.tar.gz", tag: "1" }, "context"],
      [{ git: REPO, tag: "1", dockerfile: "../Dockerfile" }, "dockerfile"],
      [{ git: REPO, tag: "not a tag" }, "tag"],
      [{ git: REPO, tag: "1", namespace: "no-such-namespace" }, "namespace"],
    ];
    for (const [body, field] of cases) {
      const res = await stack.rest("POST", `/api/v1/k8s/images/${nginx.id}/build`, admin, body);
      expect({ body, status: res.status, type: res.body.type }).toEqual({
        body,
        status: 422,
        type: "VALIDATION_ERROR",
      });
      expect((res.body.data as { field: string }[])[0]?.field).toBe(field);
    }
    await expect(
      stack.services.call("v1.k8s.images.build", { id: nginx.id, git: "file:///etc/passwd", tag: "1" }),
    ).rejects.toMatchObject({ code: 422, type: "VALIDATION_ERROR" });
    // Nothing was started by the refused calls.
    const jobs = await stack.kubectlJson("get", "jobs", "-n", BUILD_NS);
    expect(jobs.items).toHaveLength(1);
  });

  it("is for admins: a signed-in user gets 403, an unknown image 404", async () => {
    const alice = await stack.token("alice");
    const res = await stack.rest("POST", `/api/v1/k8s/images/${nginx.id}/build`, alice, { git: REPO, tag: "3" });
    expect(res.status).toBe(403);
    const logs = await stack.rest("GET", `/api/v1/k8s/images/${nginx.id}/builds/abc/logs`, alice);
    expect(logs.status).toBe(403);
    const missing = await stack.rest("POST", `/api/v1/k8s/images/nope/build`, admin, { git: REPO, tag: "3" });
    expect(missing.status).toBe(404);
  });
});

describe("v1.k8s.images.build with a builder that cannot run", () => {
  let stack: Stack;
  let nginx: ImageEntity;

  beforeAll(async () => {
    stack = await startStack({
      sandbox: { jobDurationMs: 1000 },
      settings: {
        images: {
          builder: {
            image: "sandbox.invalid/kaniko-project/executor:v1.23.2",
            recheckSeconds: 0,
            initialRecheckMs: -1,
          },
        },
      },
    });
    nginx = await stack.services.call("v1.k8s.images.resolveName", { name: "nginx-1-27" });
  }, 30_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it("reports Failed with the Job's reason and the container's, and leaves the image as it was", async () => {
    const started = await stack.services.call<ImageBuild, Record<string, unknown>>("v1.k8s.images.build", {
      id: nginx.id,
      context: "s3://builds/shop-api.tar.gz",
      dockerfile: "docker/Dockerfile",
      tag: "9.9.9",
    });
    const done = await finished(stack, nginx.id, started.id);
    expect(done).toMatchObject({ status: "Failed", reason: "BackoffLimitExceeded" });
    expect(done.message).toMatch(/backoff limit/);
    expect(done.message).toMatch(/container build: Error \(exit code 1\)/);
    expect(done.digest).toBeUndefined();
    const image = await stack.services.call<ImageEntity, { id: string }>("v1.k8s.images.get", { id: nginx.id });
    expect(image).toMatchObject({ tag: nginx.tag, digest: nginx.digest, image: nginx.image });
  });

  it("reports Failed with JobDeleted when the Job is deleted before it finished", async () => {
    const started = await stack.services.call<ImageBuild, Record<string, unknown>>("v1.k8s.images.build", {
      id: nginx.id,
      git: "git://git.example.com/shop-api.git",
      tag: "9.9.10",
    });
    const images = stack.services.getLocalService("v1.k8s.images") as unknown as {
      findRaw(q: Record<string, unknown>): Promise<{ _id: string }[]>;
    };
    // The query the periodic re-check of running builds uses finds the image.
    expect((await images.findRaw({ "builds.status": "Running" })).map((r) => r._id)).toEqual([nginx.id]);
    expect((await stack.kubectl("delete", "job", started.job, "-n", "moleculer-k8s-builds")).code).toBe(0);
    const done = await finished(stack, nginx.id, started.id);
    expect(done).toMatchObject({ status: "Failed", reason: "JobDeleted" });
    expect(await images.findRaw({ "builds.status": "Running" })).toEqual([]);
  });
});
