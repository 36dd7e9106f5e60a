/**
 * `v1.k8s.deployments`: an image from the catalog running in a tenant's namespace (docs/architecture.md). The record
 * is the desired state; `lib/manifests` renders it (Deployment, Service `<name>-service`, Ingress `<name>-ingress` for
 * the vHosts, ConfigMap `<name>-<configMap.name>`) and `v1.kube` applies it with server-side apply as
 * `k8s.deployments`. The env ConfigMap/Secret `<name>-env` belong to `v1.k8s.envs`; the Deployment reads them
 * (`envFrom`, optional) and carries their checksum on its pod template, so an env change rolls the pods.
 *
 * Decisions (phase 2 contract):
 * - create/update validate everything first (422 naming the field; 404 for a namespace or image the caller may not
 *   see; 409 for a taken name; 409 NAMESPACE_LOCKED for a Terminating namespace), store the record (status Pending),
 *   then apply. Cluster unreachable: the call still succeeds, the record says `Pending / ClusterUnavailable`, and the
 *   reconciler (mixins/reconciler.mixin.ts) applies it when the cluster is back. Any other cluster error: a create is
 *   undone (record and objects removed) and an update restored, and the error returned.
 * - remove: the record goes first (its `k8s.deployments.removed` event makes envs remove their records and objects),
 *   then the objects are deleted; objects of a record that no longer exists (cluster down during a remove) are
 *   deleted by the next resync.
 * - status follows the cluster: `kube.deployments.*` and `kube.pods.*` events (debounced per record) → the record's
 *   `status` from the watch cache (Deployment status + pod container states: ImagePullBackOff, CrashLoopBackOff, …).
 * - drift: a deleted Deployment/Service/Ingress/ConfigMap of a live record, or one whose fields differ from the last
 *   render, is re-applied (force); the periodic resync compares every record with the cluster.
 */
import type { Context, ServiceBroker, ServiceSchema, ServiceSettingSchema } from "moleculer";
import { Errors } from "moleculer";
import type {
  KubernetesObject,
  V1Deployment,
  V1Pod,
  V1ResourceQuota,
  V1Service,
  V1ServicePort,
} from "@kubernetes/client-node";
import { readConfig } from "../lib/config.ts";
import type {
  DeploymentCondition,
  DeploymentEntity,
  DeploymentStatus,
  DeploymentConfigMapSpec,
  ImageChangeProblem,
  ImageEntity,
  NamespaceEntity,
} from "../lib/entities.ts";
import {
  alreadyExists,
  ERROR_TYPES,
  hasCode,
  hasType,
  notFound,
  unavailable,
  validationError,
  type ValidationIssue,
} from "../lib/errors.ts";
import { kubeList } from "../lib/kube/local-list.ts";
import type { CallerMeta } from "../lib/meta.ts";
import {
  COMPONENT_LABEL,
  RESTARTED_AT_ANNOTATION,
  REVISION_ANNOTATION,
  MANAGED_BY_SELECTOR,
  deploymentNameRule,
  canonicalJson,
  configMapName,
  deploymentInputIssues,
  quotaFromHard,
  quotaIssues,
  RESOURCE_QUOTA_NAME,
  envChecksum,
  envObjectName,
  getIdFromAnnotation,
  imageReference,
  ingressName,
  renderDeploymentObjects,
  renderService,
  serviceName,
  type DeploymentInput,
  type DeploymentObject,
  type ImageSpec,
  recordSelector,
} from "../lib/manifests/index.ts";
import { defineParams, type ParamsIn, type ParamsOf } from "../lib/params.ts";
import {
  ABSOLUTE_PATH,
  DNS_1123_LABEL,
  DNS_1123_LABEL_MAX,
  isDomainAllowed,
  routeSpacesOf,
} from "../lib/validators.ts";
import { AppliedRenders, liveFingerprint } from "../lib/applied-renders.ts";
import { KeyedChain } from "../lib/keyed-chain.ts";
import {
  DbMixin,
  idParams,
  type DbConnectionSettings,
  type DbMethods,
  type DbVars,
  type Entity,
  type IdParams,
  type RawDoc,
} from "../mixins/db.mixin.ts";
import {
  guardedRecord,
  MembershipMixin,
  type MembershipMethods,
  type MembershipVars,
} from "../mixins/membership.mixin.ts";
import {
  isDrifted,
  isRetryableError,
  ReconcilerMixin,
  type ReconcilerMethods,
  type ReconcilerSettings,
  type ReconcilerVars,
} from "../mixins/reconciler.mixin.ts";
import {
  DeploymentOperationsMixin,
  ENVS_FROM_FIELD,
  hasStoredRevisions,
  newestEnvChecksum,
} from "../mixins/deployment-operations.mixin.ts";

// ---------------------------------------------------------------------------------------------------------------
// Params and results

const FIELD_MANAGER = "k8s.deployments";
const DEFAULT_MAX_REPLICAS = 20;

const id = { type: "string", empty: false, max: 64 } as const;
const amounts = {
  type: "object",
  strict: true,
  optional: true,
  props: {
    cpu: { type: "number", integer: true, min: 0, optional: true },
    memory: { type: "number", integer: true, min: 0, optional: true },
  },
} as const;
/** Limits of 0 are no limits at all (the kubelet sets none) and count 0 against the namespace's quota. */
const limits = {
  ...amounts,
  props: {
    cpu: { type: "number", integer: true, min: 1, optional: true },
    memory: { type: "number", integer: true, min: 1, optional: true },
  },
} as const;
const resourcesRule = { type: "object", strict: true, props: { limits, requests: amounts } } as const;
const volumeRule = {
  type: "object",
  strict: true,
  props: {
    name: { type: "string", empty: false, max: DNS_1123_LABEL_MAX, pattern: DNS_1123_LABEL },
    type: { type: "enum", values: ["persistentVolumeClaim"] },
    mountPath: { type: "string", empty: false, max: 1024, pattern: ABSOLUTE_PATH },
    persistentVolumeClaim: {
      type: "object",
      strict: true,
      props: { claimName: { type: "string", empty: false, max: 253 } },
    },
    subPath: { type: "string", empty: false, max: 1024, optional: true },
    readOnly: { type: "boolean", optional: true },
  },
} as const;
const configMapRule = {
  type: "object",
  strict: true,
  props: {
    name: { type: "string", empty: false, max: DNS_1123_LABEL_MAX, pattern: DNS_1123_LABEL },
    data: { type: "record", key: { type: "string", empty: false, max: 253 }, value: { type: "string" } },
    mountPath: { type: "string", empty: false, max: 1024, pattern: ABSOLUTE_PATH, optional: true },
  },
} as const;
const vHostsRule = { type: "array", max: 32, items: { type: "string", empty: false, max: 253 } } as const;
const replicasRule = { type: "number", integer: true, min: 0, convert: true } as const;

export const deploymentCreateParams = defineParams({
  $$strict: true,
  name: deploymentNameRule,
  namespace: id,
  image: id,
  replicas: { ...replicasRule, default: 1 },
  vHosts: { ...vHostsRule, default: [] },
  volumes: { type: "array", max: 32, items: volumeRule, default: [] },
  configMap: { ...configMapRule, optional: true },
  resources: { ...resourcesRule, optional: true },
});
export const deploymentUpdateParams = defineParams({
  $$strict: true,
  id,
  image: { ...id, optional: true },
  replicas: { ...replicasRule, optional: true },
  vHosts: { ...vHostsRule, optional: true },
  volumes: { type: "array", max: 32, items: volumeRule, optional: true },
  configMap: { ...configMapRule, optional: true },
  resources: { ...resourcesRule, optional: true },
  restartedAt: { type: "string", empty: false, max: 64, optional: true },
  name: { type: "forbidden", optional: true },
  namespace: { type: "forbidden", optional: true },
});
export const deploymentCleanParams = defineParams({ $$strict: true });
export const deploymentImageChangeParams = defineParams({
  $$strict: true,
  id,
  // The image's fields as `v1.k8s.images.update` validated them.
  changes: { type: "object" },
});
export const deploymentScaleParams = defineParams({ $$strict: true, id, replicas: replicasRule });

export type DeploymentCreateParams = ParamsOf<typeof deploymentCreateParams>;
export type DeploymentCreateInput = ParamsIn<typeof deploymentCreateParams>;
export type DeploymentUpdateParams = ParamsOf<typeof deploymentUpdateParams>;
export type DeploymentUpdateInput = ParamsIn<typeof deploymentUpdateParams>;
export type DeploymentScaleParams = ParamsOf<typeof deploymentScaleParams>;
/** A namespace's quota as the API server holds it (`liveQuota`). */
type LiveQuota = ReturnType<typeof quotaFromHard>;
export type DeploymentImageChangeParams = ParamsOf<typeof deploymentImageChangeParams>;

/** One pod of a deployment, as `status` gives it (`pods`, in the operations mixin, gives more). */
export interface PodSummary {
  name: string;
  phase: string;
  ready: boolean;
  restarts: number;
  reason?: string;
}

/** `generate`: the objects that `apply` would send, as a kubectl-appliable `List`. */
export interface DeploymentGenerateResult {
  apiVersion: "v1";
  kind: "List";
  items: DeploymentObject[];
}

/** `status`: the record's status recomputed from the watch cache, with each pod's state. */
export interface DeploymentStatusResult extends DeploymentStatus {
  id: string;
  name: string;
  revision: number;
  pods: PodSummary[];
}

// ---------------------------------------------------------------------------------------------------------------
// Service types

interface Settings extends ServiceSettingSchema, ReconcilerSettings {
  rest: string;
  db?: DbConnectionSettings;
  /** Largest replica count; default MAX_REPLICAS, else 20. */
  maxReplicas?: number;
  /** Hosts a vHost may use (and their subdomains); default ALLOWED_DOMAINS; empty = any valid host. */
  allowedDomains?: string[];
  /** IngressClass of the Ingresses; default INGRESS_CLASS (none = the cluster's default class). */
  ingressClass?: string;
  /** Milliseconds to gather cluster events of one record before its status is recomputed (default 100). */
  statusDebounceMs?: number;
}

interface Resolved {
  record: RawDoc;
  namespace: NamespaceEntity;
  input: DeploymentInput;
}

