/**
 * Server-side apply and managed fields (after sigs.k8s.io/structured-merge-diff): field sets in the `FieldsV1`
 * format (`{"f:spec":{"f:replicas":{}}}`), ownership per field manager, conflicts, and removal of fields a manager
 * stops applying.
 */
import { jsonCopy } from "../json.ts";
import { StatusError } from "../status.ts";
import type { KubeObject } from "../types.ts";
import { isPlainObject, itemKey, listStrategy, sameKey } from "./schema.ts";

/** A FieldsV1 tree: keys "f:<field>", "k:<json key>", "v:<json value>", "."; a leaf is {}. */
export type FieldSet = { [key: string]: FieldSet };

export interface ManagedFieldsEntry {
  manager: string;
  operation: "Apply" | "Update";
  apiVersion: string;
  time?: string;
  fieldsType: "FieldsV1";
  fieldsV1: FieldSet;
  subresource?: string;
}

/** Metadata fields the server owns; they are never part of a manager's field set. */
const SERVER_METADATA = new Set([
  "name",
  "namespace",
  "uid",
  "resourceVersion",
  "generation",
  "creationTimestamp",
  "deletionTimestamp",
  "deletionGracePeriodSeconds",
  "managedFields",
  "selfLink",
  "generateName",
]);

const copy = jsonCopy;

function jsonEq(a: unknown, b: unknown): boolean {
  return JSON.stringify(sortKeys(a)) === JSON.stringify(sortKeys(b));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (!isPlainObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(value).sort()) out[k] = sortKeys(value[k]);
  return out;
}

/** The field set of a value at `path` (field names from the root). */
function fieldsOfValue(value: unknown, path: readonly string[]): FieldSet {
  if (isPlainObject(value)) {
    const set: FieldSet = {};
    for (const [k, v] of Object.entries(value)) {
      if (v === undefined || v === null) continue;
      set[`f:${k}`] = fieldsOfValue(v, [...path, k]);
    }
    return set;
  }
  if (Array.isArray(value) && value.length > 0) {
    const strategy = listStrategy(path);
    if (strategy.type === "set" && value.every((v) => !isPlainObject(v) && !Array.isArray(v))) {
      const set: FieldSet = {};
      for (const v of value) set[`v:${JSON.stringify(v)}`] = {};
      return set;
    }
    if (strategy.type === "map") {
      const keys = value.map((item) => itemKey(item, strategy.keys));
      if (keys.every((k) => k !== undefined)) {
        const set: FieldSet = {};
        value.forEach((item, i) => {
          set[`k:${JSON.stringify(keys[i])}`] = { ".": {}, ...fieldsOfValue(item, path) };
        });
        return set;
      }
    }
  }
  return {};
}

/** The fields an object sets (status only for the status subresource; server-owned metadata never). */
export function fieldsOf(object: KubeObject, subresource?: string): FieldSet {
  const set: FieldSet = {};
  for (const [k, v] of Object.entries(object)) {
    if (k === "apiVersion" || k === "kind" || v === undefined || v === null) continue;
    if ((k === "status") !== (subresource === "status")) continue;
    if (k === "metadata" && isPlainObject(v)) {
      const meta: FieldSet = {};
      for (const [mk, mv] of Object.entries(v)) {
        if (SERVER_METADATA.has(mk) || mv === undefined || mv === null) continue;
        meta[`f:${mk}`] = fieldsOfValue(mv, ["metadata", mk]);
      }
      if (Object.keys(meta).length > 0) set["f:metadata"] = meta;
      continue;
    }
    set[`f:${k}`] = fieldsOfValue(v, [k]);
  }
  return set;
}

/** Every leaf path of a field set, as key sequences (a list item's own entry ends in "."). */
export function leaves(set: FieldSet, prefix: string[] = [], out: string[][] = []): string[][] {
  for (const [k, child] of Object.entries(set)) {
    const path = [...prefix, k];
    if (Object.keys(child).length === 0) out.push(path);
    else leaves(child, path, out);
  }
  return out;
}

function hasPath(set: FieldSet, path: readonly string[]): boolean {
  let node: FieldSet | undefined = set;
  for (const k of path) {
    node = node[k];
    if (node === undefined) return false;
  }
  return true;
}

/** Does the set own anything at or under `path`? */
function ownsUnder(set: FieldSet, path: readonly string[]): boolean {
  return hasPath(set, path);
}

function isLeafIn(set: FieldSet, path: readonly string[]): boolean {
  let node: FieldSet | undefined = set;
  for (const k of path) {
    node = node[k];
    if (node === undefined) return false;
  }
  return Object.keys(node).length === 0;
}

