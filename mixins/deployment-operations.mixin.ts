/**
 * `DeploymentOperationsMixin()`: the day-2 actions of `v1.k8s.deployments` (docs/architecture.md, "Deployment
 * revisions"): `logs` (text, or a followed stream over REST), `events`, `pods`, `state`, `top`, `history` and
 * `rollback`, and the revisions of `create`, `update`, `scale` and `restart` (after-hooks; a create's first revision
 * is normally written already, with its Applied status, by the host's first apply: `firstRevisionChanges`). Mixed into
 * services/deployments.service.ts after its DbMixin, MembershipMixin and ReconcilerMixin; every action declares its
 * membership `permission`, and every answer about the cluster comes from `v1.kube` (its watch cache for objects; the
 * API for logs, events and metrics).
 *
 * The host service provides `namespaceOf(nsId)`, `reconcileNow(id)`, its `update` action (which `rollback` calls, so
 * validation, the replicas cap, the revision counter and the apply are the same as for any change), and `scale` and
 * `restart` (through the same path).
 *
 * Revisions: every stored change of a record (create, update, scale, restart, rollback, a change of its env values,
 * and a change of the reference its catalog image resolves to: a build, an admin update, a catalog reload) appends a
 * revision to the record's hidden `revisions` field (the last `settings.maxRevisions`, default 20): the record's
 * number, time, who (ctx.meta.userID; absent for env and image changes, which reach this service as events without
 * the caller), which fields changed, `imageReference` (what the pods pulled; a rollback does not restore it, the
 * catalog is shared), and everything a rollback restores (image, replicas, vHosts, volumes, configMap, resources,
 * restartedAt, the env values and their checksum). Secret values are stored so that a rollback restores them, but
 * never leave the service: `revisions` is stripped from every entity (responses and events), list/find/count
 * refuse queries and sorts on it, and `history` masks secret values.
 */
import type { Context, Service, ServiceSchema, ServiceSettingSchema } from "moleculer";
import { Errors } from "moleculer";
import { PassThrough, type Readable } from "node:stream";
import type { CoreV1Event, KubernetesObject, V1Deployment, V1Pod } from "@kubernetes/client-node";
import type {
  DeploymentConfigMapSpec,
  DeploymentEntity,
  DeploymentHistory,
  DeploymentPodInfo,
  DeploymentRevision,
  DeploymentRevisionSpec,
  DeploymentState,
  DeploymentStatus,
  DeploymentTop,
  EnvType,
  NamespaceEntity,
  RevisionEnvValue,
} from "../lib/entities.ts";
import { SECRET_MASK } from "../lib/entities.ts";
import { ERROR_TYPES, invalid, notFound } from "../lib/errors.ts";
import { canonicalJson, envChecksum, recordSelector } from "../lib/manifests/index.ts";
import { KeyedChain } from "../lib/keyed-chain.ts";
import { kubeListMany } from "../lib/kube/local-list.ts";
import { podInfosOf, StateAnswers } from "../lib/manifests/state.ts";
import type { CallerMeta } from "../lib/meta.ts";
import { defineParams, type ParamsIn, type ParamsOf } from "../lib/params.ts";
import type { KubeEventsResult, KubeLogsResult, KubeTopResult } from "../services/kube.service.ts";
import {
  asMixin,
  idParams,
  type DbMethods,
  type DbVars,
  type Entity,
  type IdParams,
  type MixinSchema,
  type RawDoc,
} from "./db.mixin.ts";
import { guardedRecord } from "./membership.mixin.ts";
import type { ReconcileOutcome } from "./reconciler.mixin.ts";

// ---------------------------------------------------------------------------------------------------------------
// Params and results

const id = { type: "string", empty: false, max: 64 } as const;

export const deploymentLogsParams = defineParams({
  $$strict: true,
  id,
  /** Lines per pod from the end (default 100). */
  tail: { type: "number", integer: true, min: 0, max: 100_000, optional: true, convert: true },
  /** The same as `tail` (kubectl's and v1.kube's name). */
  tailLines: { type: "number", integer: true, min: 0, max: 100_000, optional: true, convert: true },
  /** Only lines of the last `since` seconds. */
  since: { type: "number", integer: true, min: 1, max: 31_536_000, optional: true, convert: true },
  container: { type: "string", empty: false, max: 63, optional: true },
  /** The previous (crashed) instance of the container. */
  previous: { type: "boolean", optional: true, convert: true },
  /** One pod of the deployment (default: all). */
  pod: { type: "string", empty: false, max: 253, optional: true },
  /** Stream new lines until the client goes away (REST: a chunked text/plain response). */
  follow: { type: "boolean", optional: true, convert: true },
});
export type DeploymentLogsParams = ParamsOf<typeof deploymentLogsParams>;
export type DeploymentLogsInput = ParamsIn<typeof deploymentLogsParams>;
/** `logs`: the text (lines prefixed `[pod] ` when several pods), or with `follow: true` a Readable of it. */
export type DeploymentLogsResult = string | Readable;

export const deploymentRollbackParams = defineParams({
  $$strict: true,
  id,
  revision: { type: "number", integer: true, min: 1, convert: true },
});
export type DeploymentRollbackParams = ParamsOf<typeof deploymentRollbackParams>;
export type DeploymentRollbackInput = ParamsIn<typeof deploymentRollbackParams>;

/** `events`: the Kubernetes Events (as v1.kube.events gives them) of the Deployment, its ReplicaSets and pods. */
export interface DeploymentEventsResult {
  id: string;
  name: string;
  /** Newest first. */
  items: CoreV1Event[];
}

/** Error type of `logs` with `follow: true` on a deployment without pods (409). */
export const NO_PODS = "NO_PODS";

// ---------------------------------------------------------------------------------------------------------------
// Storage of revisions (in the record, field `revisions`; hidden from callers)

const REVISIONS_FIELD = "revisions";
/**
 * The stored field of a deployment that says from which image its env records were made (services/deployments.service.ts
 * `envsOwed`); hidden from callers like the revisions.
 */
export const ENVS_FROM_FIELD = "envsFrom";
const DEFAULT_MAX_REVISIONS = 20;
const DEFAULT_TAIL = 100;

