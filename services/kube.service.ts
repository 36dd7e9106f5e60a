/**
 * v1.kube: the only code that talks to the cluster (docs/architecture.md). Other services call it; the gateway never
 * does (every action is `visibility: "public"`: callable by services, not published over REST).
 *
 * - Writes are server-side apply (lib/kube/apply.ts) with the caller's field manager, through a write limiter
 *   (KUBE_QPS / KUBE_BURST / KUBE_MAX_INFLIGHT, lib/kube/limiter.ts).
 * - Informers (lib/kube/informers.ts) keep a cache of the objects the suite manages and broadcast
 *   `kube.<plural>.added|modified|deleted` with the object (Secret data stripped; managedFields left out, as kubectl does).
 *   A failing watch emits `kube.watch.failed` and is retried (1 s → 30 s). While the API server is unreachable it is
 *   probed every second (`recoveryProbeMs`); once it answers, the watches restart at once and `kube.cluster.available`
 *   `{ server, downMs }` is broadcast (reconcilers retry their queue on it).
 * - Errors are mapped in one place (lib/kube/errors.ts): an unreachable cluster is a retryable 503.
 */
import type { Context, Service, ServiceSchema, ServiceSettingSchema } from "moleculer";
import { PassThrough, type Readable } from "node:stream";
import {
  CoreV1Api,
  VersionApi,
  type KubeConfig,
  type CoreV1Event,
  type KubernetesObject,
  type PodMetric,
  type V1Pod,
} from "@kubernetes/client-node";
import { Errors } from "moleculer";
import { defineParams, type ParamsIn, type ParamsOf } from "../lib/params.ts";
import { ERROR_TYPES, hasCode, invalid, unavailable } from "../lib/errors.ts";
import { loadCluster, type Cluster, type ClusterSource } from "../lib/kube/config.ts";
import { podLogStream } from "../lib/kube/http.ts";
import { applyObjects } from "../lib/kube/apply.ts";
import { ObjectApi } from "../lib/kube/object-api.ts";
import { kubeError } from "../lib/kube/errors.ts";
import { plainCopy } from "../lib/kube/plain.ts";
import { Informers, type ChangeType, type WatchedKind } from "../lib/kube/informers.ts";
import { MANAGED_BY, MANAGED_BY_LABEL } from "../lib/manifests/labels.ts";
import { WriteLimiter, limitsFromEnv, type LimiterOptions } from "../lib/kube/limiter.ts";
import { cpuMillicores, memoryBytes, toMi } from "../lib/kube/quantity.ts";
import { parseLabelSelector } from "../lib/kube/selector.ts";
import type { SandboxOptions } from "../lib/sandbox/index.ts";

// ---------------------------------------------------------------------------------------------------------------
// Params and results

const API_VERSION = { type: "string", min: 1, max: 253 } as const;
const KIND = { type: "string", min: 1, max: 63, pattern: /^[A-Za-z][A-Za-z0-9]*$/ } as const;
/** No upper case: client-node lower-cases request paths, so "Web" would address "web". */
const NAME = { type: "string", min: 1, max: 253, pattern: /^[^A-Z/]+$/ } as const;
const NAMESPACE = { type: "string", min: 1, max: 63, pattern: /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/ } as const;
const OPTIONAL_NAMESPACE = { ...NAMESPACE, optional: true } as const;
const SELECTOR = { type: "string", optional: true, max: 2048 } as const;

export const kubeApplyParams = defineParams({
  $$strict: true,
  objects: { type: "array", items: { type: "object" }, min: 1, max: 1000 },
  fieldManager: { type: "string", min: 1, max: 128, pattern: /^[A-Za-z0-9][-A-Za-z0-9_.:]*$/ },
  force: { type: "boolean", optional: true },
  dryRun: { type: "boolean", optional: true },
});
export type KubeApplyParams = ParamsOf<typeof kubeApplyParams>;
/** What a caller sends: the objects as rendered (client-node `V1*` models are KubernetesObjects). */
export type KubeApplyInput = Omit<ParamsIn<typeof kubeApplyParams>, "objects"> & {
  objects: readonly KubernetesObject[];
};
export interface KubeApplyResult {
  objects: KubernetesObject[];
}

export const kubeGetParams = defineParams({
  $$strict: true,
  apiVersion: API_VERSION,
  kind: KIND,
  namespace: OPTIONAL_NAMESPACE,
  name: NAME,
});
export type KubeGetParams = ParamsOf<typeof kubeGetParams>;
export type KubeGetInput = ParamsIn<typeof kubeGetParams>;

