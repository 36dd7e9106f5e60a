/**
 * Pure validators for what the renderers put into Kubernetes objects: names, ConfigMap keys, env var names, Ingress
 * hosts, ports, label values. The DNS and name rules live in `lib/validators.ts` (shared with the record services) and
 * are reused here; this file adds the rules that only matter for rendered objects, and `deploymentInputIssues`, which
 * checks a whole `DeploymentInput` so that a service can answer 422 before anything reaches the cluster.
 *
 * Renderers do not validate (they are total functions); services call these first.
 */
import type { ValidationIssue } from "../errors.ts";
import { isValidStorageSize } from "./quantity.ts";
import {
  DNS_1123_LABEL_MAX,
  ENV_VAR_NAME,
  IANA_SVC_NAME,
  IANA_SVC_NAME_MAX,
  isDnsLabel,
  isDnsSubdomain,
} from "../validators.ts";

export { isDnsLabel, isDnsSubdomain } from "../validators.ts";

/** RFC 1035 label (Service names): a DNS-1123 label that starts with a letter. */
export const DNS_1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

/** A ConfigMap/Secret key: `[-._a-zA-Z0-9]+`, ≤ 253 characters, not `.` or `..`. */
export const CONFIG_KEY = /^[-._a-zA-Z0-9]+$/;
export const CONFIG_KEY_MAX = 253;

/** The most a ConfigMap may hold (keys and values, bytes). */
export const CONFIG_MAP_MAX_BYTES = 1024 * 1024;

/** A label value: empty, or ≤ 63 characters of `[-_.A-Za-z0-9]` that start and end with a letter or digit. */
export const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
export const LABEL_VALUE_MAX = 63;

/** The suffix of a deployment's Service name; the reference example reaches php at `<name>-service.<ns>.svc.cluster.local`. */
export const SERVICE_SUFFIX = "-service";

/** The longest deployment name whose `<name>-service` is still a valid Service name (63 characters). */
export const MAX_DEPLOYMENT_NAME_LENGTH = DNS_1123_LABEL_MAX - SERVICE_SUFFIX.length;

/** A Service name: an RFC 1035 label (starts with a letter), ≤ 63 characters. */
export function isDns1035Label(value: string): boolean {
  return value.length <= DNS_1123_LABEL_MAX && DNS_1035_LABEL.test(value);
}

/** The fastest-validator rule of a deployment's name: `isValidDeploymentName`, with words for its pattern. */
export const deploymentNameRule = {
  type: "string",
  empty: false,
  max: MAX_DEPLOYMENT_NAME_LENGTH,
  pattern: DNS_1035_LABEL,
  messages: {
    stringPattern:
      "The '{field}' field must start with a letter and hold only lower-case letters, digits and '-' (not at its end).",
  },
} as const;

/** A deployment name: its Service `<name>-service` must be an RFC 1035 label, so it starts with a letter and has ≤ 55 characters. */
export function isValidDeploymentName(value: string): boolean {
  return value.length <= MAX_DEPLOYMENT_NAME_LENGTH && DNS_1035_LABEL.test(value);
}

/**
 * A ConfigMap key, used as a file name when the ConfigMap is mounted: kube-apiserver's IsConfigMapKey (not `.`, and not
 * starting with `..`, the kubelet's own names in a mounted volume, `..data` among them).
 */
export function isValidConfigKey(value: string): boolean {
  return value.length <= CONFIG_KEY_MAX && CONFIG_KEY.test(value) && value !== "." && !value.startsWith("..");
}

/** A volume mount's `subPath`: kube-apiserver's validateLocalDescendingPath (relative, no `..` element). */
export function isValidSubPath(value: string): boolean {
  return value !== "" && !value.startsWith("/") && !value.split(/[\\/]/).includes("..");
}

/** An environment variable name Kubernetes accepts in a ConfigMap/Secret used by `envFrom` (`[-._a-zA-Z][-._a-zA-Z0-9]*`). */
export function isValidEnvName(value: string): boolean {
  return value.length <= CONFIG_KEY_MAX && ENV_VAR_NAME.test(value);
}

