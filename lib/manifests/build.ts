/**
 * Image builds (`v1.k8s.images.build`): the batch/v1 Job that builds an image in the cluster with kaniko, and the pure
 * checks and parsers around it. No I/O, clock or randomness: the build id and everything else come in.
 *
 * - The Job: one pod, `restartPolicy: Never`, `backoffLimit: 0` (a failed build is reported, not retried),
 *   `activeDeadlineSeconds` (a build that hangs fails with DeadlineExceeded), `ttlSecondsAfterFinished` (the finished
 *   Job and its pod, with their logs, are removed after that long). One container `build` running the builder image
 *   (default `gcr.io/kaniko-project/executor:v1.23.2`) with
 *   `--context=<kaniko context> --dockerfile=<path> --destination=<registry>/<repository>:<tag>
 *   --digest-file=/dev/termination-log`: kaniko writes the pushed image's digest to that file, which the kubelet turns
 *   into the container's termination message (`terminationMessagePolicy: FallbackToLogsOnError`, so a failed build's
 *   message is the end of its log). The sandbox answers with `{"digest":"sha256:..."}`; kaniko with the bare digest:
 *   `parseBuildDigest` reads both.
 * - Contexts: a git repository URL (`https://`, `git://`, `ssh://`) becomes kaniko's `git://host/path[#ref]` (kaniko
 *   clones git contexts over https; credentials, when needed, come from GIT_USERNAME/GIT_PASSWORD of `gitSecret`); any
 *   other context is passed as given (`s3://bucket/ctx.tar.gz`, `gs://...`, an `https://` tarball).
 * - Labels: the suite's (component `image`, the image record's name and id) plus `moleculer-k8s/build: <build id>` on
 *   the Job and its pod, so the pod is found by that selector in v1.kube's watch cache.
 */
import type { V1Job, V1Namespace } from "@kubernetes/client-node";
import { generateAnnotations, generateLabels, sanitizeLabelValue } from "./labels.ts";

export const DEFAULT_BUILDER_IMAGE = "gcr.io/kaniko-project/executor:v1.23.2";
export const DEFAULT_BUILD_NAMESPACE = "moleculer-k8s-builds";
export const BUILD_LABEL = "moleculer-k8s/build";
export const BUILD_CONTAINER = "build";
export const DEFAULT_DOCKERFILE = "Dockerfile";
export const DEFAULT_BUILD_TTL_SECONDS = 3600;
export const DEFAULT_BUILD_DEADLINE_SECONDS = 1800;
const TERMINATION_LOG = "/dev/termination-log";

export const GIT_SCHEMES = ["https:", "git:", "ssh:"] as const;
export const CONTEXT_SCHEMES = ["s3:", "gs:", "https:", "azblob:"] as const;

export interface BuildJobInput {
  /** The image record id and name (labels, annotations). */
  readonly imageId: string;
  readonly imageName: string;
  /** The build's id (label `moleculer-k8s/build`). */
  readonly buildId: string;
  /** Where the Job runs. */
  readonly namespace: string;
  /** kaniko's `--context` (see `kanikoContext`). */
  readonly context: string;
  /** The Dockerfile's path inside the context. */
  readonly dockerfile: string;
  /** `<registry>/<repository>:<tag>`. */
  readonly destination: string;
  /** Default DEFAULT_BUILDER_IMAGE. */
  readonly builderImage?: string;
  /** Default DEFAULT_BUILD_TTL_SECONDS. */
  readonly ttlSecondsAfterFinished?: number;
  /** Default DEFAULT_BUILD_DEADLINE_SECONDS. */
  readonly activeDeadlineSeconds?: number;
  /** A Secret of type kubernetes.io/dockerconfigjson mounted as kaniko's /kaniko/.docker/config.json (push). */
  readonly pushSecret?: string;
  /** A Secret whose GIT_USERNAME / GIT_PASSWORD keys kaniko uses to clone. */
  readonly gitSecret?: string;
  /** CPU millicores and memory MiB of the builder (limits = requests); default none (the namespace's defaults). */
  readonly resources?: { readonly cpu: number; readonly memory: number };
}

/** The Job's name: `build-<image name>-<build id>`, cut to a valid 63-character label (its pods' job-name label). */
export function buildJobName(imageName: string, buildId: string): string {
  const suffix = `-${buildId}`;
  const head = `build-${imageName}`.slice(0, 63 - suffix.length).replace(/-+$/, "");
  return `${head}${suffix}`;
}

/** Where kaniko pushes: `<registry>/<repository>:<tag>`. */
export function buildDestination(registry: string, repository: string, tag: string): string {
  return `${registry.replace(/\/+$/, "")}/${repository.replace(/^\/+/, "")}:${tag}`;
}

