/**
 * `v1.k8s.volumes`: a namespace's volumes, each one PersistentVolumeClaim named after the record (lib/manifests
 * renderPersistentVolumeClaim), server-side applied through `v1.kube` as field manager "k8s.volumes".
 *
 * - Children of a namespace (`MembershipMixin({ scope: "child" })`): members write, viewers read, strangers get 404.
 *   `namespace` is the namespace RECORD id; writes into a namespace being removed are refused (409 NAMESPACE_LOCKED).
 * - create/update: validate (422 naming the field: name, mountPath, size, storageClass, accessModes) → store (status
 *   Pending) → apply. Cluster unreachable: the call succeeds with `status: { phase: "Pending", reason:
 *   "ClusterUnavailable" }` and the reconciler (mixins/reconciler.mixin.ts) applies it later. Other cluster errors: the
 *   create is undone / the update restored, and the error returned (a claim beyond the namespace's quota: 422 `size`).
 * - Storage classes: when the cluster serves StorageClasses (storage.k8s.io/v1), an unknown class is refused up front
 *   (422 storageClass). When it does not (the sandbox) or v1.kube may not list them, the claim is created and the
 *   record says Pending with the reason from the claim's events (e.g. ProvisioningFailed).
 * - status: `Pending | Bound | Lost` from `kube.persistentvolumeclaims.*`; a claim deleted or changed behind our back
 *   is applied again. `status` (GET /:id/status) reads the cluster's claim and its events.
 * - remove: refused while a deployment mounts the volume (409 IN_USE naming it: its record, or while
 *   v1.k8s.deployments cannot be asked, the suite's Deployment in the cluster); deletes the claim and the record.
 *   Cluster unreachable: the record goes and the deletion is retried; if the process restarts before the cluster is
 *   back, the resync's orphan sweep deletes the claim (`sweepOrphans`).
 * - `k8s.namespaces.removed`: the namespace's volume records are removed (the cluster deletes the claims with the
 *   Namespace; for a cluster-owned namespace such as `default` the claims are deleted here).
 */
import type { Context, ServiceSchema, ServiceSettingSchema } from "moleculer";
import { Errors } from "moleculer";
import type { KubernetesObject, V1Deployment } from "@kubernetes/client-node";
import { readConfig } from "../lib/config.ts";
import {
  VOLUME_ACCESS_MODES,
  VOLUME_TYPES,
  type NamespaceEntity,
  type VolumeEntity,
  type VolumeStatus,
} from "../lib/entities.ts";
import { ERROR_TYPES, hasType, inUse, invalid, notFound } from "../lib/errors.ts";
import {
  COMPONENT_LABEL,
  DEFAULT_VOLUME_SIZE,
  getIdFromAnnotation,
  isValidStorageSize,
  parseQuantity,
  MANAGED_BY_SELECTOR,
  renderPersistentVolumeClaim,
  recordSelector,
} from "../lib/manifests/index.ts";
import { kubeList } from "../lib/kube/local-list.ts";
import type { CallerMeta } from "../lib/meta.ts";
import { defineParams, type ParamsOf } from "../lib/params.ts";
import { ABSOLUTE_PATH, DNS_1123_LABEL, DNS_1123_LABEL_MAX, DNS_1123_SUBDOMAIN } from "../lib/validators.ts";
import {
  DbMixin,
  type DbConnectionSettings,
  type DbMethods,
  type DbVars,
  type ListResult,
  type RawDoc,
} from "../mixins/db.mixin.ts";
import {
  guardedRecord,
  MembershipMixin,
  type MembershipMethods,
  type MembershipVars,
} from "../mixins/membership.mixin.ts";
import {
  applyOrUndo,
  isDrifted,
  ReconcilerMixin,
  type ReconcilerMethods,
  type ReconcilerOptions,
  type ReconcilerVars,
  isRetryableError,
} from "../mixins/reconciler.mixin.ts";
import type { WritableNamespace } from "./namespaces.service.ts";
import type {
  KubeApplyInput,
  KubeApplyResult,
  KubeDeleteResult,
  KubeEventsResult,
  KubeListResult,
} from "./kube.service.ts";

const id = { type: "string", empty: false, max: 64 } as const;
const name = { type: "string", empty: false, max: DNS_1123_LABEL_MAX, pattern: DNS_1123_LABEL } as const;
const mountPath = { type: "string", empty: false, max: 4096, pattern: ABSOLUTE_PATH } as const;
// Trimmed: the cluster reads " 3Gi" as 3Gi, and the record is to say what the cluster holds.
const size = { type: "string", empty: false, max: 64, optional: true, trim: true } as const;
const storageClass = { type: "string", empty: false, max: 253, pattern: DNS_1123_SUBDOMAIN, optional: true } as const;
const accessModes = {
  type: "array",
  items: { type: "enum", values: VOLUME_ACCESS_MODES },
  min: 1,
  max: VOLUME_ACCESS_MODES.length,
  unique: true,
  optional: true,
} as const;
const immutable = { type: "forbidden", optional: true } as const;

