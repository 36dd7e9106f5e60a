import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { Errors, ServiceBroker, type Context } from "moleculer";
import { ParamValidator } from "../../lib/param-validator.ts";

/** The rule compiler inside (fastest-validator), for the one assertion about what the rules hold. */
function compilerOf(validator: ParamValidator): {
  messages: Record<string, string>;
  getRuleFromSchema(schema: unknown): { messages: Record<string, string> };
} {
  return (validator as unknown as { validator: ReturnType<typeof compilerOf> }).validator;
}

describe("lib/param-validator ParamValidator", () => {
  it("gives rules without messages of their own the validator's one table, and keeps a rule's own", () => {
    const compiler = compilerOf(new ParamValidator());
    const a = compiler.getRuleFromSchema({ type: "string", min: 3 });
    const b = compiler.getRuleFromSchema("number|positive");
    // An empty object over the table: its texts, no copy of them.
    for (const rule of [a, b]) {
      expect(Object.getPrototypeOf(rule.messages)).toBe(compiler.messages);
      expect(Object.keys(rule.messages)).toEqual([]);
      expect(rule.messages.stringMin).toBe(compiler.messages.stringMin);
    }
    const own = compiler.getRuleFromSchema({ type: "string", messages: { stringMin: "too short" } });
    expect(own.messages).not.toBe(compiler.messages);
    expect(own.messages.stringMin).toBe("too short");
    expect(own.messages.required).toBe(compiler.messages.required);
    expect(compiler.messages.stringMin).not.toBe("too short");
  });

  describe("in a broker", () => {
    const broker = new ServiceBroker({ logger: false, validator: new ParamValidator() });
    beforeAll(async () => {
      broker.createService({
        name: "v",
        actions: {
          check: {
            params: {
              name: { type: "string", min: 3 },
              nick: { type: "string", min: 3, optional: true, messages: { stringMin: "'{field}' is too short" } },
              port: { type: "number", integer: true, positive: true, optional: true },
              even: {
                type: "number",
                optional: true,
                custom: (value: number | undefined, errors: { type: string; actual: unknown }[]) => {
                  if (value !== undefined && value % 2 !== 0) errors.push({ type: "numberEqual", actual: value });
                  return value;
                },
              },
              labels: {
                type: "object",
                optional: true,
                props: {
                  color: { type: "string", optional: true },
                  note: { type: "string", optional: true, nullable: true },
                },
              },
              tags: { type: "array", optional: true, items: "string" },
              size: { type: "number", default: 1 },
            },
            handler: (ctx: Context<Record<string, unknown>>) => ctx.params,
          },
        },
      });
      await broker.start();
    });
    afterAll(() => broker.stop());

    async function issues(
      params: Record<string, unknown>,
    ): Promise<{ type: string; field: string; message: string }[]> {
      const err = await broker.call("v.check", params).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(Errors.ValidationError);
      return (err as Errors.ValidationError).data as { type: string; field: string; message: string }[];
    }

    it("accepts valid parameters", async () => {
      await expect(broker.call("v.check", { name: "abc", nick: "abcd", port: 80, even: 4 })).resolves.toEqual({
        name: "abc",
        nick: "abcd",
        port: 80,
        even: 4,
        size: 1,
      });
    });

    it("refuses null in any field, optional or nested, unless its rule is nullable; a default takes its place", async () => {
      const notNull = (field: string) =>
        expect.objectContaining({ type: "required", field, message: `The '${field}' field must not be null.` });
      expect(await issues({ name: null })).toEqual([notNull("name")]);
      expect(await issues({ name: "abc", nick: null, port: null })).toEqual([notNull("nick"), notNull("port")]);
      expect(await issues({ name: "abc", labels: null })).toEqual([notNull("labels")]);
      expect(await issues({ name: "abc", labels: { color: null } })).toEqual([notNull("labels.color")]);
      expect(await issues({ name: "abc", tags: ["a", null] })).toEqual([
        expect.objectContaining({ type: "required", message: expect.stringContaining("must not be null") }),
      ]);
      // Missing stays missing; a nullable field keeps its null; a field with a default gets the default.
      await expect(broker.call("v.check", { name: "abc", labels: { note: null }, size: null })).resolves.toEqual({
        name: "abc",
        labels: { note: null },
        size: 1,
      });
    });

    it("names the field and says what is wrong, with fastest-validator's texts", async () => {
      expect(await issues({})).toEqual([
        expect.objectContaining({ type: "required", field: "name", message: "The 'name' field is required." }),
      ]);
      expect(await issues({ name: "ab", port: -1 })).toEqual([
        expect.objectContaining({
          type: "stringMin",
          field: "name",
          message: "The 'name' field length must be greater than or equal to 3 characters long.",
        }),
        expect.objectContaining({
          type: "numberPositive",
          field: "port",
          message: "The 'port' field must be a positive number.",
        }),
      ]);
    });

    it("uses a rule's own message where it has one, and the table for the rest", async () => {
      expect(await issues({ name: "ab", nick: "ab" })).toEqual([
        expect.objectContaining({ type: "stringMin", field: "name", message: expect.stringContaining("greater than") }),
        expect.objectContaining({ type: "stringMin", field: "nick", message: "'nick' is too short" }),
      ]);
    });

    it("keeps saying 'field' after a record rule compiled (its key rule rewrites its own messages)", async () => {
      const validator = new ParamValidator();
      const record = validator.compile({ data: { type: "record", key: { type: "string", max: 3 }, value: "string" } });
      const plain = validator.compile({ name: { type: "string" } });
      expect(record({ data: { long: "x" } })).toEqual([
        expect.objectContaining({ field: "data.long", message: expect.stringContaining("'data.long' key") }),
      ]);
      expect(plain({ name: 42 })).toEqual([
        expect.objectContaining({ field: "name", message: "The 'name' field must be a string." }),
      ]);
    });

    it("says which values an enum takes and which one it got", () => {
      const check = new ParamValidator().compile({ role: { type: "enum", values: ["owner", "member", "viewer"] } });
      expect(check({ role: "editor" })).toEqual([
        expect.objectContaining({
          type: "enumValue",
          field: "role",
          message: "The 'role' field must be one of owner, member, viewer; 'editor' is none of them.",
        }),
      ]);
    });

    it("finds a custom check's message type in the shared table", async () => {
      expect(await issues({ name: "abc", even: 3 })).toEqual([
        expect.objectContaining({ type: "numberEqual", field: "even", message: expect.stringContaining("'even'") }),
      ]);
    });
  });
});
