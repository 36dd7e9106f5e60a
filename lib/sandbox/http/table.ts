/**
 * Server-side printing: `meta.k8s.io/v1 Table` responses, which `kubectl get` asks for
 * (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`), with the columns kube-apiserver prints per kind.
 */
import type { KubeObject, ResourceType } from "../types.ts";
import { humanDuration } from "./util.ts";

interface Column {
  name: string;
  type: string;
  format?: string;
  description: string;
  priority: number;
}

type Cell = string | number;
type Printer = { columns: Column[]; cells: (o: KubeObject, now: number) => Cell[] };

/** Does the Accept header ask for a Table? */
export function wantsTable(accept: string | undefined): boolean {
  return accept !== undefined && /as=Table/i.test(accept) && /g=meta\.k8s\.io/i.test(accept);
}

const col = (name: string, priority = 0, type = "string", format?: string): Column => ({
  name,
  type,
  ...(format === undefined ? {} : { format }),
  description: name,
  priority,
});
const NAME = col("Name", 0, "string", "name");
const AGE = col("Age", 0, "string");

type Rec = Record<string, unknown>;
function rec(v: unknown): Rec {
  return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Rec) : {};
}
function arr(v: unknown): Rec[] {
  return Array.isArray(v) ? v.map(rec) : [];
}
function str(v: unknown, dflt = "<none>"): string {
  return v === undefined || v === null || v === "" ? dflt : String(v as string);
}
function num(v: unknown): number {
  return typeof v === "number" ? v : 0;
}
function age(o: KubeObject, now: number): string {
  const created = o.metadata.creationTimestamp;
  return created === undefined ? "<unknown>" : humanDuration(now - Date.parse(created));
}
function containers(o: KubeObject): Rec[] {
  return arr(rec(rec(rec(o.spec).template).spec).containers);
}
function selectorText(sel: unknown): string {
  const s = rec(sel);
  const parts = Object.entries(rec(s.matchLabels ?? s)).map(([k, v]) => `${k}=${String(v as string)}`);
  for (const e of arr(s.matchExpressions)) {
    const values = Array.isArray(e.values) ? (e.values as string[]).join(",") : "";
    parts.push(`${str(e.key, "")} ${String(e.operator as string).toLowerCase()} (${values})`);
  }
  return parts.length === 0 ? "<none>" : parts.join(",");
}
const ACCESS: ReadonlyMap<string, string> = new Map([
  ["ReadWriteOnce", "RWO"],
  ["ReadOnlyMany", "ROX"],
  ["ReadWriteMany", "RWX"],
  ["ReadWriteOncePod", "RWOP"],
]);
function accessModes(v: unknown): string {
  return Array.isArray(v) && v.length > 0 ? v.map((m) => ACCESS.get(String(m)) ?? String(m)).join(",") : "";
}

function podStatus(o: KubeObject): string {
  const status = rec(o.status);
  let reason = str(status.reason, "") || str(status.phase, "Pending");
  for (const c of arr(status.initContainerStatuses)) {
    const waiting = rec(rec(c.state).waiting);
    if (waiting.reason !== undefined && waiting.reason !== "PodInitializing") reason = `Init:${str(waiting.reason)}`;
  }
  let running = false;
  for (const c of arr(status.containerStatuses).reverse()) {
    const state = rec(c.state);
    const waiting = rec(state.waiting);
    const terminated = rec(state.terminated);
    if (waiting.reason !== undefined && waiting.reason !== "") reason = str(waiting.reason);
    else if (terminated.reason !== undefined && terminated.reason !== "") reason = str(terminated.reason);
    else if (state.running !== undefined && c.ready === true) running = true;
  }
  if (running && reason === "Completed") reason = "Running";
  if (o.metadata.deletionTimestamp !== undefined) reason = "Terminating";
  return reason;
}

