/**
 * RBAC as kube-apiserver does it (k8s.io/apiserver/pkg/endpoints/request/requestinfo.go, plugin/pkg/auth/authorizer/
 * rbac): a request's attributes are worked out from its method, path and query alone (so a resource the server does
 * not serve is still authorized first, and refused with 403 before it could be a 404); then the rules of every
 * ClusterRole bound cluster-wide to the user or one of its groups, and of every Role/ClusterRole bound by a
 * RoleBinding in the request's namespace, are searched for one that allows it. The group `system:masters` is
 * allowed everything (kube-apiserver's privileged-group authorizer). Everything here is pure over a reader of the
 * RBAC objects, so it is unit-tested without a server.
 */
import { StatusError } from "../status.ts";
import type { KubeObject } from "../types.ts";

export const RBAC_GROUP = "rbac.authorization.k8s.io";
export const MASTERS_GROUP = "system:masters";
export const AUTHENTICATED_GROUP = "system:authenticated";
export const SERVICE_ACCOUNTS_GROUP = "system:serviceaccounts";

/** Who makes a request (authentication's answer). */
export interface UserInfo {
  name: string;
  groups: string[];
  uid?: string;
}

/** What a request asks to do (authorizer.Attributes). */
export interface RequestAttributes {
  user: UserInfo;
  verb: string;
  resourceRequest: boolean;
  /** The URL path (non-resource requests are matched on it). */
  path: string;
  apiGroup: string;
  apiVersion: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
}

