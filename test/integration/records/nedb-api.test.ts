import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { ServiceBroker, type Context } from "moleculer";
import { DbMixin, type DbMethods, type Entity, type ListResult, type RawDoc } from "../../../mixins/db.mixin.ts";
import { MembershipMixin } from "../../../mixins/membership.mixin.ts";

/**
 * The db mixin reaches NeDB through its promise (`*Async`) API (lib/nedb.ts), not through moleculer-db's promisified
 * callback methods: the answers must stay what moleculer-db's MemoryAdapter gave (paging, sort, counts, copies, errors).
 */
const service = {
  name: "test.nedbapi",
  version: 1,
  mixins: [
    // The compound index stores a hidden `_unique` field; creates with a context store a hidden `_request` field.
    DbMixin({ collection: "nedbapi", resource: "nedbapi", uniqueIndexes: [["key"], ["key", "n"]] }),
    MembershipMixin({ scope: "catalog" }),
  ],
  settings: { db: { memory: true } },
  actions: {
    create: {
      permission: "admin" as const,
      params: { $$strict: true, key: "string", n: "number", tags: { type: "array", items: "string" } },
      handler(this: DbMethods, ctx: Context<{ key: string; n: number; tags: string[] }>) {
        return this.createEntity(ctx, { ...ctx.params });
      },
    },
    update: {
      permission: "admin" as const,
      params: { $$strict: true, id: "string", key: { type: "string", optional: true }, n: "number|optional" },
      handler(this: DbMethods, ctx: Context<{ id: string; key?: string; n?: number }>) {
        const { id, ...changes } = ctx.params;
        return this.updateEntity(ctx, id, changes);
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
};

/** The callback-style entry points moleculer-db's adapter used; each call of one is recorded. */
const CALLBACK_METHODS = ["findOne", "count", "insert", "update", "remove"] as const;
let broker: ServiceBroker;
const callbackCalls: string[] = [];

beforeAll(async () => {
  broker = new ServiceBroker({ logger: false });
  broker.createService(service);
  await broker.start();
  const svc = broker.getLocalService({ name: "test.nedbapi", version: 1 }) as unknown as {
    adapter: {
      db: Record<string, (...args: unknown[]) => unknown>;
      createCursor(f: unknown): { exec: (...args: unknown[]) => unknown };
    };
  };
  const db = svc.adapter.db;
  for (const name of CALLBACK_METHODS) {
    const original = db[name];
    if (original === undefined) throw new Error(`no ${name} on the datastore`);
    db[name] = (...args: unknown[]) => {
      callbackCalls.push(name);
      return original.apply(db, args);
    };
  }
  const createCursor = svc.adapter.createCursor.bind(svc.adapter);
  svc.adapter.createCursor = (f: unknown) => {
    const cursor = createCursor(f);
    const exec = cursor.exec.bind(cursor);
    cursor.exec = (...args: unknown[]) => {
      callbackCalls.push("cursor.exec");
      return exec(...args);
    };
    return cursor;
  };
});
afterAll(async () => {
  await broker.stop();
});

describe("db mixin over NeDB's promise API", () => {
  const ids: Record<string, string> = {};

  it("creates, lists page by page, sorts, finds and counts as moleculer-db's adapter did", async () => {
    for (const [key, n] of [
      ["K3", 3],
      ["K1", 1],
      ["K5", 5],
      ["K2", 2],
      ["K4", 4],
    ] as const) {
      const made = await broker.call<Entity, object>("v1.test.nedbapi.create", { key, n, tags: [key] });
      expect(made).toMatchObject({ id: expect.any(String), key, n, tags: [key] });
      ids[key] = made.id;
    }
    const page = await broker.call<ListResult, object>("v1.test.nedbapi.list", { sort: "-n", page: 2, pageSize: 2 });
    expect(page).toMatchObject({ total: 5, page: 2, pageSize: 2, totalPages: 3 });
    expect(page.rows.map((r) => r.key)).toEqual(["K3", "K2"]);
    const found = await broker.call<Entity[], object>("v1.test.nedbapi.find", { sort: "key", limit: 2, offset: 1 });
    expect(found.map((r) => r.key)).toEqual(["K2", "K3"]);
    await expect(broker.call("v1.test.nedbapi.count", { query: { n: { $gte: 3 } } })).resolves.toBe(3);
    await expect(broker.call("v1.test.nedbapi.count", {})).resolves.toBe(5);
    const many = await broker.call<Entity[], object>("v1.test.nedbapi.get", { id: [ids.K1, ids.K2] });
    expect(many.map((r) => r.key).sort()).toEqual(["K1", "K2"]);
    const mapped = await broker.call<Record<string, Entity>, object>("v1.test.nedbapi.get", {
      id: [ids.K4],
      mapping: true,
    });
    expect(mapped[ids.K4 ?? ""]).toMatchObject({ key: "K4" });
    await expect(broker.call("v1.test.nedbapi.get", { id: "nope" })).rejects.toMatchObject({ code: 404 });
    await expect(broker.call("v1.test.nedbapi.raw", { id: "nope" })).resolves.toBeNull();
    await expect(broker.call("v1.test.nedbapi.create", { key: "K1", n: 9, tags: [] })).rejects.toMatchObject({
      code: 409,
      type: "ALREADY_EXISTS",
    });
  });

  it("answers without fields as moleculer-db's own transform does: same fields, same order, nothing hidden", async () => {
    const raw = await broker.call<RawDoc, object>("v1.test.nedbapi.raw", { id: ids.K3 });
    expect(raw).toHaveProperty("_unique");
    expect(raw).toHaveProperty("_request");
    // `excludeFields` of a field no record has takes moleculer-db's transform; without it, the db mixin's own.
    const fast = await broker.call<Entity, object>("v1.test.nedbapi.get", { id: ids.K3 });
    const slow = await broker.call<Entity, object>("v1.test.nedbapi.get", { id: ids.K3, excludeFields: ["nothing"] });
    expect(JSON.stringify(fast)).toBe(JSON.stringify(slow));
    expect(Object.keys(fast)).toEqual(["key", "n", "tags", "createdAt", "updatedAt", "id"]);
    const fastList = await broker.call<ListResult, object>("v1.test.nedbapi.list", { sort: "key" });
    const slowList = await broker.call<ListResult, object>("v1.test.nedbapi.list", {
      sort: "key",
      excludeFields: ["nothing"],
    });
    expect(JSON.stringify(fastList)).toBe(JSON.stringify(slowList));
  });

  it("hands out copies: a caller changing an answer does not change the stored record", async () => {
    const raw = await broker.call<RawDoc, object>("v1.test.nedbapi.raw", { id: ids.K1 });
    (raw.tags as string[]).push("changed");
    raw.n = 100;
    const got = await broker.call<Entity, object>("v1.test.nedbapi.get", { id: ids.K1 });
    got.key = "changed";
    await expect(broker.call("v1.test.nedbapi.raw", { id: ids.K1 })).resolves.toMatchObject({
      key: "K1",
      n: 1,
      tags: ["K1"],
    });
  });

  it("updates (the stored answer, 404, 409) and removes", async () => {
    const updated = await broker.call<Entity, object>("v1.test.nedbapi.update", { id: ids.K2, n: 20 });
    expect(updated).toMatchObject({ id: ids.K2, key: "K2", n: 20 });
    await expect(broker.call("v1.test.nedbapi.raw", { id: ids.K2 })).resolves.toMatchObject({ n: 20 });
    await expect(broker.call("v1.test.nedbapi.update", { id: ids.K2, key: "K3" })).rejects.toMatchObject({
      code: 409,
    });
    await expect(broker.call("v1.test.nedbapi.update", { id: "nope", n: 1 })).rejects.toMatchObject({ code: 404 });
    await expect(broker.call("v1.test.nedbapi.remove", { id: ids.K5 })).resolves.toMatchObject({ key: "K5" });
    await expect(broker.call("v1.test.nedbapi.count", {})).resolves.toBe(4);
    await expect(broker.call("v1.test.nedbapi.remove", { id: ids.K5 })).rejects.toMatchObject({ code: 404 });
  });

  it("never went through the callback API (promisify around callbackify, DEP0174 on update)", () => {
    expect(callbackCalls).toEqual([]);
  });
});