function servicePorts(o: KubeObject): string {
  const ports = arr(rec(o.spec).ports).map((p) => {
    const nodePort = p.nodePort === undefined ? "" : `:${String(p.nodePort as number)}`;
    return `${String(p.port as number)}${nodePort}/${str(p.protocol, "TCP")}`;
  });
  return ports.length === 0 ? "<none>" : ports.join(",");
}

const PRINTERS: Record<string, Printer> = {
  pods: {
    columns: [
      NAME,
      col("Ready"),
      col("Status"),
      col("Restarts", 0, "string"),
      AGE,
      col("IP", 1),
      col("Node", 1),
      col("Nominated Node", 1),
      col("Readiness Gates", 1),
    ],
    cells: (o, now) => {
      const statuses = arr(rec(o.status).containerStatuses);
      const total = arr(rec(o.spec).containers).length;
      const ready = statuses.filter((c) => c.ready === true).length;
      const restarts = statuses.reduce((n, c) => n + num(c.restartCount), 0);
      return [
        o.metadata.name,
        `${ready}/${total}`,
        podStatus(o),
        String(restarts),
        age(o, now),
        str(rec(o.status).podIP),
        str(rec(o.spec).nodeName),
        "<none>",
        "<none>",
      ];
    },
  },
  "deployments.apps": {
    columns: [
      NAME,
      col("Ready"),
      col("Up-to-date", 0, "integer"),
      col("Available", 0, "integer"),
      AGE,
      col("Containers", 1),
      col("Images", 1),
      col("Selector", 1),
    ],
    cells: (o, now) => {
      const s = rec(o.status);
      const c = containers(o);
      return [
        o.metadata.name,
        `${num(s.readyReplicas)}/${num(rec(o.spec).replicas ?? 1)}`,
        num(s.updatedReplicas),
        num(s.availableReplicas),
        age(o, now),
        c.map((x) => str(x.name, "")).join(","),
        c.map((x) => str(x.image, "")).join(","),
        selectorText(rec(o.spec).selector),
      ];
    },
  },
  "replicasets.apps": {
    columns: [
      NAME,
      col("Desired", 0, "integer"),
      col("Current", 0, "integer"),
      col("Ready", 0, "integer"),
      AGE,
      col("Containers", 1),
      col("Images", 1),
      col("Selector", 1),
    ],
    cells: (o, now) => {
      const s = rec(o.status);
      const c = containers(o);
      return [
        o.metadata.name,
        num(rec(o.spec).replicas ?? 1),
        num(s.replicas),
        num(s.readyReplicas),
        age(o, now),
        c.map((x) => str(x.name, "")).join(","),
        c.map((x) => str(x.image, "")).join(","),
        selectorText(rec(o.spec).selector),
      ];
    },
  },
  services: {
    columns: [NAME, col("Type"), col("Cluster-IP"), col("External-IP"), col("Port(s)"), AGE, col("Selector", 1)],
    cells: (o, now) => {
      const spec = rec(o.spec);
      const ingress = arr(rec(rec(o.status).loadBalancer).ingress).map((i) => str(i.ip ?? i.hostname, ""));
      const external = Array.isArray(spec.externalIPs) ? (spec.externalIPs as string[]) : [];
      const ext = [...ingress, ...external].filter((x) => x !== "");
      return [
        o.metadata.name,
        str(spec.type, "ClusterIP"),
        str(spec.clusterIP),
        ext.length > 0 ? ext.join(",") : spec.type === "LoadBalancer" ? "<pending>" : "<none>",
        servicePorts(o),
        age(o, now),
        spec.selector === undefined ? "<none>" : selectorText(spec.selector),
      ];
    },
  },
  "ingresses.networking.k8s.io": {
    columns: [NAME, col("Class"), col("Hosts"), col("Address"), col("Ports"), AGE],
    cells: (o, now) => {
      const spec = rec(o.spec);
      const hosts = arr(spec.rules).map((r) => str(r.host, "*"));
      const address = arr(rec(rec(o.status).loadBalancer).ingress).map((i) => str(i.ip ?? i.hostname, ""));
      return [
        o.metadata.name,
        str(spec.ingressClassName),
        hosts.length === 0 ? "*" : hosts.join(","),
        address.join(","),
        arr(spec.tls).length > 0 ? "80, 443" : "80",
        age(o, now),
      ];
    },
  },
  "jobs.batch": {
    columns: [
      NAME,
      col("Status"),
      col("Completions"),
      col("Duration"),
      AGE,
      col("Containers", 1),
      col("Images", 1),
      col("Selector", 1),
    ],
    cells: (o, now) => {
      const s = rec(o.status);
      const conditions = arr(s.conditions).filter((c) => c.status === "True");
      const status = conditions.some((c) => c.type === "Complete")
        ? "Complete"
        : conditions.some((c) => c.type === "Failed")
          ? "Failed"
          : "Running";
      const start = typeof s.startTime === "string" ? Date.parse(s.startTime) : undefined;
      const end = typeof s.completionTime === "string" ? Date.parse(s.completionTime) : now;
      const c = containers(o);
      return [
        o.metadata.name,
        status,
        `${num(s.succeeded)}/${num(rec(o.spec).completions ?? 1)}`,
        start === undefined ? "" : humanDuration(end - start),
        age(o, now),
        c.map((x) => str(x.name, "")).join(","),
        c.map((x) => str(x.image, "")).join(","),
        selectorText(rec(o.spec).selector),
      ];
    },
  },
  nodes: {
    columns: [
      NAME,
      col("Status"),
      col("Roles"),
      AGE,
      col("Version"),
      col("Internal-IP", 1),
      col("External-IP", 1),
      col("OS-Image", 1),
      col("Kernel-Version", 1),
      col("Container-Runtime", 1),
    ],
    cells: (o, now) => {
      const status = rec(o.status);
      const ready = arr(status.conditions).find((c) => c.type === "Ready");
      const roles = Object.keys(o.metadata.labels ?? {})
        .filter((k) => k.startsWith("node-role.kubernetes.io/"))
        .map((k) => k.slice("node-role.kubernetes.io/".length));
      const info = rec(status.nodeInfo);
      const address = (type: string): string => str(arr(status.addresses).find((a) => a.type === type)?.address);
      return [
        o.metadata.name,
        ready?.status === "True" ? "Ready" : "NotReady",
        roles.length === 0 ? "<none>" : roles.join(","),
        age(o, now),
        str(info.kubeletVersion, ""),
        address("InternalIP"),
        address("ExternalIP"),
        str(info.osImage, ""),
        str(info.kernelVersion, ""),
        str(info.containerRuntimeVersion, ""),
      ];
    },
  },
  namespaces: {
    columns: [NAME, col("Status"), AGE],
    cells: (o, now) => [o.metadata.name, str(rec(o.status).phase, "Active"), age(o, now)],
  },
  configmaps: {
    columns: [NAME, col("Data", 0, "integer"), AGE],
    cells: (o, now) => [
      o.metadata.name,
      Object.keys(rec(o.data)).length + Object.keys(rec(o.binaryData)).length,
      age(o, now),
    ],
  },
  secrets: {
    columns: [NAME, col("Type"), col("Data", 0, "integer"), AGE],
    cells: (o, now) => [o.metadata.name, str(o.type, "Opaque"), Object.keys(rec(o.data)).length, age(o, now)],
  },
  persistentvolumeclaims: {
    columns: [
      NAME,
      col("Status"),
      col("Volume"),
      col("Capacity"),
      col("Access Modes"),
      col("StorageClass"),
      col("VolumeAttributesClass"),
      AGE,
      col("VolumeMode", 1),
    ],
    cells: (o, now) => {
      const spec = rec(o.spec);
      const status = rec(o.status);
      return [
        o.metadata.name,
        str(status.phase, "Pending"),
        str(spec.volumeName, ""),
        str(rec(status.capacity).storage, ""),
        accessModes(status.accessModes),
        str(spec.storageClassName),
        "<unset>",
        age(o, now),
        str(spec.volumeMode, "Filesystem"),
      ];
    },
  },
  persistentvolumes: {
    columns: [
      NAME,
      col("Capacity"),
      col("Access Modes"),
      col("Reclaim Policy"),
      col("Status"),
      col("Claim"),
      col("StorageClass"),
      col("VolumeAttributesClass"),
      col("Reason"),
      AGE,
    ],
    cells: (o, now) => {
      const spec = rec(o.spec);
      const claim = rec(spec.claimRef);
      return [
        o.metadata.name,
        str(rec(spec.capacity).storage, ""),
        accessModes(spec.accessModes),
        str(spec.persistentVolumeReclaimPolicy, "Delete"),
        str(rec(o.status).phase, "Available"),
        claim.name === undefined ? "" : `${str(claim.namespace, "")}/${str(claim.name, "")}`,
        str(spec.storageClassName, ""),
        "<unset>",
        str(rec(o.status).reason, ""),
        age(o, now),
      ];
    },
  },
  resourcequotas: {
    columns: [NAME, AGE, col("Request"), col("Limit")],
    cells: (o, now) => {
      const status = rec(o.status);
      const hard = rec(status.hard ?? rec(o.spec).hard);
      const used = rec(status.used);
      const entries = (limits: boolean): string =>
        Object.keys(hard)
          .filter((k) => k.startsWith("limits.") === limits)
          .sort()
          .map((k) => `${k}: ${str(used[k], "0")}/${str(hard[k], "0")}`)
          .join(", ");
      return [o.metadata.name, age(o, now), entries(false), entries(true)];
    },
  },
  limitranges: {
    columns: [NAME, col("Created At")],
    cells: (o) => [o.metadata.name, str(o.metadata.creationTimestamp, "")],
  },
  serviceaccounts: {
    columns: [NAME, col("Secrets", 0, "integer"), AGE],
    cells: (o, now) => [o.metadata.name, arr(o.secrets).length, age(o, now)],
  },
  endpoints: {
    columns: [NAME, col("Endpoints"), AGE],
    cells: (o, now) => {
      const list: string[] = [];
      for (const s of arr(o.subsets)) {
        for (const a of arr(s.addresses))
          for (const p of arr(s.ports)) list.push(`${str(a.ip, "")}:${String(p.port as number)}`);
      }
      return [
        o.metadata.name,
        list.length === 0
          ? "<none>"
          : list.slice(0, 3).join(",") + (list.length > 3 ? ` + ${list.length - 3} more...` : ""),
        age(o, now),
      ];
    },
  },
  events: {
    columns: [col("Last Seen"), col("Type"), col("Reason"), col("Object"), col("Message")],
    cells: (o, now) => {
      const involved = rec(o.involvedObject);
      const last = str(o.lastTimestamp ?? o.eventTime ?? o.metadata.creationTimestamp, "");
      return [
        last === "" ? "<unknown>" : humanDuration(now - Date.parse(last)),
        str(o.type, ""),
        str(o.reason, ""),
        `${str(involved.kind, "").toLowerCase()}/${str(involved.name, "")}`,
        str(o.message, ""),
      ];
    },
  },
};

/** A Table of objects, as the server prints them for `kubectl get`. */
export function toTable(
  rt: ResourceType,
  objects: readonly KubeObject[],
  meta: { resourceVersion?: string; continue?: string },
  includeObject: string | null,
): unknown {
  const printer = PRINTERS[rt.key] ?? {
    columns: [NAME, AGE],
    cells: (o: KubeObject, now: number) => [o.metadata.name, age(o, now)],
  };
  const now = Date.now();
  return {
    kind: "Table",
    apiVersion: "meta.k8s.io/v1",
    metadata: meta,
    columnDefinitions: printer.columns,
    rows: objects.map((o) => ({
      cells: printer.cells(o, now),
      object:
        includeObject === "None"
          ? undefined
          : includeObject === "Object"
            ? o
            : { kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata: o.metadata },
    })),
  };
}
