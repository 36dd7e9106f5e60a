/**
 * Unknown fields, as kube-apiserver's field validation sees them (`fieldValidation=Strict|Warn|Ignore`): the field
 * names of each kind come from @kubernetes/client-node's generated models (their attribute type maps), which track
 * the Kubernetes API. Strict refuses an object with unknown fields (400); Warn (the default) and Ignore drop them,
 * Warn also answers with a `Warning` header per field.
 */
// The models only (the package's index also re-exports every API client, which the production build then could not
// leave out: scripts/build.ts).
import * as clientNodeModels from "@kubernetes/client-node/dist/gen/models/all.js";
import { badRequestError } from "../status.ts";
import type { KubeObject, ResourceType } from "../types.ts";

type Attribute = { baseName: string; type: string };
type Model = { getAttributeTypeMap?: () => Attribute[] };
const models = clientNodeModels as unknown as Record<string, Model | undefined>;

const cache = new Map<string, Map<string, string> | null>();
function attributes(model: string): Map<string, string> | undefined {
  let known = cache.get(model);
  if (known === undefined) {
    const list = models[model]?.getAttributeTypeMap?.();
    known = list === undefined ? null : new Map(list.map((a) => [a.baseName, a.type]));
    cache.set(model, known);
  }
  return known ?? undefined;
}

/** The client-node model of a served kind ("V1Deployment", "CoreV1Event"), if it has one. */
function modelOf(rt: ResourceType): string | undefined {
  if (rt.group === "metrics.k8s.io") return undefined;
  const candidates = [`${rt.version.toUpperCase().slice(0, 1)}${rt.version.slice(1)}${rt.kind}`, `CoreV1${rt.kind}`];
  return candidates.find((c) => attributes(c) !== undefined);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

const ARRAY = /^Array<(.+)>$/;
const MAP = /^\{ \[key: string\]: (.+); \}$/;

/** Walks `value` as a `type`; reports (and, if `drop`, removes) the fields the type does not declare. */
function walk(value: unknown, type: string, path: string, found: string[], drop: boolean, depth: number): void {
  if (depth > 64) return;
  const array = ARRAY.exec(type);
  if (array !== null) {
    if (Array.isArray(value))
      value.forEach((item, i) => walk(item, array[1] ?? "any", `${path}[${i}]`, found, drop, depth + 1));
    return;
  }
  const map = MAP.exec(type);
  if (map !== null) {
    if (isRecord(value))
      for (const [k, v] of Object.entries(value)) walk(v, map[1] ?? "any", `${path}[${k}]`, found, drop, depth + 1);
    return;
  }
  const known = attributes(type);
  if (known === undefined || !isRecord(value)) return; // scalars, IntOrString, any, Date...
  for (const [key, child] of Object.entries(value)) {
    const childPath = path === "" ? key : `${path}.${key}`;
    const childType = known.get(key);
    if (childType === undefined) {
      found.push(childPath);
      if (drop) delete value[key];
    } else walk(child, childType, childPath, found, drop, depth + 1);
  }
}

export type FieldValidation = "Strict" | "Warn" | "Ignore";

/** Reads the `fieldValidation` query parameter (default Warn), or a 400 for another value. */
export function fieldValidationOf(query: URLSearchParams): FieldValidation {
  const v = query.get("fieldValidation");
  if (v === null || v === "") return "Warn";
  if (v === "Strict" || v === "Warn" || v === "Ignore") return v;
  throw badRequestError(
    `fieldValidation: Unsupported value: ${JSON.stringify(v)}: supported values: "Ignore", "Strict", "Warn"`,
  );
}

/**
 * Applies field validation to an object about to be written: Strict throws kube-apiserver's 400
 * (`Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field "spec.foo"`);
 * Warn and Ignore drop the fields. Returns the warnings to send (Warn only).
 */
export function validateFields(rt: ResourceType, object: KubeObject, mode: FieldValidation): string[] {
  const model = modelOf(rt);
  if (model === undefined) return [];
  const found: string[] = [];
  walk(object, model, "", found, mode !== "Strict", 0);
  if (found.length === 0) return [];
  if (mode === "Strict") {
    throw badRequestError(
      `${rt.kind} in version "${rt.version}" cannot be handled as a ${rt.kind}: strict decoding error: ${found
        .map((f) => `unknown field "${f}"`)
        .join(", ")}`,
    );
  }
  return mode === "Warn" ? found.map((f) => `unknown field "${f}"`) : [];
}

/** kube-apiserver's bounds on warnings (apiserver/pkg/endpoints/filters/warning.go): 4096 runes in all, 256 each. */
export const WARNINGS_TOTAL_MAX = 4096;
export const WARNING_ITEM_MAX = 256;

/**
 * The `Warning` header value for some warnings (RFC 7234 style, as kube-apiserver writes them), bounded as
 * kube-apiserver bounds them: past 4096 characters in all, each warning is cut to 256 and those that still do not fit
 * are dropped. Unbounded, an object with thousands of unknown fields got a header of megabytes, which clients refuse
 * (Node's and Go's parsers: "Header overflow") although the object was stored.
 */
export function warningHeader(warnings: string[]): string[] {
  const total = warnings.reduce((n, w) => n + w.length, 0);
  const items =
    total <= WARNINGS_TOTAL_MAX
      ? warnings
      : warnings.map((w) => (w.length > WARNING_ITEM_MAX ? `${w.slice(0, WARNING_ITEM_MAX)}...` : w));
  const out: string[] = [];
  let size = 0;
  for (const w of items) {
    if (size + w.length > WARNINGS_TOTAL_MAX) break;
    size += w.length;
    out.push(`299 - ${JSON.stringify(w)}`);
  }
  return out;
}
