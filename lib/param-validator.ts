/**
 * The broker's parameter validator: moleculer's fastest-validator, with one message table shared by every compiled rule.
 *
 * Why: fastest-validator 1.19 gives each rule it compiles its own copy of the whole message table
 * (`getRuleFromSchema`: `Object.assign({}, this.messages, schema.messages)`, ~100 entries, kept in dictionary mode,
 * ~3 KB). The compiled checkers keep their rules, so the suite's ~1,200 rules (every action's params) held 3.6 MiB of
 * identical tables, a tenth of the V8 heap of a node at rest (heap snapshot, docs/performance.md, change 36).
 *
 * What: a rule whose schema brings no messages of its own gets an empty object whose prototype is the validator's table:
 * reads find the table's texts (error texts are built into the checker's code; custom checkers look theirs up by type),
 * and a write lands on the rule's own object. One rule does write: a `record`'s key rule says "key" for "field" in its
 * string messages; with the table itself handed out (until 2026-11-28) that write changed every string message of the
 * process after the first `record` rule compiled ("The 'name' key must be a string."). A rule with its own `messages`
 * keeps its merged copy, as before.
 *
 * And `null` is a value that no rule takes unless it says `nullable: true` (NULL_REFUSING_OPTIONS). fastest-validator
 * lets `null` through every optional field by default, as if the field were absent, so the handlers met it as a
 * value: `PATCH /envs/:id {"type": null}` turned a secret env value into a plain one (the secret check compares the
 * type with "plain"), `{"configMap": null}` crashed an update (500), `{"domain": null}` stored a namespace domain that
 * routes then read as "null" (docs/reliability.md, fix 17). Now such a field answers 422 naming it ("must not be
 * null"); a field with a default still takes the default for `null`, as before.
 */
import { Validators } from "moleculer";

/** What this file uses of fastest-validator's rule compiler (not in its typings). */
interface RuleCompiler {
  messages: Record<string, string>;
  getRuleFromSchema(schema: unknown): { messages: Record<string, string>; schema: { messages?: unknown } };
}

type FastestOptions = NonNullable<ConstructorParameters<typeof Validators.Fastest>[0]>;

/** fastest-validator's rule types (1.19), each given `nullable: false` unless its rule says otherwise. */
const RULE_TYPES = [
  "any",
  "array",
  "boolean",
  "class",
  "currency",
  "custom",
  "date",
  "email",
  "enum",
  "equal",
  "forbidden",
  "function",
  "luhn",
  "mac",
  "multi",
  "number",
  "object",
  "objectID",
  "record",
  "string",
  "tuple",
  "url",
  "uuid",
] as const;

/**
 * fastest-validator options under which `null` is a value (`considerNullAsAValue`) that every rule refuses unless it
 * says `nullable: true` (a per-type default of `nullable: false`): missing and optional stay as they were. Also for
 * the suite's other fastest-validator instances (the image catalog's files).
 */
export const NULL_REFUSING_OPTIONS = {
  considerNullAsAValue: true,
  defaults: Object.fromEntries(RULE_TYPES.map((type) => [type, { nullable: false }])),
} as const;

/**
 * fastest-validator's texts where they mislead: its `enumValue` put the allowed values where the value belongs ("The
 * 'role' field value 'owner, member, viewer' does not match any of the allowed values.").
 */
const CLEARER_MESSAGES = {
  enumValue: "The '{field}' field must be one of {expected}; '{actual}' is none of them.",
};

/** An error of a refused `null`: fastest-validator reports it as `required`; say what was wrong with the value. */
interface CheckError {
  type?: string;
  field?: string;
  actual?: unknown;
  message?: string;
}

function notNullMessages(errors: CheckError[]): CheckError[] {
  for (const err of errors) {
    if (err.type === "required" && err.actual === null)
      err.message = `The '${err.field ?? ""}' field must not be null.`;
  }
  return errors;
}

/** What a compiled checker really answers (moleculer's typings say boolean). */
type Check = (params: unknown, opts?: unknown) => true | CheckError[] | Promise<true | CheckError[]>;
type CheckerFunction = ReturnType<InstanceType<typeof Validators.Fastest>["compile"]>;

export class ParamValidator extends Validators.Fastest {
  constructor(opts?: FastestOptions) {
    super({ ...NULL_REFUSING_OPTIONS, messages: CLEARER_MESSAGES, ...opts } as FastestOptions);
    const compiler = (this as unknown as { validator: RuleCompiler }).validator;
    const getRuleFromSchema = compiler.getRuleFromSchema.bind(compiler);
    compiler.getRuleFromSchema = (schema) => {
      const rule = getRuleFromSchema(schema);
      if (rule.schema.messages === undefined)
        rule.messages = Object.create(compiler.messages) as Record<string, string>;
      return rule;
    };
  }

  override compile(schema: Record<string, unknown>): CheckerFunction {
    const compiled = super.compile(schema);
    const check = compiled as unknown as Check;
    const named: Check = (params, opts) => {
      const res = check(params, opts);
      if (res === true) return res;
      return res instanceof Promise ? res.then((r) => (r === true ? r : notNullMessages(r))) : notNullMessages(res);
    };
    // moleculer awaits the checker of an action whose schema has `$$async`.
    return Object.assign(
      named as unknown as CheckerFunction,
      compiled.async === undefined ? {} : { async: compiled.async },
    );
  }
}
