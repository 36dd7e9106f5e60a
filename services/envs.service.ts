/**
 * `v1.k8s.envs`: a deployment's environment variables. Each record is one variable (`key`, unique per deployment) of
 * `type` plain or secret; a deployment's variables become two objects named `<deployment>-env` in its namespace
 * (lib/manifests/env.ts): plain values in a ConfigMap, secret values in a Secret, never the other way round. The
 * Deployment reads both with `envFrom` (optional) and carries `checksum` on its pod template, so a changed value rolls
 * the pods. An object is in the cluster only while it holds a value: no ConfigMap without a plain value, no Secret
 * without a secret one (a deployment without envs has neither); the write that empties a map deletes its object.
 *
 * Secrets: a secret `value` is "********" in every response and every `k8s.envs.*` event (`publicEntity`, which also
 * masks a value whose record is projected without its `type`); users may neither query nor sort by `value` (that
 * would be an oracle for guessing); no value is ever logged. Only internal calls see values: `render` (the objects to
 * apply) and `resolveENV`. A secret created without a value gets 24 random bytes (base64url); `createEnv` never
 * replaces a stored value, so running it again changes nothing.
 *
 * Writes to a deployment's envs are serialised per deployment (on this node) and run in this order: validate, render
 * the objects from the stored records plus the change, apply them (`v1.kube.apply`, field manager "k8s.envs", force;
 * an object whose map the change empties is deleted with `v1.kube.delete` instead), then store the change (which
 * broadcasts `k8s.envs.created|updated|removed`). So when the deployments service hears the event and re-applies its
 * Deployment with the new checksum, the ConfigMap/Secret already hold the new values. A cluster that cannot be reached
 * (503) does not fail the write: the change is stored and the apply retried with capped backoff (`settings.retry`).
 * Any other cluster error fails the write and nothing is stored (the objects it touched are put back as they were:
 * re-applied, or deleted when they held nothing). If the store fails after the apply, the objects are brought back to
 * what is stored. The lock is re-entrant for the call chain holding it: the store awaits local `k8s.envs.*`
 * listeners, and one that calls back into a write of the same deployment runs at once instead of waiting for itself.
 * Across nodes, the unique index (deployment, key) decides.
 *
 * The env records a deployment's image lists are made by `createEnv`, which the deployments service calls on a create,
 * on a change of image, and for a record whose envs it owes (its `envsOwed`, found by its resync): no reaction to
 * `k8s.deployments.created` here (it did the same work a second time on every create).
 *
 * Reactions: `k8s.deployments.removed` → the deployment's envs and their two objects removed;
 * `k8s.namespaces.removed` → `clean` of that namespace; an env object of ours deleted (or a ConfigMap changed) behind
 * our back → re-applied while its deployment exists and the object has values to hold (an empty one found present is
 * deleted); `initialResyncDelayMs` after start (default 1 s: a restart may find the cluster without them) and every
 * `resyncIntervalSeconds` (RESYNC_INTERVAL) a resync re-applies env objects that are missing or hold
 * other plain values, deletes those present with nothing to hold (it reads, and writes only what drifted: an empty map
 * whose object is absent is converged), and deletes env objects whose deployment is gone in namespaces the suite
 * knows (a removal whose retry a restart lost);
 * `kube.cluster.available` (the API server is back) → queued retries now, then a resync.
 */
import type { Context, ServiceSchema, ServiceSettingSchema } from "moleculer";
import { Errors } from "moleculer";
import { AsyncLocalStorage } from "node:async_hooks";
import { randomBytes } from "node:crypto";
import type { KubernetesObject, V1ConfigMap, V1Secret } from "@kubernetes/client-node";
import { readConfig } from "../lib/config.ts";
import { ENV_TYPES, SECRET_MASK, type EnvEntity, type EnvType } from "../lib/entities.ts";
import { alreadyExists, ERROR_TYPES, hasCode, hasType, invalid, notFound } from "../lib/errors.ts";
import {
  canonicalJson,
  COMPONENT_LABEL,
  DATA_DIGEST_ANNOTATION,
  DATA_KEYS_ANNOTATION,
  envChecksum,
  envObjectName,
  getIdFromAnnotation,
  isEmptyEnvObject,
  isManaged,
  MANAGED_BY_SELECTOR,
  NAME_LABEL,
  renderEnvConfigMap,
  renderEnvSecret,
  sanitizeLabelValue,
  secretData,
  secretDataDigest,
  recordSelector,
} from "../lib/manifests/index.ts";
import { kubeList, recordObjectLive } from "../lib/kube/local-list.ts";
import { KeyedChain } from "../lib/keyed-chain.ts";
import { isInternal, type CallerMeta } from "../lib/meta.ts";
import { defineParams, type ParamsOf } from "../lib/params.ts";
import { DNS_1123_LABEL, DNS_1123_LABEL_MAX, ENV_VAR_NAME } from "../lib/validators.ts";
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
  type AccessLevel,
  type MembershipMethods,
  type MembershipVars,
} from "../mixins/membership.mixin.ts";

// ---------------------------------------------------------------------------------------------------------------
// Params and results

const id = { type: "string", empty: false, max: 64 } as const;
/** A ConfigMap/Secret key that is also an env var name Kubernetes accepts. */
const key = { type: "string", empty: false, max: 253, pattern: ENV_VAR_NAME } as const;
const value = { type: "string", max: 65536 } as const;
const envType = { type: "enum", values: ENV_TYPES } as const;
const dnsLabel = { type: "string", empty: false, max: DNS_1123_LABEL_MAX, pattern: DNS_1123_LABEL } as const;
const immutable = { type: "forbidden", optional: true } as const;

export const envCreateParams = defineParams({
  $$strict: true,
  namespace: id,
  deployment: id,
  key,
  type: { ...envType, default: "plain" },
  /** Required for plain; a secret without one gets a generated value. */
  value: { ...value, optional: true },
});
export const envUpdateParams = defineParams({
  $$strict: true,
  id,
  key: { ...key, optional: true },
  value: { ...value, optional: true },
  type: { ...envType, optional: true },
  namespace: immutable,
  deployment: immutable,
});
export const envDeploymentParams = defineParams({ $$strict: true, deployment: id });
export const envResolveParams = defineParams({ $$strict: true, deployment: id, key });
export const envNamespaceParams = defineParams({ $$strict: true, namespace: id });
export const envCleanParams = defineParams({ $$strict: true, namespace: { ...id, optional: true } });
/** One env entry of an image (lib/entities.ts imageSchema). */
const imageEnvEntry = {
  type: "object",
  props: { key, type: envType, value: { ...value, optional: true } },
} as const;
export const createEnvParams = defineParams({
  $$strict: true,
  /** The deployment record id. */
  deployment: id,
  /** The namespace record id. */
  namespace: id,
  /** The image record id, or the image itself (only its `env` is read). */
  image: [id, { type: "object", props: { env: { type: "array", optional: true, max: 128, items: imageEnvEntry } } }],
  /** The deployment's name; saves a `v1.k8s.deployments.get` (e.g. before its record is stored). */
  deploymentName: { ...dnsLabel, optional: true },
  /** The Kubernetes namespace name; saves a `v1.k8s.namespaces.get`. */
  namespaceName: { ...dnsLabel, optional: true },
});

export type EnvCreateParams = ParamsOf<typeof envCreateParams>;
export type EnvUpdateParams = ParamsOf<typeof envUpdateParams>;
export type EnvDeploymentParams = ParamsOf<typeof envDeploymentParams>;
export type EnvResolveParams = ParamsOf<typeof envResolveParams>;
export type EnvNamespaceParams = ParamsOf<typeof envNamespaceParams>;
export type EnvCleanParams = ParamsOf<typeof envCleanParams>;
export type CreateEnvParams = ParamsOf<typeof createEnvParams>;

/** What `createEnv` and `patchConfigMap` answer. */
export interface EnvPatchResult {
  /** envChecksum of the values now stored (the Deployment's pod-template annotation). */
  checksum: string;
  /** The ConfigMap the Deployment reads (`envFrom`, optional): in the cluster only while a plain value exists. */
  configMapName: string;
  /** The Secret the Deployment reads (`envFrom`, optional): in the cluster only while a secret value exists. */
  secretName: string;
  /**
   * True when the cluster holds what is stored: each object with values applied, an object with none deleted or
   * absent. False when the cluster could not be reached: that is done later (retried).
   */
  applied: boolean;
  /** How many env records were created (createEnv). */
  created?: number;
}

