/**
 * The sandbox's object store: in memory, synchronous, one global integer resourceVersion, objects indexed by
 * resource key, namespace and name. Public reads and writes deep-copy in and out; the HTTP layer uses the `*Ref`
 * methods, which hand out the stored (never mutated) objects without copying.
 */
import { randomUUID } from "node:crypto";
import { jsonCopy } from "./json.ts";
import { combineMatchers, parseFieldSelector, parseLabelSelector, type Matcher } from "./selectors.ts";
import {
  alreadyExistsError,
  badRequestError,
  conflictError,
  forbiddenError,
  invalidError,
  notFoundError,
  OBJECT_MODIFIED,
  type StatusCause,
} from "./status.ts";
import {
  groupVersionOf,
  RESOURCE_TYPES,
  type KubeObject,
  type ResourceType,
  type StoreEvent,
  type WatchEventType,
} from "./types.ts";

export interface AdmissionRequest {
  operation: "CREATE" | "UPDATE" | "DELETE";
  resource: ResourceType;
  /** The object about to be stored (CREATE/UPDATE: plugins may change it) or deleted. */
  object: KubeObject;
  oldObject?: KubeObject;
}
export type AdmissionPlugin = (request: AdmissionRequest) => void;

/** One change, as kept in the watch history. `object` is the stored object: never mutate it. */
export interface HistoryEntry {
  rv: number;
  type: WatchEventType;
  resource: ResourceType;
  object: KubeObject;
  /** The object as it was before this change (undefined for ADDED). */
  old?: KubeObject;
}

export interface ListOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
}

export interface StoreState {
  resourceVersion: string;
  objects: { key: string; object: KubeObject }[];
}

