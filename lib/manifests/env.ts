/**
 * A deployment's env values as two objects (component `env`, labelled with the deployment's name and id):
 * plain values in the ConfigMap `<deployment>-env`, secret values in the Secret `<deployment>-env`. The Deployment
 * reads both with `envFrom` (optional), so either may be absent — and an empty one is: both are always rendered, but
 * v1.k8s.envs applies only those that hold a value (`isEmptyEnvObject`) and deletes one whose map became empty. A
 * deployment without env values has neither object in the cluster; its first value only changes the pod template's
 * checksum annotation.
 *
 * The Secret carries base64 `data`, not `stringData`: the API server folds `stringData` into `data` and never stores
 * it, so with server-side apply a key removed from `stringData` would stay in `data`; owning `data.<key>` directly
 * makes a removed key disappear on the next apply.
 *
 * `envChecksum` hashes both maps; the Deployment puts it (with the config files) on its pod template, so a changed
 * value rolls the pods. The hash covers secret values: anyone who can read the Deployment can test guesses of a weak
 * secret against it, so it is only as private as the namespace's Deployments are (which, for tenants, is the same
 * audience that can read the Secret).
 */
import { hash } from "node:crypto";
import type { V1ConfigMap, V1Secret } from "@kubernetes/client-node";
import { generateAnnotations, generateLabels } from "./labels.ts";

export const ENV_SUFFIX = "-env";

/** The name of both env objects of a deployment: `<deployment>-env`. */
export function envObjectName(deploymentName: string): string {
  return `${deploymentName}${ENV_SUFFIX}`;
}

interface EnvInputBase {
  /** The deployment record's id (the env objects belong to the deployment, not to single env records). */
  readonly deploymentId: string;
  /** The deployment's name. */
  readonly deploymentName: string;
  /** The Kubernetes namespace name. */
  readonly namespace: string;
}

export interface EnvConfigMapInput extends EnvInputBase {
  /** Plain values by variable name. */
  readonly plain: Readonly<Record<string, string>>;
}

export interface EnvSecretInput extends EnvInputBase {
  /** Secret values by variable name. */
  readonly secret: Readonly<Record<string, string>>;
}

/** A copy of `record` with its keys in code-point order, so equal maps serialise alike. */
export function sortedRecord(record: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(record).sort()) out[key] = record[key] ?? "";
  return out;
}

function envMetadata(input: EnvInputBase): {
  name: string;
  namespace: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
} {
  return {
    name: envObjectName(input.deploymentName),
    namespace: input.namespace,
    labels: generateLabels({ component: "env", name: input.deploymentName, id: input.deploymentId }),
    annotations: generateAnnotations({ id: input.deploymentId }),
  };
}

/** The ConfigMap `<deployment>-env` holding the plain values. */
export function renderEnvConfigMap(input: EnvConfigMapInput): V1ConfigMap {
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: envMetadata(input),
    data: sortedRecord(input.plain),
  };
}

/** The Secret `<deployment>-env` (type Opaque) holding the secret values, base64-encoded in `data`. */
/** A Secret's `data` for these values: each base64-encoded (UTF-8), keys sorted. */
export function secretData(values: Readonly<Record<string, string>>): Record<string, string> {
  const data: Record<string, string> = {};
  for (const [key, value] of Object.entries(sortedRecord(values))) {
    data[key] = Buffer.from(value, "utf8").toString("base64");
  }
  return data;
}

export function renderEnvSecret(input: EnvSecretInput): V1Secret {
  const data = secretData(input.secret);
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: envMetadata(input),
    type: "Opaque",
    data,
  };
}

/** Whether a rendered env ConfigMap or Secret holds no value (such an object is not applied: it is left absent). */
export function isEmptyEnvObject(object: V1ConfigMap | V1Secret): boolean {
  return Object.keys(object.data ?? {}).length === 0;
}

/**
 * Deterministic JSON of JSON data (what renders and records hold: plain objects, arrays, strings, numbers, booleans,
 * null): object keys sorted at every level (by UTF-16 code units, as `<` compares them), members whose value is
 * undefined left out, anything JSON cannot write as `null`. Not JSON.stringify's rules for other values: a Date or an
 * object with `toJSON` is written by its own keys (`{}` for a Date), so renders must not hold one. Built by
 * concatenation because it runs for every render compared with the last one applied: written with entry arrays, a sort
 * of pairs and template strings it was ~3% of the suite's CPU converging deployments, half that now
 * (docs/performance.md, change 54).
 */
export function canonicalJson(value: unknown): string {
  if (typeof value !== "object" || value === null) return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) {
    let out = "[";
    for (let i = 0; i < value.length; i++) out += (i === 0 ? "" : ",") + canonicalJson(value[i]);
    return `${out}]`;
  }
  const record = value as Record<string, unknown>;
  let out = "{";
  let first = true;
  for (const key of Object.keys(record).sort()) {
    const member = record[key];
    if (member === undefined) continue;
    out += `${first ? "" : ","}${JSON.stringify(key)}:${canonicalJson(member)}`;
    first = false;
  }
  return `${out}}`;
}

/** sha256 (hex) of a value's canonical JSON. */
export function sha256Hex(value: unknown): string {
  return hash("sha256", canonicalJson(value), "hex");
}

/**
 * A sha256 hex over the plain and the secret values (keys order-independent). A value moved from plain to secret
 * changes it too. Equal inputs give equal checksums in every process.
 */
/** The digest of a Secret's `data` (base64 values by key) the watch cache keeps instead of the values. */
export function secretDataDigest(data: Readonly<Record<string, string>> | undefined): string {
  return sha256Hex(data ?? {});
}

export function envChecksum(plain: Readonly<Record<string, string>>, secret: Readonly<Record<string, string>>): string {
  return sha256Hex({ plain, secret });
}
