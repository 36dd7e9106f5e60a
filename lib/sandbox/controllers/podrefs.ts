/**
 * What a pod needs from its namespace before it can run, and the messages the scheduler and the kubelet give when
 * it is missing: PersistentVolumeClaims (bound) for scheduling, ConfigMaps/Secrets for volumes (FailedMount) and
 * for environment variables (CreateContainerConfigError). Optional references are never a problem.
 */
import type { KubeObject } from "../types.ts";
import type { ContainerSpec } from "./pods.ts";

interface KeyRef {
  name?: string;
  key?: string;
  optional?: boolean;
}
interface Volume {
  name: string;
  persistentVolumeClaim?: { claimName?: string };
  configMap?: { name?: string; optional?: boolean };
  secret?: { secretName?: string; optional?: boolean };
  projected?: { sources?: { configMap?: KeyRef; secret?: KeyRef }[] };
}
interface EnvContainer extends ContainerSpec {
  env?: { name: string; valueFrom?: { configMapKeyRef?: KeyRef; secretKeyRef?: KeyRef } }[];
  envFrom?: {
    configMapRef?: { name?: string; optional?: boolean };
    secretRef?: { name?: string; optional?: boolean };
  }[];
}

export type Lookup = (
  resource: "configmaps" | "secrets" | "persistentvolumeclaims",
  name: string,
) => KubeObject | undefined;

function volumes(pod: KubeObject): Volume[] {
  return ((pod.spec ?? {}) as { volumes?: Volume[] }).volumes ?? [];
}

/** The claims a pod mounts. */
export function claimNames(pod: KubeObject): string[] {
  return volumes(pod)
    .map((v) => v.persistentVolumeClaim?.claimName)
    .filter((n): n is string => typeof n === "string" && n !== "");
}

/** Why the scheduler cannot place the pod because of its claims (the part before ". preemption: ..."), if it cannot. */
export function claimProblem(pod: KubeObject, lookup: Lookup): string | undefined {
  let unbound = false;
  for (const name of claimNames(pod)) {
    const pvc = lookup("persistentvolumeclaims", name);
    if (!pvc) return `persistentvolumeclaim "${name}" not found`;
    if (pvc.metadata.deletionTimestamp !== undefined) return `persistentvolumeclaim "${name}" is being deleted`;
    if ((pvc.status as { phase?: string } | undefined)?.phase !== "Bound") unbound = true;
  }
  return unbound ? "pod has unbound immediate PersistentVolumeClaims" : undefined;
}

function hasKey(obj: KubeObject, key: string): boolean {
  for (const field of ["data", "binaryData", "stringData"]) {
    const map = obj[field];
    if (map !== null && typeof map === "object" && Object.hasOwn(map, key)) return true;
  }
  return false;
}

/** A volume the kubelet cannot set up (missing ConfigMap or Secret): its name and the reason. */
export function mountProblem(pod: KubeObject, lookup: Lookup): { volume: string; message: string } | undefined {
  for (const v of volumes(pod)) {
    const refs: { kind: "configmaps" | "secrets"; name?: string; optional?: boolean }[] = [];
    if (v.configMap) refs.push({ kind: "configmaps", ...v.configMap });
    if (v.secret)
      refs.push({
        kind: "secrets",
        ...(v.secret.secretName === undefined ? {} : { name: v.secret.secretName }),
        ...(v.secret.optional === undefined ? {} : { optional: v.secret.optional }),
      });
    for (const s of v.projected?.sources ?? []) {
      if (s.configMap) refs.push({ kind: "configmaps", ...s.configMap });
      if (s.secret) refs.push({ kind: "secrets", ...s.secret });
    }
    for (const r of refs) {
      if (r.optional || !r.name) continue;
      if (!lookup(r.kind, r.name)) {
        return { volume: v.name, message: `${r.kind === "configmaps" ? "configmap" : "secret"} "${r.name}" not found` };
      }
    }
  }
  return undefined;
}

/** Why the kubelet cannot build a container's environment (CreateContainerConfigError), if it cannot. */
export function envProblem(container: ContainerSpec, namespace: string, lookup: Lookup): string | undefined {
  const c = container as EnvContainer;
  for (const from of c.envFrom ?? []) {
    const cm = from.configMapRef;
    if (cm?.name && !cm.optional && !lookup("configmaps", cm.name)) return `configmap "${cm.name}" not found`;
    const sec = from.secretRef;
    if (sec?.name && !sec.optional && !lookup("secrets", sec.name)) return `secret "${sec.name}" not found`;
  }
  for (const e of c.env ?? []) {
    const refs: [KeyRef | undefined, "configmaps" | "secrets"][] = [
      [e.valueFrom?.configMapKeyRef, "configmaps"],
      [e.valueFrom?.secretKeyRef, "secrets"],
    ];
    for (const [ref, kind] of refs) {
      if (!ref?.name || ref.optional) continue;
      const obj = lookup(kind, ref.name);
      const noun = kind === "configmaps" ? "configmap" : "secret";
      if (!obj) return `${noun} "${ref.name}" not found`;
      if (ref.key !== undefined && !hasKey(obj, ref.key)) {
        return `couldn't find key ${ref.key} in ${kind === "configmaps" ? "ConfigMap" : "Secret"} ${namespace}/${ref.name}`;
      }
    }
  }
  return undefined;
}
