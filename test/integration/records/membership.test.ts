import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import type { Context, ServiceBroker } from "moleculer";
import type { NamespaceEntity } from "../../../lib/entities.ts";
import type { CallerMeta } from "../../../lib/meta.ts";
import type { DbMethods, Entity, ListResult } from "../../../mixins/db.mixin.ts";
import { as, asAdmin, childServiceSchema, createRecordsBroker } from "../../helpers/records.ts";

type Actor = "stranger" | "viewer" | "member" | "owner" | "admin" | "internal";
const ACTORS: readonly Actor[] = ["stranger", "viewer", "member", "owner", "admin", "internal"];
const opts: Record<Actor, { meta: CallerMeta } | undefined> = {
  stranger: as("sam"),
  viewer: as("vera"),
  member: as("mike"),
  owner: as("olga"),
  admin: asAdmin("ada"),
  internal: undefined,
};

let broker: ServiceBroker;
let ns: NamespaceEntity;
let other: NamespaceEntity;

/** A child entity service (like volumes or envs): records in a namespace, unique name per namespace. */
const childService = childServiceSchema({
  name: "children",
  collection: "children",
  actions: {
    update: {
      permission: "write" as const,
      params: { $$strict: true, id: "string", namespace: "string|optional", name: "string|optional" },
      handler(this: DbMethods, ctx: Context<{ id: string; namespace?: string; name?: string }>) {
        const { id, ...changes } = ctx.params;
        return this.updateEntity(ctx, id, changes);
      },
    },
    undeclared: {
      handler: () => "escaped",
    },
  },
});

beforeAll(async () => {
  broker = await createRecordsBroker({ services: ["namespaces"], noStart: true });
  broker.createService(childService);
  await broker.start();
  ns = await broker.call("v1.k8s.namespaces.create", { name: "team" }, opts.owner);
  await broker.call("v1.k8s.namespaces.addMember", { id: ns.id, userID: "mike", role: "member" }, opts.owner);
  await broker.call("v1.k8s.namespaces.addMember", { id: ns.id, userID: "vera", role: "viewer" }, opts.owner);
  other = await broker.call("v1.k8s.namespaces.create", { name: "elsewhere", owner: "zoe" });
});
afterAll(async () => {
  await broker.stop();
});

type Outcome = "ok" | 403 | 404;
const READ: Record<Actor, Outcome> = {
  stranger: 404,
  viewer: "ok",
  member: "ok",
  owner: "ok",
  admin: "ok",
  internal: "ok",
};
const CHANGE_NAMESPACE: Record<Actor, Outcome> = {
  stranger: 404,
  viewer: 403,
  member: 403,
  owner: "ok",
  admin: "ok",
  internal: "ok",
};

async function expectOutcome(p: Promise<unknown>, outcome: Outcome) {
  if (outcome === "ok") await expect(p).resolves.toBeDefined();
  else await expect(p).rejects.toMatchObject({ code: outcome, type: outcome === 404 ? "NOT_FOUND" : "FORBIDDEN" });
}

describe("membership of v1.k8s.namespaces", () => {
  describe.each(ACTORS)("as %s", (actor) => {
    const o = () => opts[actor];
    const sees =
      actor === "stranger" ? [] : actor === "admin" || actor === "internal" ? ["elsewhere", "team"] : ["team"];

    it("list, find and count show only the namespaces the caller belongs to", async () => {
      const list = await broker.call<ListResult, object>("v1.k8s.namespaces.list", { sort: "name" }, o());
      expect(list.rows.map((r) => r.name)).toEqual(sees);
      expect(list.total).toBe(sees.length);
      const found = await broker.call<Entity[], object>("v1.k8s.namespaces.find", { sort: "name" }, o());
      expect(found.map((r) => r.name)).toEqual(sees);
      await expect(broker.call("v1.k8s.namespaces.count", {}, o())).resolves.toBe(sees.length);
    });

    it("a caller's query cannot widen the membership filter", async () => {
      const widening = [
        { $or: [{ name: "elsewhere" }, { name: { $exists: true } }] },
        { "members.userID": "zoe" },
        { $not: { name: "nothing" } },
      ];
      for (const query of widening) {
        const found = await broker.call<Entity[], object>("v1.k8s.namespaces.find", { query, sort: "name" }, o());
        for (const row of found) expect(sees).toContain(row.name);
        await expect(broker.call("v1.k8s.namespaces.count", { query: JSON.stringify(query) }, o())).resolves.toBe(
          found.length,
        );
      }
    });

    it("get and resolveName", async () => {
      await expectOutcome(broker.call("v1.k8s.namespaces.get", { id: ns.id }, o()), READ[actor]);
      await expectOutcome(broker.call("v1.k8s.namespaces.resolveName", { name: "team" }, o()), READ[actor]);
    });

    it("update", async () => {
      const domain = `team${ACTORS.indexOf(actor)}.example.com`;
      const p = broker.call("v1.k8s.namespaces.update", { id: ns.id, domain }, o());
      await expectOutcome(p, CHANGE_NAMESPACE[actor]);
    });

    it("addMember and removeMember", async () => {
      await expectOutcome(
        broker.call("v1.k8s.namespaces.addMember", { id: ns.id, userID: `guest-${actor}`, role: "viewer" }, o()),
        CHANGE_NAMESPACE[actor],
      );
      // Make sure there is someone to remove, whoever the caller is.
      await broker.call("v1.k8s.namespaces.addMember", { id: ns.id, userID: `guest-${actor}`, role: "viewer" });
      await expectOutcome(
        broker.call("v1.k8s.namespaces.removeMember", { id: ns.id, userID: `guest-${actor}` }, o()),
        CHANGE_NAMESPACE[actor],
      );
    });

    it("remove", async () => {
      const victim = await broker.call<NamespaceEntity, object>("v1.k8s.namespaces.create", {
        name: `victim-${actor}`,
        owner: "olga",
      });
      await broker.call("v1.k8s.namespaces.addMember", { id: victim.id, userID: "mike", role: "member" });
      await broker.call("v1.k8s.namespaces.addMember", { id: victim.id, userID: "vera", role: "viewer" });
      await expectOutcome(broker.call("v1.k8s.namespaces.remove", { id: victim.id }, o()), CHANGE_NAMESPACE[actor]);
      const left = await broker.call("v1.k8s.namespaces.count", { query: { name: `victim-${actor}` } });
      expect(left).toBe(CHANGE_NAMESPACE[actor] === "ok" ? 0 : 1);
      if (left === 1) await broker.call("v1.k8s.namespaces.remove", { id: victim.id });
    });

    it("a stranger's 404 looks like a missing record's 404", async () => {
      if (actor !== "stranger") return;
      const hidden = await broker.call("v1.k8s.namespaces.get", { id: ns.id }, o()).catch((e: unknown) => e);
      const missing = await broker
        .call("v1.k8s.namespaces.get", { id: "does-not-exist" }, o())
        .catch((e: unknown) => e);
      expect(hidden).toMatchObject({ code: 404, type: "NOT_FOUND" });
      expect(missing).toMatchObject({ code: 404, type: "NOT_FOUND" });
    });
  });

  it("keeps the internal access helpers away from users", async () => {
    await expect(broker.call("v1.k8s.namespaces.access", { id: ns.id, userID: "mike" })).resolves.toBe("member");
    await expect(broker.call("v1.k8s.namespaces.access", { id: ns.id, userID: "sam" })).resolves.toBeNull();
    await expect(broker.call("v1.k8s.namespaces.accessibleIds", { userID: "vera" })).resolves.toEqual([ns.id]);
    for (const actor of ["owner", "admin"] as const) {
      await expect(
        broker.call("v1.k8s.namespaces.access", { id: ns.id, userID: "mike" }, opts[actor]),
      ).rejects.toMatchObject({ code: 403 });
      await expect(
        broker.call("v1.k8s.namespaces.accessibleIds", { userID: "olga" }, opts[actor]),
      ).rejects.toMatchObject({
        code: 403,
      });
    }
    const action = broker.registry.getActionList({}).find((a) => a.name === "v1.k8s.namespaces.access");
    expect(action?.action?.visibility).toBe("public");
  });
});

