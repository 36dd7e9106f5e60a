/**
 * Services: a clusterIP from 10.96.0.0/12 (unique, stable, allocated by an admission plugin at create time, as the
 * apiserver's allocator does), nodePorts for NodePort/LoadBalancer services, and the Endpoints controller: an
 * Endpoints object `<svc>` listing the IPs of the pods the selector picks (ready ones in `addresses`, the others in
 * `notReadyAddresses`), kept in step with pod changes. Also the `kubernetes` Service of the default namespace.
 */
import type { KubeObject, StoreEvent } from "../types.ts";
import type { AdmissionRequest } from "../store.ts";
import { invalidError } from "../status.ts";
import { fnv32a, stableStringify } from "./hash.ts";
import { HOST_IP, podReady, podTerminal, type PodSpec, type PodStatus } from "./pods.ts";
import {
  R,
  copy,
  deleteQuietly,
  isAlreadyExists,
  isoSeconds,
  mapSelectorMatches,
  objectKey,
  splitKey,
  statusOf,
  type Context,
  type Controller,
} from "./runtime.ts";

interface ServicePort {
  name?: string;
  port: number;
  targetPort?: number | string;
  protocol?: string;
  nodePort?: number;
  appProtocol?: string;
}
interface ServiceSpec {
  type?: string;
  selector?: Record<string, string>;
  clusterIP?: string;
  clusterIPs?: string[];
  ports?: ServicePort[];
  publishNotReadyAddresses?: boolean;
}

/** 10.96.0.0/12 as integers. */
const BASE = (10 << 24) | (96 << 16);
const SIZE = 1 << 20;
export const KUBERNETES_SERVICE_IP = "10.96.0.1";

function ipOf(offset: number): string {
  const n = BASE + offset;
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/** Allocates cluster IPs: a hash of namespace/name picks the start, linear probing keeps them unique. */
export class ClusterIPs {
  readonly #used = new Set<string>([KUBERNETES_SERVICE_IP, "10.96.0.10"]);
  reserve(ip: string): void {
    this.#used.add(ip);
  }
  release(ip: string): void {
    if (ip !== KUBERNETES_SERVICE_IP && ip !== "10.96.0.10") this.#used.delete(ip);
  }
  has(ip: string): boolean {
    return this.#used.has(ip);
  }
  allocate(namespace: string, name: string): string {
    let offset = 16 + (fnv32a(`${namespace}/${name}`) % (SIZE - 32));
    for (let i = 0; i < SIZE; i++) {
      const ip = ipOf(offset);
      if (!this.#used.has(ip)) {
        this.#used.add(ip);
        return ip;
      }
      offset = 16 + ((offset - 15) % (SIZE - 32));
    }
    throw new Error("the cluster IP range is full");
  }
}

export function inServiceRange(ip: string): boolean {
  const parts = ip.split(".").map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) return false;
  const n = ((parts[0] ?? 0) << 24) | ((parts[1] ?? 0) << 16) | ((parts[2] ?? 0) << 8) | (parts[3] ?? 0);
  return n >>> 20 === BASE >>> 20;
}

/**
 * Object names by namespace and `key=value` pair — of pods' labels, or of services' selectors — kept from each
 * object's current pairs: the endpoints controller's lookups on every pod event (which services select this pod?) and
 * every sync (which pods does this service select?) go through it instead of scanning every service or pod of the
 * namespace, which made N pods behind N services in one namespace cost N² selector checks (10% of the sandbox's busy
 * time while 1,000 deployments rolled out). A name keeps its place in a pair's set while it keeps the pair, so lookups
 * list names in the order they were first indexed, as the cache lists objects.
 *
 * `onePair`: each name is kept under one of its pairs only, the one with the fewest names when it was indexed. For
 * selectors: a pod a selector selects has all of the selector's pairs, so looking up each of the pod's labels finds
 * every service that may select it — and services that all select on a label they share (our managed-by) are then
 * found under their own pair, not all together under the shared one.
 */
export class PairIndex {
  readonly #names = new Map<string, Map<string, Set<string>>>();
  readonly #pairsOf = new Map<string, Set<string>>();
  readonly #onePair: boolean;

  constructor(options: { onePair?: boolean } = {}) {
    this.#onePair = options.onePair ?? false;
  }

