/**
 * A subset of kube-apiserver's object validation, returning field errors (causes) in its words.
 */
import type { StatusCause } from "../status.ts";
import type { KubeObject, ResourceType } from "../types.ts";

type Rec = Record<string, unknown>;
function rec(v: unknown): Rec | undefined {
  return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Rec) : undefined;
}

const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const QUALIFIED_NAME =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const CONFIG_KEY = /^[-._a-zA-Z0-9]+$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

const required = (field: string): StatusCause => ({ reason: "FieldValueRequired", field, message: "Required value" });
const invalid = (field: string, value: unknown, detail: string): StatusCause => ({
  reason: "FieldValueInvalid",
  field,
  message: `Invalid value: ${typeof value === "string" ? JSON.stringify(value) : JSON.stringify(value)}: ${detail}`,
});
const unsupported = (field: string, value: unknown, allowed: string[]): StatusCause => ({
  reason: "FieldValueNotSupported",
  field,
  message: `Unsupported value: ${JSON.stringify(value)}: supported values: ${allowed.map((a) => `"${a}"`).join(", ")}`,
});

/** kube-apiserver's `MaxSecretSize`: what a ConfigMap's or a Secret's values may hold together (1 MiB). */
const MAX_DATA_BYTES = 1024 * 1024;

/**
 * The 1 MiB limit on a ConfigMap's values (`data` as UTF-8, `binaryData` decoded) or a Secret's (`data` decoded, and
 * `stringData`, which the API server folds into `data` first), as kube-apiserver's ValidateConfigMap / ValidateSecret
 * count it: the values, not the keys.
 */
function validateDataSize(resource: string, o: KubeObject, causes: StatusCause[]): void {
  const bytesOf = (field: string, encoding: "utf8" | "base64"): number =>
    Object.values(rec(o[field]) ?? {}).reduce<number>(
      (sum, v) => sum + (typeof v === "string" ? Buffer.byteLength(v, encoding) : 0),
      0,
    );
  const total =
    resource === "secrets"
      ? bytesOf("data", "base64") + bytesOf("stringData", "utf8")
      : bytesOf("data", "utf8") + bytesOf("binaryData", "base64");
  if (total > MAX_DATA_BYTES) {
    causes.push({
      reason: "FieldValueTooLong",
      // kube-apiserver names the whole ConfigMap with an empty path, which it prints as "[]".
      field: resource === "secrets" ? "data" : "[]",
      message: `Too long: may not be more than ${MAX_DATA_BYTES} bytes`,
    });
  }
}

function validateMetadata(o: KubeObject, causes: StatusCause[]): void {
  const labels = o.metadata.labels;
  if (labels !== undefined) {
    if (rec(labels) === undefined) causes.push(invalid("metadata.labels", labels, "must be a map of strings"));
    else {
      for (const [k, v] of Object.entries(labels)) {
        if (!QUALIFIED_NAME.test(k)) {
          causes.push(
            invalid(
              "metadata.labels",
              k,
              "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
            ),
          );
        }
        if (typeof v !== "string" || !LABEL_VALUE.test(v) || v.length > 63) {
          causes.push(
            invalid(
              "metadata.labels",
              v,
              "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
            ),
          );
        }
      }
    }
  }
  const annotations = o.metadata.annotations;
  if (annotations !== undefined) {
    const a = rec(annotations);
    if (a === undefined || Object.values(a).some((v) => typeof v !== "string")) {
      causes.push(invalid("metadata.annotations", annotations, "must be a map of strings"));
    }
  }
}

/** A container's fields that are lists. */
const CONTAINER_LIST_FIELDS = ["command", "args", "ports", "env", "envFrom", "volumeMounts", "volumeDevices"] as const;

