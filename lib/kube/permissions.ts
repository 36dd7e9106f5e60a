/**
 * The Kubernetes API permissions the suite needs: every request `v1.kube` makes, as RBAC sees it (apiGroup,
 * resource[/subresource], verbs). `deploy/10-rbac.yaml`'s ClusterRole grants exactly these (a unit test checks it,
 * test/integration/deploy/rbac-coverage.test.ts drives every v1.kube action with a token of that role and finds no
 * 403). Cluster-wide because tenants' namespaces are created by the suite itself. No wildcards.
 *
 * Where the verbs come from (services/kube.service.ts and what calls it):
 * - list + watch: the informers (lib/kube/informers.ts WATCHED_KINDS) list and watch each kind in all namespaces.
 * - patch + create: `v1.kube.apply` is server-side apply (a PATCH, lib/kube/apply.ts); when the object does not exist
 *   yet the PATCH creates it, and kube-apiserver then also authorizes `create` (endpoints/handlers/patch.go:
 *   createAuthorizerAttributes). Applied: the Namespace, ResourceQuota and LimitRange of a tenant (namespaces),
 *   PersistentVolumeClaims (volumes), the `<deployment>-env` ConfigMap and Secret (envs), Deployment, Service,
 *   Ingress and the configMap ConfigMap (deployments; scale and restart are re-applies of the Deployment, not the
 *   scale subresource), and the image-build Jobs (images.build).
 * - get: `v1.kube.get` of the same kinds (namespaces/volumes read the live object; the reconciler checks drift);
 *   pods also for `v1.kube.logs` with follow (it reads the pod to pick its container).
 * - delete: `v1.kube.delete` of each applied kind (removals, cleanups, orphan sweeps, finished build Jobs).
 * - pods/log get: `v1.kube.logs` (with and without follow).
 * - events list: `v1.kube.events` (core/v1 Events of a namespace, by field selector).
 * - metrics.k8s.io pods list: `v1.kube.top` (PodMetrics of a namespace).
 * - storage.k8s.io storageclasses list: volumes check a claim's storage class (`v1.kube.list` StorageClass).
 * Discovery (/api, /apis, /version) is not listed: every authenticated user has it (ClusterRole system:discovery).
 */

export interface Permission {
  /** "" is the core group. */
  apiGroup: string;
  /** Plural resource, with "/subresource" where one is needed ("pods/log"). */
  resource: string;
  verbs: readonly string[];
}

/** The verbs of a kind the suite renders, applies, watches, reads and removes. */
const OWNED = ["get", "list", "watch", "create", "patch", "delete"] as const;

export const SUITE_PERMISSIONS: readonly Permission[] = [
  // tenants: namespaces.service (Namespace, ResourceQuota, LimitRange)
  { apiGroup: "", resource: "namespaces", verbs: OWNED },
  { apiGroup: "", resource: "resourcequotas", verbs: OWNED },
  { apiGroup: "", resource: "limitranges", verbs: OWNED },
  // volumes.service
  { apiGroup: "", resource: "persistentvolumeclaims", verbs: OWNED },
  // envs.service (<deployment>-env) and deployments.service (<deployment>-<configMap.name>)
  { apiGroup: "", resource: "configmaps", verbs: OWNED },
  { apiGroup: "", resource: "secrets", verbs: OWNED },
  // deployments.service
  { apiGroup: "", resource: "services", verbs: OWNED },
  { apiGroup: "apps", resource: "deployments", verbs: OWNED },
  { apiGroup: "networking.k8s.io", resource: "ingresses", verbs: OWNED },
  // images.build
  { apiGroup: "batch", resource: "jobs", verbs: OWNED },
  // watched, never written: ReplicaSets (rollout state, history) and Pods (pods, state, logs)
  { apiGroup: "apps", resource: "replicasets", verbs: ["list", "watch"] },
  { apiGroup: "", resource: "pods", verbs: ["get", "list", "watch"] },
  { apiGroup: "", resource: "pods/log", verbs: ["get"] },
  // v1.kube.events
  { apiGroup: "", resource: "events", verbs: ["list"] },
  // v1.kube.top
  { apiGroup: "metrics.k8s.io", resource: "pods", verbs: ["list"] },
  // volumes.service: storage class check
  { apiGroup: "storage.k8s.io", resource: "storageclasses", verbs: ["list"] },
];

/** "apps deployments patch"-style triples, sorted: a permission list in a form two lists can be compared in. */
export function permissionTriples(permissions: readonly Permission[]): string[] {
  const out = new Set<string>();
  for (const p of permissions) for (const verb of p.verbs) out.add(`${p.apiGroup}\t${p.resource}\t${verb}`);
  return [...out].sort();
}