/** What one list names: `list`'s params, and each entry of `listMany`'s. */
const listFields = {
  apiVersion: API_VERSION,
  kind: KIND,
  namespace: OPTIONAL_NAMESPACE,
  labelSelector: SELECTOR,
  fieldSelector: SELECTOR,
} as const;
export const kubeListParams = defineParams({ $$strict: true, ...listFields });
export type KubeListParams = ParamsOf<typeof kubeListParams>;
export type KubeListInput = ParamsIn<typeof kubeListParams>;
export interface KubeListResult {
  /** Plain JSON objects; a cached answer's are the watch cache's own, frozen (shared by all readers: copy to change). */
  items: KubernetesObject[];
  /** True when served from the informer cache (the selector required the managed-by label of a watched kind). */
  cached: boolean;
}

/** Several lists in one call (one broker round trip instead of one per kind: `state` reads a record's Deployment and pods). */
export const kubeListManyParams = defineParams({
  $$strict: true,
  lists: {
    type: "array",
    min: 1,
    max: 16,
    items: {
      type: "object",
      strict: true,
      props: listFields,
    },
  },
});
export type KubeListManyParams = ParamsOf<typeof kubeListManyParams>;
export type KubeListManyInput = ParamsIn<typeof kubeListManyParams>;
export interface KubeListManyResult {
  /** One answer per entry of `lists`, in the same order, each what `list` answers for it. */
  lists: KubeListResult[];
}

export const kubeDeleteParams = defineParams({
  $$strict: true,
  apiVersion: API_VERSION,
  kind: KIND,
  namespace: OPTIONAL_NAMESPACE,
  name: NAME,
  propagationPolicy: { type: "enum", values: ["Background", "Foreground", "Orphan"], optional: true },
});
export type KubeDeleteParams = ParamsOf<typeof kubeDeleteParams>;
export const kubeJsonPatchParams = defineParams({
  $$strict: true,
  apiVersion: API_VERSION,
  kind: KIND,
  namespace: OPTIONAL_NAMESPACE,
  name: NAME,
  operations: { type: "array", items: { type: "object" }, min: 1, max: 100 },
  fieldManager: { type: "string", min: 1, max: 128, pattern: /^[A-Za-z0-9][-A-Za-z0-9_.:]*$/ },
});
export type KubeJsonPatchParams = ParamsOf<typeof kubeJsonPatchParams>;
export type KubeDeleteInput = ParamsIn<typeof kubeDeleteParams>;
export interface KubeDeleteResult {
  deleted: boolean;
}

export const kubeLogsParams = defineParams({
  $$strict: true,
  namespace: NAMESPACE,
  pod: NAME,
  container: { type: "string", optional: true, min: 1, max: 63 },
  tailLines: { type: "number", integer: true, min: 0, max: 100_000, optional: true },
  sinceSeconds: { type: "number", integer: true, min: 1, optional: true },
  limitBytes: { type: "number", integer: true, min: 1, optional: true },
  previous: { type: "boolean", optional: true },
  timestamps: { type: "boolean", optional: true },
  follow: { type: "boolean", optional: true },
  /** With follow: end the stream after this long (a remote caller's destroy does not reach this node). */
  maxSeconds: { type: "number", integer: true, min: 1, max: 86_400, optional: true },
});
export type KubeLogsParams = ParamsOf<typeof kubeLogsParams>;
export type KubeLogsInput = ParamsIn<typeof kubeLogsParams>;
/** A string, or with `follow: true` a Readable of the log text that ends when the pod or connection goes or after `maxSeconds` (default 3600); destroy it to stop. */
export type KubeLogsResult = string | Readable;

export const kubeTopParams = defineParams({
  $$strict: true,
  namespace: NAMESPACE,
  pod: { type: "string", optional: true, min: 1, max: 253 },
  labelSelector: SELECTOR,
});
export type KubeTopParams = ParamsOf<typeof kubeTopParams>;
export type KubeTopInput = ParamsIn<typeof kubeTopParams>;
export interface ContainerUsage {
  name: string;
  cpuMillicores: number;
  memoryBytes: number;
  memoryMi: number;
}
export interface PodUsage {
  name: string;
  containers: ContainerUsage[];
  cpuMillicores: number;
  memoryBytes: number;
  memoryMi: number;
}
export interface KubeTopResult {
  namespace: string;
  pods: PodUsage[];
  totals: { cpuMillicores: number; memoryBytes: number; memoryMi: number };
}