/**
 * What `pack` answers: what would be applied, secret values masked. An empty `data` / `keys` means that object is not
 * applied (the cluster has no such object); the names are those the Deployment reads.
 */
export interface EnvPackResult {
  configMap: { name: string; namespace: string; data: Record<string, string> };
  secret: { name: string; namespace: string; keys: string[]; data: Record<string, string> };
  checksum: string;
}

/**
 * What `render` (internal) answers: both env objects with the secret values; one with empty `data` is not applied
 * (absent from the cluster).
 */
export interface EnvRenderResult {
  objects: [V1ConfigMap, V1Secret];
  checksum: string;
}

export interface EnvResyncResult {
  /** Deployments with envs that were checked. */
  checked: number;
  /**
   * Deployments whose objects were missing or held other plain values (applied again), or were present with nothing
   * to hold (deleted).
   */
  repaired: number;
  /**
   * Deployments found gone whose env records were still stored: their removal was not seen (v1.k8s.envs down when it
   * was broadcast, the event lost). Their records are removed, and their ConfigMap/Secret with them.
   */
  removed: number;
}

export interface EnvRePatchResult {
  namespace: string;
  deployments: number;
  applied: number;
}

// ---------------------------------------------------------------------------------------------------------------
// Pure helpers (exported for unit tests)

/** The fields of an env record that rendering needs. */
export interface EnvValues {
  key: string;
  type: EnvType;
  value?: string | undefined;
}

/** A deployment as env objects need it. */
export interface DeploymentRef {
  /** Deployment record id. */
  id: string;
  name: string;
  /** Namespace record id. */
  namespace: string;
  /** Kubernetes namespace name. */
  namespaceName: string;
}

/** A strong random secret value: 24 random bytes, base64url (32 characters). */
export function generateSecret(): string {
  return randomBytes(24).toString("base64url");
}

/** Plain and secret values by key (a later record with the same key wins). */
export function splitValues(records: readonly EnvValues[]): {
  plain: Record<string, string>;
  secret: Record<string, string>;
} {
  const plain: Record<string, string> = {};
  const secret: Record<string, string> = {};
  for (const r of records) {
    delete plain[r.key];
    delete secret[r.key];
    if (r.type === "secret") secret[r.key] = r.value ?? "";
    else plain[r.key] = r.value ?? "";
  }
  return { plain, secret };
}

/** The most a ConfigMap's or a Secret's values may hold, in bytes (kube-apiserver's `MaxSecretSize`, 1 MiB). */
export const MAX_ENV_OBJECT_BYTES = 1024 * 1024;

/**
 * Why a deployment's env values cannot be applied, or undefined: the plain values (its ConfigMap) or the secret values
 * (its Secret) together over MAX_ENV_OBJECT_BYTES, which the API server refuses. Counted as it counts: the values'
 * bytes (UTF-8), not the keys.
 */
export function envSizeProblem(records: readonly EnvValues[]): string | undefined {
  const { plain, secret } = splitValues(records);
  for (const [values, object] of [
    [plain, "plain values (its ConfigMap)"],
    [secret, "secret values (its Secret)"],
  ] as const) {
    const bytes = Object.values(values).reduce((sum, v) => sum + Buffer.byteLength(v, "utf8"), 0);
    if (bytes > MAX_ENV_OBJECT_BYTES) {
      return `would hold ${bytes} bytes of ${object}, more than the ${MAX_ENV_OBJECT_BYTES} the cluster takes`;
    }
  }
  return undefined;
}

/** envChecksum of a set of env records. */
export function checksumOf(records: readonly EnvValues[]): string {
  const { plain, secret } = splitValues(records);
  return envChecksum(plain, secret);
}

/** The `<deployment>-env` ConfigMap (plain values) and Secret (secret values) of a deployment. */
export function renderEnvObjects(ref: DeploymentRef, records: readonly EnvValues[]): [V1ConfigMap, V1Secret] {
  const { plain, secret } = splitValues(records);
  const base = { deploymentId: ref.id, deploymentName: ref.name, namespace: ref.namespaceName };
  return [renderEnvConfigMap({ ...base, plain }), renderEnvSecret({ ...base, secret })];
}

/**
 * The public form of an env: a secret's value masked. A value whose record comes without `type` (a `fields`
 * projection) is masked too, since it may be a secret.
 */
export function maskEnv<T extends Record<string, unknown>>(entity: T): T {
  if (!("value" in entity) || entity.type === "plain") return entity;
  return { ...entity, value: SECRET_MASK };
}

/** Whether a query names `field` (as a key or dotted-path head, at any depth, or as a `$field` reference). */
export function queryMentions(query: unknown, field: string): boolean {
  if (typeof query === "string") return query === `$${field}` || query.startsWith(`$${field}.`);
  if (Array.isArray(query)) return query.some((q) => queryMentions(q, field));
  if (typeof query !== "object" || query === null) return false;
  return Object.entries(query).some(([k, v]) => k.split(".")[0] === field || queryMentions(v, field));
}

/** Whether a moleculer-db sort string ("-value", "key value", "key,-value") sorts by `field`. */
export function sortMentions(sort: unknown, field: string): boolean {
  if (typeof sort !== "string") return false;
  return sort
    .split(/[\s,]+/)
    .map((s) => s.replace(/^-/, "").split(".")[0])
    .includes(field);
}

/** Which of `ours` (key → value) the object's `data` lacks or holds differently. */
export function driftedKeys(ours: Readonly<Record<string, string>>, actual: unknown): string[] {
  const data = typeof actual === "object" && actual !== null ? (actual as Record<string, unknown>) : {};
  return Object.keys(ours).filter((k) => data[k] !== ours[k]);
}

/**
 * The keys a live env object holds beyond `ours`: someone else's (`kubectl patch` adds them, and every new pod gets them
 * through `envFrom`). A ConfigMap's from its data; a Secret's from the keys the watch cache keeps for its data.
 */
export function surplusKeys(ours: Readonly<Record<string, string>>, live: KubernetesObject | undefined): string[] {
  if (live === undefined) return [];
  const keys =
    live.kind === "Secret"
      ? (live.metadata?.annotations?.[DATA_KEYS_ANNOTATION] ?? "").split(",").filter((k) => k !== "")
      : Object.keys((live as V1ConfigMap).data ?? {});
  return keys.filter((k) => !Object.hasOwn(ours, k));
}

/**
 * Whether a live env object holds other than `ours`: a value changed or missing, or a key added. A Secret is compared
 * by the digest of its data the watch cache keeps (none kept: not compared, only its presence counts).
 */
export function envObjectDiffers(ours: Readonly<Record<string, string>>, live: KubernetesObject): boolean {
  if (live.kind === "Secret") {
    const digest = live.metadata?.annotations?.[DATA_DIGEST_ANNOTATION];
    return digest !== undefined && digest !== secretDataDigest(secretData(ours));
  }
  return driftedKeys(ours, (live as V1ConfigMap).data).length > 0 || surplusKeys(ours, live).length > 0;
}

/**
 * Whether a deployment's env objects in the cluster differ from its values: a map with values whose object is missing
 * or holds other values (`envObjectDiffers`), or an object present for an empty map. `objects` by `<kind>/<name>`.
 */
export function envObjectsDrifted(
  name: string,
  values: { plain: Readonly<Record<string, string>>; secret: Readonly<Record<string, string>> },
  objects: ReadonlyMap<string, KubernetesObject>,
): boolean {
  const drifted = (kind: "ConfigMap" | "Secret", ours: Readonly<Record<string, string>>): boolean => {
    const live = objects.get(`${kind}/${name}`);
    // An empty map is converged when its object is absent, drifted when it is present.
    if (Object.keys(ours).length === 0) return live !== undefined;
    return live === undefined || envObjectDiffers(ours, live);
  };
  return drifted("ConfigMap", values.plain) || drifted("Secret", values.secret);
}

// ---------------------------------------------------------------------------------------------------------------
// Service

interface Settings extends ServiceSettingSchema {
  rest: string;
  db?: DbConnectionSettings;
  /** Backoff of the re-apply of env objects the cluster could not take (default 1 s → 30 s). */
  retry: { initialMs: number; maxMs: number };
  /** Seconds between resyncs of the env objects against the cluster; default RESYNC_INTERVAL; 0 = none. */
  resyncIntervalSeconds?: number;
  /** Milliseconds after start before the first resync (default 1000; negative = none before the first interval). */
  initialResyncDelayMs?: number;
}

