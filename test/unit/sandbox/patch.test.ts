import { describe, it, expect } from "@jest/globals";
import { mergePatch, strategicMergePatch } from "../../../lib/sandbox/patch/merge.ts";
import {
  fieldsOf,
  pathString,
  serverSideApply,
  trackUpdate,
  type ManagedFieldsEntry,
} from "../../../lib/sandbox/patch/apply.ts";
import { StatusError } from "../../../lib/sandbox/status.ts";
import type { KubeObject } from "../../../lib/sandbox/types.ts";

function deployment(extra: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "web", namespace: "default", labels: { app: "web" } },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: "web" } },
      template: {
        metadata: { labels: { app: "web" } },
        spec: {
          containers: [
            {
              name: "web",
              image: "nginx:1",
              ports: [{ containerPort: 80 }],
              env: [{ name: "A", value: "1" }],
              volumeMounts: [{ name: "data", mountPath: "/data" }],
            },
          ],
          volumes: [{ name: "data", emptyDir: {} }],
        },
      },
      ...extra,
    },
  };
}

type Spec = { template: { spec: { containers: Record<string, unknown>[]; volumes: unknown[] } } };

describe("sandbox merge patch (RFC 7396)", () => {
  it("merges objects, removes nulls and replaces lists", () => {
    expect(mergePatch({ a: 1, b: { c: 2, d: 3 }, l: [1, 2] }, { b: { c: null, e: 4 }, l: [3] })).toEqual({
      a: 1,
      b: { d: 3, e: 4 },
      l: [3],
    });
  });
});

describe("sandbox strategic merge patch", () => {
  it("merges containers, env, ports and volumes by their merge keys", () => {
    const patched = strategicMergePatch(deployment(), {
      spec: {
        template: {
          spec: {
            containers: [
              { name: "web", image: "nginx:2", env: [{ name: "B", value: "2" }], ports: [{ containerPort: 443 }] },
              { name: "sidecar", image: "busybox" },
            ],
            volumes: [{ name: "cache", emptyDir: {} }],
          },
        },
      },
    }) as KubeObject;
    const spec = patched.spec as Spec;
    const web = spec.template.spec.containers[0] as Record<string, unknown>;
    expect(spec.template.spec.containers.map((c) => c.name)).toEqual(["web", "sidecar"]);
    expect(web.image).toBe("nginx:2");
    expect(web.env).toEqual([
      { name: "A", value: "1" },
      { name: "B", value: "2" },
    ]);
    expect(web.ports).toEqual([{ containerPort: 80 }, { containerPort: 443 }]);
    expect(spec.template.spec.volumes).toHaveLength(2);
  });

  it("honours $patch: delete, $patch: replace, $retainKeys and $deleteFromPrimitiveList", () => {
    const spec = (o: unknown): Spec => (o as KubeObject).spec as Spec;
    const deleted = strategicMergePatch(deployment(), {
      spec: { template: { spec: { containers: [{ name: "web", $patch: "delete" }] } } },
    });
    expect(spec(deleted).template.spec.containers).toEqual([]);
    const replaced = strategicMergePatch(deployment(), {
      spec: { template: { spec: { volumes: [{ $patch: "replace" }, { name: "only", emptyDir: {} }] } } },
    });
    expect(spec(replaced).template.spec.volumes).toEqual([{ name: "only", emptyDir: {} }]);
    const retained = strategicMergePatch(
      { strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 1 } } },
      { strategy: { $retainKeys: ["type"], type: "Recreate" } },
    );
    expect(retained).toEqual({ strategy: { type: "Recreate" } });
    const dropped = strategicMergePatch(
      { metadata: { finalizers: ["a", "b"] } },
      { metadata: { "$deleteFromPrimitiveList/finalizers": ["a"] } },
    );
    expect(dropped).toEqual({ metadata: { finalizers: ["b"] } });
  });

  it("merges a field named like an Object.prototype member (valueOf, constructor) as an atomic list", () => {
    // The fuzz test of the sandbox's API found this as a 500: `ports: {"valueOf": [null]}` looked up `valueOf` in the
    // table of list strategies and took Object.prototype.valueOf for one.
    for (const name of ["valueOf", "constructor", "toString", "hasOwnProperty"]) {
      expect(strategicMergePatch({ spec: { [name]: [1, 2] } }, { spec: { [name]: [3, null] } })).toEqual({
        spec: { [name]: [3, null] },
      });
      const patched = strategicMergePatch(deployment(), {
        spec: { template: { spec: { containers: [{ name: "web", ports: { [name]: [null] } }] } } },
      }) as KubeObject;
      const web = (patched.spec as Spec).template.spec.containers[0] as Record<string, unknown>;
      expect(web.ports).toEqual({ [name]: [null] });
    }
  });

  it("keys Service ports by port and container ports by containerPort", () => {
    const svc = strategicMergePatch(
      { spec: { ports: [{ port: 80, name: "http" }] } },
      { spec: { ports: [{ port: 80, targetPort: 8080 }] } },
    );
    expect(svc).toEqual({ spec: { ports: [{ port: 80, name: "http", targetPort: 8080 }] } });
  });
});