export interface StoreOptions {
  /** How many changes are kept for watches that resume from a resourceVersion (default 20000). */
  historySize?: number;
  /** Seed default, kube-system, kube-public and kube-node-lease (default true). */
  seedNamespaces?: boolean;
  now?: () => Date;
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** Kinds whose names must be DNS-1123 labels rather than subdomains. */
const LABEL_NAMED = new Set(["namespaces", "services"]);
const GENERATE_CHARS = "bcdfghjklmnpqrstvwxz2456789";
const SEEDED_NAMESPACES = ["default", "kube-system", "kube-public", "kube-node-lease"];

/** A copy of a stored (JSON) value: what a JSON round trip gives (lib/sandbox/json.ts). */
export const clone = jsonCopy;

/** Order-insensitive deep equality of JSON values. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!jsonEqual(a[i], b[i])) return false;
    return true;
  }
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  const ka = Object.keys(ra).filter((k) => ra[k] !== undefined);
  const kb = Object.keys(rb).filter((k) => rb[k] !== undefined);
  if (ka.length !== kb.length) return false;
  for (const k of ka) if (!Object.hasOwn(rb, k) || !jsonEqual(ra[k], rb[k])) return false;
  return true;
}

/** RFC 3339 with second precision, as Kubernetes writes timestamps. */
export function timestamp(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

const DNS1123_SUBDOMAIN_MESSAGE =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const DNS1123_LABEL_MESSAGE =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1035_LABEL_MESSAGE =
  "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

/** The field errors of an object's name, as kube-apiserver reports them. */
export function nameCauses(rt: ResourceType, name: string): StatusCause[] {
  if (name === "") {
    return [
      {
        reason: "FieldValueRequired",
        field: "metadata.name",
        message: "Required value: name or generateName is required",
      },
    ];
  }
  if (rt.group === "rbac.authorization.k8s.io") {
    // RBAC names are path segments ("system:discovery" is fine): ValidateRBACName = path.IsValidPathSegmentName
    const bad =
      name === "." || name === ".."
        ? `may not be '${name}'`
        : /[/%]/.test(name)
          ? `may not contain '${name.includes("/") ? "/" : "%"}'`
          : undefined;
    return bad === undefined
      ? []
      : [{ reason: "FieldValueInvalid", field: "metadata.name", message: `Invalid value: "${name}": ${bad}` }];
  }
  if (rt.resource === "services" && rt.group === "") {
    if (!/^[a-z]([-a-z0-9]*[a-z0-9])?$/.test(name) || name.length > 63) {
      return [
        {
          reason: "FieldValueInvalid",
          field: "metadata.name",
          message: `Invalid value: "${name}": ${DNS1035_LABEL_MESSAGE}`,
        },
      ];
    }
    return [];
  }
  if (LABEL_NAMED.has(rt.resource) && rt.group === "") {
    if (name.length > 63) {
      return [
        {
          reason: "FieldValueInvalid",
          field: "metadata.name",
          message: `Invalid value: "${name}": must be no more than 63 characters`,
        },
      ];
    }
    if (!DNS1123_LABEL.test(name)) {
      return [
        {
          reason: "FieldValueInvalid",
          field: "metadata.name",
          message: `Invalid value: "${name}": ${DNS1123_LABEL_MESSAGE}`,
        },
      ];
    }
    return [];
  }
  if (name.length > 253) {
    return [
      {
        reason: "FieldValueInvalid",
        field: "metadata.name",
        message: `Invalid value: "${name}": must be no more than 253 characters`,
      },
    ];
  }
  if (!DNS1123_SUBDOMAIN.test(name)) {
    return [
      {
        reason: "FieldValueInvalid",
        field: "metadata.name",
        message: `Invalid value: "${name}": ${DNS1123_SUBDOMAIN_MESSAGE}`,
      },
    ];
  }
  return [];
}

class TypeRegistry {
  private readonly keyed = new Map<string, ResourceType>();
  private readonly kinded = new Map<string, ResourceType>();
  private readonly list: ResourceType[];
  constructor(types: readonly ResourceType[]) {
    this.list = [...types];
    for (const t of types) {
      this.keyed.set(t.key, t);
      this.kinded.set(`${groupVersionOf(t)}/${t.kind}`, t);
    }
  }
  byKey(key: string): ResourceType | undefined {
    return this.keyed.get(key);
  }
  byKind(apiVersion: string, kind: string): ResourceType | undefined {
    return this.kinded.get(`${apiVersion}/${kind}`);
  }
  /** The type served at /api(s)/<group>/<version>/<resource>. */
  byResource(group: string, version: string, resource: string): ResourceType | undefined {
    const t = this.keyed.get(group === "" ? resource : `${resource}.${group}`);
    return t !== undefined && t.version === version ? t : undefined;
  }
  all(): ResourceType[] {
    return [...this.list];
  }
}

export class Store {
  readonly types: TypeRegistry;
  private readonly data = new Map<string, Map<string, Map<string, KubeObject>>>();
  private readonly sortedCache = new Map<string, Map<string, KubeObject[]>>();
  private rv = 0;
  private readonly listeners = new Set<(event: StoreEvent) => void>();
  private readonly rawListeners = new Set<(entry: HistoryEntry) => void>();
  private readonly admission: AdmissionPlugin[] = [];
  private readonly history: HistoryEntry[] = [];
  private historyFloor = 0;
  private readonly historySize: number;
  private readonly now: () => Date;

  constructor(options: StoreOptions = {}) {
    this.types = new TypeRegistry(RESOURCE_TYPES);
    this.historySize = options.historySize ?? 20000;
    this.now = options.now ?? (() => new Date());
    for (const t of RESOURCE_TYPES) this.data.set(t.key, new Map());
    if (options.seedNamespaces ?? true) {
      for (const name of SEEDED_NAMESPACES) {
        this.create("namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name } });
      }
    }
  }

  // ---- reads ------------------------------------------------------------------------------------------------

  get(key: string, namespace: string | undefined, name: string): KubeObject | undefined {
    return clone(this.getRef(key, namespace, name));
  }

  list(key: string, opts: ListOptions = {}): { items: KubeObject[]; resourceVersion: string } {
    const matcher = combineMatchers(parseLabelSelector(opts.labelSelector), parseFieldSelector(opts.fieldSelector));
    return {
      items: clone(this.listRefs(key, opts.namespace, matcher)),
      resourceVersion: this.currentResourceVersion(),
    };
  }

  /** The stored object itself (do not mutate it). */
  getRef(key: string, namespace: string | undefined, name: string): KubeObject | undefined {
    const rt = this.requireType(key);
    return this.data
      .get(key)
      ?.get(rt.namespaced ? (namespace ?? "") : "")
      ?.get(name);
  }

  /** Stored objects (do not mutate them), sorted by namespace then name, like etcd's key order. */
  listRefs(key: string, namespace?: string, matcher?: Matcher): KubeObject[] {
    const rt = this.requireType(key);
    const byNs = this.data.get(key);
    if (byNs === undefined) return [];
    const cacheKey = rt.namespaced && namespace !== undefined && namespace !== "" ? namespace : "*";
    let perKey = this.sortedCache.get(key);
    if (perKey === undefined) {
      perKey = new Map();
      this.sortedCache.set(key, perKey);
    }
    let sorted = perKey.get(cacheKey);
    if (sorted === undefined) {
      const namespaces = cacheKey === "*" ? [...byNs.keys()].sort() : [cacheKey];
      sorted = [];
      for (const ns of namespaces) {
        const objects = byNs.get(ns);
        if (objects === undefined) continue;
        const names = [...objects.keys()].sort();
        for (const n of names) sorted.push(objects.get(n) as KubeObject);
      }
      perKey.set(cacheKey, sorted);
    }
    return matcher === undefined ? sorted.slice() : sorted.filter(matcher);
  }

  /** How many objects of a kind there are (in a namespace). */
  count(key: string, namespace?: string): number {
    const byNs = this.data.get(key);
    if (byNs === undefined) return 0;
    if (namespace !== undefined && namespace !== "") return byNs.get(namespace)?.size ?? 0;
    let n = 0;
    for (const m of byNs.values()) n += m.size;
    return n;
  }

  currentResourceVersion(): string {
    return String(this.rv);
  }

  /**
   * The changes after `rv` (for a watch that resumes), or undefined when some of them are no longer kept
   * (the watch must answer 410 Expired).
   */
  changesSince(rv: number): HistoryEntry[] | undefined {
    if (rv < this.historyFloor) return undefined;
    // history is ordered by rv: binary search the first entry after rv
    let lo = 0;
    let hi = this.history.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.history[mid] as HistoryEntry).rv <= rv) lo = mid + 1;
      else hi = mid;
    }
    return this.history.slice(lo);
  }