function addPath(set: FieldSet, path: readonly string[]): void {
  let node = set;
  for (const k of path) {
    node[k] ??= {};
    node = node[k];
  }
}

function removePath(set: FieldSet, path: readonly string[]): void {
  const [head, ...rest] = path;
  if (head === undefined) return;
  const child = set[head];
  if (child === undefined) return;
  if (rest.length === 0) {
    delete set[head];
    return;
  }
  removePath(child, rest);
  if (Object.keys(child).length === 0) delete set[head];
}

/** The value at a field path in an object; `present` false when it is not there. */
function valueAt(object: unknown, path: readonly string[]): { present: boolean; value: unknown } {
  let node: unknown = object;
  for (const k of path) {
    if (k === ".") continue;
    if (k.startsWith("f:")) {
      if (!isPlainObject(node) || !Object.hasOwn(node, k.slice(2))) return { present: false, value: undefined };
      node = node[k.slice(2)];
    } else if (k.startsWith("k:")) {
      const key = JSON.parse(k.slice(2)) as Record<string, unknown>;
      if (!Array.isArray(node)) return { present: false, value: undefined };
      node = node.find((item) => sameKey(item, key));
      if (node === undefined) return { present: false, value: undefined };
    } else if (k.startsWith("v:")) {
      const wanted = k.slice(2);
      if (!Array.isArray(node) || !node.some((v) => JSON.stringify(v) === wanted))
        return { present: false, value: undefined };
      node = JSON.parse(wanted);
    } else {
      return { present: false, value: undefined };
    }
  }
  return { present: node !== undefined, value: node };
}

/**
 * Removes the field at a path (a "." path removes the list item; a "v:" path the set value); a map or list that
 * this leaves empty goes too.
 */
function removeAt(object: unknown, path: readonly string[]): void {
  const effective = path[path.length - 1] === "." ? path.slice(0, -1) : path;
  const last = effective[effective.length - 1];
  if (last === undefined) return;
  const parentPath = effective.slice(0, -1);
  const parent = valueAt(object, parentPath);
  if (!parent.present) return;
  let removed = false;
  if (last.startsWith("f:") && isPlainObject(parent.value) && Object.hasOwn(parent.value, last.slice(2))) {
    delete parent.value[last.slice(2)];
    removed = true;
  } else if (last.startsWith("k:") && Array.isArray(parent.value)) {
    const key = JSON.parse(last.slice(2)) as Record<string, unknown>;
    const index = parent.value.findIndex((item) => sameKey(item, key));
    if (index >= 0) {
      parent.value.splice(index, 1);
      removed = true;
    }
  } else if (last.startsWith("v:") && Array.isArray(parent.value)) {
    const index = parent.value.findIndex((v) => JSON.stringify(v) === last.slice(2));
    if (index >= 0) {
      parent.value.splice(index, 1);
      removed = true;
    }
  }
  const empty = Array.isArray(parent.value)
    ? parent.value.length === 0
    : isPlainObject(parent.value) && Object.keys(parent.value).length === 0;
  if (removed && empty && parentPath.length > 1 && parentPath[parentPath.length - 1]?.startsWith("f:") === true) {
    removeAt(object, parentPath);
  }
}

/** A path as structured-merge-diff prints it: `.spec.template.spec.containers[name="web"].image`. */
export function pathString(path: readonly string[]): string {
  let out = "";
  for (const k of path) {
    if (k === ".") continue;
    if (k.startsWith("f:")) out += `.${k.slice(2)}`;
    else if (k.startsWith("k:")) {
      const key = JSON.parse(k.slice(2)) as Record<string, unknown>;
      out += `[${Object.entries(key)
        .map(([name, v]) => `${name}=${JSON.stringify(v)}`)
        .join(",")}]`;
    } else if (k.startsWith("v:")) out += `[=${k.slice(2)}]`;
  }
  return out;
}

