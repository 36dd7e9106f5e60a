/**
 * Server-side apply of a list of objects (docs/architecture.md, "Reconciliation"; STYLE §2.5): every object is
 * checked before anything is sent, then the list is applied in dependency order — Namespaces, then other
 * cluster-scoped objects, then namespaced ones — group after group (the objects of a group at once), stopping at the
 * first group with a failure.
 */
import { PatchStrategy, type KubernetesObject } from "@kubernetes/client-node";
import type { Errors } from "moleculer";
import { invalid } from "../errors.ts";
import { kubeError } from "./errors.ts";
import { MODEL_NAMED_KINDS, type ObjectApi } from "./object-api.ts";
import { plainCopy } from "./plain.ts";

/** An object with what SSA needs: apiVersion, kind and metadata.name. */
export interface ApplyObject extends KubernetesObject {
  apiVersion: string;
  kind: string;
  metadata: NonNullable<KubernetesObject["metadata"]> & { name: string };
}

export interface ApplyOptions {
  /** Who owns the applied fields, e.g. "k8s.deployments". Required: SSA needs one, and conflicts name it. */
  fieldManager: string;
  /** Take fields owned by other managers (default false: a conflict is a 409). */
  force?: boolean;
  /** Validate and admit on the server without persisting. */
  dryRun?: boolean;
  /** Runs each write (the write limiter); default: run it at once. */
  schedule?: <T>(write: () => Promise<T>) => Promise<T>;
  debug?: (message: string, detail?: unknown) => void;
}

/** Kinds that are not namespaced (the common ones; a kind not listed here is taken as namespaced when it names a namespace). */
export const CLUSTER_SCOPED_KINDS: ReadonlySet<string> = new Set([
  "Namespace",
  "PersistentVolume",
  "StorageClass",
  "IngressClass",
  "PriorityClass",
  "ClusterRole",
  "ClusterRoleBinding",
  "CustomResourceDefinition",
  "Node",
  "APIService",
  "MutatingWebhookConfiguration",
  "ValidatingWebhookConfiguration",
  "RuntimeClass",
  "CSIDriver",
  "VolumeSnapshotClass",
]);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Checks that every object can be applied (apiVersion, kind, metadata.name present; a namespace, if any, a string).
 * Throws a 422 VALIDATION_ERROR naming the index and the field (`objects[2].metadata.name`) before anything is sent.
 */
export function validateObjects(objects: readonly unknown[], path = "objects"): ApplyObject[] {
  if (objects.length === 0) throw invalid(path, `'${path}' must contain at least one object`, "arrayMin");
  return objects.map((obj, i) => {
    const at = `${path}[${i}]`;
    if (!isRecord(obj)) throw invalid(at, `${at} must be an object`, "object");
    if (typeof obj.apiVersion !== "string" || obj.apiVersion === "") {
      throw invalid(`${at}.apiVersion`, `${at}.apiVersion is required`, "required");
    }
    if (typeof obj.kind !== "string" || obj.kind === "")
      throw invalid(`${at}.kind`, `${at}.kind is required`, "required");
    if (!isRecord(obj.metadata)) throw invalid(`${at}.metadata.name`, `${at}.metadata.name is required`, "required");
    const { name, namespace } = obj.metadata;
    if (typeof name !== "string" || name === "") {
      throw invalid(`${at}.metadata.name`, `${at}.metadata.name is required`, "required");
    }
    // client-node lower-cases the request path (KubernetesObjectApi.specUriPath): an upper-case name would address
    // another object. Kubernetes names of the kinds we apply are lower-case anyway.
    if (/[A-Z]/.test(name)) {
      throw invalid(`${at}.metadata.name`, `${at}.metadata.name must be lower case ('${name}')`, "stringPattern", name);
    }
    if (namespace !== undefined && (typeof namespace !== "string" || namespace === "" || /[A-Z]/.test(namespace))) {
      throw invalid(
        `${at}.metadata.namespace`,
        `${at}.metadata.namespace must be a non-empty lower-case string`,
        "string",
      );
    }
    return obj as unknown as ApplyObject;
  });
}

/** 0 = Namespace, 1 = other cluster-scoped, 2 = namespaced. */
function rank(obj: ApplyObject): number {
  if (obj.kind === "Namespace" && obj.apiVersion === "v1") return 0;
  if (CLUSTER_SCOPED_KINDS.has(obj.kind)) return 1;
  return obj.metadata.namespace === undefined ? 1 : 2;
}