export const kubeEventsParams = defineParams({
  $$strict: true,
  namespace: NAMESPACE,
  kind: { ...KIND, optional: true },
  name: { ...NAME, optional: true },
  uid: { type: "string", optional: true, min: 1, max: 64 },
});
export type KubeEventsParams = ParamsOf<typeof kubeEventsParams>;
export type KubeEventsInput = ParamsIn<typeof kubeEventsParams>;
export interface KubeEventsResult {
  items: CoreV1Event[];
}

export interface KubeStatusResult {
  reachable: boolean;
  source: ClusterSource | undefined;
  server: string | undefined;
  version: string | undefined;
  /** Watches: every kind listed and watching. */
  synced: boolean;
  error?: string;
}
export interface KubeReadinessResult {
  ready: true;
  checks: { cluster: "ok" };
}

// ---------------------------------------------------------------------------------------------------------------
// Service

interface Settings extends ServiceSettingSchema {
  /** A kubeconfig path or YAML (tests); default: KUBECONFIG, in-cluster, or the sandbox. */
  kubeconfig?: string;
  /** Options for the sandbox when it is started here. */
  sandbox?: SandboxOptions;
  /** Run the informers (default true). */
  informers?: boolean;
  /** Write limits; default from KUBE_QPS / KUBE_BURST / KUBE_MAX_INFLIGHT. */
  limits?: Partial<Omit<LimiterOptions, "clock">>;
  /** Informer restart backoff (default 1 s → 30 s). */
  watchBackoff?: { initialMs: number; maxMs: number };
  /** Time allowed to the readiness/status probe (default 3000 ms). */
  probeTimeoutMs?: number;
  /**
   * While the API server is unreachable, probe it this often (default 1000 ms; 0 = off); once it answers two probes in
   * a row, failed watches restart at once and `kube.cluster.available` is broadcast, so that reconcilers retry now rather than at the
   * end of their backoff (up to 30 s).
   */
  recoveryProbeMs?: number;
}

interface Clients {
  objects: ObjectApi;
  core: CoreV1Api;
  version: VersionApi;
  /** For the requests client-node has no typed client for here (a followed pod log: lib/kube/http.ts). */
  kubeConfig: KubeConfig;
}

interface LocalVars {
  cluster: Cluster | undefined;
  kubeClients: Clients | undefined;
  informers: Informers | undefined;
  limiter: WriteLimiter;
  followers: Set<PassThrough>;
  lastProbe: { reachable: boolean; version?: string; error?: string } | undefined;
  /** The API server was found unreachable (a 503 K8S_UNAVAILABLE) and has not answered a probe since. */
  recovery: { down: boolean; since: number; probing: boolean; answered: number; timer: NodeJS.Timeout | undefined };
}

interface Methods {
  clientsFor(): Clients;
  mapError(err: unknown): Errors.MoleculerError;
  write<T>(fn: () => Promise<T>): Promise<T>;
  probe(): Promise<{ reachable: boolean; version?: string; error?: string }>;
  followLogs(params: KubeLogsParams, container: string): Promise<Readable>;
  listObjects(params: KubeListParams): Promise<KubeListResult>;
  listCached(params: KubeListParams): KubeListResult | undefined;
  resolveContainer(namespace: string, pod: string): Promise<string>;
  onChange(kind: WatchedKind, type: ChangeType, object: KubernetesObject): void;
  checkRecovery(): Promise<void>;
}

type This = Service<Settings> & LocalVars & Methods;

/** A plain JSON copy for callers and events: no class instances, no managedFields, no Secret data. */
export function toPublic(obj: KubernetesObject): KubernetesObject {
  const copy = plainCopy(obj) as KubernetesObject & Record<string, unknown>;
  if (copy.metadata !== undefined) delete copy.metadata.managedFields;
  if (copy.kind === "Secret") {
    delete copy.data;
    delete copy.stringData;
  }
  return copy;
}

function timestampOf(ev: CoreV1Event): number {
  const t = ev.lastTimestamp ?? ev.eventTime ?? ev.firstTimestamp ?? ev.metadata.creationTimestamp;
  return t === undefined ? 0 : new Date(t as unknown as string).getTime();
}

