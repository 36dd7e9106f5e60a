/**
 * The controllers' machinery: an informer-like cache fed by store events, a de-duplicating work queue, named timers
 * that all go away on stop(), and small object helpers shared by the controllers.
 */
import { jsonCopy } from "../json.ts";
import type { KubeObject, ObjectMeta, OwnerReference, StoreEvent } from "../types.ts";
import type { Store } from "../store.ts";
import type { EventRecorder } from "./events.ts";

/** Resource keys the controllers read a lot (kubectl's fully-qualified plurals). */
export const R = {
  pods: "pods",
  replicaSets: "replicasets.apps",
  deployments: "deployments.apps",
  jobs: "jobs.batch",
  services: "services",
  endpoints: "endpoints",
  pvcs: "persistentvolumeclaims",
  pvs: "persistentvolumes",
  namespaces: "namespaces",
  quotas: "resourcequotas",
  limitRanges: "limitranges",
  nodes: "nodes",
  events: "events",
  configMaps: "configmaps",
  serviceAccounts: "serviceaccounts",
  storageClasses: "storageclasses.storage.k8s.io",
} as const;

export function objectKey(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}

export function splitKey(key: string): { namespace: string | undefined; name: string } {
  const i = key.indexOf("/");
  return i < 0 ? { namespace: undefined, name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

/** A reference to any stored object: resource key + namespace + name. */
export interface ObjectRef {
  resource: string;
  namespace: string | undefined;
  name: string;
}

function refString(ref: ObjectRef): string {
  return `${ref.resource}\u0000${ref.namespace ?? ""}\u0000${ref.name}`;
}

function parseRef(text: string): ObjectRef {
  const [resource = "", namespace = "", name = ""] = text.split("\u0000");
  return { resource, namespace: namespace || undefined, name };
}

/**
 * What the controllers know of the store, kept in step by its events (the listener runs synchronously inside each
 * write, so the cache never lags the store). Objects of `cached` kinds are kept whole (read-only: copy before
 * changing); for every kind, the owner uids of objects with ownerReferences are indexed for the garbage collector.
 */
export class Cache {
  readonly #cached: ReadonlySet<string>;
  readonly #objects = new Map<string, Map<string, Map<string, KubeObject>>>();
  readonly #dependents = new Map<string, Set<string>>();
  readonly #ownersOf = new Map<string, string[]>();
  readonly #controllees = new Map<string, Set<string>>();
  /** Cached objects without a controller ownerReference, by resource and namespace (candidates for adoption). */
  readonly #orphans = new Map<string, Map<string, Set<string>>>();

  constructor(cached: Iterable<string>) {
    this.#cached = new Set(cached);
  }

  isCached(resource: string): boolean {
    return this.#cached.has(resource);
  }

  /** Applies a store event; returns the previous version of the object when its kind is cached. */
  apply(event: StoreEvent): KubeObject | undefined {
    const resource = event.resource.key;
    const meta = event.object.metadata;
    const ref: ObjectRef = { resource, namespace: meta.namespace, name: meta.name };
    const deleted = event.type === "DELETED";
    this.#indexOwners(ref, deleted ? [] : (meta.ownerReferences ?? []));
    if (!this.#cached.has(resource)) return undefined;
    let byNamespace = this.#objects.get(resource);
    if (!byNamespace) this.#objects.set(resource, (byNamespace = new Map()));
    const ns = meta.namespace ?? "";
    let byName = byNamespace.get(ns);
    const old = byName?.get(meta.name);
    this.#indexOrphan(resource, ns, meta.name, !deleted && !(meta.ownerReferences ?? []).some((o) => o.controller));
    if (deleted) {
      byName?.delete(meta.name);
      if (byName?.size === 0) byNamespace.delete(ns);
    } else {
      if (!byName) byNamespace.set(ns, (byName = new Map()));
      byName.set(meta.name, event.object);
    }
    return old;
  }

  #indexOwners(ref: ObjectRef, owners: OwnerReference[]): void {
    const self = refString(ref);
    const before = this.#ownersOf.get(self) ?? [];
    const after = owners.map((o) => o.uid);
    const controller = owners.find((o) => o.controller)?.uid;
    if (before.length === 0 && after.length === 0) return;
    for (const uid of before) {
      const set = this.#dependents.get(uid);
      set?.delete(self);
      if (set?.size === 0) this.#dependents.delete(uid);
      const ctl = this.#controllees.get(uid);
      ctl?.delete(self);
      if (ctl?.size === 0) this.#controllees.delete(uid);
    }
    if (after.length === 0) {
      this.#ownersOf.delete(self);
      return;
    }
    this.#ownersOf.set(self, after);
    for (const uid of after) {
      let set = this.#dependents.get(uid);
      if (!set) this.#dependents.set(uid, (set = new Set()));
      set.add(self);
    }
    if (controller !== undefined) {
      let ctl = this.#controllees.get(controller);
      if (!ctl) this.#controllees.set(controller, (ctl = new Set()));
      ctl.add(self);
    }
  }

  #indexOrphan(resource: string, ns: string, name: string, orphan: boolean): void {
    let byNs = this.#orphans.get(resource);
    if (!byNs) this.#orphans.set(resource, (byNs = new Map()));
    let names = byNs.get(ns);
    if (orphan) {
      if (!names) byNs.set(ns, (names = new Set()));
      names.add(name);
    } else if (names) {
      names.delete(name);
      if (names.size === 0) byNs.delete(ns);
    }
  }

  /** Cached objects of `resource` in `namespace` that no controller owns. */
  orphans(resource: string, namespace: string | undefined): KubeObject[] {
    const out: KubeObject[] = [];
    for (const name of this.#orphans.get(resource)?.get(namespace ?? "") ?? []) {
      const obj = this.get(resource, namespace, name);
      if (obj) out.push(obj);
    }
    return out;
  }

  get(resource: string, namespace: string | undefined, name: string): KubeObject | undefined {
    return this.#objects
      .get(resource)
      ?.get(namespace ?? "")
      ?.get(name);
  }

  /** Objects of a cached kind, in one namespace or all. */
  list(resource: string, namespace?: string): KubeObject[] {
    const byNamespace = this.#objects.get(resource);
    if (!byNamespace) return [];
    if (namespace !== undefined) return [...(byNamespace.get(namespace)?.values() ?? [])];
    const out: KubeObject[] = [];
    for (const byName of byNamespace.values()) out.push(...byName.values());
    return out;
  }

  count(resource: string, namespace: string): number {
    return this.#objects.get(resource)?.get(namespace)?.size ?? 0;
  }

  /** Every object with an ownerReference to `uid`. */
  dependents(uid: string): ObjectRef[] {
    return [...(this.#dependents.get(uid) ?? [])].map(parseRef);
  }

  /** Cached objects of `resource` whose controller ownerReference is `uid`. */
  controlledBy(resource: string, uid: string | undefined): KubeObject[] {
    if (uid === undefined) return [];
    const out: KubeObject[] = [];
    for (const text of this.#controllees.get(uid) ?? []) {
      const ref = parseRef(text);
      if (ref.resource !== resource) continue;
      const obj = this.get(ref.resource, ref.namespace, ref.name);
      if (obj) out.push(obj);
    }
    return out;
  }
}

/**
 * Named timers for the delays the controllers model (pod start, image pull back-off, job run). Setting a name again
 * replaces its timer; clearAll() (on stop) leaves nothing behind.
 */
export class Timers {
  readonly #timers = new Map<string, NodeJS.Timeout>();
  #stopped = false;

  set(name: string, ms: number, fn: () => void): void {
    this.clear(name);
    if (this.#stopped) return;
    const timer = setTimeout(
      () => {
        this.#timers.delete(name);
        if (!this.#stopped) fn();
      },
      Math.max(0, Math.round(ms)),
    );
    this.#timers.set(name, timer);
  }

  has(name: string): boolean {
    return this.#timers.has(name);
  }

  clear(name: string): void {
    const timer = this.#timers.get(name);
    if (timer !== undefined) {
      clearTimeout(timer);
      this.#timers.delete(name);
    }
  }

  get size(): number {
    return this.#timers.size;
  }

  clearAll(): void {
    this.#stopped = true;
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
  }
}

/** How long one queue turn may run before yielding to I/O (the HTTP server shares the thread). */
const TURN_ITEMS = 300;

/**
 * The per-object work queue: `add(controller, key)` is idempotent while the item waits; items run in order on a
 * later macrotask (never inside the store's synchronous fan-out). A failing item is retried with a bounded back-off.
 */
export class WorkQueue {
  readonly #handlers = new Map<string, (key: string) => void>();
  readonly #pending = new Map<string, { controller: string; key: string }>();
  readonly #failures = new Map<string, number>();
  readonly #timers: Timers;
  readonly #log: (line: string) => void;
  #immediate: NodeJS.Immediate | undefined;
  #stopped = false;
  #processed = 0;

  constructor(timers: Timers, log: (line: string) => void) {
    this.#timers = timers;
    this.#log = log;
  }

  register(controller: string, handler: (key: string) => void): void {
    this.#handlers.set(controller, handler);
  }

  add(controller: string, key: string): void {
    if (this.#stopped) return;
    const id = `${controller}\u0000${key}`;
    if (!this.#pending.has(id)) this.#pending.set(id, { controller, key });
    this.#schedule();
  }

  /** Adds the item after `ms` (a modeled delay or a retry); a later call with the same item replaces the timer. */
  addAfter(controller: string, key: string, ms: number): void {
    this.#timers.set(`queue:${controller}:${key}`, ms, () => this.add(controller, key));
  }

  /** Drops a pending addAfter(). */
  cancelAfter(controller: string, key: string): void {
    this.#timers.clear(`queue:${controller}:${key}`);
  }

  get length(): number {
    return this.#pending.size;
  }

  /** Items handled since start (for measurements). */
  get processed(): number {
    return this.#processed;
  }

  /** Resolves when the queue is empty (tests and benchmarks). */
  async idle(): Promise<void> {
    while (this.#pending.size > 0 && !this.#stopped) await new Promise((resolve) => setImmediate(resolve));
  }

  stop(): void {
    this.#stopped = true;
    this.#pending.clear();
    if (this.#immediate !== undefined) clearImmediate(this.#immediate);
    this.#immediate = undefined;
  }

  #schedule(): void {
    if (this.#immediate !== undefined || this.#stopped) return;
    this.#immediate = setImmediate(() => {
      this.#immediate = undefined;
      this.#run();
    });
  }

  #run(): void {
    let n = 0;
    for (const [id, item] of this.#pending) {
      if (this.#stopped) return;
      if (n++ >= TURN_ITEMS) break;
      this.#pending.delete(id);
      const handler = this.#handlers.get(item.controller);
      if (!handler) continue;
      this.#processed++;
      try {
        handler(item.key);
        this.#failures.delete(id);
      } catch (err) {
        const failures = (this.#failures.get(id) ?? 0) + 1;
        const message = err instanceof Error ? err.message : String(err);
        if (failures > 8) {
          this.#failures.delete(id);
          this.#log(`controller ${item.controller}: giving up on ${item.key}: ${message}`);
        } else {
          this.#failures.set(id, failures);
          this.#log(`controller ${item.controller}: ${item.key}: ${message} (retry ${failures})`);
          this.addAfter(item.controller, item.key, Math.min(50 * 2 ** failures, 10_000));
        }
      }
    }
    if (this.#pending.size > 0) this.#schedule();
  }
}

/** Everything a controller works with. */
export interface Context {
  readonly store: Store;
  readonly cache: Cache;
  readonly queue: WorkQueue;
  readonly timers: Timers;
  readonly events: EventRecorder;
  readonly podReadyDelayMs: number;
  readonly jobDurationMs: number;
  now(): Date;
  log(line: string): void;
  /** True once stop() was called: admission plugins then let everything through. */
  stopped(): boolean;
}

/** One controller: which events it wants and how it reconciles a queued key. */
export interface Controller {
  readonly name: string;
  /** Called synchronously for every store event (after the cache took it); only enqueues. */
  onEvent?(event: StoreEvent, old: KubeObject | undefined): void;
  /** Handles one queued key (usually "<namespace>/<name>"). May write to the store. */
  reconcile(key: string): void;
  /** Called once after the cache is filled: enqueue what needs a look (state loaded from a file). */
  resync?(): void;
}

// ---------------------------------------------------------------- object helpers

/** RFC 3339 with seconds precision, as metav1.Time is written. */
export function isoSeconds(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** A copy of an object a controller changes (a JSON copy: lib/sandbox/json.ts). */
export const copy = jsonCopy;

export function meta(obj: KubeObject): ObjectMeta {
  return obj.metadata;
}

/** `obj.spec` / `obj.status` as a typed record (the caller states the shape it expects). */
export function specOf<T>(obj: KubeObject | undefined): T {
  return ((obj?.spec as T | undefined) ?? {}) as T;
}

export function statusOf<T>(obj: KubeObject | undefined): T {
  return ((obj?.status as T | undefined) ?? {}) as T;
}

export function ownerReferenceTo(owner: KubeObject): OwnerReference {
  return {
    apiVersion: owner.apiVersion,
    kind: owner.kind,
    name: owner.metadata.name,
    uid: owner.metadata.uid ?? "",
    controller: true,
    blockOwnerDeletion: true,
  };
}

/**
 * Adopts the orphans of `resource` that `owner`'s selector picks (as the real controllers' ControllerRefManager does):
 * they get a controller ownerReference to it. Returns how many were adopted.
 */
export function adoptOrphans(
  ctx: Pick<Context, "cache" | "store">,
  owner: KubeObject,
  resource: string,
  matches: (labels: Record<string, string> | undefined) => boolean,
  eligible: (obj: KubeObject) => boolean = () => true,
): number {
  let adopted = 0;
  for (const orphan of ctx.cache.orphans(resource, owner.metadata.namespace)) {
    if (orphan.metadata.deletionTimestamp !== undefined || !eligible(orphan) || !matches(orphan.metadata.labels))
      continue;
    const next = copy(orphan);
    next.metadata.ownerReferences = [...(next.metadata.ownerReferences ?? []), ownerReferenceTo(owner)];
    try {
      ctx.store.update(resource, next);
      adopted++;
    } catch (err) {
      if (!isNotFound(err) && statusOfError(err).code !== 409) throw err;
    }
  }
  return adopted;
}

export function controllerOf(obj: KubeObject): OwnerReference | undefined {
  return obj.metadata.ownerReferences?.find((o) => o.controller);
}

/** Writes `obj.status` through the status subresource when the kind has one. */
export function writeStatus(store: Store, resource: string, obj: KubeObject): KubeObject {
  const type = store.types.byKey(resource);
  if (type?.subresources?.includes("status")) return store.update(resource, obj, { subresource: "status" });
  return store.update(resource, obj);
}

export interface LabelSelectorRequirement {
  key: string;
  operator: string;
  values?: string[];
}
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

/** Does a LabelSelector select these labels? An empty selector selects everything; a missing one nothing. */
export function selectorMatches(
  selector: LabelSelector | undefined,
  labels: Record<string, string> | undefined,
): boolean {
  if (!selector) return false;
  const l = labels ?? {};
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (l[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(l, e.key);
    const value = l[e.key];
    switch (e.operator) {
      case "In":
        if (!has || !(e.values ?? []).includes(value ?? "")) return false;
        break;
      case "NotIn":
        if (has && (e.values ?? []).includes(value ?? "")) return false;
        break;
      case "Exists":
        if (!has) return false;
        break;
      case "DoesNotExist":
        if (has) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

/** Does a Service-style map selector (`spec.selector`) select these labels? An empty map selects nothing. */
export function mapSelectorMatches(
  selector: Record<string, string> | undefined,
  labels: Record<string, string> | undefined,
): boolean {
  if (!selector || Object.keys(selector).length === 0) return false;
  const l = labels ?? {};
  for (const [k, v] of Object.entries(selector)) if (l[k] !== v) return false;
  return true;
}

/** Reads a StatusError-like thrown value: HTTP code, reason and message. */
export function statusOfError(err: unknown): { code: number; reason: string; message: string } {
  if (err !== null && typeof err === "object") {
    const status = (err as { status?: unknown }).status;
    if (status !== null && typeof status === "object") {
      const s = status as { code?: unknown; reason?: unknown; message?: unknown };
      return {
        code: typeof s.code === "number" ? s.code : 500,
        reason: typeof s.reason === "string" ? s.reason : "",
        message: typeof s.message === "string" ? s.message : String((err as { message?: unknown }).message),
      };
    }
    if (err instanceof Error) return { code: 500, reason: "InternalError", message: err.message };
  }
  return { code: 500, reason: "InternalError", message: String(err) };
}

export function isNotFound(err: unknown): boolean {
  return statusOfError(err).code === 404;
}

export function isAlreadyExists(err: unknown): boolean {
  const s = statusOfError(err);
  return s.code === 409 && s.reason === "AlreadyExists";
}

/** Deletes, treating "already gone" as done. */
export function deleteQuietly(
  store: Store,
  resource: string,
  namespace: string | undefined,
  name: string,
  propagationPolicy: "Orphan" | "Background" | "Foreground" = "Background",
): boolean {
  try {
    store.delete(resource, namespace, name, { propagationPolicy });
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

export interface Condition {
  type: string;
  status: "True" | "False" | "Unknown";
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
  lastUpdateTime?: string;
  lastProbeTime?: string | null;
  lastHeartbeatTime?: string;
}

export function findCondition(conditions: Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}
