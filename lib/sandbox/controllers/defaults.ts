/**
 * API defaulting the way kube-apiserver does it at decode time, done here as the first admission plugin (it only
 * fills what is missing): pod and pod-template defaults, Deployment/ReplicaSet/Job/Service/PVC defaults. Also the
 * DefaultStorageClass admission (PVCs without a class get "standard").
 */
import type { KubeObject } from "../types.ts";
import type { AdmissionRequest } from "../store.ts";
import type { Context, Controller } from "./runtime.ts";
import { R } from "./runtime.ts";

export const DEFAULT_STORAGE_CLASS = "standard";

type Rec = Record<string, unknown>;

function isRec(v: unknown): v is Rec {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function rec(parent: Rec, key: string): Rec {
  const v = parent[key];
  if (isRec(v)) return v;
  const fresh: Rec = {};
  parent[key] = fresh;
  return fresh;
}

function setDefault(target: Rec, key: string, value: unknown): void {
  if (target[key] === undefined || target[key] === null) target[key] = value;
}

function imageTag(image: string): string | undefined {
  if (image.includes("@")) return "digest";
  const last = image.slice(image.lastIndexOf("/") + 1);
  const i = last.indexOf(":");
  return i < 0 ? undefined : last.slice(i + 1);
}

function defaultContainer(c: Rec): void {
  const image = typeof c.image === "string" ? c.image : "";
  const tag = imageTag(image);
  setDefault(c, "imagePullPolicy", tag === undefined || tag === "latest" ? "Always" : "IfNotPresent");
  setDefault(c, "terminationMessagePath", "/dev/termination-log");
  setDefault(c, "terminationMessagePolicy", "File");
  const resources = rec(c, "resources");
  // Requests default to limits where a limit is set and the request is not (core/v1 defaults).
  if (isRec(resources.limits)) {
    const requests = isRec(resources.requests) ? resources.requests : {};
    for (const [k, v] of Object.entries(resources.limits)) if (requests[k] === undefined) requests[k] = v;
    resources.requests = requests;
  }
  if (Array.isArray(c.ports)) for (const p of c.ports) if (isRec(p)) setDefault(p, "protocol", "TCP");
}

/** Defaults of a PodSpec (in a Pod or a pod template). */
export function defaultPodSpec(spec: Rec): void {
  setDefault(spec, "restartPolicy", "Always");
  setDefault(spec, "terminationGracePeriodSeconds", 30);
  setDefault(spec, "dnsPolicy", "ClusterFirst");
  setDefault(spec, "securityContext", {});
  setDefault(spec, "schedulerName", "default-scheduler");
  for (const list of [spec.containers, spec.initContainers]) {
    if (Array.isArray(list)) for (const c of list) if (isRec(c)) defaultContainer(c);
  }
}

function defaultTemplate(spec: Rec): void {
  const template = rec(spec, "template");
  const meta = rec(template, "metadata");
  // kubectl sends `creationTimestamp: null` in templates; the apiserver's round trip drops it.
  if (meta.creationTimestamp === null) delete meta.creationTimestamp;
  defaultPodSpec(rec(template, "spec"));
}

function defaultPod(pod: KubeObject, create: boolean): void {
  const spec = rec(pod as Rec, "spec");
  defaultPodSpec(spec);
  if (create) {
    setDefault(spec, "serviceAccountName", "default");
    setDefault(spec, "serviceAccount", spec.serviceAccountName);
    setDefault(spec, "enableServiceLinks", true);
    setDefault(spec, "priority", 0);
    setDefault(spec, "preemptionPolicy", "PreemptLowerPriority");
    setDefault(spec, "tolerations", [
      { key: "node.kubernetes.io/not-ready", operator: "Exists", effect: "NoExecute", tolerationSeconds: 300 },
      { key: "node.kubernetes.io/unreachable", operator: "Exists", effect: "NoExecute", tolerationSeconds: 300 },
    ]);
  }
}

function defaultDeployment(d: KubeObject): void {
  const spec = rec(d as Rec, "spec");
  setDefault(spec, "replicas", 1);
  setDefault(spec, "revisionHistoryLimit", 10);
  setDefault(spec, "progressDeadlineSeconds", 600);
  const strategy = rec(spec, "strategy");
  setDefault(strategy, "type", "RollingUpdate");
  if (strategy.type === "RollingUpdate") {
    const ru = rec(strategy, "rollingUpdate");
    setDefault(ru, "maxSurge", "25%");
    setDefault(ru, "maxUnavailable", "25%");
  }
  defaultTemplate(spec);
}

function defaultJob(job: KubeObject): void {
  const spec = rec(job as Rec, "spec");
  // Both unset: one pod, once. Only parallelism set: a work queue (completions stays unset).
  if (spec.completions === undefined && spec.parallelism === undefined) spec.completions = 1;
  setDefault(spec, "parallelism", 1);
  setDefault(spec, "backoffLimit", 6);
  setDefault(spec, "completionMode", "NonIndexed");
  setDefault(spec, "suspend", false);
  setDefault(spec, "podReplacementPolicy", "TerminatingOrFailed");
  const uid = job.metadata.uid ?? "";
  const name = job.metadata.name;
  if (!spec.manualSelector) {
    setDefault(spec, "selector", { matchLabels: { "batch.kubernetes.io/controller-uid": uid } });
  }
  defaultTemplate(spec);
  const tmeta = rec(rec(spec, "template"), "metadata");
  const labels = isRec(tmeta.labels) ? (tmeta.labels as Record<string, string>) : {};
  for (const [k, v] of Object.entries({
    "batch.kubernetes.io/controller-uid": uid,
    "batch.kubernetes.io/job-name": name,
    "controller-uid": uid,
    "job-name": name,
  })) {
    if (labels[k] === undefined) labels[k] = v;
  }
  tmeta.labels = labels;
}

function defaultService(svc: KubeObject, old: KubeObject | undefined): void {
  const spec = rec(svc as Rec, "spec");
  setDefault(spec, "type", "ClusterIP");
  if (spec.type !== "ExternalName") {
    setDefault(spec, "sessionAffinity", "None");
    setDefault(spec, "internalTrafficPolicy", "Cluster");
  }
  if (Array.isArray(spec.ports)) {
    for (const p of spec.ports) {
      if (!isRec(p)) continue;
      setDefault(p, "protocol", "TCP");
      setDefault(p, "targetPort", p.port);
    }
  }
  // clusterIP, clusterIPs and nodePorts are immutable once allocated: a replace without them keeps them.
  if (old) {
    const oldSpec = isRec(old.spec) ? old.spec : {};
    for (const f of ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"]) {
      if ((spec[f] === undefined || spec[f] === "") && oldSpec[f] !== undefined) spec[f] = oldSpec[f];
    }
    if (Array.isArray(spec.ports) && Array.isArray(oldSpec.ports)) {
      for (const p of spec.ports) {
        if (!isRec(p) || p.nodePort !== undefined) continue;
        const same = oldSpec.ports.find((o) => isRec(o) && o.port === p.port && (o.protocol ?? "TCP") === p.protocol);
        if (isRec(same) && same.nodePort !== undefined) p.nodePort = same.nodePort;
      }
    }
  }
}

function defaultPvc(pvc: KubeObject, create: boolean): void {
  const spec = rec(pvc as Rec, "spec");
  setDefault(spec, "volumeMode", "Filesystem");
  if (create && !Object.hasOwn(spec, "storageClassName")) spec.storageClassName = DEFAULT_STORAGE_CLASS;
}

/** The defaulting admission plugin. */
export function defaulting(request: AdmissionRequest): void {
  if (request.operation === "DELETE") return;
  const create = request.operation === "CREATE";
  const obj = request.object;
  switch (request.resource.key) {
    case R.pods:
      return defaultPod(obj, create);
    case R.deployments:
      return defaultDeployment(obj);
    case R.replicaSets: {
      const spec = rec(obj as Rec, "spec");
      setDefault(spec, "replicas", 1);
      return defaultTemplate(spec);
    }
    case R.jobs:
      return defaultJob(obj);
    case R.services:
      return defaultService(obj, request.oldObject);
    case R.pvcs:
      return defaultPvc(obj, create);
  }
}

export function defaultsController(ctx: Context): Controller {
  ctx.store.addAdmission((request) => {
    if (!ctx.stopped()) defaulting(request);
  });
  return { name: "defaults", reconcile: () => undefined };
}
