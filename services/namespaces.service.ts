/**
 * `v1.k8s.namespaces`: a tenant's namespace with its domain, owner, members and quota, and its objects in the cluster —
 * the Namespace, the ResourceQuota `moleculer-k8s-quota` and the LimitRange `moleculer-k8s-limits` (lib/manifests),
 * server-side applied through `v1.kube` as field manager "k8s.namespaces" (docs/architecture.md, "Reconciliation").
 *
 * - create/update: validate → store (status Pending) → apply. Cluster unreachable (a retryable error, or no v1.kube on
 *   any node): the call succeeds, the record says `{ phase: "Pending", reason: "ClusterUnavailable", message }` and the
 *   reconciler (mixins/reconciler.mixin.ts) applies it when the cluster is back. Any other cluster error: a create is
 *   undone (objects deleted, record removed), an update restored; the caller gets the error (422 naming the field).
 * - status: `Active` (and `uid`) once applied; kept in step from `kube.namespaces.*` / `kube.resourcequotas.*` /
 *   `kube.limitranges.*`. An object of ours deleted or changed behind our back is applied again from the record.
 * - remove: the record becomes `Terminating`, the Namespace is deleted (Background); the record goes (and
 *   `k8s.namespaces.removed` is broadcast, so children remove theirs) when the cluster confirms the Namespace is gone.
 *   Cluster unreachable: the record goes at once and the deletion is retried (see `sweepOrphans`). A cluster-owned
 *   namespace (`default`) is never deleted: only our ResourceQuota and LimitRange in it.
 */
import type { Context, ServiceSchema, ServiceSettingSchema } from "moleculer";
import { Errors } from "moleculer";
import type { KubernetesObject } from "@kubernetes/client-node";
import { readConfig } from "../lib/config.ts";
import {
  quotaChangeRule,
  quotaRule,
  ROLES,
  type Member,
  type NamespaceEntity,
  type NamespaceStatus,
  type Role,
} from "../lib/entities.ts";
import { alreadyExists, ERROR_TYPES, forbidden, hasCode, hasType, invalid, notFound } from "../lib/errors.ts";
import {
  COMPONENT_LABEL,
  DEFAULT_QUOTA,
  getIdFromAnnotation,
  LIMIT_RANGE_NAME,
  MANAGED_BY_SELECTOR,
  renderLimitRange,
  renderNamespace,
  renderResourceQuota,
  RESOURCE_QUOTA_NAME,
  type Quota as ManifestQuota,
  recordSelector,
} from "../lib/manifests/index.ts";
import type { KubeApplyInput, KubeApplyResult, KubeDeleteResult, KubeListResult } from "./kube.service.ts";
import { kubeList } from "../lib/kube/local-list.ts";
import { KeyedChain } from "../lib/keyed-chain.ts";
import { isAdmin, isInternal, type CallerMeta } from "../lib/meta.ts";
import { defineParams, type ParamsOf } from "../lib/params.ts";
import {
  DNS_1123_LABEL,
  DNS_1123_LABEL_MAX,
  DOMAIN_NAME,
  DOMAIN_NAME_MAX,
  isClusterOwnedNamespace,
  isOthersPersonalNamespace,
  personalNamespaceName,
  isDomainAllowed,
  namespaceNameProblem,
} from "../lib/validators.ts";
import {
  DbMixin,
  type DbConnectionSettings,
  type DbMethods,
  type DbVars,
  type Entity,
  type ListResult,
} from "../mixins/db.mixin.ts";
import {
  guardedRecord,
  MembershipMixin,
  roleIn,
  type MembershipMethods,
  type MembershipVars,
} from "../mixins/membership.mixin.ts";
import {
  applyOrUndo,
  isDrifted,
  ReconcilerMixin,
  type ReconcilerMethods,
  type ReconcilerOptions,
} from "../mixins/reconciler.mixin.ts";
import type { RawDoc } from "../mixins/db.mixin.ts";

const name = { type: "string", empty: false, max: DNS_1123_LABEL_MAX, pattern: DNS_1123_LABEL } as const;
const domain = { type: "string", empty: false, max: DOMAIN_NAME_MAX, pattern: DOMAIN_NAME, optional: true } as const;
const id = { type: "string", empty: false, max: 64 } as const;
const userID = { type: "string", empty: false, max: 256 } as const;
const immutable = { type: "forbidden", optional: true } as const;

export const namespaceCreateParams = defineParams({
  $$strict: true,
  name,
  domain,
  owner: { ...userID, optional: true },
  quota: { ...quotaRule, optional: true },
});
export const namespaceUpdateParams = defineParams({
  $$strict: true,
  id,
  domain,
  quota: { ...quotaChangeRule, optional: true },
  name: immutable,
  owner: immutable,
  members: immutable,
});
export const namespaceNameParams = defineParams({ $$strict: true, name });
export const namespaceAvailableParams = defineParams({ $$strict: true, name: { type: "string", max: 1024 } });
export const namespaceAddMemberParams = defineParams({
  $$strict: true,
  id,
  userID,
  role: { type: "enum", values: ROLES },
});
export const namespaceRemoveMemberParams = defineParams({ $$strict: true, id, userID });
export const namespaceCleanParams = defineParams({ $$strict: true });
export const namespaceIdParams = defineParams({ $$strict: true, id });

export type NamespaceCreateParams = ParamsOf<typeof namespaceCreateParams>;
export type NamespaceUpdateParams = ParamsOf<typeof namespaceUpdateParams>;
export type NamespaceNameParams = ParamsOf<typeof namespaceNameParams>;
export type NamespaceAvailableParams = ParamsOf<typeof namespaceAvailableParams>;
export type NamespaceAddMemberParams = ParamsOf<typeof namespaceAddMemberParams>;
export type NamespaceRemoveMemberParams = ParamsOf<typeof namespaceRemoveMemberParams>;
export type NamespaceIdParams = ParamsOf<typeof namespaceIdParams>;
export type NamespaceListResult = Omit<ListResult, "rows"> & { rows: NamespaceEntity[] };
export interface NamespaceAvailableResult {
  name: string;
  available: boolean;
}
/** `status`: the cluster's own view of the Namespace (phase "NotFound" when the cluster has none). */
export interface NamespaceClusterStatus {
  phase: string;
  uid: string;
  conditions: { type: string; status: string; reason?: string; message?: string }[];
}
/** `resourcequota`: the ResourceQuota's hard limits and current use, as the cluster reports them (quantity strings). */
export interface NamespaceResourceQuota {
  hard: Record<string, string>;
  used: Record<string, string>;
}
/** `writable`: the namespace a child may write into (404 / 409 NAMESPACE_LOCKED otherwise). */
export interface WritableNamespace {
  id: string;
  name: string;
  domain: string;
  clusterOwned: boolean;
}

