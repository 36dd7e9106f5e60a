import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { ServiceBroker, type Context } from "moleculer";
import { DbMixin, type DbMethods, type Entity, type ListResult } from "../../../mixins/db.mixin.ts";
import { MembershipMixin } from "../../../mixins/membership.mixin.ts";

/** A service with a secret field, like envs later: `publicEntity` masks it in every response and event. */
const secretsService = {
  name: "test.secrets",
  version: 1,
  mixins: [
    DbMixin({ collection: "secrets", resource: "secrets", uniqueIndexes: [["key"]], indexes: ["type"] }),
    MembershipMixin({ scope: "catalog" }),
  ],
  settings: { db: { memory: true } },
  actions: {
    create: {
      permission: "admin" as const,
      params: { $$strict: true, key: "string", value: "string", type: { type: "enum", values: ["plain", "secret"] } },
      handler(this: DbMethods, ctx: Context<{ key: string; value: string; type: string }>) {
        return this.createEntity(ctx, { ...ctx.params });
      },
    },
    byType: {
      permission: "internal" as const,
      visibility: "public" as const,
      params: { $$strict: true, type: "string" },
      handler(this: DbMethods, ctx: Context<{ type: string }>) {
        return this.findRaw({ type: ctx.params.type });
      },
    },
    raw: {
      permission: "internal" as const,
      visibility: "public" as const,
      params: { $$strict: true, id: "string" },
      handler(this: DbMethods, ctx: Context<{ id: string }>) {
        return this.findRawById(ctx.params.id);
      },
    },
  },
  methods: {
    publicEntity(entity: Entity): Entity {
      return entity.type === "secret" && "value" in entity ? { ...entity, value: "********" } : entity;
    },
  },
};

let broker: ServiceBroker;
const events: { name: string; payload: Entity }[] = [];

beforeAll(async () => {
  broker = new ServiceBroker({ logger: false });
  broker.createService(secretsService);
  broker.createService({
    name: "recorder",
    events: {
      "k8s.secrets.*"(ctx) {
        events.push({ name: ctx.eventName ?? "", payload: ctx.params as Entity });
      },
    },
  });
  await broker.start();
});
afterAll(async () => {
  await broker.stop();
});

describe("db mixin publicEntity", () => {
  it("masks secrets in responses, lists and events, while the stored value stays", async () => {
    const created = await broker.call<Entity, object>("v1.test.secrets.create", {
      key: "PW",
      value: "hunter2",
      type: "secret",
    });
    const plain = await broker.call<Entity, object>("v1.test.secrets.create", {
      key: "MODE",
      value: "prod",
      type: "plain",
    });
    expect(created.value).toBe("********");
    expect(plain.value).toBe("prod");
    await expect(broker.call("v1.test.secrets.get", { id: created.id })).resolves.toMatchObject({ value: "********" });
    const list = await broker.call<ListResult, object>("v1.test.secrets.list", { sort: "key" });
    expect(list.rows.map((r) => r.value)).toEqual(["prod", "********"]);
    await broker.call("v1.test.secrets.remove", { id: created.id });
    await new Promise((r) => setTimeout(r, 10));
    const secretEvents = events.filter((e) => e.payload.key === "PW");
    expect(secretEvents.map((e) => e.name)).toEqual(["k8s.secrets.created", "k8s.secrets.removed"]);
    for (const e of secretEvents) expect(e.payload.value).toBe("********");
    await expect(broker.call("v1.test.secrets.raw", { id: plain.id })).resolves.toMatchObject({ value: "prod" });
    await expect(broker.call("v1.test.secrets.raw", { id: created.id })).resolves.toBeNull();
  });

  it("lists and gets with empty field names (`?fields=`, `?fields=key,`) as without them, not a 503", async () => {
    const made = await broker.call<Entity, object>("v1.test.secrets.create", {
      key: "EMPTY",
      value: "v",
      type: "plain",
    });
    for (const params of [{ fields: "" }, { excludeFields: "" }, { fields: " , " }, { fields: ["", " "] }]) {
      const list = await broker.call<ListResult, object>("v1.test.secrets.list", {
        ...params,
        query: { key: "EMPTY" },
      });
      expect(list.rows).toEqual([expect.objectContaining({ key: "EMPTY", value: "v" })]);
      await expect(broker.call("v1.test.secrets.get", { id: made.id, ...params })).resolves.toMatchObject({
        key: "EMPTY",
      });
    }
    const some = await broker.call<ListResult, object>("v1.test.secrets.list", {
      fields: "key,",
      query: { key: "EMPTY" },
    });
    expect(some.rows).toEqual([{ key: "EMPTY" }]);
    await expect(
      broker.call("v1.test.secrets.find", { fields: ["", "key"], query: { key: "EMPTY" } }),
    ).resolves.toEqual([{ key: "EMPTY" }]);
  });

  it("refuses a field name that is not a dotted path with 422 naming the parameter (was a 503)", async () => {
    for (const [key, value] of [
      ["fields", "["],
      ["fields", ["name", "]"]],
      ["excludeFields", "a[0]"],
      ["fields", "x{y"],
    ] as const) {
      await expect(broker.call("v1.test.secrets.list", { [key]: value })).rejects.toMatchObject({
        code: 422,
        type: "VALIDATION_ERROR",
        data: [{ field: key, type: "fieldName" }],
      });
    }
    await expect(broker.call("v1.test.secrets.get", { id: "x", fields: "[" })).rejects.toMatchObject({ code: 422 });
    await expect(broker.call("v1.test.secrets.find", { fields: "a.b-c.$d_e" })).resolves.toEqual(expect.any(Array));
  });

  it("exposes readiness as a public action without REST", async () => {
    const action = broker.registry.getActionList({}).find((a) => a.name === "v1.test.secrets.readiness");
    expect(action?.action?.visibility).toBe("public");
    expect((action?.action as { rest?: unknown } | undefined)?.rest).toBeUndefined();
    await expect(broker.call("v1.test.secrets.readiness")).resolves.toEqual({
      ready: true,
      checks: { database: "ok" },
    });
  });
});

describe("db mixin indexes", () => {
  it("indexes the fields a service names (NeDB), and finds by them what a scan would", async () => {
    const svc = broker.getLocalService({ name: "test.secrets", version: 1 }) as unknown as {
      adapter: { db: { indexes: Record<string, { unique: boolean }> } };
    };
    expect(Object.keys(svc.adapter.db.indexes).sort()).toEqual(["_id", "key", "type"]);
    expect(svc.adapter.db.indexes.type?.unique).toBe(false);
    await broker.call("v1.test.secrets.create", { key: "IDX_A", value: "1", type: "plain" });
    await broker.call("v1.test.secrets.create", { key: "IDX_B", value: "2", type: "plain" });
    const found = await broker.call<{ key: string }[], { type: string }>("v1.test.secrets.byType", { type: "plain" });
    expect(
      found
        .map((d) => d.key)
        .filter((k) => k.startsWith("IDX_"))
        .sort(),
    ).toEqual(["IDX_A", "IDX_B"]);
  });
});