export interface PolicyRule {
  verbs: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

export interface Subject {
  kind: string;
  name: string;
  namespace?: string;
  apiGroup?: string;
}

export interface RoleRef {
  apiGroup: string;
  kind: string;
  name: string;
}

/** What the authorizer reads: the stored RBAC objects (the sandbox's Store satisfies it). */
export interface RbacReader {
  listRefs(key: string, namespace?: string): readonly KubeObject[];
  getRef(key: string, namespace: string | undefined, name: string): KubeObject | undefined;
}

export const RBAC_KEYS = {
  clusterRoles: `clusterroles.${RBAC_GROUP}`,
  clusterRoleBindings: `clusterrolebindings.${RBAC_GROUP}`,
  roles: `roles.${RBAC_GROUP}`,
  roleBindings: `rolebindings.${RBAC_GROUP}`,
} as const;

const METHOD_VERBS: Record<string, string> = {
  POST: "create",
  GET: "get",
  HEAD: "get",
  PUT: "update",
  PATCH: "patch",
  DELETE: "delete",
};
/** Subresources of a namespace object itself (`/api/v1/namespaces/<ns>/status`), not resources inside it. */
const NAMESPACE_SUBRESOURCES = new Set(["status", "finalize"]);
const PATH_SEGMENT_INVALID = /[/%]/;

function splitPath(path: string): string[] {
  const trimmed = path.replace(/^\/+|\/+$/g, "");
  return trimmed === "" ? [] : trimmed.split("/");
}

/**
 * The attributes of a request, from its method, path and query (kube-apiserver's RequestInfoFactory):
 * `/api/v1/namespaces/shop/pods/web/log` → get pods/log "web" in "shop"; a GET of a collection is list (or watch with
 * `watch=true` or the `/watch/` prefix); a DELETE of a collection is deletecollection; anything outside /api/<v>/…
 * and /apis/<g>/<v>/… is a non-resource request whose verb is the lower-cased method.
 */
export function requestAttributes(
  user: UserInfo,
  method: string,
  path: string,
  query: URLSearchParams,
): RequestAttributes {
  const upper = method.toUpperCase();
  const attrs: RequestAttributes = {
    user,
    verb: upper.toLowerCase(),
    resourceRequest: false,
    path,
    apiGroup: "",
    apiVersion: "",
    resource: "",
    subresource: "",
    namespace: "",
    name: "",
  };
  let parts = splitPath(path);
  if (parts.length < 3 || (parts[0] !== "api" && parts[0] !== "apis")) return attrs;
  const prefix = parts[0];
  parts = parts.slice(1);
  if (prefix === "apis") {
    if (parts.length < 3) return attrs;
    attrs.apiGroup = parts[0] ?? "";
    parts = parts.slice(1);
  }
  attrs.resourceRequest = true;
  attrs.apiVersion = parts[0] ?? "";
  parts = parts.slice(1);
  attrs.verb = METHOD_VERBS[upper] ?? upper.toLowerCase();
  if (parts[0] === "watch" && attrs.verb === "get") {
    attrs.verb = "watch";
    parts = parts.slice(1);
  }
  if (parts[0] === "namespaces") {
    if (parts.length > 1) {
      attrs.namespace = parts[1] ?? "";
      if (parts.length > 2 && !NAMESPACE_SUBRESOURCES.has(parts[2] ?? "")) parts = parts.slice(2);
    }
  }
  attrs.resource = parts[0] ?? "";
  attrs.name = parts[1] ?? "";
  attrs.subresource = parts[2] ?? "";
  if (attrs.name === "" && attrs.verb === "get") {
    attrs.verb = query.get("watch") === "true" || query.get("watch") === "1" ? "watch" : "list";
    const selector = query.get("fieldSelector") ?? "";
    const exact = /^metadata\.name==?([^,]+)$/.exec(selector.trim());
    if (exact !== null && !PATH_SEGMENT_INVALID.test(exact[1] ?? "")) attrs.name = exact[1] ?? "";
  }
  if (attrs.name === "" && attrs.verb === "delete") attrs.verb = "deletecollection";
  return attrs;
}

function has(list: readonly string[] | undefined, value: string): boolean {
  return list !== undefined && (list.includes("*") || list.includes(value));
}

/** Whether a rule's resources cover `resource` with `subresource` ("pods/log", "*", "*\/scale"). */
function resourceMatches(rule: PolicyRule, resource: string, subresource: string): boolean {
  const wanted = subresource === "" ? resource : `${resource}/${subresource}`;
  for (const r of rule.resources ?? []) {
    if (r === "*" || r === wanted) return true;
    if (subresource !== "" && r === `*/${subresource}`) return true;
  }
  return false;
}

function nonResourceURLMatches(spec: string, path: string): boolean {
  if (spec === "*" || spec === path) return true;
  return spec.endsWith("*") && path.startsWith(spec.slice(0, -1));
}

/** Whether one rule allows the request (rbac.RuleAllows). */
export function ruleAllows(rule: PolicyRule, attrs: RequestAttributes): boolean {
  if (!has(rule.verbs, attrs.verb)) return false;
  if (!attrs.resourceRequest) return (rule.nonResourceURLs ?? []).some((u) => nonResourceURLMatches(u, attrs.path));
  if (!has(rule.apiGroups, attrs.apiGroup)) return false;
  if (!resourceMatches(rule, attrs.resource, attrs.subresource)) return false;
  const names = rule.resourceNames ?? [];
  return names.length === 0 || names.includes(attrs.name);
}

/** Whether a binding's subject is this user (a ServiceAccount subject without a namespace is in the binding's). */
export function subjectMatches(subject: Subject, user: UserInfo, bindingNamespace: string): boolean {
  switch (subject.kind) {
    case "User":
      return subject.name === user.name;
    case "Group":
      return user.groups.includes(subject.name);
    case "ServiceAccount": {
      const ns = subject.namespace === undefined || subject.namespace === "" ? bindingNamespace : subject.namespace;
      return user.name === serviceAccountUser(ns, subject.name);
    }
    default:
      return false;
  }
}

/** "system:serviceaccount:<ns>:<name>". */
export function serviceAccountUser(namespace: string, name: string): string {
  return `system:serviceaccount:${namespace}:${name}`;
}

/** The user and groups a ServiceAccount's token authenticates as. */
export function serviceAccountUserInfo(namespace: string, name: string, uid?: string): UserInfo {
  return {
    name: serviceAccountUser(namespace, name),
    groups: [SERVICE_ACCOUNTS_GROUP, `${SERVICE_ACCOUNTS_GROUP}:${namespace}`, AUTHENTICATED_GROUP],
    ...(uid === undefined ? {} : { uid }),
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function strings(value: unknown): string[] | undefined {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : undefined;
}

/** The rules of a (Cluster)Role object, read defensively (stored objects passed validation, but be safe). */
export function rulesOf(role: KubeObject | undefined): PolicyRule[] {
  if (role === undefined || !Array.isArray(role.rules)) return [];
  return role.rules.filter(isRecord).map((r) => ({
    verbs: strings(r.verbs) ?? [],
    ...(strings(r.apiGroups) === undefined ? {} : { apiGroups: strings(r.apiGroups) ?? [] }),
    ...(strings(r.resources) === undefined ? {} : { resources: strings(r.resources) ?? [] }),
    ...(strings(r.resourceNames) === undefined ? {} : { resourceNames: strings(r.resourceNames) ?? [] }),
    ...(strings(r.nonResourceURLs) === undefined ? {} : { nonResourceURLs: strings(r.nonResourceURLs) ?? [] }),
  }));
}

function subjectsOf(binding: KubeObject): Subject[] {
  if (!Array.isArray(binding.subjects)) return [];
  return binding.subjects.filter(isRecord).map((s) => ({
    kind: typeof s.kind === "string" ? s.kind : "",
    name: typeof s.name === "string" ? s.name : "",
    ...(typeof s.namespace === "string" ? { namespace: s.namespace } : {}),
  }));
}

function roleRefOf(binding: KubeObject): RoleRef | undefined {
  const ref = binding.roleRef;
  if (!isRecord(ref) || typeof ref.kind !== "string" || typeof ref.name !== "string") return undefined;
  return { apiGroup: typeof ref.apiGroup === "string" ? ref.apiGroup : "", kind: ref.kind, name: ref.name };
}

/**
 * Every rule that applies to `user` for requests in `namespace` ("" = cluster scope): ClusterRoleBindings' roles
 * everywhere, plus, in a namespace, the Roles and ClusterRoles its RoleBindings bind. A binding whose role does
 * not exist grants nothing.
 */
export function rulesFor(reader: RbacReader, user: UserInfo, namespace: string): PolicyRule[] {
  const rules: PolicyRule[] = [];
  for (const crb of reader.listRefs(RBAC_KEYS.clusterRoleBindings)) {
    const ref = roleRefOf(crb);
    if (ref?.kind !== "ClusterRole" || !subjectsOf(crb).some((s) => subjectMatches(s, user, ""))) continue;
    rules.push(...rulesOf(reader.getRef(RBAC_KEYS.clusterRoles, undefined, ref.name)));
  }
  if (namespace === "") return rules;
  for (const rb of reader.listRefs(RBAC_KEYS.roleBindings, namespace)) {
    const ref = roleRefOf(rb);
    if (ref === undefined || !subjectsOf(rb).some((s) => subjectMatches(s, user, namespace))) continue;
    const role =
      ref.kind === "ClusterRole"
        ? reader.getRef(RBAC_KEYS.clusterRoles, undefined, ref.name)
        : ref.kind === "Role"
          ? reader.getRef(RBAC_KEYS.roles, namespace, ref.name)
          : undefined;
    rules.push(...rulesOf(role));
  }
  return rules;
}

/** The authorizer's decision. */
export function authorize(reader: RbacReader, attrs: RequestAttributes): boolean {
  if (attrs.user.groups.includes(MASTERS_GROUP)) return true;
  return rulesFor(reader, attrs.user, attrs.resourceRequest ? attrs.namespace : "").some((r) => ruleAllows(r, attrs));
}

/** kube-apiserver's forbidden message (endpoints/handlers/responsewriters.forbiddenMessage). */
export function forbiddenMessage(attrs: RequestAttributes): string {
  const user = attrs.user.name;
  if (!attrs.resourceRequest) return `User "${user}" cannot ${attrs.verb} path "${attrs.path}"`;
  const resource = attrs.subresource === "" ? attrs.resource : `${attrs.resource}/${attrs.subresource}`;
  if (attrs.namespace !== "") {
    return `User "${user}" cannot ${attrs.verb} resource "${resource}" in API group "${attrs.apiGroup}" in the namespace "${attrs.namespace}"`;
  }
  return `User "${user}" cannot ${attrs.verb} resource "${resource}" in API group "${attrs.apiGroup}" at the cluster scope`;
}

/** The 403 Status kube-apiserver answers (apierrors.NewForbidden over forbiddenMessage). */
export function forbiddenError(attrs: RequestAttributes): StatusError {
  const reason = forbiddenMessage(attrs);
  let message: string;
  if (!attrs.resourceRequest || attrs.resource === "") message = `forbidden: ${reason}`;
  else {
    const qualified = attrs.apiGroup === "" ? attrs.resource : `${attrs.resource}.${attrs.apiGroup}`;
    message =
      attrs.name === ""
        ? `${qualified} is forbidden: ${reason}`
        : `${qualified} "${attrs.name}" is forbidden: ${reason}`;
  }
  return new StatusError({
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message,
    reason: "Forbidden",
    details: {
      ...(attrs.name === "" ? {} : { name: attrs.name }),
      ...(attrs.apiGroup === "" ? {} : { group: attrs.apiGroup }),
      ...(attrs.resource === "" ? {} : { kind: attrs.resource }),
    },
    code: 403,
  });
}

const BOOTSTRAP_LABELS = { "kubernetes.io/bootstrapping": "rbac-defaults" };
const AUTOUPDATE = { "rbac.authorization.kubernetes.io/autoupdate": "true" };

function clusterRole(name: string, rules: PolicyRule[]): KubeObject {
  return {
    apiVersion: `${RBAC_GROUP}/v1`,
    kind: "ClusterRole",
    metadata: { name, labels: { ...BOOTSTRAP_LABELS }, annotations: { ...AUTOUPDATE } },
    rules,
  };
}

function clusterRoleBinding(name: string, role: string, groups: string[]): KubeObject {
  return {
    apiVersion: `${RBAC_GROUP}/v1`,
    kind: "ClusterRoleBinding",
    metadata: { name, labels: { ...BOOTSTRAP_LABELS }, annotations: { ...AUTOUPDATE } },
    roleRef: { apiGroup: RBAC_GROUP, kind: "ClusterRole", name: role },
    subjects: groups.map((g) => ({ apiGroup: RBAC_GROUP, kind: "Group", name: g })),
  };
}

/**
 * The part of kube-apiserver's bootstrap policy that matters here: cluster-admin (bound to system:masters),
 * system:discovery and system:public-info-viewer (discovery, OpenAPI, /version, health: every authenticated user),
 * and system:basic-user (SelfSubjectAccessReview/RulesReview/SelfSubjectReview: `kubectl auth can-i` and
 * `kubectl auth whoami` for everyone).
 */
export function bootstrapPolicy(): { clusterRoles: KubeObject[]; clusterRoleBindings: KubeObject[] } {
  return {
    clusterRoles: [
      clusterRole("cluster-admin", [
        { apiGroups: ["*"], resources: ["*"], verbs: ["*"] },
        { nonResourceURLs: ["*"], verbs: ["*"] },
      ]),
      clusterRole("system:discovery", [
        {
          nonResourceURLs: [
            "/api",
            "/api/*",
            "/apis",
            "/apis/*",
            "/healthz",
            "/livez",
            "/openapi",
            "/openapi/*",
            "/readyz",
            "/version",
            "/version/",
          ],
          verbs: ["get"],
        },
      ]),
      clusterRole("system:public-info-viewer", [
        { nonResourceURLs: ["/healthz", "/livez", "/readyz", "/version", "/version/"], verbs: ["get"] },
      ]),
      clusterRole("system:basic-user", [
        {
          apiGroups: ["authorization.k8s.io"],
          resources: ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
          verbs: ["create"],
        },
        { apiGroups: ["authentication.k8s.io"], resources: ["selfsubjectreviews"], verbs: ["create"] },
      ]),
    ],
    clusterRoleBindings: [
      clusterRoleBinding("cluster-admin", "cluster-admin", [MASTERS_GROUP]),
      clusterRoleBinding("system:discovery", "system:discovery", [AUTHENTICATED_GROUP]),
      clusterRoleBinding("system:public-info-viewer", "system:public-info-viewer", [
        AUTHENTICATED_GROUP,
        "system:unauthenticated",
      ]),
      clusterRoleBinding("system:basic-user", "system:basic-user", [AUTHENTICATED_GROUP]),
    ],
  };
}

/**
 * The `status` of a SelfSubjectRulesReview for `namespace`: the resource and non-resource rules that apply (what
 * `kubectl auth can-i --list` prints).
 */
export function rulesReviewStatus(reader: RbacReader, user: UserInfo, namespace: string): Record<string, unknown> {
  const rules = user.groups.includes(MASTERS_GROUP)
    ? rulesOf(bootstrapPolicy().clusterRoles[0])
    : rulesFor(reader, user, namespace);
  return {
    resourceRules: rules
      .filter((r) => r.nonResourceURLs === undefined || r.nonResourceURLs.length === 0)
      .map((r) => ({
        verbs: r.verbs,
        ...(r.apiGroups === undefined ? {} : { apiGroups: r.apiGroups }),
        ...(r.resources === undefined ? {} : { resources: r.resources }),
        ...(r.resourceNames === undefined ? {} : { resourceNames: r.resourceNames }),
      })),
    nonResourceRules: rules
      .filter((r) => r.nonResourceURLs !== undefined && r.nonResourceURLs.length > 0)
      .map((r) => ({ verbs: r.verbs, nonResourceURLs: r.nonResourceURLs })),
    incomplete: false,
  };
}