const FIELD_MANAGER = "k8s.namespaces";
const NAMESPACE_REF = { apiVersion: "v1", kind: "Namespace" } as const;
/** Record status reasons. */
export const NAMESPACE_REASONS = {
  APPLYING: "Applying",
  CLUSTER_UNAVAILABLE: "ClusterUnavailable",
  APPLY_FAILED: "ApplyFailed",
  NAMESPACE_TERMINATING: "NamespaceTerminating",
  RECREATING: "Recreating",
  DELETING: "Deleting",
} as const;

interface ClusterObjects {
  namespace: KubernetesObject | undefined;
  quota: KubernetesObject | undefined;
  limits: KubernetesObject | undefined;
}
interface Orphan {
  name: string;
  clusterOwned: boolean;
}

interface Settings extends ServiceSettingSchema {
  rest: string;
  db?: DbConnectionSettings;
  /** Domain of a namespace created without one; defaults to DEFAULT_DOMAIN. */
  defaultDomain?: string;
  /** Domains a namespace may use (and their subdomains); defaults to ALLOWED_DOMAINS; empty = any valid name. */
  allowedDomains?: string[];
  /** Quota for the fields a record does not set (DEFAULT_QUOTA). */
  defaultQuota?: ManifestQuota;
  /** Who may set `quota` (QUOTA_SET_BY): "admin" (default) or "owner"; internal calls always may. */
  quotaSetBy?: "admin" | "owner";
  /** Seconds between resyncs (RESYNC_INTERVAL) and the reconciler's backoff. */
  resyncIntervalSeconds?: number;
  reconciler?: ReconcilerOptions;
  /**
   * Delete, on resync, Namespaces (and quota/limits objects) labelled as ours whose record id is unknown: removals made
   * while the cluster was down whose retry a restart lost. Default false: with a wrong or fresh database it would delete
   * every tenant's namespace. Only for one installation per cluster.
   */
  sweepOrphans?: boolean;
}
interface StatusWriteOptions {
  /**
   * Leave a record that is being removed (Terminating) as it is: for a status decided on the record as read before a
   * removal may have begun (a cluster event's, an apply's, a failed reconcile's).
   */
  unlessTerminating?: boolean;
}
interface ClusterMethods {
  checkDomain(domain: string): void;
  checkQuotaRight(meta: CallerMeta, quota: Record<string, number | undefined> | undefined, current: unknown): void;
  kubeAvailable(): boolean;
  renderObjects(record: RawDoc): KubernetesObject[];
  clusterObjects(record: RawDoc): Promise<ClusterObjects>;
  applyRecord(record: RawDoc): Promise<void>;
  deleteClusterObjects(name: string, clusterOwned: boolean, id: string): Promise<boolean>;
  finishRemoval(record: RawDoc): Promise<void>;
  setStatus(id: string, status: NamespaceStatus, uid?: string, options?: StatusWriteOptions): Promise<void>;
  writeStatus(id: string, status: NamespaceStatus, uid?: string, options?: StatusWriteOptions): Promise<void>;
  updateUid(record: RawDoc, object: KubernetesObject): Promise<void>;
  transformResource(object: KubernetesObject): NamespaceStatus;
  applyError(err: unknown): Errors.MoleculerError;
  unavailableStatus(err: unknown): NamespaceStatus;
  sweepOrphans(): Promise<void>;
  onClusterObject(type: "added" | "modified" | "deleted", object: KubernetesObject): Promise<void>;
  entityOf(ctx: Context | null, record: RawDoc): Promise<NamespaceEntity>;
}
type Methods = DbMethods & MembershipMethods & ReconcilerMethods & ClusterMethods;
type LocalVars = DbVars &
  MembershipVars & {
    domains: { defaultDomain: string; allowed: string[] };
    defaultQuota: ManifestQuota;
    quotaSetBy: "admin" | "owner";
    /** Records removed while the cluster was down, whose objects are still to delete (by id). */
    orphans: Map<string, Orphan>;
    /** Each record's status writes, one after another (setStatus). */
    statusWrites: KeyedChain;
  };
type Ctx<P> = Context<P, CallerMeta>;

