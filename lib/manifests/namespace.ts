/**
 * A namespace record's objects: the Namespace, its ResourceQuota and its LimitRange (all component `namespace`).
 *
 * Pod security: the Namespace is labelled `pod-security.kubernetes.io/enforce: baseline` (version `latest`). Baseline
 * forbids privileged pods, host namespaces/ports/paths and added capabilities, but allows containers that run as root,
 * which the catalog's images (nginx, php-fpm, ...) do; `restricted` would reject them (it needs runAsNonRoot and all
 * capabilities dropped). The Deployments the suite renders satisfy baseline (see deployment.ts).
 *
 * Quota and limits: a ResourceQuota on `limits.cpu`/`limits.memory` makes the API server reject every pod whose
 * containers declare no limits, so the LimitRange gives such containers default limits and requests that fit.
 */
import type { V1LimitRange, V1Namespace, V1ResourceQuota } from "@kubernetes/client-node";
import { DOMAIN_ANNOTATION, generateAnnotations, generateLabels } from "./labels.ts";
import { cpuQuantity, memoryQuantity, parseQuantity, storageQuantity } from "./quantity.ts";

export const RESOURCE_QUOTA_NAME = "moleculer-k8s-quota";
export const LIMIT_RANGE_NAME = "moleculer-k8s-limits";
export const POD_SECURITY_ENFORCE_LABEL = "pod-security.kubernetes.io/enforce";
export const POD_SECURITY_ENFORCE_VERSION_LABEL = "pod-security.kubernetes.io/enforce-version";
export const POD_SECURITY_LEVEL = "baseline";

/** A namespace's quota, in the suite's integer units. */
export interface Quota {
  /** CPU millicores, for both requests.cpu and limits.cpu. */
  readonly cpu: number;
  /** Memory MiB, for both requests.memory and limits.memory. */
  readonly memory: number;
  /** Number of pods. */
  readonly pods: number;
  /** Number of PersistentVolumeClaims. */
  readonly persistentvolumeclaims: number;
  /** Total storage requested by PVCs, GiB. */
  readonly storage: number;
}

/** The quota a namespace gets for every field its record does not set. */
export const DEFAULT_QUOTA: Quota = Object.freeze({
  cpu: 4000,
  memory: 8192,
  pods: 20,
  persistentvolumeclaims: 10,
  storage: 50,
});

/** Container resources in the suite's units (CPU millicores, memory MiB). */
export interface ContainerResources {
  readonly limits: { readonly cpu: number; readonly memory: number };
  readonly requests: { readonly cpu: number; readonly memory: number };
}

/** What a container that declares no resources gets from the LimitRange. */
export const DEFAULT_CONTAINER_RESOURCES: ContainerResources = Object.freeze({
  limits: Object.freeze({ cpu: 500, memory: 512 }),
  requests: Object.freeze({ cpu: 100, memory: 128 }),
});

export interface NamespaceInput {
  /** The namespace record's id. */
  readonly id: string;
  /** The Kubernetes namespace name (a DNS-1123 label). */
  readonly name: string;
  /** The domain of the namespace's default routes, recorded as an annotation. */
  readonly domain?: string;
}

/** The Namespace, with the pod-security label and the id (and domain) annotations. */
export function renderNamespace(input: NamespaceInput): V1Namespace {
  return {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: {
      name: input.name,
      labels: {
        ...generateLabels({ component: "namespace", name: input.name, id: input.id }),
        [POD_SECURITY_ENFORCE_LABEL]: POD_SECURITY_LEVEL,
        [POD_SECURITY_ENFORCE_VERSION_LABEL]: "latest",
      },
      annotations: generateAnnotations({
        id: input.id,
        ...(input.domain === undefined ? {} : { extra: { [DOMAIN_ANNOTATION]: input.domain } }),
      }),
    },
  };
}

export interface ResourceQuotaInput {
  /** The namespace record's id. */
  readonly id: string;
  /** The Kubernetes namespace name. */
  readonly namespace: string;
  /** The record's quota; unset fields come from `defaults`. */
  readonly quota?: Partial<Quota>;
  /** Defaults for unset quota fields (DEFAULT_QUOTA when not given). */
  readonly defaults?: Quota;
}