  /** The oldest resourceVersion a watch may resume from. */
  oldestResumableVersion(): number {
    return this.historyFloor;
  }

  // ---- writes -----------------------------------------------------------------------------------------------

  /** Sets uid, creationTimestamp, resourceVersion, generation=1 (generateName supported). Runs admission. */
  create(key: string, object: KubeObject, opts: { dryRun?: boolean } = {}): KubeObject {
    const rt = this.requireType(key);
    if (!isRecord(object)) throw badRequestError("the object to create must be a JSON object");
    const obj = clone(object);
    obj.apiVersion = groupVersionOf(rt);
    obj.kind = rt.kind;
    if (!isRecord(obj.metadata)) obj.metadata = { name: "" };
    const meta = obj.metadata;
    if (
      (meta.name === undefined || meta.name === "") &&
      typeof meta.generateName === "string" &&
      meta.generateName !== ""
    ) {
      meta.name = this.generateName(rt, meta.namespace, meta.generateName);
    }
    if (typeof meta.name !== "string") meta.name = "";
    const namespace = this.checkNamespaceForCreate(rt, meta.namespace, meta.name);
    if (namespace !== undefined) meta.namespace = namespace;
    else delete meta.namespace;
    const causes = nameCauses(rt, meta.name);
    if (causes.length > 0) throw invalidError(rt, meta.name, causes);
    if (this.getRef(key, namespace, meta.name) !== undefined) throw alreadyExistsError(rt, meta.name);
    meta.uid = randomUUID();
    meta.creationTimestamp = timestamp(this.now());
    meta.generation = 1;
    delete meta.resourceVersion;
    delete meta.deletionTimestamp;
    delete meta.deletionGracePeriodSeconds;
    this.applyDefaults(rt, obj);
    this.admit({ operation: "CREATE", resource: rt, object: obj });
    // admission plugins may not rename or move the object
    obj.metadata.name = meta.name;
    if (namespace !== undefined) obj.metadata.namespace = namespace;
    if (opts.dryRun === true) return obj;
    obj.metadata.resourceVersion = String(++this.rv);
    const previous = this.put(rt, obj);
    this.emit("ADDED", rt, obj, previous);
    return clone(obj);
  }