/** The order to apply in: Namespaces, then cluster-scoped, then namespaced; stable within each group. */
export function applyOrder<T extends ApplyObject>(objects: readonly T[]): T[] {
  return objects
    .map((obj, index) => ({ obj, index, rank: rank(obj) }))
    .sort((a, b) => a.rank - b.rank || a.index - b.index)
    .map((e) => e.obj);
}

/** A short name for messages: "Deployment shop/web". */
export function describeObject(obj: ApplyObject): string {
  return `${obj.kind} ${obj.metadata.namespace === undefined ? "" : `${obj.metadata.namespace}/`}${obj.metadata.name}`;
}

/**
 * Validates all, orders, then server-side applies every object with `fieldManager` (and `force`, default false):
 * Namespaces first, then cluster-scoped objects, then namespaced ones, each group only once the one before it is
 * applied, and the objects of one group all at once (through `schedule`, i.e. the write limiter, which bounds how many
 * are in flight): a deployment's 3-4 objects cost one round trip to the API server instead of 3-4. The server needs
 * no order among them (a Deployment may name a ConfigMap that arrives a moment later, as with `kubectl apply -f`).
 * Returns the applied objects as the server answered them, in that order. On a failure the next groups are not sent,
 * and the error (mapped by kubeError) names the first object in that order that failed and how many objects were
 * applied (`data.applied`, which counts the others of its group that succeeded alongside it).
 *
 * An object is sent as the JSON it is and its answer kept as parsed (lib/kube/object-api.ts `applyAsIs`), but for the
 * kinds whose client-node model names fields apart from the wire (`MODEL_NAMED_KINDS`: LimitRange's `_default`), which
 * go through client-node's ObjectSerializer (`patch`) as before.
 */
export async function applyObjects(
  api: ObjectApi,
  objects: readonly unknown[],
  options: ApplyOptions,
): Promise<KubernetesObject[]> {
  if (typeof options.fieldManager !== "string" || options.fieldManager.trim() === "") {
    throw invalid("fieldManager", "fieldManager is required for server-side apply", "required");
  }
  // A copy: client-node fills in missing fields (metadata.namespace = "default") on the object it is given, and local
  // moleculer calls pass the caller's own objects. The JSON copy (plainCopy: what the request body holds anyway, a Date
  // as the API server writes it) takes 2 µs for a rendered Deployment where structuredClone took 14.
  const ordered = applyOrder(validateObjects(objects)).map((obj) => plainCopy(obj) as ApplyObject);
  const schedule = options.schedule ?? (<T>(write: () => Promise<T>) => write());
  const applied: KubernetesObject[] = [];
  for (let start = 0; start < ordered.length;) {
    let end = start + 1;
    while (end < ordered.length && rank(ordered[end] as ApplyObject) === rank(ordered[start] as ApplyObject)) end++;
    const group = ordered.slice(start, end);
    const results = await Promise.allSettled(
      group.map((obj) =>
        schedule(() =>
          MODEL_NAMED_KINDS.has(obj.kind)
            ? api.patch(
                obj,
                undefined,
                options.dryRun === true ? "All" : undefined,
                options.fieldManager,
                options.force ?? false,
                PatchStrategy.ServerSideApply,
              )
            : api.applyAsIs(obj, {
                fieldManager: options.fieldManager,
                force: options.force ?? false,
                dryRun: options.dryRun === true,
              }),
        ),
      ),
    );
    for (const r of results) if (r.status === "fulfilled") applied.push(r.value);
    const failed = results.findIndex((r) => r.status === "rejected");
    if (failed >= 0) {
      const reason = (results[failed] as PromiseRejectedResult).reason as unknown;
      throw annotate(kubeError(reason, options.debug), group[failed] as ApplyObject, applied.length);
    }
    start = end;
  }
  return applied;
}

/** Adds which object failed to a mapped error without losing its class, code or type. */
function annotate(err: Errors.MoleculerError, obj: ApplyObject, applied: number): Errors.MoleculerError {
  const where = { object: describeObject(obj), applied };
  if (Array.isArray(err.data)) {
    // A ValidationError's data is the issue list: keep it a list (fastest-validator's shape), say where in the message.
    if (!err.message.includes(where.object)) err.message = `${where.object}: ${err.message}`;
    return err;
  }
  err.data = { ...(isRecord(err.data) ? err.data : {}), ...where };
  return err;
}
