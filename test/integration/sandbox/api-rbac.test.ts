/**
 * The sandbox's RBAC driven by the real kubectl: ServiceAccount tokens from the TokenRequest API
 * (`kubectl create token`), `kubectl auth can-i|whoami` with them, Roles and bindings applied with kubectl, the
 * 403 answers in kube-apiserver's words, server-side apply that creates needing `create`, and the audit log.
 */
import { describe, it, expect, beforeAll, afterAll } from "@jest/globals";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startSandbox, type Sandbox } from "../../../lib/sandbox/index.ts";
import { kubectl, kubectlOk, type KubectlOptions } from "../../helpers/kubectl.ts";

let sandbox: Sandbox;
let dir: string;
let opts: KubectlOptions;
let token: string;

const NS = "shop";
const BOT = `system:serviceaccount:${NS}:bot`;

const as = (t: string) => ["--token", t];

const ROLE = `
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: pod-reader, namespace: ${NS}}
rules:
  - apiGroups: [""]
    resources: [pods]
    verbs: [get, list, watch]
  - apiGroups: [""]
    resources: [configmaps]
    verbs: [patch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: bot-pod-reader, namespace: ${NS}}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: pod-reader}
subjects:
  - kind: ServiceAccount
    name: bot
    namespace: ${NS}
`;

beforeAll(async () => {
  sandbox = await startSandbox({ port: 0, podReadyDelayMs: 20 });
  dir = await mkdtemp(join(tmpdir(), "sandbox-rbac-"));
  const kubeconfig = join(dir, "kubeconfig");
  await sandbox.writeKubeconfig(kubeconfig);
  opts = { kubeconfig, cacheDir: join(dir, "cache") };
  await kubectlOk(["create", "namespace", NS], opts);
  await kubectlOk(["create", "serviceaccount", "bot", "-n", NS], opts);
  token = (await kubectlOk(["create", "token", "bot", "-n", NS, "--duration", "1h"], opts)).trim();
});

