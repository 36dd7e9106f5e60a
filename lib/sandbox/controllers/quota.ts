/**
 * ResourceQuota: usage evaluators (pods, PVCs, services, object counts) as the quota admission plugin computes
 * them, the admission plugin itself (403 `exceeded quota: ...` / `failed quota: ...: must specify ...`), and the
 * quota controller that keeps `status.hard` and `status.used` right.
 */
import type { KubeObject, ResourceType } from "../types.ts";
import type { AdmissionRequest } from "../store.ts";
import { forbiddenError } from "../status.ts";
import { stableStringify } from "./hash.ts";
import type { ContainerSpec, PodSpec } from "./pods.ts";
import { podTerminal } from "./pods.ts";
import {
  ZERO,
  addQuantities,
  compareQuantities,
  formatQuantity,
  maxQuantity,
  subtractQuantities,
  tryParseQuantity,
  type Quantity,
} from "./quantity.ts";
import { R, objectKey, splitKey, statusOf, writeStatus, type Context, type Controller } from "./runtime.ts";

export type Usage = Map<string, Quantity>;

const ONE: Quantity = { milli: 1000n, format: "DecimalSI" };
/** Compute resources every container must declare when a quota limits them (the "must specify" rule). */
const VALIDATED = ["cpu", "memory", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory"];
/** Object-count names that predate `count/<resource>`. */
const LEGACY_COUNTS: Record<string, string> = {
  pods: "pods",
  services: "services",
  replicationcontrollers: "replicationcontrollers",
  resourcequotas: "resourcequotas",
  secrets: "secrets",
  configmaps: "configmaps",
  persistentvolumeclaims: "persistentvolumeclaims",
};

function add(usage: Usage, key: string, q: Quantity): void {
  const prev = usage.get(key);
  usage.set(key, prev ? addQuantities(prev, q) : q);
}

/** Requests and limits of one container, as the quota names them. */
function containerUsage(c: ContainerSpec): Usage {
  const usage: Usage = new Map();
  const req = c.resources?.requests ?? {};
  const lim = c.resources?.limits ?? {};
  for (const [res, text] of Object.entries(req)) {
    const q = tryParseQuantity(text);
    if (!q) continue;
    if (res === "cpu" || res === "memory" || res === "ephemeral-storage") add(usage, res, q);
    add(usage, `requests.${res}`, q);
  }
  for (const [res, text] of Object.entries(lim)) {
    const q = tryParseQuantity(text);
    if (q) add(usage, `limits.${res}`, q);
  }
  return usage;
}

/** The quota usage of a pod: counts and compute (sum of containers, at least the largest init container). */
export function podUsage(pod: KubeObject): Usage {
  const usage: Usage = new Map();
  if (podTerminal(pod)) return usage;
  usage.set("pods", ONE);
  usage.set("count/pods", ONE);
  const spec = (pod.spec ?? {}) as PodSpec;
  const sum: Usage = new Map();
  for (const c of spec.containers ?? []) for (const [k, q] of containerUsage(c)) add(sum, k, q);
  for (const c of spec.initContainers ?? []) {
    for (const [k, q] of containerUsage(c)) sum.set(k, sum.has(k) ? maxQuantity(sum.get(k) ?? ZERO, q) : q);
  }
  for (const [k, q] of sum) usage.set(k, q);
  return usage;
}

export function pvcUsage(pvc: KubeObject): Usage {
  const spec = (pvc.spec ?? {}) as { storageClassName?: string; resources?: { requests?: { storage?: string } } };
  const usage: Usage = new Map([
    ["persistentvolumeclaims", ONE],
    ["count/persistentvolumeclaims", ONE],
  ]);
  const storage = tryParseQuantity(spec.resources?.requests?.storage);
  if (storage) usage.set("requests.storage", storage);
  const cls = spec.storageClassName;
  if (cls) {
    usage.set(`${cls}.storageclass.storage.k8s.io/persistentvolumeclaims`, ONE);
    if (storage) usage.set(`${cls}.storageclass.storage.k8s.io/requests.storage`, storage);
  }
  return usage;
}

export function serviceUsage(svc: KubeObject): Usage {
  const spec = (svc.spec ?? {}) as { type?: string; ports?: unknown[] };
  const usage: Usage = new Map([
    ["services", ONE],
    ["count/services", ONE],
  ]);
  const type = spec.type ?? "ClusterIP";
  if (type === "NodePort" || type === "LoadBalancer") {
    usage.set("services.nodeports", { milli: BigInt((spec.ports ?? []).length) * 1000n, format: "DecimalSI" });
  }
  if (type === "LoadBalancer") usage.set("services.loadbalancers", ONE);
  return usage;
}

/** The quota usage of any object of `resource` (kubectl's fully-qualified plural). */
export function usageOf(resource: string, obj: KubeObject): Usage {
  if (resource === R.pods) return podUsage(obj);
  if (resource === R.pvcs) return pvcUsage(obj);
  if (resource === R.services) return serviceUsage(obj);
  const usage: Usage = new Map([[`count/${resource}`, ONE]]);
  const legacy = LEGACY_COUNTS[resource];
  if (legacy) usage.set(legacy, ONE);
  return usage;
}

/** Which kind a quota key is counted from (undefined: a kind the sandbox does not count). */
export function resourceForQuotaKey(key: string): string | undefined {
  if (key.startsWith("count/")) return key.slice("count/".length);
  if (LEGACY_COUNTS[key]) return key;
  if (key.startsWith("services.")) return R.services;
  if (key === "requests.storage" || key.includes(".storageclass.storage.k8s.io/")) return R.pvcs;
  if (
    /^(requests\.|limits\.)?(cpu|memory|ephemeral-storage)$/.test(key) ||
    key.startsWith("requests.") ||
    key.startsWith("limits.")
  )
    return R.pods;
  return undefined;
}

function pretty(usage: Usage, keys: string[]): string {
  return keys.map((k) => `${k}=${formatQuantity(usage.get(k) ?? ZERO)}`).join(",");
}

/**
 * The quota check of one new object: undefined when it fits, else the message kube-apiserver gives
 * (`exceeded quota: <name>, requested: ..., used: ..., limited: ...`).
 */
export function checkQuota(
  quotaName: string,
  hard: Record<string, string>,
  used: Usage,
  requested: Usage,
): string | undefined {
  const exceeded: string[] = [];
  for (const [key, q] of requested) {
    const limit = tryParseQuantity(hard[key]);
    if (!limit) continue;
    const after = addQuantities(used.get(key) ?? ZERO, q);
    if (compareQuantities(after, limit) > 0) exceeded.push(key);
  }
  if (exceeded.length === 0) return undefined;
  exceeded.sort();
  const hardUsage: Usage = new Map(exceeded.map((k) => [k, tryParseQuantity(hard[k]) ?? ZERO]));
  return `exceeded quota: ${quotaName}, requested: ${pretty(requested, exceeded)}, used: ${pretty(used, exceeded)}, limited: ${pretty(hardUsage, exceeded)}`;
}

/**
 * The "must specify" rule: when a quota limits cpu/memory requests or limits, every container must declare them.
 * Returns e.g. `must specify limits.cpu for: nginx; requests.memory for: nginx,sidecar`, or undefined.
 */
export function missingConstraints(pod: KubeObject, hardKeys: string[]): string | undefined {
  const required = hardKeys.filter((k) => VALIDATED.includes(k));
  if (required.length === 0) return undefined;
  const spec = (pod.spec ?? {}) as PodSpec;
  const missing = new Map<string, Set<string>>();
  for (const c of [...(spec.containers ?? []), ...(spec.initContainers ?? [])]) {
    const has = containerUsage(c);
    for (const r of required) {
      if (has.has(r)) continue;
      let set = missing.get(r);
      if (!set) missing.set(r, (set = new Set()));
      set.add(c.name);
    }
  }
  if (missing.size === 0) return undefined;
  const parts = [...missing.keys()].sort().map((r) => `${r} for: ${[...(missing.get(r) ?? [])].sort().join(",")}`);
  return `must specify ${parts.join("; ")}`;
}

/** The quota's status.used, computed from the objects. */
export function computeUsed(
  hard: Record<string, string>,
  objectsOf: (resource: string) => KubeObject[],
): Record<string, string> {
  const used: Usage = new Map(Object.keys(hard).map((k) => [k, ZERO]));
  const resources = new Set(
    Object.keys(hard)
      .map(resourceForQuotaKey)
      .filter((r): r is string => r !== undefined),
  );
  for (const resource of resources) {
    for (const obj of objectsOf(resource)) {
      if (obj.metadata.deletionTimestamp !== undefined && resource !== R.pods) continue;
      for (const [k, q] of usageOf(resource, obj)) if (used.has(k)) add(used, k, q);
    }
  }
  const out: Record<string, string> = {};
  for (const k of Object.keys(hard).sort()) {
    const hardQ = tryParseQuantity(hard[k]);
    const u = used.get(k) ?? ZERO;
    // A zero sum takes the format of the limit, as apimachinery's Quantity does ("0" either way).
    out[k] = formatQuantity(u.milli === 0n && hardQ ? { milli: 0n, format: hardQ.format } : u);
  }
  return out;
}

interface QuotaSpec {
  hard?: Record<string, string>;
}

export function quotaController(ctx: Context): Controller {
  const name = "quota";

  function objectsOf(namespace: string): (resource: string) => KubeObject[] {
    return (resource) => {
      if (!ctx.store.types.byKey(resource)) return [];
      if (ctx.cache.isCached(resource)) return ctx.cache.list(resource, namespace);
      return ctx.store.listRefs(resource, namespace);
    };
  }

  function admit(request: AdmissionRequest): void {
    const rt: ResourceType = request.resource;
    if (!rt.namespaced || rt.key === R.events) return;
    // Updates only matter where usage can grow in place: a claim asking for more storage.
    if (request.operation === "DELETE" || (request.operation === "UPDATE" && rt.key !== R.pvcs)) return;
    const obj = request.object;
    const ns = obj.metadata.namespace ?? "";
    const quotas = ctx.cache.list(R.quotas, ns);
    if (quotas.length === 0) return;
    let requested = usageOf(rt.key, obj);
    if (request.operation === "UPDATE") {
      const before = request.oldObject ? usageOf(rt.key, request.oldObject) : new Map<string, Quantity>();
      const growth: Usage = new Map();
      for (const [k, q] of requested) {
        const delta = subtractQuantities(q, before.get(k) ?? ZERO);
        if (delta.milli > 0n) growth.set(k, delta);
      }
      if (growth.size === 0) return;
      requested = growth;
    }
    for (const quota of [...quotas].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))) {
      const hard = ((quota.spec ?? {}) as QuotaSpec).hard ?? {};
      const relevant: Usage = new Map([...requested].filter(([k]) => hard[k] !== undefined));
      if (rt.key === R.pods && request.operation === "CREATE") {
        const missing = missingConstraints(obj, Object.keys(hard));
        if (missing) throw forbiddenError(rt, obj.metadata.name, `failed quota: ${quota.metadata.name}: ${missing}`);
      }
      if (relevant.size === 0) continue;
      const used = new Map(
        Object.entries(
          computeUsed(Object.fromEntries([...relevant.keys()].map((k) => [k, hard[k] ?? "0"])), objectsOf(ns)),
        ).map(([k, v]) => [k, tryParseQuantity(v) ?? ZERO]),
      );
      const message = checkQuota(quota.metadata.name, hard, used, relevant);
      if (message) throw forbiddenError(rt, obj.metadata.name, message);
    }
  }

  ctx.store.addAdmission((request) => {
    if (!ctx.stopped()) admit(request);
  });

  function reconcile(key: string): void {
    const { namespace, name: qName } = splitKey(key);
    const quota = ctx.cache.get(R.quotas, namespace, qName);
    if (!quota || quota.metadata.deletionTimestamp !== undefined) return;
    const hard = ((quota.spec ?? {}) as QuotaSpec).hard ?? {};
    const canonicalHard: Record<string, string> = {};
    for (const k of Object.keys(hard).sort()) {
      const q = tryParseQuantity(hard[k]);
      canonicalHard[k] = q ? formatQuantity(q) : String(hard[k]);
    }
    const status = { hard: canonicalHard, used: computeUsed(hard, objectsOf(namespace ?? "")) };
    if (stableStringify(status) === stableStringify(statusOf(quota))) return;
    writeStatus(ctx.store, R.quotas, { ...quota, status });
  }

  return {
    name,
    onEvent(ev, old): void {
      const key = ev.resource.key;
      const ns = ev.object.metadata.namespace;
      if (ns === undefined || key === R.events) return;
      if (key === R.quotas) {
        if (
          ev.type !== "DELETED" &&
          (!old || old.metadata.generation !== ev.object.metadata.generation || ev.type === "ADDED")
        )
          ctx.queue.add(name, objectKey(ns, ev.object.metadata.name));
        return;
      }
      if (ctx.cache.count(R.quotas, ns) === 0) return;
      if (key === R.pods && ev.type === "MODIFIED" && old && podTerminal(old) === podTerminal(ev.object)) return;
      if (ev.type === "MODIFIED" && old && key !== R.pods && old.metadata.generation === ev.object.metadata.generation)
        return;
      for (const q of ctx.cache.list(R.quotas, ns)) ctx.queue.add(name, objectKey(ns, q.metadata.name));
    },
    reconcile,
    resync(): void {
      for (const q of ctx.cache.list(R.quotas)) ctx.queue.add(name, objectKey(q.metadata.namespace, q.metadata.name));
    },
  };
}
