/**
 * `ImageBuildMixin()`: image builds for `v1.k8s.images` (mix it in after `DbMixin` and `MembershipMixin`).
 *
 * `build` renders a kaniko Job (lib/manifests/build.ts), applies it through `v1.kube.apply` as `k8s.images`, records a
 * build `{ id, tag, digest, status, startedAt, finishedAt, reason, message, ... }` in the image's `builds` (newest
 * last, the last `historySize` kept) and answers at once with the build (status `Running`). The build is followed by
 * the watch: `kube.jobs.*` and `kube.pods.*` events of objects labelled `moleculer-k8s/build` (read back from v1.kube's
 * cache, so following costs no request to the API server). When the Job is Complete, the digest is read from the
 * build pod's termination message and the image gets `tag`, `digest` and `image = <registry>/<repository>:<tag>@<digest>`
 * (pinned by digest, so a rebuild under the same tag changes it too); the `k8s.images.updated` event of that write
 * makes `v1.k8s.deployments` re-apply every deployment of the image at once, and a catalog reload keeps those three
 * fields while the record holds them (`standingBuild`); the build says `Succeeded`. When the
 * Job Failed (BackoffLimitExceeded, DeadlineExceeded), its pod cannot pull the builder (ImagePullBackOff,
 * InvalidImageName) or cannot start (CreateContainerConfigError: a missing secret), the Job disappears, or no digest
 * was reported, the build says `Failed` with `reason` and `message` (the condition's and the container's). Running
 * builds are checked again once after start and every `recheckSeconds` (cache reads), in case an event was missed.
 *
 * **Decision: who may build.** Images are a catalog shared by every tenant, and a build changes the catalog entry
 * (tag, digest, image) that every deployment of it uses, so `build` is admin or internal only — namespace members
 * cannot build, not even into their own namespace (`namespace` only chooses where the Job runs; a tenant who wants
 * their own image asks an admin to add a catalog entry and build it). `builds` (the history, also part of the image
 * record) is readable by every signed-in user, as the catalog is; `buildLogs` is admin only (logs may show build
 * arguments and registry names).
 *
 * Actions: `build` (POST /:id/build), `builds` (GET /:id/builds), `buildLogs` (GET /:id/builds/:build/logs: the
 * builder's log through `v1.kube.logs` of the Job's pod; gone after the Job's ttlSecondsAfterFinished).
 */
import { randomBytes } from "node:crypto";
import type { Context, Service, ServiceSchema, ServiceSettingSchema } from "moleculer";
import type { KubernetesObject, V1Job, V1Pod } from "@kubernetes/client-node";
import { hasCode, invalid, notFound } from "../lib/errors.ts";
import {
  BUILD_CONTAINER,
  BUILD_LABEL,
  DEFAULT_BUILD_NAMESPACE,
  DEFAULT_BUILDER_IMAGE,
  DEFAULT_DOCKERFILE,
  buildDestination,
  buildJobName,
  contextUrlProblem,
  dockerfileProblem,
  gitUrlProblem,
  kanikoContext,
  parseBuildDigest,
  renderBuildJob,
  renderBuildNamespace,
} from "../lib/manifests/build.ts";
import {
  COMPONENT_LABEL,
  MANAGED_BY_SELECTOR,
  getIdFromAnnotation,
  sanitizeLabelValue,
} from "../lib/manifests/labels.ts";
import { kubeList } from "../lib/kube/local-list.ts";
import type { CallerMeta } from "../lib/meta.ts";
import { defineParams, type ParamsOf } from "../lib/params.ts";
import { DNS_1123_LABEL } from "../lib/validators.ts";
import { asMixin, type DbMethods, type MixinSchema, type RawDoc } from "./db.mixin.ts";

const FIELD_MANAGER = "k8s.images";
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
/** Waiting reasons of the build container that will not go away by themselves. */
const STUCK_REASONS = new Set([
  "ImagePullBackOff",
  "InvalidImageName",
  "CreateContainerConfigError",
  "ErrImageNeverPull",
]);