const IPV4 = /^\d+\.\d+\.\d+\.\d+$/;

/**
 * An Ingress host (vHost): a lower-case DNS-1123 subdomain, optionally prefixed by `*.` (a wildcard for exactly one
 * label), and not an IPv4 address (Ingress rejects IPs).
 */
export function isValidHost(value: string): boolean {
  const bare = value.startsWith("*.") ? value.slice(2) : value;
  return bare.length > 0 && isDnsSubdomain(bare) && !IPV4.test(bare);
}

/** A TCP/UDP port number: an integer in 1..65535. */
export function isValidPort(value: number): boolean {
  return Number.isInteger(value) && value >= 1 && value <= 65535;
}

/** A container port name: an IANA service name (≤ 15 characters, lower-case, one letter at least, no `--`). */
export function isValidPortName(value: string): boolean {
  return value.length <= IANA_SVC_NAME_MAX && IANA_SVC_NAME.test(value);
}

/** A Kubernetes label value. */
export function isValidLabelValue(value: string): boolean {
  return value.length <= LABEL_VALUE_MAX && LABEL_VALUE.test(value);
}

/** An absolute path in a container (mount paths): starts with `/`, no `..` segment, no NUL, no `:`. */
export function isValidMountPath(value: string): boolean {
  return (
    value.startsWith("/") && !value.includes("\0") && !value.includes(":") && !value.split("/").some((s) => s === "..")
  );
}

/** The parts of a `DeploymentInput` that can be wrong in ways the cluster would reject. Structural, not nominal. */
export interface CheckableDeployment {
  readonly name: string;
  readonly namespace: string;
  readonly image: {
    readonly ports: readonly { readonly name?: string; readonly port: number; readonly protocol?: string }[];
    readonly config?: { readonly mountPath: string };
    readonly resources?: CheckableResources;
  };
  readonly replicas: number;
  readonly vHosts: readonly string[];
  readonly volumes: readonly {
    readonly name: string;
    readonly type: string;
    readonly mountPath: string;
    readonly persistentVolumeClaim?: { readonly claimName: string };
    readonly sizeLimit?: string;
    readonly subPath?: string;
  }[];
  readonly configMap?: {
    readonly name: string;
    readonly data: Readonly<Record<string, string>>;
    readonly mountPath?: string;
  };
  readonly resources?: CheckableResources;
}

interface CheckableResources {
  readonly limits?: { readonly cpu?: number; readonly memory?: number };
  readonly requests?: { readonly cpu?: number; readonly memory?: number };
}

/**
 * Everything wrong with a deployment input, in fastest-validator's issue shape (empty = renderable and acceptable to
 * the API server). A service throws `invalid(issue.field, issue.message)` (or a ValidationError with all of them).
 */
