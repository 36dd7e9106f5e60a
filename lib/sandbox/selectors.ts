/**
 * Label and field selectors as kube-apiserver parses them (k8s.io/apimachinery/pkg/labels and .../fields).
 */
import { badRequestError } from "./status.ts";
import type { KubeObject } from "./types.ts";

export type Matcher = (object: KubeObject) => boolean;

type Requirement =
  | { op: "=" | "!="; key: string; value: string }
  | { op: "in" | "notin"; key: string; values: Set<string> }
  | { op: "exists" | "!"; key: string };

const KEY_RE =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const VALUE_RE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** Splits on commas that are not inside parentheses. */
function splitTop(selector: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = "";
  for (const ch of selector) {
    if (ch === "(") depth++;
    if (ch === ")") depth--;
    if (ch === "," && depth === 0) {
      parts.push(current);
      current = "";
    } else current += ch;
  }
  parts.push(current);
  return parts;
}

function checkKey(key: string): string {
  if (!KEY_RE.test(key) || key.length > 316) {
    throw badRequestError(
      `unable to parse requirement: invalid label key "${key}": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character`,
    );
  }
  return key;
}

function checkValue(value: string): string {
  if (!VALUE_RE.test(value) || value.length > 63) {
    throw badRequestError(
      `unable to parse requirement: invalid label value: "${value}": at key: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character`,
    );
  }
  return value;
}

function parseRequirement(raw: string): Requirement {
  const text = raw.trim();
  if (text.startsWith("!")) return { op: "!", key: checkKey(text.slice(1).trim()) };
  const setMatch = /^(\S+)\s+(in|notin)\s*\((.*)\)$/.exec(text);
  if (setMatch) {
    const values = (setMatch[3] ?? "")
      .split(",")
      .map((v) => v.trim())
      .filter((v) => v !== "")
      .map(checkValue);
    if (values.length === 0)
      throw badRequestError(`unable to parse requirement: for 'in', 'notin' operators, values set can't be empty`);
    return { op: setMatch[2] === "in" ? "in" : "notin", key: checkKey(setMatch[1] ?? ""), values: new Set(values) };
  }
  const eqMatch = /^([^=!\s]+)\s*(==|=|!=)\s*(.*)$/.exec(text);
  if (eqMatch) {
    return {
      op: eqMatch[2] === "!=" ? "!=" : "=",
      key: checkKey(eqMatch[1] ?? ""),
      value: checkValue((eqMatch[3] ?? "").trim()),
    };
  }
  if (/^\S+$/.test(text)) return { op: "exists", key: checkKey(text) };
  throw badRequestError(`unable to parse requirement: found '${text}', expected: in, notin, =, ==, !=, !`);
}

function matchLabels(reqs: Requirement[], labels: Record<string, string> | undefined): boolean {
  for (const r of reqs) {
    const has = labels !== undefined && Object.hasOwn(labels, r.key);
    const v = has ? labels[r.key] : undefined;
    switch (r.op) {
      case "=":
        if (v !== r.value) return false;
        break;
      case "!=":
        if (v === r.value) return false;
        break;
      case "in":
        if (v === undefined || !r.values.has(v)) return false;
        break;
      case "notin":
        if (v !== undefined && r.values.has(v)) return false;
        break;
      case "exists":
        if (!has) return false;
        break;
      case "!":
        if (has) return false;
        break;
    }
  }
  return true;
}

/** Parses a label selector; undefined for "match everything". Throws a 400 StatusError when it cannot be parsed. */
export function parseLabelSelector(selector: string | undefined): Matcher | undefined {
  if (selector === undefined || selector.trim() === "") return undefined;
  const reqs = splitTop(selector)
    .filter((p) => p.trim() !== "")
    .map(parseRequirement);
  return (object) => matchLabels(reqs, object.metadata.labels);
}

/** Label selector for a `matchLabels`/`matchExpressions` LabelSelector object (spec.selector of Deployments, ...). */
export function labelSelectorMatcher(selector: unknown): Matcher {
  if (typeof selector !== "object" || selector === null) return () => false;
  const reqs: Requirement[] = [];
  const sel = selector as { matchLabels?: Record<string, unknown>; matchExpressions?: unknown[] };
  for (const [key, value] of Object.entries(sel.matchLabels ?? {})) reqs.push({ op: "=", key, value: String(value) });
  for (const e of sel.matchExpressions ?? []) {
    const expr = e as { key?: string; operator?: string; values?: string[] };
    const key = expr.key ?? "";
    const values = new Set(expr.values ?? []);
    if (expr.operator === "In") reqs.push({ op: "in", key, values });
    else if (expr.operator === "NotIn") reqs.push({ op: "notin", key, values });
    else if (expr.operator === "Exists") reqs.push({ op: "exists", key });
    else if (expr.operator === "DoesNotExist") reqs.push({ op: "!", key });
  }
  return (object) => matchLabels(reqs, object.metadata.labels);
}

/** Splits on a separator that is not escaped with a backslash. */
function splitUnescaped(text: string, sep: string): string[] {
  const parts: string[] = [];
  let current = "";
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] ?? "";
    if (ch === "\\" && i + 1 < text.length) {
      current += ch + (text[i + 1] ?? "");
      i++;
    } else if (ch === sep) {
      parts.push(current);
      current = "";
    } else current += ch;
  }
  parts.push(current);
  return parts;
}

function unescape(value: string): string {
  return value.replace(/\\(.)/g, "$1");
}

/** The value a field selector compares against: a dotted path into the object, as a string ("" when absent). */
function fieldValue(object: KubeObject, path: string): string {
  let current: unknown = object;
  for (const part of path.split(".")) {
    if (typeof current !== "object" || current === null) return "";
    current = (current as Record<string, unknown>)[part];
  }
  if (current === undefined || current === null) return "";
  return typeof current === "object" ? JSON.stringify(current) : String(current as string | number | boolean);
}

/** Parses a field selector (`metadata.name=web,status.phase!=Running`); undefined for "match everything". */
export function parseFieldSelector(selector: string | undefined): Matcher | undefined {
  if (selector === undefined || selector.trim() === "") return undefined;
  const reqs: { key: string; value: string; negate: boolean }[] = [];
  for (const part of splitUnescaped(selector, ",")) {
    if (part.trim() === "") continue;
    const m = /^\s*([A-Za-z0-9_.-]+)\s*(==|=|!=)(.*)$/.exec(part);
    if (!m) throw badRequestError(`invalid selector: '${selector}'; can't understand '${part}'`);
    reqs.push({ key: m[1] ?? "", value: unescape((m[3] ?? "").trim()), negate: m[2] === "!=" });
  }
  return (object) => reqs.every((r) => (fieldValue(object, r.key) === r.value) !== r.negate);
}

/** Both selectors together; undefined when neither restricts anything. */
export function combineMatchers(...matchers: (Matcher | undefined)[]): Matcher | undefined {
  const present = matchers.filter((m): m is Matcher => m !== undefined);
  if (present.length === 0) return undefined;
  if (present.length === 1) return present[0];
  return (object) => present.every((m) => m(object));
}