export const imageBuildParams = defineParams({
  $$strict: true,
  id: { type: "string", empty: false, max: 64 },
  git: { type: "string", empty: false, max: 2048, optional: true },
  context: { type: "string", empty: false, max: 2048, optional: true },
  dockerfile: { type: "string", empty: false, max: 1024, default: DEFAULT_DOCKERFILE },
  tag: { type: "string", empty: false, max: 128, pattern: TAG },
  namespace: { type: "string", empty: false, max: 63, pattern: DNS_1123_LABEL, optional: true },
});
export const imageBuildsParams = defineParams({
  $$strict: true,
  id: { type: "string", empty: false, max: 64 },
});
export const imageBuildLogsParams = defineParams({
  $$strict: true,
  id: { type: "string", empty: false, max: 64 },
  build: { type: "string", empty: false, max: 64 },
  tailLines: { type: "number", integer: true, min: 0, max: 100_000, convert: true, optional: true },
});
export type ImageBuildParams = ParamsOf<typeof imageBuildParams>;
export type ImageBuildsParams = ParamsOf<typeof imageBuildsParams>;
export type ImageBuildLogsParams = ParamsOf<typeof imageBuildLogsParams>;

export type BuildStatus = "Running" | "Succeeded" | "Failed";

/** One build of an image, as stored in the image's `builds` and returned by `build` and `builds`. */
export interface ImageBuild {
  id: string;
  /** The target tag; on success the image's `tag`. */
  tag: string;
  /** `<registry>/<repository>:<tag>`. */
  destination: string;
  /** The pushed image's digest (Succeeded only). */
  digest?: string;
  status: BuildStatus;
  /** Why it failed: the Job condition's reason (BackoffLimitExceeded, DeadlineExceeded) or the container's (ImagePullBackOff, ...). */
  reason?: string;
  message?: string;
  /** Where the Job runs, and its name. */
  namespace: string;
  job: string;
  source: { git?: string; context?: string; dockerfile: string };
  startedAt: string;
  finishedAt?: string;
}

export interface ImageBuildLogsResult {
  image: string;
  build: string;
  pod: string;
  container: string;
  logs: string;
}

export interface ImageBuilderSettings {
  /** The builder image (default gcr.io/kaniko-project/executor:v1.23.2). */
  image?: string;
  /** Where builds run unless `namespace` is given (default moleculer-k8s-builds, created when missing). */
  namespace?: string;
  ttlSecondsAfterFinished?: number;
  activeDeadlineSeconds?: number;
  /** A kubernetes.io/dockerconfigjson Secret in the build namespace: kaniko's registry credentials. */
  pushSecret?: string;
  /** A Secret with GIT_USERNAME / GIT_PASSWORD for private repositories. */
  gitSecret?: string;
  /** Builder container resources (CPU millicores, memory MiB). */
  resources?: { cpu: number; memory: number };
  /** Builds kept per image (default 20; running ones are never dropped). */
  historySize?: number;
  /** Seconds between checks of running builds against the watch cache (default 60; 0 = only events). */
  recheckSeconds?: number;
  /** Delay of the first check after start (default 2000 ms). */
  initialRecheckMs?: number;
}

interface Settings extends ServiceSettingSchema {
  builder?: ImageBuilderSettings;
}

export interface ImageBuildMethods {
  buildsOf(record: RawDoc): ImageBuild[];
  withBuildLock<T>(imageId: string, fn: () => Promise<T>): Promise<T>;
  saveBuild(imageId: string, build: ImageBuild, extra?: Record<string, unknown>): Promise<void>;
  writeBuild(imageId: string, build: ImageBuild, extra?: Record<string, unknown>): Promise<void>;
  followBuild(imageId: string, buildId: string, jobGone?: boolean): Promise<void>;
  inspectBuild(imageId: string, buildId: string, jobGone: boolean): Promise<void>;
  recheckBuilds(): Promise<void>;
  buildObjects(build: ImageBuild, kind: "Job" | "Pod"): Promise<KubernetesObject[]>;
  onBuildObject(obj: KubernetesObject, deleted: boolean): void;
}

interface ImageBuildVars {
  buildState: { locks: Map<string, Promise<unknown>>; timer: NodeJS.Timeout | undefined; active: boolean };
}

type This = Service<Settings> &
  ImageBuildVars &
  ImageBuildMethods &
  Pick<DbMethods, "findRawById" | "findRaw" | "updateEntity">;
type Ctx<P> = Context<P, CallerMeta>;

function now(): string {
  return new Date().toISOString();
}

function condition(job: V1Job | undefined, type: string) {
  return job?.status?.conditions?.find((c) => c.type === type && c.status === "True");
}