/** The merge of an applied configuration into the live object: maps and keyed lists merge, the rest replaces. */
function mergeApplied(live: unknown, applied: unknown, path: readonly string[]): unknown {
  if (isPlainObject(applied)) {
    const result: Record<string, unknown> = isPlainObject(live) ? { ...live } : {};
    for (const [k, v] of Object.entries(applied)) {
      if (v === null) delete result[k];
      else result[k] = mergeApplied(result[k], v, [...path, k]);
    }
    return result;
  }
  if (Array.isArray(applied)) {
    const strategy = listStrategy(path);
    if (strategy.type === "set" && Array.isArray(live)) {
      const out = [...live];
      for (const v of applied) if (!out.some((o) => JSON.stringify(o) === JSON.stringify(v))) out.push(copy(v));
      return out;
    }
    if (
      strategy.type === "map" &&
      Array.isArray(live) &&
      applied.every((i) => itemKey(i, strategy.keys) !== undefined)
    ) {
      // kube-apiserver (structured-merge-diff 4.2.1, Kubernetes 1.23) keeps the applied configuration's order: its
      // items in its order, merged with the live ones of the same key; a live item it does not name stays after the
      // live item before it that it does name (at the start when there is none). It used to keep the live order,
      // which made a reordered list (a volume mounted before the config instead of after) read as drift for good.
      const keyOf = (item: unknown) => itemKey(item, strategy.keys) as Record<string, unknown>;
      const named = (o: unknown) => applied.some((item) => sameKey(o, keyOf(item)));
      const leading: unknown[] = [];
      const after = new Map<unknown, unknown[]>();
      let previous: unknown;
      for (const o of live) {
        if (named(o)) previous = o;
        else if (previous === undefined) leading.push(o);
        else after.set(previous, [...(after.get(previous) ?? []), o]);
      }
      const out: unknown[] = [...leading];
      for (const item of applied) {
        const match = live.find((o) => sameKey(o, keyOf(item)));
        out.push(match === undefined ? copy(item) : mergeApplied(match, item, path));
        if (match !== undefined) out.push(...(after.get(match) ?? []));
      }
      return out;
    }
  }
  return copy(applied);
}

function managerLabel(entry: ManagedFieldsEntry): string {
  let label = JSON.stringify(entry.manager);
  if (entry.subresource !== undefined && entry.subresource !== "")
    label += ` with subresource ${JSON.stringify(entry.subresource)}`;
  if (entry.operation === "Update") label += ` using ${entry.apiVersion}`;
  return label;
}

/** 409 in kube-apiserver's words: `Apply failed with 1 conflict: conflict with "mgr": .spec.replicas`. */
function conflictError(conflicts: { entry: ManagedFieldsEntry; path: string[] }[]): StatusError {
  let message: string;
  if (conflicts.length === 1) {
    const c = conflicts[0] as { entry: ManagedFieldsEntry; path: string[] };
    message = `Apply failed with 1 conflict: conflict with ${managerLabel(c.entry)}: ${pathString(c.path)}`;
  } else {
    const byManager = new Map<string, string[]>();
    for (const c of conflicts) {
      const label = managerLabel(c.entry);
      byManager.set(label, [...(byManager.get(label) ?? []), pathString(c.path)]);
    }
    const lines: string[] = [];
    for (const label of [...byManager.keys()].sort()) {
      lines.push(`conflicts with ${label}:`);
      for (const p of byManager.get(label) ?? []) lines.push(`- ${p}`);
    }
    message = `Apply failed with ${conflicts.length} conflicts: ${lines.join("\n")}`;
  }
  return new StatusError({
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message,
    reason: "Conflict",
    details: {
      causes: conflicts.map((c) => ({
        reason: "FieldManagerConflict",
        message: `conflict with ${managerLabel(c.entry)}`,
        field: pathString(c.path),
      })),
    },
    code: 409,
  });
}

function readManagedFields(object: KubeObject | undefined): ManagedFieldsEntry[] {
  const raw = object?.metadata.managedFields;
  if (!Array.isArray(raw)) return [];
  return raw.filter(
    (e): e is ManagedFieldsEntry =>
      isPlainObject(e) && typeof e.manager === "string" && (e.operation === "Apply" || e.operation === "Update"),
  );
}

function sameEntry(
  a: ManagedFieldsEntry,
  manager: string,
  operation: string,
  subresource: string | undefined,
): boolean {
  return a.manager === manager && a.operation === operation && (a.subresource ?? "") === (subresource ?? "");
}

function finish(entries: ManagedFieldsEntry[]): ManagedFieldsEntry[] | undefined {
  const kept = entries.filter((e) => Object.keys(e.fieldsV1).length > 0);
  return kept.length === 0 ? undefined : kept;
}

export interface ApplyRequest {
  live: KubeObject | undefined;
  applied: KubeObject;
  manager: string;
  force: boolean;
  apiVersion: string;
  now: string;
}

/**
 * The object after a server-side apply by `manager` (a new object; inputs are untouched).
 * Throws a 409 StatusError on conflicts unless `force`.
 */