export function deploymentInputIssues(input: CheckableDeployment): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const add = (field: string, message: string, actual: unknown): void => {
    issues.push({ type: "invalid", field, message, actual });
  };
  if (!isValidDeploymentName(input.name)) {
    add(
      "name",
      `must start with a letter, hold only lower-case letters, digits and '-', and have at most ${MAX_DEPLOYMENT_NAME_LENGTH} characters`,
      input.name,
    );
  }
  if (!isDnsLabel(input.namespace)) add("namespace", "must be a DNS-1123 label", input.namespace);
  if (!Number.isInteger(input.replicas) || input.replicas < 0) {
    add("replicas", "must be a non-negative integer", input.replicas);
  }
  const seenPorts = new Set<string>();
  input.image.ports.forEach((p, i) => {
    if (!isValidPort(p.port)) add(`image.ports[${i}].port`, "must be an integer in 1..65535", p.port);
    const protocol = p.protocol ?? "TCP";
    if (!["TCP", "UDP", "SCTP"].includes(protocol)) {
      add(`image.ports[${i}].protocol`, "must be TCP, UDP or SCTP", p.protocol);
    }
    const key = `${p.port}/${protocol}`;
    if (seenPorts.has(key)) add(`image.ports[${i}].port`, "is declared twice for the same protocol", key);
    seenPorts.add(key);
  });
  input.vHosts.forEach((h, i) => {
    if (!isValidHost(h)) add(`vHosts[${i}]`, "must be a lower-case DNS name (optionally '*.'-prefixed), not an IP", h);
  });
  if (input.vHosts.length > 0 && !input.image.ports.some((p) => (p.protocol ?? "TCP") === "TCP")) {
    // No Service port for an Ingress to route to: the hosts would be kept from everyone else and serve nothing.
    add("vHosts", "must be empty: the image has no TCP port to route to", input.vHosts);
  }
  const volumeNames = new Set<string>();
  const mountPaths = new Set<string>();
  input.volumes.forEach((v, i) => {
    if (!isDnsLabel(v.name)) add(`volumes[${i}].name`, "must be a DNS-1123 label", v.name);
    if (volumeNames.has(v.name)) add(`volumes[${i}].name`, "is used twice", v.name);
    volumeNames.add(v.name);
    if (!isValidMountPath(v.mountPath)) add(`volumes[${i}].mountPath`, "must be an absolute path", v.mountPath);
    if (mountPaths.has(v.mountPath)) add(`volumes[${i}].mountPath`, "is mounted twice", v.mountPath);
    mountPaths.add(v.mountPath);
    if (v.subPath !== undefined && !isValidSubPath(v.subPath)) {
      add(`volumes[${i}].subPath`, "must be a relative path without '..' elements", v.subPath);
    }
    if (v.type === "persistentVolumeClaim") {
      const claim = v.persistentVolumeClaim?.claimName ?? "";
      if (!isDnsSubdomain(claim))
        add(`volumes[${i}].persistentVolumeClaim.claimName`, "must be a DNS-1123 subdomain", claim);
    } else if (v.type === "emptyDir") {
      if (v.sizeLimit !== undefined && !isValidStorageSize(v.sizeLimit)) {
        add(`volumes[${i}].sizeLimit`, "must be a positive quantity such as 1Gi", v.sizeLimit);
      }
    } else {
      add(`volumes[${i}].type`, "must be persistentVolumeClaim or emptyDir", v.type);
    }
  });
  if (input.configMap !== undefined) {
    const cm = input.configMap;
    if (!isDnsLabel(cm.name)) add("configMap.name", "must be a DNS-1123 label", cm.name);
    if (volumeNames.has(cm.name)) add("configMap.name", "is also the name of a volume", cm.name);
    if (cm.name === "env") add("configMap.name", "makes '<deployment>-env', the ConfigMap of the env values", cm.name);
    if (!isDnsSubdomain(`${input.name}-${cm.name}`)) {
      add("configMap.name", "makes '<deployment>-<name>' an invalid ConfigMap name", cm.name);
    }
    for (const key of Object.keys(cm.data)) {
      if (!isValidConfigKey(key))
        add(`configMap.data.${key}`, "must be a file name ([-._a-zA-Z0-9]+, not '.', not starting with '..')", key);
    }
    const size = Object.entries(cm.data).reduce((n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v), 0);
    if (size > CONFIG_MAP_MAX_BYTES) add("configMap.data", `must hold at most ${CONFIG_MAP_MAX_BYTES} bytes`, size);
    const mountPath = cm.mountPath ?? input.image.config?.mountPath;
    if (mountPath === undefined) {
      // Rendered, the ConfigMap would be made and mounted nowhere.
      add("configMap.mountPath", "is required: the image gives no config mount path", mountPath);
    } else if (!isValidMountPath(mountPath)) {
      add("configMap.mountPath", "must be an absolute path", mountPath);
    } else if (mountPath !== undefined) {
      const dir = mountPath.replace(/\/+$/, "");
      for (const key of Object.keys(cm.data)) {
        if (mountPaths.has(`${dir}/${key}`))
          add(`configMap.data.${key}`, "is mounted where a volume is", `${dir}/${key}`);
      }
    }
  }
  if (input.resources !== undefined) {
    resourceIssues(input.resources, "resources", add);
    // A request of the record over the image's limit (the record setting none): the render would cap the request at
    // the limit, so the pods would get less than asked for, and the answer would not say so.
    for (const res of ["cpu", "memory"] as const) {
      const request = input.resources.requests?.[res];
      const imageLimit = input.image.resources?.limits?.[res];
      if (input.resources.limits?.[res] === undefined && request !== undefined && imageLimit !== undefined) {
        if (request > imageLimit) {
          add(
            `resources.requests.${res}`,
            `must not exceed the image's limits.${res}, ${imageLimit}; set resources.limits.${res} too`,
            request,
          );
        }
      }
    }
  }
  return issues;
}