interface DeploymentRecord {
  id: string;
  name: string;
  namespace: string;
  image?: unknown;
}
interface NamespaceRecord {
  id: string;
  name: string;
  status?: { phase?: string };
}
interface ImageRecord {
  env?: { key: string; type: EnvType; value?: string }[];
}

interface EnvMethods {
  /** The deployment (and its namespace's name); 404 when either is unknown, 409 NAMESPACE_LOCKED when Terminating. */
  deploymentRef(deploymentId: string, hint?: Partial<Omit<DeploymentRef, "id">>): Promise<DeploymentRef>;
  /** Whether v1.k8s.deployments says the deployment is gone (404); false when it has it or cannot say now. */
  deploymentGone(deploymentId: string): Promise<boolean>;
  /** deploymentRef, or undefined when the deployment (or its namespace) is gone. */
  findDeploymentRef(deploymentId: string): Promise<DeploymentRef | undefined>;
  /** authorize() on the deployment's namespace, with strangers told the deployment is not found. */
  authorizeDeployment(ctx: Context<unknown, CallerMeta>, ref: DeploymentRef, level: AccessLevel): Promise<void>;
  /** Runs `fn` after every earlier write to the same deployment's envs (on this node) has finished. */
  withLock<T>(deploymentId: string, fn: () => Promise<T>): Promise<T>;
  /** The stored env records of a deployment, in creation order. */
  envsOf(deploymentId: string): Promise<RawDoc[]>;
  /**
   * Brings the env objects to what `records` render (with `onlyChanged`, only those whose content differs from
   * `previous`, what the cluster holds now): an object with values is applied, an empty one deleted (without
   * `onlyChanged`, only when the watch cache or the API server shows it present); false when the cluster is
   * unreachable (retried later). On any other error, the objects it touched are put back to what `previous` (the
   * stored state) renders before it is thrown (unless `restore: false`), so an object the cluster took before another
   * refused is not left holding an unstored value.
   */
  applyEnvObjects(
    ref: DeploymentRef,
    records: readonly EnvValues[],
    options?: { previous?: readonly EnvValues[]; onlyChanged?: boolean; restore?: boolean; prune?: boolean },
  ): Promise<boolean>;
  /**
   * Writes the picked objects: applies those with values, then deletes the empty ones (with `lookUp`, only those
   * present in the cluster; else all of them, known to exist).
   */
  writeEnvObjects(
    ref: DeploymentRef,
    objects: readonly (V1ConfigMap | V1Secret)[],
    pick: readonly boolean[],
    lookUp: boolean,
  ): Promise<void>;
  /** Which of the deployment's env objects (`ConfigMap`, `Secret`) of these kinds exist (the watch cache, else the API). */
  liveEnvObjects(ref: DeploymentRef, kinds: readonly string[]): Promise<Map<string, KubernetesObject>>;
  takeOverSurplusKeys(ref: DeploymentRef, desired: readonly (V1ConfigMap | V1Secret)[]): Promise<void>;
  /**
   * After a store failed: brings the objects from `attempted` (just applied) back to what is stored (`fallback` when
   * the store cannot be read either).
   */
  restoreStored(
    ref: DeploymentRef,
    attempted: readonly EnvValues[],
    fallback: readonly EnvValues[],
  ): Promise<EnvPatchResult>;
  /** Re-applies a deployment's env objects from the stored records (under the lock). */
  patchDeployment(ref: DeploymentRef): Promise<EnvPatchResult>;
  /** patchDeployment for code that already holds the deployment's lock (taking it again would wait for itself). */
  patchUnlocked(ref: DeploymentRef, options?: { prune?: boolean }): Promise<EnvPatchResult>;
  /** Applies the deployment's env objects when the cluster's differ from its values (read now, under its lock). */
  ensureEnvObjects(ref: DeploymentRef): Promise<boolean>;
  /**
   * Deletes a deployment's two env objects (by name when both names are known, else by its id label: in every
   * namespace when the namespace's name is not known, as when its record went first); errors are logged, not thrown.
   */
  deleteEnvObjects(deploymentId: string, namespaceName: string | undefined, deploymentName?: string): Promise<void>;
  /** Removes the env records of a deployment and deletes its objects. */
  removeDeploymentEnvs(deploymentId: string, namespaceName?: string, deploymentName?: string): Promise<number>;
  /** Removes every env record of a namespace (all when undefined) and deletes their objects. */
  cleanNamespace(namespaceId: string | undefined, namespaceName?: string): Promise<number>;
  /** Retries the apply of a deployment's env objects later (capped exponential backoff). */
  scheduleRetry(deploymentId: string): void;
  /** One retry: re-applies the deployment's env objects if it still exists; reschedules on a retryable failure. */
  retryPatch(deploymentId: string): void;
  /**
   * Re-applies the env objects of the deployment an object of ours (a `ConfigMap` or `Secret`) belongs to, if it still
   * exists and the object has values to hold; deletes it when it has none.
   */
  repairObject(object: KubernetesObject, kind: string, deleted: boolean): Promise<void>;
  /**
   * Checks every deployment that has envs against the cluster: a ConfigMap or Secret with values that is missing, or a
   * ConfigMap holding other plain values, is applied again (objects deleted while the suite was down send no event);
   * one present with no value to hold is deleted; an empty one that is absent is converged. Reads only when nothing
   * drifted. Secret values cannot be compared (v1.kube never returns them). The records and objects of a deployment
   * found gone (no record, no Deployment in the cluster) are removed: its removal was not seen here.
   */
  resyncEnvs(): Promise<EnvResyncResult>;
  /**
   * Deletes env ConfigMaps/Secrets labelled as ours whose deployment is gone (removed while the cluster was down, the
   * retry lost to a restart), or whose deployment has no env record left (its last one removed while the cluster was
   * down, or an empty object of an older version of the suite), in namespaces the suite has a record of; returns how
   * many. Part of every resync.
   */
  sweepOrphanObjects(): Promise<number>;
  /** Whether the cluster holds a Deployment of this deployment record (not being deleted). */
  deploymentObjectLive(deploymentId: string): Promise<boolean>;
  /** Runs resyncEnvs in `delayMs` (default `resyncIntervalSeconds`), then every `resyncIntervalSeconds`, while started. */
  scheduleResync(delayMs?: number): void;
  /** Refuses queries and sorts on `value` from callers outside the broker. */
  guardValueQueries(ctx: Context<{ query?: unknown; sort?: unknown }, CallerMeta>): void;
}

type Methods = DbMethods & MembershipMethods & EnvMethods;
interface LocalVars extends DbVars, MembershipVars {
  envLocks: KeyedChain;
  /** The deployment locks the current call chain holds (see withLock). */
  envLockScope: AsyncLocalStorage<ReadonlyMap<string, { active: boolean }>>;
  envRetries: Map<string, { attempt: number; timer: NodeJS.Timeout }>;
  /** What this node last applied per deployment (`appliedKey`), so a createEnv that adds nothing sends no write. */
  envApplied: Map<string, string>;
  envResyncTimer: NodeJS.Timeout | undefined;
  envActive: boolean;
}
type Ctx<P> = Context<P, CallerMeta>;

const FIELD_MANAGER = "k8s.envs";

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
function isRetryable(err: unknown): boolean {
  return typeof err === "object" && err !== null && (err as { retryable?: unknown }).retryable === true;
}
function namespaceLocked(name: string): Errors.MoleculerClientError {
  return new Errors.MoleculerClientError(
    `namespace '${name}' is being removed: its envs cannot change`,
    409,
    ERROR_TYPES.NAMESPACE_LOCKED,
    { namespace: name },
  );
}
/** Where and what a deployment's env objects hold: equal keys mean an apply would change nothing. */
function appliedKey(ref: DeploymentRef, records: readonly EnvValues[]): string {
  return `${ref.namespaceName}/${ref.name}/${checksumOf(records)}`;
}
function toValues(doc: RawDoc | Record<string, unknown>): EnvValues {
  return {
    key: String(doc.key),
    type: doc.type === "secret" ? "secret" : "plain",
    value: typeof doc.value === "string" ? doc.value : "",
  };
}

