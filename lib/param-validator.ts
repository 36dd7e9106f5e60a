/**
 * The broker's parameter validator: moleculer's fastest-validator, with one message table shared by every compiled rule.
 *
 * Why: fastest-validator 1.19 gives each rule it compiles its own copy of the whole message table
 * (`getRuleFromSchema`: `Object.assign({}, this.messages, schema.messages)`, ~100 entries, kept in dictionary mode,
 * ~3 KB). The compiled checkers keep their rules, so the suite's ~1,200 rules (every action's params) held 3.6 MiB of
 * identical tables, a tenth of the V8 heap of a node at rest (heap snapshot, docs/performance.md, change 36).
 *
 * What: a rule whose schema brings no messages of its own gets the validator's table itself. The table is only read
 * after compiling (error texts are built into the checker's code; custom checkers look theirs up by type), and the
 * suite never adds messages after start; a rule with its own `messages` keeps its merged copy, as before.
 */
import { Validators } from "moleculer";

/** What this file uses of fastest-validator's rule compiler (not in its typings). */
interface RuleCompiler {
  messages: Record<string, string>;
  getRuleFromSchema(schema: unknown): { messages: Record<string, string>; schema: { messages?: unknown } };
}

export class ParamValidator extends Validators.Fastest {
  constructor(opts?: ConstructorParameters<typeof Validators.Fastest>[0]) {
    super(opts);
    const compiler = (this as unknown as { validator: RuleCompiler }).validator;
    const getRuleFromSchema = compiler.getRuleFromSchema.bind(compiler);
    compiler.getRuleFromSchema = (schema) => {
      const rule = getRuleFromSchema(schema);
      if (rule.schema.messages === undefined) rule.messages = compiler.messages;
      return rule;
    };
  }
}
