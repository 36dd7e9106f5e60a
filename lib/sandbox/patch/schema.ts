/**
 * How the lists of the served kinds merge (their `patchMergeKey`/`x-kubernetes-list-map-keys`), for strategic
 * merge patches and server-side apply. Lists not named here are atomic: a patch or an apply replaces them whole.
 */

export type ListStrategy = { type: "map"; keys: string[] } | { type: "set" } | { type: "atomic" };

const CONTAINER_LISTS = new Set(["containers", "initContainers", "ephemeralContainers"]);
const BY_FIELD: Record<string, ListStrategy> = {
  containers: { type: "map", keys: ["name"] },
  initContainers: { type: "map", keys: ["name"] },
  ephemeralContainers: { type: "map", keys: ["name"] },
  volumes: { type: "map", keys: ["name"] },
  env: { type: "map", keys: ["name"] },
  volumeMounts: { type: "map", keys: ["mountPath"] },
  volumeDevices: { type: "map", keys: ["devicePath"] },
  imagePullSecrets: { type: "map", keys: ["name"] },
  conditions: { type: "map", keys: ["type"] },
  ownerReferences: { type: "map", keys: ["uid"] },
  hostAliases: { type: "map", keys: ["ip"] },
  topologySpreadConstraints: { type: "map", keys: ["topologyKey", "whenUnsatisfiable"] },
  finalizers: { type: "set" },
};

/**
 * The strategy of the list at `path` (the field names from the object's root; list items are not part of it).
 * `ports` are keyed by containerPort inside a container and by port elsewhere (Service).
 */
export function listStrategy(path: readonly string[]): ListStrategy {
  const field = path[path.length - 1];
  if (field === undefined) return { type: "atomic" };
  if (field === "ports") {
    const parent = path[path.length - 2];
    if (parent !== undefined && CONTAINER_LISTS.has(parent)) return { type: "map", keys: ["containerPort"] };
    if (parent === "spec" && path.length === 2) return { type: "map", keys: ["port"] };
    return { type: "atomic" };
  }
  if (field === "finalizers" && !(path.length === 2 && path[0] === "metadata")) return { type: "atomic" };
  // Own keys only: a patch may name any field, `valueOf` or `constructor` too (Object.prototype's, not a strategy).
  return (Object.hasOwn(BY_FIELD, field) ? BY_FIELD[field] : undefined) ?? { type: "atomic" };
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The key of a list item under a map strategy, or undefined if the item lacks a key field. */
export function itemKey(item: unknown, keys: readonly string[]): Record<string, unknown> | undefined {
  if (!isPlainObject(item)) return undefined;
  const key: Record<string, unknown> = {};
  for (const k of keys) {
    if (item[k] === undefined || item[k] === null) {
      if (keys.length > 1 && k !== keys[0]) continue;
      return undefined;
    }
    key[k] = item[k];
  }
  return key;
}

export function sameKey(item: unknown, key: Record<string, unknown>): boolean {
  if (!isPlainObject(item)) return false;
  for (const [k, v] of Object.entries(key)) if (item[k] !== v) return false;
  return true;
}