/** The effective quota: the record's fields over the defaults. */
export function resolveQuota(quota: Partial<Quota> | undefined, defaults: Quota = DEFAULT_QUOTA): Quota {
  return {
    cpu: quota?.cpu ?? defaults.cpu,
    memory: quota?.memory ?? defaults.memory,
    pods: quota?.pods ?? defaults.pods,
    persistentvolumeclaims: quota?.persistentvolumeclaims ?? defaults.persistentvolumeclaims,
    storage: quota?.storage ?? defaults.storage,
  };
}

/** The ResourceQuota `moleculer-k8s-quota`: requests and limits of CPU and memory, pods, PVCs and storage. */
export function renderResourceQuota(input: ResourceQuotaInput): V1ResourceQuota {
  const q = resolveQuota(input.quota, input.defaults);
  return {
    apiVersion: "v1",
    kind: "ResourceQuota",
    metadata: {
      name: RESOURCE_QUOTA_NAME,
      namespace: input.namespace,
      labels: generateLabels({ component: "namespace", name: input.namespace, id: input.id }),
      annotations: generateAnnotations({ id: input.id }),
    },
    spec: {
      hard: {
        "requests.cpu": cpuQuantity(q.cpu),
        "limits.cpu": cpuQuantity(q.cpu),
        "requests.memory": memoryQuantity(q.memory),
        "limits.memory": memoryQuantity(q.memory),
        pods: String(q.pods),
        persistentvolumeclaims: String(q.persistentvolumeclaims),
        "requests.storage": storageQuantity(q.storage),
      },
    },
  };
}

export interface LimitRangeInput {
  /** The namespace record's id. */
  readonly id: string;
  /** The Kubernetes namespace name. */
  readonly namespace: string;
  /** Default container limits and requests (DEFAULT_CONTAINER_RESOURCES when not given). */
  readonly defaults?: ContainerResources;
}

/**
 * The LimitRange `moleculer-k8s-limits`: default limits and requests for containers that declare none. A default
 * request above its default limit (which the API server rejects) is lowered to the limit.
 */
export function renderLimitRange(input: LimitRangeInput): V1LimitRange {
  const d = input.defaults ?? DEFAULT_CONTAINER_RESOURCES;
  return {
    apiVersion: "v1",
    kind: "LimitRange",
    metadata: {
      name: LIMIT_RANGE_NAME,
      namespace: input.namespace,
      labels: generateLabels({ component: "namespace", name: input.namespace, id: input.id }),
      annotations: generateAnnotations({ id: input.id }),
    },
    spec: {
      limits: [
        {
          type: "Container",
          _default: { cpu: cpuQuantity(d.limits.cpu), memory: memoryQuantity(d.limits.memory) },
          defaultRequest: {
            cpu: cpuQuantity(Math.min(d.requests.cpu, d.limits.cpu)),
            memory: memoryQuantity(Math.min(d.requests.memory, d.limits.memory)),
          },
        },
      ],
    },
  };
}

/**
 * The CPU (millicores), memory (MiB) and pods a ResourceQuota's `hard` allows a namespace, as the suite counts them:
 * the smaller of requests and limits for CPU and memory (it sets both to the same). A field the quota does not
 * bind, or cannot be read, is left out.
 */
export function quotaFromHard(hard: Readonly<Record<string, string>> | undefined): {
  cpu?: number;
  memory?: number;
  pods?: number;
} {
  const amount = (keys: string[], scale: number): number | undefined => {
    const values = keys
      .map((k) => (hard?.[k] === undefined ? undefined : parseQuantity(hard[k])))
      .filter((v): v is number => v !== undefined);
    return values.length === 0 ? undefined : Math.floor(Math.min(...values) * scale);
  };
  const cpu = amount(["requests.cpu", "limits.cpu", "cpu"], 1000);
  const memory = amount(["requests.memory", "limits.memory", "memory"], 1 / 2 ** 20);
  const pods = amount(["pods", "count/pods"], 1);
  return {
    ...(cpu === undefined ? {} : { cpu }),
    ...(memory === undefined ? {} : { memory }),
    ...(pods === undefined ? {} : { pods }),
  };
}