describe("sandbox server-side apply", () => {
  const now = "2026-01-01T00:00:00Z";
  const apply = (live: KubeObject | undefined, applied: KubeObject, manager: string, force = false): KubeObject =>
    serverSideApply({ live, applied, manager, force, apiVersion: "apps/v1", now });

  it("records the applied fields in FieldsV1 form, keyed list items included", () => {
    const set = fieldsOf(deployment());
    expect(set["f:metadata"]).toEqual({ "f:labels": { "f:app": {} } });
    const containers = (((set["f:spec"] ?? {})["f:template"] ?? {})["f:spec"] ?? {})["f:containers"] ?? {};
    expect(Object.keys(containers)).toEqual(['k:{"name":"web"}']);
    expect(containers['k:{"name":"web"}']?.["f:env"]).toEqual({
      'k:{"name":"A"}': { ".": {}, "f:name": {}, "f:value": {} },
    });
    expect(pathString(["f:spec", "f:template", "f:spec", "f:containers", 'k:{"name":"web"}', "f:image"])).toBe(
      '.spec.template.spec.containers[name="web"].image',
    );
  });

  it("conflicts only on fields another manager owns with a different value, and force takes them over", () => {
    const first = apply(undefined, deployment(), "a");
    const sameValue = apply(
      first,
      { ...deployment(), metadata: { name: "web", namespace: "default" }, spec: { replicas: 1 } },
      "b",
    );
    const owners = (sameValue.metadata.managedFields as ManagedFieldsEntry[]).map((m) => m.manager);
    expect(owners).toEqual(["a", "b"]);
    let conflict: unknown;
    try {
      apply(
        first,
        {
          ...deployment(),
          spec: { replicas: 2, template: { spec: { containers: [{ name: "web", image: "nginx:2" }] } } },
        },
        "b",
      );
    } catch (err) {
      conflict = err;
    }
    expect(conflict).toBeInstanceOf(StatusError);
    expect((conflict as StatusError).status).toMatchObject({
      code: 409,
      reason: "Conflict",
      message:
        'Apply failed with 2 conflicts: conflicts with "a":\n- .spec.replicas\n- .spec.template.spec.containers[name="web"].image',
    });
    const forced = apply(first, { ...deployment(), spec: { replicas: 2 } }, "b", true);
    expect((forced.spec as { replicas: number }).replicas).toBe(2);
    const a = (forced.metadata.managedFields as ManagedFieldsEntry[]).find((m) => m.manager === "a");
    expect(JSON.stringify(a?.fieldsV1)).not.toContain("f:replicas");
  });

  it("removes fields and list items the manager no longer applies, unless another manager owns them", () => {
    const first = apply(undefined, deployment(), "a");
    const withB = apply(
      first,
      { apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "web", labels: { app: "web" } } },
      "b",
    );
    const shrunk = deployment();
    const shrunkSpec = shrunk.spec as Spec;
    shrunkSpec.template.spec.containers[0] = { name: "web", image: "nginx:1" };
    shrunk.metadata.labels = {};
    const after = apply(withB, shrunk, "a");
    const container = (after.spec as Spec).template.spec.containers[0] as Record<string, unknown>;
    expect(container.env).toBeUndefined();
    expect(container.ports).toBeUndefined();
    // b still applies the label, so it stays
    expect(after.metadata.labels).toEqual({ app: "web" });
  });

  it("keeps the applied order of a keyed list, another manager's items after the item they followed", () => {
    const withMounts = (mounts: { name: string; mountPath: string }[]) => {
      const d = deployment();
      const c = (d.spec as Spec).template.spec.containers[0] as Record<string, unknown>;
      c.volumeMounts = mounts;
      return d;
    };
    const cfg = { name: "cfg", mountPath: "/etc/cfg" };
    const data = { name: "data", mountPath: "/data" };
    const mountsOf = (o: KubeObject) =>
      (((o.spec as Spec).template.spec.containers[0] as { volumeMounts: { name: string }[] }).volumeMounts ?? []).map(
        (m) => m.name,
      );
    const first = apply(undefined, withMounts([cfg]), "a");
    // A new item before the one there: in that order (it was appended, and a drift check saw the list reordered).
    expect(mountsOf(apply(first, withMounts([data, cfg]), "a"))).toEqual(["data", "cfg"]);
    expect(mountsOf(apply(apply(first, withMounts([cfg, data]), "a"), withMounts([data, cfg]), "a"))).toEqual([
      "data",
      "cfg",
    ]);
    // Another manager's item stays after the live item before it (here: the start, as kube-apiserver puts it).
    const other = { name: "logs", mountPath: "/logs" };
    const withOther = apply(first, withMounts([other]), "b");
    expect(mountsOf(withOther)).toEqual(["cfg", "logs"]);
    expect(mountsOf(apply(withOther, withMounts([data, cfg]), "a"))).toEqual(["data", "cfg", "logs"]);
  });

  it("changes nothing on a re-apply of the same configuration (time included)", () => {
    const first = apply(undefined, deployment(), "a");
    const again = serverSideApply({
      live: first,
      applied: deployment(),
      manager: "a",
      force: false,
      apiVersion: "apps/v1",
      now: "2030-01-01T00:00:00Z",
    });
    expect(again).toEqual(first);
  });

  it("gives an updating manager the fields it changed", () => {
    const first = apply(undefined, deployment(), "a");
    const next = JSON.parse(JSON.stringify(first)) as KubeObject;
    (next.spec as { replicas: number }).replicas = 5;
    trackUpdate(first, next, "kubectl", "apps/v1", now, "scale");
    const entries = next.metadata.managedFields as ManagedFieldsEntry[];
    expect(entries.find((e) => e.manager === "kubectl")).toMatchObject({
      operation: "Update",
      subresource: "scale",
      fieldsV1: { "f:spec": { "f:replicas": {} } },
    });
    expect(JSON.stringify(entries.find((e) => e.manager === "a")?.fieldsV1)).not.toContain("f:replicas");
  });
});