export const volumeCreateParams = defineParams({
  $$strict: true,
  namespace: id,
  name,
  type: { type: "enum", values: VOLUME_TYPES, optional: true },
  mountPath,
  size,
  storageClass,
  accessModes,
});
/** `size` may grow (when the class allows expansion); the rest of a claim cannot change in the cluster. */
export const volumeUpdateParams = defineParams({
  $$strict: true,
  id,
  mountPath: { ...mountPath, optional: true },
  size,
  namespace: immutable,
  name: immutable,
  type: immutable,
  storageClass: immutable,
  accessModes: immutable,
});
export const volumeIdParams = defineParams({ $$strict: true, id });
export const volumeCleanParams = defineParams({ $$strict: true });

export type VolumeCreateParams = ParamsOf<typeof volumeCreateParams>;
export type VolumeUpdateParams = ParamsOf<typeof volumeUpdateParams>;
export type VolumeIdParams = ParamsOf<typeof volumeIdParams>;
export type VolumeListResult = Omit<ListResult, "rows"> & { rows: VolumeEntity[] };
/** `status`: the cluster's claim (phase "NotFound" when it has none) and, while Pending, why (from its events). */
export interface VolumeClusterStatus {
  phase: string;
  reason?: string;
  message?: string;
  capacity?: string;
  storageClass?: string;
  volumeName?: string;
}

const FIELD_MANAGER = "k8s.volumes";
const PVC_REF = { apiVersion: "v1", kind: "PersistentVolumeClaim" } as const;
export const VOLUME_REASONS = {
  PROVISIONING: "Provisioning",
  NAMESPACE_PENDING: "NamespacePending",
  CLUSTER_UNAVAILABLE: "ClusterUnavailable",
  APPLY_FAILED: "ApplyFailed",
  RECREATING: "Recreating",
} as const;
/** Delays of the re-reads of a Pending claim's events (its controller records them after the status). */
const REASON_CHECKS_MS = [200, 1000, 3000, 10_000] as const;

interface Settings extends ServiceSettingSchema {
  rest: string;
  db?: DbConnectionSettings;
  /** Class of volumes created without one; default STORAGE_CLASS (none = the cluster's default class). */
  storageClass?: string;
  resyncIntervalSeconds?: number;
  reconciler?: ReconcilerOptions;
  /**
   * Delete, on resync, claims labelled as ours whose volume record is gone. Default (undefined): only in namespaces the
   * suite has a record of — such a claim can only be ours (a removal whose retry a restart lost), so this is safe with
   * any database. `true`: in every namespace (one installation per cluster; see the namespaces service). `false`: never.
   */
  sweepOrphans?: boolean;
}
interface Orphan {
  namespace: string;
  name: string;
}
interface VolumeMethods {
  kubeAvailable(): boolean;
  writableNamespace(namespaceId: string): Promise<WritableNamespace>;
  checkStorageClass(ctx: Context, className: string): Promise<void>;
  renderClaim(record: RawDoc): KubernetesObject;
  liveClaim(record: RawDoc): Promise<KubernetesObject | undefined>;
  applyRecord(record: RawDoc): Promise<void>;
  deleteClaim(namespace: string, claimName: string, recordId: string): Promise<void>;
  pendingReason(namespace: string, claimName: string): Promise<{ reason: string; message: string } | undefined>;
  watchPendingReason(recordId: string, attempt: number): void;
  setStatus(recordId: string, status: VolumeStatus): Promise<void>;
  statusFromClaim(record: RawDoc, claim: KubernetesObject): Promise<void>;
  onClaim(type: "added" | "modified" | "deleted", claim: KubernetesObject): Promise<void>;
  applyError(err: unknown): Errors.MoleculerError;
  unavailableStatus(err: unknown): VolumeStatus;
  mountedBy(record: RawDoc): Promise<string[]>;
  sweepOrphans(everywhere: boolean): Promise<void>;
  /**
   * Removes the volume records of a namespace that went; their claims are deleted when `deleteClaims` (a namespace the
   * cluster keeps, or one whose removal the resync found: its claims may still be there), else they go with it.
   */
  removeNamespaceRecords(nsId: string, deleteClaims: boolean): Promise<void>;
  forgetTimers(recordId: string): void;
}
type Methods = DbMethods & MembershipMethods & ReconcilerMethods & VolumeMethods;
type LocalVars = DbVars &
  MembershipVars &
  ReconcilerVars & {
    defaultStorageClass: string | undefined;
    orphans: Map<string, Orphan>;
    reasonTimers: Map<string, NodeJS.Timeout>;
  };
