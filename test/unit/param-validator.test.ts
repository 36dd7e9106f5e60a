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
    expect(a.messages).toBe(compiler.messages);
    expect(b.messages).toBe(compiler.messages);
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

    it("finds a custom check's message type in the shared table", async () => {
      expect(await issues({ name: "abc", even: 3 })).toEqual([
        expect.objectContaining({ type: "numberEqual", field: "even", message: expect.stringContaining("'even'") }),
      ]);
    });
  });
});
