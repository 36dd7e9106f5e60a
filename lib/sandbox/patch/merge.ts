/**
 * JSON merge patch (RFC 7396) and strategic merge patch (k8s.io/apimachinery/pkg/util/strategicpatch) applied to
 * plain JSON values. Both return a new value and never modify their inputs.
 */
import { jsonCopy } from "../json.ts";
import { badRequestError } from "../status.ts";
import { isPlainObject, itemKey, listStrategy, sameKey } from "./schema.ts";

const copy = jsonCopy;

/** RFC 7396: objects merge recursively, null removes, everything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return copy(patch);
  const result: Record<string, unknown> = isPlainObject(target) ? copy(target) : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

const DIRECTIVE_PREFIXES = ["$setElementOrder/", "$deleteFromPrimitiveList/", "$retainKeys", "$patch"];

function isDirective(key: string): boolean {
  return DIRECTIVE_PREFIXES.some((p) => key.startsWith(p));
}

/** A strategic merge patch applied to `original`; returns undefined when the patch deletes the whole value. */
export function strategicMergePatch(original: unknown, patch: unknown, path: readonly string[] = []): unknown {
  if (!isPlainObject(patch)) return copy(patch);
  const directive = patch.$patch;
  if (directive === "delete") return undefined;
  if (directive === "replace") {
    const replaced: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(patch)) if (!isDirective(k)) replaced[k] = copy(v);
    return replaced;
  }
  if (directive !== undefined && directive !== "merge") {
    throw badRequestError(`Unknown patch type: ${String(directive)}`);
  }
  const result: Record<string, unknown> = isPlainObject(original) ? copy(original) : {};
  for (const [key, value] of Object.entries(patch)) {
    if (key.startsWith("$deleteFromPrimitiveList/")) {
      const field = key.slice("$deleteFromPrimitiveList/".length);
      const current = result[field];
      if (Array.isArray(current) && Array.isArray(value)) {
        result[field] = current.filter((item) => !value.some((v) => JSON.stringify(v) === JSON.stringify(item)));
      }
      continue;
    }
    if (isDirective(key)) continue;
    const childPath = [...path, key];
    if (value === null) {
      delete result[key];
    } else if (Array.isArray(value)) {
      result[key] = mergeList(result[key], value, childPath);
    } else if (isPlainObject(value)) {
      const merged = strategicMergePatch(result[key], value, childPath);
      if (merged === undefined) delete result[key];
      else result[key] = merged;
    } else {
      result[key] = value;
    }
  }
  const retain = patch.$retainKeys;
  if (Array.isArray(retain)) {
    const keep = new Set(retain.map(String));
    for (const k of Object.keys(result)) if (!keep.has(k)) delete result[k];
  }
  return result;
}

function mergeList(original: unknown, patch: unknown[], path: readonly string[]): unknown[] {
  const strategy = listStrategy(path);
  if (patch.some((item) => isPlainObject(item) && item.$patch === "replace" && Object.keys(item).length === 1)) {
    return patch.filter((item) => !(isPlainObject(item) && item.$patch === "replace")).map((i) => copy(i));
  }
  if (strategy.type === "atomic") return copy(patch);
  const current: unknown[] = Array.isArray(original) ? copy(original) : [];
  if (strategy.type === "set") {
    for (const item of patch) {
      if (!current.some((c) => JSON.stringify(c) === JSON.stringify(item))) current.push(copy(item));
    }
    return current;
  }
  for (const item of patch) {
    const key = itemKey(item, strategy.keys);
    if (key === undefined) {
      // an item without its merge key cannot be matched: the real server refuses it
      throw badRequestError(
        `map: ${JSON.stringify(item)} does not contain declared merge key: ${strategy.keys[0] ?? ""}`,
      );
    }
    const index = current.findIndex((c) => sameKey(c, key));
    if (isPlainObject(item) && item.$patch === "delete") {
      if (index >= 0) current.splice(index, 1);
      continue;
    }
    if (index >= 0) {
      const merged = strategicMergePatch(current[index], item, path);
      if (merged === undefined) current.splice(index, 1);
      else current[index] = merged;
    } else {
      const added = strategicMergePatch(undefined, item, path);
      if (added !== undefined) current.push(added);
    }
  }
  return current;
}