type Ctx<P> = Context<P, CallerMeta>;

const schema: ServiceSchema<Settings, Methods, LocalVars> = {
  name: "k8s.volumes",
  version: 1,
  mixins: [
    DbMixin({
      collection: "volumes",
      resource: "volumes",
      uniqueIndexes: [["namespace", "name"]],
      indexes: ["namespace", "name"],
      entityName: "volume",
    }),
    MembershipMixin({ scope: "child" }),
    ReconcilerMixin(),
  ],
  settings: {
    rest: "/v1/k8s/volumes",
  },

  actions: {
    // list, find, count, get come from the db mixin; membership limits them to the caller's namespaces.

    /** Creates a volume (a PVC) in a namespace (members). REST: POST / @throws VALIDATION_ERROR, NOT_FOUND, ALREADY_EXISTS, NAMESPACE_LOCKED, FORBIDDEN, DATABASE_UNAVAILABLE */
    create: {
      rest: "POST /",
      permission: "write",
      params: volumeCreateParams,
      async handler(ctx: Ctx<VolumeCreateParams>): Promise<VolumeEntity> {
        const p = ctx.params;
        const volumeSize = p.size ?? DEFAULT_VOLUME_SIZE;
        if (!isValidStorageSize(volumeSize)) {
          throw invalid(
            "size",
            `The 'size' field must be a storage quantity of at least one byte, such as 1Gi or 500Mi.`,
            "storageSize",
            volumeSize,
          );
        }
        const ns = await this.writableNamespace(p.namespace);
        const className = p.storageClass ?? this.defaultStorageClass;
        const kube = this.kubeAvailable();
        if (className !== undefined && kube) await this.checkStorageClass(ctx, className);
        const record: Omit<VolumeEntity, "id" | "createdAt" | "updatedAt"> = {
          namespace: p.namespace,
          namespaceName: ns.name,
          name: p.name,
          type: p.type ?? "persistentVolumeClaim",
          mountPath: p.mountPath,
          size: volumeSize,
          ...(className === undefined ? {} : { storageClass: className }),
          accessModes: [...(p.accessModes ?? ["ReadWriteOnce"])],
          status: kube
            ? { phase: "Pending", reason: VOLUME_REASONS.PROVISIONING, message: "being applied to the cluster" }
            : {
                phase: "Pending",
                reason: VOLUME_REASONS.CLUSTER_UNAVAILABLE,
                message: "v1.kube is not running on any node; applied when it is",
              },
        };
        const created = await this.createEntity(ctx, record);
        if (!kube) {
          this.scheduleReconcile(created.id);
          return created as unknown as VolumeEntity;
        }
        const stored = await this.findRawById(created.id);
        if (stored === null) throw notFound("volume", created.id);
        await applyOrUndo(this, stored, async () => {
          await this.removeEntity(ctx, created.id).catch(() => undefined);
        });
        const latest = await this.findRawById(created.id);
        return (await this.transformDocuments(ctx, {}, latest ?? stored)) as VolumeEntity;
      },
    },

    /** Changes a volume's mountPath or grows its size (members). REST: PUT /:id, PATCH /:id @throws VALIDATION_ERROR, NOT_FOUND, NAMESPACE_LOCKED, FORBIDDEN, DATABASE_UNAVAILABLE */
    update: {
      rest: ["PUT /:id", "PATCH /:id"],
      permission: "write",
      params: volumeUpdateParams,
      async handler(ctx: Ctx<VolumeUpdateParams>): Promise<VolumeEntity> {
        const p = ctx.params;
        if (p.size !== undefined && !isValidStorageSize(p.size)) {
          throw invalid("size", `The 'size' field must be a storage quantity such as 1Gi.`, "storageSize", p.size);
        }
        const previous = guardedRecord(ctx) ?? (await this.findRawById(p.id));
        if (previous === null) throw notFound("volume", p.id);
        await this.writableNamespace(String(previous.namespace));
        if (p.size !== undefined && this.kubeAvailable()) {
          // Said before anything is stored (the record follows a claim grown in the cluster, so a smaller size would
          // otherwise be taken as no change).
          const live = claimSize(await this.liveClaim(previous).catch(() => undefined));
          if (live !== undefined && (parseQuantity(p.size) ?? 0) < (parseQuantity(live) ?? 0)) {
            throw invalid(
              "size",
              `The 'size' field must be at least the claim's size in the cluster, ${live}: a claim cannot shrink.`,
              "storageShrink",
              p.size,
            );
          }
        }
        const changes = {
          ...(p.mountPath === undefined ? {} : { mountPath: p.mountPath }),
          ...(p.size === undefined ? {} : { size: p.size }),
        };
        const updated = await this.updateEntity(ctx, p.id, changes);
        if (p.size === undefined || p.size === previous.size) return updated as unknown as VolumeEntity;
        const stored = await this.findRawById(p.id);
        if (stored === null) throw notFound("volume", p.id);
        if (!this.kubeAvailable()) {
          await this.setStatus(p.id, this.unavailableStatus(new Error("v1.kube is not running on any node")));
          this.scheduleReconcile(p.id);
        } else {
          await applyOrUndo(this, stored, async () => {
            await this.updateEntity(ctx, p.id, { size: previous.size, mountPath: previous.mountPath });
          });
        }
        const latest = await this.findRawById(p.id);
        return (await this.transformDocuments(ctx, {}, latest ?? stored)) as VolumeEntity;
      },
    },

    /** Removes a volume and its claim (members); refused while a deployment mounts it. REST: DELETE /:id @throws NOT_FOUND, IN_USE, NAMESPACE_LOCKED, FORBIDDEN, DATABASE_UNAVAILABLE, K8S_UNAVAILABLE (neither the deployments service nor the cluster can say who mounts it) */
    remove: {
      rest: "DELETE /:id",
      permission: "write",
      params: volumeIdParams,
      async handler(ctx: Ctx<VolumeIdParams>): Promise<VolumeEntity> {
        const record = guardedRecord(ctx) ?? (await this.findRawById(ctx.params.id));
        if (record === null) throw notFound("volume", ctx.params.id);
        await this.writableNamespace(String(record.namespace));
        const users = await this.mountedBy(record);
        if (users.length > 0) throw inUse("volume", String(record.name), users);
        const orphan = { namespace: String(record.namespaceName), name: String(record.name) };
        // An apply of this record already under way ends first: arriving after the deletion, it would make the claim
        // again, without a record.
        await this.reconcileSettled(record._id);
        if (this.kubeAvailable()) {
          try {
            await this.deleteClaim(orphan.namespace, orphan.name, record._id);
          } catch (err) {
            if (!this.isRetryableError(err)) throw err;
            this.orphans.set(record._id, orphan);
          }
        } else {
          this.orphans.set(record._id, orphan);
        }
        this.forgetTimers(record._id);
        const removed = await this.removeEntity(ctx, record._id);
        if (this.orphans.has(record._id)) this.scheduleReconcile(record._id);
        return removed as unknown as VolumeEntity;
      },
    },

    /** Removes every volume record and deletes their claims (admin or internal); no REST. @throws FORBIDDEN, DATABASE_UNAVAILABLE */
    clean: {
      permission: "admin",
      params: volumeCleanParams,
      async handler(ctx: Ctx<Record<string, never>>): Promise<{ removed: number }> {
        const records = await this.findRaw({});
        for (const r of records) {
          this.orphans.set(r._id, { namespace: String(r.namespaceName), name: String(r.name) });
          this.forgetTimers(r._id);
        }
        const removed = await this.removeEntities(ctx);
        if (this.kubeAvailable()) await Promise.all(records.map((r) => this.reconcileNow(r._id)));
        else for (const r of records) this.scheduleReconcile(r._id);
        return { removed };
      },
    },

    /** The cluster's claim: `{ phase, reason?, message?, capacity?, storageClass?, volumeName? }`. REST: GET /:id/status @throws NOT_FOUND, K8S_UNAVAILABLE */
    status: {
      rest: "GET /:id/status",
      permission: "read",
      params: volumeIdParams,
      async handler(ctx: Ctx<VolumeIdParams>): Promise<VolumeClusterStatus> {
        const record = guardedRecord(ctx) ?? (await this.findRawById(ctx.params.id));
        if (record === null) throw notFound("volume", ctx.params.id);
        const claim = (await this.liveClaim(record)) as
          | (KubernetesObject & {
              spec?: { storageClassName?: string; volumeName?: string };
              status?: { phase?: string; capacity?: { storage?: string } };
            })
          | undefined;
        if (claim === undefined) return { phase: "NotFound" };
        const phase = claim.status?.phase ?? "Pending";
        const why =
          phase === "Pending" ? await this.pendingReason(String(record.namespaceName), String(record.name)) : undefined;
        return {
          phase,
          ...(why === undefined ? {} : why),
          ...(claim.status?.capacity?.storage === undefined ? {} : { capacity: claim.status.capacity.storage }),
          ...(claim.spec?.storageClassName === undefined ? {} : { storageClass: claim.spec.storageClassName }),
          ...(claim.spec?.volumeName === undefined || claim.spec.volumeName === ""
            ? {}
            : { volumeName: claim.spec.volumeName }),
        };
      },
    },
  },

  events: {
    "kube.persistentvolumeclaims.*"(ctx: Context<KubernetesObject>) {
      const type = ctx.eventName?.slice(ctx.eventName.lastIndexOf(".") + 1);
      return this.onClaim(type === "added" || type === "deleted" ? type : "modified", ctx.params);
    },
    /** A namespace that became Active: its volumes that waited for it are applied now. */
    async "k8s.namespaces.updated"(ctx: Context<NamespaceEntity>) {
      if (ctx.params.status?.phase !== "Active") return;
      const waiting = await this.findRaw({ namespace: ctx.params.id, "status.phase": "Pending" });
      for (const r of waiting) {
        const reason = (r.status as VolumeStatus | undefined)?.reason;
        if (reason !== VOLUME_REASONS.PROVISIONING) void this.reconcileNow(r._id);
      }
    },
    /** The namespace's volume records go with it (their claims with its Namespace; in `default`, deleted here). */
    async "k8s.namespaces.removed"(ctx: Context<NamespaceEntity>) {
      await this.removeNamespaceRecords(ctx.params.id, ctx.params.clusterOwned === true);
    },
  },

  methods: {
    kubeAvailable(): boolean {
      return this.broker.registry.actions.isAvailable("v1.kube.apply");
    },

    /** The namespace (404 if gone, 409 NAMESPACE_LOCKED while it is being removed). */
    async writableNamespace(namespaceId: string): Promise<WritableNamespace> {
      // A root call (no caller meta): the helper is internal-only, the caller's access was checked by membership.
      return this.broker.call<WritableNamespace, { id: string }>("v1.k8s.namespaces.writable", { id: namespaceId });
    },

    /** 422 storageClass when the cluster lists its StorageClasses and this one is not among them. */
    async checkStorageClass(ctx: Context, className: string): Promise<void> {
      let classes: KubeListResult;
      try {
        classes = await ctx.call<KubeListResult, object>("v1.kube.list", {
          apiVersion: "storage.k8s.io/v1",
          kind: "StorageClass",
        });
      } catch (err) {
        // Not served (the sandbox), not allowed, or unreachable: the claim says Pending and why, if the class is wrong.
        this.logger.debug(`StorageClasses not listed (${className} not checked)`, err);
        return;
      }
      const names = classes.items.map((c) => c.metadata?.name ?? "");
      if (!names.includes(className)) {
        throw invalid(
          "storageClass",
          `The cluster has no StorageClass '${className}'${names.length > 0 ? ` (it has: ${names.join(", ")})` : ""}.`,
          "storageClassUnknown",
          className,
        );
      }
    },

    renderClaim(record: RawDoc): KubernetesObject {
      return renderPersistentVolumeClaim({
        id: record._id,
        namespace: String(record.namespaceName),
        name: String(record.name),
        size: String(record.size),
        ...(typeof record.storageClass === "string" ? { storageClass: record.storageClass } : {}),
        accessModes: record.accessModes as VolumeEntity["accessModes"],
      });
    },

    /** The record's claim from v1.kube's watch cache (no API request when synced). */
    async liveClaim(record: RawDoc): Promise<KubernetesObject | undefined> {
      const { items } = await kubeList(this.broker, {
        ...PVC_REF,
        namespace: String(record.namespaceName),
        labelSelector: recordSelector("volume", record._id),
      });
      return items.find((o) => o.metadata?.name === record.name && getIdFromAnnotation(o) === record._id);
    },

    /** The reconciler's hook: apply the claim (unless its namespace is being removed). */
    async reconcile(record: RawDoc): Promise<void> {
      await this.applyRecord(record);
    },

    async applyRecord(record: RawDoc): Promise<void> {
      // A claim grown in the cluster (kubectl, an operator) cannot shrink back: the record follows it. Applying the
      // record's smaller size failed for good ("can not be less than previous value"), the volume left ApplyFailed.
      const grown = claimSize(await this.liveClaim(record).catch(() => undefined));
      if (grown !== undefined && (parseQuantity(grown) ?? 0) > (parseQuantity(String(record.size)) ?? Infinity)) {
        this.logger.info(`volume ${record._id}: its claim was grown to ${grown} in the cluster; the record follows`);
        await this.updateEntity(null, record._id, { size: grown });
        record = { ...record, size: grown };
      }
      const input: KubeApplyInput = { objects: [this.renderClaim(record)], fieldManager: FIELD_MANAGER, force: true };
      const result = await this.broker.call<KubeApplyResult, KubeApplyInput>("v1.kube.apply", input);
      const claim = result.objects[0];
      if (claim !== undefined) await this.statusFromClaim(record, claim);
    },

    async needsReconcile(record: RawDoc): Promise<boolean> {
      const status = record.status as VolumeStatus | undefined;
      const reason = status?.reason;
      if (
        reason === VOLUME_REASONS.CLUSTER_UNAVAILABLE ||
        reason === VOLUME_REASONS.NAMESPACE_PENDING ||
        reason === VOLUME_REASONS.APPLY_FAILED ||
        reason === VOLUME_REASONS.RECREATING
      ) {
        return true;
      }
      return isDrifted(this.renderClaim(record), await this.liveClaim(record));
    },

    async reconcileCandidates(): Promise<RawDoc[]> {
      // The records of a namespace removed while this service was away (its k8s.namespaces.removed never came).
      const records = await this.withoutGoneNamespaces(await this.findRaw({}), (nsId) =>
        this.removeNamespaceRecords(nsId, true),
      );
      if (this.settings.sweepOrphans !== false) {
        await this.sweepOrphans(this.settings.sweepOrphans === true).catch((err: unknown) =>
          this.logger.warn(`Orphan sweep skipped: ${err instanceof Error ? err.message : String(err)}`),
        );
      }
      return records;
    },

    async removeNamespaceRecords(nsId: string, deleteClaims: boolean): Promise<void> {
      const records = await this.findRaw({ namespace: nsId });
      for (const r of records) {
        this.forgetTimers(r._id);
        if (deleteClaims) this.orphans.set(r._id, { namespace: String(r.namespaceName), name: String(r.name) });
      }
      await this.removeEntities(null, { namespace: nsId });
      for (const r of records) if (this.orphans.has(r._id)) void this.reconcileNow(r._id);
    },

    async onReconcileFailed(record: RawDoc, err: unknown): Promise<void> {
      if (this.isRetryableError(err)) {
        await this.setStatus(record._id, this.unavailableStatus(err));
        return;
      }
      const message = err instanceof Error ? err.message : String(err);
      // The namespace is being deleted: its claims go with it; nothing to record.
      if (/being terminated|not found/.test(message)) return;
      await this.setStatus(record._id, { phase: "Pending", reason: VOLUME_REASONS.APPLY_FAILED, message });
    },

    async reconcileMissing(recordId: string): Promise<void> {
      const orphan = this.orphans.get(recordId);
      if (orphan === undefined) return;
      await this.deleteClaim(orphan.namespace, orphan.name, recordId);
      this.orphans.delete(recordId);
    },

    /** Deletes the claim if it is this record's (never a later record's claim of the same name). */
    async deleteClaim(namespace: string, claimName: string, recordId: string): Promise<void> {
      // A live read, not the watch cache: a claim applied a moment ago may not be in the cache yet.
      const claim = await this.broker
        .call<KubernetesObject, object>("v1.kube.get", { ...PVC_REF, namespace, name: claimName })
        .catch((err: unknown) => {
          if (hasType(err, ERROR_TYPES.K8S_NOT_FOUND)) return undefined;
          throw err;
        });
      if (claim === undefined || getIdFromAnnotation(claim) !== recordId) return;
      if (claim.metadata?.deletionTimestamp !== undefined) return;
      await this.broker.call<KubeDeleteResult, object>("v1.kube.delete", { ...PVC_REF, namespace, name: claimName });
    },

    /** The latest Warning event of a claim (why it is Pending), if any. */
    async pendingReason(
      namespace: string,
      claimName: string,
    ): Promise<{ reason: string; message: string } | undefined> {
      const { items } = await this.broker.call<KubeEventsResult, object>("v1.kube.events", {
        namespace,
        kind: "PersistentVolumeClaim",
        name: claimName,
      });
      // Only a Warning says why a claim waits (ProvisioningFailed, ...); Normal events (ExternalProvisioning,
      // ProvisioningSucceeded) do not.
      const ev = items.find((e) => e.type === "Warning");
      if (ev === undefined) return undefined;
      return { reason: ev.reason ?? "Pending", message: ev.message ?? "" };
    },

    /** A Pending claim's reason appears in its events a little after its status: read them again a few times. */
    watchPendingReason(recordId: string, attempt: number): void {
      const delay = REASON_CHECKS_MS[attempt];
      if (delay === undefined || !this.reconcilerState.active) return;
      const previous = this.reasonTimers.get(recordId);
      if (previous !== undefined) clearTimeout(previous);
      const timer = setTimeout(() => {
        this.reasonTimers.delete(recordId);
        void (async () => {
          const record = await this.findRawById(recordId);
          if (record === null || (record.status as VolumeStatus | undefined)?.phase !== "Pending") return;
          // The claim may have been bound meanwhile, its event handled before an older answer (an apply's) that set
          // Pending again: the claim itself says so.
          const claim = await this.liveClaim(record);
          const phase = (claim as { status?: { phase?: string } } | undefined)?.status?.phase;
          if (claim !== undefined && (phase === "Bound" || phase === "Lost")) {
            await this.statusFromClaim(record, claim);
            return;
          }
          const why = await this.pendingReason(String(record.namespaceName), String(record.name));
          if (why !== undefined && why.reason !== "Provisioning" && why.reason !== "ProvisioningSucceeded") {
            await this.setStatus(recordId, { phase: "Pending", ...why });
          } else {
            this.watchPendingReason(recordId, attempt + 1);
          }
        })().catch((err: unknown) => this.logger.debug(`volume ${recordId}: events not read`, err));
      }, delay);
      this.reasonTimers.set(recordId, timer);
    },

    forgetTimers(recordId: string): void {
      const timer = this.reasonTimers.get(recordId);
      if (timer !== undefined) clearTimeout(timer);
      this.reasonTimers.delete(recordId);
      this.cancelReconcile(recordId);
    },

    /** Writes the record's status only when it changed. */
    async setStatus(recordId: string, status: VolumeStatus): Promise<void> {
      const current = await this.findRawById(recordId);
      if (current === null) return;
      const before = (current.status ?? {}) as VolumeStatus;
      const same =
        before.phase === status.phase &&
        before.reason === status.reason &&
        (status.reason === VOLUME_REASONS.CLUSTER_UNAVAILABLE || before.message === status.message);
      if (!same) await this.updateEntity(null, recordId, { status });
    },

    /** The record's status from its claim: Bound/Lost as they are; Pending with the reason from the events. */
    async statusFromClaim(record: RawDoc, claim: KubernetesObject): Promise<void> {
      const phase = (claim as { status?: { phase?: string } }).status?.phase ?? "Pending";
      if (phase === "Bound" || phase === "Lost") {
        this.forgetTimers(record._id);
        await this.setStatus(record._id, { phase });
        return;
      }
      const before = record.status as VolumeStatus | undefined;
      const keep =
        before?.phase === "Pending" &&
        before.reason !== VOLUME_REASONS.CLUSTER_UNAVAILABLE &&
        before.reason !== VOLUME_REASONS.NAMESPACE_PENDING &&
        before.reason !== VOLUME_REASONS.APPLY_FAILED &&
        before.reason !== VOLUME_REASONS.RECREATING;
      if (!keep) {
        await this.setStatus(record._id, {
          phase: "Pending",
          reason: VOLUME_REASONS.PROVISIONING,
          message: "waiting for the claim to be bound",
        });
      }
      if (!this.reasonTimers.has(record._id)) this.watchPendingReason(record._id, 0);
    },

    /** A cluster change to one of our claims: status, or put back what was deleted or changed behind our back. */
    async onClaim(type: "added" | "modified" | "deleted", claim: KubernetesObject): Promise<void> {
      if (claim.metadata?.labels?.[COMPONENT_LABEL] !== "volume") return;
      const recordId = getIdFromAnnotation(claim);
      if (recordId === undefined) return;
      const record = await this.findRawById(recordId);
      if (record === null) return;
      if (type === "deleted") {
        const ns = await this.broker
          .call<WritableNamespace, { id: string }>("v1.k8s.namespaces.writable", { id: String(record.namespace) })
          .catch(() => undefined);
        if (ns === undefined) return; // the namespace is going: so is the claim
        await this.setStatus(recordId, {
          phase: "Pending",
          reason: VOLUME_REASONS.RECREATING,
          message: "the claim was deleted outside the suite; creating it again",
        });
        await this.reconcileNow(recordId);
        return;
      }
      if (claim.metadata?.deletionTimestamp !== undefined) return;
      await this.statusFromClaim(record, claim);
      if (isDrifted(this.renderClaim(record), claim)) await this.reconcileNow(recordId);
    },

    /**
     * The names of the deployments that mount this volume: their records, or, while v1.k8s.deployments cannot be asked
     * (its node away, or not run), the suite's Deployments in the cluster that mount the claim — none is not assumed.
     */
    async mountedBy(record: RawDoc): Promise<string[]> {
      if (!this.broker.registry.actions.isAvailable("v1.k8s.deployments.find")) {
        const { items } = await kubeList(this.broker, {
          apiVersion: "apps/v1",
          kind: "Deployment",
          namespace: String(record.namespaceName),
          labelSelector: MANAGED_BY_SELECTOR,
        });
        return (items as V1Deployment[])
          .filter((d) =>
            (d.spec?.template.spec?.volumes ?? []).some((v) => v.persistentVolumeClaim?.claimName === record.name),
          )
          .map((d) => String(d.metadata?.name));
      }
      const found = await this.broker.call<{ name?: unknown }[], object>("v1.k8s.deployments.find", {
        query: { namespace: record.namespace, "volumes.persistentVolumeClaim.claimName": record.name },
      });
      return found.map((d) => String(d.name));
    },

    /**
     * Deletes claims labelled as ours whose volume record is gone (removed while the cluster was down): in namespaces
     * the suite has a record of, or in every namespace when `everywhere`.
     */
    async sweepOrphans(everywhere: boolean): Promise<void> {
      const { items } = await kubeList(this.broker, {
        ...PVC_REF,
        labelSelector: `${MANAGED_BY_SELECTOR},${COMPONENT_LABEL}=volume`,
      });
      const known = new Map<string, boolean>();
      const isKnownNamespace = async (name: string): Promise<boolean> => {
        if (everywhere) return true;
        let found = known.get(name);
        if (found === undefined) {
          const count = await this.broker.call<number, object>("v1.k8s.namespaces.count", { query: { name } });
          found = count > 0;
          known.set(name, found);
        }
        return found;
      };
      for (const claim of items) {
        const recordId = getIdFromAnnotation(claim);
        if (recordId === undefined || claim.metadata?.deletionTimestamp !== undefined) continue;
        if ((await this.findRawById(recordId)) !== null) continue;
        const namespace = claim.metadata?.namespace ?? "";
        if (!(await isKnownNamespace(namespace))) continue;
        const claimName = claim.metadata?.name ?? "";
        this.logger.info(`Deleting PersistentVolumeClaim ${namespace}/${claimName}: its volume record is gone`);
        await this.broker.call<KubeDeleteResult, object>("v1.kube.delete", { ...PVC_REF, namespace, name: claimName });
      }
    },

    /** A cluster error of an apply as the caller's error: 422 naming the field. */
    applyError(err: unknown): Errors.MoleculerError {
      const e = err as { message?: unknown; code?: unknown; type?: unknown };
      const message = typeof e.message === "string" ? e.message : String(err);
      if (/exceeded quota/i.test(message)) {
        // Too much storage → size; too many claims → namespace (its quota is full).
        const field = /requests\.storage|storage/.test(message.replace(/persistentvolumeclaims/g, ""))
          ? "size"
          : "namespace";
        return invalid(field, `The namespace's quota does not allow this volume: ${message}`, "quotaExceeded");
      }
      if (e.code === 422 || e.type === ERROR_TYPES.K8S_INVALID) {
        const field = /storageClassName/.test(message)
          ? "storageClass"
          : /accessModes/.test(message)
            ? "accessModes"
            : "size";
        return invalid(field, `The cluster refused the ${field}: ${message}`, "clusterRejected");
      }
      if (e.type === ERROR_TYPES.K8S_FORBIDDEN && /being terminated/.test(message)) {
        return new Errors.MoleculerClientError(
          `the namespace is being deleted: ${message}`,
          409,
          ERROR_TYPES.NAMESPACE_LOCKED,
        );
      }
      return err as Errors.MoleculerError;
    },

    /** Retry also when the Namespace is not in the cluster yet (its record is Pending): it will be. */
    isRetryableError(err: unknown): boolean {
      return isRetryableError(err) || hasType(err, ERROR_TYPES.K8S_NOT_FOUND);
    },

    unavailableStatus(err: unknown): VolumeStatus {
      if (hasType(err, ERROR_TYPES.K8S_NOT_FOUND)) {
        return {
          phase: "Pending",
          reason: VOLUME_REASONS.NAMESPACE_PENDING,
          message: "the namespace is not in the cluster yet; the claim is created when it is",
        };
      }
      const message =
        typeof err === "object" && err !== null && "message" in err
          ? String((err as { message: unknown }).message)
          : String(err);
      return { phase: "Pending", reason: VOLUME_REASONS.CLUSTER_UNAVAILABLE, message };
    },
  },

  created() {
    this.defaultStorageClass = this.settings.storageClass ?? readConfig().storageClass;
    this.orphans = new Map();
    this.reasonTimers = new Map();
  },

  stopped() {
    for (const timer of this.reasonTimers.values()) clearTimeout(timer);
    this.reasonTimers.clear();
  },
};

export default schema;

/** The storage a live claim requests (`spec.resources.requests.storage`), or undefined. */
function claimSize(claim: KubernetesObject | undefined): string | undefined {
  const storage = (claim as { spec?: { resources?: { requests?: { storage?: unknown } } } } | undefined)?.spec
    ?.resources?.requests?.storage;
  return typeof storage === "string" ? storage : undefined;
}