type Methods = DbMethods &
  MembershipMethods &
  ReconcilerMethods & {
    createDeployment(ctx: Ctx<DeploymentCreateParams>): Promise<DeploymentEntity>;
    updateDeployment(
      ctx: Ctx<unknown>,
      recordId: string,
      changes: Omit<DeploymentUpdateParams, "id" | "name" | "namespace">,
      options?: { locked?: boolean; rolledBackFrom?: number },
    ): Promise<DeploymentEntity>;
    namespaceOf(nsId: string): Promise<NamespaceEntity>;
    writableNamespace(nsId: string): Promise<NamespaceEntity>;
    imageOf(imageId: string): Promise<ImageEntity>;
    imageReferenceOf(imageId: string): Promise<string | undefined>;
    onImageChanged(imageId: string): Promise<void>;
    scheduleImageReapply(recordId: string): void;
    reapplyForImage(recordId: string): Promise<void>;
    firstDeploymentsNode(): boolean;
    recordRevision(recordId: string, options: { who?: string | undefined }): Promise<boolean>;
    revisionBehind(record: RawDoc, envChecksum: string, imageReference: string | undefined): boolean;
    withRevisionLock(recordId: string, fn: () => Promise<void>): Promise<void>;
    withChangeLock<T>(recordId: string, fn: () => Promise<T>): Promise<T>;
    firstRevisionChanges(record: RawDoc, who: string | undefined): Promise<Record<string, unknown>>;
    validate(
      fields: Omit<DeploymentEntity, "id" | "createdAt" | "updatedAt" | "status" | "revision">,
      ns: NamespaceEntity,
      image: ImageEntity,
    ): Promise<DeploymentInput>;
    inputIssues(
      fields: Parameters<Methods["validate"]>[0],
      ns: NamespaceEntity,
      image: ImageEntity,
      quota: LiveQuota | undefined,
    ): { input: DeploymentInput; issues: ValidationIssue[] };
    imageChangeProblems(imageId: string, changes: Record<string, unknown>): Promise<ImageChangeProblem[]>;
    checkClaims(nsId: string, volumes: readonly { persistentVolumeClaim: { claimName: string } }[]): Promise<void>;
    checkHostsFree(nsId: string, name: string, vHosts: readonly string[]): Promise<void>;
    checkConfigMapNamesFree(nsId: string, name: string, configName: string | undefined): Promise<void>;
    checkRouteSpaces(ns: NamespaceEntity, vHosts: readonly string[]): Promise<void>;
    checkUpdate(record: RawDoc, fields: Record<string, unknown>): Promise<void>;
    liveQuota(nsName: string): Promise<LiveQuota | undefined>;
    envChecksumOf(record: RawDoc): Promise<string>;
    resolve(record: RawDoc): Promise<Resolved>;
    applyResolved(resolved: Resolved, force: boolean): Promise<void>;
    deleteObjects(record: RawDoc, nsName: string, keep?: readonly DeploymentObject[]): Promise<void>;
    liveObjects(nsName: string, recordId: string, kind?: string): Promise<KubernetesObject[]>;
    createImageEnvs(
      recordId: string,
      namespaceId: string,
      imageId: string,
      deploymentName: string,
      namespaceName: string,
    ): Promise<void>;
    makeOwedEnvs(record: RawDoc): Promise<boolean>;
    envObjectsBeforeDeployment(record: RawDoc, nsName: string): Promise<void>;
    removeForeignPorts(resolved: Resolved): Promise<void>;
    refreshStatus(recordId: string): Promise<void>;
    statusNow(record: RawDoc): Promise<DeploymentStatus | undefined>;
    scheduleStatus(recordId: string): void;
    scheduleEnvReapply(recordId: string): void;
    oncePerBurst(
      timers: Map<string, NodeJS.Timeout>,
      recordId: string,
      failure: string,
      work: (recordId: string) => Promise<unknown>,
    ): void;
    scheduleDriftRepair(recordId: string): void;
    reapplyIfChanged(recordId: string): Promise<void>;
    onObjectEvent(obj: KubernetesObject, type: "added" | "modified" | "deleted"): void;
    olderThanApplied(recordId: string, obj: KubernetesObject): boolean;
    collectOrphans(): Promise<void>;
    /**
     * Removes the records of a namespace that went (each emits k8s.deployments.removed) and, given the namespace's
     * name, deletes their objects; without it (a removal the resync found) collectOrphans deletes them.
     */
    removeNamespaceRecords(nsId: string, nsName: string | undefined): Promise<void>;
    setStatus(recordId: string, status: DeploymentStatus): Promise<void>;
  };

interface LocalVars extends DbVars, MembershipVars, ReconcilerVars {
  maxReplicas: number;
  allowedDomains: string[];
  ingressClass: string | undefined;
  /**
   * What was last applied per record: a digest of the objects, compared with a new render's, and the generation of
   * each object; the objects themselves for the last records applied or checked, for a drift check on a watch event
   * (lib/applied-renders.ts).
   */
  applied: AppliedRenders<DeploymentObject[]>;
  statusTimers: Map<string, NodeJS.Timeout>;
  /**
   * Per record, its status refreshes one after another: each reads the cluster and then writes, so one that overlapped
   * a later one could land last with what the cluster said before.
   */
  statusRefreshes: KeyedChain;
  envTimers: Map<string, NodeJS.Timeout>;
  /** Per record: the pending re-apply after a change of its image (`k8s.images.updated`). */
  imageTimers: Map<string, NodeJS.Timeout>;
  driftTimers: Map<string, NodeJS.Timeout>;
  /**
   * `namespace/name` of records whose create is running on this node, with who creates them and whether their image's
   * envs were made: their first apply carries the env checksum already, and stores the first revision (and `envsFrom`)
   * with the Applied status.
   */
  creating: Map<string, { who: string | undefined; envsMade: boolean }>;
}

type Ctx<P> = Context<P, CallerMeta>;

const OBJECT_KINDS = [
  { apiVersion: "v1", kind: "ConfigMap" },
  { apiVersion: "apps/v1", kind: "Deployment" },
  { apiVersion: "v1", kind: "Service" },
  { apiVersion: "networking.k8s.io/v1", kind: "Ingress" },
] as const;

/** Pod container states that mean the deployment cannot run as it is. */
const FAILING_REASONS = new Set([
  "ErrImagePull",
  "ImagePullBackOff",
  "InvalidImageName",
  "CrashLoopBackOff",
  "CreateContainerConfigError",
  "CreateContainerError",
  "RunContainerError",
]);

/** The status reason of a record stored by a create and not applied yet. */
const CREATE_REASON = "Applying";

function pending(reason: string, message?: string): DeploymentStatus {
  return {
    phase: "Pending",
    replicas: 0,
    readyReplicas: 0,
    availableReplicas: 0,
    updatedReplicas: 0,
    conditions: [],
    reason,
    ...(message === undefined ? {} : { message }),
  };
}

function namespaceLocked(name: string): Errors.MoleculerClientError {
  return new Errors.MoleculerClientError(
    `namespace '${name}' is being removed: nothing can be added to it or changed in it`,
    409,
    ERROR_TYPES.NAMESPACE_LOCKED,
    { namespace: name },
  );
}

/**
 * The `kubectl.kubernetes.io/restartedAt` of a live Deployment when that pod-template annotation is all it differs from
 * `desired` in (a `kubectl rollout restart`, which sets it to the time), else undefined.
 */
function kubectlRestart(desired: KubernetesObject, live: KubernetesObject): string | undefined {
  if (live.kind !== "Deployment") return undefined;
  const template = (o: KubernetesObject) =>
    (o as V1Deployment).spec?.template?.metadata?.annotations?.[RESTARTED_AT_ANNOTATION];
  const restartedAt = template(live);
  if (restartedAt === undefined || restartedAt === template(desired) || restartedAt.length > 64) return undefined;
  const d = desired as V1Deployment;
  const withIt: V1Deployment = {
    ...d,
    spec: {
      ...d.spec,
      selector: d.spec?.selector ?? {},
      template: {
        ...d.spec?.template,
        metadata: {
          ...d.spec?.template?.metadata,
          annotations: { ...d.spec?.template?.metadata?.annotations, [RESTARTED_AT_ANNOTATION]: restartedAt },
        },
      },
    },
  };
  return isDrifted(withIt, live) ? undefined : restartedAt;
}

/** Whether `live` carries an older `moleculer-k8s/revision` than `desired`: a version of an earlier apply of ours. */
function olderRevision(live: KubernetesObject, desired: KubernetesObject): boolean {
  const had = Number(live.metadata?.annotations?.[REVISION_ANNOTATION]);
  const wants = Number(desired.metadata?.annotations?.[REVISION_ANNOTATION]);
  return Number.isInteger(had) && Number.isInteger(wants) && had < wants;
}

/** The ConfigMaps a deployment owns (lib/manifests: its env values', its config files'), and the field naming each. */
function configMapNamesOf(
  name: string,
  configName: string | undefined,
): { object: string; field: "name" | "configMap.name"; holds: string }[] {
  const names: { object: string; field: "name" | "configMap.name"; holds: string }[] = [
    { object: `${name}-env`, field: "name", holds: "its env values" },
  ];
  if (configName !== undefined)
    names.push({ object: `${name}-${configName}`, field: "configMap.name", holds: "its config files" });
  return names;
}

function toImageSpec(image: ImageEntity): ImageSpec {
  return {
    image: image.image,
    registry: image.registry,
    tag: image.tag,
    digest: image.digest,
    imagePullPolicy: image.imagePullPolicy,
    imagePullSecrets: image.imagePullSecrets,
    ports: image.ports.map((p) => ({ name: p.name, port: p.port, protocol: p.protocol })),
    resources: image.resources,
    ...(image.config === undefined ? {} : { config: image.config }),
  };
}