  /** The pairs of `name` in `namespace` are now those of `map` (undefined or empty: none). */
  set(namespace: string, name: string, map: Record<string, string> | undefined): void {
    const indexKey = `${namespace}/${name}`;
    const before = this.#pairsOf.get(indexKey);
    let after = new Set(Object.entries(map ?? {}).map(([k, v]) => `${k}=${v}`));
    let byPair = this.#names.get(namespace);
    if (this.#onePair && after.size > 1) {
      // The pair it has now if it keeps it, else the one with the fewest names.
      let chosen = [...(before ?? [])].find((pair) => after.has(pair));
      if (chosen === undefined) {
        for (const pair of after) {
          if (chosen === undefined || (byPair?.get(pair)?.size ?? 0) < (byPair?.get(chosen)?.size ?? 0)) chosen = pair;
        }
      }
      after = new Set([chosen as string]);
    }
    for (const pair of before ?? []) {
      if (after.has(pair)) continue;
      const names = byPair?.get(pair);
      names?.delete(name);
      if (names?.size === 0) byPair?.delete(pair);
    }
    for (const pair of after) {
      if (before?.has(pair)) continue;
      if (byPair === undefined) this.#names.set(namespace, (byPair = new Map()));
      let names = byPair.get(pair);
      if (names === undefined) byPair.set(pair, (names = new Set()));
      names.add(name);
    }
    if (byPair?.size === 0) this.#names.delete(namespace);
    if (after.size === 0) this.#pairsOf.delete(indexKey);
    else this.#pairsOf.set(indexKey, after);
  }

  /** The names that have `key=value`, in the order they were first indexed with it. */
  names(namespace: string, key: string, value: string): ReadonlySet<string> {
    return this.#names.get(namespace)?.get(`${key}=${value}`) ?? EMPTY;
  }
}
const EMPTY: ReadonlySet<string> = new Set();

