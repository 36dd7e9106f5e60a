import { describe, expect, it } from "@jest/globals";
import {
  BUILD_LABEL,
  DEFAULT_BUILDER_IMAGE,
  buildDestination,
  buildJobName,
  contextUrlProblem,
  dockerfileProblem,
  gitUrlProblem,
  kanikoContext,
  parseBuildDigest,
  renderBuildJob,
  renderBuildNamespace,
} from "../../../lib/manifests/build.ts";
import { getIdFromAnnotation } from "../../../lib/manifests/labels.ts";

const DIGEST = `sha256:${"ab".repeat(32)}`;

const INPUT = {
  imageId: "img0000000000000001",
  imageName: "shop-api",
  buildId: "0a1b2c3d",
  namespace: "moleculer-k8s-builds",
  context: "git://github.com/acme/shop-api.git#refs/heads/main",
  dockerfile: "Dockerfile",
  destination: "registry.example.com/acme/shop-api:1.2.0",
} as const;

describe("renderBuildJob", () => {
  it("renders a kaniko Job that pushes to the destination and reports the digest in its termination message", () => {
    const labels = {
      "app.kubernetes.io/managed-by": "moleculer-k8s",
      "app.kubernetes.io/part-of": "moleculer-k8s",
      "app.kubernetes.io/name": "shop-api",
      "app.kubernetes.io/instance": "shop-api",
      "app.kubernetes.io/component": "image",
      "moleculer-k8s/id": "img0000000000000001",
      [BUILD_LABEL]: "0a1b2c3d",
    };
    const annotations = { "moleculer-k8s/id": "img0000000000000001", [BUILD_LABEL]: "0a1b2c3d" };
    expect(renderBuildJob(INPUT)).toEqual({
      apiVersion: "batch/v1",
      kind: "Job",
      metadata: { name: "build-shop-api-0a1b2c3d", namespace: "moleculer-k8s-builds", labels, annotations },
      spec: {
        backoffLimit: 0,
        ttlSecondsAfterFinished: 3600,
        activeDeadlineSeconds: 1800,
        template: {
          metadata: { labels, annotations },
          spec: {
            restartPolicy: "Never",
            automountServiceAccountToken: false,
            containers: [
              {
                name: "build",
                image: DEFAULT_BUILDER_IMAGE,
                args: [
                  "--context=git://github.com/acme/shop-api.git#refs/heads/main",
                  "--dockerfile=Dockerfile",
                  "--destination=registry.example.com/acme/shop-api:1.2.0",
                  "--digest-file=/dev/termination-log",
                ],
                terminationMessagePath: "/dev/termination-log",
                terminationMessagePolicy: "FallbackToLogsOnError",
              },
            ],
          },
        },
      },
    });
    expect(DEFAULT_BUILDER_IMAGE).toBe("gcr.io/kaniko-project/executor:v1.23.2");
    expect(getIdFromAnnotation(renderBuildJob(INPUT))).toBe("img0000000000000001");
  });

  it("mounts the push secret, reads git credentials and sets resources, TTL, deadline and builder when given", () => {
    const job = renderBuildJob({
      ...INPUT,
      builderImage: "sandbox.invalid/kaniko:1",
      ttlSecondsAfterFinished: 60,
      activeDeadlineSeconds: 120,
      pushSecret: "registry-push",
      gitSecret: "git-token",
      resources: { cpu: 1000, memory: 2048 },
    });
    const spec = job.spec?.template.spec;
    const c = spec?.containers[0];
    expect(job.spec).toMatchObject({ ttlSecondsAfterFinished: 60, activeDeadlineSeconds: 120, backoffLimit: 0 });
    expect(c?.image).toBe("sandbox.invalid/kaniko:1");
    expect(c?.envFrom).toEqual([{ secretRef: { name: "git-token", optional: false } }]);
    expect(c?.resources).toEqual({
      limits: { cpu: "1000m", memory: "2048Mi" },
      requests: { cpu: "1000m", memory: "2048Mi" },
    });
    expect(c?.volumeMounts).toEqual([{ name: "docker-config", mountPath: "/kaniko/.docker", readOnly: true }]);
    expect(spec?.volumes).toEqual([
      {
        name: "docker-config",
        secret: { secretName: "registry-push", items: [{ key: ".dockerconfigjson", path: "config.json" }] },
      },
    ]);
  });

  it("is pure: the same input gives an equal object", () => {
    expect(renderBuildJob(INPUT)).toEqual(renderBuildJob(INPUT));
  });
});