function validatePodSpec(spec: unknown, field: string, causes: StatusCause[], restartPolicies?: string[]): void {
  const s = rec(spec);
  if (s === undefined) {
    causes.push(required(field));
    return;
  }
  const containers = s.containers;
  if (!Array.isArray(containers) || containers.length === 0) {
    causes.push(required(`${field}.containers`));
  } else {
    const names = new Set<string>();
    containers.forEach((c, i) => {
      const cf = `${field}.containers[${i}]`;
      const container = rec(c);
      if (container === undefined) {
        causes.push(invalid(cf, c, "must be an object"));
        return;
      }
      if (typeof container.name !== "string" || container.name === "") causes.push(required(`${cf}.name`));
      else if (!DNS1123_LABEL.test(container.name)) {
        causes.push(
          invalid(
            `${cf}.name`,
            container.name,
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
          ),
        );
      } else if (names.has(container.name)) {
        causes.push(duplicate(`${cf}.name`, container.name));
      } else names.add(container.name);
      if (typeof container.image !== "string" || container.image.trim() === "") causes.push(required(`${cf}.image`));
      // kube-apiserver cannot even decode these as anything but lists (400); a 422 naming the field is as clear.
      for (const listField of CONTAINER_LIST_FIELDS) {
        const value = container[listField];
        if (value !== undefined && value !== null && !Array.isArray(value)) {
          causes.push(invalid(`${cf}.${listField}`, value, "must be a list"));
        }
      }
      if (Array.isArray(container.ports)) {
        const portNames = new Set<string>();
        container.ports.forEach((p, j) => {
          const port = rec(p)?.containerPort;
          if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535) {
            causes.push(
              invalid(`${cf}.ports[${j}].containerPort`, port ?? 0, "must be between 1 and 65535, inclusive"),
            );
          }
          const name = rec(p)?.name;
          if (typeof name === "string" && name !== "") {
            if (portNames.has(name)) causes.push(duplicate(`${cf}.ports[${j}].name`, name));
            portNames.add(name);
          }
        });
      }
      if (Array.isArray(container.volumeMounts)) {
        container.volumeMounts.forEach((m, j) => {
          const subPath = rec(m)?.subPath;
          if (typeof subPath === "string" && subPath !== "") {
            for (const problem of localDescendingPathProblems(subPath)) {
              causes.push(invalid(`${cf}.volumeMounts[${j}].subPath`, subPath, problem));
            }
          }
        });
      }
    });
  }
  if (
    restartPolicies !== undefined &&
    s.restartPolicy !== undefined &&
    !restartPolicies.includes(String(s.restartPolicy))
  ) {
    causes.push(unsupported(`${field}.restartPolicy`, s.restartPolicy, restartPolicies));
  }
}

/** kube-apiserver's `FieldValueDuplicate` cause. */
function duplicate(field: string, value: unknown): StatusCause {
  return { reason: "FieldValueDuplicate", field, message: `Duplicate value: ${JSON.stringify(value)}` };
}

/** kube-apiserver's validateLocalDescendingPath (a volume mount's `subPath`): relative, and no `..` element. */
function localDescendingPathProblems(path: string): string[] {
  const problems: string[] = [];
  if (path.startsWith("/")) problems.push("must be a relative path");
  if (path.split(/[\\/]/).includes("..")) problems.push("must not contain '..'");
  return problems;
}

/** kube-apiserver's IsConfigMapKey messages beyond the character set: not `.` or `..`, not starting with `..`. */
function configKeyDotProblem(key: string): string | undefined {
  if (key === ".") return "must not be '.'";
  if (key === "..") return "must not be '..'";
  if (key.startsWith("..")) return "must not start with '..'";
  return undefined;
}

function labelsMatch(selector: unknown, labels: unknown): boolean {
  const sel = rec(selector);
  const l = rec(labels) ?? {};
  if (sel === undefined) return false;
  for (const [k, v] of Object.entries(rec(sel.matchLabels) ?? {})) if (l[k] !== v) return false;
  return true;
}

function validateWorkload(o: KubeObject, causes: StatusCause[], selectorRequired: boolean, restart?: string[]): void {
  const spec = rec(o.spec);
  if (spec === undefined) {
    causes.push(required("spec"));
    return;
  }
  if (
    spec.replicas !== undefined &&
    (typeof spec.replicas !== "number" || !Number.isInteger(spec.replicas) || spec.replicas < 0)
  ) {
    causes.push(invalid("spec.replicas", spec.replicas, "must be greater than or equal to 0"));
  } else if (typeof spec.replicas === "number" && spec.replicas > 2147483647) {
    // kube-apiserver cannot even decode it into its int32
    causes.push(invalid("spec.replicas", spec.replicas, "must be less than or equal to 2147483647"));
  }
  const template = rec(spec.template);
  if (selectorRequired) {
    const sel = rec(spec.selector);
    if (
      sel === undefined ||
      (Object.keys(rec(sel.matchLabels) ?? {}).length === 0 && !Array.isArray(sel.matchExpressions))
    ) {
      causes.push(required("spec.selector"));
    } else if (!labelsMatch(sel, rec(template?.metadata)?.labels)) {
      causes.push(
        invalid(
          "spec.template.metadata.labels",
          rec(template?.metadata)?.labels ?? {},
          "`selector` does not match template `labels`",
        ),
      );
    }
  }
  if (template === undefined) causes.push(required("spec.template"));
  else validatePodSpec(template.spec, "spec.template.spec", causes, restart);
}