/** The build container's state in a pod: terminated (reason, exit code, message) or waiting (reason, message). */
function containerOf(pod: V1Pod | undefined) {
  return pod?.status?.containerStatuses?.find((c) => c.name === BUILD_CONTAINER) ?? pod?.status?.containerStatuses?.[0];
}

/** A short text of a failed container: `container build: Error (exit code 1): <message>`. */
function describeContainer(pod: V1Pod | undefined): string | undefined {
  const t = containerOf(pod)?.state?.terminated;
  if (t === undefined) return undefined;
  const message = t.message?.trim();
  return `container ${BUILD_CONTAINER}: ${t.reason ?? "Terminated"} (exit code ${t.exitCode})${
    message === undefined || message === "" ? "" : `: ${message.slice(-500)}`
  }`;
}

/** The fields of an image record a successful build writes. */
export const BUILD_FIELDS = ["tag", "digest", "image"] as const;

/** The `image` a successful build records: `<destination>@<digest>`, so that pulls get exactly what was pushed (a rebuild under the same tag changes it too). */
export function builtImageReference(build: ImageBuild): string | undefined {
  return build.status === "Succeeded" && build.digest !== undefined
    ? `${build.destination}@${build.digest}`
    : undefined;
}

/**
 * The build whose results stand on the image record: its newest Succeeded build, when the record's `tag`, `digest`
 * and `image` are still the ones that build wrote (`image` as `<destination>@<digest>`, or `<destination>` as builds
 * before that recorded it). An admin `update` of any of them since, or a newer successful build, ends its standing;
 * a failed or running build changes nothing. Pure.
 */
export function standingBuild(record: Readonly<Record<string, unknown>>): ImageBuild | undefined {
  const builds = Array.isArray(record.builds) ? (record.builds as ImageBuild[]) : [];
  const last = builds.findLast((b) => b.status === "Succeeded");
  if (last === undefined || last.digest === undefined) return undefined;
  const holds =
    record.tag === last.tag &&
    record.digest === last.digest &&
    (record.image === builtImageReference(last) || record.image === last.destination);
  return holds ? last : undefined;
}

