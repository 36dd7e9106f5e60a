/**
 * The sandbox's RBAC, pure parts: request attributes from method + path (kube-apiserver's RequestInfoFactory), rule
 * matching (verbs, groups, resources with subresources, resourceNames, nonResourceURLs), bindings and subjects, and
 * the 403 message.
 */
import { describe, it, expect } from "@jest/globals";
import { Store } from "../../../lib/sandbox/store.ts";
import {
  authorize,
  bootstrapPolicy,
  forbiddenError,
  RBAC_KEYS,
  requestAttributes,
  ruleAllows,
  rulesFor,
  serviceAccountUserInfo,
  subjectMatches,
  type PolicyRule,
  type UserInfo,
} from "../../../lib/sandbox/http/rbac.ts";

const BOT = serviceAccountUserInfo("shop", "bot");
const q = (s = ""): URLSearchParams => new URLSearchParams(s);
const attrs = (method: string, path: string, query = "", user: UserInfo = BOT) =>
  requestAttributes(user, method, path, q(query));

describe("sandbox rbac: request attributes", () => {
  it("reads verb, group, resource, subresource, namespace and name from the path", () => {
    expect(attrs("GET", "/api/v1/namespaces/shop/pods/web-1/log")).toMatchObject({
      resourceRequest: true,
      verb: "get",
      apiGroup: "",
      apiVersion: "v1",
      resource: "pods",
      subresource: "log",
      namespace: "shop",
      name: "web-1",
    });
    expect(attrs("PATCH", "/apis/apps/v1/namespaces/shop/deployments/web/scale")).toMatchObject({
      verb: "patch",
      apiGroup: "apps",
      resource: "deployments",
      subresource: "scale",
      name: "web",
    });
    expect(attrs("POST", "/api/v1/namespaces/shop/serviceaccounts/bot/token")).toMatchObject({
      verb: "create",
      resource: "serviceaccounts",
      subresource: "token",
    });
  });

  it("turns collection reads into list or watch, and collection deletes into deletecollection", () => {
    expect(attrs("GET", "/api/v1/pods").verb).toBe("list");
    expect(attrs("GET", "/api/v1/pods", "watch=true").verb).toBe("watch");
    expect(attrs("GET", "/api/v1/watch/namespaces/shop/pods")).toMatchObject({ verb: "watch", namespace: "shop" });
    expect(attrs("DELETE", "/api/v1/namespaces/shop/configmaps").verb).toBe("deletecollection");
    expect(attrs("DELETE", "/api/v1/namespaces/shop/configmaps/a").verb).toBe("delete");
    expect(attrs("GET", "/api/v1/namespaces/shop/pods", "fieldSelector=metadata.name%3Dweb").name).toBe("web");
  });

  it("treats a namespace's own path as the namespace (its status and finalize are its subresources)", () => {
    expect(attrs("DELETE", "/api/v1/namespaces/shop")).toMatchObject({
      resource: "namespaces",
      name: "shop",
      namespace: "shop",
      verb: "delete",
    });
    expect(attrs("PUT", "/api/v1/namespaces/shop/finalize")).toMatchObject({
      resource: "namespaces",
      name: "shop",
      subresource: "finalize",
    });
    expect(attrs("GET", "/api/v1/namespaces")).toMatchObject({ resource: "namespaces", namespace: "", verb: "list" });
  });

  it("sees discovery, OpenAPI and version as non-resource requests", () => {
    for (const path of ["/api", "/api/v1", "/apis", "/apis/apps", "/apis/apps/v1", "/openapi/v3", "/version"]) {
      expect(attrs("GET", path)).toMatchObject({ resourceRequest: false, verb: "get", path });
    }
  });
});

