/**
 * The defaults kube-apiserver fills in (a useful subset), and Secret stringData folding. Changes the object in place.
 */
import { canonicalQuantity } from "../controllers/quantity.ts";
import type { KubeObject, ResourceType } from "../types.ts";

type Rec = Record<string, unknown>;
function rec(v: unknown): Rec | undefined {
  return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Rec) : undefined;
}
function setDefault(o: Rec, key: string, value: unknown): void {
  if (o[key] === undefined || o[key] === null) o[key] = value;
}

/** Quantities as kube-apiserver stores them: strings in canonical form (`cpu: 0.5` becomes "500m"). */
function canonicalQuantities(map: unknown): void {
  const m = rec(map);
  if (m === undefined) return;
  for (const [k, v] of Object.entries(m)) {
    if (typeof v === "number" && Number.isFinite(v)) m[k] = canonicalQuantity(String(v));
    else if (typeof v === "string") m[k] = canonicalQuantity(v);
  }
}

function canonicalResources(resources: unknown): void {
  const r = rec(resources);
  if (r === undefined) return;
  canonicalQuantities(r.limits);
  canonicalQuantities(r.requests);
}

function defaultContainer(c: unknown): void {
  const container = rec(c);
  if (container === undefined) return;
  setDefault(container, "terminationMessagePath", "/dev/termination-log");
  setDefault(container, "terminationMessagePolicy", "File");
  const image = typeof container.image === "string" ? container.image : "";
  setDefault(
    container,
    "imagePullPolicy",
    image.endsWith(":latest") || !/:[^/]+$/.test(image) ? "Always" : "IfNotPresent",
  );
  setDefault(container, "resources", {});
  if (Array.isArray(container.ports))
    for (const p of container.ports) if (rec(p)) setDefault(rec(p) as Rec, "protocol", "TCP");
}

function defaultPodSpec(spec: unknown, restartPolicy = "Always"): void {
  const s = rec(spec);
  if (s === undefined) return;
  setDefault(s, "restartPolicy", restartPolicy);
  setDefault(s, "dnsPolicy", "ClusterFirst");
  setDefault(s, "schedulerName", "default-scheduler");
  setDefault(s, "securityContext", {});
  setDefault(s, "terminationGracePeriodSeconds", 30);
  for (const list of ["containers", "initContainers"]) {
    if (Array.isArray(s[list])) for (const c of s[list] as unknown[]) defaultContainer(c);
  }
}

function defaultTemplate(spec: Rec, restartPolicy?: string): void {
  const template = rec(spec.template);
  if (template !== undefined) defaultPodSpec(template.spec, restartPolicy);
}

function podSpecQuantities(spec: unknown): void {
  const s = rec(spec);
  if (s === undefined) return;
  for (const list of ["containers", "initContainers"]) {
    if (Array.isArray(s[list])) for (const c of s[list] as unknown[]) canonicalResources(rec(c)?.resources);
  }
}

/** Writes every quantity of the object (resources, quota, limit range) in canonical string form. In place. */
export function normalizeQuantities(rt: ResourceType, o: KubeObject): void {
  const spec = rec(o.spec);
  if (spec === undefined) return;
  switch (rt.key) {
    case "pods":
      podSpecQuantities(spec);
      break;
    case "deployments.apps":
    case "replicasets.apps":
    case "statefulsets.apps":
    case "jobs.batch":
      podSpecQuantities(rec(spec.template)?.spec);
      break;
    case "persistentvolumeclaims":
      canonicalResources(spec.resources);
      break;
    case "resourcequotas":
      canonicalQuantities(spec.hard);
      break;
    case "limitranges":
      for (const item of Array.isArray(spec.limits) ? spec.limits : []) {
        const limit = rec(item);
        if (limit === undefined) continue;
        for (const field of ["default", "defaultRequest", "max", "min", "maxLimitRequestRatio"]) {
          canonicalQuantities(limit[field]);
        }
      }
      break;
  }
}

export function applyDefaults(rt: ResourceType, o: KubeObject): void {
  normalizeQuantities(rt, o);
  const spec = rec(o.spec);
  switch (rt.key) {
    case "deployments.apps":
      if (spec === undefined) return;
      setDefault(spec, "replicas", 1);
      setDefault(spec, "revisionHistoryLimit", 10);
      setDefault(spec, "progressDeadlineSeconds", 600);
      setDefault(spec, "strategy", {
        type: "RollingUpdate",
        rollingUpdate: { maxSurge: "25%", maxUnavailable: "25%" },
      });
      defaultTemplate(spec);
      break;
    case "replicasets.apps":
      if (spec === undefined) return;
      setDefault(spec, "replicas", 1);
      defaultTemplate(spec);
      break;
    case "statefulsets.apps":
      if (spec === undefined) return;
      setDefault(spec, "replicas", 1);
      setDefault(spec, "revisionHistoryLimit", 10);
      setDefault(spec, "podManagementPolicy", "OrderedReady");
      setDefault(spec, "updateStrategy", { type: "RollingUpdate", rollingUpdate: { partition: 0 } });
      setDefault(spec, "persistentVolumeClaimRetentionPolicy", { whenDeleted: "Retain", whenScaled: "Retain" });
      defaultTemplate(spec);
      break;
    case "jobs.batch":
      if (spec === undefined) return;
      setDefault(spec, "completions", 1);
      setDefault(spec, "parallelism", 1);
      setDefault(spec, "backoffLimit", 6);
      setDefault(spec, "completionMode", "NonIndexed");
      setDefault(spec, "suspend", false);
      defaultTemplate(spec, "Never");
      break;
    case "pods":
      defaultPodSpec(spec);
      break;
    case "services":
      if (spec === undefined) return;
      setDefault(spec, "type", "ClusterIP");
      setDefault(spec, "sessionAffinity", "None");
      if (Array.isArray(spec.ports)) {
        for (const p of spec.ports) {
          const port = rec(p);
          if (port === undefined) continue;
          setDefault(port, "protocol", "TCP");
          setDefault(port, "targetPort", port.port);
        }
      }
      break;
    case "persistentvolumeclaims":
      if (spec === undefined) return;
      setDefault(spec, "volumeMode", "Filesystem");
      break;
    case "secrets": {
      setDefault(o, "type", "Opaque");
      const stringData = rec(o.stringData);
      if (stringData !== undefined) {
        const data = rec(o.data) ?? {};
        for (const [k, v] of Object.entries(stringData))
          data[k] = Buffer.from(String(v as string), "utf8").toString("base64");
        o.data = data;
        delete o.stringData;
      }
      break;
    }
  }
}
