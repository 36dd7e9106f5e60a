/**
 * The sandbox's shared types (lib/sandbox: the embedded Kubernetes API server and its controllers), and the table
 * of resources it serves.
 */

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
  managedFields?: unknown[];
  generateName?: string;
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [key: string]: unknown;
}

/** A served resource. `key` is kubectl's fully-qualified plural: "pods", "deployments.apps", "ingresses.networking.k8s.io". */
export interface ResourceType {
  key: string;
  group: string;
  version: string;
  resource: string;
  kind: string;
  listKind: string;
  namespaced: boolean;
  verbs: string[];
  shortNames?: string[];
  /** "status", "scale", "log" */
  subresources?: string[];
  /** Discovery categories ("all" makes `kubectl get all` list it). */
  categories?: string[];
  singularName?: string;
}

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED";

export interface StoreEvent {
  type: WatchEventType;
  resource: ResourceType;
  /** A copy: listeners may keep it. */
  object: KubeObject;
}

/** `apiVersion` as written in objects: "v1" for the core group, "<group>/<version>" otherwise. */
export function groupVersionOf(rt: Pick<ResourceType, "group" | "version">): string {
  return rt.group === "" ? rt.version : `${rt.group}/${rt.version}`;
}

const ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];
const READ_VERBS = ["get", "list"];
const CREATE_ONLY = ["create"];
/** Resources answered by the server and never stored (reviews). */
export const REVIEW_KEYS: ReadonlySet<string> = new Set([
  "selfsubjectaccessreviews.authorization.k8s.io",
  "selfsubjectrulesreviews.authorization.k8s.io",
  "selfsubjectreviews.authentication.k8s.io",
]);

function rt(
  group: string,
  version: string,
  resource: string,
  kind: string,
  namespaced: boolean,
  extra: Partial<Pick<ResourceType, "shortNames" | "subresources" | "categories" | "verbs">> = {},
): ResourceType {
  return {
    key: group === "" ? resource : `${resource}.${group}`,
    group,
    version,
    resource,
    kind,
    listKind: `${kind}List`,
    namespaced,
    verbs: extra.verbs ?? ALL_VERBS,
    singularName: kind.toLowerCase(),
    ...(extra.shortNames === undefined ? {} : { shortNames: extra.shortNames }),
    ...(extra.subresources === undefined ? {} : { subresources: extra.subresources }),
    ...(extra.categories === undefined ? {} : { categories: extra.categories }),
  };
}

/** Every resource the sandbox serves. */
export const RESOURCE_TYPES: readonly ResourceType[] = [
  rt("", "v1", "namespaces", "Namespace", false, {
    shortNames: ["ns"],
    subresources: ["status"],
    verbs: ["create", "delete", "get", "list", "patch", "update", "watch"],
  }),
  rt("", "v1", "nodes", "Node", false, { shortNames: ["no"], subresources: ["status"] }),
  rt("", "v1", "pods", "Pod", true, { shortNames: ["po"], subresources: ["status", "log"], categories: ["all"] }),
  rt("", "v1", "services", "Service", true, {
    shortNames: ["svc"],
    subresources: ["status"],
    categories: ["all"],
    verbs: ["create", "delete", "get", "list", "patch", "update", "watch"],
  }),
  rt("", "v1", "endpoints", "Endpoints", true, { shortNames: ["ep"] }),
  rt("", "v1", "configmaps", "ConfigMap", true, { shortNames: ["cm"] }),
  rt("", "v1", "secrets", "Secret", true),
  rt("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", true, {
    shortNames: ["pvc"],
    subresources: ["status"],
  }),
  rt("", "v1", "persistentvolumes", "PersistentVolume", false, { shortNames: ["pv"], subresources: ["status"] }),
  rt("", "v1", "serviceaccounts", "ServiceAccount", true, { shortNames: ["sa"], subresources: ["token"] }),
  rt("", "v1", "events", "Event", true, { shortNames: ["ev"] }),
  rt("", "v1", "resourcequotas", "ResourceQuota", true, { shortNames: ["quota"], subresources: ["status"] }),
  rt("", "v1", "limitranges", "LimitRange", true, { shortNames: ["limits"] }),
  rt("apps", "v1", "deployments", "Deployment", true, {
    shortNames: ["deploy"],
    subresources: ["status", "scale"],
    categories: ["all"],
  }),
  rt("apps", "v1", "replicasets", "ReplicaSet", true, {
    shortNames: ["rs"],
    subresources: ["status", "scale"],
    categories: ["all"],
  }),
  rt("apps", "v1", "statefulsets", "StatefulSet", true, {
    shortNames: ["sts"],
    subresources: ["status", "scale"],
    categories: ["all"],
  }),
  rt("networking.k8s.io", "v1", "ingresses", "Ingress", true, { shortNames: ["ing"], subresources: ["status"] }),
  rt("batch", "v1", "jobs", "Job", true, { subresources: ["status"], categories: ["all"] }),
  rt("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", false),
  rt("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", false),
  rt("rbac.authorization.k8s.io", "v1", "roles", "Role", true),
  rt("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", true),
  // create-only reviews, answered and never stored (lib/sandbox/server.ts)
  rt("authorization.k8s.io", "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview", false, {
    verbs: CREATE_ONLY,
  }),
  rt("authorization.k8s.io", "v1", "selfsubjectrulesreviews", "SelfSubjectRulesReview", false, { verbs: CREATE_ONLY }),
  rt("authentication.k8s.io", "v1", "selfsubjectreviews", "SelfSubjectReview", false, { verbs: CREATE_ONLY }),
  rt("metrics.k8s.io", "v1beta1", "nodes", "NodeMetrics", false, { verbs: READ_VERBS }),
  rt("metrics.k8s.io", "v1beta1", "pods", "PodMetrics", true, { verbs: READ_VERBS }),
];