  /**
   * Replace. If object.metadata.resourceVersion is set and stale: 409 Conflict. Bumps generation when `spec` changed.
   * subresource "status": only `status` is taken from object; otherwise `status` of kinds with a status subresource
   * is kept. Runs admission (not for status). An update that changes nothing stores nothing and keeps the
   * resourceVersion. Removing the last finalizer of an object being deleted removes it.
   */
  update(key: string, object: KubeObject, opts: { subresource?: "status"; dryRun?: boolean } = {}): KubeObject {
    const rt = this.requireType(key);
    if (!isRecord(object) || !isRecord(object.metadata))
      throw badRequestError("the object to update must have metadata");
    const name = typeof object.metadata.name === "string" ? object.metadata.name : "";
    const namespace = rt.namespaced ? (object.metadata.namespace ?? "") : undefined;
    const existing = this.getRef(key, namespace, name);
    if (existing === undefined) throw notFoundError(rt, name);
    const wanted = object.metadata.resourceVersion;
    if (wanted !== undefined && wanted !== "" && wanted !== existing.metadata.resourceVersion) {
      throw conflictError(rt, name, OBJECT_MODIFIED);
    }
    let next: KubeObject;
    if (opts.subresource === "status") {
      next = clone(existing);
      if (object.status === undefined) delete next.status;
      else next.status = clone(object.status);
    } else {
      next = clone(object);
      next.apiVersion = groupVersionOf(rt);
      next.kind = rt.kind;
      const m = next.metadata;
      const em = existing.metadata;
      m.name = em.name;
      if (rt.namespaced) m.namespace = em.namespace ?? "";
      else delete m.namespace;
      for (const field of ["uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"] as const) {
        if (em[field] === undefined) delete m[field];
        else (m as unknown as Record<string, unknown>)[field] = em[field];
      }
      delete m.generateName;
      if (em.generateName !== undefined) m.generateName = em.generateName;
      m.generation = em.generation ?? 1;
      if (rt.subresources?.includes("status") === true) {
        if (existing.status === undefined) delete next.status;
        else next.status = clone(existing.status);
      }
      if (rt.key === "namespaces") {
        const spec = isRecord(next.spec) ? next.spec : {};
        const oldSpec = isRecord(existing.spec) ? existing.spec : {};
        spec.finalizers = clone(oldSpec.finalizers ?? []);
        next.spec = spec;
      }
      this.applyDefaults(rt, next);
      this.admit({ operation: "UPDATE", resource: rt, object: next, oldObject: clone(existing) });
      next.metadata.name = em.name;
      if (rt.namespaced) next.metadata.namespace = em.namespace ?? "";
      if (!jsonEqual(next.spec, existing.spec)) next.metadata.generation = (em.generation ?? 1) + 1;
    }
    next.metadata.resourceVersion = existing.metadata.resourceVersion ?? "";
    if (jsonEqual(next, existing)) return clone(existing);
    if (opts.dryRun === true) return next;
    const finalizers = next.metadata.finalizers ?? [];
    next.metadata.resourceVersion = String(++this.rv);
    if (next.metadata.deletionTimestamp !== undefined && finalizers.length === 0 && rt.key !== "namespaces") {
      const previous = this.remove(rt, next);
      this.emit("DELETED", rt, next, previous);
      return clone(next);
    }
    const previous = this.put(rt, next);
    this.emit("MODIFIED", rt, next, previous);
    return clone(next);
  }

  /**
   * With finalizers: sets deletionTimestamp (MODIFIED) and returns it; the object goes when finalizers are emptied
   * by an update. Without: removes it (DELETED). Namespaces become Terminating until finalizeNamespace().
   * propagationPolicy "Orphan" strips the ownerReference from dependents; "Background" (default) and "Foreground"
   * leave dependents to the garbage-collector controller.
   */
  delete(
    key: string,
    namespace: string | undefined,
    name: string,
    opts: { propagationPolicy?: "Orphan" | "Background" | "Foreground"; dryRun?: boolean } = {},
  ): KubeObject {
    const rt = this.requireType(key);
    const existing = this.getRef(key, namespace, name);
    if (existing === undefined) throw notFoundError(rt, name);
    if (existing.metadata.deletionTimestamp !== undefined) return clone(existing);
    this.admit({ operation: "DELETE", resource: rt, object: clone(existing) });
    if (rt.key === "namespaces" || (existing.metadata.finalizers ?? []).length > 0) {
      const next = clone(existing);
      next.metadata.deletionTimestamp = timestamp(this.now());
      next.metadata.deletionGracePeriodSeconds = 0;
      if (rt.key === "namespaces") {
        next.status = { ...(isRecord(next.status) ? next.status : {}), phase: "Terminating" };
      }
      if (opts.dryRun === true) return next;
      next.metadata.resourceVersion = String(++this.rv);
      const previous = this.put(rt, next);
      this.emit("MODIFIED", rt, next, previous);
      return clone(next);
    }
    if (opts.dryRun === true) return clone(existing);
    if (opts.propagationPolicy === "Orphan") this.orphanDependents(rt, existing);
    const gone = clone(existing);
    gone.metadata.resourceVersion = String(++this.rv);
    const previous = this.remove(rt, gone);
    this.emit("DELETED", rt, gone, previous);
    return clone(gone);
  }