describe("membership of a child service (scope child)", () => {
  const CREATE_CHILD: Record<Actor, Outcome> = {
    stranger: 404,
    viewer: 403,
    member: "ok",
    owner: "ok",
    admin: "ok",
    internal: "ok",
  };

  it.each(ACTORS)("create in the namespace as %s", async (actor) => {
    await expectOutcome(
      broker.call("v1.test.children.create", { namespace: ns.id, name: `c-${actor}` }, opts[actor]),
      CREATE_CHILD[actor],
    );
  });

  it.each(ACTORS)("read, list and change children as %s", async (actor) => {
    const child = await broker.call<Entity, object>("v1.test.children.create", {
      namespace: ns.id,
      name: `r-${actor}`,
    });
    await expectOutcome(broker.call("v1.test.children.get", { id: child.id }, opts[actor]), READ[actor]);
    await expectOutcome(
      broker.call("v1.test.children.update", { id: child.id, name: `r2-${actor}` }, opts[actor]),
      CREATE_CHILD[actor],
    );
    const names = (await broker.call<Entity[], object>("v1.test.children.find", {}, opts[actor])).map((c) => c.id);
    if (actor === "stranger") expect(names).toEqual([]);
    else expect(names).toContain(child.id);
    await expectOutcome(broker.call("v1.test.children.remove", { id: child.id }, opts[actor]), CREATE_CHILD[actor]);
  });

  it("a member cannot move a child into a namespace they do not belong to", async () => {
    const child = await broker.call<Entity, object>(
      "v1.test.children.create",
      { namespace: ns.id, name: "mover" },
      opts.member,
    );
    await expect(
      broker.call("v1.test.children.update", { id: child.id, namespace: other.id }, opts.member),
    ).rejects.toMatchObject({ code: 404 });
    await expect(broker.call("v1.test.children.get", { id: child.id })).resolves.toMatchObject({ namespace: ns.id });
  });

  it("a child's name is unique per namespace, enforced by a compound unique index", async () => {
    await broker.call("v1.test.children.create", { namespace: ns.id, name: "same" });
    await broker.call("v1.test.children.create", { namespace: other.id, name: "same" });
    await expect(broker.call("v1.test.children.create", { namespace: ns.id, name: "same" })).rejects.toMatchObject({
      code: 409,
      type: "ALREADY_EXISTS",
      data: { field: "name", value: "same" },
    });
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, () => broker.call("v1.test.children.create", { namespace: ns.id, name: "racy" })),
    );
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    // Renaming onto a taken name is refused as well, and the derived key never shows.
    const c = await broker.call<Entity, object>("v1.test.children.create", { namespace: ns.id, name: "free" });
    expect(Object.keys(c)).not.toContain("_unique");
    await expect(broker.call("v1.test.children.update", { id: c.id, name: "same" })).rejects.toMatchObject({
      code: 409,
    });
  });

  it("refuses an action that declares no permission, even to internal calls", async () => {
    await expect(broker.call("v1.test.children.undeclared", {})).rejects.toMatchObject({
      code: 403,
      type: "FORBIDDEN",
    });
    await expect(broker.call("v1.test.children.undeclared", {}, opts.admin)).rejects.toMatchObject({ code: 403 });
  });
});