describe("sandbox rbac: rules", () => {
  const podsRead: PolicyRule = { apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch"] };

  it("allows only the listed verbs, groups and resources", () => {
    expect(ruleAllows(podsRead, attrs("GET", "/api/v1/namespaces/shop/pods/a"))).toBe(true);
    expect(ruleAllows(podsRead, attrs("DELETE", "/api/v1/namespaces/shop/pods/a"))).toBe(false);
    expect(ruleAllows(podsRead, attrs("GET", "/apis/apps/v1/namespaces/shop/deployments/a"))).toBe(false);
    expect(ruleAllows(podsRead, attrs("GET", "/apis/other/v1/namespaces/shop/pods/a"))).toBe(false);
  });

  it("needs the subresource named (pods does not grant pods/log; */scale grants every scale)", () => {
    expect(ruleAllows(podsRead, attrs("GET", "/api/v1/namespaces/shop/pods/a/log"))).toBe(false);
    const logs: PolicyRule = { apiGroups: [""], resources: ["pods/log"], verbs: ["get"] };
    expect(ruleAllows(logs, attrs("GET", "/api/v1/namespaces/shop/pods/a/log"))).toBe(true);
    expect(ruleAllows(logs, attrs("GET", "/api/v1/namespaces/shop/pods/a"))).toBe(false);
    const scales: PolicyRule = { apiGroups: ["apps"], resources: ["*/scale"], verbs: ["patch"] };
    expect(ruleAllows(scales, attrs("PATCH", "/apis/apps/v1/namespaces/shop/deployments/a/scale"))).toBe(true);
    expect(ruleAllows(scales, attrs("PATCH", "/apis/apps/v1/namespaces/shop/deployments/a"))).toBe(false);
  });

  it("limits by resourceNames (and so never matches a create, which has no name)", () => {
    const one: PolicyRule = { apiGroups: [""], resources: ["configmaps"], resourceNames: ["cfg"], verbs: ["*"] };
    expect(ruleAllows(one, attrs("GET", "/api/v1/namespaces/shop/configmaps/cfg"))).toBe(true);
    expect(ruleAllows(one, attrs("GET", "/api/v1/namespaces/shop/configmaps/other"))).toBe(false);
    expect(ruleAllows(one, attrs("POST", "/api/v1/namespaces/shop/configmaps"))).toBe(false);
  });

  it("matches nonResourceURLs exactly or by a trailing *", () => {
    const discovery: PolicyRule = { nonResourceURLs: ["/api", "/apis/*"], verbs: ["get"] };
    expect(ruleAllows(discovery, attrs("GET", "/api"))).toBe(true);
    expect(ruleAllows(discovery, attrs("GET", "/apis/apps/v1"))).toBe(true);
    expect(ruleAllows(discovery, attrs("GET", "/api/v1"))).toBe(false);
    expect(ruleAllows(discovery, attrs("POST", "/api"))).toBe(false);
    // a non-resource rule never grants a resource request
    expect(ruleAllows({ nonResourceURLs: ["*"], verbs: ["*"] }, attrs("GET", "/api/v1/pods"))).toBe(false);
  });
});

describe("sandbox rbac: bindings", () => {
  function storeWith(objects: { key: string; object: Record<string, unknown> }[]): Store {
    const store = new Store();
    const policy = bootstrapPolicy();
    for (const r of policy.clusterRoles) store.create(RBAC_KEYS.clusterRoles, r);
    for (const b of policy.clusterRoleBindings) store.create(RBAC_KEYS.clusterRoleBindings, b);
    store.create("namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: "shop" } });
    for (const { key, object } of objects) store.create(key, object as never);
    return store;
  }
  const RBAC = "rbac.authorization.k8s.io/v1";

  it("matches User, Group and ServiceAccount subjects (a ServiceAccount without namespace is the binding's)", () => {
    expect(subjectMatches({ kind: "ServiceAccount", name: "bot", namespace: "shop" }, BOT, "")).toBe(true);
    expect(subjectMatches({ kind: "ServiceAccount", name: "bot" }, BOT, "shop")).toBe(true);
    expect(subjectMatches({ kind: "ServiceAccount", name: "bot" }, BOT, "other")).toBe(false);
    expect(subjectMatches({ kind: "Group", name: "system:serviceaccounts:shop" }, BOT, "")).toBe(true);
    expect(subjectMatches({ kind: "User", name: BOT.name }, BOT, "")).toBe(true);
    expect(subjectMatches({ kind: "User", name: "alice" }, BOT, "")).toBe(false);
  });

  it("grants a ClusterRole everywhere through a ClusterRoleBinding, and only in its namespace through a RoleBinding", () => {
    const store = storeWith([
      {
        key: RBAC_KEYS.clusterRoles,
        object: {
          apiVersion: RBAC,
          kind: "ClusterRole",
          metadata: { name: "cm" },
          rules: [{ apiGroups: [""], resources: ["configmaps"], verbs: ["list"] }],
        },
      },
      {
        key: RBAC_KEYS.roles,
        object: {
          apiVersion: RBAC,
          kind: "Role",
          metadata: { name: "pods", namespace: "shop" },
          rules: [{ apiGroups: [""], resources: ["pods"], verbs: ["get"] }],
        },
      },
      {
        key: RBAC_KEYS.roleBindings,
        object: {
          apiVersion: RBAC,
          kind: "RoleBinding",
          metadata: { name: "bot-pods", namespace: "shop" },
          roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "pods" },
          subjects: [{ kind: "ServiceAccount", name: "bot" }],
        },
      },
      {
        key: RBAC_KEYS.roleBindings,
        object: {
          apiVersion: RBAC,
          kind: "RoleBinding",
          metadata: { name: "bot-cm", namespace: "shop" },
          roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "cm" },
          subjects: [{ kind: "ServiceAccount", name: "bot", namespace: "shop" }],
        },
      },
    ]);
    expect(authorize(store, attrs("GET", "/api/v1/namespaces/shop/pods/a"))).toBe(true);
    expect(authorize(store, attrs("GET", "/api/v1/namespaces/shop/configmaps"))).toBe(true);
    expect(authorize(store, attrs("GET", "/api/v1/namespaces/default/configmaps"))).toBe(false);
    expect(authorize(store, attrs("GET", "/api/v1/configmaps"))).toBe(false);
    // discovery comes from system:discovery, bound to system:authenticated
    expect(authorize(store, attrs("GET", "/apis/apps/v1"))).toBe(true);
    expect(authorize(store, attrs("GET", "/metrics"))).toBe(false);

    store.create(RBAC_KEYS.clusterRoleBindings, {
      apiVersion: RBAC,
      kind: "ClusterRoleBinding",
      metadata: { name: "bot-cm" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "cm" },
      subjects: [{ kind: "ServiceAccount", name: "bot", namespace: "shop" }],
    });
    expect(authorize(store, attrs("GET", "/api/v1/configmaps"))).toBe(true);
    expect(authorize(store, attrs("GET", "/api/v1/namespaces/default/configmaps"))).toBe(true);
  });

  it("grants nothing through a binding whose role does not exist; system:masters may do anything", () => {
    const store = storeWith([
      {
        key: RBAC_KEYS.clusterRoleBindings,
        object: {
          apiVersion: RBAC,
          kind: "ClusterRoleBinding",
          metadata: { name: "dangling" },
          roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "missing" },
          subjects: [{ kind: "ServiceAccount", name: "bot", namespace: "shop" }],
        },
      },
    ]);
    expect(rulesFor(store, BOT, "shop").filter((r) => r.resources !== undefined && r.resources.length > 0)).toEqual([
      {
        apiGroups: ["authorization.k8s.io"],
        resources: ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
        verbs: ["create"],
      },
      { apiGroups: ["authentication.k8s.io"], resources: ["selfsubjectreviews"], verbs: ["create"] },
    ]);
    const admin: UserInfo = { name: "sandbox-admin", groups: ["system:masters", "system:authenticated"] };
    expect(authorize(store, attrs("DELETE", "/apis/rbac.authorization.k8s.io/v1/clusterroles/x", "", admin))).toBe(
      true,
    );
  });
});

