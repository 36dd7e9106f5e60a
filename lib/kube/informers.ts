/**
 * Informers (list + watch, client-node's ListWatch) for the kinds the suite owns, filtered to what the suite manages
 * (`app.kubernetes.io/managed-by=moleculer-k8s`), with a cache queryable by kind/namespace/name/labelSelector.
 *
 * - client-node re-lists by itself on 410 Gone and reconnects (1 s → 30 s) after a clean close or a quiet timeout.
 * - Any other failure (list refused, connection refused, cluster gone) stops a ListWatch: we restart it with a capped
 *   backoff (1 s → 30 s) and a fresh list (so deletions made while we were away are seen), and report each failure.
 * - Events (core/v1 Event) are NOT watched: they are unlabelled, high-volume and short-lived; `v1.kube.events` lists
 *   them on demand for one namespace (and object).
 * - `stop()` aborts every watch and clears every timer (no open handles).
 */
import {
  ListWatch,
  Watch,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
} from "@kubernetes/client-node";
import { secretDataDigest } from "../manifests/env.ts";
import {
  DATA_DIGEST_ANNOTATION,
  DATA_KEYS_ANNOTATION,
  ID_LABEL,
  MANAGED_BY,
  MANAGED_BY_LABEL,
} from "../manifests/labels.ts";
import { watchStream } from "./http.ts";
import type { ObjectApi } from "./object-api.ts";
import { freezePooled, StringPool } from "./plain.ts";
import { parseLabelSelector } from "./selector.ts";

/** The label every object the suite renders carries (lib/manifests/labels.ts): the informers watch only those. */
export const MANAGED_BY_SELECTOR = `${MANAGED_BY_LABEL}=${MANAGED_BY}`;

/** A watched resource: `plural` names the broadcast events (`kube.<plural>.added`). */
export interface WatchedKind {
  plural: string;
  apiVersion: string;
  kind: string;
  namespaced: boolean;
}

export const WATCHED_KINDS: readonly WatchedKind[] = [
  { plural: "namespaces", apiVersion: "v1", kind: "Namespace", namespaced: false },
  { plural: "resourcequotas", apiVersion: "v1", kind: "ResourceQuota", namespaced: true },
  { plural: "limitranges", apiVersion: "v1", kind: "LimitRange", namespaced: true },
  { plural: "persistentvolumeclaims", apiVersion: "v1", kind: "PersistentVolumeClaim", namespaced: true },
  { plural: "configmaps", apiVersion: "v1", kind: "ConfigMap", namespaced: true },
  { plural: "secrets", apiVersion: "v1", kind: "Secret", namespaced: true },
  { plural: "services", apiVersion: "v1", kind: "Service", namespaced: true },
  { plural: "deployments", apiVersion: "apps/v1", kind: "Deployment", namespaced: true },
  { plural: "replicasets", apiVersion: "apps/v1", kind: "ReplicaSet", namespaced: true },
  { plural: "pods", apiVersion: "v1", kind: "Pod", namespaced: true },
  { plural: "ingresses", apiVersion: "networking.k8s.io/v1", kind: "Ingress", namespaced: true },
  { plural: "jobs", apiVersion: "batch/v1", kind: "Job", namespaced: true },
];

/** The string values every watch cache of this process shares (lib/kube/plain.ts `StringPool`). */
const cachedStrings = new StringPool();

/**
 * The form an object is kept in, and handed to every reader as it is (kube.service answers cached lists with the cache's
 * own objects): the object as parsed from the server's JSON (a watch event, or an item of a list: lib/kube/object-api.ts
 * `listAsIs`), with its apiVersion and kind (a list's items come without), trimmed (`slim`), and frozen, so that no
 * reader can change what the others read. Its short strings are shared with the other cached objects (`cachedStrings`).
 */
export function cacheForm(obj: KubernetesObject, kind: WatchedKind): KubernetesObject {
  if (obj.apiVersion === undefined) obj.apiVersion = kind.apiVersion;
  if (obj.kind === undefined) obj.kind = kind.kind;
  return freezePooled(slim(obj, kind.kind), cachedStrings);
}