const RBAC_GROUP = "rbac.authorization.k8s.io";
const requiredDetail = (field: string, detail: string): StatusCause => ({
  reason: "FieldValueRequired",
  field,
  message: `Required value: ${detail}`,
});

function list(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

/** rbac/validation.ValidatePolicyRule over a (Cluster)Role's rules. */
function validateRules(o: KubeObject, namespaced: boolean, causes: StatusCause[]): void {
  list(o.rules).forEach((raw, i) => {
    const rule = rec(raw) ?? {};
    const at = `rules[${i}]`;
    if (list(rule.verbs).length === 0)
      causes.push(requiredDetail(`${at}.verbs`, "verbs must contain at least one value"));
    const urls = list(rule.nonResourceURLs);
    if (urls.length > 0) {
      if (namespaced) {
        causes.push(invalid(`${at}.nonResourceURLs`, urls, "namespaced rules cannot apply to non-resource URLs"));
      }
      if (list(rule.apiGroups).length > 0 || list(rule.resources).length > 0 || list(rule.resourceNames).length > 0) {
        causes.push(
          invalid(`${at}.nonResourceURLs`, urls, "rules cannot apply to both regular resources and non-resource URLs"),
        );
      }
      return;
    }
    if (list(rule.apiGroups).length === 0) {
      causes.push(requiredDetail(`${at}.apiGroups`, "resource rules must supply at least one api group"));
    }
    if (list(rule.resources).length === 0) {
      causes.push(requiredDetail(`${at}.resources`, "resource rules must supply at least one resource"));
    }
  });
}

/** rbac/validation.ValidateRoleBinding / ValidateClusterRoleBinding (+ roleRef is immutable). */
function validateBinding(o: KubeObject, namespaced: boolean, old: KubeObject | undefined, causes: StatusCause[]): void {
  const ref = rec(o.roleRef);
  if (ref === undefined) causes.push(required("roleRef"));
  else {
    if (ref.apiGroup !== RBAC_GROUP) causes.push(unsupported("roleRef.apiGroup", ref.apiGroup ?? "", [RBAC_GROUP]));
    const kinds = namespaced ? ["Role", "ClusterRole"] : ["ClusterRole"];
    if (!kinds.includes(String(ref.kind))) causes.push(unsupported("roleRef.kind", ref.kind ?? "", kinds));
    if (typeof ref.name !== "string" || ref.name === "") causes.push(required("roleRef.name"));
  }
  list(o.subjects).forEach((raw, i) => {
    const subject = rec(raw) ?? {};
    const at = `subjects[${i}]`;
    if (typeof subject.name !== "string" || subject.name === "") causes.push(required(`${at}.name`));
    switch (subject.kind) {
      case "ServiceAccount":
        if (subject.apiGroup !== undefined && subject.apiGroup !== "") {
          causes.push(unsupported(`${at}.apiGroup`, subject.apiGroup, [""]));
        }
        if (!namespaced && (typeof subject.namespace !== "string" || subject.namespace === "")) {
          causes.push(requiredDetail(`${at}.namespace`, ""));
        }
        break;
      case "User":
      case "Group":
        if (subject.apiGroup !== RBAC_GROUP) {
          causes.push(unsupported(`${at}.apiGroup`, subject.apiGroup ?? "", [RBAC_GROUP]));
        }
        break;
      default:
        causes.push(unsupported(`${at}.kind`, subject.kind ?? "", ["ServiceAccount", "User", "Group"]));
    }
  });
  if (old !== undefined && JSON.stringify(old.roleRef) !== JSON.stringify(o.roleRef)) {
    causes.push(invalid("roleRef", o.roleRef ?? null, "cannot change roleRef"));
  }
}

/** Field errors of an object about to be created or replaced; `old` for updates (immutable fields). */
export function validateObject(rt: ResourceType, o: KubeObject, old?: KubeObject): StatusCause[] {
  const causes: StatusCause[] = [];
  validateMetadata(o, causes);
  switch (rt.key) {
    case "deployments.apps":
    case "replicasets.apps":
      validateWorkload(o, causes, true, ["Always"]);
      if (old !== undefined && JSON.stringify(rec(old.spec)?.selector) !== JSON.stringify(rec(o.spec)?.selector)) {
        causes.push(invalid("spec.selector", rec(o.spec)?.selector ?? null, "field is immutable"));
      }
      break;
    case "statefulsets.apps":
      validateWorkload(o, causes, true, ["Always"]);
      if (old !== undefined && JSON.stringify(rec(old.spec)?.selector) !== JSON.stringify(rec(o.spec)?.selector)) {
        causes.push(invalid("spec.selector", rec(o.spec)?.selector ?? null, "field is immutable"));
      }
      break;
    case "roles.rbac.authorization.k8s.io":
    case "clusterroles.rbac.authorization.k8s.io":
      validateRules(o, rt.namespaced, causes);
      break;
    case "rolebindings.rbac.authorization.k8s.io":
    case "clusterrolebindings.rbac.authorization.k8s.io":
      validateBinding(o, rt.namespaced, old, causes);
      break;
    case "jobs.batch": {
      validateWorkload(o, causes, false, ["OnFailure", "Never"]);
      const tpl = rec(rec(rec(o.spec)?.template)?.spec);
      if (tpl !== undefined && tpl.restartPolicy === undefined) {
        causes.push(required("spec.template.spec.restartPolicy"));
      }
      break;
    }
    case "pods":
      validatePodSpec(o.spec, "spec", causes, ["Always", "OnFailure", "Never"]);
      break;
    case "services": {
      const spec = rec(o.spec) ?? {};
      const type = spec.type ?? "ClusterIP";
      if (!["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"].includes(String(type))) {
        causes.push(unsupported("spec.type", type, ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]));
      }
      const ports = spec.ports;
      if (type !== "ExternalName" && spec.clusterIP !== "None" && (!Array.isArray(ports) || ports.length === 0)) {
        causes.push(required("spec.ports"));
      }
      if (Array.isArray(ports)) {
        const names = new Set<string>();
        ports.forEach((p, i) => {
          const port = rec(p)?.port;
          if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535) {
            causes.push(invalid(`spec.ports[${i}].port`, port ?? 0, "must be between 1 and 65535, inclusive"));
          }
          const name = rec(p)?.name;
          if (ports.length > 1 && (typeof name !== "string" || name === ""))
            causes.push(required(`spec.ports[${i}].name`));
          if (typeof name === "string" && name !== "") {
            if (names.has(name)) causes.push(duplicate(`spec.ports[${i}].name`, name));
            names.add(name);
          }
        });
      }
      break;
    }
    case "configmaps":
    case "secrets":
      for (const field of ["data", "binaryData", "stringData"]) {
        const data = o[field];
        if (data === undefined || data === null) continue;
        const map = rec(data);
        if (map === undefined) {
          causes.push(invalid(field, data, "must be a map"));
          continue;
        }
        for (const [k, v] of Object.entries(map)) {
          if (!CONFIG_KEY.test(k) || k.length > 253) {
            causes.push(
              invalid(
                `${field}[${k}]`,
                k,
                "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
              ),
            );
          }
          const dots = configKeyDotProblem(k);
          if (dots !== undefined) causes.push(invalid(`${field}[${k}]`, k, dots));
          if (typeof v !== "string") causes.push(invalid(`${field}[${k}]`, v, "must be a string"));
        }
      }
      validateDataSize(rt.resource, o, causes);
      break;
    case "persistentvolumeclaims": {
      const spec = rec(o.spec);
      if (spec === undefined) causes.push(required("spec"));
      else {
        if (!Array.isArray(spec.accessModes) || spec.accessModes.length === 0) {
          causes.push(required("spec.accessModes"));
        }
        const storage = rec(rec(spec.resources)?.requests)?.storage;
        if (storage === undefined) causes.push(required("spec.resources[storage]"));
      }
      break;
    }
    case "ingresses.networking.k8s.io": {
      const spec = rec(o.spec);
      if (
        spec === undefined ||
        (spec.defaultBackend === undefined && (!Array.isArray(spec.rules) || spec.rules.length === 0))
      ) {
        causes.push({
          reason: "FieldValueInvalid",
          field: "spec",
          message: 'Invalid value: "": either `defaultBackend` or `rules` must be specified',
        });
      }
      break;
    }
  }
  return causes;
}
