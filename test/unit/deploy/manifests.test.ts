/**
 * deploy/ (the manifests that run the suite in a cluster), read as YAML: the ClusterRole grants exactly
 * lib/kube/permissions.ts (no more, no wildcards), the permissions cover what the code watches, the ServiceAccount is
 * bound and used by the services node only, and every kind used is one the sandbox serves.
 */
import { describe, it, expect } from "@jest/globals";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { permissionTriples, SUITE_PERMISSIONS, type Permission } from "../../../lib/kube/permissions.ts";
import { WATCHED_KINDS } from "../../../lib/kube/informers.ts";
import { RESOURCE_TYPES } from "../../../lib/sandbox/types.ts";

const DIR = join(import.meta.dirname, "../../../deploy");

interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: unknown;
}

function load(): Obj[] {
  const files = readdirSync(DIR)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort();
  return files.flatMap((f) =>
    parseAllDocuments(readFileSync(join(DIR, f), "utf8"))
      .map((d) => d.toJS() as Obj | null)
      .filter((o): o is Obj => o !== null),
  );
}

const objects = load();
const find = (kind: string, name: string): Obj => {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  if (o === undefined) throw new Error(`deploy/ has no ${kind} ${name}`);
  return o;
};
interface Rule {
  apiGroups?: string[];
  resources?: string[];
  verbs?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}
const rules = (find("ClusterRole", "moleculer-k8s").rules ?? []) as Rule[];
const granted: Permission[] = rules.flatMap((r) =>
  (r.apiGroups ?? []).flatMap((g) =>
    (r.resources ?? []).map((res) => ({ apiGroup: g, resource: res, verbs: r.verbs ?? [] })),
  ),
);
const triples = permissionTriples(SUITE_PERMISSIONS);
const has = (group: string, resource: string, verb: string): boolean =>
  triples.includes(`${group}\t${resource}\t${verb}`);

describe("deploy/ ClusterRole moleculer-k8s", () => {
  it("grants exactly the permissions of lib/kube/permissions.ts", () => {
    expect(permissionTriples(granted)).toEqual(triples);
  });

  it("has no wildcard, no resourceNames limit and no non-resource URLs", () => {
    for (const r of rules) {
      for (const field of [r.apiGroups, r.resources, r.verbs]) {
        expect(field?.some((v) => v.includes("*"))).toBe(false);
      }
      expect(r.resourceNames).toBeUndefined();
      expect(r.nonResourceURLs).toBeUndefined();
    }
    expect(triples.some((t) => t.includes("*"))).toBe(false);
  });

  it("lets the informers list and watch every watched kind in all namespaces", () => {
    for (const kind of WATCHED_KINDS) {
      const group = kind.apiVersion.includes("/") ? (kind.apiVersion.split("/")[0] ?? "") : "";
      expect([kind.plural, has(group, kind.plural, "list"), has(group, kind.plural, "watch")]).toEqual([
        kind.plural,
        true,
        true,
      ]);
    }
  });

  it("lets server-side apply create what it applies (patch and create) and nothing update", () => {
    for (const t of triples.filter((x) => x.endsWith("\tpatch"))) {
      const [group = "", resource = ""] = t.split("\t");
      expect([resource, has(group, resource, "create")]).toEqual([resource, true]);
    }
    expect(triples.filter((t) => t.endsWith("\tupdate") || t.endsWith("\tdeletecollection"))).toEqual([]);
    // reads of logs and metrics, and nothing on nodes or RBAC
    expect(has("", "pods/log", "get")).toBe(true);
    expect(has("metrics.k8s.io", "pods", "list")).toBe(true);
    expect(triples.some((t) => t.includes("nodes") || t.startsWith("rbac.authorization.k8s.io"))).toBe(false);
  });
});

describe("deploy/ objects", () => {
  it("binds the ClusterRole to the ServiceAccount, which only the services node mounts", () => {
    expect(find("ClusterRoleBinding", "moleculer-k8s")).toMatchObject({
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "moleculer-k8s" },
      subjects: [{ kind: "ServiceAccount", name: "moleculer-k8s", namespace: "moleculer-k8s" }],
    });
    find("ServiceAccount", "moleculer-k8s");
    const services = find("Deployment", "services") as Obj & { spec: { template: { spec: Record<string, unknown> } } };
    expect(services.spec.template.spec.serviceAccountName).toBe("moleculer-k8s");
    const gateway = find("Deployment", "gateway") as Obj & { spec: { template: { spec: Record<string, unknown> } } };
    expect(gateway.spec.template.spec.serviceAccountName).toBeUndefined();
    expect(gateway.spec.template.spec.automountServiceAccountToken).toBe(false);
  });

  it("runs the gateway with SERVICES=api and the services node with the rest, both over NATS", () => {
    const env = (name: string): Record<string, unknown> => {
      const d = find("Deployment", name) as Obj & {
        spec: { template: { spec: { containers: { env?: { name: string; value?: string }[] }[] } } };
      };
      return Object.fromEntries((d.spec.template.spec.containers[0]?.env ?? []).map((e) => [e.name, e.value]));
    };
    expect(env("gateway").SERVICES).toBe("api");
    expect(env("services").SERVICES).toBe("*,!api");
    const config = find("ConfigMap", "moleculer-k8s") as Obj & { data: Record<string, string> };
    expect(config.data.TRANSPORTER).toMatch(/^nats:\/\/nats\./);
    find("Service", "nats");
    find("Service", "gateway");
    find("StatefulSet", "mongodb");
  });

  it("puts everything in the moleculer-k8s namespace and never labels itself managed-by the suite", () => {
    for (const o of objects) {
      const scoped = !["Namespace", "ClusterRole", "ClusterRoleBinding"].includes(o.kind);
      expect([o.kind, o.metadata.name, scoped ? o.metadata.namespace : undefined]).toEqual([
        o.kind,
        o.metadata.name,
        scoped ? "moleculer-k8s" : undefined,
      ]);
      expect(o.metadata.labels?.["app.kubernetes.io/managed-by"]).toBeUndefined();
    }
  });

  it("uses only kinds the sandbox serves", () => {
    const served = new Set(
      RESOURCE_TYPES.map((t) => `${t.group === "" ? t.version : `${t.group}/${t.version}`}/${t.kind}`),
    );
    expect(objects.map((o) => `${o.apiVersion}/${o.kind}`).filter((k) => !served.has(k))).toEqual([]);
  });
});