/** `/api/v1/pods`, `/apis/apps/v1/deployments`: the all-namespaces collection path. */
export function collectionPath(kind: WatchedKind): string {
  return `${kind.apiVersion.includes("/") ? "/apis" : "/api"}/${kind.apiVersion}/${kind.plural}`;
}

export type ChangeType = "added" | "modified" | "deleted";

export interface InformerCallbacks {
  /** A change seen by a watch or a (re-)list. The object is the cache's, in `cacheForm`: public and deep-frozen. */
  onChange(kind: WatchedKind, type: ChangeType, object: KubernetesObject): void;
  /** A list or watch failed; it is retried in `retryInMs` (attempt counts failures since the last good list). */
  onError(kind: WatchedKind, err: unknown, retryInMs: number, attempt: number): void;
  /** A (re-)list finished and the cache of this kind is current. */
  onSynced?(kind: WatchedKind): void;
}

export interface InformerTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface InformerOptions {
  kinds?: readonly WatchedKind[];
  /** Label selector for every kind; default MANAGED_BY_SELECTOR. */
  labelSelector?: string;
  backoff?: { initialMs: number; maxMs: number };
  /** Server-side watch timeout (seconds); the watch then reconnects from its resourceVersion. */
  watchTimeoutSeconds?: number;
  timers?: InformerTimers;
}

const realTimers: InformerTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** Backoff after the n-th consecutive failure (n >= 1): initial · 2^(n-1), capped. */
export function backoffDelay(attempt: number, initialMs: number, maxMs: number): number {
  return Math.min(maxMs, initialMs * 2 ** Math.max(0, Math.min(attempt - 1, 30)));
}

type Trimmable = {
  kind?: string;
  metadata?: { managedFields?: unknown; annotations?: Record<string, string> } | null;
  spec?: Record<string, unknown> | null;
} | null;

/** A container of a cached Pod: what the suite reads of it (`pods`, `state`, the logs' default container). */
function containerNameAndImage(c: { name?: unknown; image?: unknown }): { name?: unknown; image?: unknown } {
  return c.image === undefined ? { name: c.name } : { name: c.name, image: c.image };
}

/**
 * Trims an object about to enter the cache (a parsed answer nobody else holds) to what the suite reads, the cache being
 * most of the suite's memory per deployment (docs/performance.md, "Memory"); answers the trimmed object (for a Secret a
 * new one, else `obj` itself):
 * - every kind: `metadata.managedFields` (server-side apply's field ownership, often the biggest part of an object;
 *   callers and events never get it);
 * - Pods and ReplicaSets, which the suite watches but never writes: a ReplicaSet's pod template (a copy of its
 *   Deployment's), and a Pod's spec but for its containers' names and images and its node. `v1.kube.get` reads the
 *   whole object from the API server;
 * - a Secret's `data` and `stringData`: callers and events never get them (kube.service answers and broadcasts the
 *   cache's objects, and its toPublic strips them from what it reads elsewhere), so the suite does not keep Secret
 *   values in memory either; two annotations of the cached copy stand for them (`DATA_KEYS_ANNOTATION`, the keys, and
 *   `DATA_DIGEST_ANNOTATION`, a sha256 digest), which no object in the cluster carries.
 */
export function slim<T>(obj: T, kind = (obj as Trimmable)?.kind): T {
  // What is dropped is left out of a new object rather than deleted: `delete` turns an object into a dictionary-mode
  // one in V8, 3-5× the size (in a heap snapshot of 1,000 deployments, 1.9 MiB of cached metadata, ReplicaSet specs and
  // Secrets, docs/performance.md, change 37).
  if (obj === null || typeof obj !== "object") return obj;
  let o = obj as NonNullable<Trimmable>;
  const metadata = o.metadata;
  if (metadata !== undefined && metadata !== null && "managedFields" in metadata) {
    const { managedFields: _managedFields, ...rest } = metadata;
    o.metadata = rest;
  }
  if (kind === "Secret") {
    const { data, stringData: _stringData, ...rest } = o as { data?: Record<string, string>; stringData?: unknown };
    o = rest as NonNullable<Trimmable>;
    // What stands for the values: their keys and a digest, so that a value changed or a key added in the cluster
    // shows (the env objects' drift checks read them).
    const meta = (o.metadata ?? {}) as { annotations?: Record<string, string> };
    o.metadata = {
      ...meta,
      annotations: {
        ...meta.annotations,
        [DATA_KEYS_ANNOTATION]: Object.keys(data ?? {})
          .sort()
          .join(","),
        [DATA_DIGEST_ANNOTATION]: secretDataDigest(data),
      },
    };
  }
  const spec = o.spec;
  if (spec === undefined || spec === null) return o as T;
  if (kind === "ReplicaSet") {
    const { template: _template, ...rest } = spec;
    (o as { spec: unknown }).spec = rest;
  } else if (kind === "Pod") {
    const containers = spec.containers as { name?: unknown; image?: unknown }[] | undefined;
    const initContainers = spec.initContainers as { name?: unknown; image?: unknown }[] | undefined;
    (o as { spec: unknown }).spec = {
      ...(containers === undefined ? {} : { containers: containers.map(containerNameAndImage) }),
      ...(initContainers === undefined ? {} : { initContainers: initContainers.map(containerNameAndImage) }),
      ...(spec.nodeName === undefined ? {} : { nodeName: spec.nodeName }),
    };
  }
  return o as T;
}