  /** Removes a Terminating namespace (the namespace controller calls it once the namespace is empty). */
  finalizeNamespace(name: string): void {
    const rt = this.requireType("namespaces");
    const existing = this.getRef("namespaces", undefined, name);
    if (existing === undefined) throw notFoundError(rt, name);
    const gone = clone(existing);
    if (gone.metadata.deletionTimestamp === undefined) gone.metadata.deletionTimestamp = timestamp(this.now());
    gone.spec = { ...(isRecord(gone.spec) ? gone.spec : {}), finalizers: [] };
    gone.status = { ...(isRecord(gone.status) ? gone.status : {}), phase: "Terminating" };
    gone.metadata.resourceVersion = String(++this.rv);
    const previous = this.remove(rt, gone);
    this.emit("DELETED", rt, gone, previous);
  }

  // ---- plumbing ---------------------------------------------------------------------------------------------

  /** Synchronous fan-out after each change; each listener gets its own copy. Listeners must not throw and should defer their own writes. */
  subscribe(listener: (event: StoreEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Like subscribe, without copies: the entry's object is the stored one (never mutate it). For the HTTP layer. */
  subscribeRaw(listener: (entry: HistoryEntry) => void): () => void {
    this.rawListeners.add(listener);
    return () => this.rawListeners.delete(listener);
  }

  /** Admission: called before create/update/delete is stored (not for status-subresource updates); throw a StatusError to refuse. */
  addAdmission(plugin: AdmissionPlugin): void {
    this.admission.push(plugin);
  }

  toJSON(): StoreState {
    const objects: StoreState["objects"] = [];
    for (const [key, byNs] of this.data) {
      for (const objs of byNs.values()) for (const object of objs.values()) objects.push({ key, object });
    }
    return { resourceVersion: this.currentResourceVersion(), objects: clone(objects) };
  }

  static fromJSON(state: StoreState, options: Omit<StoreOptions, "seedNamespaces"> = {}): Store {
    const store = new Store({ ...options, seedNamespaces: false });
    let max = Number.parseInt(state.resourceVersion, 10) || 0;
    for (const { key, object } of state.objects) {
      const rt = store.types.byKey(key);
      if (rt === undefined || !isRecord(object) || !isRecord(object.metadata)) continue;
      const obj = clone(object);
      max = Math.max(max, Number.parseInt(obj.metadata.resourceVersion ?? "0", 10) || 0);
      store.put(rt, obj);
    }
    store.rv = max;
    store.historyFloor = max;
    return store;
  }

  private requireType(key: string): ResourceType {
    const rt = this.types.byKey(key);
    if (rt === undefined) throw badRequestError(`the server does not serve the resource "${key}"`);
    return rt;
  }

  private checkNamespaceForCreate(rt: ResourceType, namespace: string | undefined, name: string): string | undefined {
    if (!rt.namespaced) return undefined;
    if (namespace === undefined || namespace === "") {
      throw invalidError(rt, name, [
        { reason: "FieldValueRequired", field: "metadata.namespace", message: "Required value" },
      ]);
    }
    const ns = this.getRef("namespaces", undefined, namespace);
    if (ns === undefined) throw notFoundError({ group: "", resource: "namespaces" }, namespace);
    if (ns.metadata.deletionTimestamp !== undefined && rt.key !== "events") {
      const err = forbiddenError(
        rt,
        name,
        `unable to create new content in namespace ${namespace} because it is being terminated`,
      );
      err.status.details = {
        ...err.status.details,
        causes: [
          {
            reason: "NamespaceTerminating",
            message: `namespace ${namespace} is being terminated`,
            field: "metadata.namespace",
          },
        ],
      };
      throw err;
    }
    return namespace;
  }

  private generateName(rt: ResourceType, namespace: string | undefined, prefix: string): string {
    for (;;) {
      let suffix = "";
      for (let i = 0; i < 5; i++) suffix += GENERATE_CHARS[Math.floor(Math.random() * GENERATE_CHARS.length)];
      const name = `${prefix}${suffix}`;
      if (
        this.data
          .get(rt.key)
          ?.get(rt.namespaced ? (namespace ?? "") : "")
          ?.has(name) !== true
      )
        return name;
    }
  }

  private applyDefaults(rt: ResourceType, obj: KubeObject): void {
    if (rt.key === "namespaces") {
      const labels = obj.metadata.labels ?? {};
      labels["kubernetes.io/metadata.name"] = obj.metadata.name;
      obj.metadata.labels = labels;
      if (!isRecord(obj.spec)) obj.spec = { finalizers: ["kubernetes"] };
      else if (!Array.isArray(obj.spec.finalizers)) obj.spec.finalizers = ["kubernetes"];
      if (!isRecord(obj.status)) obj.status = { phase: "Active" };
      else if (obj.status.phase === undefined) obj.status.phase = "Active";
    }
  }

  private admit(request: AdmissionRequest): void {
    for (const plugin of this.admission) plugin(request);
  }

  private orphanDependents(owner: ResourceType, object: KubeObject): void {
    const uid = object.metadata.uid;
    if (uid === undefined) return;
    for (const rt of this.types.all()) {
      const byNs = this.data.get(rt.key);
      if (byNs === undefined) continue;
      const spaces = owner.namespaced ? [object.metadata.namespace ?? ""] : [...byNs.keys()];
      for (const ns of spaces) {
        for (const dep of [...(byNs.get(ns)?.values() ?? [])]) {
          const refs = dep.metadata.ownerReferences;
          if (refs === undefined || !refs.some((r) => r.uid === uid)) continue;
          const next = clone(dep);
          next.metadata.ownerReferences = refs.filter((r) => r.uid !== uid);
          if (next.metadata.ownerReferences.length === 0) delete next.metadata.ownerReferences;
          next.metadata.resourceVersion = String(++this.rv);
          const previous = this.put(rt, next);
          this.emit("MODIFIED", rt, next, previous);
        }
      }
    }
  }

  private put(rt: ResourceType, obj: KubeObject): KubeObject | undefined {
    const byNs = this.data.get(rt.key) as Map<string, Map<string, KubeObject>>;
    const ns = rt.namespaced ? (obj.metadata.namespace ?? "") : "";
    let objects = byNs.get(ns);
    if (objects === undefined) {
      objects = new Map();
      byNs.set(ns, objects);
    }
    const previous = objects.get(obj.metadata.name);
    objects.set(obj.metadata.name, obj);
    this.sortedCache.delete(rt.key);
    return previous;
  }

  private remove(rt: ResourceType, obj: KubeObject): KubeObject | undefined {
    const byNs = this.data.get(rt.key) as Map<string, Map<string, KubeObject>>;
    const ns = rt.namespaced ? (obj.metadata.namespace ?? "") : "";
    const objects = byNs.get(ns);
    const previous = objects?.get(obj.metadata.name);
    objects?.delete(obj.metadata.name);
    if (objects !== undefined && objects.size === 0) byNs.delete(ns);
    this.sortedCache.delete(rt.key);
    return previous;
  }

  private emit(type: WatchEventType, rt: ResourceType, object: KubeObject, old: KubeObject | undefined): void {
    const entry: HistoryEntry = { rv: this.rv, type, resource: rt, object, ...(old === undefined ? {} : { old }) };
    this.history.push(entry);
    if (this.history.length > this.historySize * 1.25) {
      const drop = this.history.length - this.historySize;
      this.historyFloor = (this.history[drop - 1] as HistoryEntry).rv;
      this.history.splice(0, drop);
    }
    for (const listener of this.rawListeners) {
      try {
        listener(entry);
      } catch {
        // a listener's failure must not undo or interrupt a stored change
      }
    }
    for (const listener of this.listeners) {
      try {
        listener({ type, resource: rt, object: clone(object) });
      } catch {
        // idem
      }
    }
  }
}