const schema: ServiceSchema<Settings, Methods, LocalVars> = {
  name: "k8s.namespaces",
  version: 1,
  mixins: [
    DbMixin({ collection: "namespaces", resource: "namespaces", uniqueIndexes: [["name"]], entityName: "namespace" }),
    MembershipMixin({ scope: "namespace" }),
    ReconcilerMixin(),
  ],
  settings: {
    rest: "/v1/k8s/namespaces",
  },

  actions: {
    // list, find, count, get come from the db mixin; membership limits them to the caller's namespaces.

    /** Creates a namespace owned by the caller (an internal call passes `owner`; `quota` from admins unless QUOTA_SET_BY=owner) and applies its objects (Pending ClusterUnavailable when the cluster is down). REST: POST / @throws VALIDATION_ERROR, ALREADY_EXISTS, NAMESPACE_LOCKED, FORBIDDEN, DATABASE_UNAVAILABLE */
    create: {
      rest: "POST /",
      permission: "signedIn",
      params: namespaceCreateParams,
      async handler(ctx: Ctx<NamespaceCreateParams>): Promise<NamespaceEntity> {
        const p = ctx.params;
        const problem = namespaceNameProblem(p.name);
        if (problem !== undefined) throw invalid("name", `The 'name' field ${problem}.`, "namespaceName", p.name);
        let owner: string;
        if (isInternal(ctx.meta)) {
          if (p.owner === undefined) throw invalid("owner", "An internal call must pass 'owner'.", "required");
          owner = p.owner;
        } else {
          const caller = ctx.meta.userID ?? "";
          if (p.owner !== undefined && p.owner !== caller && !isAdmin(ctx.meta)) {
            throw forbidden("only an admin may create a namespace for someone else", { owner: p.owner });
          }
          owner = p.owner ?? caller;
        }
        const clusterOwned = isClusterOwnedNamespace(p.name);
        // The cluster's own namespace (`default`) is shared by everything else in the cluster: whoever holds its record
        // deploys there and sets its quota and limits, which bind every other workload in it. Only an admin (or another
        // service) may hand it to an owner.
        if (clusterOwned && !isInternal(ctx.meta) && !isAdmin(ctx.meta)) {
          throw forbidden(`only an admin may create the record of the cluster's own namespace '${p.name}'`, {
            field: "name",
          });
        }
        if (!isInternal(ctx.meta) && !isAdmin(ctx.meta) && isOthersPersonalNamespace(p.name, owner)) {
          throw forbidden(
            `the name '${p.name}' is kept for a user's personal namespace (yours is '${personalNamespaceName(owner)}')`,
            { field: "name" },
          );
        }
        const domainName = p.domain ?? this.domains.defaultDomain;
        this.checkDomain(domainName);
        checkQuota(p.quota);
        this.checkQuotaRight(ctx.meta, p.quota, {});
        const kube = this.kubeAvailable();
        if (kube && !clusterOwned) {
          // A Namespace of that name that the suite does not manage (or that another record owns) is not taken over.
          const existing = await ctx
            .call<KubernetesObject, object>("v1.kube.get", { ...NAMESPACE_REF, name: p.name })
            .catch((err: unknown) => {
              if (hasCode(err, 404) || this.isRetryableError(err)) return undefined;
              throw err;
            });
          if (existing !== undefined) {
            if (existing.metadata?.deletionTimestamp !== undefined) {
              throw namespaceLocked(p.name, "is still being deleted in the cluster; try again shortly");
            }
            throw alreadyExists("namespace", "name", p.name);
          }
        }
        const record: Omit<NamespaceEntity, "id" | "createdAt" | "updatedAt"> = {
          name: p.name,
          domain: domainName,
          owner,
          members: [{ userID: owner, role: "owner" }],
          quota: p.quota ?? {},
          clusterOwned,
          status: kube
            ? { phase: "Pending", reason: NAMESPACE_REASONS.APPLYING, message: "being applied to the cluster" }
            : {
                phase: "Pending",
                reason: NAMESPACE_REASONS.CLUSTER_UNAVAILABLE,
                message: "v1.kube is not running on any node; applied when it is",
              },
          uid: "",
        };
        const created = await this.createEntity(ctx, record);
        if (!kube) {
          this.scheduleReconcile(created.id);
          return created as unknown as NamespaceEntity;
        }
        const stored = await this.findRawById(created.id);
        if (stored === null) throw notFound("namespace", created.id);
        await applyOrUndo(this, stored, async () => {
          // The objects that were applied go, and so does the record.
          await this.deleteClusterObjects(p.name, clusterOwned, created.id).catch((cleanupErr: unknown) => {
            this.logger.warn(`namespace ${p.name}: objects of a refused create not deleted`, cleanupErr);
            this.orphans.set(created.id, { name: p.name, clusterOwned });
          });
          await this.removeEntity(ctx, created.id).catch(() => undefined);
          if (this.orphans.has(created.id)) this.scheduleReconcile(created.id);
        });
        const latest = await this.findRawById(created.id);
        return latest === null ? (created as unknown as NamespaceEntity) : this.entityOf(ctx, latest);
      },
    },

    /** Changes a namespace's domain (owners) or quota (admins, unless QUOTA_SET_BY=owner) and re-applies its objects; `name`, `owner`, `members` cannot change here. The quota fields given change, the others keep their values (`null`: back to the default). REST: PUT /:id, PATCH /:id @throws VALIDATION_ERROR, NOT_FOUND, NAMESPACE_LOCKED, FORBIDDEN, DATABASE_UNAVAILABLE */
    update: {
      rest: ["PUT /:id", "PATCH /:id"],
      permission: "owner",
      params: namespaceUpdateParams,
      async handler(ctx: Ctx<NamespaceUpdateParams>): Promise<NamespaceEntity> {
        const { domain: newDomain } = ctx.params;
        if (newDomain !== undefined) this.checkDomain(newDomain);
        const previous = guardedRecord(ctx) ?? (await this.findRawById(ctx.params.id));
        if (previous === null) throw notFound("namespace", ctx.params.id);
        // A change of one limit leaves the others as they are: replacing the whole quota put every limit not repeated
        // back to its default, without a word.
        const quota = ctx.params.quota === undefined ? undefined : changedQuota(previous.quota, ctx.params.quota);
        checkQuota(quota);
        this.checkQuotaRight(ctx.meta, quota, previous.quota);
        if (isTerminating(previous)) throw namespaceLocked(String(previous.name), "is being removed");
        const changes = {
          ...(newDomain === undefined ? {} : { domain: newDomain }),
          ...(quota === undefined ? {} : { quota }),
        };
        const updated = await this.updateEntity(ctx, ctx.params.id, changes);
        if (Object.keys(changes).length === 0) return updated as unknown as NamespaceEntity;
        if (!this.kubeAvailable()) {
          await this.setStatus(previous._id, {
            phase: "Pending",
            reason: NAMESPACE_REASONS.CLUSTER_UNAVAILABLE,
            message: "v1.kube is not running on any node; applied when it is",
          });
          this.scheduleReconcile(previous._id);
          const latest = await this.findRawById(previous._id);
          return latest === null ? (updated as unknown as NamespaceEntity) : this.entityOf(ctx, latest);
        }
        const stored = await this.findRawById(previous._id);
        if (stored === null) throw notFound("namespace", previous._id);
        await applyOrUndo(this, stored, async () => {
          // The record as it was, and so the objects.
          await this.updateEntity(ctx, previous._id, { domain: previous.domain, quota: previous.quota });
          await this.reconcileNow(previous._id);
        });
        const latest = await this.findRawById(previous._id);
        return latest === null ? (updated as unknown as NamespaceEntity) : this.entityOf(ctx, latest);
      },
    },

    /**
     * Removes a namespace (owners): the record becomes Terminating, the Namespace is deleted, and the record goes (with
     * its children's records) when the cluster confirms; cluster unreachable: the record goes now, the deletion is
     * retried. REST: DELETE /:id @throws NOT_FOUND, FORBIDDEN, NAMESPACE_LOCKED, DATABASE_UNAVAILABLE
     */
    remove: {
      rest: "DELETE /:id",
      permission: "owner",
      params: namespaceIdParams,
      async handler(ctx: Ctx<NamespaceIdParams>): Promise<NamespaceEntity> {
        const record = guardedRecord(ctx) ?? (await this.findRawById(ctx.params.id));
        if (record === null) throw notFound("namespace", ctx.params.id);
        if (isTerminating(record)) throw namespaceLocked(String(record.name), "is already being removed");
        const nsName = String(record.name);
        const clusterOwned = record.clusterOwned === true;
        if (!this.kubeAvailable()) {
          this.orphans.set(record._id, { name: nsName, clusterOwned });
          const removed = await this.removeEntity(ctx, record._id);
          this.scheduleReconcile(record._id);
          return removed as unknown as NamespaceEntity;
        }
        const terminating: NamespaceStatus = {
          phase: "Terminating",
          reason: NAMESPACE_REASONS.DELETING,
          // The cluster's own namespace stays: only what the suite put there goes (deleteClusterObjects).
          message: clusterOwned
            ? "the suite is deleting what it put in the cluster's own namespace; the namespace stays"
            : "the cluster is deleting the namespace and everything in it",
        };
        await this.setStatus(record._id, terminating);
        // An apply of this record already under way ends first: arriving after the deletion, it would create the
        // Namespace again. Reconciles that start from now on find the record Terminating and finish the removal.
        await this.reconcileSettled(record._id);
        let deleted: boolean;
        try {
          deleted = await this.deleteClusterObjects(nsName, clusterOwned, record._id);
        } catch (err) {
          if (!this.isRetryableError(err)) {
            await this.setStatus(record._id, record.status as NamespaceStatus);
            throw err;
          }
          await this.setStatus(record._id, { ...this.unavailableStatus(err), phase: "Terminating" });
          this.orphans.set(record._id, { name: nsName, clusterOwned });
          const removed = await this.removeEntity(ctx, record._id);
          this.scheduleReconcile(record._id);
          return removed as unknown as NamespaceEntity;
        }
        // Gone already when the cluster was quick (the watch saw the Namespace deleted and the record removed): the
        // answer is the record as the removal left it, Terminating, not as it was before.
        const current = (await this.findRawById(record._id)) ?? { ...record, status: terminating };
        const entity = await this.entityOf(ctx, current);
        // Nothing to wait for: no Namespace (already gone) or a cluster-owned one (only our objects were deleted).
        if (!deleted || clusterOwned) await this.removeEntity(ctx, record._id).catch(() => undefined);
        return entity;
      },
    },

    /**
     * Removes every namespace record at once (admin or internal; a maintenance and test tool) and deletes their objects
     * in the cluster, retrying those the cluster cannot take now; no REST. @throws FORBIDDEN, DATABASE_UNAVAILABLE
     */
    clean: {
      permission: "admin",
      params: namespaceCleanParams,
      async handler(ctx: Ctx<Record<string, never>>): Promise<{ removed: number }> {
        const records = await this.findRaw({});
        for (const r of records)
          this.orphans.set(r._id, { name: String(r.name), clusterOwned: r.clusterOwned === true });
        const removed = await this.removeEntities(ctx);
        if (this.kubeAvailable()) {
          await Promise.all(records.map((r) => this.reconcileNow(r._id)));
        } else {
          for (const r of records) this.scheduleReconcile(r._id);
        }
        return { removed };
      },
    },

    /** The cluster's view of the Namespace: `{ phase, uid, conditions }` (phase "NotFound" when absent). REST: GET /:id/status @throws NOT_FOUND, K8S_UNAVAILABLE */
    status: {
      rest: "GET /:id/status",
      permission: "read",
      params: namespaceIdParams,
      async handler(ctx: Ctx<NamespaceIdParams>): Promise<NamespaceClusterStatus> {
        const record = guardedRecord(ctx) ?? (await this.findRawById(ctx.params.id));
        if (record === null) throw notFound("namespace", ctx.params.id);
        let ns: KubernetesObject | undefined;
        if (record.clusterOwned === true) {
          ns = await ctx
            .call<KubernetesObject, object>("v1.kube.get", { ...NAMESPACE_REF, name: String(record.name) })
            .catch((err: unknown) => {
              if (hasType(err, ERROR_TYPES.K8S_NOT_FOUND)) return undefined;
              throw err;
            });
        } else {
          ns = (await this.clusterObjects(record)).namespace;
        }
        const status = (ns as { status?: { phase?: string; conditions?: NamespaceClusterStatus["conditions"] } })
          ?.status;
        return {
          phase: ns === undefined ? "NotFound" : (status?.phase ?? "Active"),
          uid: ns?.metadata?.uid ?? "",
          conditions: (status?.conditions ?? []).map((c) => ({
            type: c.type,
            status: c.status,
            ...(c.reason === undefined ? {} : { reason: c.reason }),
            ...(c.message === undefined ? {} : { message: c.message }),
          })),
        };
      },
    },

    /** The ResourceQuota's `{ hard, used }` as the cluster reports them. REST: GET /:id/resourcequota @throws NOT_FOUND, K8S_NOT_FOUND, K8S_UNAVAILABLE */
    resourcequota: {
      rest: "GET /:id/resourcequota",
      permission: "read",
      params: namespaceIdParams,
      async handler(ctx: Ctx<NamespaceIdParams>): Promise<NamespaceResourceQuota> {
        const record = guardedRecord(ctx) ?? (await this.findRawById(ctx.params.id));
        if (record === null) throw notFound("namespace", ctx.params.id);
        let { quota } = await this.clusterObjects(record);
        if (quota === undefined) {
          // The watch cache may not have seen a quota applied a moment ago: ask the API server once before a 404.
          quota = await ctx
            .call<KubernetesObject, object>("v1.kube.get", {
              apiVersion: "v1",
              kind: "ResourceQuota",
              namespace: String(record.name),
              name: RESOURCE_QUOTA_NAME,
            })
            .then(
              (live) => (getIdFromAnnotation(live) === record._id ? live : undefined),
              (err: unknown) => {
                if (hasCode(err, 404)) return undefined;
                throw err;
              },
            );
        }
        if (quota === undefined) {
          throw new Errors.MoleculerClientError(
            `the ResourceQuota of namespace '${String(record.name)}' is not in the cluster (yet)`,
            404,
            ERROR_TYPES.K8S_NOT_FOUND,
            { namespace: record.name, name: RESOURCE_QUOTA_NAME },
          );
        }
        const q = quota as {
          spec?: { hard?: Record<string, string> };
          status?: { hard?: Record<string, string>; used?: Record<string, string> };
        };
        return { hard: { ...(q.status?.hard ?? q.spec?.hard ?? {}) }, used: { ...(q.status?.used ?? {}) } };
      },
    },

    /** For child services: the namespace `id` if it exists and is not being removed; internal, no REST. @throws NOT_FOUND, NAMESPACE_LOCKED */
    writable: {
      visibility: "public",
      permission: "internal",
      params: namespaceIdParams,
      async handler(ctx: Ctx<NamespaceIdParams>): Promise<WritableNamespace> {
        const record = await this.findRawById(ctx.params.id);
        if (record === null) throw notFound("namespace", ctx.params.id);
        if (isTerminating(record)) throw namespaceLocked(String(record.name), "is being removed");
        return {
          id: record._id,
          name: String(record.name),
          domain: String(record.domain),
          clusterOwned: record.clusterOwned === true,
        };
      },
    },

    /** The namespace with this name, if the caller may see it. REST: GET /resolve/:name @throws NOT_FOUND, VALIDATION_ERROR */
    resolveName: {
      rest: "GET /resolve/:name",
      permission: "custom",
      params: namespaceNameParams,
      async handler(ctx: Ctx<NamespaceNameParams>): Promise<NamespaceEntity> {
        const record = await this.findRawOne({ name: ctx.params.name });
        if (record === null) throw notFound("namespace", ctx.params.name);
        // A stranger gets the same 404 as for a name nobody has (authorize's names the record's id, which a stranger
        // must not learn from a name).
        await this.authorize(ctx, record, "read").catch((err: unknown) => {
          throw hasCode(err, 404) ? notFound("namespace", ctx.params.name) : err;
        });
        return (await this.transformDocuments(ctx, {}, record)) as NamespaceEntity;
      },
    },

    /** Whether a name could be taken now: valid, not reserved, not in use (says nothing else). REST: GET /available/:name @throws VALIDATION_ERROR */
    available: {
      rest: "GET /available/:name",
      permission: "signedIn",
      params: namespaceAvailableParams,
      async handler(ctx: Ctx<NamespaceAvailableParams>): Promise<NamespaceAvailableResult> {
        const candidate = ctx.params.name;
        if (namespaceNameProblem(candidate) !== undefined) return { name: candidate, available: false };
        const mayClaim =
          isInternal(ctx.meta) ||
          isAdmin(ctx.meta) ||
          (!isClusterOwnedNamespace(candidate) && !isOthersPersonalNamespace(candidate, ctx.meta.userID ?? ""));
        if (!mayClaim) return { name: candidate, available: false };
        return { name: candidate, available: (await this.findRawOne({ name: candidate })) === null };
      },
    },

    /** Adds a member or changes a member's role (owners). REST: POST /:id/members @throws NOT_FOUND, FORBIDDEN, VALIDATION_ERROR */
    addMember: {
      rest: "POST /:id/members",
      permission: "owner",
      params: namespaceAddMemberParams,
      async handler(ctx: Ctx<NamespaceAddMemberParams>): Promise<NamespaceEntity> {
        const { id: nsId, userID: who, role } = ctx.params;
        const record = guardedRecord(ctx) ?? (await this.findRawById(nsId));
        if (record === null) throw notFound("namespace", nsId);
        const members = (record.members as Member[] | undefined) ?? [];
        const others = members.filter((m) => m.userID !== who);
        if (role !== "owner" && roleIn(record, who) === "owner" && !others.some((m) => m.role === "owner")) {
          throw invalid("role", "The last owner of a namespace cannot be demoted.", "lastOwner", role);
        }
        const existing = members.findIndex((m) => m.userID === who);
        const next: Member[] =
          existing === -1
            ? [...members, { userID: who, role }]
            : members.map((m) => (m.userID === who ? { userID: who, role } : m));
        return (await this.updateEntity(ctx, nsId, {
          members: next,
          owner: primaryOwner(next, record.owner),
        })) as unknown as NamespaceEntity;
      },
    },

    /** Removes a member (owners); the last owner cannot be removed. REST: DELETE /:id/members/:userID @throws NOT_FOUND, FORBIDDEN, VALIDATION_ERROR */
    removeMember: {
      rest: "DELETE /:id/members/:userID",
      permission: "owner",
      params: namespaceRemoveMemberParams,
      async handler(ctx: Ctx<NamespaceRemoveMemberParams>): Promise<NamespaceEntity> {
        const { id: nsId, userID: who } = ctx.params;
        const record = guardedRecord(ctx) ?? (await this.findRawById(nsId));
        if (record === null) throw notFound("namespace", nsId);
        const members = (record.members as Member[] | undefined) ?? [];
        if (!members.some((m) => m.userID === who)) throw notFound("member", who);
        const next = members.filter((m) => m.userID !== who);
        if (!next.some((m) => m.role === "owner")) {
          throw invalid("userID", "The last owner of a namespace cannot be removed.", "lastOwner", who);
        }
        return (await this.updateEntity(ctx, nsId, {
          members: next,
          owner: primaryOwner(next, record.owner),
        })) as unknown as NamespaceEntity;
      },
    },
  },

  events: {
    "kube.namespaces.*"(ctx: Context<KubernetesObject>) {
      return this.onClusterObject(changeOf(ctx.eventName), ctx.params);
    },
    "kube.resourcequotas.*"(ctx: Context<KubernetesObject>) {
      return this.onClusterObject(changeOf(ctx.eventName), ctx.params);
    },
    "kube.limitranges.*"(ctx: Context<KubernetesObject>) {
      return this.onClusterObject(changeOf(ctx.eventName), ctx.params);
    },
  },

  methods: {
    /** Whether a v1.kube runs on some node (none: the cluster is as unreachable as when it is down). */
    kubeAvailable(): boolean {
      return this.broker.registry.actions.isAvailable("v1.kube.apply");
    },

    /** The record's objects: Namespace (not for a cluster-owned one), ResourceQuota, LimitRange. */
    renderObjects(record: RawDoc): KubernetesObject[] {
      const nsName = String(record.name);
      const objects: KubernetesObject[] = [
        renderResourceQuota({
          id: record._id,
          namespace: nsName,
          quota: (record.quota ?? {}) as Partial<ManifestQuota>,
          defaults: this.defaultQuota,
        }),
        renderLimitRange({ id: record._id, namespace: nsName }),
      ];
      if (record.clusterOwned !== true) {
        objects.unshift(
          renderNamespace({
            id: record._id,
            name: nsName,
            ...(typeof record.domain === "string" ? { domain: record.domain } : {}),
          }),
        );
      }
      return objects;
    },

    /** The record's objects as the cluster has them (v1.kube's watch cache: no request to the API server when synced). */
    async clusterObjects(record: RawDoc): Promise<ClusterObjects> {
      const nsName = String(record.name);
      const selector = recordSelector("namespace", record._id);
      const mine = (items: KubernetesObject[], objectName: string) =>
        items.find((o) => o.metadata?.name === objectName && getIdFromAnnotation(o) === record._id);
      const [nsList, rqList, lrList] = await Promise.all([
        record.clusterOwned === true
          ? Promise.resolve<KubeListResult>({ items: [], cached: true })
          : kubeList(this.broker, { ...NAMESPACE_REF, labelSelector: selector }),
        kubeList(this.broker, {
          apiVersion: "v1",
          kind: "ResourceQuota",
          namespace: nsName,
          labelSelector: selector,
        }),
        kubeList(this.broker, {
          apiVersion: "v1",
          kind: "LimitRange",
          namespace: nsName,
          labelSelector: selector,
        }),
      ]);
      return {
        namespace: mine(nsList.items, nsName),
        quota: mine(rqList.items, RESOURCE_QUOTA_NAME),
        limits: mine(lrList.items, LIMIT_RANGE_NAME),
      };
    },

    /** The reconciler's hook: converge one record (apply it, or finish its removal). */
    async reconcile(record: RawDoc): Promise<void> {
      if (isTerminating(record)) return this.finishRemoval(record);
      await this.applyRecord(record);
    },

    /** Server-side applies the record's objects (force: they are ours) and records Active and the uid. */
    async applyRecord(record: RawDoc): Promise<void> {
      if (record.clusterOwned !== true) {
        const live = await this.clusterObjects(record).catch(() => undefined);
        if (live?.namespace?.metadata?.deletionTimestamp !== undefined) {
          // Deleted behind our back and still terminating: it is applied again when the cluster reports it gone.
          await this.setStatus(
            record._id,
            {
              phase: "Pending",
              reason: NAMESPACE_REASONS.NAMESPACE_TERMINATING,
              message:
                "the Namespace was deleted outside the suite; it is created again once the cluster has removed it",
            },
            undefined,
            { unlessTerminating: true },
          );
          return;
        }
      }
      const input: KubeApplyInput = { objects: this.renderObjects(record), fieldManager: FIELD_MANAGER, force: true };
      const result = await this.broker.call<KubeApplyResult, KubeApplyInput>("v1.kube.apply", input);
      let ns = result.objects.find((o) => o.kind === "Namespace");
      if (ns === undefined) {
        ns = await this.broker
          .call<KubernetesObject, object>("v1.kube.get", { ...NAMESPACE_REF, name: String(record.name) })
          .catch(() => undefined);
      }
      // A removal that began while this apply ran stays Terminating: its deletion follows.
      await this.setStatus(record._id, { phase: "Active" }, ns?.metadata?.uid, { unlessTerminating: true });
    },

    /**
     * Deletes what the suite made for a namespace: the Namespace (Background: the cluster deletes what is in it), or
     * for a cluster-owned one only our ResourceQuota and LimitRange. True when a Namespace deletion was started.
     */
    async deleteClusterObjects(nsName: string, clusterOwned: boolean, recordId: string): Promise<boolean> {
      if (clusterOwned) {
        for (const [kind, objectName] of [
          ["ResourceQuota", RESOURCE_QUOTA_NAME],
          ["LimitRange", LIMIT_RANGE_NAME],
        ] as const) {
          await this.broker.call<KubeDeleteResult, object>("v1.kube.delete", {
            apiVersion: "v1",
            kind,
            namespace: nsName,
            name: objectName,
          });
        }
        return false;
      }
      const live = await this.broker
        .call<KubernetesObject, object>("v1.kube.get", { ...NAMESPACE_REF, name: nsName })
        .catch((err: unknown) => {
          if (hasType(err, ERROR_TYPES.K8S_NOT_FOUND)) return undefined;
          throw err;
        });
      // Never delete a Namespace that is not this record's (a later record of the same name, or someone else's).
      if (live === undefined || getIdFromAnnotation(live) !== recordId) return false;
      if (live.metadata?.deletionTimestamp !== undefined) return true;
      const res = await this.broker.call<KubeDeleteResult, object>("v1.kube.delete", {
        ...NAMESPACE_REF,
        name: nsName,
        propagationPolicy: "Background",
      });
      return res.deleted;
    },

    /** A Terminating record: delete again if the Namespace is still there, remove the record once it is gone. */
    async finishRemoval(record: RawDoc): Promise<void> {
      const deleting = await this.deleteClusterObjects(String(record.name), record.clusterOwned === true, record._id);
      if (!deleting) {
        await this.removeEntity(null, record._id).catch((err: unknown) => {
          if (!hasCode(err, 404)) throw err;
        });
      }
    },

    async needsReconcile(record: RawDoc): Promise<boolean> {
      const status = record.status as NamespaceStatus | undefined;
      const live = await this.clusterObjects(record);
      if (status?.phase === "Terminating") {
        return live.namespace === undefined || live.namespace.metadata?.deletionTimestamp === undefined;
      }
      if (status?.phase !== "Active") return true;
      if (live.namespace?.metadata?.deletionTimestamp !== undefined) return false; // the watch puts it back
      const wanted = this.renderObjects(record);
      const have = [live.namespace, live.quota, live.limits];
      return wanted.some((obj) => {
        const current =
          obj.kind === "Namespace"
            ? have[0]
            : obj.kind === "ResourceQuota"
              ? have[1]
              : obj.kind === "LimitRange"
                ? have[2]
                : undefined;
        return isDrifted(obj, current);
      });
    },

    async reconcileCandidates(): Promise<RawDoc[]> {
      if (this.settings.sweepOrphans === true) {
        await this.sweepOrphans().catch((err: unknown) =>
          this.logger.warn(`Orphan sweep skipped: ${err instanceof Error ? err.message : String(err)}`),
        );
      }
      return this.findRaw({});
    },

    async onReconcileFailed(record: RawDoc, err: unknown): Promise<void> {
      const terminating = isTerminating(record);
      // A record that was not being removed when its reconcile began may be now: that removal's status stays.
      const unlessTerminating = { unlessTerminating: !terminating };
      if (this.isRetryableError(err)) {
        const status = this.unavailableStatus(err);
        await this.setStatus(
          record._id,
          terminating ? { ...status, phase: "Terminating" } : status,
          undefined,
          unlessTerminating,
        );
        return;
      }
      const message = err instanceof Error ? err.message : String(err);
      this.logger.warn(`namespace ${String(record.name)}: the cluster refused it: ${message}`);
      await this.setStatus(
        record._id,
        { phase: terminating ? "Terminating" : "Pending", reason: NAMESPACE_REASONS.APPLY_FAILED, message },
        undefined,
        unlessTerminating,
      );
    },

    /** A queued id without a record: a namespace removed while the cluster was down; delete its objects now. */
    async reconcileMissing(recordId: string): Promise<void> {
      const orphan = this.orphans.get(recordId);
      if (orphan === undefined) return;
      await this.deleteClusterObjects(orphan.name, orphan.clusterOwned, recordId);
      this.orphans.delete(recordId);
    },

    /** Deletes Namespaces, quotas and limits labelled as ours whose record is gone (see settings.sweepOrphans). */
    async sweepOrphans(): Promise<void> {
      const selector = `${MANAGED_BY_SELECTOR},${COMPONENT_LABEL}=namespace`;
      for (const ref of [
        NAMESPACE_REF,
        { apiVersion: "v1", kind: "ResourceQuota" },
        { apiVersion: "v1", kind: "LimitRange" },
      ] as const) {
        const { items } = await kubeList(this.broker, {
          ...ref,
          labelSelector: selector,
        });
        for (const obj of items) {
          const recordId = getIdFromAnnotation(obj);
          if (recordId === undefined || obj.metadata?.deletionTimestamp !== undefined) continue;
          if ((await this.findRawById(recordId)) !== null) continue;
          const objectName = obj.metadata?.name ?? "";
          const namespace = obj.metadata?.namespace;
          this.logger.info(
            `Deleting ${ref.kind} ${namespace === undefined ? "" : `${namespace}/`}${objectName}: its namespace record is gone`,
          );
          await this.broker.call<KubeDeleteResult, object>("v1.kube.delete", {
            ...ref,
            name: objectName,
            ...(namespace === undefined ? {} : { namespace }),
            ...(ref.kind === "Namespace" ? { propagationPolicy: "Background" } : {}),
          });
        }
      }
    },

    /**
     * Writes the record's status (and uid) when they differ from what is stored. A record's writes run one after
     * another, each deciding on the record as the one before it left it: a status decided before a removal began (a
     * cluster event's, an apply's) must not land after the removal's Terminating and undo it (`unlessTerminating`).
     */
    setStatus(recordId: string, status: NamespaceStatus, uid?: string, options?: StatusWriteOptions): Promise<void> {
      return this.statusWrites.run(recordId, () => this.writeStatus(recordId, status, uid, options));
    },

    /** One status write of setStatus. */
    async writeStatus(
      recordId: string,
      status: NamespaceStatus,
      uid?: string,
      options: StatusWriteOptions = {},
    ): Promise<void> {
      const current = await this.findRawById(recordId);
      if (current === null) return;
      if (options.unlessTerminating === true && isTerminating(current)) return;
      const before = (current.status ?? {}) as NamespaceStatus;
      const changes: Record<string, unknown> = {};
      const sameReason = before.phase === status.phase && before.reason === status.reason;
      // A retry that fails the same way does not rewrite the record for a different wording of the same error.
      const same =
        sameReason && (status.reason === NAMESPACE_REASONS.CLUSTER_UNAVAILABLE || before.message === status.message);
      if (!same) changes.status = status;
      if (uid !== undefined && uid !== "" && current.uid !== uid) changes.uid = uid;
      if (Object.keys(changes).length > 0) await this.updateEntity(null, recordId, changes);
    },

    /** The record's `uid` from a Namespace of ours. */
    async updateUid(record: RawDoc, object: KubernetesObject): Promise<void> {
      const uid = object.metadata?.uid;
      if (uid !== undefined && uid !== "" && record.uid !== uid) await this.updateEntity(null, record._id, { uid });
    },

    /** The record status a Namespace object implies. */
    transformResource(object: KubernetesObject): NamespaceStatus {
      if (object.metadata?.deletionTimestamp !== undefined) {
        return {
          phase: "Pending",
          reason: NAMESPACE_REASONS.NAMESPACE_TERMINATING,
          message: "the Namespace was deleted outside the suite; it is created again once the cluster has removed it",
        };
      }
      const phase = (object as { status?: { phase?: string } }).status?.phase;
      return phase === "Terminating"
        ? { phase: "Pending", reason: NAMESPACE_REASONS.NAMESPACE_TERMINATING }
        : { phase: "Active" };
    },

    /** A cluster change to one of our objects: status, uid, removal confirmed, or put back what drifted. */
    async onClusterObject(type: "added" | "modified" | "deleted", object: KubernetesObject): Promise<void> {
      if (object.metadata?.labels?.[COMPONENT_LABEL] !== "namespace") return;
      const recordId = getIdFromAnnotation(object);
      if (recordId === undefined) return;
      const record = await this.findRawById(recordId);
      if (record === null) return;
      const isNamespace = object.kind === "Namespace";
      if (isTerminating(record)) {
        if (isNamespace && type === "deleted") {
          await this.removeEntity(null, recordId).catch((err: unknown) => {
            if (!hasCode(err, 404)) throw err;
          });
          this.cancelReconcile(recordId);
        }
        return;
      }
      if (type === "deleted") {
        if (isNamespace) {
          await this.setStatus(recordId, {
            phase: "Pending",
            reason: NAMESPACE_REASONS.RECREATING,
            message: "the Namespace was deleted outside the suite; creating it again",
          });
        }
        await this.reconcileNow(recordId);
        return;
      }
      if (isNamespace) {
        await this.updateUid(record, object);
        const implied = this.transformResource(object);
        const status = record.status as NamespaceStatus | undefined;
        const failing =
          status?.reason === NAMESPACE_REASONS.CLUSTER_UNAVAILABLE || status?.reason === NAMESPACE_REASONS.APPLY_FAILED;
        if (implied.phase !== "Active" || !failing) {
          await this.setStatus(recordId, implied, undefined, { unlessTerminating: true });
        }
        if (implied.phase !== "Active") return;
      }
      const wanted = this.renderObjects(record).find(
        (o) => o.kind === object.kind && o.metadata?.name === object.metadata?.name,
      );
      if (wanted !== undefined && isDrifted(wanted, object)) await this.reconcileNow(recordId);
    },

    /** A cluster error of an apply as the caller's error: 422 naming the field (quota for quota/limits objects). */
    applyError(err: unknown): Errors.MoleculerError {
      const e = err as { message?: unknown; code?: unknown; type?: unknown };
      const message = typeof e.message === "string" ? e.message : String(err);
      if (e.code === 422 || e.type === ERROR_TYPES.K8S_INVALID) {
        const field = /Namespace /.test(message) && !/(ResourceQuota|LimitRange) /.test(message) ? "name" : "quota";
        return invalid(field, `The cluster refused the ${field}: ${message}`, "clusterRejected");
      }
      if (e.type === ERROR_TYPES.K8S_FORBIDDEN && /being terminated/.test(message)) {
        return namespaceLocked("", `is still being deleted in the cluster; try again shortly (${message})`);
      }
      return err as Errors.MoleculerError;
    },

    /** The Pending status of a record the cluster could not take now. */
    unavailableStatus(err: unknown): NamespaceStatus {
      const message =
        err instanceof Error
          ? err.message
          : typeof err === "object" && err !== null && "message" in err
            ? String((err as { message: unknown }).message)
            : String(err);
      return { phase: "Pending", reason: NAMESPACE_REASONS.CLUSTER_UNAVAILABLE, message };
    },

    async entityOf(ctx: Context | null, record: RawDoc): Promise<NamespaceEntity> {
      return (await this.transformDocuments(ctx, {}, record)) as NamespaceEntity;
    },

    /**
     * With QUOTA_SET_BY=admin (the default) a quota is the platform's limit on a tenant, not the tenant's own choice: a
     * person who is not an admin may not give one that differs from `current` (the stored quota; none on create). Giving
     * the same one back (a PUT of the entity as read) is fine.
     */
    checkQuotaRight(meta: CallerMeta, quota: Record<string, number | undefined> | undefined, current: unknown): void {
      if (quota === undefined || this.quotaSetBy === "owner" || isInternal(meta) || isAdmin(meta)) return;
      const stored = typeof current === "object" && current !== null ? (current as Record<string, unknown>) : {};
      if (sameQuota(quota, stored)) return;
      throw forbidden("only an admin may set a namespace's quota (QUOTA_SET_BY=admin); leave 'quota' out", {
        field: "quota",
      });
    },

    checkDomain(value: string): void {
      if (!isDomainAllowed(value, this.domains.allowed)) {
        throw invalid(
          "domain",
          `The 'domain' field must be one of ${this.domains.allowed.join(", ")} or a subdomain of one.`,
          "domainNotAllowed",
          value,
        );
      }
    },
  },

  created() {
    const cfg = readConfig();
    this.domains = {
      defaultDomain: this.settings.defaultDomain ?? cfg.defaultDomain,
      allowed: this.settings.allowedDomains ?? cfg.allowedDomains,
    };
    this.defaultQuota = this.settings.defaultQuota ?? DEFAULT_QUOTA;
    this.quotaSetBy = this.settings.quotaSetBy ?? cfg.quotaSetBy;
    this.orphans = new Map();
    this.statusWrites = new KeyedChain();
  },
};