/** Why a git URL is refused (a sentence), or undefined when it is one `build` takes. */
export function gitUrlProblem(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return "must be a URL (https://, git:// or ssh://)";
  }
  if (!(GIT_SCHEMES as readonly string[]).includes(url.protocol)) {
    return `must be an https://, git:// or ssh:// URL, not ${url.protocol}//`;
  }
  if (url.hostname === "") return "must name a host";
  if (url.pathname === "" || url.pathname === "/") return "must name a repository path";
  if (url.search !== "") return "must not have a query string";
  if (url.password !== "") return "must not carry a password (use the builder's gitSecret)";
  // A token in the user part (https://<token>@host/...) would be stored in the build history every reader sees.
  if (url.protocol !== "ssh:" && url.username !== "") return "must not carry credentials (use the builder's gitSecret)";
  if (/[\s"'\\]/.test(value)) return "must not contain spaces, quotes or backslashes";
  return undefined;
}

/** Why a context URL is refused, or undefined when it is one `build` takes (s3://, gs://, azblob://, https:// tarball). */
export function contextUrlProblem(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return "must be a URL (s3://, gs://, azblob:// or an https:// tarball)";
  }
  if (!(CONTEXT_SCHEMES as readonly string[]).includes(url.protocol)) {
    return `must be an s3://, gs://, azblob:// or https:// URL, not ${url.protocol}//`;
  }
  if (url.hostname === "") return "must name a host or bucket";
  if (url.username !== "" || url.password !== "") return "must not carry credentials";
  if (/[\s"'\\]/.test(value)) return "must not contain spaces, quotes or backslashes";
  return undefined;
}

/** Why a Dockerfile path is refused (absolute, `..`, empty segments), or undefined. */
export function dockerfileProblem(value: string): string | undefined {
  if (value === "" || value.length > 1024) return "must be a path of 1 to 1024 characters";
  if (value.startsWith("/")) return "must be a path inside the context (not absolute)";
  if (value.split("/").some((s) => s === ".." || s === "")) return "must not contain '..' or empty segments";
  if (/[\s"'\\]/.test(value)) return "must not contain spaces, quotes or backslashes";
  return undefined;
}

/** kaniko's `--context` for a build source: git URLs as `git://host/path[#ref]`, other contexts as given. */
export function kanikoContext(source: { readonly git?: string; readonly context?: string }): string {
  if (source.git !== undefined) {
    const url = new URL(source.git);
    const ref = url.hash === "" ? "" : url.hash;
    return `git://${url.host}${url.pathname}${ref}`;
  }
  return source.context ?? "";
}

/** The digest a builder reported in its termination message: `{"digest":"sha256:..."}` (sandbox) or the bare digest (kaniko's --digest-file). */
export function parseBuildDigest(message: string | undefined): string | undefined {
  if (message === undefined) return undefined;
  const text = message.trim();
  const digest = /^sha256:[a-f0-9]{64}$/;
  if (digest.test(text)) return text;
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed === "object" && parsed !== null) {
      const d = (parsed as { digest?: unknown }).digest;
      if (typeof d === "string" && digest.test(d)) return d;
    }
  } catch {
    // not JSON
  }
  return undefined;
}

/** The namespace builds run in by default (component `image`). */
export function renderBuildNamespace(name: string): V1Namespace {
  return {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: {
      name,
      labels: generateLabels({ component: "image", name, id: name }),
      annotations: generateAnnotations({ id: name }),
    },
  };
}

/** The build Job (see the module comment). */
export function renderBuildJob(input: BuildJobInput): V1Job {
  const labels = {
    ...generateLabels({ component: "image", name: input.imageName, id: input.imageId }),
    [BUILD_LABEL]: sanitizeLabelValue(input.buildId),
  };
  const annotations = generateAnnotations({ id: input.imageId, extra: { [BUILD_LABEL]: input.buildId } });
  const volumes =
    input.pushSecret === undefined
      ? []
      : [
          {
            name: "docker-config",
            secret: {
              secretName: input.pushSecret,
              items: [{ key: ".dockerconfigjson", path: "config.json" }],
            },
          },
        ];
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: {
      name: buildJobName(input.imageName, input.buildId),
      namespace: input.namespace,
      labels,
      annotations,
    },
    spec: {
      backoffLimit: 0,
      ttlSecondsAfterFinished: input.ttlSecondsAfterFinished ?? DEFAULT_BUILD_TTL_SECONDS,
      activeDeadlineSeconds: input.activeDeadlineSeconds ?? DEFAULT_BUILD_DEADLINE_SECONDS,
      template: {
        metadata: { labels, annotations },
        spec: {
          restartPolicy: "Never",
          automountServiceAccountToken: false,
          containers: [
            {
              name: BUILD_CONTAINER,
              image: input.builderImage ?? DEFAULT_BUILDER_IMAGE,
              args: [
                `--context=${input.context}`,
                `--dockerfile=${input.dockerfile}`,
                `--destination=${input.destination}`,
                `--digest-file=${TERMINATION_LOG}`,
              ],
              terminationMessagePath: TERMINATION_LOG,
              terminationMessagePolicy: "FallbackToLogsOnError",
              ...(input.gitSecret === undefined
                ? {}
                : { envFrom: [{ secretRef: { name: input.gitSecret, optional: false } }] }),
              ...(input.resources === undefined
                ? {}
                : {
                    resources: {
                      limits: { cpu: `${input.resources.cpu}m`, memory: `${input.resources.memory}Mi` },
                      requests: { cpu: `${input.resources.cpu}m`, memory: `${input.resources.memory}Mi` },
                    },
                  }),
              ...(volumes.length === 0
                ? {}
                : { volumeMounts: [{ name: "docker-config", mountPath: "/kaniko/.docker", readOnly: true }] }),
            },
          ],
          ...(volumes.length === 0 ? {} : { volumes }),
        },
      },
    },
  };
}