const schema: ServiceSchema<Settings, Methods, LocalVars> = {
  name: "k8s.envs",
  version: 1,
  mixins: [
    DbMixin({
      collection: "envs",
      resource: "envs",
      uniqueIndexes: [["deployment", "key"]],
      // A deployment's values (every render, patch and revision reads them), a namespace's (its clean-up).
      indexes: ["deployment", "namespace"],
      entityName: "env",
    }),
    MembershipMixin({ scope: "child" }),
  ],
  settings: {
    rest: "/v1/k8s/envs",
    retry: { initialMs: 1000, maxMs: 30_000 },
  },
  dependencies: ["v1.k8s.namespaces"],

  hooks: {
    before: { list: "guardValueQueries", find: "guardValueQueries", count: "guardValueQueries" },
  },

  actions: {
    // list, find, count, get come from the db mixin (membership-scoped, values masked).

    /** Adds a variable to a deployment (members); a secret without `value` gets a generated one. REST: POST / @throws VALIDATION_ERROR, NOT_FOUND, FORBIDDEN, ALREADY_EXISTS, NAMESPACE_LOCKED, K8S_INVALID, DATABASE_UNAVAILABLE */
    create: {
      rest: "POST /",
      permission: "write",
      params: envCreateParams,
      async handler(ctx: Ctx<EnvCreateParams>): Promise<EnvEntity> {
        const p = ctx.params;
        if (p.type === "plain" && p.value === undefined) {
          throw invalid("value", "The 'value' field is required for a plain env.", "required");
        }
        const ref = await this.deploymentRef(p.deployment);
        if (ref.namespace !== p.namespace) throw notFound("deployment", p.deployment);
        return this.withLock(ref.id, async () => {
          const current = await this.envsOf(ref.id);
          if (current.some((r) => r.key === p.key)) throw alreadyExists("env", "key", p.key);
          const record = {
            namespace: ref.namespace,
            deployment: ref.id,
            key: p.key,
            type: p.type,
            value: p.value ?? generateSecret(),
          };
          const previous = current.map(toValues);
          const attempted = [...previous, record];
          const tooLarge = envSizeProblem(attempted);
          if (tooLarge !== undefined) {
            throw invalid("value", `The env values of deployment '${ref.name}' ${tooLarge}.`, "envTooLarge");
          }
          await this.applyEnvObjects(ref, attempted, { previous, onlyChanged: true });
          try {
            return (await this.createEntity(ctx, record)) as unknown as EnvEntity;
          } catch (err) {
            await this.restoreStored(ref, attempted, previous).catch(() => undefined);
            throw err;
          }
        });
      },
    },

    /** Changes a variable's key, value or type (members); re-patches the objects. REST: PATCH /:id, PUT /:id @throws VALIDATION_ERROR, NOT_FOUND, FORBIDDEN, ALREADY_EXISTS, NAMESPACE_LOCKED, K8S_INVALID, DATABASE_UNAVAILABLE */
    update: {
      rest: ["PATCH /:id", "PUT /:id"],
      permission: "write",
      params: envUpdateParams,
      async handler(ctx: Ctx<EnvUpdateParams>): Promise<EnvEntity> {
        const { id: envId, key: newKey, value: newValue, type: newType } = ctx.params;
        const guarded = guardedRecord(ctx) ?? (await this.findRawById(envId));
        if (guarded === null) throw notFound("env", envId);
        const ref = await this.deploymentRef(String(guarded.deployment));
        return this.withLock(ref.id, async () => {
          const current = await this.envsOf(ref.id);
          const target = current.find((r) => r._id === envId);
          if (target === undefined) throw notFound("env", envId);
          // Turning a secret plain would show its value: only with a new value.
          if (target.type === "secret" && newType === "plain" && newValue === undefined) {
            throw invalid(
              "value",
              "Making a secret env plain needs a new 'value' (a secret is never shown).",
              "required",
            );
          }
          const changes = {
            ...(newKey === undefined || newKey === target.key ? {} : { key: newKey }),
            ...(newValue === undefined || newValue === target.value ? {} : { value: newValue }),
            ...(newType === undefined || newType === target.type ? {} : { type: newType }),
          };
          if (Object.keys(changes).length === 0) return (await this.transformDocuments(ctx, {}, target)) as EnvEntity;
          if (changes.key !== undefined && current.some((r) => r.key === changes.key)) {
            throw alreadyExists("env", "key", changes.key);
          }
          const previous = current.map(toValues);
          const next = current.map((r) => toValues(r._id === envId ? { ...r, ...changes } : r));
          const tooLarge = envSizeProblem(next);
          if (tooLarge !== undefined) {
            throw invalid("value", `The env values of deployment '${ref.name}' ${tooLarge}.`, "envTooLarge");
          }
          await this.applyEnvObjects(ref, next, { previous, onlyChanged: true });
          try {
            return (await this.updateEntity(ctx, envId, changes)) as unknown as EnvEntity;
          } catch (err) {
            await this.restoreStored(ref, next, previous).catch(() => undefined);
            throw err;
          }
        });
      },
    },

    /** Removes a variable (members); re-patches the objects. REST: DELETE /:id @throws NOT_FOUND, FORBIDDEN, NAMESPACE_LOCKED, K8S_INVALID, DATABASE_UNAVAILABLE */
    remove: {
      rest: "DELETE /:id",
      permission: "write",
      params: idParams,
      async handler(ctx: Ctx<IdParams>): Promise<EnvEntity> {
        const envId = ctx.params.id;
        const guarded = guardedRecord(ctx) ?? (await this.findRawById(envId));
        if (guarded === null) throw notFound("env", envId);
        const ref = await this.findDeploymentRef(String(guarded.deployment));
        // An env whose deployment is gone has no objects left to patch.
        if (ref === undefined) return (await this.removeEntity(ctx, envId)) as unknown as EnvEntity;
        return this.withLock(ref.id, async () => {
          const current = await this.envsOf(ref.id);
          if (!current.some((r) => r._id === envId)) throw notFound("env", envId);
          const previous = current.map(toValues);
          const rest = current.filter((r) => r._id !== envId).map(toValues);
          await this.applyEnvObjects(ref, rest, { previous, onlyChanged: true });
          try {
            return (await this.removeEntity(ctx, envId)) as unknown as EnvEntity;
          } catch (err) {
            await this.restoreStored(ref, rest, previous).catch(() => undefined);
            throw err;
          }
        });
      },
    },

    /** Removes every env of a namespace (or all) and their objects (admin or internal); no REST. @throws FORBIDDEN, DATABASE_UNAVAILABLE */
    clean: {
      permission: "admin",
      params: envCleanParams,
      async handler(ctx: Ctx<EnvCleanParams>): Promise<{ removed: number }> {
        return { removed: await this.cleanNamespace(ctx.params.namespace) };
      },
    },

    /** One variable of a deployment by key: the value for internal callers, masked for people (readers). REST: GET /resolve/:deployment/:key @throws NOT_FOUND, VALIDATION_ERROR */
    resolveENV: {
      rest: "GET /resolve/:deployment/:key",
      permission: "custom",
      params: envResolveParams,
      async handler(ctx: Ctx<EnvResolveParams>): Promise<EnvEntity> {
        const { deployment, key: envKey } = ctx.params;
        const record = await this.findRawOne({ deployment, key: envKey });
        if (record === null) throw notFound("env", `${deployment}/${envKey}`);
        if (isInternal(ctx.meta)) {
          const { _id, _unique: _hidden, ...rest } = record;
          return { ...rest, id: _id } as unknown as EnvEntity;
        }
        try {
          await this.authorize(ctx, record, "read");
        } catch (err) {
          if (hasCode(err, 404)) throw notFound("env", `${deployment}/${envKey}`);
          throw err;
        }
        return (await this.transformDocuments(ctx, {}, record)) as EnvEntity;
      },
    },

    /** What would be applied for a deployment: ConfigMap data, Secret keys (values masked), checksum (readers). REST: GET /pack/:deployment @throws NOT_FOUND, VALIDATION_ERROR */
    pack: {
      rest: "GET /pack/:deployment",
      permission: "custom",
      params: envDeploymentParams,
      async handler(ctx: Ctx<EnvDeploymentParams>): Promise<EnvPackResult> {
        const ref = await this.deploymentRef(ctx.params.deployment);
        await this.authorizeDeployment(ctx, ref, "read");
        const records = (await this.envsOf(ref.id)).map(toValues);
        const { plain, secret } = splitValues(records);
        const name = envObjectName(ref.name);
        const keys = Object.keys(secret).sort();
        return {
          configMap: { name, namespace: ref.namespaceName, data: renderEnvObjects(ref, records)[0].data ?? {} },
          secret: {
            name,
            namespace: ref.namespaceName,
            keys,
            data: Object.fromEntries(keys.map((k) => [k, SECRET_MASK])),
          },
          checksum: envChecksum(plain, secret),
        };
      },
    },

    /** The env objects of a deployment with their values, for apply (internal); no REST. @throws NOT_FOUND, FORBIDDEN */
    render: {
      visibility: "public",
      permission: "internal",
      params: envDeploymentParams,
      async handler(ctx: Ctx<EnvDeploymentParams>): Promise<EnvRenderResult> {
        const ref = await this.deploymentRef(ctx.params.deployment);
        const records = (await this.envsOf(ref.id)).map(toValues);
        return { objects: renderEnvObjects(ref, records), checksum: checksumOf(records) };
      },
    },

    /** envChecksum (sha256 hex) of a deployment's stored values, for its pod template (internal; a deployment without envs has one too); no REST. @throws FORBIDDEN */
    checksum: {
      visibility: "public",
      permission: "internal",
      params: envDeploymentParams,
      async handler(ctx: Ctx<EnvDeploymentParams>): Promise<string> {
        return checksumOf((await this.envsOf(ctx.params.deployment)).map(toValues));
      },
    },

    /** Creates the env records an image lists that a deployment lacks (secrets generated) and applies the objects (internal, idempotent); no REST. @throws NOT_FOUND, NAMESPACE_LOCKED, K8S_INVALID, FORBIDDEN */
    createEnv: {
      visibility: "public",
      permission: "internal",
      params: createEnvParams,
      async handler(ctx: Ctx<CreateEnvParams>): Promise<EnvPatchResult> {
        const p = ctx.params;
        const ref = await this.deploymentRef(p.deployment, {
          namespace: p.namespace,
          ...(p.deploymentName === undefined ? {} : { name: p.deploymentName }),
          ...(p.namespaceName === undefined ? {} : { namespaceName: p.namespaceName }),
        });
        const image =
          typeof p.image === "string"
            ? await this.broker.call<ImageRecord, { id: string }>("v1.k8s.images.get", { id: p.image })
            : p.image;
        const entries = image.env ?? [];
        return this.withLock(ref.id, async () => {
          // Removed before this lock was taken: `k8s.deployments.removed` (which takes the same lock) has removed its
          // envs already, and what is made now would stay with no deployment. Removed later: that handler waits for
          // this lock and removes what is made here.
          if (await this.deploymentGone(ref.id)) throw notFound("deployment", ref.id);
          const current = await this.envsOf(ref.id);
          const have = new Set(current.map((r) => String(r.key)));
          const added: (EnvValues & { namespace: string; deployment: string; value: string })[] = [];
          for (const e of entries) {
            if (have.has(e.key)) continue;
            have.add(e.key);
            const generated = e.type === "secret" && (e.value === undefined || e.value === "");
            added.push({
              namespace: ref.namespace,
              deployment: ref.id,
              key: e.key,
              type: e.type,
              value: generated ? generateSecret() : (e.value ?? ""),
            });
          }
          const previous = current.map(toValues);
          const all = [...previous, ...added];
          // Nothing new and already applied by this node (the deployment-created reaction after deployments.create's
          // own call): no write.
          const unchanged = added.length === 0 && this.envApplied.get(ref.id) === appliedKey(ref, all);
          // A full apply (what the cluster holds is not known): an image without env values writes nothing unless an
          // env object of that name is present (a leftover, which the pods would read) and gets deleted.
          const applied = unchanged || (await this.applyEnvObjects(ref, all, { previous }));
          let created = 0;
          try {
            for (const record of added) {
              await this.createEntity(ctx, { ...record });
              created += 1;
            }
          } catch (err) {
            // Another node stored some of them first: apply what is stored (its values win) and go on.
            const result = await this.restoreStored(ref, all, [...previous, ...added.slice(0, created)]);
            if (hasCode(err, 409)) return { ...result, created };
            throw err;
          }
          const name = envObjectName(ref.name);
          return { checksum: checksumOf(all), configMapName: name, secretName: name, applied, created };
        });
      },
    },

    /** Re-applies a deployment's ConfigMap and Secret from its envs (members). REST: POST /patch/:deployment @throws NOT_FOUND, FORBIDDEN, NAMESPACE_LOCKED, K8S_INVALID */
    patchConfigMap: {
      rest: "POST /patch/:deployment",
      permission: "custom",
      params: envDeploymentParams,
      async handler(ctx: Ctx<EnvDeploymentParams>): Promise<EnvPatchResult> {
        const ref = await this.deploymentRef(ctx.params.deployment);
        await this.authorizeDeployment(ctx, ref, "write");
        return this.patchDeployment(ref);
      },
    },

    /** Applies one deployment's env objects if the cluster's are missing or differ from its values (internal): what a Deployment made again needs first; no REST. @throws NOT_FOUND, FORBIDDEN, K8S_UNAVAILABLE, DATABASE_UNAVAILABLE */
    ensure: {
      visibility: "public",
      permission: "internal",
      params: envDeploymentParams,
      async handler(ctx: Ctx<EnvDeploymentParams>): Promise<{ applied: boolean }> {
        return { applied: await this.ensureEnvObjects(await this.deploymentRef(ctx.params.deployment)) };
      },
    },

    /** Checks every deployment's env objects against the cluster and re-applies missing or changed ones (internal); no REST. @throws FORBIDDEN, K8S_UNAVAILABLE, DATABASE_UNAVAILABLE */
    resync: {
      visibility: "public",
      permission: "internal",
      params: defineParams({ $$strict: true }),
      handler(): Promise<EnvResyncResult> {
        return this.resyncEnvs();
      },
    },

    /** Re-applies the env objects of every deployment of a namespace (members). REST: POST /repatch/:namespace @throws NOT_FOUND, FORBIDDEN, NAMESPACE_LOCKED, K8S_INVALID */
    rePatchConfigMap: {
      rest: "POST /repatch/:namespace",
      permission: "write",
      params: envNamespaceParams,
      async handler(ctx: Ctx<EnvNamespaceParams>): Promise<EnvRePatchResult> {
        const nsId = ctx.params.namespace;
        const ids = new Set((await this.findRaw({ namespace: nsId })).map((r) => String(r.deployment)));
        try {
          const deployments = await this.broker.call<DeploymentRecord[], { query: Record<string, unknown> }>(
            "v1.k8s.deployments.find",
            { query: { namespace: nsId } },
          );
          for (const d of deployments) ids.add(d.id);
        } catch (err) {
          // Without the deployments service, the deployments that have envs are all there is to patch.
          if (!hasType(err, "SERVICE_NOT_FOUND")) throw err;
        }
        let applied = 0;
        for (const deploymentId of ids) {
          const ref = await this.findDeploymentRef(deploymentId);
          if (ref === undefined || ref.namespace !== nsId) continue;
          if ((await this.patchDeployment(ref)).applied) applied += 1;
        }
        return { namespace: nsId, deployments: ids.size, applied };
      },
    },
  },

  events: {
    /** v1.kube: the API server answers again after an outage; re-apply now what waits for a retry, then resync. */
    "kube.cluster.available"() {
      if (!this.envActive) return;
      for (const [deploymentId, retry] of [...this.envRetries]) {
        clearTimeout(retry.timer);
        this.envLockScope.exit(() => this.retryPatch(deploymentId));
      }
      this.envLockScope.exit(() => {
        void this.resyncEnvs().catch((err: unknown) => this.logger.warn(`env resync failed: ${errorMessage(err)}`));
      });
    },
    /** A removed deployment takes its envs and their ConfigMap/Secret with it. */
    async "k8s.deployments.removed"(ctx: Context<DeploymentRecord>) {
      const d = ctx.params;
      let namespaceName: string | undefined;
      try {
        const ns = await this.broker.call<NamespaceRecord, { id: string }>("v1.k8s.namespaces.get", {
          id: d.namespace,
        });
        namespaceName = ns.name;
      } catch {
        // The namespace record went first: its objects are found by the deployment's id label, in whichever namespace
        // (one the cluster keeps, `default`, still holds them).
        namespaceName = undefined;
      }
      await this.removeDeploymentEnvs(d.id, namespaceName, d.name).catch((err: unknown) => {
        this.logger.warn(`removing the envs of deployment '${d.id}' failed: ${errorMessage(err)}`);
      });
    },

    /** A removed namespace takes its envs with it. */
    async "k8s.namespaces.removed"(ctx: Context<NamespaceRecord>) {
      await this.cleanNamespace(ctx.params.id, ctx.params.name).catch((err: unknown) => {
        this.logger.warn(`cleaning the envs of namespace '${ctx.params.id}' failed: ${errorMessage(err)}`);
      });
    },

    /** Our ConfigMap deleted behind our back: put it back. */
    async "kube.configmaps.deleted"(ctx: Context<KubernetesObject>) {
      await this.repairObject(ctx.params, "ConfigMap", true);
    },
    /** Our ConfigMap's values changed behind our back: put them back (or delete it if it should hold none). */
    async "kube.configmaps.modified"(ctx: Context<KubernetesObject>) {
      await this.repairObject(ctx.params, "ConfigMap", false);
    },
    /** Our Secret deleted behind our back: put it back. */
    async "kube.secrets.deleted"(ctx: Context<KubernetesObject>) {
      await this.repairObject(ctx.params, "Secret", true);
    },
    /** Our Secret's values changed behind our back (seen by the digest the cache keeps of them): put them back. */
    async "kube.secrets.modified"(ctx: Context<KubernetesObject>) {
      await this.repairObject(ctx.params, "Secret", false);
    },
  },

  methods: {
    publicEntity(entity: Entity): Entity {
      return maskEnv(entity);
    },

    async resyncEnvs(): Promise<EnvResyncResult> {
      const deploymentIds = new Set((await this.findRaw({})).map((r) => String(r.deployment)));
      const listed = new Map<string, Map<string, KubernetesObject>>();
      const objectsIn = async (namespace: string): Promise<Map<string, KubernetesObject>> => {
        let found = listed.get(namespace);
        if (found === undefined) {
          found = new Map();
          for (const kind of ["ConfigMap", "Secret"]) {
            const { items } = await kubeList(this.broker, {
              apiVersion: "v1",
              kind,
              namespace,
              labelSelector: `${MANAGED_BY_SELECTOR},${COMPONENT_LABEL}=env`,
            });
            for (const o of items) found.set(`${kind}/${o.metadata?.name ?? ""}`, o);
          }
          listed.set(namespace, found);
        }
        return found;
      };
      let repaired = 0;
      let removed = 0;
      for (const deploymentId of deploymentIds) {
        let ref: DeploymentRef | undefined;
        try {
          ref = await this.findDeploymentRef(deploymentId);
        } catch (err) {
          if (hasCode(err, 409)) continue; // namespace being removed
          throw err;
        }
        if (ref === undefined) {
          // No record (a 404 that no retry changes: not a deployments service that is away). A removal leaves no
          // Deployment behind (it is deleted with the record, or collected by the deployments' resync); one still
          // there means a lost record, not a removal (a deployments service on an empty database looks the same), and
          // its env values, generated secrets among them, are kept.
          if (await this.deploymentObjectLive(deploymentId)) {
            this.logger.warn(
              `deployment '${deploymentId}' has no record but its Deployment is in the cluster: envs kept`,
            );
            continue;
          }
          // Its removal was not seen here. What `k8s.deployments.removed` would have done: the records, and the
          // objects found by the deployment's id label. A create of an env for it checks under the same lock that its
          // deployment is there (createEnv), so none is added after this.
          this.logger.info(`deployment '${deploymentId}' is gone: removing the env records it left`);
          if ((await this.removeDeploymentEnvs(deploymentId)) > 0) removed += 1;
          continue;
        }
        const values = splitValues((await this.envsOf(deploymentId)).map(toValues));
        // The namespace as listed when this resync reached it: only what differs then is looked at again, now.
        if (!envObjectsDrifted(envObjectName(ref.name), values, await objectsIn(ref.namespaceName))) continue;
        if (await this.ensureEnvObjects(ref)) repaired += 1;
      }
      await this.sweepOrphanObjects().catch((err: unknown) =>
        this.logger.warn(`orphaned env objects not swept now: ${errorMessage(err)}`),
      );
      return { checked: deploymentIds.size, repaired, removed };
    },

    deploymentObjectLive(deploymentId: string): Promise<boolean> {
      return recordObjectLive(this.broker, { apiVersion: "apps/v1", kind: "Deployment" }, "deployment", deploymentId);
    },

    async sweepOrphanObjects(): Promise<number> {
      const knownNamespaces = new Map<string, boolean>();
      // Per deployment: env records left (resyncEnvs compares those), gone, or alive without any env record.
      const verdicts = new Map<string, "records" | "gone" | "empty">();
      let deleted = 0;
      for (const kind of ["ConfigMap", "Secret"]) {
        const { items } = await kubeList(this.broker, {
          apiVersion: "v1",
          kind,
          labelSelector: `${MANAGED_BY_SELECTOR},${COMPONENT_LABEL}=env`,
        });
        for (const obj of items) {
          const deploymentId = getIdFromAnnotation(obj);
          const namespace = obj.metadata?.namespace;
          if (deploymentId === undefined || namespace === undefined || obj.metadata?.deletionTimestamp !== undefined) {
            continue;
          }
          let known = knownNamespaces.get(namespace);
          if (known === undefined) {
            const count = await this.broker.call<number, object>("v1.k8s.namespaces.count", {
              query: { name: namespace },
            });
            known = count > 0;
            knownNamespaces.set(namespace, known);
          }
          if (!known) continue;
          let verdict = verdicts.get(deploymentId);
          if (verdict === undefined) {
            if ((await this.findRawOne({ deployment: deploymentId })) !== null) verdict = "records";
            else {
              try {
                verdict = (await this.findDeploymentRef(deploymentId)) === undefined ? "gone" : "empty";
              } catch (err) {
                if (!hasCode(err, 409)) throw err;
                verdict = "records"; // its namespace is being removed: the objects go with it
              }
            }
            verdicts.set(deploymentId, verdict);
          }
          const name = obj.metadata?.name ?? "";
          const remove = () => this.broker.call("v1.kube.delete", { apiVersion: "v1", kind, namespace, name });
          if (verdict === "gone") {
            this.logger.info(`Deleting ${kind} ${namespace}/${name}: its deployment is gone`);
            await remove();
            deleted += 1;
          } else if (verdict === "empty") {
            // Checked again under the lock: a first env value being written now must not lose its object.
            const removed = await this.withLock(deploymentId, async () => {
              const { plain, secret } = splitValues((await this.envsOf(deploymentId)).map(toValues));
              if (Object.keys(kind === "Secret" ? secret : plain).length > 0) return false;
              this.logger.info(`Deleting ${kind} ${namespace}/${name}: its deployment has no such env value`);
              await remove();
              return true;
            });
            if (removed) deleted += 1;
          }
        }
      }
      return deleted;
    },

    scheduleResync(delayMs?: number): void {
      const seconds = this.settings.resyncIntervalSeconds ?? readConfig().resyncIntervalSeconds;
      if (!this.envActive || (delayMs === undefined && seconds <= 0)) return;
      const ms = delayMs ?? seconds * 1000;
      this.envResyncTimer = setTimeout(() => {
        this.envResyncTimer = undefined;
        this.resyncEnvs()
          .catch((err: unknown) => this.logger.warn(`env resync failed: ${errorMessage(err)}`))
          .finally(() => this.scheduleResync());
      }, ms);
      this.envResyncTimer.unref();
    },

    guardValueQueries(ctx: Context<{ query?: unknown; sort?: unknown }, CallerMeta>): void {
      if (isInternal(ctx.meta)) return;
      let query = ctx.params.query;
      if (typeof query === "string") {
        try {
          query = JSON.parse(query) as unknown;
        } catch {
          return; // the membership hook answers 422 for it
        }
      }
      if (queryMentions(query, "value")) {
        throw invalid("query", "The 'query' field may not filter on 'value'.", "queryField", "value");
      }
      if (sortMentions(ctx.params.sort, "value")) {
        throw invalid("sort", "The 'sort' field may not sort by 'value'.", "sortField", "value");
      }
    },

    async deploymentGone(deploymentId: string): Promise<boolean> {
      try {
        await this.broker.call("v1.k8s.deployments.get", { id: deploymentId });
        return false;
      } catch (err) {
        return hasCode(err, 404) && !isRetryable(err);
      }
    },

    async deploymentRef(deploymentId: string, hint: Partial<Omit<DeploymentRef, "id">> = {}): Promise<DeploymentRef> {
      let name = hint.name;
      let namespace = hint.namespace;
      if (name === undefined || namespace === undefined) {
        try {
          const d = await this.broker.call<DeploymentRecord, { id: string }>("v1.k8s.deployments.get", {
            id: deploymentId,
          });
          name = d.name;
          namespace = d.namespace;
        } catch (err) {
          if (hasCode(err, 404) && !isRetryable(err)) throw notFound("deployment", deploymentId);
          throw err;
        }
      }
      let namespaceName = hint.namespaceName;
      if (namespaceName === undefined) {
        let ns: NamespaceRecord;
        try {
          ns = await this.broker.call<NamespaceRecord, { id: string }>("v1.k8s.namespaces.get", { id: namespace });
        } catch (err) {
          if (hasCode(err, 404) && !isRetryable(err)) throw notFound("namespace", namespace);
          throw err;
        }
        if (ns.status?.phase === "Terminating") throw namespaceLocked(ns.name);
        namespaceName = ns.name;
      }
      return { id: deploymentId, name, namespace, namespaceName };
    },

    async findDeploymentRef(deploymentId: string): Promise<DeploymentRef | undefined> {
      try {
        return await this.deploymentRef(deploymentId);
      } catch (err) {
        if (hasCode(err, 404) && !isRetryable(err)) return undefined;
        throw err;
      }
    },

    async authorizeDeployment(ctx: Context<unknown, CallerMeta>, ref: DeploymentRef, level: AccessLevel) {
      try {
        await this.authorize(ctx, { namespace: ref.namespace }, level);
      } catch (err) {
        if (hasCode(err, 404)) throw notFound("deployment", ref.id);
        throw err;
      }
    },

    withLock<T>(deploymentId: string, fn: () => Promise<T>): Promise<T> {
      // Re-entrant for the call chain that holds the lock (a local k8s.envs.* listener that the store's awaited
      // broadcast runs and that calls back into a locked action), while the holder is still running.
      const held = this.envLockScope.getStore();
      if (held?.get(deploymentId)?.active === true) return fn();
      const token = { active: true };
      const scope = new Map(held ?? []).set(deploymentId, token);
      const guarded = () =>
        this.envLockScope.run(scope, fn).finally(() => {
          token.active = false;
        });
      return this.envLocks.run(deploymentId, guarded);
    },

    async envsOf(deploymentId: string): Promise<RawDoc[]> {
      const docs = await this.findRaw({ deployment: deploymentId });
      return docs.sort((a, b) => String(a.createdAt).localeCompare(String(b.createdAt)));
    },

    async applyEnvObjects(
      ref: DeploymentRef,
      records: readonly EnvValues[],
      options: { previous?: readonly EnvValues[]; onlyChanged?: boolean; restore?: boolean; prune?: boolean } = {},
    ): Promise<boolean> {
      const desired = renderEnvObjects(ref, records);
      const before = options.previous === undefined ? undefined : renderEnvObjects(ref, options.previous);
      // Only the object whose content changes (a plain value: the ConfigMap), unless a full apply is still owed.
      // Then what the cluster holds is known: an object that becomes empty held values, so it exists and is deleted.
      const incremental = options.onlyChanged === true && before !== undefined && !this.envRetries.has(ref.id);
      let pick = [true, true];
      if (incremental) {
        pick = desired.map((o, i) => canonicalJson(o) !== canonicalJson(before[i]));
        if (!pick.some(Boolean)) return true;
      }
      try {
        if (options.prune === true) await this.takeOverSurplusKeys(ref, desired);
        await this.writeEnvObjects(ref, desired, pick, !incremental);
      } catch (err) {
        this.envApplied.delete(ref.id);
        if (!isRetryable(err)) {
          if (before !== undefined && options.restore !== false) {
            // Put back what was touched: an object that held values is applied again; one that held none is deleted
            // where this write may have created it.
            const touched = pick.map((p, i) => {
              const [was, meant] = [before[i], desired[i]];
              return (
                p && was !== undefined && meant !== undefined && !(isEmptyEnvObject(was) && isEmptyEnvObject(meant))
              );
            });
            await this.writeEnvObjects(ref, before, touched, false).catch((undo: unknown) => {
              this.logger.warn(`restoring the env objects of deployment '${ref.id}' failed: ${errorMessage(undo)}`);
            });
          }
          throw err;
        }
        this.logger.warn(`env objects of deployment '${ref.id}' not applied, will retry: ${errorMessage(err)}`);
        this.scheduleRetry(ref.id);
        return false;
      }
      this.envApplied.set(ref.id, appliedKey(ref, records));
      const retry = this.envRetries.get(ref.id);
      if (retry !== undefined) {
        clearTimeout(retry.timer);
        this.envRetries.delete(ref.id);
      }
      return true;
    },

    async writeEnvObjects(
      ref: DeploymentRef,
      objects: readonly (V1ConfigMap | V1Secret)[],
      pick: readonly boolean[],
      lookUp: boolean,
    ): Promise<void> {
      const picked = objects.filter((_, i) => pick[i] === true);
      const withValues = picked.filter((o) => !isEmptyEnvObject(o));
      if (withValues.length > 0) {
        await this.broker.call("v1.kube.apply", { objects: withValues, fieldManager: FIELD_MANAGER, force: true });
      }
      // Deleted after the apply: a value moved from plain to secret is in one of the two objects at every moment.
      let empty = picked.filter(isEmptyEnvObject).map((o) => o.kind ?? "");
      if (lookUp && empty.length > 0) {
        const present = await this.liveEnvObjects(ref, empty);
        const name = envObjectName(ref.name);
        empty = empty.filter((kind) => present.has(`${kind}/${name}`));
      }
      for (const kind of empty) {
        await this.broker.call("v1.kube.delete", {
          apiVersion: "v1",
          kind,
          namespace: ref.namespaceName,
          name: envObjectName(ref.name),
        });
      }
    },

    /**
     * Keys someone else added to the deployment's env objects (`surplusKeys`) stay through any apply of ours: server-side
     * apply removes only the fields its manager owns and no longer applies. So a repair first applies them too (empty,
     * forced: they become ours), and the apply that follows, without them, removes them.
     */
    async takeOverSurplusKeys(ref: DeploymentRef, desired: readonly (V1ConfigMap | V1Secret)[]): Promise<void> {
      const live = await this.liveEnvObjects(ref, ["ConfigMap", "Secret"]);
      const takeOver: (V1ConfigMap | V1Secret)[] = [];
      for (const object of desired) {
        if (isEmptyEnvObject(object)) continue;
        const current = live.get(`${object.kind ?? ""}/${envObjectName(ref.name)}`);
        // The keys are what counts, and a rendered Secret's `data` has the same ones as its values.
        const surplus = surplusKeys(object.data ?? {}, current);
        if (surplus.length === 0) continue;
        this.logger.info(
          `env ${object.kind ?? ""} of deployment '${ref.id}': removing keys added in the cluster: ${surplus.join(", ")}`,
        );
        takeOver.push({ ...object, data: { ...object.data, ...Object.fromEntries(surplus.map((k) => [k, ""])) } });
      }
      if (takeOver.length > 0) {
        await this.broker.call("v1.kube.apply", { objects: takeOver, fieldManager: FIELD_MANAGER, force: true });
      }
    },

    /** The deployment's env objects of `kinds` in the cluster (watch cache), by `<kind>/<name>`. */
    async liveEnvObjects(ref: DeploymentRef, kinds: readonly string[]): Promise<Map<string, KubernetesObject>> {
      const name = envObjectName(ref.name);
      // Selects by the deployment's name (not its id): a leftover of an earlier deployment of that name counts too.
      const labelSelector = `${MANAGED_BY_SELECTOR},${COMPONENT_LABEL}=env,${NAME_LABEL}=${sanitizeLabelValue(ref.name)}`;
      const found = new Map<string, KubernetesObject>();
      for (const kind of kinds) {
        const { items } = await kubeList(this.broker, {
          apiVersion: "v1",
          kind,
          namespace: ref.namespaceName,
          labelSelector,
          // The cache answers one name with a map lookup (a label selector alone matches every cached object).
          fieldSelector: `metadata.name=${name}`,
        });
        for (const o of items) if (o.metadata?.name === name) found.set(`${kind}/${name}`, o);
      }
      return found;
    },

    async restoreStored(
      ref: DeploymentRef,
      attempted: readonly EnvValues[],
      fallback: readonly EnvValues[],
    ): Promise<EnvPatchResult> {
      let stored: readonly EnvValues[];
      try {
        stored = (await this.envsOf(ref.id)).map(toValues);
      } catch {
        stored = fallback;
      }
      const applied = await this.applyEnvObjects(ref, stored, {
        previous: attempted,
        onlyChanged: true,
        restore: false,
      });
      const name = envObjectName(ref.name);
      return { checksum: checksumOf(stored), configMapName: name, secretName: name, applied };
    },

    patchDeployment(ref: DeploymentRef): Promise<EnvPatchResult> {
      return this.withLock(ref.id, () => this.patchUnlocked(ref));
    },

    ensureEnvObjects(ref: DeploymentRef): Promise<boolean> {
      // Under the deployment's lock, read afresh: of two callers that found them missing (the resync at start, and the
      // deployments service making a Deployment again), the second finds them there and writes nothing.
      return this.withLock(ref.id, async () => {
        const values = splitValues((await this.envsOf(ref.id)).map(toValues));
        const objects = await this.liveEnvObjects(ref, ["ConfigMap", "Secret"]);
        if (!envObjectsDrifted(envObjectName(ref.name), values, objects)) return false;
        this.logger.info(
          `env objects of deployment '${ref.id}' missing, changed or surplus in the cluster: re-applying`,
        );
        return (await this.patchUnlocked(ref, { prune: true })).applied;
      });
    },

    async patchUnlocked(ref: DeploymentRef, options: { prune?: boolean } = {}): Promise<EnvPatchResult> {
      const records = (await this.envsOf(ref.id)).map(toValues);
      const applied = await this.applyEnvObjects(ref, records, { prune: options.prune === true });
      const name = envObjectName(ref.name);
      return { checksum: checksumOf(records), configMapName: name, secretName: name, applied };
    },

    async deleteEnvObjects(
      deploymentId: string,
      namespaceName: string | undefined,
      deploymentName?: string,
    ): Promise<void> {
      const targets: { kind: string; namespace: string; name: string }[] = [];
      if (deploymentName !== undefined && namespaceName !== undefined) {
        const name = envObjectName(deploymentName);
        targets.push(
          { kind: "ConfigMap", namespace: namespaceName, name },
          { kind: "Secret", namespace: namespaceName, name },
        );
      } else {
        const labelSelector = recordSelector("env", deploymentId);
        for (const kind of ["ConfigMap", "Secret"]) {
          const { items } = await kubeList(this.broker, {
            apiVersion: "v1",
            kind,
            ...(namespaceName === undefined ? {} : { namespace: namespaceName }),
            labelSelector,
          });
          for (const o of items) {
            if (getIdFromAnnotation(o) !== deploymentId) continue;
            targets.push({ kind, namespace: o.metadata?.namespace ?? "", name: o.metadata?.name ?? "" });
          }
        }
      }
      for (const t of targets) {
        try {
          await this.broker.call("v1.kube.delete", {
            apiVersion: "v1",
            kind: t.kind,
            namespace: t.namespace,
            name: t.name,
          });
        } catch (err) {
          this.logger.warn(`deleting ${t.kind} ${t.namespace}/${t.name} failed: ${errorMessage(err)}`);
        }
      }
    },

    async removeDeploymentEnvs(deploymentId: string, namespaceName?: string, deploymentName?: string) {
      const retry = this.envRetries.get(deploymentId);
      if (retry !== undefined) {
        clearTimeout(retry.timer);
        this.envRetries.delete(deploymentId);
      }
      this.envApplied.delete(deploymentId);
      const removed = await this.withLock(deploymentId, () => this.removeEntities(null, { deployment: deploymentId }));
      await this.deleteEnvObjects(deploymentId, namespaceName, deploymentName);
      return removed;
    },

    async cleanNamespace(namespaceId: string | undefined, namespaceName?: string): Promise<number> {
      const docs = await this.findRaw(namespaceId === undefined ? {} : { namespace: namespaceId });
      const byDeployment = new Map<string, string>();
      for (const d of docs) byDeployment.set(String(d.deployment), String(d.namespace));
      const nsNames = new Map<string, string | undefined>();
      if (namespaceId !== undefined && namespaceName !== undefined) nsNames.set(namespaceId, namespaceName);
      let removed = 0;
      for (const [deploymentId, nsId] of byDeployment) {
        if (!nsNames.has(nsId)) {
          const ns = await this.broker
            .call<NamespaceRecord, { id: string }>("v1.k8s.namespaces.get", { id: nsId })
            .catch(() => undefined);
          nsNames.set(nsId, ns?.name);
        }
        removed += await this.removeDeploymentEnvs(deploymentId, nsNames.get(nsId));
      }
      return removed;
    },

    scheduleRetry(deploymentId: string): void {
      if (!this.envActive) return;
      const previous = this.envRetries.get(deploymentId);
      if (previous !== undefined) clearTimeout(previous.timer);
      const attempt = (previous?.attempt ?? 0) + 1;
      const { initialMs, maxMs } = this.settings.retry;
      const delay = Math.min(initialMs * 2 ** (attempt - 1), maxMs);
      // The retry is nobody's call chain: it must not inherit a lock the scheduling call holds.
      const timer = setTimeout(() => {
        this.envLockScope.exit(() => this.retryPatch(deploymentId));
      }, delay);
      timer.unref();
      this.envRetries.set(deploymentId, { attempt, timer });
    },

    retryPatch(deploymentId: string): void {
      void (async () => {
        const ref = await this.findDeploymentRef(deploymentId);
        if (ref === undefined) {
          this.envRetries.delete(deploymentId);
          return;
        }
        await this.patchDeployment(ref);
      })().catch((err: unknown) => {
        this.logger.warn(`re-applying the env objects of deployment '${deploymentId}' failed: ${errorMessage(err)}`);
        if (isRetryable(err)) this.scheduleRetry(deploymentId);
      });
    },

    async repairObject(object: KubernetesObject, kind: string, deleted: boolean): Promise<void> {
      if (!isManaged(object) || object.metadata?.labels?.[COMPONENT_LABEL] !== "env") return;
      const deploymentId = getIdFromAnnotation(object);
      if (deploymentId === undefined || !this.envActive) return;
      if (!deleted && object.metadata?.deletionTimestamp !== undefined) return;
      const drifted = async (): Promise<boolean> => {
        const { plain, secret } = splitValues((await this.envsOf(deploymentId)).map(toValues));
        const ours = kind === "Secret" ? secret : plain;
        // Deleted: drift only if it had values to hold. Present: drift if it holds other values, or should not exist.
        if (deleted) return Object.keys(ours).length > 0;
        return Object.keys(ours).length === 0 || envObjectDiffers(ours, object);
      };
      try {
        // Most events are our own writes: settled by one database read, without lookups.
        if (!(await drifted())) return;
        const ref = await this.findDeploymentRef(deploymentId);
        if (ref === undefined || ref.namespaceName !== object.metadata?.namespace) return;
        await this.withLock(deploymentId, async () => {
          // Checked again once our own writes in flight (apply, then store) are done.
          if (!(await drifted())) return;
          this.logger.info(`env objects of deployment '${deploymentId}' changed in the cluster: re-applying`);
          await this.patchUnlocked(ref, { prune: true });
        });
      } catch (err) {
        if (hasCode(err, 409)) return; // namespace being removed
        this.logger.warn(`re-applying the env objects of deployment '${deploymentId}' failed: ${errorMessage(err)}`);
      }
    },
  },

  created() {
    this.envLocks = new KeyedChain();
    this.envLockScope = new AsyncLocalStorage();
    this.envRetries = new Map();
    this.envApplied = new Map();
    this.envActive = false;
  },

  started() {
    this.envActive = true;
    // Once soon after start, as the other services' reconcilers do: a restart may find the cluster without the env
    // objects (a new or emptied cluster), and the first interval is RESYNC_INTERVAL away (5 minutes by default).
    const initial = this.settings.initialResyncDelayMs ?? 1000;
    this.scheduleResync(initial >= 0 ? initial : undefined);
  },

  stopped() {
    this.envActive = false;
    if (this.envResyncTimer !== undefined) clearTimeout(this.envResyncTimer);
    this.envResyncTimer = undefined;
    for (const { timer } of this.envRetries.values()) clearTimeout(timer);
    this.envRetries.clear();
  },
};

export default schema;