/**
 * client-node's Watch, read with undici's `request` (lib/kube/http.ts `watchStream`), with two additions: it asks for
 * bookmarks and a server-side timeout, and, when told to (`relistNext`), answers the next watch with a 410 Gone so
 * that ListWatch drops its resourceVersion and lists afresh.
 */
class RelistingWatch extends Watch {
  relistNext = false;
  /** Set by Informers.stop(): a reconnect that was waiting out its delay must not open a new watch. */
  stopped = false;
  readonly #timeoutSeconds: number;
  readonly #kind: WatchedKind;

  constructor(config: KubeConfig, timeoutSeconds: number, kind: WatchedKind) {
    super(config);
    this.#timeoutSeconds = timeoutSeconds;
    this.#kind = kind;
  }

  override async watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    if (this.stopped) return new AbortController();
    if (this.relistNext) {
      this.relistNext = false;
      const controller = new AbortController();
      setImmediate(() => done(Object.assign(new Error("relist after a failure"), { statusCode: 410 })));
      return controller;
    }
    return watchStream(
      this.config,
      path,
      { ...queryParams, allowWatchBookmarks: true, timeoutSeconds: this.#timeoutSeconds },
      (phase, apiObj, watchObj) =>
        callback(
          phase,
          phase === "ADDED" || phase === "MODIFIED" || phase === "DELETED"
            ? cacheForm(apiObj as KubernetesObject, this.#kind)
            : apiObj,
          watchObj,
        ),
      done,
    );
  }
}

interface KindState {
  kind: WatchedKind;
  informer: ListWatch<KubernetesObject>;
  watch: RelistingWatch;
  synced: boolean;
  failures: number;
  lastError: string | undefined;
  timer: unknown;
  /**
   * The cached objects' keys (`<namespace>/<name>`) by their record-id label (ID_LABEL), kept from the add, update and
   * delete callbacks (a relist reports through them too): a list for one record (`moleculer-k8s/id=<id>`, what every
   * state, pods and create asks) reads that record's few objects instead of matching every cached one.
   */
  keysById: Map<string, Set<string>>;
  idByKey: Map<string, string>;
}

export interface KindStatus {
  synced: boolean;
  failures: number;
  lastError?: string;
  objects: number;
}

export class Informers {
  readonly #states = new Map<string, KindState>();
  readonly #callbacks: InformerCallbacks;
  readonly #timers: InformerTimers;
  readonly #backoff: { initialMs: number; maxMs: number };
  /** ListWatch's reconnect delays, so that stop() can end them (client-node's own delay cannot be cancelled). */
  readonly #delays = new Set<{ handle: unknown; resolve: () => void }>();
  #started = false;
  #stopped = false;

