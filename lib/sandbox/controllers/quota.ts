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
/** Object-count names that predate `count/<resource>` (a Set: a quota key may be any string, `constructor` too). */
const LEGACY_COUNTS: ReadonlySet<string> = new Set([
  "pods",
  "services",
  "replicationcontrollers",
  "resourcequotas",
  "secrets",
  "configmaps",
  "persistentvolumeclaims",
]);

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
  if (LEGACY_COUNTS.has(resource)) usage.set(resource, ONE);
  return usage;
}

/** Which kind a quota key is counted from (undefined: a kind the sandbox does not count). */
export function resourceForQuotaKey(key: string): string | undefined {
  if (key.startsWith("count/")) return key.slice("count/".length);
  if (LEGACY_COUNTS.has(key)) return key;
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

/**
 * One namespace's usage of one resource: what each object adds (`usageOf`; nothing for a non-pod object being
 * deleted), in the order the objects were listed and then added, and the sums per quota key (milli-units).
 */
export interface ResourceUsage {
  readonly byName: Map<string, Usage>;
  readonly sums: Map<string, bigint>;
}

/** What an object adds to its namespace's usage: nothing while a non-pod object is being deleted. */
function contributionOf(resource: string, obj: KubeObject): Usage {
  if (obj.metadata.deletionTimestamp !== undefined && resource !== R.pods) return new Map();
  return usageOf(resource, obj);
}

/** Sets (or, with undefined, removes) one object's contribution, keeping the sums. */
function putContribution(usage: ResourceUsage, name: string, next: Usage | undefined): void {
  const prev = usage.byName.get(name);
  for (const [k, q] of prev ?? []) usage.sums.set(k, (usage.sums.get(k) ?? 0n) - q.milli);
  if (next === undefined) {
    usage.byName.delete(name);
    return;
  }
  for (const [k, q] of next) usage.sums.set(k, (usage.sums.get(k) ?? 0n) + q.milli);
  usage.byName.set(name, next); // a known name keeps its place, as in the cache's maps
}

/** The usage of `objects` of `resource`, summed once. */
export function resourceUsageOf(resource: string, objects: Iterable<KubeObject>): ResourceUsage {
  const usage: ResourceUsage = { byName: new Map(), sums: new Map() };
  for (const obj of objects) putContribution(usage, obj.metadata.name, contributionOf(resource, obj));
  return usage;
}

/**
 * The quota's status.used for every hard key, in canonical form, from each counted resource's usage. A sum takes the
 * format of the first object (in order) that adds to it, as adding the objects' quantities one by one does; a zero
 * sum takes the format of the limit, as apimachinery's Quantity does ("0" either way).
 */
export function usedFrom(
  hard: Record<string, string>,
  usageOfResource: (resource: string) => ResourceUsage,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(hard).sort()) {
    const hardQ = tryParseQuantity(hard[k]);
    const resource = resourceForQuotaKey(k);
    let u: Quantity = ZERO;
    if (resource !== undefined) {
      const usage = usageOfResource(resource);
      const milli = usage.sums.get(k);
      if (milli !== undefined) {
        let format = ZERO.format;
        for (const contribution of usage.byName.values()) {
          const q = contribution.get(k);
          if (q !== undefined) {
            format = q.format;
            break;
          }
        }
        u = { milli, format };
      }
    }
    out[k] = formatQuantity(u.milli === 0n && hardQ ? { milli: 0n, format: hardQ.format } : u);
  }
  return out;
}

/** The quota's status.used, computed from the objects. */
export function computeUsed(
  hard: Record<string, string>,
  objectsOf: (resource: string) => KubeObject[],
): Record<string, string> {
  return usedFrom(hard, (resource) => resourceUsageOf(resource, objectsOf(resource)));
}

/**
 * Every namespace's usage per resource, kept from the store's events once a quota there has asked for it: the quota
 * admission and the status of N objects created in a namespace with a quota summed all of them each time (N² usage
 * evaluations: ~4 s of the sandbox's 12 s busy time while issue 9's Converge row created 1,000 deployments). The sums
 * are those of `computeUsed` over the same objects; a namespace's usage is dropped with its last quota.
 */
class UsageLedger {
  readonly #byNamespace = new Map<string, Map<string, ResourceUsage>>();

  /** `resource`'s usage in `namespace`, summed from `objects()` the first time it is asked for. */
  usage(namespace: string, resource: string, objects: () => KubeObject[]): ResourceUsage {
    let byResource = this.#byNamespace.get(namespace);
    if (byResource === undefined) this.#byNamespace.set(namespace, (byResource = new Map()));
    let usage = byResource.get(resource);
    if (usage === undefined) byResource.set(resource, (usage = resourceUsageOf(resource, objects())));
    return usage;
  }

  /**
   * An object of `resource` changed: its contribution is read again from `current()` (the object as stored now, or
   * undefined when gone), so that the ledger follows the store even when a write inside another controller's event
   * handler delivers its own event before this one.
   */
  change(resource: string, namespace: string, name: string, current: () => KubeObject | undefined): void {
    const usage = this.#byNamespace.get(namespace)?.get(resource);
    if (usage === undefined) return;
    const obj = current();
    putContribution(usage, name, obj === undefined ? undefined : contributionOf(resource, obj));
  }

  forget(namespace: string): void {
    this.#byNamespace.delete(namespace);
  }
}

interface QuotaSpec {
  hard?: Record<string, string>;
}

export function quotaController(ctx: Context): Controller {
  const name = "quota";
  const ledger = new UsageLedger();

  function objectsOf(namespace: string, resource: string): KubeObject[] {
    if (!ctx.store.types.byKey(resource)) return [];
    if (ctx.cache.isCached(resource)) return ctx.cache.list(resource, namespace);
    return ctx.store.listRefs(resource, namespace);
  }
  /** One object as stored now, from where `objectsOf` lists its kind. */
  function objectOf(namespace: string, resource: string, objName: string): KubeObject | undefined {
    return ctx.cache.isCached(resource)
      ? ctx.cache.get(resource, namespace, objName)
      : ctx.store.getRef(resource, namespace, objName);
  }
  /** status.used of `hard` in `namespace`, from the ledger. */
  function usedIn(namespace: string, hard: Record<string, string>): Record<string, string> {
    return usedFrom(hard, (resource) => ledger.usage(namespace, resource, () => objectsOf(namespace, resource)));
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
        Object.entries(usedIn(ns, Object.fromEntries([...relevant.keys()].map((k) => [k, hard[k] ?? "0"])))).map(
          ([k, v]) => [k, tryParseQuantity(v) ?? ZERO],
        ),
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
    const status = { hard: canonicalHard, used: usedIn(namespace ?? "", hard) };
    if (stableStringify(status) === stableStringify(statusOf(quota))) return;
    writeStatus(ctx.store, R.quotas, { ...quota, status });
  }

  return {
    name,
    onEvent(ev, old): void {
      const key = ev.resource.key;
      const ns = ev.object.metadata.namespace;
      if (ns === undefined || key === R.events) return;
      const objName = ev.object.metadata.name;
      ledger.change(key, ns, objName, () => objectOf(ns, key, objName));
      if (key === R.quotas && ev.type === "DELETED" && ctx.cache.count(R.quotas, ns) === 0) ledger.forget(ns);
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
