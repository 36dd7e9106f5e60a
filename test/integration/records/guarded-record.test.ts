import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import type { Context, ServiceBroker } from "moleculer";
import type { NamespaceEntity } from "../../../lib/entities.ts";
import { guardedRecord, type DbMethods, type Entity } from "../../../mixins/db.mixin.ts";
import { storedById } from "../../../lib/nedb-read.ts";
import { markAnswerSerializer } from "../../../lib/shared-answer.ts";
import { as, childServiceSchema, createRecordsBroker } from "../../helpers/records.ts";

/**
 * The membership guard reads a NeDB record by id from the datastore's memory (lib/nedb-read.ts) and hands the action
 * one copy of it (`guardedRecord`): every read sees the record as stored now, nothing a caller or a handler does to
 * what it was given reaches the store, and the copy leaves out the service's `leaveOut` fields unless the action lists
 * them in `guardedFields`. An action that declares `guardedReadOnly` is handed the stored record itself.
 */
interface Kid extends Entity {
  name: string;
  status: { phase: string; tags: string[] };
}

const kids = childServiceSchema({
  name: "guarded",
  collection: "guarded",
  leaveOut: ["bulk"],
  waitForNamespaces: true,
  createFields: { status: { phase: "Pending", tags: ["a"] }, bulk: [{ spec: { image: "nginx" } }] },
  actions: {
    setPhase: {
      permission: "write" as const,
      params: { $$strict: true, id: "string", phase: "string" },
      async handler(this: DbMethods, ctx: Context<{ id: string; phase: string }>) {
        return this.updateEntity(ctx, ctx.params.id, { status: { phase: ctx.params.phase, tags: ["a"] } });
      },
    },
    /** Reports the guarded record's fields, then changes it every way it can. */
    scribble: {
      permission: "read" as const,
      params: { $$strict: true, id: "string" },
      handler(ctx: Context<{ id: string }>) {
        const record = guardedRecord(ctx) as unknown as Record<string, unknown> & {
          status: { phase: string; tags: string[] };
        };
        const fields = Object.keys(record);
        record.name = "scribbled";
        record.status.phase = "Scribbled";
        record.status.tags.push("scribbled");
        return fields;
      },
    },
    /** Whether its guarded record is the datastore's own object, and the fields it has. */
    peek: {
      permission: "read" as const,
      guardedReadOnly: true,
      params: { $$strict: true, id: "string" },
      handler(this: { adapter: { db: unknown } }, ctx: Context<{ id: string }>) {
        const record = guardedRecord(ctx);
        return { stored: record === storedById(this.adapter.db, ctx.params.id), fields: Object.keys(record ?? {}) };
      },
    },
    bulk: {
      permission: "read" as const,
      guardedFields: ["bulk"],
      params: { $$strict: true, id: "string" },
      handler(ctx: Context<{ id: string }>) {
        return guardedRecord(ctx)?.["bulk"] ?? null;
      },
    },
  },
});

const owner = as("olga");

/** An application's own service that happens to be called `api`, as gateways often are: it changes what it reads. */
const impostor = {
  name: "api",
  actions: {
    readAndChange: {
      params: { id: "string" },
      async handler(ctx: Context<{ id: string }, { userID: string }>) {
        const kid = await ctx.call<Kid, { id: string }>("v1.test.guarded.get", { id: ctx.params.id });
        kid.name = "changed by api";
        kid.status.tags.push("api");
        return kid;
      },
    },
  },
};

/** A service marked as one that only serializes what its calls answer (what the suite's gateway is). */
const serializer = {
  name: "serializer",
  created(this: object) {
    markAnswerSerializer(this);
  },
  actions: {
    read: {
      params: { id: "string" },
      handler(ctx: Context<{ id: string }, { userID: string }>): Promise<Kid> {
        return ctx.call<Kid, { id: string }>("v1.test.guarded.get", { id: ctx.params.id });
      },
    },
  },
};