/** A configMap as stored (file names may hold dots, which NeDB and MongoDB refuse as field names). */
interface StoredConfigMap {
  name: string;
  mountPath?: string;
  files: { key: string; value: string }[];
}
interface StoredSpec extends Omit<DeploymentRevisionSpec, "configMap"> {
  configMap?: StoredConfigMap;
}
interface StoredRevision {
  revision: number;
  time: string;
  who?: string;
  changes: string[];
  rolledBackFrom?: number;
  spec: StoredSpec;
}

/** The fields a revision compares and restores, in the order `changes` lists them. */
const SPEC_FIELDS = [
  "image",
  "imageReference",
  "replicas",
  "vHosts",
  "volumes",
  "configMap",
  "resources",
  "restartedAt",
  "env",
] as const;

function storeConfigMap(cm: unknown): StoredConfigMap | undefined {
  if (typeof cm !== "object" || cm === null) return undefined;
  const c = cm as { name?: unknown; mountPath?: unknown; files?: unknown; data?: unknown };
  const files: { key: string; value: string }[] = [];
  if (Array.isArray(c.files)) {
    for (const f of c.files as { key?: unknown; value?: unknown }[])
      files.push({ key: String(f.key), value: String(f.value) });
  }
  if (typeof c.data === "object" && c.data !== null) {
    for (const [key, value] of Object.entries(c.data as Record<string, unknown>))
      files.push({ key, value: String(value) });
  }
  files.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return {
    name: String(c.name),
    ...(typeof c.mountPath === "string" ? { mountPath: c.mountPath } : {}),
    files,
  };
}

function loadConfigMap(stored: StoredConfigMap | undefined): DeploymentConfigMapSpec | undefined {
  if (stored === undefined) return undefined;
  return {
    name: stored.name,
    ...(stored.mountPath === undefined ? {} : { mountPath: stored.mountPath }),
    data: Object.fromEntries(stored.files.map((f) => [f.key, f.value])),
  };
}

/** The fields of a record a revision keeps, with the env values of that time. */
function specOf(
  record: RawDoc,
  env: { values: RevisionEnvValue[]; checksum: string },
  imageReference: string | undefined,
): StoredSpec {
  const cm = storeConfigMap(record.configMap);
  return {
    image: String(record.image),
    ...(imageReference === undefined ? {} : { imageReference }),
    replicas: Number(record.replicas ?? 1),
    vHosts: Array.isArray(record.vHosts) ? (record.vHosts as string[]) : [],
    volumes: Array.isArray(record.volumes) ? (record.volumes as DeploymentRevisionSpec["volumes"]) : [],
    ...(cm === undefined ? {} : { configMap: cm }),
    ...(record.resources === undefined ? {} : { resources: record.resources as DeploymentRevisionSpec["resources"] }),
    ...(typeof record.restartedAt === "string" ? { restartedAt: record.restartedAt } : {}),
    envChecksum: env.checksum,
    env: env.values,
  };
}

/** A revision as stored: numbered, timed now, with who made it and what changed (pure but for the clock). */
function newRevision(
  revision: number,
  spec: StoredSpec,
  changes: string[],
  options: { who?: string | undefined; rolledBackFrom?: number | undefined },
): StoredRevision {
  return {
    revision,
    time: new Date().toISOString(),
    ...(options.who === undefined ? {} : { who: options.who }),
    changes,
    ...(options.rolledBackFrom === undefined ? {} : { rolledBackFrom: options.rolledBackFrom }),
    spec,
  };
}

/** The fields that differ between two revisions' specs (pure). */
export function changedFields(before: StoredSpec | undefined, after: StoredSpec): string[] {
  if (before === undefined) return ["created"];
  return SPEC_FIELDS.filter((f) =>
    f === "env"
      ? before.envChecksum !== after.envChecksum || canonicalJson(before.env) !== canonicalJson(after.env)
      : f === "imageReference"
        ? // Unknown on either side (a revision stored before the field existed, an image not readable): no change.
          before.imageReference !== undefined &&
          after.imageReference !== undefined &&
          before.imageReference !== after.imageReference
        : canonicalJson(before[f] ?? null) !== canonicalJson(after[f] ?? null),
  );
}

/** What a rollback reads the record's env values with (and needs, to restore them). */
const ENVS_FIND = "v1.k8s.envs.find";

/** Whether the record holds any revision (a record stored by a create holds none until its first apply). */
export function hasStoredRevisions(record: RawDoc): boolean {
  return storedRevisions(record).length > 0;
}

/** The env checksum of the record's newest revision: its env values as last recorded; undefined without revisions. */
export function newestEnvChecksum(record: RawDoc): string | undefined {
  return newestRevision(record)?.spec.envChecksum;
}

/** The record's newest revision (the last stored); undefined without revisions. */
function newestRevision(record: RawDoc): StoredRevision | undefined {
  return storedRevisions(record).at(-1);
}

function storedRevisions(record: RawDoc): StoredRevision[] {
  const list = record[REVISIONS_FIELD];
  return Array.isArray(list) ? (list as StoredRevision[]) : [];
}

/** A stored revision as `history` shows it: secret values masked, config files as `data`. */
function publicRevision(r: StoredRevision): DeploymentRevision {
  const { configMap, env, ...spec } = r.spec;
  const cm = loadConfigMap(configMap);
  return {
    revision: r.revision,
    time: r.time,
    ...(r.who === undefined ? {} : { who: r.who }),
    changes: r.changes,
    ...(r.rolledBackFrom === undefined ? {} : { rolledBackFrom: r.rolledBackFrom }),
    ...spec,
    ...(cm === undefined ? {} : { configMap: cm }),
    env: env.map((e) => ({ key: e.key, type: e.type, value: e.type === "secret" ? SECRET_MASK : e.value })),
  };
}

/** Whether a list/find/count query or sort names the hidden revisions (an oracle for stored secret values). */
function mentionsRevisions(value: unknown): boolean {
  if (typeof value === "string") return value.includes(REVISIONS_FIELD);
  if (Array.isArray(value)) return value.some(mentionsRevisions);
  if (typeof value !== "object" || value === null) return false;
  return Object.entries(value).some(([k, v]) => k.includes(REVISIONS_FIELD) || mentionsRevisions(v));
}