describe("sandbox rbac: the 403", () => {
  it("says who cannot do what, as kube-apiserver does", () => {
    const inNs = forbiddenError(attrs("GET", "/api/v1/namespaces/shop/pods/web/log"));
    expect(inNs.code).toBe(403);
    expect(inNs.status).toMatchObject({
      reason: "Forbidden",
      message:
        'pods "web" is forbidden: User "system:serviceaccount:shop:bot" cannot get resource "pods/log" in API group "" in the namespace "shop"',
      details: { name: "web", kind: "pods" },
    });
    expect(forbiddenError(attrs("GET", "/api/v1/nodes")).status.message).toBe(
      'nodes is forbidden: User "system:serviceaccount:shop:bot" cannot list resource "nodes" in API group "" at the cluster scope',
    );
    expect(forbiddenError(attrs("DELETE", "/apis/rbac.authorization.k8s.io/v1/clusterroles/x")).status).toMatchObject({
      message:
        'clusterroles.rbac.authorization.k8s.io "x" is forbidden: User "system:serviceaccount:shop:bot" cannot delete resource "clusterroles" in API group "rbac.authorization.k8s.io" at the cluster scope',
      details: { group: "rbac.authorization.k8s.io", kind: "clusterroles", name: "x" },
    });
    expect(forbiddenError(attrs("GET", "/metrics")).status.message).toBe(
      'forbidden: User "system:serviceaccount:shop:bot" cannot get path "/metrics"',
    );
  });
});