/** The status of a deployment from its Deployment object and pods (pure). */
export function deploymentStatusOf(
  dep: V1Deployment | undefined,
  pods: readonly V1Pod[],
  desired: number,
): DeploymentStatus {
  if (dep === undefined) return pending("NotApplied", "the Deployment is not in the cluster (yet)");
  const s = dep.status ?? {};
  const conditions: DeploymentCondition[] = (s.conditions ?? []).map((c) => ({
    type: c.type,
    status: c.status,
    ...(c.reason === undefined ? {} : { reason: c.reason }),
    ...(c.message === undefined ? {} : { message: c.message }),
  }));
  const counts = {
    replicas: s.replicas ?? 0,
    readyReplicas: s.readyReplicas ?? 0,
    availableReplicas: s.availableReplicas ?? 0,
    updatedReplicas: s.updatedReplicas ?? 0,
  };
  for (const pod of pods) {
    if (pod.metadata?.deletionTimestamp !== undefined) continue;
    for (const cs of [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])]) {
      const reason = cs.state?.waiting?.reason;
      if (reason !== undefined && FAILING_REASONS.has(reason)) {
        const message = cs.state?.waiting?.message ?? `pod ${pod.metadata?.name ?? ""}: ${reason}`;
        return { phase: "Failed", ...counts, conditions, reason, message };
      }
    }
    const unscheduled = pod.status?.conditions?.find((c) => c.type === "PodScheduled" && c.status === "False");
    if (unscheduled !== undefined) {
      return {
        phase: "Progressing",
        ...counts,
        conditions,
        reason: unscheduled.reason ?? "Unschedulable",
        message: unscheduled.message ?? `pod ${pod.metadata?.name ?? ""} cannot be scheduled`,
      };
    }
  }
  const progressing = conditions.find((c) => c.type === "Progressing");
  if (progressing?.status === "False") {
    return {
      phase: "Failed",
      ...counts,
      conditions,
      reason: progressing.reason ?? "ProgressDeadlineExceeded",
      ...(progressing.message === undefined ? {} : { message: progressing.message }),
    };
  }
  const observed = (s.observedGeneration ?? 0) >= (dep.metadata?.generation ?? 0);
  const done =
    observed &&
    counts.updatedReplicas >= desired &&
    counts.availableReplicas >= desired &&
    counts.readyReplicas >= desired &&
    counts.replicas <= desired;
  if (done) return { phase: "Available", ...counts, conditions };
  const replicaFailure = conditions.find((c) => c.type === "ReplicaFailure" && c.status === "True");
  if (replicaFailure === undefined && dep.spec?.paused === true) {
    // `kubectl rollout pause`: the rollout waits for a resume, it is not rolling out.
    return {
      phase: "Progressing",
      ...counts,
      conditions,
      reason: "Paused",
      message: `rollout paused with ${counts.updatedReplicas} of ${desired} replicas updated (kubectl rollout resume)`,
    };
  }
  return {
    phase: "Progressing",
    ...counts,
    conditions,
    reason: replicaFailure?.reason ?? "RollingOut",
    message:
      replicaFailure?.message ??
      `${counts.availableReplicas} of ${desired} replicas available (${counts.updatedReplicas} updated)`,
  };
}

/**
 * How a configMap is stored: file names may hold dots (`default.conf`), which NeDB and MongoDB refuse in field names,
 * so the files are kept as a list and turned back into `data` for callers (`publicEntity`) and for rendering.
 */
interface StoredConfigMap {
  name: string;
  mountPath?: string;
  files: { key: string; value: string }[];
}

function storeConfigMap(cm: DeploymentConfigMapSpec): StoredConfigMap {
  return {
    name: cm.name,
    ...(cm.mountPath === undefined ? {} : { mountPath: cm.mountPath }),
    files: Object.entries(cm.data).map(([key, value]) => ({ key, value })),
  };
}

function loadConfigMap(stored: unknown): DeploymentConfigMapSpec | undefined {
  if (typeof stored !== "object" || stored === null) return undefined;
  const s = stored as Partial<StoredConfigMap> & { data?: Record<string, string> };
  const data: Record<string, string> = { ...s.data };
  for (const f of s.files ?? []) data[f.key] = f.value;
  return { name: String(s.name), ...(s.mountPath === undefined ? {} : { mountPath: s.mountPath }), data };
}

/** A stored record as the deployment entity it stands for (`id`, configMap files as `data`). */
function entityOf(record: RawDoc | Record<string, unknown>): DeploymentEntity {
  const { _id, configMap, ...rest } = record as Record<string, unknown>;
  const cm = loadConfigMap(configMap);
  return {
    ...(rest as unknown as DeploymentEntity),
    ...(typeof _id === "string" ? { id: _id } : {}),
    ...(cm === undefined ? {} : { configMap: cm }),
  };
}

function podSummary(p: V1Pod): PodSummary {
  const cs = p.status?.containerStatuses ?? [];
  const reason = cs.map((c) => c.state?.waiting?.reason ?? c.state?.terminated?.reason).find(Boolean);
  return {
    name: p.metadata?.name ?? "",
    phase: p.status?.phase ?? "Unknown",
    ready: cs.length > 0 && cs.every((c) => c.ready),
    restarts: cs.reduce((n, c) => n + (c.restartCount ?? 0), 0),
    ...(reason === undefined ? {} : { reason }),
  };
}

function creatingKey(namespace: unknown, name: unknown): string {
  return `${String(namespace)}/${String(name)}`;
}

/** The first field where `live` does not hold what `desired` says (for log lines), e.g. `spec.replicas`. */
export function driftPath(desired: unknown, live: unknown, at = ""): string {
  if (Array.isArray(desired) && Array.isArray(live) && desired.length === live.length) {
    const i = desired.findIndex((d, n) => isDrifted(d, live[n]));
    return i === -1 ? at : driftPath(desired[i], live[i], `${at}[${i}]`);
  }
  if (typeof desired === "object" && desired !== null && !Array.isArray(desired)) {
    if (typeof live !== "object" || live === null) return at;
    const entry = Object.entries(desired).find(([k, v]) => isDrifted(v, (live as Record<string, unknown>)[k]));
    if (entry === undefined) return at;
    return driftPath(entry[1], (live as Record<string, unknown>)[entry[0]], at === "" ? entry[0] : `${at}.${entry[0]}`);
  }
  return at;
}