export function servicesController(ctx: Context): Controller {
  const name = "services";
  const ips = new ClusterIPs();
  const nodePorts = new Set<number>();
  let nextNodePort = 30000;
  /** pod key -> services whose Endpoints listed it at the last sync. */
  const podServices = new Map<string, Set<string>>();
  const podsByLabel = new PairIndex();
  const servicesBySelector = new PairIndex({ onePair: true });
  const selectorOf = (svc: KubeObject | undefined): Record<string, string> | undefined =>
    (svc?.spec as ServiceSpec | undefined)?.selector;

  /** The cached pods of `namespace` that `selector` selects (none for an empty selector). */
  function podsSelectedBy(namespace: string, selector: Record<string, string> | undefined): KubeObject[] {
    // The selector's pair with the fewest pods: every selected pod has it.
    let fewest: ReadonlySet<string> | undefined;
    for (const [k, v] of Object.entries(selector ?? {})) {
      const names = podsByLabel.names(namespace, k, v);
      if (fewest === undefined || names.size < fewest.size) fewest = names;
    }
    const out: KubeObject[] = [];
    for (const podName of fewest ?? []) {
      const pod = ctx.cache.get(R.pods, namespace, podName);
      if (pod !== undefined && mapSelectorMatches(selector, pod.metadata.labels)) out.push(pod);
    }
    return out;
  }

  /** The keys of the cached services of `namespace` whose selector selects `labels`. */
  function servicesSelecting(namespace: string, labels: Record<string, string> | undefined): Set<string> {
    const out = new Set<string>();
    for (const [k, v] of Object.entries(labels ?? {})) {
      for (const svcName of servicesBySelector.names(namespace, k, v)) {
        if (mapSelectorMatches(selectorOf(ctx.cache.get(R.services, namespace, svcName)), labels))
          out.add(objectKey(namespace, svcName));
      }
    }
    return out;
  }

  function allocateNodePort(): number {
    for (let i = 0; i < 2768; i++) {
      const port = 30000 + ((nextNodePort++ - 30000) % 2768);
      if (!nodePorts.has(port)) {
        nodePorts.add(port);
        return port;
      }
    }
    throw new Error("the node port range is full");
  }

  function admit(request: AdmissionRequest): void {
    if (request.resource.key !== R.services || request.operation === "DELETE") return;
    const svc = request.object;
    const spec = (svc.spec ?? {}) as ServiceSpec;
    svc.spec = spec;
    const type = spec.type ?? "ClusterIP";
    if (type === "ExternalName") return;
    if (request.operation === "CREATE") {
      if (spec.clusterIP === undefined || spec.clusterIP === "") {
        spec.clusterIP = ips.allocate(svc.metadata.namespace ?? "", svc.metadata.name);
      } else if (spec.clusterIP !== "None") {
        if (!inServiceRange(spec.clusterIP)) {
          throw invalidError(request.resource, svc.metadata.name, [
            {
              reason: "FieldValueInvalid",
              field: "spec.clusterIPs",
              message: `Invalid value: []string{"${spec.clusterIP}"}: failed to allocate IP ${spec.clusterIP}: the provided IP (${spec.clusterIP}) is not in the valid range. The range of valid IPs is 10.96.0.0/12`,
            },
          ]);
        }
        const isApiServer = svc.metadata.namespace === "default" && svc.metadata.name === "kubernetes";
        if (ips.has(spec.clusterIP) && !(isApiServer && spec.clusterIP === KUBERNETES_SERVICE_IP)) {
          throw invalidError(request.resource, svc.metadata.name, [
            {
              reason: "FieldValueInvalid",
              field: "spec.clusterIPs",
              message: `Invalid value: []string{"${spec.clusterIP}"}: failed to allocate IP ${spec.clusterIP}: provided IP is already allocated`,
            },
          ]);
        }
        ips.reserve(spec.clusterIP);
      }
      spec.clusterIPs = [spec.clusterIP];
      if (spec.clusterIP !== "None" || spec.clusterIPs.length > 0) {
        const s = spec as Record<string, unknown>;
        if (s.ipFamilies === undefined) s.ipFamilies = ["IPv4"];
        if (s.ipFamilyPolicy === undefined) s.ipFamilyPolicy = "SingleStack";
      }
    }
    if (type === "NodePort" || type === "LoadBalancer") {
      for (const p of spec.ports ?? []) {
        if (p.nodePort === undefined) p.nodePort = allocateNodePort();
        else nodePorts.add(p.nodePort);
      }
      const s = spec as Record<string, unknown>;
      if (s.externalTrafficPolicy === undefined) s.externalTrafficPolicy = "Cluster";
    }
  }

  ctx.store.addAdmission((request) => {
    if (!ctx.stopped()) admit(request);
  });

  /** The target port of a service port for one pod (named target ports resolve per pod). */
  function targetPort(port: ServicePort, pod: KubeObject): number | undefined {
    const t = port.targetPort ?? port.port;
    if (typeof t === "number") return t;
    if (/^\d+$/.test(t)) return Number(t);
    for (const c of ((pod.spec ?? {}) as PodSpec).containers ?? []) {
      const found = c.ports?.find((p) => p.name === t && (p.protocol ?? "TCP") === (port.protocol ?? "TCP"));
      if (found?.containerPort !== undefined) return found.containerPort;
    }
    return undefined;
  }

  function syncEndpoints(key: string): void {
    const { namespace, name: svcName } = splitKey(key);
    const svc = ctx.cache.get(R.services, namespace, svcName);
    if (!svc) {
      forgetService(key);
      if (ctx.cache.get(R.endpoints, namespace, svcName)) deleteQuietly(ctx.store, R.endpoints, namespace, svcName);
      return;
    }
    const spec = (svc.spec ?? {}) as ServiceSpec;
    if ((spec.type ?? "ClusterIP") !== "ExternalName" && !spec.clusterIP) {
      // The admission plugin did not run (controllers started after the service was created): allocate now.
      const next = copy(svc);
      const s = (next.spec ?? {}) as ServiceSpec;
      s.clusterIP = ips.allocate(namespace ?? "", svcName);
      s.clusterIPs = [s.clusterIP];
      next.spec = s;
      ctx.store.update(R.services, next);
      return;
    }
    if (!spec.selector || Object.keys(spec.selector).length === 0) return; // endpoints managed by the user
    const subsetsBySignature = new Map<
      string,
      { addresses: unknown[]; notReadyAddresses: unknown[]; ports: unknown[] }
    >();
    const listed = new Set<string>();
    for (const pod of podsSelectedBy(namespace ?? "", spec.selector)) {
      if (pod.metadata.deletionTimestamp !== undefined || podTerminal(pod)) continue;
      const status = statusOf<PodStatus>(pod);
      if (!status.podIP) continue;
      const ports = (spec.ports ?? [])
        .map((p) => ({
          name: p.name,
          port: targetPort(p, pod),
          protocol: p.protocol ?? "TCP",
          appProtocol: p.appProtocol,
        }))
        .filter((p) => p.port !== undefined)
        .map((p) => ({
          ...(p.name === undefined || p.name === "" ? {} : { name: p.name }),
          port: p.port,
          protocol: p.protocol,
          ...(p.appProtocol === undefined ? {} : { appProtocol: p.appProtocol }),
        }));
      if ((spec.ports ?? []).length > 0 && ports.length === 0) continue;
      const signature = stableStringify(ports);
      let subset = subsetsBySignature.get(signature);
      if (!subset) subsetsBySignature.set(signature, (subset = { addresses: [], notReadyAddresses: [], ports }));
      const address = {
        ip: status.podIP,
        nodeName: ((pod.spec ?? {}) as PodSpec).nodeName ?? "",
        targetRef: { kind: "Pod", namespace: pod.metadata.namespace, name: pod.metadata.name, uid: pod.metadata.uid },
      };
      if (podReady(pod) || spec.publishNotReadyAddresses) subset.addresses.push(address);
      else subset.notReadyAddresses.push(address);
      const podKey = objectKey(pod.metadata.namespace, pod.metadata.name);
      listed.add(podKey);
    }
    const byIp = (a: unknown, b: unknown): number =>
      String((a as { ip: string }).ip).localeCompare(String((b as { ip: string }).ip), "en", { numeric: true });
    const subsets = [...subsetsBySignature.values()].map((s) => ({
      ...(s.addresses.length === 0 ? {} : { addresses: s.addresses.sort(byIp) }),
      ...(s.notReadyAddresses.length === 0 ? {} : { notReadyAddresses: s.notReadyAddresses.sort(byIp) }),
      ...(s.ports.length === 0 ? {} : { ports: s.ports }),
    }));
    trackMembers(key, listed);
    const labels = svc.metadata.labels ?? {};
    const existing = ctx.cache.get(R.endpoints, namespace, svcName);
    const body = { subsets: subsets.length === 0 ? undefined : subsets, labels };
    if (
      existing &&
      stableStringify({ subsets: existing.subsets, labels: existing.metadata.labels ?? {} }) === stableStringify(body)
    )
      return;
    const withLabels: { labels?: Record<string, string> } =
      Object.keys(labels).length === 0 ? {} : { labels: { ...labels } };
    const now = isoSeconds(ctx.now());
    const annotations = { "endpoints.kubernetes.io/last-change-trigger-time": now };
    if (existing) {
      const next = copy(existing);
      if (withLabels.labels) next.metadata.labels = withLabels.labels;
      else delete next.metadata.labels;
      next.metadata.annotations = { ...next.metadata.annotations, ...annotations };
      if (subsets.length === 0) delete next.subsets;
      else next.subsets = subsets;
      ctx.store.update(R.endpoints, next);
      return;
    }
    const ep: KubeObject = {
      apiVersion: "v1",
      kind: "Endpoints",
      metadata: { name: svcName, ...(namespace === undefined ? {} : { namespace }), ...withLabels, annotations },
      ...(subsets.length === 0 ? {} : { subsets }),
    };
    try {
      ctx.store.create(R.endpoints, ep);
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
  }

  const memberships = new Map<string, Set<string>>();
  function trackMembers(svcKey: string, pods: Set<string>): void {
    for (const p of memberships.get(svcKey) ?? []) {
      if (pods.has(p)) continue;
      const set = podServices.get(p);
      set?.delete(svcKey);
      if (set?.size === 0) podServices.delete(p);
    }
    for (const p of pods) {
      let set = podServices.get(p);
      if (!set) podServices.set(p, (set = new Set()));
      set.add(svcKey);
    }
    if (pods.size === 0) memberships.delete(svcKey);
    else memberships.set(svcKey, pods);
  }
  function forgetService(svcKey: string): void {
    trackMembers(svcKey, new Set());
  }

  function podRelevant(ev: StoreEvent, old: KubeObject | undefined): boolean {
    if (ev.type !== "MODIFIED" || !old) return true;
    return (
      podReady(ev.object) !== podReady(old) ||
      statusOf<PodStatus>(ev.object).podIP !== statusOf<PodStatus>(old).podIP ||
      statusOf<PodStatus>(ev.object).phase !== statusOf<PodStatus>(old).phase ||
      ev.object.metadata.deletionTimestamp !== old.metadata.deletionTimestamp ||
      stableStringify(ev.object.metadata.labels) !== stableStringify(old.metadata.labels)
    );
  }

  function ensureKubernetesService(): void {
    const svc = ctx.store.getRef(R.services, "default", "kubernetes");
    if (svc || !ctx.store.getRef(R.namespaces, undefined, "default")) return;
    try {
      ctx.store.create(R.services, {
        apiVersion: "v1",
        kind: "Service",
        metadata: {
          name: "kubernetes",
          namespace: "default",
          labels: { component: "apiserver", provider: "kubernetes" },
        },
        spec: {
          clusterIP: KUBERNETES_SERVICE_IP,
          ports: [{ name: "https", port: 443, protocol: "TCP", targetPort: 6443 }],
          sessionAffinity: "None",
          type: "ClusterIP",
        },
      });
      ctx.store.create(R.endpoints, {
        apiVersion: "v1",
        kind: "Endpoints",
        metadata: {
          name: "kubernetes",
          namespace: "default",
          labels: { "endpointslice.kubernetes.io/skip-mirror": "true" },
        },
        subsets: [{ addresses: [{ ip: HOST_IP }], ports: [{ name: "https", port: 6443, protocol: "TCP" }] }],
      });
    } catch (err) {
      if (!isAlreadyExists(err)) ctx.log(`services: cannot create the kubernetes service: ${String(err)}`);
    }
  }

  return {
    name,
    onEvent(ev, old): void {
      const key = ev.resource.key;
      const meta = ev.object.metadata;
      if (key === R.services) {
        // From the service as cached now (not the event's), as for pods below.
        servicesBySelector.set(
          meta.namespace ?? "",
          meta.name,
          selectorOf(ctx.cache.get(key, meta.namespace, meta.name)),
        );
        const spec = (ev.object.spec ?? {}) as ServiceSpec;
        if (ev.type === "DELETED") {
          if (spec.clusterIP && spec.clusterIP !== "None") ips.release(spec.clusterIP);
          for (const p of spec.ports ?? []) if (p.nodePort !== undefined) nodePorts.delete(p.nodePort);
        } else if (spec.clusterIP && spec.clusterIP !== "None") ips.reserve(spec.clusterIP);
        ctx.queue.add(name, objectKey(meta.namespace, meta.name));
      } else if (key === R.pods) {
        // The labels of the pod as cached now: a write made inside another controller's event handler may deliver its
        // event before this one.
        podsByLabel.set(
          meta.namespace ?? "",
          meta.name,
          ctx.cache.get(key, meta.namespace, meta.name)?.metadata.labels,
        );
        if (!podRelevant(ev, old)) return;
        const podKey = objectKey(meta.namespace, meta.name);
        const targets = new Set(podServices.get(podKey) ?? []);
        if (ev.type !== "DELETED") for (const t of servicesSelecting(meta.namespace ?? "", meta.labels)) targets.add(t);
        for (const t of targets) ctx.queue.add(name, t);
      } else if (key === R.endpoints && ev.type === "DELETED") {
        if (ctx.cache.get(R.services, meta.namespace, meta.name))
          ctx.queue.add(name, objectKey(meta.namespace, meta.name));
      } else if (key === R.namespaces && meta.name === "default" && ev.type === "ADDED") {
        ctx.queue.add("services-bootstrap", "kubernetes");
      }
    },
    reconcile: syncEndpoints,
    resync(): void {
      for (const pod of ctx.cache.list(R.pods))
        podsByLabel.set(pod.metadata.namespace ?? "", pod.metadata.name, pod.metadata.labels);
      for (const svc of ctx.cache.list(R.services)) {
        servicesBySelector.set(svc.metadata.namespace ?? "", svc.metadata.name, selectorOf(svc));
        const spec = (svc.spec ?? {}) as ServiceSpec;
        if (spec.clusterIP && spec.clusterIP !== "None") ips.reserve(spec.clusterIP);
        for (const p of spec.ports ?? []) if (p.nodePort !== undefined) nodePorts.add(p.nodePort);
        ctx.queue.add(name, objectKey(svc.metadata.namespace, svc.metadata.name));
      }
      ctx.queue.register("services-bootstrap", ensureKubernetesService);
      ctx.queue.add("services-bootstrap", "kubernetes");
    },
  };
}
