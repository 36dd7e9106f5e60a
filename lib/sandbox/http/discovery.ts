/**
 * API discovery: legacy APIVersions / APIGroupList / APIResourceList, and aggregated discovery
 * (apidiscovery.k8s.io/v2 APIGroupDiscoveryList) when the client asks for it.
 */
import { createHash } from "node:crypto";
import { groupVersionOf, type ResourceType } from "../types.ts";

export const AGGREGATED_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
export const AGGREGATED_V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList";

/** Which aggregated discovery version the Accept header asks for (the first one it names), if any. */
export function wantsAggregated(accept: string | undefined): "v2" | "v2beta1" | undefined {
  if (accept === undefined) return undefined;
  for (const part of accept.split(",")) {
    const params = part
      .split(";")
      .map((p) => p.trim().toLowerCase().replace(/\s+/g, ""))
      .filter((p) => p !== "");
    if (!params.includes("as=apigroupdiscoverylist") || !params.includes("g=apidiscovery.k8s.io")) continue;
    if (params.includes("v=v2")) return "v2";
    if (params.includes("v=v2beta1")) return "v2beta1";
  }
  return undefined;
}

function storageVersionHash(rt: ResourceType): string {
  return createHash("sha256")
    .update(`${groupVersionOf(rt)}/${rt.kind}`)
    .digest("base64")
    .slice(0, 11);
}

const SUBRESOURCE_VERBS: Record<string, string[]> = {
  status: ["get", "patch", "update"],
  scale: ["get", "patch", "update"],
  log: ["get"],
  token: ["create"],
};

function subresourceKind(rt: ResourceType, sub: string): { group: string; version: string; kind: string } {
  if (sub === "scale") return { group: "autoscaling", version: "v1", kind: "Scale" };
  if (sub === "token") return { group: "authentication.k8s.io", version: "v1", kind: "TokenRequest" };
  return { group: rt.group, version: rt.version, kind: rt.kind };
}

/** `/api`: the core group's versions. */
export function apiVersions(serverAddress: string): unknown {
  return {
    kind: "APIVersions",
    versions: ["v1"],
    serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress }],
  };
}

function groupsOf(types: readonly ResourceType[]): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  for (const rt of types) {
    if (rt.group === "") continue;
    const versions = groups.get(rt.group) ?? [];
    if (!versions.includes(rt.version)) versions.push(rt.version);
    groups.set(rt.group, versions);
  }
  return groups;
}

function apiGroup(name: string, versions: string[]): unknown {
  const list = versions.map((v) => ({ groupVersion: `${name}/${v}`, version: v }));
  return { name, versions: list, preferredVersion: list[0] };
}

/** `/apis`: the named groups. */
export function apiGroupList(types: readonly ResourceType[]): unknown {
  return {
    kind: "APIGroupList",
    apiVersion: "v1",
    groups: [...groupsOf(types)].map(([name, versions]) => apiGroup(name, versions)),
  };
}

/** `/apis/<group>`: one group, or undefined. */
export function apiGroupDoc(types: readonly ResourceType[], group: string): unknown {
  const versions = groupsOf(types).get(group);
  return versions === undefined
    ? undefined
    : { kind: "APIGroup", apiVersion: "v1", ...(apiGroup(group, versions) as object) };
}

/** `/api/v1`, `/apis/<group>/<version>`: the resources of a group version, or undefined. */
export function apiResourceList(types: readonly ResourceType[], group: string, version: string): unknown {
  const served = types.filter((t) => t.group === group && t.version === version);
  if (served.length === 0) return undefined;
  const resources: unknown[] = [];
  for (const rt of served) {
    resources.push({
      name: rt.resource,
      singularName: rt.singularName ?? rt.kind.toLowerCase(),
      namespaced: rt.namespaced,
      kind: rt.kind,
      verbs: rt.verbs,
      ...(rt.shortNames === undefined ? {} : { shortNames: rt.shortNames }),
      ...(rt.categories === undefined ? {} : { categories: rt.categories }),
      storageVersionHash: storageVersionHash(rt),
    });
    for (const sub of rt.subresources ?? []) {
      const k = subresourceKind(rt, sub);
      resources.push({
        name: `${rt.resource}/${sub}`,
        singularName: "",
        namespaced: rt.namespaced,
        ...(sub === "scale" || sub === "token" ? { group: k.group, version: k.version } : {}),
        kind: k.kind,
        verbs: SUBRESOURCE_VERBS[sub] ?? ["get"],
      });
    }
  }
  return {
    kind: "APIResourceList",
    apiVersion: "v1",
    groupVersion: group === "" ? version : `${group}/${version}`,
    resources,
  };
}

function discoveryResource(rt: ResourceType): unknown {
  return {
    resource: rt.resource,
    responseKind: { group: rt.group, version: rt.version, kind: rt.kind },
    scope: rt.namespaced ? "Namespaced" : "Cluster",
    singularResource: rt.singularName ?? rt.kind.toLowerCase(),
    verbs: rt.verbs,
    ...(rt.shortNames === undefined ? {} : { shortNames: rt.shortNames }),
    ...(rt.categories === undefined ? {} : { categories: rt.categories }),
    ...(rt.subresources === undefined
      ? {}
      : {
          subresources: rt.subresources.map((sub) => ({
            subresource: sub,
            responseKind: subresourceKind(rt, sub),
            verbs: SUBRESOURCE_VERBS[sub] ?? ["get"],
          })),
        }),
  };
}

/** Aggregated discovery for `/api` (core) or `/apis` (named groups). */
export function aggregatedDiscovery(types: readonly ResourceType[], core: boolean, version: "v2" | "v2beta1"): unknown {
  const byGroup = new Map<string, Map<string, ResourceType[]>>();
  for (const rt of types) {
    if ((rt.group === "") !== core) continue;
    const versions = byGroup.get(rt.group) ?? new Map<string, ResourceType[]>();
    versions.set(rt.version, [...(versions.get(rt.version) ?? []), rt]);
    byGroup.set(rt.group, versions);
  }
  return {
    kind: "APIGroupDiscoveryList",
    apiVersion: `apidiscovery.k8s.io/${version}`,
    metadata: {},
    items: [...byGroup].map(([group, versions]) => ({
      metadata: { name: group, creationTimestamp: null },
      versions: [...versions].map(([v, rts]) => ({
        version: v,
        resources: rts.map(discoveryResource),
        freshness: "Current",
      })),
    })),
  };
}