/** The stored quota with a change applied: given fields set, `null` fields left out (their defaults apply). */
function changedQuota(stored: unknown, change: Record<string, number | null | undefined>): Record<string, number> {
  const quota: Record<string, number> = {};
  for (const [key, value] of Object.entries({ ...(stored as Record<string, unknown> | undefined), ...change })) {
    if (typeof value === "number") quota[key] = value;
  }
  return quota;
}

/** Whether two quotas set the same fields to the same values (a field set to undefined counts as not set). */
function sameQuota(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const key of keys) if (a[key] !== b[key]) return false;
  return true;
}

/** Quota values must be exact integers (2^53 - 1 at most): larger ones would be rendered as rounded quantities. */
function checkQuota(quota: Record<string, number | undefined> | undefined): void {
  for (const [key, value] of Object.entries(quota ?? {})) {
    if (value !== undefined && !Number.isSafeInteger(value)) {
      throw invalid(
        `quota.${key}`,
        `The 'quota.${key}' field must be at most ${Number.MAX_SAFE_INTEGER}.`,
        "numberMax",
        value,
      );
    }
  }
}

function isTerminating(record: RawDoc): boolean {
  return (record.status as NamespaceStatus | undefined)?.phase === "Terminating";
}

/** 409 NAMESPACE_LOCKED: the namespace is being removed. */
function namespaceLocked(nsName: string, why: string): Errors.MoleculerClientError {
  return new Errors.MoleculerClientError(
    `namespace${nsName === "" ? "" : ` '${nsName}'`} ${why}`,
    409,
    ERROR_TYPES.NAMESPACE_LOCKED,
    { namespace: nsName },
  );
}

/** "kube.namespaces.deleted" → "deleted". */
function changeOf(eventName: string | null | undefined): "added" | "modified" | "deleted" {
  const type = eventName?.slice(eventName.lastIndexOf(".") + 1);
  return type === "added" || type === "deleted" ? type : "modified";
}

/** The `owner` field after a membership change: kept while still an owner, else the first remaining owner. */
function primaryOwner(members: readonly Member[], current: unknown): string {
  const owners = members.filter((m) => m.role === ("owner" satisfies Role));
  if (typeof current === "string" && owners.some((m) => m.userID === current)) return current;
  return owners[0]?.userID ?? (typeof current === "string" ? current : "");
}

export type { Entity };
export default schema;