  constructor(kubeConfig: KubeConfig, api: ObjectApi, callbacks: InformerCallbacks, options: InformerOptions = {}) {
    this.#callbacks = callbacks;
    this.#timers = options.timers ?? realTimers;
    this.#backoff = options.backoff ?? { initialMs: 1000, maxMs: 30_000 };
    const labelSelector = options.labelSelector ?? MANAGED_BY_SELECTOR;
    const timeoutSeconds = options.watchTimeoutSeconds ?? 300;
    for (const kind of options.kinds ?? WATCHED_KINDS) {
      const watch = new RelistingWatch(kubeConfig, timeoutSeconds, kind);
      const state: KindState = {
        kind,
        watch,
        informer: undefined as unknown as ListWatch<KubernetesObject>,
        synced: false,
        failures: 0,
        lastError: undefined,
        timer: undefined,
        keysById: new Map(),
        idByKey: new Map(),
      };
      const list = async (): Promise<KubernetesListObject<KubernetesObject>> => {
        const result = await api.listAsIs(kind.apiVersion, kind.kind, { labelSelector });
        result.items = result.items.map((item) => cacheForm(item, kind));
        // ListWatch fills its cache synchronously after this promise settles; mark the kind current after that.
        setImmediate(() => this.#listed(state));
        return result;
      };
      state.informer = new ListWatch(collectionPath(kind), watch, list, false, labelSelector, undefined, {
        delayFn: (ms) => this.#delay(ms),
      });
      state.informer.on("add", (obj) => this.#change(state, "added", obj));
      state.informer.on("update", (obj) => this.#change(state, "modified", obj));
      state.informer.on("delete", (obj) => this.#change(state, "deleted", obj));
      state.informer.on("error", (err) => this.#failed(state, err));
      this.#states.set(key(kind.apiVersion, kind.kind), state);
    }
  }

  /** Starts every informer; returns at once (failures are retried in the background). */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    for (const state of this.#states.values()) this.#run(state);
  }

  /** Stops every watch and retry timer. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const d of this.#delays) {
      this.#timers.clearTimeout(d.handle);
      d.resolve();
    }
    this.#delays.clear();
    const stops: Promise<void>[] = [];
    for (const state of this.#states.values()) {
      state.watch.stopped = true;
      if (state.timer !== undefined) this.#timers.clearTimeout(state.timer);
      state.timer = undefined;
      state.synced = false;
      stops.push(state.informer.stop());
    }
    await Promise.all(stops);
  }

  /**
   * Restarts at once every watch waiting out its backoff (with a fresh list), e.g. when the API server is known to be
   * back; returns how many were restarted.
   */
  retryNow(): number {
    if (this.#stopped) return 0;
    let restarted = 0;
    for (const state of this.#states.values()) {
      if (state.timer === undefined) continue;
      this.#timers.clearTimeout(state.timer);
      state.timer = undefined;
      state.watch.relistNext = true;
      this.#run(state);
      restarted++;
    }
    return restarted;
  }

  /** True when some watch has failed and waits to be restarted. */
  failing(): boolean {
    return [...this.#states.values()].some((s) => s.timer !== undefined);
  }

  /** The watched kind for an apiVersion/kind, if it is watched. */
  lookup(apiVersion: string, kind: string): WatchedKind | undefined {
    return this.#states.get(key(apiVersion, kind))?.kind;
  }

  /** True when every kind has been listed and no watch is failing. */
  synced(): boolean {
    return [...this.#states.values()].every((s) => s.synced);
  }

  /** Per-kind health (for status/readiness). */
  status(): Record<string, KindStatus> {
    const out: Record<string, KindStatus> = {};
    for (const s of this.#states.values()) {
      out[s.kind.plural] = {
        synced: s.synced,
        failures: s.failures,
        ...(s.lastError === undefined ? {} : { lastError: s.lastError }),
        objects: s.informer.list().length,
      };
    }
    return out;
  }

  /**
   * Objects of a watched kind from the cache, or undefined when the kind is not watched or its cache is not current
   * (never listed, or its watch is failing): then ask the API server. The objects are the cache's own: copy them.
   * `name` keeps the objects of that name (what a field selector `metadata.name=<name>` selects).
   */
  list(
    apiVersion: string,
    kind: string,
    query: { namespace?: string; labelSelector?: string; name?: string } = {},
  ): readonly KubernetesObject[] | undefined {
    const state = this.#states.get(key(apiVersion, kind));
    if (state === undefined || !state.synced) return undefined;
    const matches = parseLabelSelector(query.labelSelector);
    if (query.name !== undefined) {
      // One name (`metadata.name=<name>`): the cache's map lookup, in the namespace or across all of them.
      const namespaces = query.namespace !== undefined ? [query.namespace] : state.kind.namespaced ? undefined : [""];
      const named =
        namespaces === undefined
          ? state.informer.list().filter((obj) => obj.metadata?.name === query.name)
          : namespaces.map((ns) => state.informer.get(query.name ?? "", ns)).filter((o) => o !== undefined);
      return named.filter((obj) => matches(obj.metadata?.labels));
    }
    const ids = matches.allowed.get(ID_LABEL);
    if (ids === undefined) return state.informer.list(query.namespace).filter((obj) => matches(obj.metadata?.labels));
    const found: KubernetesObject[] = [];
    for (const id of ids) {
      for (const objectKey of state.keysById.get(id) ?? []) {
        const slash = objectKey.indexOf("/");
        const namespace = objectKey.slice(0, slash);
        if (query.namespace !== undefined && namespace !== query.namespace) continue;
        // The cache's current object (the index keeps keys only): the full selector still decides.
        const obj = state.informer.get(objectKey.slice(slash + 1), namespace);
        if (obj !== undefined && matches(obj.metadata?.labels)) found.push(obj);
      }
    }
    return found;
  }

  /** One object from the cache; undefined = not cached (not watched, not current, or absent: ask the API). */
  get(apiVersion: string, kind: string, namespace: string | undefined, name: string): KubernetesObject | undefined {
    const state = this.#states.get(key(apiVersion, kind));
    if (state === undefined || !state.synced) return undefined;
    return state.informer.get(name, namespace);
  }

  #delay(ms: number): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const entry = { handle: undefined as unknown, resolve };
      entry.handle = this.#timers.setTimeout(() => {
        this.#delays.delete(entry);
        resolve();
      }, ms);
      this.#delays.add(entry);
    });
  }

  #run(state: KindState): void {
    if (this.#stopped) return;
    state.informer.start().catch((err: unknown) => this.#failed(state, err));
  }

  #listed(state: KindState): void {
    if (this.#stopped) return;
    state.synced = true;
    state.failures = 0;
    state.lastError = undefined;
    this.#callbacks.onSynced?.(state.kind);
  }

  #change(state: KindState, type: ChangeType, obj: KubernetesObject): void {
    if (this.#stopped) return;
    indexById(state, type, obj);
    if (obj.apiVersion === undefined) obj.apiVersion = state.kind.apiVersion;
    if (obj.kind === undefined) obj.kind = state.kind.kind;
    this.#callbacks.onChange(state.kind, type, obj);
  }

  #failed(state: KindState, err: unknown): void {
    if (this.#stopped || state.timer !== undefined) return;
    state.synced = false;
    state.failures++;
    state.lastError = err instanceof Error ? err.message : String(err);
    const delay = backoffDelay(state.failures, this.#backoff.initialMs, this.#backoff.maxMs);
    this.#callbacks.onError(state.kind, err, delay, state.failures);
    state.timer = this.#timers.setTimeout(() => {
      state.timer = undefined;
      // A fresh list on restart: what changed or went while the watch was down is then seen (and reported).
      state.watch.relistNext = true;
      this.#run(state);
    }, delay);
  }
}

/** Keeps `state.keysById` / `idByKey` in step with one change of the cache. */
function indexById(state: KindState, type: ChangeType, obj: KubernetesObject): void {
  const objectKey = `${obj.metadata?.namespace ?? ""}/${obj.metadata?.name ?? ""}`;
  const before = state.idByKey.get(objectKey);
  const after = type === "deleted" ? undefined : obj.metadata?.labels?.[ID_LABEL];
  if (before === after) return;
  if (before !== undefined) {
    const keys = state.keysById.get(before);
    keys?.delete(objectKey);
    if (keys?.size === 0) state.keysById.delete(before);
    state.idByKey.delete(objectKey);
  }
  if (after !== undefined) {
    let keys = state.keysById.get(after);
    if (keys === undefined) {
      keys = new Set();
      state.keysById.set(after, keys);
    }
    keys.add(objectKey);
    state.idByKey.set(objectKey, after);
  }
}

function key(apiVersion: string, kind: string): string {
  return `${apiVersion}/${kind}`;
}