/** The mixin: `mixins: [DbMixin({...}), MembershipMixin({ scope: "catalog" }), ImageBuildMixin()]`. */
export function ImageBuildMixin(): MixinSchema {
  const schema: ServiceSchema<Settings, ImageBuildMethods, ImageBuildVars, This> = {
    name: "",
    actions: {
      /** Builds the image in the cluster with kaniko from a git repository or a context URL and records the build; answers at once with the build (Running); on success the image gets the new tag and digest (admin or internal). REST: POST /:id/build @throws VALIDATION_ERROR, NOT_FOUND, FORBIDDEN, K8S_INVALID, K8S_FORBIDDEN, K8S_UNAVAILABLE */
      build: {
        rest: "POST /:id/build",
        permission: "admin",
        params: imageBuildParams,
        async handler(this: This, ctx: Ctx<ImageBuildParams>): Promise<ImageBuild> {
          const p = ctx.params;
          if (p.git === undefined && p.context === undefined) {
            throw invalid("git", "The 'git' field (a repository URL) or the 'context' field is required.", "required");
          }
          if (p.git !== undefined && p.context !== undefined) {
            throw invalid("context", "Give either 'git' or 'context', not both.", "forbidden");
          }
          const problem =
            p.git !== undefined
              ? ["git", gitUrlProblem(p.git), p.git]
              : ["context", contextUrlProblem(p.context ?? ""), p.context];
          if (problem[1] !== undefined) {
            throw invalid(String(problem[0]), `The '${problem[0]}' field ${problem[1]}.`, "url", problem[2]);
          }
          const dfProblem = dockerfileProblem(p.dockerfile);
          if (dfProblem !== undefined) {
            throw invalid("dockerfile", `The 'dockerfile' field ${dfProblem}.`, "path", p.dockerfile);
          }
          const record = await this.findRawById(p.id);
          if (record === null) throw notFound("image", p.id);
          const builder = this.settings.builder ?? {};
          const defaultNs = builder.namespace ?? DEFAULT_BUILD_NAMESPACE;
          const namespace = p.namespace ?? defaultNs;
          if (namespace === defaultNs) {
            await ctx.call("v1.kube.apply", {
              objects: [renderBuildNamespace(namespace)],
              fieldManager: FIELD_MANAGER,
            });
          } else {
            try {
              await ctx.call("v1.kube.get", { apiVersion: "v1", kind: "Namespace", name: namespace });
            } catch (err) {
              if (hasCode(err, 404)) {
                throw invalid(
                  "namespace",
                  `The 'namespace' field names no namespace of the cluster.`,
                  "notFound",
                  namespace,
                );
              }
              throw err;
            }
          }
          const buildId = randomBytes(4).toString("hex");
          const imageName = String(record.name);
          const destination = buildDestination(String(record.registry), String(record.repository), p.tag);
          const job = renderBuildJob({
            imageId: record._id,
            imageName,
            buildId,
            namespace,
            context: kanikoContext(p.git !== undefined ? { git: p.git } : { context: p.context ?? "" }),
            dockerfile: p.dockerfile,
            destination,
            builderImage: builder.image ?? DEFAULT_BUILDER_IMAGE,
            ...(builder.ttlSecondsAfterFinished === undefined
              ? {}
              : { ttlSecondsAfterFinished: builder.ttlSecondsAfterFinished }),
            ...(builder.activeDeadlineSeconds === undefined
              ? {}
              : { activeDeadlineSeconds: builder.activeDeadlineSeconds }),
            ...(builder.pushSecret === undefined ? {} : { pushSecret: builder.pushSecret }),
            ...(builder.gitSecret === undefined ? {} : { gitSecret: builder.gitSecret }),
            ...(builder.resources === undefined ? {} : { resources: builder.resources }),
          });
          const build: ImageBuild = {
            id: buildId,
            tag: p.tag,
            destination,
            status: "Running",
            namespace,
            job: buildJobName(imageName, buildId),
            source: {
              ...(p.git === undefined ? {} : { git: p.git }),
              ...(p.context === undefined ? {} : { context: p.context }),
              dockerfile: p.dockerfile,
            },
            startedAt: now(),
          };
          await this.saveBuild(record._id, build);
          try {
            await ctx.call("v1.kube.apply", { objects: [job], fieldManager: FIELD_MANAGER });
          } catch (err) {
            const e = err as { type?: unknown; message?: unknown };
            await this.saveBuild(record._id, {
              ...build,
              status: "Failed",
              reason: typeof e.type === "string" ? e.type : "ApplyFailed",
              message: `the build Job was not created: ${String(e.message ?? err)}`,
              finishedAt: now(),
            });
            throw err;
          }
          // The Job may have finished before its events could find the build stored: look once more.
          void this.followBuild(record._id, buildId).catch(() => undefined);
          return build;
        },
      },

      /** The image's builds, newest first. REST: GET /:id/builds @throws NOT_FOUND, VALIDATION_ERROR */
      builds: {
        rest: "GET /:id/builds",
        permission: "signedIn",
        params: imageBuildsParams,
        async handler(this: This, ctx: Ctx<ImageBuildsParams>): Promise<ImageBuild[]> {
          const record = await this.findRawById(ctx.params.id);
          if (record === null) throw notFound("image", ctx.params.id);
          return this.buildsOf(record).reverse();
        },
      },

      /** The builder's log of one build (the Job's pod, through v1.kube.logs); 404 once the Job is gone (ttlSecondsAfterFinished). REST: GET /:id/builds/:build/logs @throws NOT_FOUND, FORBIDDEN, K8S_UNAVAILABLE */
      buildLogs: {
        rest: "GET /:id/builds/:build/logs",
        permission: "admin",
        params: imageBuildLogsParams,
        async handler(this: This, ctx: Ctx<ImageBuildLogsParams>): Promise<ImageBuildLogsResult> {
          const record = await this.findRawById(ctx.params.id);
          if (record === null) throw notFound("image", ctx.params.id);
          const build = this.buildsOf(record).find((b) => b.id === ctx.params.build);
          if (build === undefined) throw notFound("build", ctx.params.build);
          const pods = (await this.buildObjects(build, "Pod")) as V1Pod[];
          const pod = pods.sort((a, b) =>
            String(b.metadata?.creationTimestamp ?? "").localeCompare(String(a.metadata?.creationTimestamp ?? "")),
          )[0];
          const podName = pod?.metadata?.name;
          if (podName === undefined) throw notFound("build pod (removed with its Job)", ctx.params.build);
          const logs = await ctx.call<unknown, Record<string, unknown>>("v1.kube.logs", {
            namespace: build.namespace,
            pod: podName,
            container: BUILD_CONTAINER,
            ...(ctx.params.tailLines === undefined ? {} : { tailLines: ctx.params.tailLines }),
          });
          return {
            image: record._id,
            build: build.id,
            pod: podName,
            container: BUILD_CONTAINER,
            logs: typeof logs === "string" ? logs : "",
          };
        },
      },
    },

    events: {
      "kube.jobs.*"(this: This, ctx: Context<KubernetesObject>) {
        this.onBuildObject(ctx.params, (ctx.eventName ?? "").endsWith(".deleted"));
      },
      "kube.pods.*"(this: This, ctx: Context<KubernetesObject>) {
        if ((ctx.eventName ?? "").endsWith(".deleted")) return;
        this.onBuildObject(ctx.params, false);
      },
    },

    methods: {
      buildsOf(this: This, record: RawDoc): ImageBuild[] {
        return Array.isArray(record.builds) ? [...(record.builds as ImageBuild[])] : [];
      },

      /** One change of an image's builds at a time (the list is read, changed and written whole). */
      withBuildLock<T>(this: This, imageId: string, fn: () => Promise<T>): Promise<T> {
        const locks = this.buildState.locks;
        const before = locks.get(imageId) ?? Promise.resolve();
        const run = before.then(fn, fn);
        const tail = run.catch(() => undefined);
        locks.set(imageId, tail);
        void tail.then(() => {
          if (locks.get(imageId) === tail) locks.delete(imageId);
        });
        return run;
      },

      /** Stores a build (new or changed) in the image's history, with `extra` fields of the image (tag, digest). */
      saveBuild(this: This, imageId: string, build: ImageBuild, extra: Record<string, unknown> = {}): Promise<void> {
        return this.withBuildLock(imageId, () => this.writeBuild(imageId, build, extra));
      },

      /** saveBuild without the lock (for callers that hold it). */
      async writeBuild(
        this: This,
        imageId: string,
        build: ImageBuild,
        extra: Record<string, unknown> = {},
      ): Promise<void> {
        const record = await this.findRawById(imageId);
        if (record === null) return;
        const builds = this.buildsOf(record);
        const i = builds.findIndex((b) => b.id === build.id);
        if (i >= 0) builds[i] = build;
        else builds.push(build);
        const keep = this.settings.builder?.historySize ?? 20;
        // The build whose tag, digest and image the record holds stays too: it is what a catalog reload keeps.
        const standing = standingBuild({ ...record, ...extra, builds });
        while (builds.length > keep) {
          const drop = builds.findIndex((b) => b.status !== "Running" && b !== standing);
          if (drop < 0) break;
          builds.splice(drop, 1);
        }
        await this.updateEntity(null, imageId, { ...extra, builds });
      },

      /** The build's Job or pods, from v1.kube's watch cache. */
      async buildObjects(this: This, build: ImageBuild, kind: "Job" | "Pod"): Promise<KubernetesObject[]> {
        const res = await kubeList(this.broker, {
          apiVersion: kind === "Job" ? "batch/v1" : "v1",
          kind,
          namespace: build.namespace,
          labelSelector: `${MANAGED_BY_SELECTOR},${BUILD_LABEL}=${sanitizeLabelValue(build.id)}`,
        });
        return res.items;
      },

      /** Looks at a running build's Job and pod and records the outcome once there is one (one look at a time per image). */
      followBuild(this: This, imageId: string, buildId: string, jobGone = false): Promise<void> {
        return this.withBuildLock(imageId, () => this.inspectBuild(imageId, buildId, jobGone));
      },

      async inspectBuild(this: This, imageId: string, buildId: string, jobGone: boolean): Promise<void> {
        const record = await this.findRawById(imageId);
        const build = record === null ? undefined : this.buildsOf(record).find((b) => b.id === buildId);
        if (build === undefined || build.status !== "Running") return;
        const [jobs, pods] = await Promise.all([this.buildObjects(build, "Job"), this.buildObjects(build, "Pod")]);
        const job = jobs[0] as V1Job | undefined;
        const pod = (pods as V1Pod[]).sort((a, b) =>
          String(b.metadata?.creationTimestamp ?? "").localeCompare(String(a.metadata?.creationTimestamp ?? "")),
        )[0];
        const fail = (reason: string, message: string) =>
          this.writeBuild(imageId, { ...build, status: "Failed", reason, message, finishedAt: now() });

        if (condition(job, "Complete") !== undefined) {
          let digest = parseBuildDigest(containerOf(pod)?.state?.terminated?.message);
          if (digest === undefined && pod?.metadata?.name !== undefined) {
            // The pod's last change may not have reached the cache yet: read it from the API server once.
            const live = await this.broker
              .call<V1Pod, Record<string, string>>("v1.kube.get", {
                apiVersion: "v1",
                kind: "Pod",
                namespace: build.namespace,
                name: pod.metadata.name,
              })
              .catch(() => undefined);
            digest = parseBuildDigest(containerOf(live)?.state?.terminated?.message);
          }
          if (digest === undefined) {
            await fail("NoDigest", "the build Job completed but its pod reported no image digest");
            return;
          }
          this.logger.info(`image ${imageId}: build ${buildId} pushed ${build.destination}@${digest}`);
          const succeeded: ImageBuild = { ...build, status: "Succeeded", digest, finishedAt: now() };
          await this.writeBuild(imageId, succeeded, {
            tag: build.tag,
            digest,
            image: builtImageReference(succeeded) ?? build.destination,
          });
          return;
        }
        const failed = condition(job, "Failed");
        if (failed !== undefined) {
          const detail = describeContainer(pod);
          await fail(
            failed.reason ?? "Failed",
            [failed.message ?? "the build Job failed", detail].filter((s) => s !== undefined).join("; "),
          );
          return;
        }
        const waiting = containerOf(pod)?.state?.waiting;
        if (waiting?.reason !== undefined && STUCK_REASONS.has(waiting.reason)) {
          await fail(waiting.reason, waiting.message ?? `the builder container is waiting: ${waiting.reason}`);
          await this.broker
            .call("v1.kube.delete", {
              apiVersion: "batch/v1",
              kind: "Job",
              namespace: build.namespace,
              name: build.job,
              propagationPolicy: "Background",
            })
            .catch((err: unknown) => this.logger.debug(`build Job ${build.job} not deleted: ${String(err)}`));
          return;
        }
        if (job === undefined && jobGone) {
          await fail("JobDeleted", "the build Job was deleted before it finished");
        }
      },

      /** Running builds against the cluster: those whose Job is gone (read from the API when not in the cache) fail. */
      async recheckBuilds(this: This): Promise<void> {
        const records = await this.findRaw({ "builds.status": "Running" });
        for (const record of records) {
          for (const build of this.buildsOf(record).filter((b) => b.status === "Running")) {
            const cached = await this.buildObjects(build, "Job");
            let gone = false;
            if (cached.length === 0) {
              gone = await this.broker
                .call("v1.kube.get", {
                  apiVersion: "batch/v1",
                  kind: "Job",
                  namespace: build.namespace,
                  name: build.job,
                })
                .then(
                  () => false,
                  (err: unknown) => hasCode(err, 404),
                );
            }
            await this.followBuild(record._id, build.id, gone);
          }
        }
      },

      onBuildObject(this: This, obj: KubernetesObject, deleted: boolean): void {
        const buildId = obj.metadata?.annotations?.[BUILD_LABEL];
        const imageId = getIdFromAnnotation(obj);
        if (buildId === undefined || imageId === undefined || obj.metadata?.labels?.[COMPONENT_LABEL] !== "image") {
          return;
        }
        void this.followBuild(imageId, buildId, deleted && obj.kind === "Job").catch((err: unknown) =>
          this.logger.debug(`build ${buildId} of image ${imageId} not followed now: ${String(err)}`),
        );
      },
    },

    created(this: This) {
      this.buildState = { locks: new Map(), timer: undefined, active: false };
    },

    started(this: This) {
      const state = this.buildState;
      state.active = true;
      const builder = this.settings.builder ?? {};
      const every = (builder.recheckSeconds ?? 60) * 1000;
      const next = (delay: number) => {
        if (!state.active || delay < 0) return;
        state.timer = setTimeout(() => {
          state.timer = undefined;
          void this.recheckBuilds()
            .catch((err: unknown) => this.logger.debug(`running builds not checked now: ${String(err)}`))
            .finally(() => {
              if (every > 0) next(every);
            });
        }, delay);
        state.timer.unref();
      };
      next(builder.initialRecheckMs ?? 2000);
    },

    async stopped(this: This) {
      this.buildState.active = false;
      if (this.buildState.timer !== undefined) clearTimeout(this.buildState.timer);
      this.buildState.timer = undefined;
      await Promise.allSettled([...this.buildState.locks.values()]);
    },
  };
  return asMixin(schema);
}