describe("the membership guard's record", () => {
  let broker: ServiceBroker;
  let kid: Kid;
  beforeAll(async () => {
    broker = await createRecordsBroker({ services: ["namespaces"], noStart: true });
    broker.createService(kids);
    broker.createService(impostor);
    broker.createService(serializer);
    await broker.start();
    const ns = await broker.call<NamespaceEntity, object>("v1.k8s.namespaces.create", { name: "guarded" }, owner);
    kid = await broker.call<Kid, object>("v1.test.guarded.create", { namespace: ns.id, name: "k" }, owner);
  });
  afterAll(async () => {
    await broker.stop();
  });

  const get = (): Promise<Kid> => broker.call<Kid, object>("v1.test.guarded.get", { id: kid.id }, owner);

  it("is the record as stored now: a change between two reads is seen at once", async () => {
    await expect(get()).resolves.toMatchObject({ status: { phase: "Pending" } });
    await broker.call("v1.test.guarded.setPhase", { id: kid.id, phase: "Available" }, owner);
    await expect(get()).resolves.toMatchObject({ status: { phase: "Available" } });
    await broker.call("v1.test.guarded.setPhase", { id: kid.id, phase: "Pending" }, owner);
    await expect(get()).resolves.toMatchObject({ status: { phase: "Pending" } });
  });

  it("cannot be changed in the store by a caller changing the entity it got", async () => {
    const entity = await get();
    entity.name = "changed";
    entity.status.phase = "Changed";
    entity.status.tags.push("changed");
    await expect(get()).resolves.toMatchObject({ name: "k", status: { phase: "Pending", tags: ["a"] } });
  });

  it("cannot be changed in the store by a handler changing its guarded record", async () => {
    await broker.call("v1.test.guarded.scribble", { id: kid.id }, owner);
    await expect(get()).resolves.toMatchObject({ name: "k", status: { phase: "Pending", tags: ["a"] } });
  });

  it("is the record as stored, uncopied and whole, for an action that declares it only reads it", async () => {
    await expect(broker.call("v1.test.guarded.peek", { id: kid.id }, owner)).resolves.toEqual({
      stored: true,
      fields: expect.arrayContaining(["_id", "name", "namespace", "status", "bulk"]),
    });
    // Any other action gets its own copy.
    const fields = await broker.call<string[], object>("v1.test.guarded.scribble", { id: kid.id }, owner);
    expect(fields).toContain("status");
  });

  it("leaves out the leaveOut fields, but for an action that lists them in guardedFields", async () => {
    const fields = await broker.call<string[], object>("v1.test.guarded.scribble", { id: kid.id }, owner);
    expect(fields).toEqual(expect.arrayContaining(["_id", "name", "namespace", "status"]));
    expect(fields).not.toContain("bulk");
    await expect(broker.call("v1.test.guarded.bulk", { id: kid.id }, owner)).resolves.toEqual([
      { spec: { image: "nginx" } },
    ]);
  });

  it("is a copy for a service on this node that may change it, even one called `api` like the suite's gateway", async () => {
    const changed = await broker.call<Kid, { id: string }>("api.readAndChange", { id: kid.id }, owner);
    expect(changed).toMatchObject({ name: "changed by api", status: { tags: ["a", "api"] } });
    await expect(get()).resolves.toMatchObject({ name: "k", status: { tags: ["a"] } });
  });

  it("is one shared, frozen answer per stored version for a service that only serializes it", async () => {
    const read = () => broker.call<Kid, { id: string }>("serializer.read", { id: kid.id }, owner);
    const first = await read();
    expect(Object.isFrozen(first) && Object.isFrozen(first.status.tags)).toBe(true);
    expect(await read()).toBe(first);
    await broker.call("v1.test.guarded.setPhase", { id: kid.id, phase: "Available" }, owner);
    const next = await read();
    expect(next).not.toBe(first);
    expect(next).toMatchObject({ status: { phase: "Available" } });
    await broker.call("v1.test.guarded.setPhase", { id: kid.id, phase: "Pending" }, owner);
  });
});