function sameStatus(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

const schema: ServiceSchema<Settings, Methods, LocalVars> = {
  name: "k8s.deployments",
  version: 1,
  mixins: [
    DbMixin({
      collection: "deployments",
      resource: "deployments",
      uniqueIndexes: [["namespace", "name"]],
      // A namespace's records, a name's taker, a vHost's owner (each create looks them up); an image's deployments
      // (re-applied when the image changes).
      indexes: ["namespace", "name", "vHosts", "image"],
      entityName: "deployment",
    }),
    // The guard's copy of a record leaves out its revisions (up to 20 specs) but for history and rollback.
    MembershipMixin({ scope: "child", leaveOut: ["revisions"] }),
    ReconcilerMixin(),
    DeploymentOperationsMixin(),
  ],
  settings: {
    rest: "/v1/k8s/deployments",
  },
  dependencies: ["v1.k8s.namespaces"],

  actions: {
    // list, find, count, get come from the db mixin; membership limits them to the caller's namespaces.

    /** Creates a deployment and applies it (the reference call). REST: POST / @throws VALIDATION_ERROR, NOT_FOUND, ALREADY_EXISTS, NAMESPACE_LOCKED, FORBIDDEN, K8S_INVALID, K8S_FORBIDDEN, K8S_CONFLICT, DATABASE_UNAVAILABLE */
    create: {
      rest: "POST /",
      permission: "write",
      params: deploymentCreateParams,
      handler(ctx: Ctx<DeploymentCreateParams>): Promise<DeploymentEntity> {
        return this.createDeployment(ctx);
      },
    },

    /** The reference document's name for `create`; no REST. @throws as create */
    createDeployment: {
      permission: "write",
      params: deploymentCreateParams,
      handler(ctx: Ctx<DeploymentCreateParams>): Promise<DeploymentEntity> {
        return this.createDeployment(ctx);
      },
    },

    /** Changes a deployment (image, replicas, vHosts, volumes, configMap, resources), re-renders and applies it as a new revision. REST: PUT /:id, PATCH /:id @throws VALIDATION_ERROR, NOT_FOUND, NAMESPACE_LOCKED, FORBIDDEN, K8S_INVALID, K8S_FORBIDDEN, K8S_CONFLICT, DATABASE_UNAVAILABLE */
    update: {
      rest: ["PUT /:id", "PATCH /:id"],
      permission: "write",
      params: deploymentUpdateParams,
      async handler(ctx: Ctx<DeploymentUpdateParams>): Promise<DeploymentEntity> {
        const { id: recordId, name: _n, namespace: _ns, ...changes } = ctx.params;
        return this.updateDeployment(ctx, recordId, changes);
      },
    },

    /** Sets the replica count (a new revision). REST: POST /:id/scale @throws VALIDATION_ERROR, NOT_FOUND, FORBIDDEN, NAMESPACE_LOCKED */
    scale: {
      rest: "POST /:id/scale",
      permission: "write",
      params: deploymentScaleParams,
      handler(ctx: Ctx<DeploymentScaleParams>): Promise<DeploymentEntity> {
        return this.updateDeployment(ctx, ctx.params.id, { replicas: ctx.params.replicas });
      },
    },

    /** Restarts the pods (a rolling restart, as `kubectl rollout restart`; a new revision). REST: POST /:id/restart @throws NOT_FOUND, FORBIDDEN, NAMESPACE_LOCKED */
    restart: {
      rest: "POST /:id/restart",
      permission: "write",
      params: idParams,
      handler(ctx: Ctx<IdParams>): Promise<DeploymentEntity> {
        return this.updateDeployment(ctx, ctx.params.id, { restartedAt: new Date().toISOString() });
      },
    },

    /** Applies the record to the cluster again (force: takes back fields others changed). REST: POST /:id/apply @throws NOT_FOUND, FORBIDDEN, K8S_UNAVAILABLE, K8S_INVALID, K8S_FORBIDDEN */
    apply: {
      rest: "POST /:id/apply",
      permission: "write",
      params: idParams,
      async handler(ctx: Ctx<IdParams>): Promise<DeploymentEntity> {
        const record = guardedRecord(ctx) ?? (await this.findRawById(ctx.params.id));
        if (record === null) throw notFound("deployment", ctx.params.id);
        const outcome = await this.reconcileNow(ctx.params.id);
        if (!outcome.ok) throw outcome.error;
        const after = (await this.findRawById(ctx.params.id)) ?? record;
        return (await this.transformDocuments(ctx, {}, after)) as DeploymentEntity;
      },
    },

    /** Removes a deployment: the record (and with it its envs), then its objects in the cluster. REST: DELETE /:id @throws NOT_FOUND, FORBIDDEN, DATABASE_UNAVAILABLE */
    remove: {
      rest: "DELETE /:id",
      permission: "write",
      params: idParams,
      async handler(ctx: Ctx<IdParams>): Promise<DeploymentEntity> {
        const record = guardedRecord(ctx) ?? (await this.findRawById(ctx.params.id));
        if (record === null) throw notFound("deployment", ctx.params.id);
        const removed = (await this.removeEntity(ctx, ctx.params.id)) as unknown as DeploymentEntity;
        this.cancelReconcile(ctx.params.id);
        // An apply of this record already under way ends first: arriving after the deletion, it would leave objects
        // without a record behind.
        await this.reconcileSettled(ctx.params.id);
        this.applied.delete(ctx.params.id);
        try {
          const ns = await this.namespaceOf(String(record.namespace));
          await this.deleteObjects(record, ns.name);
        } catch (err) {
          this.logger.warn(
            `deployment ${ctx.params.id} removed; its objects are deleted by the next resync: ${(err as Error).message}`,
          );
        }
        return removed;
      },
    },

    /** Removes every deployment record and its objects (admin or internal); no REST. @throws FORBIDDEN, DATABASE_UNAVAILABLE */
    clean: {
      permission: "admin",
      params: deploymentCleanParams,
      async handler(ctx: Ctx<Record<string, never>>): Promise<{ removed: number }> {
        const records = await this.findRaw({});
        const removed = await this.removeEntities(ctx, {});
        for (const record of records) {
          this.cancelReconcile(record._id);
          this.applied.delete(record._id);
          try {
            const ns = await this.namespaceOf(String(record.namespace));
            await this.deleteObjects(record, ns.name);
          } catch {
            // the next resync deletes what is left
          }
        }
        return { removed };
      },
    },

    /** The deployments of an image that a change of the image's fields would leave unable to run (internal: `v1.k8s.images.update` asks before it stores a change); no REST. @throws NOT_FOUND, FORBIDDEN, DATABASE_UNAVAILABLE */
    imageChangeProblems: {
      visibility: "public",
      permission: "internal",
      params: deploymentImageChangeParams,
      handler(ctx: Ctx<DeploymentImageChangeParams>): Promise<ImageChangeProblem[]> {
        return this.imageChangeProblems(ctx.params.id, ctx.params.changes);
      },
    },

    /** The objects `apply` would send, without applying them: a kubectl-appliable `List` (`kubectl apply --server-side -f`). REST: GET /:id/generate @throws NOT_FOUND, FORBIDDEN */
    generate: {
      rest: "GET /:id/generate",
      permission: "read",
      params: idParams,
      async handler(ctx: Ctx<IdParams>): Promise<DeploymentGenerateResult> {
        const record = guardedRecord(ctx) ?? (await this.findRawById(ctx.params.id));
        if (record === null) throw notFound("deployment", ctx.params.id);
        const { input } = await this.resolve(record);
        return { apiVersion: "v1", kind: "List", items: renderDeploymentObjects(input) };
      },
    },

    /** The deployment's state now, from the watch cache: phase, replica counts, conditions, reason and its pods. REST: GET /:id/status @throws NOT_FOUND, FORBIDDEN, K8S_UNAVAILABLE */
    status: {
      rest: "GET /:id/status",
      permission: "read",
      params: idParams,
      async handler(ctx: Ctx<IdParams>): Promise<DeploymentStatusResult> {
        const record = guardedRecord(ctx) ?? (await this.findRawById(ctx.params.id));
        if (record === null) throw notFound("deployment", ctx.params.id);
        const ns = await this.namespaceOf(String(record.namespace));
        const [deps, pods] = await Promise.all([
          this.liveObjects(ns.name, record._id, "Deployment"),
          this.liveObjects(ns.name, record._id, "Pod"),
        ]);
        const status = deploymentStatusOf(
          deps[0] as V1Deployment | undefined,
          pods as V1Pod[],
          Number(record.replicas ?? 1),
        );
        const stored = record.status as DeploymentStatus | undefined;
        // Not applied yet because the cluster was down: say so rather than "NotApplied".
        const shown = deps.length === 0 && stored?.phase === "Pending" ? stored : status;
        return {
          id: record._id,
          name: String(record.name),
          revision: Number(record.revision ?? 1),
          ...shown,
          pods: (pods as V1Pod[]).map(podSummary),
        };
      },
    },
  },

  events: {
    /** Env values of a deployment changed: apply it again (the new checksum rolls the pods). */
    "k8s.envs.created"(ctx: Context<{ deployment?: string }>) {
      if (typeof ctx.params.deployment === "string") this.scheduleEnvReapply(ctx.params.deployment);
    },
    "k8s.envs.updated"(ctx: Context<{ deployment?: string }>) {
      if (typeof ctx.params.deployment === "string") this.scheduleEnvReapply(ctx.params.deployment);
    },
    "k8s.envs.removed"(ctx: Context<{ deployment?: string }>) {
      if (typeof ctx.params.deployment === "string") this.scheduleEnvReapply(ctx.params.deployment);
    },
    /**
     * An image changed (a finished build, an admin update, a catalog reload): each deployment of it whose render
     * differs now (a new tag, digest or image; also ports, resources, pull policy) is applied again at once, so its
     * pods roll without waiting for the resync; a new image reference is a revision (`changes: ["imageReference"]`).
     * Deployments of other images, and those whose render is the same (a build starting), get no write.
     */
    "k8s.images.updated"(ctx: Context<{ id?: unknown }>) {
      const imageId = ctx.params.id;
      if (typeof imageId !== "string" || !this.firstDeploymentsNode()) return;
      void this.onImageChanged(imageId).catch((err: unknown) =>
        this.logger.warn(`deployments of image ${imageId} not re-applied now: ${(err as Error).message}`),
      );
    },
    /** A namespace record went: its deployments go too (each emits k8s.deployments.removed). */
    async "k8s.namespaces.removed"(ctx: Context<{ id?: string; name?: string }>) {
      const nsId = ctx.params.id;
      if (typeof nsId !== "string") return;
      await this.removeNamespaceRecords(nsId, typeof ctx.params.name === "string" ? ctx.params.name : undefined);
    },
    "kube.deployments.*"(ctx: Context<KubernetesObject>) {
      this.onObjectEvent(ctx.params, eventType(ctx.eventName ?? undefined));
    },
    "kube.pods.*"(ctx: Context<KubernetesObject>) {
      const recordId = getIdFromAnnotation(ctx.params);
      if (recordId !== undefined && ctx.params.metadata?.labels?.[COMPONENT_LABEL] === "deployment") {
        this.scheduleStatus(recordId);
      }
    },
    "kube.services.*"(ctx: Context<KubernetesObject>) {
      this.onObjectEvent(ctx.params, eventType(ctx.eventName ?? undefined));
    },
    "kube.ingresses.*"(ctx: Context<KubernetesObject>) {
      this.onObjectEvent(ctx.params, eventType(ctx.eventName ?? undefined));
    },
    "kube.configmaps.*"(ctx: Context<KubernetesObject>) {
      this.onObjectEvent(ctx.params, eventType(ctx.eventName ?? undefined));
    },
  },

  methods: {
    /** Callers see `configMap.data`, not the stored file list. */
    publicEntity(entity: Entity): Entity {
      return entity.configMap === undefined ? entity : { ...entity, configMap: loadConfigMap(entity.configMap) };
    },

    async createDeployment(ctx: Ctx<DeploymentCreateParams>): Promise<DeploymentEntity> {
      const p = ctx.params;
      const ns = await this.writableNamespace(p.namespace);
      const image = await this.imageOf(p.image);
      const fields = {
        name: p.name,
        namespace: p.namespace,
        image: p.image,
        replicas: p.replicas,
        vHosts: p.vHosts,
        volumes: p.volumes as DeploymentEntity["volumes"],
        ...(p.configMap === undefined ? {} : { configMap: p.configMap }),
        ...(p.resources === undefined ? {} : { resources: p.resources }),
      };
      await this.validate(fields, ns, image);
      if ((await this.findRawOne({ namespace: p.namespace, name: p.name })) !== null) {
        throw alreadyExists("deployment", "name", p.name);
      }
      // Until its first apply, the record is this create's: resyncs and env events leave it alone.
      const key = creatingKey(p.namespace, p.name);
      const creator = { who: ctx.meta.userID, envsMade: false };
      this.creating.set(key, creator);
      let created: Entity;
      let recordId: string;
      try {
        created = await this.createEntity(ctx, {
          ...fields,
          ...(fields.configMap === undefined ? {} : { configMap: storeConfigMap(fields.configMap) }),
          revision: 1,
          status: pending(CREATE_REASON, "not yet applied to the cluster"),
          // No envs made yet: the first apply's write records them made (or a resync makes them: `envsOwed`).
          [ENVS_FROM_FIELD]: null,
        });
        recordId = created.id;
        if (canCall(this.broker, "v1.k8s.envs.createEnv")) {
          try {
            await this.createImageEnvs(recordId, p.namespace, p.image, p.name, ns.name);
            creator.envsMade = true;
          } catch (err) {
            if (!this.isRetryableError(err)) {
              await this.removeEntity(null, recordId).catch(() => undefined);
              throw err;
            }
            this.logger.warn(`envs of deployment ${recordId} not created now: ${(err as Error).message}`);
          }
        }
        const outcome = await this.reconcileNow(recordId);
        if (!outcome.ok && !outcome.retrying) {
          const record = await this.findRawById(recordId);
          await this.removeEntity(null, recordId).catch(() => undefined);
          this.applied.delete(recordId);
          if (record !== null) await this.deleteObjects(record, ns.name).catch(() => undefined);
          throw outcome.error;
        }
      } finally {
        this.creating.delete(key);
      }
      const after = await this.findRawById(recordId);
      return (await this.transformDocuments(ctx, {}, after ?? created)) as DeploymentEntity;
    },

    async namespaceOf(nsId: string): Promise<NamespaceEntity> {
      try {
        return await this.broker.call<NamespaceEntity, { id: string }>("v1.k8s.namespaces.get", { id: nsId });
      } catch (err) {
        if (hasCode(err, 404) && !this.isRetryableError(err)) throw notFound("namespace", nsId);
        throw err;
      }
    },

    /** What `updateDeployment` would refuse for these fields (`undefined`: the field goes), without changing anything. */
    async checkUpdate(record: RawDoc, fields: Record<string, unknown>): Promise<void> {
      const ns = await this.writableNamespace(String(record.namespace));
      const next = { ...entityOf(record), ...fields } as Parameters<Methods["validate"]>[0];
      await this.validate(next, ns, await this.imageOf(next.image));
    },

    /**
     * update/scale/restart (and rollback's update): validate, store as a new revision, apply (restored when the cluster
     * refuses it), record the revision. Under the record's change lock (`locked`: the caller holds it): concurrent
     * changes each start from the record the one before left, and each records its own revision.
     */
    async updateDeployment(
      ctx: Ctx<unknown>,
      recordId: string,
      changes: Omit<DeploymentUpdateParams, "id" | "name" | "namespace">,
      options: { locked?: boolean; rolledBackFrom?: number } = {},
    ): Promise<DeploymentEntity> {
      if (options.locked !== true) {
        return this.withChangeLock(recordId, () =>
          this.updateDeployment(ctx, recordId, changes, { ...options, locked: true }),
        );
      }
      const revisionOf = { who: ctx.meta.userID, rolledBackFrom: options.rolledBackFrom };
      // Read now, not the guard's copy: a change that held the lock before this one may have moved the record.
      const current = await this.findRawById(recordId);
      if (current === null) throw notFound("deployment", recordId);
      const ns = await this.writableNamespace(String(current.namespace));
      const was = entityOf(current) as unknown as Record<string, unknown>;
      const changed = Object.entries(changes).some(([k, v]) => canonicalJson(v) !== canonicalJson(was[k]));
      // Nothing differs: no new revision, no write (but env values changed meanwhile, a rollback's, are recorded).
      if (!changed) {
        await this.recordRevision(recordId, revisionOf);
        const now = (await this.findRawById(recordId)) ?? current;
        return (await this.transformDocuments(ctx, {}, now)) as DeploymentEntity;
      }
      const next = { ...entityOf(current), ...changes };
      const image = await this.imageOf(next.image);
      await this.validate(next, ns, image);
      const previous: Record<string, unknown> = {};
      for (const key of [...Object.keys(changes), "revision", "status", ENVS_FROM_FIELD]) previous[key] = current[key];
      const revision = Number(current.revision ?? 0) + 1;
      // Another image: its envs are owed until the reconcile below makes them (`envsOwed`, `makeOwedEnvs`).
      const envsOwedNow = next.image !== current.image ? { [ENVS_FROM_FIELD]: null } : {};
      const stored = await this.updateEntity(ctx, recordId, {
        ...changes,
        ...(changes.configMap === undefined ? {} : { configMap: storeConfigMap(changes.configMap) }),
        revision,
        ...envsOwedNow,
      });
      const outcome = await this.reconcileNow(recordId);
      if (!outcome.ok && !outcome.retrying) {
        await this.updateEntity(ctx, recordId, previous);
        await this.reconcileNow(recordId);
        throw outcome.error;
      }
      await this.recordRevision(recordId, revisionOf);
      const after = await this.findRawById(recordId);
      if (after === null) return stored as unknown as DeploymentEntity;
      const answer = (await this.transformDocuments(ctx, {}, after)) as DeploymentEntity;
      // The answer shows the rollout this change started, as `status` would, not the stored state before it (the
      // record's own follows with the status refresh the apply scheduled).
      const now = outcome.ok ? await this.statusNow(after).catch(() => undefined) : undefined;
      return now === undefined ? answer : { ...answer, status: now };
    },

    /** The namespace a deployment may be written into: 404 when missing, 409 NAMESPACE_LOCKED while it is removed. */
    async writableNamespace(nsId: string): Promise<NamespaceEntity> {
      const ns = await this.namespaceOf(nsId);
      if (ns.status?.phase === "Terminating") throw namespaceLocked(ns.name);
      if (canCall(this.broker, "v1.k8s.namespaces.writable")) {
        await this.broker.call("v1.k8s.namespaces.writable", { id: nsId });
      }
      return ns;
    },

    /** Retryable: the cluster or a service is unreachable, or the Namespace is not in the cluster yet (it will be). */
    isRetryableError(err: unknown): boolean {
      return isRetryableError(err) || (hasCode(err, 404) && hasType(err, ERROR_TYPES.K8S_NOT_FOUND));
    },

    async imageOf(imageId: string): Promise<ImageEntity> {
      try {
        return await this.broker.call<ImageEntity, { id: string }>("v1.k8s.images.get", { id: imageId });
      } catch (err) {
        if (hasCode(err, 404) && !this.isRetryableError(err)) throw notFound("image", imageId);
        throw err;
      }
    },

    /** The reference the pods of the image pull now (lib/manifests imageReference); undefined when it cannot be read. */
    async imageReferenceOf(imageId: string): Promise<string | undefined> {
      try {
        return imageReference(toImageSpec(await this.imageOf(imageId)));
      } catch {
        return undefined;
      }
    },

    /** Every rule a schema cannot express; throws one 422 with all issues. Returns the input as rendered. */
    async validate(
      fields: Parameters<Methods["validate"]>[0],
      ns: NamespaceEntity,
      image: ImageEntity,
    ): Promise<DeploymentInput> {
      const { input, issues } = this.inputIssues(fields, ns, image, await this.liveQuota(ns.name));
      if (issues.length > 0) throw validationError(issues);
      await this.checkRouteSpaces(ns, fields.vHosts);
      await this.checkClaims(fields.namespace, fields.volumes);
      await this.checkHostsFree(fields.namespace, fields.name, fields.vHosts);
      await this.checkConfigMapNamesFree(fields.namespace, fields.name, fields.configMap?.name);
      return input;
    },

    /**
     * What of `validate` the fields, their namespace (and its quota) and the image decide alone, without asking anyone:
     * the issues (none: renderable, and it could fit the quota) and the input as rendered.
     */
    inputIssues(
      fields: Parameters<Methods["validate"]>[0],
      ns: NamespaceEntity,
      image: ImageEntity,
      quota: LiveQuota | undefined,
    ): { input: DeploymentInput; issues: ValidationIssue[] } {
      const issues: ValidationIssue[] = [];
      if (fields.replicas > this.maxReplicas) {
        issues.push({
          type: "numberMax",
          field: "replicas",
          message: `The 'replicas' field must be less than or equal to ${this.maxReplicas}.`,
          actual: fields.replicas,
        });
      }
      fields.vHosts.forEach((host, i) => {
        if (!isDomainAllowed(host, this.allowedDomains)) {
          issues.push({
            type: "domainNotAllowed",
            field: `vHosts[${i}]`,
            message: `The 'vHosts[${i}]' field must be one of ${this.allowedDomains.join(", ")} or a subdomain of one.`,
            actual: host,
          });
        }
      });
      const input: DeploymentInput = {
        id: "validation",
        name: fields.name,
        namespace: ns.name,
        image: toImageSpec(image),
        replicas: fields.replicas,
        vHosts: fields.vHosts,
        volumes: fields.volumes,
        ...(fields.configMap === undefined ? {} : { configMap: fields.configMap }),
        ...(fields.resources === undefined ? {} : { resources: fields.resources }),
        env: { checksum: "" },
        revision: 1,
      };
      for (const issue of deploymentInputIssues(input)) {
        issues.push({ ...issue, message: `The '${issue.field}' field ${issue.message}.` });
      }
      if (issues.length === 0) issues.push(...quotaIssues(input, quota));
      return { input, issues };
    },

    /**
     * The deployments of an image that a change of its fields would leave unable to run: each with the issues it would
     * have with the changed image and has not with the image as it is (a problem it already has is not the change's).
     */
    async imageChangeProblems(imageId: string, changes: Record<string, unknown>): Promise<ImageChangeProblem[]> {
      const records = await this.findRaw({ image: imageId });
      if (records.length === 0) return [];
      const image = await this.imageOf(imageId);
      const changed = { ...image, ...changes } as ImageEntity;
      const namespaces = new Map<string, Promise<{ ns: NamespaceEntity; quota: LiveQuota | undefined }>>();
      const namespaceWithQuota = (nsId: string) => {
        let found = namespaces.get(nsId);
        if (found === undefined) {
          found = this.namespaceOf(nsId).then(async (ns) => ({ ns, quota: await this.liveQuota(ns.name) }));
          namespaces.set(nsId, found);
        }
        return found;
      };
      const key = (issue: ValidationIssue) => `${issue.field}\n${issue.message}`;
      const problems: ImageChangeProblem[] = [];
      for (const record of records) {
        const { ns, quota } = await namespaceWithQuota(String(record.namespace));
        const fields = entityOf(record) as unknown as Parameters<Methods["validate"]>[0];
        const before = new Set(this.inputIssues(fields, ns, image, quota).issues.map(key));
        const issues = this.inputIssues(fields, ns, changed, quota).issues.filter((i) => !before.has(key(i)));
        if (issues.length > 0) problems.push({ deployment: `${ns.name}/${String(record.name)}`, issues });
      }
      return problems.sort((a, b) => a.deployment.localeCompare(b.deployment));
    },

    /**
     * The quota the API server holds the namespace to (the suite's ResourceQuota, from the watch cache); undefined when
     * it has none or the cluster cannot say now (the API server enforces it anyway, pod by pod).
     */
    async liveQuota(nsName: string): Promise<LiveQuota | undefined> {
      try {
        const { items } = await kubeList(this.broker, {
          apiVersion: "v1",
          kind: "ResourceQuota",
          namespace: nsName,
          labelSelector: MANAGED_BY_SELECTOR,
          fieldSelector: `metadata.name=${RESOURCE_QUOTA_NAME}`,
        });
        const quota = items[0] as V1ResourceQuota | undefined;
        return quota === undefined ? undefined : quotaFromHard(quota.spec?.hard);
      } catch {
        return undefined;
      }
    },

    /**
     * A host under another namespace's route space (`<anything>.<namespace>.<its domain>`, where its deployments get
     * their default routes) is that namespace's: 422 naming `vHosts[i]`. Otherwise a tenant could take the route a
     * deployment of another tenant gets by default, before it is made (its deploy then answered 409).
     */
    async checkRouteSpaces(ns: NamespaceEntity, vHosts: readonly string[]): Promise<void> {
      const spaces = vHosts.map(routeSpacesOf);
      const names = [...new Set(spaces.flat().map((s) => s.namespace))].filter((n) => n !== ns.name);
      if (names.length === 0) return;
      const others = await this.broker.call<{ name: string; domain?: string }[], object>("v1.k8s.namespaces.find", {
        query: { name: { $in: names } },
        fields: ["name", "domain"],
      });
      const domainOf = new Map(others.map((o) => [o.name, o.domain]));
      const issues: ValidationIssue[] = [];
      vHosts.forEach((host, i) => {
        const taken = spaces[i]?.find((s) => domainOf.get(s.namespace) === s.domain);
        if (taken === undefined) return;
        issues.push({
          type: "hostOfOtherNamespace",
          field: `vHosts[${i}]`,
          message: `The 'vHosts[${i}]' field names a host under '${taken.namespace}.${taken.domain}', the routes of namespace '${taken.namespace}'; take one under '${ns.name}.${ns.domain}' or another domain.`,
          actual: host,
        });
      });
      if (issues.length > 0) throw validationError(issues);
    },

    /**
     * A host routes to one deployment: another deployment (of any namespace, any tenant) that already serves it makes
     * this one 409 naming `vHosts[i]` — two Ingresses for one host would compete for its traffic.
     */
    async checkHostsFree(nsId: string, name: string, vHosts: readonly string[]): Promise<void> {
      for (const [i, host] of vHosts.entries()) {
        const users = await this.findRaw({ vHosts: host });
        if (users.some((r) => !(r.namespace === nsId && r.name === name))) {
          throw alreadyExists("route", `vHosts[${i}]`, host);
        }
      }
    },

    /**
     * A deployment's ConfigMaps are `<name>-env` (its plain env values) and `<name>-<configMap.name>` (its config
     * files); another deployment of the namespace whose own come out the same (`a` with config `b-c` and `a-b` with
     * config `c` both make `a-b-c`) is 409 naming the field. Otherwise the two overwrote each other's ConfigMap on every
     * apply, each taking the other's for drift. The other deployment's name is a `-`-separated prefix of the shared
     * name, so only those names are looked up.
     */
    async checkConfigMapNamesFree(nsId: string, name: string, configName: string | undefined): Promise<void> {
      const mine = configMapNamesOf(name, configName);
      const prefixes = new Set<string>();
      for (const { object } of mine) {
        const parts = object.split("-");
        for (let i = 1; i < parts.length; i += 1) prefixes.add(parts.slice(0, i).join("-"));
      }
      prefixes.delete(name);
      if (prefixes.size === 0) return;
      const others = await this.findRaw({ namespace: nsId, name: { $in: [...prefixes] } });
      for (const other of others) {
        const theirs = configMapNamesOf(String(other.name), (other.configMap as { name?: string } | undefined)?.name);
        for (const own of mine) {
          const taken = theirs.find((t) => t.object === own.object);
          if (taken === undefined) continue;
          throw new Errors.MoleculerClientError(
            `ConfigMap '${own.object}' is already deployment '${String(other.name)}''s (${taken.holds}): choose another ${own.field}`,
            409,
            ERROR_TYPES.ALREADY_EXISTS,
            { field: own.field, value: own.field === "name" ? name : configName },
          );
        }
      }
    },

    /** Each claim must be a volume record of the deployment's namespace (422 naming the field). */
    async checkClaims(
      nsId: string,
      volumes: readonly { persistentVolumeClaim: { claimName: string } }[],
    ): Promise<void> {
      if (volumes.length === 0) return;
      if (!canCall(this.broker, "v1.k8s.volumes.find")) {
        throw unavailable("v1.k8s.volumes", "the volumes service is not running: claims cannot be checked");
      }
      const names = [...new Set(volumes.map((v) => v.persistentVolumeClaim.claimName))];
      const found = await this.broker.call<{ name: string }[], { query: Record<string, unknown>; fields: string[] }>(
        "v1.k8s.volumes.find",
        { query: { namespace: nsId, name: { $in: names } }, fields: ["name"] },
      );
      const have = new Set(found.map((v) => v.name));
      const issues: ValidationIssue[] = [];
      volumes.forEach((v, i) => {
        const claim = v.persistentVolumeClaim.claimName;
        if (!have.has(claim)) {
          issues.push({
            type: "volumeNotFound",
            field: `volumes[${i}].persistentVolumeClaim.claimName`,
            message: `The 'volumes[${i}].persistentVolumeClaim.claimName' field must name a volume of this namespace; '${claim}' is none.`,
            actual: claim,
          });
        }
      });
      if (issues.length > 0) throw validationError(issues);
    },

    /**
     * The checksum of the record's env values now (v1.k8s.envs). Without an envs service to ask (its node away, or not
     * started yet), that of its newest revision: a render meanwhile keeps the pod template as it is, where the
     * checksum of no values would roll every pod of a deployment with env values (and again when the envs return).
     */
    async envChecksumOf(record: RawDoc): Promise<string> {
      if (!canCall(this.broker, "v1.k8s.envs.checksum")) return newestEnvChecksum(record) ?? envChecksum({}, {});
      const res = await this.broker.call<unknown, { deployment: string }>("v1.k8s.envs.checksum", {
        deployment: record._id,
      });
      if (typeof res === "string") return res;
      if (typeof res === "object" && res !== null && typeof (res as { checksum?: unknown }).checksum === "string") {
        return (res as { checksum: string }).checksum;
      }
      return envChecksum({}, {});
    },

    /** The record with its namespace and image looked up and the env checksum read: ready to render. */
    async resolve(record: RawDoc): Promise<Resolved> {
      const entity = entityOf(record);
      const [namespace, image, checksum] = await Promise.all([
        this.namespaceOf(entity.namespace),
        this.imageOf(entity.image),
        this.envChecksumOf(record),
      ]);
      const envName = envObjectName(entity.name);
      const input: DeploymentInput = {
        id: record._id,
        name: entity.name,
        namespace: namespace.name,
        image: toImageSpec(image),
        replicas: entity.replicas,
        vHosts: entity.vHosts ?? [],
        volumes: entity.volumes ?? [],
        ...(entity.configMap === undefined ? {} : { configMap: entity.configMap }),
        ...(entity.resources === undefined ? {} : { resources: entity.resources }),
        env: { configMapName: envName, secretName: envName, checksum },
        ...(entity.restartedAt === undefined ? {} : { restartedAt: entity.restartedAt }),
        ...(this.ingressClass === undefined ? {} : { ingressClass: this.ingressClass }),
        revision: entity.revision ?? 1,
      };
      return { record, namespace, input };
    },

    async applyResolved(resolved: Resolved, force: boolean): Promise<void> {
      const id = resolved.record._id;
      const objects = renderDeploymentObjects(resolved.input);
      // The render counts as the desired state from now on: watch events of this very apply may arrive before its
      // answer, and must not look like drift.
      const before = this.applied.record(id, canonicalJson(objects));
      let res: { objects: KubernetesObject[] };
      this.applied.applyStarted(id);
      try {
        res = await this.broker.call<{ objects: KubernetesObject[] }, Record<string, unknown>>("v1.kube.apply", {
          objects,
          fieldManager: FIELD_MANAGER,
          force,
        });
      } catch (err) {
        this.applied.restore(id, before);
        throw err;
      } finally {
        this.applied.applyEnded(id);
      }
      this.applied.setGenerations(
        id,
        res.objects.flatMap((o) => {
          // Our kinds only, each kept as one shared string rather than the answer's copy of it.
          const kind = OBJECT_KINDS.find((k) => k.kind === o.kind)?.kind;
          const generation = o.metadata?.generation;
          return kind !== undefined && typeof generation === "number" ? [[kind, generation] as [string, number]] : [];
        }),
      );
      // Objects of an earlier render that this one no longer has (an Ingress without vHosts, a renamed ConfigMap). The
      // first apply of a record being created has none (its id is new): skipping the scan spares 4 cached lists and
      // their copies per create (docs/performance.md).
      const first =
        before === undefined && this.creating.has(creatingKey(resolved.record.namespace, resolved.record.name));
      if (!first) await this.deleteObjects(resolved.record, resolved.namespace.name, objects);
    },

    /** Deletes the record's objects (those not in `keep`): by the names the record gives and by its id label. */
    async deleteObjects(record: RawDoc, nsName: string, keep: readonly DeploymentObject[] = []): Promise<void> {
      const kept = new Set(keep.map((o) => `${o.kind}/${o.metadata?.name ?? ""}`));
      const entity = entityOf(record);
      const targets = new Map<string, { apiVersion: string; kind: string; name: string }>();
      const add = (apiVersion: string, kind: string, name: string) => {
        if (!kept.has(`${kind}/${name}`)) targets.set(`${kind}/${name}`, { apiVersion, kind, name });
      };
      if (keep.length === 0) {
        add("apps/v1", "Deployment", entity.name);
        add("v1", "Service", serviceName(entity.name));
        add("networking.k8s.io/v1", "Ingress", ingressName(entity.name));
        if (entity.configMap !== undefined) add("v1", "ConfigMap", configMapName(entity.name, entity.configMap));
      }
      for (const k of OBJECT_KINDS) {
        for (const obj of await this.liveObjects(nsName, record._id, k.kind)) {
          add(k.apiVersion, k.kind, obj.metadata?.name ?? "");
        }
      }
      for (const t of targets.values()) {
        await this.broker.call("v1.kube.delete", {
          apiVersion: t.apiVersion,
          kind: t.kind,
          namespace: nsName,
          name: t.name,
          propagationPolicy: "Background",
        });
      }
    },

    /** The record's live objects of one kind (the informer cache). */
    async liveObjects(nsName: string, recordId: string, kind = "Deployment"): Promise<KubernetesObject[]> {
      const apiVersion = kind === "Pod" ? "v1" : (OBJECT_KINDS.find((k) => k.kind === kind)?.apiVersion ?? "v1");
      const res = await kubeList(this.broker, {
        apiVersion,
        kind,
        namespace: nsName,
        labelSelector: recordSelector("deployment", recordId),
      });
      return res.items;
    },

    /** The env records (and env objects) the deployment's image lists, those it has not got yet (v1.k8s.envs). */
    async createImageEnvs(
      recordId: string,
      namespaceId: string,
      imageId: string,
      deploymentName: string,
      namespaceName: string,
    ): Promise<void> {
      await this.broker.call("v1.k8s.envs.createEnv", {
        deployment: recordId,
        namespace: namespaceId,
        image: imageId,
        deploymentName,
        namespaceName,
      });
    },

    /**
     * Makes the env records the record's image lists that it was not given (`envsOwed`: a create cut short, envs
     * unreachable during a create or a change of image). Answers whether that is settled, so that the caller records
     * `envsFrom`: made, or refused for good (logged and not asked again, as a refused createEnv after a change of image
     * always was; the record is applied without them); false when no node serves createEnv. A retryable error is
     * thrown: it fails this reconcile, which is retried.
     */
    async makeOwedEnvs(record: RawDoc): Promise<boolean> {
      if (!canCall(this.broker, "v1.k8s.envs.createEnv")) return false;
      const entity = entityOf(record);
      const namespace = await this.namespaceOf(entity.namespace);
      try {
        await this.createImageEnvs(record._id, entity.namespace, entity.image, entity.name, namespace.name);
        this.logger.info(`deployment ${record._id}: the envs of its image '${entity.image}' made`);
      } catch (err) {
        if (this.isRetryableError(err)) throw err;
        this.logger.warn(`envs of deployment ${record._id} not made, not asked again: ${(err as Error).message}`);
      }
      return true;
    },

    /**
     * A Deployment about to be made again (a new or emptied cluster after a restart, one deleted behind our back) gets
     * its env objects first when they are missing: its containers read them with an optional `envFrom`, so a pod
     * started before them runs without the values, and nothing rolls it once they come (the template's checksum is
     * the same). The envs service's own resync makes them too (soon after its start), but not necessarily first.
     */
    async envObjectsBeforeDeployment(record: RawDoc, nsName: string): Promise<void> {
      if (!canCall(this.broker, "v1.k8s.envs.ensure")) return;
      if ((await this.liveObjects(nsName, record._id, "Deployment")).length > 0) return;
      // The envs service applies them only when the cluster's differ from the deployment's values (none: nothing).
      await this.broker.call("v1.k8s.envs.ensure", { deployment: record._id }).catch((err: unknown) => {
        // Retryable: this reconcile fails and is retried. Otherwise the Deployment goes on without them, as before.
        if (this.isRetryableError(err)) throw err;
        this.logger.warn(`env objects of deployment ${record._id} not made first: ${(err as Error).message}`);
      });
    },

    /**
     * Service ports someone else put in (a port edited with kubectl is another item of the list, keyed by port and
     * protocol) stay through our applies: server-side apply removes only items its manager owns, and taking one over
     * does not work for the key fields it shares. And the apply fails for good when such a port kept the name of ours
     * (the API server refuses two ports of one name). So the list is set to ours first, by a JSON patch whose `test`
     * operations make sure the ports the cache showed are still there (a list changed meanwhile fails it: the drift
     * repair that follows the change tries again).
     */
    async removeForeignPorts(resolved: Resolved): Promise<void> {
      const desired = renderService(resolved.input);
      if (desired === undefined) return;
      const live = (await this.liveObjects(resolved.namespace.name, resolved.record._id, "Service")).find(
        (o) => o.metadata?.name === desired.metadata?.name,
      ) as V1Service | undefined;
      const key = (p: V1ServicePort) => `${p.port}/${p.protocol ?? "TCP"}`;
      const keys = new Set((desired.spec?.ports ?? []).map(key));
      const ours = desired.spec?.ports ?? [];
      const livePorts = live?.spec?.ports ?? [];
      const foreign = livePorts.flatMap((p, i) => (keys.has(key(p)) ? [] : [i]));
      if (foreign.length === 0 || ours.length === 0) return;
      const where = `Service ${resolved.namespace.name}/${desired.metadata?.name ?? ""}`;
      this.logger.info(
        `${where}: removing ports put in behind our back: ${foreign.map((i) => key(livePorts[i] ?? { port: 0 })).join(", ")}`,
      );
      await this.broker.call("v1.kube.jsonPatch", {
        apiVersion: "v1",
        kind: "Service",
        namespace: resolved.namespace.name,
        name: desired.metadata?.name ?? "",
        fieldManager: FIELD_MANAGER,
        // The list as ours (a Service must keep at least one port, so not item by item); the apply then owns it again.
        operations: [
          ...foreign.map((i) => ({ op: "test", path: `/spec/ports/${i}/port`, value: livePorts[i]?.port })),
          { op: "replace", path: "/spec/ports", value: ours },
        ],
      });
    },

    // --- reconciler hooks ---

    async reconcile(record: RawDoc): Promise<void> {
      const creator = this.creating.get(creatingKey(record.namespace, record.name));
      const interrupted = creator === undefined && isInterruptedCreate(record);
      // Before the apply, so that the pods start with them.
      const envsSettled = creator === undefined && envsOwed(record) ? await this.makeOwedEnvs(record) : false;
      const resolved = await this.resolve(record);
      // The namespace is being removed, and its objects with it (the namespace controller deletes them): they are
      // not put back, nor is the record failed for the cluster's refusal.
      if (resolved.namespace.status?.phase === "Terminating") return;
      if (creator === undefined && !envsSettled) await this.envObjectsBeforeDeployment(record, resolved.namespace.name);
      if (creator === undefined) await this.removeForeignPorts(resolved);
      await this.applyResolved(resolved, true);
      const envsFrom = envsSettled || creator?.envsMade === true ? { [ENVS_FROM_FIELD]: record.image } : {};
      // Applied: no longer Pending (the watch events say how the rollout goes from here).
      const status = record.status as DeploymentStatus | undefined;
      if (status === undefined || status.phase === "Pending") {
        const applied: DeploymentStatus = {
          ...(status ?? pending("Applied")),
          phase: "Progressing",
          reason: "Applied",
          message: `revision ${String(record.revision ?? 1)} applied; waiting for the rollout`,
        };
        if (creator === undefined && !interrupted) {
          if (envsSettled) await this.updateEntity(null, record._id, { status: applied, ...envsFrom });
          else await this.setStatus(record._id, applied);
        } else {
          // A create's first apply: its first revision goes into the same write (the create's after-hook finds it).
          await this.withRevisionLock(record._id, async () => {
            const current = await this.findRawById(record._id);
            if (current === null) return;
            // Not readable now (the envs service away): the status alone; the after-hook records the revision or logs.
            const revision = await this.firstRevisionChanges(current, creator?.who).catch(() => ({}));
            await this.updateEntity(null, record._id, { status: applied, ...revision, ...envsFrom });
          });
        }
      } else if (envsSettled) {
        await this.updateEntity(null, record._id, envsFrom);
      }
      this.scheduleStatus(record._id);
    },

    async needsReconcile(candidate: RawDoc): Promise<boolean> {
      // The resync's list was read before; the record may have been applied (or removed) since.
      const record = await this.findRawById(candidate._id);
      if (record === null || this.creating.has(creatingKey(record.namespace, record.name))) return false;
      const status = record.status as DeploymentStatus | undefined;
      if (status?.phase === "Pending" && status.reason !== "NotApplied") return true;
      if (envsOwed(record) && canCall(this.broker, "v1.k8s.envs.createEnv")) return true;
      const resolved = await this.resolve(record);
      // A change whose revision was never written (its event lost, its node stopped first): recorded now, which raises
      // the revision and applies the record. On one node (as the env events).
      if (
        this.firstDeploymentsNode() &&
        this.revisionBehind(record, resolved.input.env.checksum, imageReference(resolved.input.image)) &&
        (await this.recordRevision(record._id, {}))
      ) {
        return false;
      }
      const desired = renderDeploymentObjects(resolved.input);
      for (const obj of desired) {
        const live = (await this.liveObjects(resolved.namespace.name, record._id, obj.kind)).find(
          (o) => o.metadata?.name === obj.metadata?.name,
        );
        if (isDrifted(obj, live)) return true;
      }
      // After a restart nothing was rendered yet: the start-up resync records what is live, so that the watch can tell
      // an edit behind our back (a modified object is compared with the last render) before the next resync.
      if (!this.applied.has(record._id)) this.applied.record(record._id, canonicalJson(desired));
      return false;
    },

    async reconcileCandidates(): Promise<RawDoc[]> {
      // The records of a namespace removed while this service was away (its k8s.namespaces.removed never came):
      // removed as that event would have; their objects are collected next, as those of any record gone.
      const records = await this.withoutGoneNamespaces(await this.findRaw({}), (nsId) =>
        this.removeNamespaceRecords(nsId, undefined),
      );
      await this.collectOrphans().catch((err: unknown) =>
        this.logger.debug(`orphaned objects not collected now: ${(err as Error).message}`),
      );
      return records;
    },

    async removeNamespaceRecords(nsId: string, nsName: string | undefined): Promise<void> {
      const records = await this.findRaw({ namespace: nsId });
      await this.removeEntities(null, { namespace: nsId });
      for (const record of records) {
        this.cancelReconcile(record._id);
        this.applied.delete(record._id);
        // Without the namespace's name (a removal found by the resync) the objects are left to collectOrphans.
        if (nsName !== undefined) await this.deleteObjects(record, nsName).catch(() => undefined);
      }
    },

    async onReconcileFailed(record: RawDoc, err: unknown): Promise<void> {
      const message = err instanceof Error ? err.message : String(err);
      if (hasType(err, ERROR_TYPES.K8S_NOT_FOUND)) {
        await this.setStatus(record._id, pending("NamespaceNotReady", message));
      } else if (/because it is being terminated/.test(message)) {
        // The Namespace is being deleted in the cluster (its record may not know yet): nothing failed here.
        await this.setStatus(record._id, pending("NamespaceTerminating", message));
      } else if (this.isRetryableError(err)) {
        await this.setStatus(record._id, pending("ClusterUnavailable", message));
      } else {
        // A create is undone and an update restored by their callers; a resync or an env change keeps this status.
        this.logger.warn(`deployment ${record._id} not applied: ${message}`);
        const status = record.status as DeploymentStatus | undefined;
        await this.setStatus(record._id, {
          ...(status ?? pending("ApplyFailed")),
          phase: "Failed",
          reason: "ApplyFailed",
          message,
        });
      }
    },

    // --- status and drift ---

    async setStatus(recordId: string, status: DeploymentStatus): Promise<void> {
      const current = await this.findRawById(recordId);
      if (current === null || sameStatus(current.status, status)) return;
      await this.updateEntity(null, recordId, { status });
    },

    scheduleStatus(recordId: string): void {
      this.oncePerBurst(this.statusTimers, recordId, "status not refreshed", (id) =>
        this.statusRefreshes.run(id, () => this.refreshStatus(id)),
      );
    },

    /**
     * Runs `work(recordId)` once, `statusDebounceMs` after the first of a burst of calls for the record (events come in
     * bursts: a rollout's status writes, createEnv's env events, a build's image writes); a failure is logged (debug).
     */
    oncePerBurst(
      timers: Map<string, NodeJS.Timeout>,
      recordId: string,
      failure: string,
      work: (recordId: string) => Promise<unknown>,
    ): void {
      if (timers.has(recordId)) return;
      const timer = setTimeout(() => {
        timers.delete(recordId);
        void work(recordId).catch((err: unknown) =>
          this.logger.debug(`${recordId}: ${failure}: ${(err as Error).message}`),
        );
      }, this.settings.statusDebounceMs ?? 100);
      timers.set(recordId, timer);
    },

    /** Drift shows in several events at once (each status write of a changed object): repair once. */
    scheduleDriftRepair(recordId: string): void {
      this.oncePerBurst(this.driftTimers, recordId, "drift not repaired", (id) => this.reconcileNow(id));
    },

    /** Env events come in bursts (one per record, e.g. createEnv): gather them, then re-apply once if needed. */
    scheduleEnvReapply(recordId: string): void {
      this.oncePerBurst(this.envTimers, recordId, "env change not applied now", (id) => this.reapplyIfChanged(id));
    },

    /** Applies the record when its render differs from the last one applied (a new env checksum); else no write. */
    async reapplyIfChanged(recordId: string): Promise<void> {
      const record = await this.findRawById(recordId);
      // A create in flight applies with the env values createEnv made: nothing to add.
      if (record === null || this.creating.has(creatingKey(record.namespace, record.name))) return;
      if (this.applied.has(recordId)) {
        const { input } = await this.resolve(record);
        if (this.applied.isApplied(recordId, canonicalJson(renderDeploymentObjects(input)))) return;
      }
      await this.reconcileNow(recordId);
    },

    /**
     * Image and env events are broadcast to every deployments node: the first available one by node id acts (one
     * revision, one apply); the others would only repeat the same writes. The resync's revision check asks it too.
     */
    firstDeploymentsNode(): boolean {
      const endpoints = this.broker.registry.getActionEndpoints(`${this.fullName}.history`);
      const nodes = (endpoints?.endpoints ?? [])
        .filter((ep) => ep.isAvailable)
        .map((ep) => ep.id)
        .sort();
      return nodes.length === 0 || nodes[0] === this.broker.nodeID;
    },

    async onImageChanged(imageId: string): Promise<void> {
      const records = await this.findRaw({ image: imageId });
      for (const record of records) this.scheduleImageReapply(record._id);
    },

    /** A build writes its image twice or more in a row (started, succeeded): gather them, then act once per record. */
    scheduleImageReapply(recordId: string): void {
      this.oncePerBurst(this.imageTimers, recordId, "image change not applied now", (id) => this.reapplyForImage(id));
    },

    /**
     * After its image changed: a new image reference is recorded as a revision (recordRevision raises the record's
     * revision and applies it); then, if the render still differs from what was applied last (or, with nothing
     * rendered on this node yet, from the cluster), the record is applied. Nothing differs: no write.
     */
    async reapplyForImage(recordId: string): Promise<void> {
      const record = await this.findRawById(recordId);
      if (record === null) return;
      // A create in flight may have read the image before it changed: look again once it is done.
      if (this.creating.has(creatingKey(record.namespace, record.name))) {
        this.scheduleImageReapply(recordId);
        return;
      }
      await this.recordRevision(recordId, {});
      const current = await this.findRawById(recordId);
      if (current === null) return;
      if (this.applied.has(recordId)) {
        const { input } = await this.resolve(current);
        if (this.applied.isApplied(recordId, canonicalJson(renderDeploymentObjects(input)))) return;
      } else if (!(await this.needsReconcile(current))) {
        return;
      }
      this.logger.info(`deployment ${recordId}: its image changed, re-applying`);
      await this.reconcileNow(recordId);
    },

    async refreshStatus(recordId: string): Promise<void> {
      const record = await this.findRawById(recordId);
      if (record === null) return;
      const status = await this.statusNow(record);
      // No Deployment: not applied yet, or being re-applied: keep what the record says.
      if (status !== undefined) await this.setStatus(recordId, status);
    },

    /** The record's status from the watch cache (undefined without a Deployment there); writes nothing. */
    async statusNow(record: RawDoc): Promise<DeploymentStatus | undefined> {
      const ns = await this.namespaceOf(String(record.namespace));
      const [deps, pods] = await Promise.all([
        this.liveObjects(ns.name, record._id, "Deployment"),
        this.liveObjects(ns.name, record._id, "Pod"),
      ]);
      const dep = deps[0] as V1Deployment | undefined;
      if (dep === undefined) return undefined;
      const applied = this.applied.generation(record._id, "Deployment");
      if (applied !== undefined && (dep.metadata?.generation ?? 0) < applied) {
        // The watch has not brought the Deployment this node applied last: its rollout is ahead of what the cache
        // shows (an update's answer showed the finished rollout before it).
        return {
          ...((record.status as DeploymentStatus | undefined) ?? pending("Applied")),
          phase: "Progressing",
          reason: "Applied",
          message: `revision ${String(record.revision ?? 1)} applied; waiting for the rollout`,
        };
      }
      return deploymentStatusOf(dep, pods as V1Pod[], Number(record.replicas ?? 1));
    },

    /** Whether a live object is of an older generation than the one this node's last apply of it was answered with. */
    olderThanApplied(recordId: string, obj: KubernetesObject): boolean {
      const applied = obj.kind === undefined ? undefined : this.applied.generation(recordId, obj.kind);
      const generation = obj.metadata?.generation;
      return applied !== undefined && typeof generation === "number" && generation < applied;
    },

    onObjectEvent(obj: KubernetesObject, type: "added" | "modified" | "deleted"): void {
      const recordId = getIdFromAnnotation(obj);
      if (recordId === undefined || obj.metadata?.labels?.[COMPONENT_LABEL] !== "deployment") return;
      if (obj.kind === "Deployment") this.scheduleStatus(recordId);
      if (type === "added") return;
      // A rollout writes a Deployment's status several times: events of the generation, labels and annotations of one
      // already found in line with the last apply. Its spec moves the generation, so nothing a drift check reads has
      // changed, and the record need not be read and rendered again for it.
      const fingerprint = type === "modified" && obj.kind === "Deployment" ? liveFingerprint(obj) : undefined;
      if (fingerprint !== undefined && this.applied.liveInLine(recordId, "Deployment", fingerprint)) return;
      void (async () => {
        const record = await this.findRawById(recordId);
        if (record === null) return;
        const where = `${obj.kind} ${obj.metadata?.namespace ?? ""}/${obj.metadata?.name ?? ""}`;
        const last = await this.applied.lastRender(recordId, async () => {
          const { input } = await this.resolve(record);
          return canonicalJson(renderDeploymentObjects(input));
        });
        // The record renders differently from what was applied last: the apply that follows (or the resync) decides.
        if (last === "changed") return;
        // Only objects of the last render count (not one we just deleted, nor a copy in another namespace); after a
        // restart nothing was rendered yet and a deleted object is put back all the same.
        const desired = (last === "none" ? undefined : last.objects)?.find(
          (o) =>
            o.kind === obj.kind &&
            o.metadata?.name === obj.metadata?.name &&
            o.metadata?.namespace === obj.metadata?.namespace,
        );
        const restartedAt =
          type === "modified" && desired !== undefined && !this.olderThanApplied(recordId, obj)
            ? kubectlRestart(desired, obj)
            : undefined;
        if (type === "deleted" && (last === "none" || desired !== undefined)) {
          // Once per repair: one drift sends several events (its own, then the controllers' status writes).
          if (!this.driftTimers.has(recordId)) this.logger.info(`${where} deleted behind our back: re-applying`);
          this.scheduleDriftRepair(recordId);
        } else if (type === "modified" && this.applied.isApplying(recordId)) {
          // An event of the version before an apply under way: that apply decides (see AppliedRenders.applyStarted).
          return;
        } else if (type === "modified" && desired !== undefined && olderRevision(obj, desired)) {
          // A version an earlier apply of ours wrote (its status written since), whose event comes after the newer
          // apply: the revision is on the Deployment's metadata, which moves no generation to tell them apart by.
          return;
        } else if (restartedAt !== undefined) {
          // `kubectl rollout restart`: a restart asked for, as `POST /:id/restart` is, not a change to undo. Recorded
          // (a revision) with the time kubectl set, which the render then carries: the rollout under way is the one.
          // (Once recorded, the render carries it: later events of it are no longer a restart to record.)
          const recorded = await this.broker.call("v1.k8s.deployments.update", { id: recordId, restartedAt }).then(
            () => true,
            (err: unknown) => {
              this.logger.warn(`${where} restarted with kubectl, not recorded (undone): ${(err as Error).message}`);
              return false;
            },
          );
          if (recorded) this.logger.info(`${where} restarted with kubectl rollout restart: recorded as a revision`);
          else this.scheduleDriftRepair(recordId);
        } else if (type === "modified" && desired !== undefined && isDrifted(desired, obj)) {
          // An event about an older version than we applied last (its status being written meanwhile) is no drift.
          if (this.olderThanApplied(recordId, obj)) return;
          if (!this.driftTimers.has(recordId)) {
            this.logger.info(`${where} changed behind our back (${driftPath(desired, obj)}): re-applying`);
          }
          this.scheduleDriftRepair(recordId);
        } else if (fingerprint !== undefined && desired !== undefined) {
          // In line with the objects `lastRender` just answered, which are those of the apply recorded now.
          this.applied.markInLine(recordId, "Deployment", fingerprint);
        }
      })().catch((err: unknown) => this.logger.debug(`event for ${recordId} not handled: ${(err as Error).message}`));
    },

    /** Deletes deployment objects whose record no longer exists (a remove while the cluster was down). */
    async collectOrphans(): Promise<void> {
      const selector = `${MANAGED_BY_SELECTOR},${COMPONENT_LABEL}=deployment`;
      for (const k of OBJECT_KINDS) {
        const res = await kubeList(this.broker, {
          apiVersion: k.apiVersion,
          kind: k.kind,
          labelSelector: selector,
        });
        for (const obj of res.items) {
          const recordId = getIdFromAnnotation(obj);
          if (recordId === undefined || (await this.findRawById(recordId)) !== null) continue;
          await this.broker.call("v1.kube.delete", {
            apiVersion: k.apiVersion,
            kind: k.kind,
            namespace: obj.metadata?.namespace ?? "",
            name: obj.metadata?.name ?? "",
            propagationPolicy: "Background",
          });
        }
      }
    },
  },

  created() {
    const cfg = readConfig();
    const fromEnv = process.env.MAX_REPLICAS;
    const envCap = fromEnv === undefined || fromEnv === "" ? undefined : Number(fromEnv);
    if (envCap !== undefined && (!Number.isInteger(envCap) || envCap < 0)) {
      throw new Error(`MAX_REPLICAS must be a non-negative integer, got '${fromEnv ?? ""}'`);
    }
    this.maxReplicas = this.settings.maxReplicas ?? envCap ?? DEFAULT_MAX_REPLICAS;
    this.allowedDomains = this.settings.allowedDomains ?? cfg.allowedDomains;
    this.ingressClass = this.settings.ingressClass ?? cfg.ingressClass;
    this.applied = new AppliedRenders();
    this.statusTimers = new Map();
    this.statusRefreshes = new KeyedChain();
    this.envTimers = new Map();
    this.imageTimers = new Map();
    this.driftTimers = new Map();
    this.creating = new Map();
  },

  stopped() {
    for (const timers of [this.statusTimers, this.envTimers, this.imageTimers, this.driftTimers]) {
      for (const timer of timers.values()) clearTimeout(timer);
      timers.clear();
    }
  },
};

/**
 * Whether the record's image envs are owed. `envsFrom` (ENVS_FROM_FIELD, stored, hidden from callers) is the image its
 * env records were made from (`createEnv`), or null while they are owed: from a create's insert until its first
 * apply's write, from a change of image until the reconcile that follows. The resync makes owed envs; nothing else
 * makes an image's envs again, since a user may remove some. A record stored before the field existed owes them only
 * when it is a create cut short (`isInterruptedCreate`).
 */
export function envsOwed(record: RawDoc): boolean {
  const from = record[ENVS_FROM_FIELD];
  return from === undefined ? isInterruptedCreate(record) : from !== record.image;
}

/**
 * A record whose create stopped (its node died) between storing it and its first apply: still in the create's
 * `Pending / Applying` status (any apply or failed apply changes it) and without the first revision that first apply
 * stores. The caller leaves out one being created on its own node (`creating`); one being created on another
 * deployments node at that very moment is finished by both (createEnv settles the clash of env records, the first
 * revision is stored once, under each node's revision lock, whichever writes first).
 */
export function isInterruptedCreate(record: RawDoc): boolean {
  const status = record.status as DeploymentStatus | undefined;
  return status?.phase === "Pending" && status.reason === CREATE_REASON && !hasStoredRevisions(record);
}

/** Whether some node (this one or another) serves the action now. */
function canCall(broker: ServiceBroker, action: string): boolean {
  return broker.registry.actions.isAvailable(action);
}

function eventType(eventName: string | undefined): "added" | "modified" | "deleted" {
  const last = eventName?.split(".").pop();
  return last === "deleted" ? "deleted" : last === "modified" ? "modified" : "added";
}

export default schema;