function resourceIssues(
  r: CheckableResources,
  field: string,
  add: (field: string, message: string, actual: unknown) => void,
): void {
  for (const side of ["limits", "requests"] as const) {
    for (const res of ["cpu", "memory"] as const) {
      const v = r[side]?.[res];
      if (v !== undefined && (!Number.isInteger(v) || v < 0)) {
        add(`${field}.${side}.${res}`, `must be a non-negative integer (${res === "cpu" ? "millicores" : "MiB"})`, v);
      }
    }
  }
  for (const res of ["cpu", "memory"] as const) {
    const limit = r.limits?.[res];
    const request = r.requests?.[res];
    if (limit !== undefined && request !== undefined && request > limit) {
      add(`${field}.requests.${res}`, `must not exceed limits.${res}`, request);
    }
  }
}

/** A namespace's quota as the suite sets it: CPU millicores and memory MiB (each for requests and limits), pods. */
export interface CheckableQuota {
  readonly cpu?: number | undefined;
  readonly memory?: number | undefined;
  readonly pods?: number | undefined;
}

/**
 * What of a deployment can never fit its namespace's quota, even in an otherwise empty namespace: one pod's CPU or
 * memory (the record's resources over the image's, as rendered) over the quota, or its replicas together over it (or
 * more replicas than the quota's pods). The API server would refuse every such pod later, one by one, while the
 * deployment stays Progressing with `FailedCreate`; said at once, the field names what to change. Resources left to the
 * namespace's LimitRange defaults are not counted (those are made to fit).
 */
export function quotaIssues(
  input: {
    readonly replicas: number;
    readonly image: { readonly resources?: CheckableResources };
    readonly resources?: CheckableResources;
  },
  quota: CheckableQuota | undefined,
): ValidationIssue[] {
  if (quota === undefined) return [];
  const issues: ValidationIssue[] = [];
  const units = { cpu: "millicores", memory: "MiB" } as const;
  for (const res of ["cpu", "memory"] as const) {
    const hard = quota[res];
    if (hard === undefined) continue;
    // The quota binds requests and limits alike; requests are capped at limits when rendered.
    const limit = input.resources?.limits?.[res] ?? input.image.resources?.limits?.[res];
    const request = input.resources?.requests?.[res] ?? input.image.resources?.requests?.[res];
    const perPod = limit ?? request;
    if (perPod === undefined) continue;
    const side = limit === undefined ? "requests" : "limits";
    const field = `resources.${side}.${res}`;
    if (perPod > hard) {
      issues.push({
        type: "overQuota",
        field,
        message: `The '${field}' field must be at most the namespace's ${res} quota, ${hard} ${units[res]}; ${perPod} is more (one pod could never start).`,
        actual: perPod,
      });
    } else if (perPod * input.replicas > hard) {
      issues.push({
        type: "overQuota",
        field: "replicas",
        message: `The 'replicas' field asks for ${input.replicas} pods of ${perPod} ${units[res]} ${res} each, more than the namespace's ${res} quota of ${hard} ${units[res]}.`,
        actual: input.replicas,
      });
    }
  }
  if (quota.pods !== undefined && input.replicas > quota.pods) {
    issues.push({
      type: "overQuota",
      field: "replicas",
      message: `The 'replicas' field must be at most the namespace's pod quota, ${quota.pods}.`,
      actual: input.replicas,
    });
  }
  return issues;
}