// ---------------------------------------------------------------------------------------------------------------
// Service types

export interface DeploymentOperationsSettings extends ServiceSettingSchema {
  /** How many revisions a record keeps (default 20). */
  maxRevisions?: number;
  /** A followed log ends after this many seconds at the latest (default 3600). */
  logFollowMaxSeconds?: number;
  /** The same for a caller on another node, which cannot say when its client went away (default 300). */
  logFollowRemoteMaxSeconds?: number;
  /** Milliseconds to gather env events of one record before a revision is recorded (default 150). */
  revisionDebounceMs?: number;
}

/** What the host service (services/deployments.service.ts) provides. */
interface HostMembers {
  maxReplicas: number;
  namespaceOf(nsId: string): Promise<NamespaceEntity>;
  reconcileNow(id: string): Promise<ReconcileOutcome>;
  /** The reference the pods of an image pull (the catalog image's registry/repository:tag or @digest); undefined when it cannot be read. */
  imageReferenceOf(imageId: string): Promise<string | undefined>;
  /** Whether this node is the first available deployments node by node id (the one that acts on broadcast events). */
  firstDeploymentsNode(): boolean;
  /**
   * Throws what `update` would refuse if the record took `fields` (its validation: namespace writable, image, hosts,
   * claims, quota), changing nothing. `undefined` in `fields` means the field goes.
   */
  checkUpdate(record: RawDoc, fields: Record<string, unknown>): Promise<void>;
  /** update/scale/restart (`locked`: the caller holds the record's change lock); records the revision. */
  updateDeployment(
    ctx: Ctx<unknown>,
    recordId: string,
    changes: Record<string, unknown>,
    options?: { locked?: boolean; rolledBackFrom?: number },
  ): Promise<DeploymentEntity>;
}

interface OpsVars {
  /**
   * Per record: its changes (update, scale, restart, rollback, an env change's revision) one after another, each
   * with the revision it records: concurrent ones each read the record as the one before left it.
   */
  changeLocks: KeyedChain;
  /** Per record: the chain of revision writes (one at a time). */
  revisionLocks: Map<string, Promise<void>>;
  /** Per record: the pending env-change timer. */
  revisionTimers: Map<string, NodeJS.Timeout>;
  /** Records being rolled back on this node (their env events are part of the rollback's revision). */
  rollingBack: Set<string>;
  /** Open follow streams (destroyed on stop). */
  logFollows: Set<PassThrough>;
  /** Kubernetes namespace names by namespace record id (see `namespaceNameOf`). */
  namespaceNames: Map<string, string>;
  /** The last `state` answer of each record (lib/manifests/state.ts `StateAnswers`). */
  stateAnswers: StateAnswers;
}

interface OpsMethods {
  opsRecord(ctx: Ctx<{ id: string }>): Promise<RawDoc>;
  namespaceNameOf(nsId: string): Promise<string>;
  opsLive<T extends KubernetesObject>(nsName: string, recordId: string, apiVersion: string, kind: string): Promise<T[]>;
  opsLiveKinds(
    nsName: string,
    recordId: string,
    kinds: readonly (readonly [apiVersion: string, kind: string])[],
  ): Promise<KubernetesObject[][]>;
  envSnapshot(record: RawDoc): Promise<{ values: RevisionEnvValue[]; checksum: string }>;
  recordRevision(
    recordId: string,
    options: { who?: string | undefined; rolledBackFrom?: number | undefined },
  ): Promise<boolean>;
  revisionBehind(record: RawDoc, envChecksum: string, imageReference: string | undefined): boolean;
  withRevisionLock(recordId: string, fn: () => Promise<void>): Promise<void>;
  withChangeLock<T>(recordId: string, fn: () => Promise<T>): Promise<T>;
  specNow(record: RawDoc): Promise<StoredSpec>;
  firstRevisionChanges(record: RawDoc, who: string | undefined): Promise<Record<string, unknown>>;
  scheduleEnvRevision(recordId: string): void;
  restoreEnv(record: RawDoc, nsName: string, env: RevisionEnvValue[]): Promise<void>;
  followLogs(
    ctx: Ctx<DeploymentLogsParams>,
    nsName: string,
    pods: V1Pod[],
    container: string | undefined,
  ): Promise<Readable>;
}

type OpsThis = Service<DeploymentOperationsSettings> & OpsVars & OpsMethods & DbMethods & DbVars & HostMembers;
type Ctx<P> = Context<P, CallerMeta & { rolledBackFrom?: number; $responseType?: string }>;

function byName(a: KubernetesObject, b: KubernetesObject): number {
  const x = a.metadata?.name ?? "";
  const y = b.metadata?.name ?? "";
  return x < y ? -1 : x > y ? 1 : 0;
}

function isTerminating(pod: KubernetesObject): boolean {
  return pod.metadata?.deletionTimestamp !== undefined && pod.metadata.deletionTimestamp !== null;
}