export function serverSideApply(request: ApplyRequest): KubeObject {
  const { live, applied, manager, force, apiVersion, now } = request;
  const entries = readManagedFields(live).map((e) => copy(e));
  const appliedSet = fieldsOf(applied);
  const appliedLeaves = leaves(appliedSet);
  const previous = entries.find((e) => sameEntry(e, manager, "Apply", undefined));
  const others = entries.filter((e) => e !== previous);

  const conflicts: { entry: ManagedFieldsEntry; path: string[] }[] = [];
  if (live !== undefined) {
    for (const path of appliedLeaves) {
      if (path[path.length - 1] === ".") continue;
      const mine = valueAt(applied, path);
      const theirs = valueAt(live, path);
      if (theirs.present && jsonEq(mine.value, theirs.value)) continue;
      for (const entry of others) {
        if (entry.manager === manager) continue;
        if (isLeafIn(entry.fieldsV1, path)) conflicts.push({ entry, path });
      }
    }
  }
  if (conflicts.length > 0 && !force) throw conflictError(conflicts);
  for (const c of conflicts) removePath(c.entry.fieldsV1, c.path);

  const base = copy(live ?? applied);
  delete base.metadata.managedFields;
  const { metadata: appliedMeta, ...appliedRest } = applied;
  const appliedBody: Record<string, unknown> = { ...appliedRest };
  delete appliedBody.status;
  const cleanMeta: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(appliedMeta)) if (!SERVER_METADATA.has(k)) cleanMeta[k] = v;
  const merged = mergeApplied(base, { ...appliedBody, metadata: cleanMeta }, []) as KubeObject;

  // fields this manager applied before and no longer applies go, unless another manager owns them
  if (previous !== undefined && live !== undefined) {
    const removed = leaves(previous.fieldsV1).filter((p) => !hasPath(appliedSet, p));
    // deepest first, so that removing an item does not hide its fields
    removed.sort((a, b) => b.length - a.length);
    for (const path of removed) {
      const owner = path[path.length - 1] === "." ? path.slice(0, -1) : path;
      if (others.some((e) => ownsUnder(e.fieldsV1, owner))) continue;
      removeAt(merged, path);
    }
  }

  const mineEntry: ManagedFieldsEntry = {
    manager,
    operation: "Apply",
    apiVersion,
    time: previous !== undefined && jsonEq(previous.fieldsV1, appliedSet) ? (previous.time ?? now) : now,
    fieldsType: "FieldsV1",
    fieldsV1: appliedSet,
  };
  const result = finish([
    ...(previous === undefined ? [...others, mineEntry] : entries.map((e) => (e === previous ? mineEntry : e))),
  ]);
  if (result === undefined) delete merged.metadata.managedFields;
  else merged.metadata.managedFields = result;
  return merged;
}

/**
 * Records an ordinary write (create, update, patch) by `manager`: it takes the fields whose values it changed,
 * and fields that are gone leave every set. Changes `next.metadata.managedFields` in place.
 */
export function trackUpdate(
  old: KubeObject | undefined,
  next: KubeObject,
  manager: string,
  apiVersion: string,
  now: string,
  subresource?: string,
): void {
  const entries = readManagedFields(old).map((e) => copy(e));
  const nextSet = fieldsOf(next, subresource);
  const changed = leaves(nextSet).filter((path) => {
    if (old === undefined) return true;
    const before = valueAt(old, path);
    if (!before.present) return true;
    if (path[path.length - 1] === ".") return false;
    return !jsonEq(before.value, valueAt(next, path).value);
  });
  // every set loses what is no longer in the object (only within the part this write covers)
  for (const entry of entries) {
    const covers = (entry.subresource === "status") === (subresource === "status");
    if (!covers) continue;
    for (const path of leaves(entry.fieldsV1)) if (!valuePresent(next, path)) removePath(entry.fieldsV1, path);
  }
  if (changed.length > 0) {
    for (const entry of entries) {
      if (sameEntry(entry, manager, "Update", subresource)) continue;
      for (const path of changed) removePath(entry.fieldsV1, path);
    }
    let mine = entries.find((e) => sameEntry(e, manager, "Update", subresource));
    if (mine === undefined) {
      mine = {
        manager,
        operation: "Update",
        apiVersion,
        time: now,
        fieldsType: "FieldsV1",
        fieldsV1: {},
        ...(subresource === undefined ? {} : { subresource }),
      };
      entries.push(mine);
    }
    mine.time = now;
    for (const path of changed) addPath(mine.fieldsV1, path);
  }
  const result = finish(entries);
  if (result === undefined) delete next.metadata.managedFields;
  else next.metadata.managedFields = result;
}

function valuePresent(object: unknown, path: readonly string[]): boolean {
  return valueAt(object, path).present;
}