function byNamespaceAndName(a: KubernetesObject, b: KubernetesObject): number {
  const ka = `${a.metadata?.namespace ?? ""}/${a.metadata?.name ?? ""}`;
  const kb = `${b.metadata?.namespace ?? ""}/${b.metadata?.name ?? ""}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/**
 * Whether every object a label selector can match carries the suite's managed-by label, so that the informer cache
 * (which holds all of those of a watched kind) can answer: the parsed selector allows that label our value alone
 * (`=`, `==` or `in (...)`). The parse is lib/kube/selector.ts's, remembered per selector; a malformed selector is a 422.
 */
function requiresManagedBy(selector: string | undefined): boolean {
  const allowed = parseLabelSelector(selector).allowed.get(MANAGED_BY_LABEL);
  return allowed !== undefined && allowed.every((value) => value === MANAGED_BY);
}

/** The name a field selector asks for when it is exactly `metadata.name=<name>` (or `==`): the cache can answer it. */
function nameOfFieldSelector(selector: string): string | undefined {
  return /^\s*metadata\.name\s*==?\s*([a-z0-9]([-a-z0-9.]*[a-z0-9])?)\s*$/.exec(selector)?.[1];
}

function usageOf(metric: PodMetric): PodUsage {
  const containers = (metric.containers ?? []).map((c) => {
    const mem = memoryBytes(c.usage.memory);
    return { name: c.name, cpuMillicores: cpuMillicores(c.usage.cpu), memoryBytes: mem, memoryMi: toMi(mem) };
  });
  const cpu = containers.reduce((s, c) => s + c.cpuMillicores, 0);
  const mem = containers.reduce((s, c) => s + c.memoryBytes, 0);
  return { name: metric.metadata.name, containers, cpuMillicores: cpu, memoryBytes: mem, memoryMi: toMi(mem) };
}

const schema: ServiceSchema<Settings, Methods, LocalVars> = {
  name: "kube",
  version: 1,

  settings: {
    informers: true,
    watchBackoff: { initialMs: 1000, maxMs: 30_000 },
    probeTimeoutMs: 3000,
  },

  actions: {
    /** Lists objects, from the informer cache when the label selector requires the managed-by label of a watched kind, else from the API. @throws K8S_INVALID, K8S_UNAVAILABLE, VALIDATION_ERROR */
    list: {
      visibility: "public",
      params: kubeListParams,
      handler(this: This, ctx: Context<KubeListParams>): Promise<KubeListResult> {
        return this.listObjects(ctx.params);
      },
    },

    /** `list` for each of `lists` in one call; fails as a whole when one fails. @throws K8S_INVALID, K8S_UNAVAILABLE, VALIDATION_ERROR */
    listMany: {
      visibility: "public",
      params: kubeListManyParams,
      async handler(this: This, ctx: Context<KubeListManyParams>): Promise<KubeListManyResult> {
        return { lists: await Promise.all(ctx.params.lists.map((params) => this.listObjects(params))) };
      },
    },

    /** Reads one object from the API server. @throws K8S_NOT_FOUND, K8S_INVALID, K8S_UNAVAILABLE, VALIDATION_ERROR */
    get: {
      visibility: "public",
      params: kubeGetParams,
      async handler(this: This, ctx: Context<KubeGetParams>): Promise<KubernetesObject> {
        const { apiVersion, kind, namespace, name } = ctx.params;
        try {
          const obj = await this.clientsFor().objects.readAsIs({
            apiVersion,
            kind,
            metadata: { name, ...(namespace === undefined ? {} : { namespace }) },
          });
          return toPublic({ ...obj, apiVersion: obj.apiVersion ?? apiVersion, kind: obj.kind ?? kind });
        } catch (err) {
          throw this.mapError(err);
        }
      },
    },

    /** Server-side applies objects (Namespaces first) as `fieldManager`; returns them as stored (Secret data removed). @throws VALIDATION_ERROR, K8S_INVALID, K8S_CONFLICT, K8S_FORBIDDEN, K8S_NOT_FOUND, K8S_UNAVAILABLE */
    apply: {
      visibility: "public",
      params: kubeApplyParams,
      async handler(this: This, ctx: Context<KubeApplyParams>): Promise<KubeApplyResult> {
        const { objects, fieldManager, force, dryRun } = ctx.params;
        const applied = await applyObjects(this.clientsFor().objects, objects, {
          fieldManager,
          ...(force === undefined ? {} : { force }),
          ...(dryRun === undefined ? {} : { dryRun }),
          schedule: (write) => this.write(write),
          debug: (message, detail) => this.logger.debug(message, detail),
        });
        return { objects: applied.map(toPublic) };
      },
    },

    /** A JSON patch of one object (for what server-side apply cannot do: taking out another manager's item); answers it as stored (Secret data removed). @throws K8S_INVALID (a `test` that does not hold), K8S_NOT_FOUND, K8S_CONFLICT, K8S_FORBIDDEN, K8S_UNAVAILABLE */
    jsonPatch: {
      visibility: "public",
      params: kubeJsonPatchParams,
      async handler(this: This, ctx: Context<KubeJsonPatchParams>): Promise<{ object: KubernetesObject }> {
        const { apiVersion, kind, namespace, name, operations, fieldManager } = ctx.params;
        const spec = { apiVersion, kind, metadata: { name, ...(namespace === undefined ? {} : { namespace }) } };
        try {
          const stored = await this.write(() =>
            this.clientsFor().objects.jsonPatchAsIs(spec, operations, fieldManager),
          );
          return { object: toPublic(stored) };
        } catch (err) {
          throw this.mapError(err);
        }
      },
    },

    /** Deletes one object; `{ deleted: false }` when it was not there. @throws K8S_INVALID, K8S_CONFLICT, K8S_FORBIDDEN, K8S_UNAVAILABLE */
    delete: {
      visibility: "public",
      params: kubeDeleteParams,
      async handler(this: This, ctx: Context<KubeDeleteParams>): Promise<KubeDeleteResult> {
        const { apiVersion, kind, namespace, name, propagationPolicy } = ctx.params;
        try {
          await this.write(() =>
            this.clientsFor().objects.delete(
              { apiVersion, kind, metadata: { name, ...(namespace === undefined ? {} : { namespace }) } },
              undefined,
              undefined,
              undefined,
              undefined,
              propagationPolicy,
            ),
          );
          return { deleted: true };
        } catch (err) {
          const mapped = this.mapError(err);
          if (hasCode(mapped, 404) && mapped.type === ERROR_TYPES.K8S_NOT_FOUND) return { deleted: false };
          throw mapped;
        }
      },
    },

    /** A pod container's log as text, or with `follow: true` a stream of it. @throws K8S_NOT_FOUND, K8S_INVALID, K8S_UNAVAILABLE, VALIDATION_ERROR */
    logs: {
      visibility: "public",
      params: kubeLogsParams,
      async handler(this: This, ctx: Context<KubeLogsParams>): Promise<KubeLogsResult> {
        const p = ctx.params;
        if (p.follow === true) {
          const container = p.container ?? (await this.resolveContainer(p.namespace, p.pod));
          return this.followLogs(p, container);
        }
        try {
          const text = await this.clientsFor().core.readNamespacedPodLog({
            namespace: p.namespace,
            name: p.pod,
            ...(p.container === undefined ? {} : { container: p.container }),
            ...(p.tailLines === undefined ? {} : { tailLines: p.tailLines }),
            ...(p.sinceSeconds === undefined ? {} : { sinceSeconds: p.sinceSeconds }),
            ...(p.limitBytes === undefined ? {} : { limitBytes: p.limitBytes }),
            ...(p.previous === undefined ? {} : { previous: p.previous }),
            ...(p.timestamps === undefined ? {} : { timestamps: p.timestamps }),
          });
          return typeof text === "string" ? text : String(text);
        } catch (err) {
          throw this.mapError(err);
        }
      },
    },

    /** CPU (millicores) and memory (bytes, MiB) per container and pod, with totals, from metrics.k8s.io. @throws K8S_UNSUPPORTED, K8S_UNAVAILABLE, VALIDATION_ERROR */
    top: {
      visibility: "public",
      params: kubeTopParams,
      async handler(this: This, ctx: Context<KubeTopParams>): Promise<KubeTopResult> {
        const { namespace, pod, labelSelector } = ctx.params;
        let names: Set<string> | undefined;
        if (labelSelector !== undefined) {
          const pods = await this.listObjects({ apiVersion: "v1", kind: "Pod", namespace, labelSelector });
          names = new Set(pods.items.map((p) => p.metadata?.name ?? ""));
        }
        let metrics: PodMetric[];
        try {
          // Through discovery: a cluster without metrics-server answers 404 for the group (often as plain text,
          // which client-node's Metrics helper would turn into a 500).
          const list = await this.clientsFor().objects.list("metrics.k8s.io/v1beta1", "PodMetrics", namespace);
          metrics = list.items as unknown as PodMetric[];
        } catch (err) {
          const mapped = this.mapError(err);
          if (hasCode(mapped, 404)) {
            throw new Errors.MoleculerError(
              "metrics API not available on this cluster (metrics.k8s.io/v1beta1 is not served: install metrics-server)",
              501,
              ERROR_TYPES.K8S_UNSUPPORTED,
            );
          }
          throw mapped;
        }
        const pods = metrics
          .filter(
            (m) =>
              (pod === undefined || m.metadata.name === pod) && (names === undefined || names.has(m.metadata.name)),
          )
          .map(usageOf)
          .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
        const cpu = pods.reduce((s, p) => s + p.cpuMillicores, 0);
        const mem = pods.reduce((s, p) => s + p.memoryBytes, 0);
        return { namespace, pods, totals: { cpuMillicores: cpu, memoryBytes: mem, memoryMi: toMi(mem) } };
      },
    },

    /** Events of a namespace (optionally of one object, by kind/name/uid), newest first. @throws K8S_UNAVAILABLE, VALIDATION_ERROR */
    events: {
      visibility: "public",
      params: kubeEventsParams,
      async handler(this: This, ctx: Context<KubeEventsParams>): Promise<KubeEventsResult> {
        const { namespace, kind, name, uid } = ctx.params;
        const fields = [
          ...(kind === undefined ? [] : [`involvedObject.kind=${kind}`]),
          ...(name === undefined ? [] : [`involvedObject.name=${name}`]),
          ...(uid === undefined ? [] : [`involvedObject.uid=${uid}`]),
        ];
        try {
          const list = await this.clientsFor().core.listNamespacedEvent({
            namespace,
            ...(fields.length === 0 ? {} : { fieldSelector: fields.join(",") }),
          });
          const items = list.items
            .filter(
              (ev) =>
                (kind === undefined || ev.involvedObject.kind === kind) &&
                (name === undefined || ev.involvedObject.name === name) &&
                (uid === undefined || ev.involvedObject.uid === uid),
            )
            .sort((a, b) => timestampOf(b) - timestampOf(a))
            .map(
              (ev) => toPublic({ ...ev, apiVersion: ev.apiVersion ?? "v1", kind: ev.kind ?? "Event" }) as CoreV1Event,
            );
          return { items };
        } catch (err) {
          throw this.mapError(err);
        }
      },
    },

    /** Whether the cluster answers, which one it is and its version; never throws for an unreachable cluster. */
    status: {
      visibility: "public",
      async handler(this: This): Promise<KubeStatusResult> {
        const probe = await this.probe();
        return {
          reachable: probe.reachable,
          source: this.cluster?.source,
          server: this.cluster?.server,
          version: probe.version,
          synced: this.settings.informers === false ? true : (this.informers?.synced() ?? false),
          ...(probe.error === undefined ? {} : { error: probe.error }),
        };
      },
    },

    /** Ready when the cluster answers and every watch has listed. @throws K8S_UNAVAILABLE (503) */
    readiness: {
      visibility: "public",
      async handler(this: This): Promise<KubeReadinessResult> {
        const probe = await this.probe();
        if (!probe.reachable) throw unavailable("Kubernetes API", probe.error ?? "not reachable");
        if (this.settings.informers !== false && this.informers?.synced() !== true) {
          throw unavailable("Kubernetes API", "watches are not synced yet");
        }
        return { ready: true, checks: { cluster: "ok" } };
      },
    },
  },

  events: {
    /** Every local service has started (and listens): start the watches, whose initial list says what exists. */
    "$broker.started"(this: This) {
      if (this.settings.informers !== false) this.informers?.start();
    },
  },

  methods: {
    /** The cached API clients (made once, after the cluster was loaded). */
    clientsFor(this: This): Clients {
      if (this.kubeClients === undefined) throw unavailable("Kubernetes API", "v1.kube has not loaded its cluster yet");
      return this.kubeClients;
    },

    mapError(this: This, err: unknown): Errors.MoleculerError {
      const mapped = kubeError(err, (message, detail) => this.logger.debug(message, detail));
      if (mapped.type === ERROR_TYPES.K8S_UNAVAILABLE) {
        if (!this.recovery.down) this.recovery.since = Date.now();
        this.recovery.down = true;
        this.recovery.answered = 0;
      }
      return mapped;
    },

    /**
     * While the API server is marked down: probe it; once it has answered two probes in a row (one interval apart: a
     * restarting API server often flaps), restart the watches and tell every node.
     */
    async checkRecovery(this: This): Promise<void> {
      const state = this.recovery;
      if (!state.down || state.probing || this.kubeClients === undefined) return;
      state.probing = true;
      try {
        const probe = await this.probe();
        state.answered = probe.reachable ? state.answered + 1 : 0;
        if (state.answered < 2 || !state.down) return;
        state.down = false;
        state.answered = 0;
        const restarted = this.informers?.retryNow() ?? 0;
        const downMs = Date.now() - state.since;
        this.logger.info(`Cluster answers again after ${downMs} ms; ${restarted} watches restarted`);
        await this.broker
          .broadcast("kube.cluster.available", { server: this.cluster?.server ?? "", downMs })
          .catch((err: unknown) => this.logger.warn("kube.cluster.available not broadcast", err));
      } finally {
        state.probing = false;
      }
    },

    /** Runs one write through the limiter. */
    write<T>(this: This, fn: () => Promise<T>): Promise<T> {
      return this.limiter.run(fn);
    },

    /** GET /version and /api/v1 (with our credentials), with a time limit. */
    async probe(this: This): Promise<{ reachable: boolean; version?: string; error?: string }> {
      let timer: NodeJS.Timeout | undefined;
      try {
        const clients = this.clientsFor();
        // /version may be open to anyone; discovery (/api/v1) needs our credentials to be accepted.
        const answers = Promise.all([clients.version.getCode(), clients.core.getAPIResources()]);
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(unavailable("Kubernetes API", "no answer to GET /version")),
            this.settings.probeTimeoutMs ?? 3000,
          );
        });
        const [info] = await Promise.race([answers, timeout]);
        this.lastProbe = { reachable: true, version: info.gitVersion };
      } catch (err) {
        this.lastProbe = { reachable: false, error: this.mapError(err).message };
      } finally {
        if (timer !== undefined) clearTimeout(timer);
      }
      return this.lastProbe;
    },

    /** list: the informer cache when the selector requires the managed-by label of a watched, synced kind; else the API. */
    async listObjects(this: This, params: KubeListParams): Promise<KubeListResult> {
      const { apiVersion, kind, namespace, labelSelector, fieldSelector } = params;
      const cached = this.listCached(params);
      if (cached !== undefined) return cached;
      // A malformed selector is a 422 here, not a 400 from the server.
      if (labelSelector !== undefined) parseLabelSelector(labelSelector);
      try {
        const list = await this.clientsFor().objects.listAsIs(apiVersion, kind, {
          ...(namespace === undefined ? {} : { namespace }),
          ...(labelSelector === undefined ? {} : { labelSelector }),
          ...(fieldSelector === undefined ? {} : { fieldSelector }),
        });
        return {
          items: list.items
            .map((item) => toPublic({ ...item, apiVersion: item.apiVersion ?? apiVersion, kind: item.kind ?? kind }))
            .sort(byNamespaceAndName),
          cached: false,
        };
      } catch (err) {
        throw this.mapError(err);
      }
    },

    /**
     * `list` answered from the informer cache, or undefined when the cache cannot answer it (a selector that does not
     * require our managed-by label, a field selector other than one name, a kind not watched or not synced yet). A
     * malformed label selector is a 422. Synchronous: services on this node read the cache through it without a call
     * (the deployments' `state`).
     */
    listCached(this: This, params: KubeListParams): KubeListResult | undefined {
      const { apiVersion, kind, namespace, labelSelector, fieldSelector } = params;
      const name = fieldSelector === undefined ? undefined : nameOfFieldSelector(fieldSelector);
      if ((fieldSelector !== undefined && name === undefined) || !requiresManagedBy(labelSelector)) return undefined;
      const cached = this.informers?.list(apiVersion, kind, {
        ...(namespace === undefined ? {} : { namespace }),
        ...(labelSelector === undefined ? {} : { labelSelector }),
        ...(name === undefined ? {} : { name }),
      });
      if (cached === undefined) return undefined;
      // The cache's own objects: plain JSON, frozen, already in their public form (lib/kube/informers.ts).
      return { items: [...cached].sort(byNamespaceAndName), cached: true };
    },

    /** The only container of a pod, or a 422 naming the choices. */
    async resolveContainer(this: This, namespace: string, pod: string): Promise<string> {
      let obj: V1Pod;
      try {
        obj = await this.clientsFor().core.readNamespacedPod({ namespace, name: pod });
      } catch (err) {
        throw this.mapError(err);
      }
      const names = (obj.spec?.containers ?? []).map((c) => c.name);
      if (names.length === 1 && names[0] !== undefined) return names[0];
      throw invalid(
        "container",
        `pod ${namespace}/${pod} has ${names.length} containers: choose one of ${names.join(", ")}`,
      );
    },

    /** Opens a follow log request; the returned stream ends with it and aborts it when destroyed. */
    async followLogs(this: This, p: KubeLogsParams, container: string): Promise<Readable> {
      let opened: { stream: Readable; controller: AbortController };
      try {
        opened = await podLogStream(this.clientsFor().kubeConfig, p.namespace, p.pod, {
          container,
          follow: true,
          tailLines: p.tailLines,
          sinceSeconds: p.sinceSeconds,
          limitBytes: p.limitBytes,
          previous: p.previous,
          timestamps: p.timestamps,
        });
      } catch (err) {
        throw this.mapError(err);
      }
      const { stream, controller } = opened;
      const out = new PassThrough();
      // The response errors when we abort it (or the connection drops): the follow just ends.
      stream.on("error", () => {
        if (!out.destroyed) out.end();
      });
      stream.pipe(out);
      // Moleculer streams a response to a remote caller but does not tell this node when the caller destroys its end:
      // the request is aborted (and the stream ended) after maxSeconds in any case.
      const limit = setTimeout(() => controller.abort(), (p.maxSeconds ?? 3600) * 1000);
      limit.unref();
      this.followers.add(out);
      out.on("close", () => {
        clearTimeout(limit);
        this.followers.delete(out);
        controller.abort();
      });
      return out;
    },

    /**
     * An informer change → `kube.<plural>.<type>` to every node. The payload is the cache's own object, already in its
     * public form and deep-frozen (informers.ts `cacheForm`): local handlers share it as they share cached list answers,
     * a handler that wants to change it copies it first; other nodes get it serialized.
     */
    onChange(this: This, kind: WatchedKind, type: ChangeType, object: KubernetesObject): void {
      void this.broker
        .broadcast(`kube.${kind.plural}.${type}`, object)
        .catch((err: unknown) => this.logger.warn(`kube.${kind.plural}.${type} not broadcast`, err));
    },
  },

  created(this: This) {
    this.cluster = undefined;
    this.kubeClients = undefined;
    this.informers = undefined;
    this.lastProbe = undefined;
    this.recovery = { down: false, since: 0, probing: false, answered: 0, timer: undefined };
    this.followers = new Set();
    this.limiter = new WriteLimiter({ ...limitsFromEnv(process.env), ...this.settings.limits });
  },

  async started(this: This) {
    const cluster = await loadCluster({
      ...(this.settings.kubeconfig === undefined ? {} : { kubeconfig: this.settings.kubeconfig }),
      ...(this.settings.sandbox === undefined ? {} : { sandbox: this.settings.sandbox }),
    });
    this.cluster = cluster;
    const kc = cluster.kubeConfig;
    this.kubeClients = {
      objects: ObjectApi.fromConfig(kc),
      core: kc.makeApiClient(CoreV1Api),
      version: kc.makeApiClient(VersionApi),
      kubeConfig: kc,
    };
    const where = cluster.kubeconfigPath === undefined ? "" : `, kubeconfig written to ${cluster.kubeconfigPath}`;
    const probe = await this.probe();
    if (probe.reachable) {
      this.logger.info(`Cluster ${cluster.server} (${cluster.source}${where}) answers: ${probe.version ?? "?"}`);
    } else {
      this.logger.warn(
        `Cluster ${cluster.server} (${cluster.source}${where}) does not answer yet: ${probe.error ?? ""}`,
      );
    }
    const broker = this.broker;
    this.informers = new Informers(
      kc,
      this.kubeClients.objects,
      {
        onChange: (kind, type, object) => this.onChange(kind, type, object),
        onError: (kind, err, retryInMs, attempt) => {
          const mapped = this.mapError(err);
          this.logger.warn(
            `Watch of ${kind.plural} failed (attempt ${attempt}), retry in ${retryInMs} ms: ${mapped.message}`,
          );
          void broker
            .broadcast("kube.watch.failed", {
              plural: kind.plural,
              apiVersion: kind.apiVersion,
              kind: kind.kind,
              attempt,
              retryInMs,
              error: { message: mapped.message, code: mapped.code, type: mapped.type },
            })
            .catch(() => undefined);
        },
        onSynced: (kind) => this.logger.debug(`Watch of ${kind.plural} synced`),
      },
      { ...(this.settings.watchBackoff === undefined ? {} : { backoff: this.settings.watchBackoff }) },
    );
    // The initial list reports every object as added. During broker.start() the other local services' event handlers
    // are not registered yet and would not hear it: start the watches once the broker has started.
    if (this.settings.informers !== false && this.broker.started) this.informers.start();
    const every = this.settings.recoveryProbeMs ?? 1000;
    if (every > 0) {
      this.recovery.timer = setInterval(() => void this.checkRecovery(), every);
      this.recovery.timer.unref();
    }
  },

  async stopped(this: This) {
    if (this.recovery.timer !== undefined) clearInterval(this.recovery.timer);
    this.recovery.timer = undefined;
    this.limiter.close();
    for (const out of this.followers) out.destroy();
    this.followers.clear();
    await this.informers?.stop();
    await this.cluster?.stop();
    this.kubeClients = undefined;
  },
};

export default schema;