/** Prefixes every line of `text` (a trailing newline kept). */
export function prefixLines(text: string, prefix: string): string {
  if (text === "" || prefix === "") return text;
  const body = text.endsWith("\n") ? text.slice(0, -1) : text;
  return `${body
    .split("\n")
    .map((l) => `${prefix}${l}`)
    .join("\n")}\n`;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** 404 naming the field `pod`: a pod that is not one of the deployment's (now). */
function podNotFound(deployment: string, pod: string): Errors.MoleculerClientError {
  return new Errors.MoleculerClientError(
    `pod '${pod}' not found among the pods of deployment '${deployment}'`,
    404,
    ERROR_TYPES.NOT_FOUND,
    { what: "pod", id: pod, field: "pod" },
  );
}

function noPods(name: string, status: DeploymentStatus | undefined, desired: number): Errors.MoleculerClientError {
  const phase = status?.phase ?? "Pending";
  return new Errors.MoleculerClientError(
    `deployment '${name}' has no pods to follow (phase ${phase}, ${desired} replicas desired)`,
    409,
    NO_PODS,
    { field: "follow", phase, replicas: desired },
  );
}

// ---------------------------------------------------------------------------------------------------------------
// The mixin

/** The day-2 actions of v1.k8s.deployments (see the file header). */
export function DeploymentOperationsMixin(): MixinSchema {
  /** `logs`, `pods` and `events` (the reads that talk to the cluster's API rather than only its cache). */
  const clusterReads: NonNullable<
    ServiceSchema<DeploymentOperationsSettings, OpsMethods, OpsVars, OpsThis>["actions"]
  > = {
    /** Recent log lines of the deployment's pods (each line prefixed `[pod] ` when several), or with `follow` a text stream until the client goes away. REST: GET /:id/logs @throws NOT_FOUND, FORBIDDEN, VALIDATION_ERROR (pod, container), NO_PODS (409, follow without pods), K8S_INVALID, K8S_UNAVAILABLE */
    logs: {
      rest: "GET /:id/logs",
      // Lines of text (chunked while following), not JSON.
      openapi: { contentType: "text/plain" },
      permission: "read",
      guardedReadOnly: true,
      params: deploymentLogsParams,
      async handler(this: OpsThis, ctx: Ctx<DeploymentLogsParams>): Promise<DeploymentLogsResult> {
        const p = ctx.params;
        const record = await this.opsRecord(ctx);
        const nsName = await this.namespaceNameOf(String(record.namespace));
        const all = (await this.opsLive<V1Pod>(nsName, record._id, "v1", "Pod")).sort(byName);
        let pods = all;
        if (p.pod !== undefined) {
          const one = all.find((x) => x.metadata?.name === p.pod);
          if (one === undefined) {
            throw podNotFound(String(record.name), p.pod);
          }
          pods = [one];
        }
        if (p.container !== undefined) {
          const names = new Set(pods.flatMap((x) => (x.spec?.containers ?? []).map((c) => c.name)));
          if (pods.length > 0 && !names.has(p.container)) {
            throw invalid(
              "container",
              `The 'container' field must be one of ${[...names].join(", ")}; '${p.container}' is none.`,
              "containerNotInPod",
              p.container,
            );
          }
        }
        if (p.follow === true) {
          const live = pods.filter((x) => !isTerminating(x));
          if (live.length === 0) {
            throw noPods(String(record.name), record.status as DeploymentStatus | undefined, Number(record.replicas));
          }
          ctx.meta.$responseType = "text/plain; charset=utf-8";
          return this.followLogs(ctx, nsName, live, p.container);
        }
        const several = pods.length > 1;
        const texts = await Promise.all(
          pods.map(async (pod) => {
            const name = pod.metadata?.name ?? "";
            const container = p.container ?? pod.spec?.containers?.[0]?.name;
            try {
              const text = await this.broker.call<KubeLogsResult, Record<string, unknown>>("v1.kube.logs", {
                namespace: nsName,
                pod: name,
                ...(container === undefined ? {} : { container }),
                tailLines: p.tail ?? p.tailLines ?? DEFAULT_TAIL,
                ...(p.since === undefined ? {} : { sinceSeconds: p.since }),
                ...(p.previous === undefined ? {} : { previous: p.previous }),
              });
              return prefixLines(typeof text === "string" ? text : "", several ? `[${name}] ` : "");
            } catch (err) {
              // One pod without a log (waiting to start, no previous instance) does not hide the others.
              if (!several) throw err;
              return `[${name}] (no log: ${errorMessage(err)})\n`;
            }
          }),
        );
        ctx.meta.$responseType = "text/plain; charset=utf-8";
        return texts.join("");
      },
    },

    /** The Kubernetes Events of the deployment, its ReplicaSets and its pods, newest first. REST: GET /:id/events @throws NOT_FOUND, FORBIDDEN, K8S_UNAVAILABLE */
    events: {
      rest: "GET /:id/events",
      permission: "read",
      guardedReadOnly: true,
      params: idParams,
      async handler(this: OpsThis, ctx: Ctx<IdParams>): Promise<DeploymentEventsResult> {
        const record = await this.opsRecord(ctx);
        const nsName = await this.namespaceNameOf(String(record.namespace));
        const name = String(record.name);
        const [[deps = [], sets = [], pods = []], events] = await Promise.all([
          this.opsLiveKinds(nsName, record._id, [
            ["apps/v1", "Deployment"],
            ["apps/v1", "ReplicaSet"],
            ["v1", "Pod"],
          ]),
          this.broker.call<KubeEventsResult, { namespace: string }>("v1.kube.events", { namespace: nsName }),
        ]);
        const uids = new Set([...deps, ...sets, ...pods].map((o) => o.metadata?.uid).filter(Boolean));
        const setNames = new Set(sets.map((o) => o.metadata?.name ?? ""));
        const podNames = new Set(pods.map((o) => o.metadata?.name ?? ""));
        // Objects gone since (old ReplicaSets and pods of earlier rollouts) are matched by their generated names.
        const setPattern = new RegExp(`^${name}-[a-z0-9]{1,10}$`);
        const podPattern = new RegExp(`^${name}-[a-z0-9]{1,10}-[a-z0-9]{5}$`);
        const mine = (ev: CoreV1Event): boolean => {
          const o = ev.involvedObject;
          if (o.uid !== undefined && uids.has(o.uid)) return true;
          const n = o.name ?? "";
          switch (o.kind) {
            case "Deployment":
              return n === name;
            case "ReplicaSet":
              return setNames.has(n) || setPattern.test(n);
            case "Pod":
              return podNames.has(n) || podPattern.test(n);
            default:
              return false;
          }
        };
        const items = events.items.filter(mine);
        return { id: record._id, name, items };
      },
    },

    /** Each pod of the deployment: phase, ready, restarts, node, start time and container states with reasons (ImagePullBackOff, CrashLoopBackOff), from the watch cache. REST: GET /:id/pods @throws NOT_FOUND, FORBIDDEN, K8S_UNAVAILABLE */
    pods: {
      rest: "GET /:id/pods",
      permission: "read",
      guardedReadOnly: true,
      params: idParams,
      async handler(this: OpsThis, ctx: Ctx<IdParams>): Promise<DeploymentPodInfo[]> {
        const record = await this.opsRecord(ctx);
        const nsName = await this.namespaceNameOf(String(record.namespace));
        return podInfosOf(await this.opsLive<V1Pod>(nsName, record._id, "v1", "Pod"));
      },
    },
  };

  const schema: ServiceSchema<DeploymentOperationsSettings, OpsMethods, OpsVars, OpsThis> = {
    name: "",
    settings: {},

    hooks: {
      before: {
        list: "refuseRevisionQueries",
        find: "refuseRevisionQueries",
        count: "refuseRevisionQueries",
      },
      after: {
        async create(this: OpsThis, ctx: Ctx<unknown>, res: Entity) {
          await this.recordRevision(res.id, { who: ctx.meta.userID });
          return res;
        },
        async createDeployment(this: OpsThis, ctx: Ctx<unknown>, res: Entity) {
          await this.recordRevision(res.id, { who: ctx.meta.userID });
          return res;
        },
        // update, scale and restart record theirs in `updateDeployment`, under the record's change lock.
      },
    },

    actions: {
      ...clusterReads,
      /** One dashboard summary from the watch cache: desired/updated/ready/available replicas, conditions, pod states, the last failure reason, whether a rollout is in progress, the revision; frozen (one answer is shared while nothing changes). REST: GET /:id/state @throws NOT_FOUND, FORBIDDEN, K8S_UNAVAILABLE */
      state: {
        rest: "GET /:id/state",
        permission: "read",
        guardedReadOnly: true,
        params: idParams,
        async handler(this: OpsThis, ctx: Ctx<IdParams>): Promise<DeploymentState> {
          const record = await this.opsRecord(ctx);
          const nsName = await this.namespaceNameOf(String(record.namespace));
          const [deps = [], pods = []] = (await this.opsLiveKinds(nsName, record._id, [
            ["apps/v1", "Deployment"],
            ["v1", "Pod"],
          ])) as [V1Deployment[], V1Pod[]];
          const status = record.status as DeploymentStatus | undefined;
          const input = {
            id: record._id,
            name: String(record.name),
            namespace: nsName,
            revision: Number(record.revision ?? 1),
            desired: Number(record.replicas ?? 1),
            phase: status?.phase ?? "Pending",
          };
          // The same answer object again while the record's values and the cached objects are the same ones.
          return this.stateAnswers.answer(record, input, deps[0], pods);
        },
      },

      /** CPU (millicores) and memory (MiB) per pod and in total, from the metrics API. REST: GET /:id/top @throws NOT_FOUND, FORBIDDEN, K8S_UNSUPPORTED (501, no metrics API), K8S_UNAVAILABLE */
      top: {
        rest: "GET /:id/top",
        permission: "read",
        guardedReadOnly: true,
        params: idParams,
        async handler(this: OpsThis, ctx: Ctx<IdParams>): Promise<DeploymentTop> {
          const record = await this.opsRecord(ctx);
          const nsName = await this.namespaceNameOf(String(record.namespace));
          const usage = await this.broker.call<KubeTopResult, Record<string, string>>("v1.kube.top", {
            namespace: nsName,
            labelSelector: recordSelector("deployment", record._id),
          });
          return {
            id: record._id,
            name: String(record.name),
            pods: usage.pods.map((p) => ({
              name: p.name,
              cpu: p.cpuMillicores,
              memory: p.memoryMi,
              containers: p.containers.map((c) => ({ name: c.name, cpu: c.cpuMillicores, memory: c.memoryMi })),
            })),
            total: { cpu: usage.totals.cpuMillicores, memory: usage.totals.memoryMi },
          };
        },
      },

      /** The deployment's revisions, newest first: number, time, who, what changed, and what each holds (secret env values masked). REST: GET /:id/history @throws NOT_FOUND, FORBIDDEN */
      history: {
        rest: "GET /:id/history",
        permission: "read",
        guardedFields: [REVISIONS_FIELD],
        params: idParams,
        async handler(this: OpsThis, ctx: Ctx<IdParams>): Promise<DeploymentHistory> {
          const record = await this.opsRecord(ctx);
          return {
            id: record._id,
            name: String(record.name),
            revision: Number(record.revision ?? 1),
            kept: this.settings.maxRevisions ?? DEFAULT_MAX_REVISIONS,
            items: storedRevisions(record).map(publicRevision).reverse(),
          };
        },
      },

      /** Restores a revision as a whole — image, replicas, vHosts, volumes, configMap, resources and the env values — and applies it as a new revision whose `rolledBackFrom` names it. REST: POST /:id/rollback @throws NOT_FOUND, FORBIDDEN, VALIDATION_ERROR (revision), NAMESPACE_LOCKED, K8S_INVALID, K8S_FORBIDDEN, SERVICE_UNAVAILABLE (env values to restore, no envs service) */
      rollback: {
        rest: "POST /:id/rollback",
        permission: "write",
        guardedFields: [REVISIONS_FIELD],
        params: deploymentRollbackParams,
        async handler(this: OpsThis, ctx: Ctx<DeploymentRollbackParams>): Promise<DeploymentEntity> {
          const guarded = await this.opsRecord(ctx);
          // One change of the record at a time: the env values restored and the update are this rollback's alone.
          return this.withChangeLock(guarded._id, async () => {
            const record = (await this.findRawById(guarded._id)) ?? guarded;
            const revisions = storedRevisions(record);
            const target = revisions.find((r) => r.revision === ctx.params.revision);
            if (target === undefined) {
              const kept = revisions.map((r) => r.revision);
              const range = kept.length === 0 ? "none" : `${Math.min(...kept)}..${Math.max(...kept)}`;
              throw invalid(
                "revision",
                `The 'revision' field must name a kept revision of deployment '${String(record.name)}' (kept: ${range}); ${ctx.params.revision} is none.`,
                "revisionNotFound",
                ctx.params.revision,
              );
            }
            const nsName = await this.namespaceNameOf(String(record.namespace));
            const spec = target.spec;
            // Env values to restore need the envs service: without it the rollback is refused before anything changes
            // (retryable), rather than restoring the rest and not them.
            if (
              spec.envChecksum !== newestEnvChecksum(record) &&
              !this.broker.registry.actions.isAvailable(ENVS_FIND)
            ) {
              throw new Errors.ServiceNotAvailableError({ action: ENVS_FIND });
            }
            const cm = loadConfigMap(spec.configMap);
            // What the update below would refuse (a host another deployment took since, a volume removed since, a quota
            // lowered since) is refused before anything changes: the env values are restored first, and a refusal
            // after them would leave them restored, recorded and rolled out with the rest not.
            await this.checkUpdate(record, {
              image: spec.image,
              replicas: spec.replicas,
              vHosts: spec.vHosts,
              volumes: spec.volumes,
              configMap: cm,
              resources: spec.resources,
            });
            this.rollingBack.add(record._id);
            try {
              await this.restoreEnv(record, nsName, spec.env);
              // Fields the old revision did not have: the update action cannot unset them.
              const unset: Record<string, undefined> = {};
              if (spec.configMap === undefined && record.configMap !== undefined) unset.configMap = undefined;
              if (spec.resources === undefined && record.resources !== undefined) unset.resources = undefined;
              if (Object.keys(unset).length > 0) await this.updateEntity(null, record._id, unset);
              // Records the revision too (an env-only rollback's as well: nothing else differs, the env values do).
              return await this.updateDeployment(
                ctx,
                record._id,
                {
                  image: spec.image,
                  replicas: spec.replicas,
                  vHosts: spec.vHosts,
                  volumes: spec.volumes,
                  ...(cm === undefined ? {} : { configMap: cm }),
                  ...(spec.resources === undefined ? {} : { resources: spec.resources }),
                },
                { locked: true, rolledBackFrom: target.revision },
              );
            } finally {
              this.rollingBack.delete(record._id);
            }
          });
        },
      },
    },

    events: {
      "k8s.envs.created"(this: OpsThis, ctx: Context<{ deployment?: string }>) {
        if (typeof ctx.params.deployment === "string") this.scheduleEnvRevision(ctx.params.deployment);
      },
      "k8s.envs.updated"(this: OpsThis, ctx: Context<{ deployment?: string }>) {
        if (typeof ctx.params.deployment === "string") this.scheduleEnvRevision(ctx.params.deployment);
      },
      "k8s.envs.removed"(this: OpsThis, ctx: Context<{ deployment?: string }>) {
        if (typeof ctx.params.deployment === "string") this.scheduleEnvRevision(ctx.params.deployment);
      },
      "k8s.namespaces.removed"(this: OpsThis, ctx: Context<{ id?: string }>) {
        if (typeof ctx.params.id === "string") this.namespaceNames.delete(ctx.params.id);
      },
    },

    methods: {
      /** list/find/count: a query or sort on `revisions` would reveal stored secret values (422). */
      refuseRevisionQueries(this: OpsThis, ctx: Context<{ query?: unknown; sort?: unknown }>): void {
        for (const field of ["query", "sort"] as const) {
          if (mentionsRevisions(ctx.params[field])) {
            throw invalid(field, `The '${field}' field may not refer to '${REVISIONS_FIELD}'.`, "forbiddenField");
          }
        }
      },

      /** The record the membership guard loaded (or, for trusted callers, read now); 404 when missing. */
      async opsRecord(this: OpsThis, ctx: Ctx<{ id: string }>): Promise<RawDoc> {
        const record = guardedRecord(ctx) ?? (await this.findRawById(ctx.params.id));
        if (record === null) throw notFound("deployment", ctx.params.id);
        return record;
      },

      /**
       * The Kubernetes name of a namespace record, remembered: a namespace's name cannot change (its update refuses
       * `name`), so the reads below (state, pods, events, logs, top) skip a `v1.k8s.namespaces.get` per call. A removed
       * namespace is forgotten; a name taken again later belongs to a new record with a new id.
       */
      async namespaceNameOf(this: OpsThis, nsId: string): Promise<string> {
        const known = this.namespaceNames.get(nsId);
        if (known !== undefined) return known;
        const { name } = await this.namespaceOf(nsId);
        this.namespaceNames.set(nsId, name);
        return name;
      },

      /** The record's live objects of one kind, from v1.kube's watch cache (`opsLiveKinds` with one kind). */
      async opsLive<T extends KubernetesObject>(
        this: OpsThis,
        nsName: string,
        recordId: string,
        apiVersion: string,
        kind: string,
      ): Promise<T[]> {
        const [items = []] = await this.opsLiveKinds(nsName, recordId, [[apiVersion, kind]]);
        return items as T[];
      },

      /**
       * The record's live objects of several kinds, one list per kind in the order asked (lib/kube/local-list.ts: the
       * watch cache of v1.kube on this node when it can answer them all, ~5 µs of a 70 µs `state` less, else one
       * `v1.kube.listMany` call).
       */
      async opsLiveKinds(
        this: OpsThis,
        nsName: string,
        recordId: string,
        kinds: readonly (readonly [apiVersion: string, kind: string])[],
      ): Promise<KubernetesObject[][]> {
        const labelSelector = recordSelector("deployment", recordId);
        const lists = kinds.map(([apiVersion, kind]) => ({ apiVersion, kind, namespace: nsName, labelSelector }));
        return kubeListMany(this.broker, lists);
      },

      /**
       * The record's env values now (secret values included: internal) and their checksum. Without an envs service to
       * ask, those of its newest revision (unchanged as far as this node can tell; a revision recorded meanwhile must
       * not claim that the values went), or none.
       */
      async envSnapshot(this: OpsThis, record: RawDoc): Promise<{ values: RevisionEnvValue[]; checksum: string }> {
        if (!this.broker.registry.actions.isAvailable("v1.k8s.envs.render")) {
          const newest = newestRevision(record)?.spec;
          return newest === undefined
            ? { values: [], checksum: envChecksum({}, {}) }
            : { values: newest.env, checksum: newest.envChecksum };
        }
        const recordId = record._id;
        const res = await this.broker.call<
          { objects: [{ data?: Record<string, string> }, { data?: Record<string, string> }]; checksum: string },
          { deployment: string }
        >("v1.k8s.envs.render", { deployment: recordId });
        const plain = res.objects[0].data ?? {};
        const secretB64 = res.objects[1].data ?? {};
        const secret = Object.fromEntries(
          Object.entries(secretB64).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")]),
        );
        const values: RevisionEnvValue[] = [
          ...Object.entries(plain).map(([key, value]) => ({ key, type: "plain" as EnvType, value })),
          ...Object.entries(secret).map(([key, value]) => ({ key, type: "secret" as EnvType, value })),
        ].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
        return { values, checksum: envChecksum(plain, secret) };
      },

      /** Runs the changes of one record one after another (this node): see `changeLocks`. */
      withChangeLock<T>(this: OpsThis, recordId: string, fn: () => Promise<T>): Promise<T> {
        return this.changeLocks.run(recordId, fn);
      },

      /** Runs revision writes of one record one after another (this node). */
      async withRevisionLock(this: OpsThis, recordId: string, fn: () => Promise<void>): Promise<void> {
        const previous = this.revisionLocks.get(recordId) ?? Promise.resolve();
        const next = previous.then(fn, fn);
        const settled = next.catch(() => undefined);
        this.revisionLocks.set(recordId, settled);
        try {
          await next;
        } finally {
          if (this.revisionLocks.get(recordId) === settled) this.revisionLocks.delete(recordId);
        }
      },

      /**
       * Appends the revision of the record as stored now. Its number is the record's revision (the host counts create,
       * update, scale and restart); a change the host did not count (env values) raises the record's revision by one
       * and applies the record again (the Deployment carries its revision). Nothing a revision keeps changed: nothing
       * is written (the `who` of a create whose env events came first is filled in). Never throws: a revision that
       * cannot be recorded is logged (the change itself stands). True when it raised the revision and applied the
       * record.
       */
      async recordRevision(
        this: OpsThis,
        recordId: string,
        options: { who?: string | undefined; rolledBackFrom?: number | undefined },
      ): Promise<boolean> {
        let reapply = false;
        await this.withRevisionLock(recordId, async () => {
          const record = await this.findRawById(recordId);
          if (record === null) return;
          const spec = await this.specNow(record);
          const revisions = storedRevisions(record);
          const last = revisions[revisions.length - 1];
          const stored = Number(record.revision ?? 1);
          const changes: Record<string, unknown> = {};
          let number = stored;
          if (last !== undefined && last.revision >= stored) {
            if (changedFields(last.spec, spec).length === 0) {
              if (last.who !== undefined || options.who === undefined || last.revision !== stored) return;
              changes[REVISIONS_FIELD] = [...revisions.slice(0, -1), { ...last, who: options.who }];
              await this.updateEntity(null, recordId, changes);
              return;
            }
            number = last.revision + 1;
            changes.revision = number;
          }
          const entry = newRevision(number, spec, changedFields(last?.spec, spec), options);
          const max = Math.max(1, this.settings.maxRevisions ?? DEFAULT_MAX_REVISIONS);
          changes[REVISIONS_FIELD] = [...revisions, entry].slice(-max);
          await this.updateEntity(null, recordId, changes);
          reapply = changes.revision !== undefined;
        }).catch((err: unknown) => {
          this.logger.warn(`revision of deployment ${recordId} not recorded: ${errorMessage(err)}`);
        });
        // Applied after the lock is released: the host's first apply of a record being created takes the same lock
        // (it stores the first revision), so applying under it could wait for itself.
        if (reapply) await this.reconcileNow(recordId);
        return reapply;
      },

      /**
       * Whether the record's newest revision is behind the record as it renders now (`envChecksum`, `imageReference`:
       * what the render read): env values or an image reference that no revision holds, or a record revision that none
       * does. That is a change whose revision was never written: its event was lost, or its node stopped before the
       * debounce or after-hook that writes it. False while this node has that revision coming (a pending env timer, a
       * rollback), and for a record without revisions (a create's first revision is written by its first apply).
       */
      revisionBehind(this: OpsThis, record: RawDoc, envChecksum: string, imageReference: string | undefined): boolean {
        const last = newestRevision(record);
        if (last === undefined || this.rollingBack.has(record._id) || this.revisionTimers.has(record._id)) return false;
        if (last.revision < Number(record.revision ?? 1)) return true;
        if (last.spec.envChecksum !== envChecksum) return true;
        // Unknown on either side: no change (as changedFields).
        return (
          last.spec.imageReference !== undefined &&
          imageReference !== undefined &&
          last.spec.imageReference !== imageReference
        );
      },

      /** What a revision of the record would keep now: its fields, its env values now, its image's reference now. */
      async specNow(this: OpsThis, record: RawDoc): Promise<StoredSpec> {
        const [env, imageReference] = await Promise.all([
          this.envSnapshot(record),
          this.imageReferenceOf(String(record.image)),
        ]);
        return specOf(record, env, imageReference);
      },

      /**
       * The changes that store a record's first revision, for the write that marks a new record applied (one write
       * where the create's after-hook would make a second; that hook then finds the revision recorded and writes
       * nothing); {} when the record holds a revision already. Call under `withRevisionLock`.
       */
      async firstRevisionChanges(
        this: OpsThis,
        record: RawDoc,
        who: string | undefined,
      ): Promise<Record<string, unknown>> {
        if (hasStoredRevisions(record)) return {};
        const spec = await this.specNow(record);
        return {
          [REVISIONS_FIELD]: [newRevision(Number(record.revision ?? 1), spec, changedFields(undefined, spec), { who })],
        };
      },

      /** Env events come in bursts: gather them, then record one revision if the values changed (not during a rollback). */
      scheduleEnvRevision(this: OpsThis, recordId: string): void {
        const existing = this.revisionTimers.get(recordId);
        if (existing !== undefined) clearTimeout(existing);
        const timer = setTimeout(() => {
          this.revisionTimers.delete(recordId);
          if (this.rollingBack.has(recordId)) {
            this.scheduleEnvRevision(recordId);
            return;
          }
          // Env events are broadcast to every node: one of them (the first by node id) records the revision.
          if (this.firstDeploymentsNode()) {
            void this.withChangeLock(recordId, () => this.recordRevision(recordId, {}));
          }
        }, this.settings.revisionDebounceMs ?? 150);
        this.revisionTimers.set(recordId, timer);
      },

      /** Makes the record's env values those of `env` (internal calls to v1.k8s.envs): creates, updates, removes. */
      async restoreEnv(this: OpsThis, record: RawDoc, _nsName: string, env: RevisionEnvValue[]): Promise<void> {
        // No envs service: the rollback checked that the values need no change.
        if (!this.broker.registry.actions.isAvailable(ENVS_FIND)) return;
        const current = await this.broker.call<{ id: string; key: string; type: EnvType }[], Record<string, unknown>>(
          ENVS_FIND,
          { query: { deployment: record._id }, fields: ["id", "key", "type"] },
        );
        const wanted = new Map(env.map((e) => [e.key, e]));
        for (const c of current) {
          if (!wanted.has(c.key)) await this.broker.call("v1.k8s.envs.remove", { id: c.id });
        }
        for (const e of env) {
          const have = current.find((c) => c.key === e.key);
          if (have === undefined) {
            await this.broker.call("v1.k8s.envs.create", {
              namespace: String(record.namespace),
              deployment: record._id,
              key: e.key,
              type: e.type,
              value: e.value,
            });
          } else {
            await this.broker.call("v1.k8s.envs.update", { id: have.id, type: e.type, value: e.value });
          }
        }
      },

      /** One text stream of the pods' followed logs (lines prefixed `[pod] ` when several); ends when all end. */
      async followLogs(
        this: OpsThis,
        ctx: Ctx<DeploymentLogsParams>,
        nsName: string,
        pods: V1Pod[],
        container: string | undefined,
      ): Promise<Readable> {
        const p = ctx.params;
        const tail = p.tail ?? p.tailLines;
        // A caller on another node (a gateway over NATS) cannot tell this node that its client went away: such a
        // follow ends after logFollowRemoteMaxSeconds at the latest (the client reconnects).
        const remote = ctx.nodeID !== undefined && ctx.nodeID !== null && ctx.nodeID !== this.broker.nodeID;
        const maxSeconds = remote
          ? (this.settings.logFollowRemoteMaxSeconds ?? 300)
          : (this.settings.logFollowMaxSeconds ?? 3600);
        const several = pods.length > 1;
        const opened = await Promise.allSettled(
          pods.map((pod) =>
            this.broker.call<KubeLogsResult, Record<string, unknown>>("v1.kube.logs", {
              namespace: nsName,
              pod: pod.metadata?.name ?? "",
              container: container ?? pod.spec?.containers?.[0]?.name ?? "",
              follow: true,
              maxSeconds,
              ...(tail === undefined ? {} : { tailLines: tail }),
              ...(p.since === undefined ? {} : { sinceSeconds: p.since }),
            }),
          ),
        );
        const sources: Readable[] = [];
        const failures: string[] = [];
        opened.forEach((o, i) => {
          const name = pods[i]?.metadata?.name ?? "";
          if (o.status === "fulfilled" && typeof o.value !== "string") sources.push(o.value);
          else if (o.status === "rejected") failures.push(`[${name}] (no log: ${errorMessage(o.reason)})\n`);
        });
        if (sources.length === 0) {
          const first = opened.find((o) => o.status === "rejected");
          throw first?.reason ?? noPods(String(p.id), undefined, 0);
        }
        const out = new PassThrough();
        this.logFollows.add(out);
        for (const line of failures) out.write(line);
        let open = sources.length;
        const sourceEnded = (): void => {
          open -= 1;
          if (open === 0 && !out.destroyed) out.end();
        };
        sources.forEach((source, i) => {
          const prefix = several ? `[${pods[i]?.metadata?.name ?? ""}] ` : "";
          let partial = "";
          let done = false;
          const finish = (): void => {
            if (done) return;
            done = true;
            if (partial !== "" && !out.destroyed) out.write(`${prefix}${partial}\n`);
            partial = "";
            sourceEnded();
          };
          source.on("data", (chunk: Buffer | string) => {
            if (out.destroyed) return;
            const text = partial + (typeof chunk === "string" ? chunk : chunk.toString("utf8"));
            const cut = text.lastIndexOf("\n");
            if (cut === -1) {
              partial = text;
              return;
            }
            partial = text.slice(cut + 1);
            out.write(prefixLines(text.slice(0, cut + 1), prefix));
          });
          source.on("end", finish);
          source.on("close", finish);
          source.on("error", finish);
        });
        // The client went away (the gateway destroys the stream) or the service stops: close every pod's follow.
        out.on("close", () => {
          this.logFollows.delete(out);
          for (const source of sources) source.destroy();
        });
        return out;
      },
    },

    created(this: OpsThis) {
      this.revisionLocks = new Map();
      this.changeLocks = new KeyedChain();
      this.revisionTimers = new Map();
      this.rollingBack = new Set();
      this.logFollows = new Set();
      this.namespaceNames = new Map();
      this.stateAnswers = new StateAnswers();
      // Revisions hold secret values, `envsFrom` is bookkeeping: strip both from every entity that leaves the service
      // (responses and events).
      const base = this.publicEntity.bind(this);
      this.publicEntity = (entity: Entity): Entity => {
        const shown = base(entity);
        if (!Object.hasOwn(shown, REVISIONS_FIELD) && !Object.hasOwn(shown, ENVS_FROM_FIELD)) return shown;
        // A loop, not an object rest with a computed key (several times slower: this runs for every entity sent).
        const out: Record<string, unknown> = {};
        for (const key of Object.keys(shown)) {
          if (key !== REVISIONS_FIELD && key !== ENVS_FROM_FIELD) out[key] = shown[key];
        }
        return out as Entity;
      };
    },

    stopped(this: OpsThis) {
      for (const timer of this.revisionTimers.values()) clearTimeout(timer);
      this.revisionTimers.clear();
      for (const out of this.logFollows) out.destroy();
      this.logFollows.clear();
    },
  };
  return asMixin(schema);
}
