/**
 * Action parameter schemas are written once, as fastest-validator schemas, and their TypeScript types are
 * derived from them (docs/adr/0002-param-typing.md). `defineParams` keeps the literal types of a schema;
 * `ParamsOf` turns it into the type a handler sees (defaults applied), `ParamsIn` into what a caller may send.
 */
import type { ValidationSchema } from "fastest-validator";

/**
 * Keeps the literal type of a schema so that `ParamsOf` can read it. The schema is returned as written but for its
 * RegExp `pattern`s, written as strings (`patternFlags` beside them; fastest-validator compiles either the same way):
 * an action's params travel to the other nodes as JSON in moleculer's INFO packets, where a RegExp becomes `{}`, so a
 * gateway on another node published every pattern-checked field without its pattern in /api/openapi.json.
 */
export function defineParams<const S extends ValidationSchema>(schema: S): S {
  return withStringPatterns(schema) as S;
}

function withStringPatterns(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withStringPatterns);
  if (value === null || typeof value !== "object" || value instanceof RegExp) return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    if (key === "pattern" && v instanceof RegExp) {
      out.pattern = v.source;
      if (v.flags !== "") out.patternFlags = v.flags;
    } else {
      out[key] = withStringPatterns(v);
    }
  }
  return out;
}

type Simplify<T> = { [K in keyof T]: T[K] } & {};

type ShorthandType<S extends string> = S extends `string${string}`
  ? string
  : S extends `number${string}`
    ? number
    : S extends `boolean${string}`
      ? boolean
      : S extends `email${string}` | `url${string}` | `uuid${string}`
        ? string
        : unknown;

/** The TypeScript type of one rule. */
export type RuleType<R> = R extends string
  ? ShorthandType<R>
  : R extends readonly (infer M)[]
    ? RuleType<M>
    : R extends { type: "enum"; values: readonly (infer V)[] }
      ? V
      : R extends { type: "equal"; value: infer V }
        ? V
        : R extends { type: "string" | "email" | "url" | "uuid" | "objectID" }
          ? string
          : R extends { type: "number" }
            ? number
            : R extends { type: "boolean" }
              ? boolean
              : R extends { type: "date" }
                ? Date
                : R extends { type: "array"; items: infer I }
                  ? RuleType<I>[]
                  : R extends { type: "array" }
                    ? unknown[]
                    : R extends { type: "object"; props: infer P }
                      ? ParamsOf<P>
                      : R extends { type: "object"; properties: infer P }
                        ? ParamsOf<P>
                        : R extends { type: "object" }
                          ? Record<string, unknown>
                          : R extends { type: "record"; value: infer V }
                            ? Record<string, RuleType<V>>
                            : R extends { type: "record" }
                              ? Record<string, unknown>
                              : R extends { type: "multi"; rules: readonly (infer M)[] }
                                ? RuleType<M>
                                : unknown;

type IsOptionalIn<R> = R extends { optional: true } | { default: unknown }
  ? true
  : R extends `${string}|optional${string}`
    ? true
    : false;
type IsOptionalAfterDefaults<R> = R extends { default: unknown }
  ? false
  : R extends { optional: true }
    ? true
    : R extends `${string}|optional${string}`
      ? true
      : false;

type Fields<S> = { [K in keyof S as K extends `$$${string}` ? never : K]: S[K] };

/** The parameters a handler receives: validated, with defaults applied. */
export type ParamsOf<S> = Simplify<
  {
    [K in keyof Fields<S> as IsOptionalAfterDefaults<Fields<S>[K]> extends true ? never : K]: RuleType<Fields<S>[K]>;
  } & {
    [K in keyof Fields<S> as IsOptionalAfterDefaults<Fields<S>[K]> extends true ? K : never]?: RuleType<Fields<S>[K]>;
  }
>;

/** The parameters a caller may send: fields with a default may be left out. */
export type ParamsIn<S> = Simplify<
  { [K in keyof Fields<S> as IsOptionalIn<Fields<S>[K]> extends true ? never : K]: RuleType<Fields<S>[K]> } & {
    [K in keyof Fields<S> as IsOptionalIn<Fields<S>[K]> extends true ? K : never]?: RuleType<Fields<S>[K]>;
  }
>;
