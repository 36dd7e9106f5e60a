/**
 * Kubernetes label selectors (`a=b,c!=d,e in (x,y),f notin (z),g,!h`) parsed once and matched against labels,
 * so that `v1.kube.list` can answer from the informer cache exactly as the API server would.
 */
import { invalid } from "../errors.ts";

type Requirement =
  | { op: "in"; key: string; values: string[] }
  | { op: "notin"; key: string; values: string[] }
  | { op: "exists"; key: string }
  | { op: "!exists"; key: string };

export type LabelMatcher = ((labels: Record<string, string> | undefined) => boolean) & {
  /**
   * The values each `key=value` / `key in (...)` requirement allows, by key: an object whose label `key` holds none of
   * them cannot match, so a cache indexed by that label need look at those values only (lib/kube/informers.ts).
   */
  readonly allowed: ReadonlyMap<string, readonly string[]>;
};

const MATCH_ALL: LabelMatcher = Object.assign(() => true, { allowed: new Map<string, readonly string[]>() });

const KEY = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

/** Splits on commas that are not inside parentheses. */
function splitTerms(selector: string): string[] {
  const terms: string[] = [];
  let depth = 0;
  let current = "";
  for (const ch of selector) {
    if (ch === "(") depth++;
    if (ch === ")") depth--;
    if (ch === "," && depth === 0) {
      terms.push(current);
      current = "";
    } else {
      current += ch;
    }
  }
  terms.push(current);
  return terms.map((t) => t.trim()).filter((t) => t !== "");
}

function checkKey(key: string, selector: string): string {
  if (!KEY.test(key) || key.length > 317) throw invalid("labelSelector", `invalid label key '${key}' in '${selector}'`);
  return key;
}

function checkValue(value: string, selector: string): string {
  if (!VALUE.test(value) || value.length > 63) {
    throw invalid("labelSelector", `invalid label value '${value}' in '${selector}'`);
  }
  return value;
}

function parseTerm(term: string, selector: string): Requirement {
  const set = /^(\S+)\s+(in|notin)\s*\(([^)]*)\)$/.exec(term);
  if (set !== null) {
    const values = (set[3] ?? "")
      .split(",")
      .map((v) => v.trim())
      .map((v) => checkValue(v, selector));
    return { op: set[2] === "in" ? "in" : "notin", key: checkKey(set[1] ?? "", selector), values };
  }
  const eq = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(term);
  if (eq !== null) {
    const key = checkKey(eq[1] ?? "", selector);
    const value = checkValue(eq[3] ?? "", selector);
    return eq[2] === "!=" ? { op: "notin", key, values: [value] } : { op: "in", key, values: [value] };
  }
  if (term.startsWith("!")) return { op: "!exists", key: checkKey(term.slice(1).trim(), selector) };
  return { op: "exists", key: checkKey(term, selector) };
}

/** Matchers of the selectors parsed lately: every cached list and every status read parses the same few selectors. */
const parsed = new Map<string, LabelMatcher>();
const PARSED_MAX = 1000;

/**
 * Parses a label selector; throws a 422 on the field `labelSelector` when it is malformed. Empty = everything.
 * The matcher of a well-formed selector is kept (up to 1,000 selectors, then all are forgotten): it is a pure function.
 */
export function parseLabelSelector(selector: string | undefined): LabelMatcher {
  if (selector === undefined || selector.trim() === "") return MATCH_ALL;
  const known = parsed.get(selector);
  if (known !== undefined) return known;
  const matcher = compileSelector(selector);
  if (parsed.size >= PARSED_MAX) parsed.clear();
  parsed.set(selector, matcher);
  return matcher;
}

function compileSelector(selector: string): LabelMatcher {
  const requirements = splitTerms(selector).map((t) => parseTerm(t, selector));
  const allowed = new Map<string, readonly string[]>();
  for (const r of requirements) {
    if (r.op !== "in") continue;
    const before = allowed.get(r.key);
    // Two requirements on one key: only values both allow can match.
    allowed.set(r.key, before === undefined ? r.values : before.filter((v) => r.values.includes(v)));
  }
  const matcher = (labels: Record<string, string> | undefined): boolean => {
    const l = labels ?? {};
    return requirements.every((r) => {
      const has = Object.hasOwn(l, r.key);
      switch (r.op) {
        case "exists":
          return has;
        case "!exists":
          return !has;
        case "in":
          return has && r.values.includes(l[r.key] ?? "");
        case "notin":
          return !has || !r.values.includes(l[r.key] ?? "");
      }
      return false;
    });
  };
  return Object.assign(matcher, { allowed });
}
