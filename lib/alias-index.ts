/**
 * An index over moleculer-web's alias table that finds the same alias as its `resolveAlias` without trying each
 * alias's regex in turn. moleculer-web keeps every alias of every route in one list, sorted deepest path first, and
 * answers the first alias whose method and regex match: the suite's `GET /api/v1/k8s/deployments/:id` was the 31st of
 * 63 aliases (1.9 µs of ~36 µs of CPU per answer), `GET /api/health` near the last.
 *
 * The index only narrows the candidates; the answer is still the first one, in the list's order, whose `isMethod` and
 * `match` (the alias's own regex) accept the request. An alias whose path is made only of ASCII literal segments and
 * whole-segment `:name` parameters (under default path-to-regexp options) can match a path of its own segment count
 * only, and only where its literal segments equal the path's (case-insensitively, as the regex is by default): it is
 * a candidate for those paths alone (found by segment count, then by the path's last segment). Every other alias
 * (wildcards, optional groups, unusual options) is a candidate for every path. A path is split after moleculer-web has
 * trimmed its trailing slash; the regex allows one more trailing slash, so one is dropped here too (the root alias "/",
 * the only one whose path ends with a slash, is not indexed).
 */

/** The part of moleculer-web's `Alias` that resolution reads. */
export interface ResolvableAlias {
  method: string;
  fullPath: string;
  route: { opts?: { pathToRegexpOptions?: Record<string, unknown> } };
  isMethod(method: string): boolean;
  match(url: string): Record<string, unknown> | false;
}

/** What moleculer-web's `resolveAlias` answers: the alias and the path's parameters, or false. */
export type ResolvedAlias<A> = { alias: A; params: Record<string, unknown> } | false;

/** An indexed alias: its position in the list, and per segment its lower-case literal or null for a parameter. */
interface Entry<A> {
  position: number;
  alias: A;
  /** null: matches any non-empty segment; undefined: not indexable, tried for every path. */
  literals: (string | null)[] | undefined;
}

const LITERAL_SEGMENT = /^[A-Za-z0-9._~-]*$/;
const PARAM_SEGMENT = /^:[A-Za-z_$][A-Za-z0-9_$]*$/;
/** path-to-regexp options under which a simple path still matches only its own segments (case aside). */
const HARMLESS_OPTIONS = new Set(["sensitive", "trailing"]);

/** The alias's segments as the index compares them, or undefined when it cannot be indexed. */
function literalsOf(alias: ResolvableAlias): (string | null)[] | undefined {
  const options = alias.route.opts?.pathToRegexpOptions ?? {};
  if (Object.keys(options).some((key) => !HARMLESS_OPTIONS.has(key))) return undefined;
  // A path ending with "/" (the root "/"; moleculer-web trims it from any other) matches with or without one more:
  // not a fixed segment count.
  if (alias.fullPath.endsWith("/")) return undefined;
  const literals: (string | null)[] = [];
  for (const segment of alias.fullPath.split("/")) {
    if (PARAM_SEGMENT.test(segment)) literals.push(null);
    else if (LITERAL_SEGMENT.test(segment)) literals.push(segment.toLowerCase());
    else return undefined;
  }
  return literals;
}

/** The path's segments, with one trailing slash dropped. */
function segmentsOf(url: string): string[] {
  const segments = url.split("/");
  if (segments.length > 1 && segments[segments.length - 1] === "") segments.pop();
  return segments;
}

function literalsAccept(literals: (string | null)[], segments: string[]): boolean {
  // From the end: the common prefix (/api/v1/k8s) is the same for nearly every alias, the last segments differ most.
  for (let i = literals.length - 1; i >= 0; i--) {
    const literal = literals[i];
    const segment = segments[i] as string;
    // A parameter needs at least one character; a literal, the same text in any case (lowered only when it differs:
    // paths are mostly lower case already, and parameters are never lowered).
    if (literal === null ? segment === "" : literal !== segment && literal !== segment.toLowerCase()) return false;
  }
  return true;
}

/** The indexable aliases of one segment count, in list order. */
interface Bucket<A> {
  /** Per literal last segment: the aliases that end with it or with a parameter. */
  byLast: Map<string, Entry<A>[]>;
  /** The aliases that end with a parameter (for a last segment no alias names). */
  paramLast: Entry<A>[];
}

export class AliasIndex<A extends ResolvableAlias> {
  /** The list it was built from, and its length then (moleculer-web replaces the list or pushes onto it). */
  private readonly source: readonly A[];
  private readonly sourceLength: number;
  private readonly bySegments = new Map<number, Bucket<A>>();
  /** Aliases tried for every path, in list order. */
  private readonly everywhere: Entry<A>[] = [];

  constructor(aliases: readonly A[]) {
    this.source = aliases;
    this.sourceLength = aliases.length;
    const indexed = new Map<number, Entry<A>[]>();
    aliases.forEach((alias, position) => {
      const literals = literalsOf(alias);
      const entry: Entry<A> = { position, alias, literals };
      if (literals === undefined) {
        this.everywhere.push(entry);
        return;
      }
      const list = indexed.get(literals.length);
      if (list === undefined) indexed.set(literals.length, [entry]);
      else list.push(entry);
    });
    const lastOf = (entry: Entry<A>) => (entry.literals as (string | null)[]).at(-1) ?? null;
    for (const [count, entries] of indexed) {
      const byLast = new Map<string, Entry<A>[]>();
      for (const last of new Set(entries.map(lastOf))) {
        if (last !== null)
          byLast.set(
            last,
            entries.filter((e) => lastOf(e) === last || lastOf(e) === null),
          );
      }
      this.bySegments.set(count, { byLast, paramLast: entries.filter((e) => lastOf(e) === null) });
    }
  }

  /** Whether the index still describes `aliases` (the same list, not grown; a re-sort is reported by the caller). */
  describes(aliases: readonly A[]): boolean {
    return aliases === this.source && aliases.length === this.sourceLength;
  }

  /** The first alias of the list, in its order, whose method and regex accept the request (as `resolveAlias`). */
  resolve(url: string, method: string): ResolvedAlias<A> {
    const segments = segmentsOf(url);
    const bucket = this.bySegments.get(segments.length);
    let indexed: Entry<A>[] = [];
    if (bucket !== undefined) {
      const last = segments[segments.length - 1] as string;
      indexed = bucket.byLast.get(last) ?? bucket.byLast.get(last.toLowerCase()) ?? bucket.paramLast;
    }
    const others = this.everywhere;
    let i = 0;
    let j = 0;
    // Merge the two lists by position: the first acceptable alias of the whole list wins.
    while (i < indexed.length || j < others.length) {
      const a = indexed[i];
      const b = others[j];
      let entry: Entry<A>;
      if (a !== undefined && (b === undefined || a.position < b.position)) {
        entry = a;
        i++;
        if (!literalsAccept(a.literals as (string | null)[], segments)) continue;
      } else {
        entry = b as Entry<A>;
        j++;
      }
      if (!entry.alias.isMethod(method)) continue;
      const params = entry.alias.match(url);
      if (params) return { alias: entry.alias, params };
    }
    return false;
  }
}
