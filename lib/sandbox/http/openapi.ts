/**
 * OpenAPI v3: the `/openapi/v3` root and one document per group version. The schemas are permissive stubs; what
 * matters to kubectl is that each PATCH operation names its kind (`x-kubernetes-group-version-kind`) and takes a
 * `fieldValidation` parameter, so that `kubectl apply` leaves validation to the server.
 */
import { createHash } from "node:crypto";
import type { ResourceType } from "../types.ts";

const PACKAGES: Record<string, string> = {
  "": "core",
  apps: "apps",
  batch: "batch",
  "networking.k8s.io": "networking",
  "metrics.k8s.io": "metrics",
};

function gvPath(group: string, version: string): string {
  return group === "" ? `api/${version}` : `apis/${group}/${version}`;
}

function schemaName(rt: Pick<ResourceType, "group" | "version" | "kind">): string {
  return `io.k8s.api.${PACKAGES[rt.group] ?? rt.group}.${rt.version}.${rt.kind}`;
}

const QUERY = (name: string, description: string, type = "string"): unknown => ({
  name,
  in: "query",
  description,
  schema: { type, uniqueItems: true },
});

const PATCH_PARAMS = [
  QUERY("dryRun", "When present, indicates that modifications should not be persisted."),
  QUERY("fieldManager", "fieldManager is a name associated with the actor or entity that is making these changes."),
  QUERY(
    "fieldValidation",
    "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields: Ignore, Warn or Strict.",
  ),
  QUERY("force", 'Force is going to "force" Apply requests.', "boolean"),
];
const WRITE_PARAMS = PATCH_PARAMS.filter((p) => (p as { name: string }).name !== "force");

function ref(rt: ResourceType): unknown {
  return { $ref: `#/components/schemas/${schemaName(rt)}` };
}

function operations(rt: ResourceType, item: boolean, sub?: string): Record<string, unknown> {
  const gvk = { group: rt.group, version: rt.version, kind: sub === "scale" ? "Scale" : rt.kind };
  const id = `${rt.kind}${sub === undefined ? "" : sub[0]?.toUpperCase() + sub.slice(1)}`;
  const body = {
    content: { "application/json": { schema: ref(rt) } },
    required: true,
  };
  const ok = { responses: { "200": { description: "OK", content: { "application/json": { schema: ref(rt) } } } } };
  const op = (action: string, verb: string, params: unknown[], extra: object = {}): unknown => ({
    description: `${verb} ${rt.kind}`,
    operationId: `${verb}${id}`,
    parameters: params,
    ...ok,
    "x-kubernetes-action": action,
    "x-kubernetes-group-version-kind": gvk,
    ...extra,
  });
  if (sub === "log") return { get: op("connect", "read", []) };
  if (sub === "token") {
    return {
      post: {
        ...(op("post", "create", WRITE_PARAMS, { requestBody: body }) as object),
        "x-kubernetes-group-version-kind": { group: "authentication.k8s.io", version: "v1", kind: "TokenRequest" },
      },
    };
  }
  if (!rt.verbs.includes("get")) {
    // create-only (the reviews): POST on the collection
    return item ? {} : { post: op("post", "create", WRITE_PARAMS, { requestBody: body }) };
  }
  const writable = rt.verbs.includes("update");
  if (!item) {
    return {
      get: op("list", "list", []),
      ...(writable && sub === undefined ? { post: op("post", "create", WRITE_PARAMS, { requestBody: body }) } : {}),
    };
  }
  return {
    get: op("get", "read", []),
    ...(writable
      ? {
          put: op("put", "replace", WRITE_PARAMS, { requestBody: body }),
          patch: op("patch", "patch", PATCH_PARAMS, {
            requestBody: {
              content: {
                "application/json-patch+json": { schema: { type: "object" } },
                "application/merge-patch+json": { schema: { type: "object" } },
                "application/strategic-merge-patch+json": { schema: { type: "object" } },
                "application/apply-patch+yaml": { schema: { type: "object" } },
              },
              required: true,
            },
          }),
          ...(sub === undefined ? { delete: op("delete", "delete", WRITE_PARAMS) } : {}),
        }
      : {}),
  };
}

/** The `/openapi/v3` root: one entry per served group version. */
export function openAPIRoot(types: readonly ResourceType[]): unknown {
  const paths: Record<string, { serverRelativeURL: string }> = {};
  for (const rt of types) {
    const p = gvPath(rt.group, rt.version);
    const hash = createHash("sha256").update(`${p}:${types.length}`).digest("hex").slice(0, 32).toUpperCase();
    paths[p] = { serverRelativeURL: `/openapi/v3/${p}?hash=${hash}` };
  }
  return { paths };
}

/** The OpenAPI v3 document of one group version (path "api/v1" or "apis/apps/v1"), or undefined. */
export function openAPIDocument(types: readonly ResourceType[], path: string): unknown {
  const served = types.filter((t) => gvPath(t.group, t.version) === path);
  if (served.length === 0) return undefined;
  const paths: Record<string, unknown> = {};
  const schemas: Record<string, unknown> = {};
  for (const rt of served) {
    const base = `/${path}`;
    const collection = rt.namespaced ? `${base}/namespaces/{namespace}/${rt.resource}` : `${base}/${rt.resource}`;
    paths[collection] = operations(rt, false);
    const item = operations(rt, true);
    if (Object.keys(item).length > 0) paths[`${collection}/{name}`] = item;
    for (const sub of rt.subresources ?? []) paths[`${collection}/{name}/${sub}`] = operations(rt, true, sub);
    if (rt.namespaced) paths[`${base}/${rt.resource}`] = { get: (operations(rt, false) as { get: unknown }).get };
    schemas[schemaName(rt)] = {
      description: `${rt.kind} (a permissive schema: the sandbox validates on the server).`,
      type: "object",
      "x-kubernetes-preserve-unknown-fields": true,
    };
  }
  return {
    openapi: "3.0.0",
    info: { title: "Kubernetes", version: "v1.33.0" },
    paths,
    components: { schemas },
  };
}