describe("buildJobName and buildDestination", () => {
  it("cuts long image names so the Job name stays a 63-character label ending in the build id", () => {
    const name = buildJobName("a".repeat(63), "0a1b2c3d");
    expect(name.length).toBeLessThanOrEqual(63);
    expect(name).toMatch(/^build-a+-0a1b2c3d$/);
    expect(buildJobName("x-".repeat(30), "ffff0000")).toMatch(/^build-[a-z-]*[a-z]-ffff0000$/);
  });

  it("joins registry, repository and tag", () => {
    expect(buildDestination("registry.example.com/", "acme/app", "1.0")).toBe("registry.example.com/acme/app:1.0");
    expect(buildDestination("localhost:5000", "app", "dev")).toBe("localhost:5000/app:dev");
  });
});

describe("gitUrlProblem, contextUrlProblem, dockerfileProblem", () => {
  it("accepts https, git and ssh repository URLs and refuses what is not one", () => {
    for (const ok of [
      "https://github.com/acme/app.git",
      "https://github.com/acme/app.git#refs/heads/main",
      "git://git.example.com/app",
      "ssh://git@github.com/acme/app.git",
    ]) {
      expect(gitUrlProblem(ok)).toBeUndefined();
    }
    for (const bad of [
      "not a url",
      "git@github.com:acme/app.git",
      "ftp://example.com/app",
      "file:///etc/passwd",
      "https://github.com/",
      "https://example.com/app?x=1",
      "https://user:secret@example.com/app",
      "https://ghp_token@github.com/acme/app.git",
      "javascript:alert(1)",
    ]) {
      expect(gitUrlProblem(bad)).toEqual(expect.any(String));
    }
  });

  it("accepts s3, gs, azblob and https contexts and refuses others", () => {
    expect(contextUrlProblem("s3://bucket/ctx.tar.gz")).toBeUndefined();
    expect(contextUrlProblem("gs://bucket/ctx.tar.gz")).toBeUndefined();
    expect(contextUrlProblem("https://example.com/ctx.tar.gz")).toBeUndefined();
    expect(contextUrlProblem("dir:///workspace")).toEqual(expect.any(String));
    expect(contextUrlProblem("bucket/ctx")).toEqual(expect.any(String));
    expect(contextUrlProblem("https://u:p@example.com/ctx.tar.gz")).toEqual(expect.any(String));
  });

  it("accepts relative Dockerfile paths only", () => {
    expect(dockerfileProblem("Dockerfile")).toBeUndefined();
    expect(dockerfileProblem("docker/prod.Dockerfile")).toBeUndefined();
    for (const bad of ["", "/Dockerfile", "../Dockerfile", "a//b", "a b", "a/../../b"]) {
      expect(dockerfileProblem(bad)).toEqual(expect.any(String));
    }
  });
});

describe("kanikoContext", () => {
  it("turns git URLs into kaniko's git:// form with the ref, and passes other contexts through", () => {
    expect(kanikoContext({ git: "https://github.com/acme/app.git#refs/heads/dev" })).toBe(
      "git://github.com/acme/app.git#refs/heads/dev",
    );
    expect(kanikoContext({ git: "ssh://git@github.com/acme/app.git" })).toBe("git://github.com/acme/app.git");
    expect(kanikoContext({ context: "s3://bucket/ctx.tar.gz" })).toBe("s3://bucket/ctx.tar.gz");
  });
});

describe("parseBuildDigest", () => {
  it("reads the sandbox's JSON and kaniko's bare digest, and nothing else", () => {
    expect(parseBuildDigest(JSON.stringify({ digest: DIGEST }))).toBe(DIGEST);
    expect(parseBuildDigest(`${DIGEST}\n`)).toBe(DIGEST);
    expect(parseBuildDigest(undefined)).toBeUndefined();
    expect(parseBuildDigest("error: push denied")).toBeUndefined();
    expect(parseBuildDigest(JSON.stringify({ digest: "sha256:short" }))).toBeUndefined();
  });
});

describe("renderBuildNamespace", () => {
  it("renders the build namespace with the suite's labels, component image", () => {
    expect(renderBuildNamespace("moleculer-k8s-builds").metadata?.labels).toMatchObject({
      "app.kubernetes.io/managed-by": "moleculer-k8s",
      "app.kubernetes.io/component": "image",
    });
  });
});