afterAll(async () => {
  await sandbox?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe("sandbox TokenRequest (kubectl create token)", () => {
  it("mints a token that authenticates as the ServiceAccount and its groups", async () => {
    expect(token.split(".")).toHaveLength(3);
    const who = await kubectlOk(["auth", "whoami", "-o", "json", ...as(token)], opts);
    expect(JSON.parse(who)).toMatchObject({
      kind: "SelfSubjectReview",
      status: {
        userInfo: {
          username: BOT,
          groups: ["system:serviceaccounts", `system:serviceaccounts:${NS}`, "system:authenticated"],
        },
      },
    });
    const admin = JSON.parse(await kubectlOk(["auth", "whoami", "-o", "json"], opts)) as {
      status: { userInfo: { username: string; groups: string[] } };
    };
    expect(admin.status.userInfo).toMatchObject({
      username: "sandbox-admin",
      groups: expect.arrayContaining(["system:masters"]),
    });
  });

  it("refuses a too-short duration and an unknown ServiceAccount", async () => {
    const short = await kubectl(["create", "token", "bot", "-n", NS, "--duration", "1m"], opts);
    expect(short.code).not.toBe(0);
    expect(short.stderr).toContain(
      "spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes",
    );
    const missing = await kubectl(["create", "token", "nobody", "-n", NS], opts);
    expect(missing.stderr).toContain('serviceaccounts "nobody" not found');
  });

  it("does not take a token for another audience, nor one of a deleted ServiceAccount", async () => {
    const other = (await kubectlOk(["create", "token", "bot", "-n", NS, "--audience", "vault"], opts)).trim();
    const res = await fetch(`${sandbox.url}/api/v1/namespaces/${NS}/pods`, {
      headers: { authorization: `Bearer ${other}` },
    });
    expect(res.status).toBe(401);
    await kubectlOk(["create", "serviceaccount", "temp", "-n", NS], opts);
    const temp = (await kubectlOk(["create", "token", "temp", "-n", NS], opts)).trim();
    expect((await fetch(`${sandbox.url}/api`, { headers: { authorization: `Bearer ${temp}` } })).status).toBe(200);
    await kubectlOk(["delete", "serviceaccount", "temp", "-n", NS], opts);
    expect((await fetch(`${sandbox.url}/api`, { headers: { authorization: `Bearer ${temp}` } })).status).toBe(401);
  });
});

describe("sandbox RBAC (kubectl auth can-i, forbidden answers)", () => {
  it("grants a new ServiceAccount discovery and self-reviews only", async () => {
    const can = await kubectl(["auth", "can-i", "list", "pods", "-n", NS, ...as(token)], opts);
    expect(can.stdout.trim()).toBe("no");
    expect(can.code).toBe(1);
    const list = await kubectlOk(["auth", "can-i", "--list", "-n", NS, ...as(token)], opts);
    expect(list).toContain("selfsubjectaccessreviews.authorization.k8s.io");
    expect(list).toContain("[/apis/*]");
    expect(list).not.toContain("pods");
    const get = await kubectl(["get", "pods", "-n", NS, ...as(token)], opts);
    expect(get.code).not.toBe(0);
    expect(get.stderr).toContain(
      `Error from server (Forbidden): pods is forbidden: User "${BOT}" cannot list resource "pods" in API group "" in the namespace "${NS}"`,
    );
    // the admin token stays cluster-admin
    expect((await kubectlOk(["auth", "can-i", "*", "*", "--all-namespaces"], opts)).trim()).toBe("yes");
  });

  it("follows a Role and RoleBinding applied with kubectl, in their namespace only", async () => {
    await kubectlOk(["apply", "-f", "-"], { ...opts, stdin: ROLE });
    const yes = async (...args: string[]) =>
      (await kubectl(["auth", "can-i", ...args, ...as(token)], opts)).stdout.trim();
    expect(await yes("list", "pods", "-n", NS)).toBe("yes");
    expect(await yes("watch", "pods", "-n", NS)).toBe("yes");
    expect(await yes("delete", "pods", "-n", NS)).toBe("no");
    expect(await yes("get", "pods", "--subresource=log", "-n", NS)).toBe("no");
    expect(await yes("list", "pods", "-n", "default")).toBe("no");
    expect(await yes("list", "nodes")).toBe("no");
    expect((await kubectl(["get", "pods", "-n", NS, ...as(token)], opts)).stderr).toContain("No resources found");
    const nodes = await kubectl(["get", "nodes", ...as(token)], opts);
    expect(nodes.stderr).toContain(
      `nodes is forbidden: User "${BOT}" cannot list resource "nodes" in API group "" at the cluster scope`,
    );
  });

  it("answers a refused request with kube-apiserver's 403 Status, before it could be a 404", async () => {
    const res = await fetch(`${sandbox.url}/apis/rbac.authorization.k8s.io/v1/clusterroles/cluster-admin`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${token}` },
    });
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: `clusterroles.rbac.authorization.k8s.io "cluster-admin" is forbidden: User "${BOT}" cannot delete resource "clusterroles" in API group "rbac.authorization.k8s.io" at the cluster scope`,
      reason: "Forbidden",
      details: { name: "cluster-admin", group: "rbac.authorization.k8s.io", kind: "clusterroles" },
      code: 403,
    });
    // a resource the sandbox does not serve is still authorized first
    const unserved = await fetch(`${sandbox.url}/apis/storage.k8s.io/v1/storageclasses`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(unserved.status).toBe(403);
  });

  it("needs create, not only patch, for a server-side apply that creates", async () => {
    const cm = (name: string) =>
      `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ${name}, namespace: ${NS}}\ndata: {a: "1"}\n`;
    const refused = await kubectl(["apply", "--server-side", "-f", "-", ...as(token)], { ...opts, stdin: cm("fresh") });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain(
      `configmaps "fresh" is forbidden: User "${BOT}" cannot create resource "configmaps" in API group "" in the namespace "${NS}"`,
    );
    await kubectlOk(["apply", "--server-side", "-f", "-"], { ...opts, stdin: cm("existing") });
    const patched = await kubectl(["apply", "--server-side", "--force-conflicts", "-f", "-", ...as(token)], {
      ...opts,
      stdin: cm("existing").replace('"1"', '"2"'),
    });
    expect(patched.stderr).toBe("");
    expect(patched.stdout).toContain("configmap/existing serverside-applied");
    expect(sandbox.store.get("configmaps", NS, "fresh")).toBeUndefined();
  });

  it("keeps the RBAC kinds like any other: bootstrap roles listed, protobuf creates, roleRef immutable", async () => {
    const roles = await kubectlOk(["get", "clusterroles", "-o", "name"], opts);
    for (const name of ["cluster-admin", "system:discovery", "system:basic-user", "system:public-info-viewer"]) {
      expect(roles).toContain(`clusterrole.rbac.authorization.k8s.io/${name}`);
    }
    await kubectlOk(["create", "clusterrole", "node-reader", "--verb=get,list", "--resource=nodes"], opts);
    await kubectlOk(
      ["create", "clusterrolebinding", "bot-nodes", "--clusterrole=node-reader", `--serviceaccount=${NS}:bot`],
      opts,
    );
    expect((await kubectl(["auth", "can-i", "list", "nodes", ...as(token)], opts)).stdout.trim()).toBe("yes");
    const changed = await kubectl(
      ["patch", "clusterrolebinding", "bot-nodes", "--type=merge", "-p", '{"roleRef":{"name":"cluster-admin"}}'],
      opts,
    );
    expect(changed.stderr).toContain("roleRef: Invalid value");
    expect(changed.stderr).toContain("cannot change roleRef");
    await kubectlOk(["delete", "clusterrolebinding", "bot-nodes"], opts);
    expect((await kubectl(["auth", "can-i", "list", "nodes", ...as(token)], opts)).stdout.trim()).toBe("no");
  });
});

describe("sandbox audit log", () => {
  it("records each request with its user, attributes and answer", async () => {
    await fetch(`${sandbox.url}/api/v1/namespaces/${NS}/secrets/s1`, { headers: { authorization: `Bearer ${token}` } });
    const log = sandbox.auditLog();
    expect(log.at(-1)).toMatchObject({
      user: BOT,
      verb: "get",
      resourceRequest: true,
      apiGroup: "",
      resource: "secrets",
      subresource: "",
      namespace: NS,
      name: "s1",
      code: 403,
    });
    expect(
      log.some(
        (e) => e.user === "sandbox-admin" && e.resource === "namespaces" && e.verb === "create" && e.code === 201,
      ),
    ).toBe(true);
    expect(log.some((e) => e.user === BOT && e.resource === "pods" && e.verb === "list" && e.code === 200)).toBe(true);
  });

  it("keeps at most auditLogSize entries", async () => {
    const small = await startSandbox({ port: 0, auditLogSize: 3 });
    try {
      for (let i = 0; i < 5; i++) {
        await fetch(`${small.url}/api/v1/namespaces/default/configmaps/c${i}`, {
          headers: { authorization: `Bearer ${small.token}` },
        });
      }
      expect(small.auditLog().map((e) => [e.name, e.code])).toEqual([
        ["c2", 404],
        ["c3", 404],
        ["c4", 404],
      ]);
    } finally {
      await small.stop();
    }
  });
});
