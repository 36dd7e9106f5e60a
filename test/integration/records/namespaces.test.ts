import { afterAll, beforeAll, beforeEach, describe, expect, it } from "@jest/globals";
import type { ServiceBroker } from "moleculer";
import type { NamespaceEntity } from "../../../lib/entities.ts";
import type { NamespaceListResult } from "../../../services/namespaces.service.ts";
import { as, asAdmin, createRecordsBroker } from "../../helpers/records.ts";

const alice = as("alice");
const bob = as("bob");

let broker: ServiceBroker;
const events: { name: string; payload: Record<string, unknown> }[] = [];

beforeAll(async () => {
  broker = await createRecordsBroker({ services: ["namespaces"], noStart: true });
  broker.createService({
    name: "event-recorder",
    events: {
      "k8s.namespaces.*"(ctx) {
        events.push({ name: ctx.eventName ?? "", payload: ctx.params as Record<string, unknown> });
      },
    },
  });
  await broker.start();
});
afterAll(async () => {
  await broker.stop();
});
beforeEach(async () => {
  await broker.call("v1.k8s.namespaces.clean");
  events.length = 0;
});

function create(params: Record<string, unknown>, opts = alice): Promise<NamespaceEntity> {
  return broker.call<NamespaceEntity, Record<string, unknown>>("v1.k8s.namespaces.create", params, opts);
}
function countAll(): Promise<number> {
  return broker.call<number>("v1.k8s.namespaces.count");
}

describe("v1.k8s.namespaces.create", () => {
  it("stores a namespace owned by the caller, with defaults, timestamps and a string id", async () => {
    const ns = await create({ name: "my-app" });
    expect(ns).toMatchObject({
      name: "my-app",
      domain: "apps.example.com",
      owner: "alice",
      members: [{ userID: "alice", role: "owner" }],
      quota: {},
      clusterOwned: false,
      status: { phase: "Pending" },
      uid: "",
    });
    expect(ns.id).toMatch(/^[0-9A-Za-z]{20}$/);
    expect(new Date(ns.createdAt).toISOString()).toBe(ns.createdAt);
    expect(ns.updatedAt).toBe(ns.createdAt);
    expect(Object.keys(ns)).not.toContain("_id");
    await expect(broker.call("v1.k8s.namespaces.get", { id: ns.id }, alice)).resolves.toEqual(ns);
  });

  it("lets an admin give the cluster's own namespace default to an owner, marked as the cluster's own", async () => {
    const ns = await create({ name: "default", owner: "alice" }, asAdmin());
    expect(ns).toMatchObject({ name: "default", owner: "alice", clusterOwned: true });
  });

  it("refuses the cluster's own namespace default to a person who is not an admin (403), storing nothing", async () => {
    await expect(create({ name: "default" })).rejects.toMatchObject({ code: 403, type: "FORBIDDEN" });
    expect(await countAll()).toBe(0);
  });

  it.each(["kube-system", "kube-public", "moleculer-k8s"])(
    "refuses the reserved name %p with 422 naming name",
    async (name) => {
      await expect(create({ name })).rejects.toMatchObject({
        code: 422,
        type: "VALIDATION_ERROR",
        data: [expect.objectContaining({ field: "name" })],
      });
      expect(await countAll()).toBe(0);
    },
  );

  it.each([
    ["a missing name", { domain: "example.com" }, "name"],
    ["empty params", {}, "name"],
    ["a number as name", { name: 42 }, "name"],
    ["an empty name", { name: "" }, "name"],
    ["a 64-character name", { name: "a".repeat(64) }, "name"],
    ["an upper-case name", { name: "My-App" }, "name"],
    ["a name with a dot", { name: "my.app" }, "name"],
    ["an invalid domain", { name: "ok", domain: "not a domain" }, "domain"],
    ["an IP address as domain", { name: "ok", domain: "10.0.0.1" }, "domain"],
    ["a negative quota", { name: "ok", quota: { cpu: -1 } }, "quota.cpu"],
    ["a fractional quota", { name: "ok", quota: { memory: 1.5 } }, "quota.memory"],
    ["a string quota", { name: "ok", quota: { pods: "10" } }, "quota.pods"],
    ["an unknown quota key", { name: "ok", quota: { gpus: 1 } }, "quota"],
    ["an empty owner", { name: "ok", owner: "" }, "owner"],
  ])("refuses %s with 422 naming the field, storing nothing", async (_why, params, field) => {
    await expect(create(params)).rejects.toMatchObject({
      code: 422,
      type: "VALIDATION_ERROR",
      data: expect.arrayContaining([expect.objectContaining({ field })]),
    });
    expect(await countAll()).toBe(0);
  });

  it("refuses unknown fields with 422 naming them", async () => {
    await expect(create({ name: "ok", members: [], color: "red" })).rejects.toMatchObject({
      code: 422,
      type: "VALIDATION_ERROR",
      data: [expect.objectContaining({ type: "objectStrict", actual: "members, color" })],
    });
    expect(await countAll()).toBe(0);
  });

  it("refuses an internal call without owner and takes the owner it passes", async () => {
    await expect(broker.call("v1.k8s.namespaces.create", { name: "svc-ns" })).rejects.toMatchObject({
      code: 422,
      data: [expect.objectContaining({ field: "owner" })],
    });
    const ns = await broker.call<NamespaceEntity, object>("v1.k8s.namespaces.create", {
      name: "svc-ns",
      owner: "carol",
    });
    expect(ns).toMatchObject({ owner: "carol", members: [{ userID: "carol", role: "owner" }] });
  });

  it("lets a user create only for themselves, an admin for anyone", async () => {
    await expect(create({ name: "for-bob", owner: "bob" })).rejects.toMatchObject({ code: 403, type: "FORBIDDEN" });
    await expect(create({ name: "for-bob", owner: "bob" }, asAdmin())).resolves.toMatchObject({ owner: "bob" });
  });

  it("answers 20 concurrent creates of one name with exactly one success and nineteen 409 ALREADY_EXISTS", async () => {
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => create({ name: "race" }, as(`u${i}`))),
    );
    const ok = results.filter((r) => r.status === "fulfilled");
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    expect(ok).toHaveLength(1);
    expect(failed).toHaveLength(19);
    for (const f of failed) {
      expect(f.reason).toMatchObject({ code: 409, type: "ALREADY_EXISTS", data: { field: "name", value: "race" } });
    }
    expect(await countAll()).toBe(1);
  });
});

describe("v1.k8s.namespaces.create with ALLOWED_DOMAINS", () => {
  let restricted: ServiceBroker;
  beforeAll(async () => {
    restricted = await createRecordsBroker({
      services: ["namespaces"],
      settings: { namespaces: { allowedDomains: ["example.com"], defaultDomain: "apps.example.com" } },
    });
  });
  afterAll(async () => {
    await restricted.stop();
  });
  it("accepts the allowed domain and its subdomains and refuses others with 422 naming domain", async () => {
    const call = (name: string, domain: string) => restricted.call("v1.k8s.namespaces.create", { name, domain }, alice);
    await expect(call("a", "example.com")).resolves.toMatchObject({ domain: "example.com" });
    await expect(call("b", "team.example.com")).resolves.toMatchObject({ domain: "team.example.com" });
    await expect(call("c", "example.org")).rejects.toMatchObject({
      code: 422,
      data: [expect.objectContaining({ field: "domain", type: "domainNotAllowed" })],
    });
    await expect(restricted.call("v1.k8s.namespaces.create", { name: "d" }, alice)).resolves.toMatchObject({
      domain: "apps.example.com",
    });
  });
});

describe("who sets a namespace's quota (QUOTA_SET_BY, default admin)", () => {
  const quota = { cpu: 2000, memory: 1024, pods: 10 };

  it("refuses a quota from an owner with 403 naming the field, storing nothing", async () => {
    await expect(create({ name: "greedy", quota })).rejects.toMatchObject({
      code: 403,
      type: "FORBIDDEN",
      data: { field: "quota" },
    });
    expect(await countAll()).toBe(0);
    // An empty quota asks for nothing: the defaults, as without the field.
    await expect(create({ name: "modest", quota: {} })).resolves.toMatchObject({ name: "modest", quota: {} });
  });

  it("takes a quota from an admin (for an owner) and from another service", async () => {
    const byAdmin = await create({ name: "granted", owner: "alice", quota }, asAdmin());
    expect(byAdmin).toMatchObject({ owner: "alice", members: [{ userID: "alice", role: "owner" }], quota });
    const byService = await broker.call<NamespaceEntity, object>("v1.k8s.namespaces.create", {
      name: "internal",
      owner: "alice",
      quota: { pods: 3 },
    });
    expect(byService).toMatchObject({ owner: "alice", quota: { pods: 3 } });
  });

  it("refuses an owner's change of the quota, and takes the same quota back with other changes", async () => {
    const ns = await create({ name: "capped", owner: "alice", quota }, asAdmin());
    const update = (params: object) =>
      broker.call<NamespaceEntity, object>("v1.k8s.namespaces.update", { id: ns.id, ...params }, alice);
    for (const changed of [{ ...quota, pods: 11 }, { pods: 11 }, { cpu: null }]) {
      await expect(update({ domain: "other.example.com", quota: changed })).rejects.toMatchObject({
        code: 403,
        type: "FORBIDDEN",
        data: { field: "quota" },
      });
    }
    expect(await broker.call("v1.k8s.namespaces.get", { id: ns.id }, alice)).toMatchObject({
      domain: "apps.example.com",
      quota,
    });
    // A PUT of the entity as read sends the quota back unchanged (keys in another order): that is no change.
    await expect(
      update({ domain: "other.example.com", quota: { pods: 10, memory: 1024, cpu: 2000 } }),
    ).resolves.toMatchObject({ domain: "other.example.com", quota });
    await expect(update({ domain: "third.example.com" })).resolves.toMatchObject({ domain: "third.example.com" });
    // Fields left out keep their values: a part of the stored quota is no change either.
    for (const same of [{ cpu: 2000, memory: 1024 }, {}]) {
      await expect(update({ quota: same })).resolves.toMatchObject({ quota });
    }
  });

  it("lets owners set their own quota with QUOTA_SET_BY=owner", async () => {
    const ownerBroker = await createRecordsBroker({
      services: ["namespaces"],
      settings: { namespaces: { quotaSetBy: "owner" } },
    });
    try {
      const ns = await ownerBroker.call<NamespaceEntity, object>(
        "v1.k8s.namespaces.create",
        { name: "self", quota },
        alice,
      );
      expect(ns).toMatchObject({ owner: "alice", quota });
      await expect(
        ownerBroker.call("v1.k8s.namespaces.update", { id: ns.id, quota: { pods: 1 } }, alice),
      ).resolves.toMatchObject({ quota: { pods: 1 } });
      // Members who are not owners still may not change the namespace at all.
      await ownerBroker.call("v1.k8s.namespaces.addMember", { id: ns.id, userID: "bob", role: "member" }, alice);
      await expect(
        ownerBroker.call("v1.k8s.namespaces.update", { id: ns.id, quota: { pods: 2 } }, bob),
      ).rejects.toMatchObject({ code: 403 });
    } finally {
      await ownerBroker.stop();
    }
  });
});

describe("v1.k8s.namespaces.update", () => {
  it("changes domain and quota and moves updatedAt", async () => {
    const ns = await create({ name: "upd" });
    await new Promise((r) => setTimeout(r, 5));
    const updated = await broker.call<NamespaceEntity, object>(
      "v1.k8s.namespaces.update",
      { id: ns.id, domain: "new.example.com", quota: { storage: 5 } },
      asAdmin(),
    );
    expect(updated).toMatchObject({ id: ns.id, name: "upd", domain: "new.example.com", quota: { storage: 5 } });
    expect(updated.createdAt).toBe(ns.createdAt);
    expect(updated.updatedAt > ns.updatedAt).toBe(true);
  });

  it.each([
    ["name", { name: "other" }],
    ["owner", { owner: "bob" }],
    ["members", { members: [] }],
    ["domain", { domain: "-bad-" }],
    ["id", { id: 7 }],
  ])("refuses a change of %s with 422 naming it", async (field, change) => {
    const ns = await create({ name: "fixed" });
    await expect(broker.call("v1.k8s.namespaces.update", { id: ns.id, ...change }, alice)).rejects.toMatchObject({
      code: 422,
      type: "VALIDATION_ERROR",
      data: expect.arrayContaining([expect.objectContaining({ field })]),
    });
    await expect(broker.call("v1.k8s.namespaces.get", { id: ns.id }, alice)).resolves.toMatchObject({
      name: "fixed",
      owner: "alice",
      domain: ns.domain,
    });
  });

  it("answers 404 for an unknown id", async () => {
    await expect(
      broker.call("v1.k8s.namespaces.update", { id: "nope", domain: "a.example.com" }, alice),
    ).rejects.toMatchObject({ code: 404, type: "NOT_FOUND" });
  });
});

describe("v1.k8s.namespaces.remove", () => {
  it("removes the record, returns it, and it is gone", async () => {
    const ns = await create({ name: "gone" });
    await expect(broker.call("v1.k8s.namespaces.remove", { id: ns.id }, alice)).resolves.toMatchObject({
      id: ns.id,
      name: "gone",
    });
    await expect(broker.call("v1.k8s.namespaces.get", { id: ns.id }, alice)).rejects.toMatchObject({ code: 404 });
    await expect(broker.call("v1.k8s.namespaces.remove", { id: ns.id }, alice)).rejects.toMatchObject({ code: 404 });
    // The name is free again.
    await expect(create({ name: "gone" })).resolves.toMatchObject({ name: "gone" });
  });
});

describe("v1.k8s.namespaces.clean", () => {
  it("removes everything for an admin and refuses other users with 403", async () => {
    await create({ name: "one" });
    await create({ name: "two" }, bob);
    await expect(broker.call("v1.k8s.namespaces.clean", {}, alice)).rejects.toMatchObject({ code: 403 });
    expect(await countAll()).toBe(2);
    await expect(broker.call("v1.k8s.namespaces.clean", {}, asAdmin())).resolves.toEqual({ removed: 2 });
    expect(await countAll()).toBe(0);
  });
});

describe("v1.k8s.namespaces.available", () => {
  it("says whether a name is free, valid and not reserved, to anyone signed in", async () => {
    await create({ name: "taken" });
    const check = (name: string) => broker.call("v1.k8s.namespaces.available", { name }, bob);
    await expect(check("free")).resolves.toEqual({ name: "free", available: true });
    await expect(check("taken")).resolves.toEqual({ name: "taken", available: false });
    await expect(check("kube-system")).resolves.toEqual({ name: "kube-system", available: false });
    await expect(check("Not_Valid")).resolves.toEqual({ name: "Not_Valid", available: false });
    // Only an admin may claim the cluster's own namespace, so it is not available to bob.
    await expect(check("default")).resolves.toEqual({ name: "default", available: false });
    await expect(broker.call("v1.k8s.namespaces.available", { name: "default" }, asAdmin())).resolves.toEqual({
      name: "default",
      available: true,
    });
    await expect(check("moleculer-k8s-builds")).resolves.toEqual({ name: "moleculer-k8s-builds", available: false });
  });
  it("keeps every user-* name for its user's personal namespace: only they (or an admin) may take it", async () => {
    const carol = as("carol");
    await expect(broker.call("v1.k8s.namespaces.available", { name: "user-carol" }, bob)).resolves.toEqual({
      name: "user-carol",
      available: false,
    });
    await expect(broker.call("v1.k8s.namespaces.available", { name: "user-carol" }, carol)).resolves.toEqual({
      name: "user-carol",
      available: true,
    });
    // bob cannot take carol's (nor any other user-* name), nor make it for her.
    for (const params of [{ name: "user-carol" }, { name: "user-anything" }]) {
      await expect(broker.call("v1.k8s.namespaces.create", params, bob)).rejects.toMatchObject({
        code: 403,
        type: "FORBIDDEN",
        message: `the name '${params.name}' is kept for a user's personal namespace (yours is 'user-bob')`,
      });
    }
    await expect(broker.call("v1.k8s.namespaces.find", { query: { name: "user-carol" } }, asAdmin())).resolves.toEqual(
      [],
    );
    // Their own is theirs to make; an admin may make anyone's.
    await expect(broker.call("v1.k8s.namespaces.create", { name: "user-bob" }, bob)).resolves.toMatchObject({
      name: "user-bob",
      owner: "bob",
    });
    await expect(
      broker.call("v1.k8s.namespaces.create", { name: "user-carol", owner: "carol" }, asAdmin()),
    ).resolves.toMatchObject({ name: "user-carol", owner: "carol" });
  });
  it("refuses a missing name with 422", async () => {
    await expect(broker.call("v1.k8s.namespaces.available", {}, bob)).rejects.toMatchObject({
      code: 422,
      data: [expect.objectContaining({ field: "name" })],
    });
  });
});

describe("v1.k8s.namespaces.resolveName", () => {
  it("resolves a name to the record for a member and answers 404 to others", async () => {
    const ns = await create({ name: "default", owner: "alice" }, asAdmin());
    await expect(broker.call("v1.k8s.namespaces.resolveName", { name: "default" }, alice)).resolves.toEqual(ns);
    await expect(broker.call("v1.k8s.namespaces.resolveName", { name: "default" })).resolves.toEqual(ns);
    // To a stranger the same 404 as for a name nobody has: it names the name, never the record's id.
    const stranger = (await broker
      .call("v1.k8s.namespaces.resolveName", { name: "default" }, bob)
      .catch((e: unknown) => e)) as {
      data?: unknown;
    };
    expect(stranger).toMatchObject({ code: 404, type: "NOT_FOUND", message: "namespace 'default' not found" });
    expect(JSON.stringify(stranger.data)).not.toContain(ns.id);
    await expect(broker.call("v1.k8s.namespaces.resolveName", { name: "missing" }, alice)).rejects.toMatchObject({
      code: 404,
    });
    await expect(broker.call("v1.k8s.namespaces.resolveName", { name: "BAD" }, alice)).rejects.toMatchObject({
      code: 422,
    });
  });
});

describe("v1.k8s.namespaces.addMember / removeMember", () => {
  it("adds, re-roles and removes members", async () => {
    const ns = await create({ name: "team" });
    let res = await broker.call<NamespaceEntity, object>(
      "v1.k8s.namespaces.addMember",
      { id: ns.id, userID: "bob", role: "viewer" },
      alice,
    );
    expect(res.members).toEqual([
      { userID: "alice", role: "owner" },
      { userID: "bob", role: "viewer" },
    ]);
    res = await broker.call("v1.k8s.namespaces.addMember", { id: ns.id, userID: "bob", role: "member" }, alice);
    expect(res.members).toContainEqual({ userID: "bob", role: "member" });
    expect(res.members).toHaveLength(2);
    res = await broker.call("v1.k8s.namespaces.removeMember", { id: ns.id, userID: "bob" }, alice);
    expect(res.members).toEqual([{ userID: "alice", role: "owner" }]);
  });

  it("never leaves a namespace without an owner", async () => {
    const ns = await create({ name: "solo" });
    await expect(
      broker.call("v1.k8s.namespaces.removeMember", { id: ns.id, userID: "alice" }, alice),
    ).rejects.toMatchObject({ code: 422, data: [expect.objectContaining({ field: "userID", type: "lastOwner" })] });
    await expect(
      broker.call("v1.k8s.namespaces.addMember", { id: ns.id, userID: "alice", role: "viewer" }, alice),
    ).rejects.toMatchObject({ code: 422, data: [expect.objectContaining({ field: "role", type: "lastOwner" })] });
  });

  it("hands the owner field to another owner when the first one leaves", async () => {
    const ns = await create({ name: "handover" });
    await broker.call("v1.k8s.namespaces.addMember", { id: ns.id, userID: "bob", role: "owner" }, alice);
    const res = await broker.call<NamespaceEntity, object>(
      "v1.k8s.namespaces.removeMember",
      { id: ns.id, userID: "alice" },
      bob,
    );
    expect(res).toMatchObject({ owner: "bob", members: [{ userID: "bob", role: "owner" }] });
  });

  it("answers 404 for a user who is not a member and 422 for a bad role", async () => {
    const ns = await create({ name: "strict" });
    await expect(
      broker.call("v1.k8s.namespaces.removeMember", { id: ns.id, userID: "nobody" }, alice),
    ).rejects.toMatchObject({ code: 404 });
    await expect(
      broker.call("v1.k8s.namespaces.addMember", { id: ns.id, userID: "bob", role: "god" }, alice),
    ).rejects.toMatchObject({ code: 422, data: [expect.objectContaining({ field: "role" })] });
    await expect(
      broker.call("v1.k8s.namespaces.addMember", { id: ns.id, role: "viewer" }, alice),
    ).rejects.toMatchObject({
      code: 422,
      data: [expect.objectContaining({ field: "userID" })],
    });
  });
});

describe("v1.k8s.namespaces.list / find / count", () => {
  it("pages, sorts and filters with the caller's query inside the caller's namespaces", async () => {
    for (const name of ["n-c", "n-a", "n-b"]) await create({ name });
    await create({ name: "n-bob" }, bob);
    const page = await broker.call<NamespaceListResult, object>(
      "v1.k8s.namespaces.list",
      { page: 1, pageSize: 2, sort: "name" },
      alice,
    );
    expect(page).toMatchObject({ total: 3, page: 1, pageSize: 2, totalPages: 2 });
    expect(page.rows.map((r) => r.name)).toEqual(["n-a", "n-b"]);
    const found = await broker.call<NamespaceEntity[], object>(
      "v1.k8s.namespaces.find",
      { query: { name: { $in: ["n-b", "n-bob"] } }, fields: ["name"] },
      alice,
    );
    expect(found).toEqual([{ name: "n-b" }]);
    await expect(broker.call("v1.k8s.namespaces.count", { query: '{"name":"n-c"}' }, alice)).resolves.toBe(1);
  });

  it("refuses $where, search and malformed queries with 422", async () => {
    await create({ name: "q" });
    await expect(
      broker.call("v1.k8s.namespaces.find", { query: { $where: "return true" } }, alice),
    ).rejects.toMatchObject({ code: 422, data: [expect.objectContaining({ field: "query" })] });
    await expect(broker.call("v1.k8s.namespaces.count", { query: { $or: [{ $where: "1" }] } })).rejects.toMatchObject({
      code: 422,
    });
    await expect(broker.call("v1.k8s.namespaces.list", { search: "q" }, alice)).rejects.toMatchObject({ code: 422 });
    await expect(broker.call("v1.k8s.namespaces.count", { query: "{not json" }, alice)).rejects.toMatchObject({
      code: 422,
      data: [expect.objectContaining({ field: "query" })],
    });
    await expect(
      broker.call("v1.k8s.namespaces.count", { query: { name: { $nope: 1 } } }, alice),
    ).rejects.toMatchObject({ code: 422, data: [expect.objectContaining({ field: "query" })] });
    await expect(broker.call("v1.k8s.namespaces.list", { page: 0 }, alice)).rejects.toMatchObject({ code: 422 });
  });

  it("gets several ids at once, with mapping", async () => {
    const a = await create({ name: "m-a" });
    const b = await create({ name: "m-b" });
    const mapped = await broker.call<Record<string, NamespaceEntity>, object>(
      "v1.k8s.namespaces.get",
      { id: [a.id, b.id], mapping: true },
      alice,
    );
    expect(Object.keys(mapped).sort()).toEqual([a.id, b.id].sort());
    await expect(broker.call("v1.k8s.namespaces.get", { id: [a.id, b.id] }, bob)).rejects.toMatchObject({ code: 404 });
  });
});

describe("k8s.namespaces domain events", () => {
  it("broadcasts created, updated and removed with the public entity", async () => {
    const ns = await create({ name: "evt" });
    const updated = await broker.call<NamespaceEntity, object>(
      "v1.k8s.namespaces.update",
      { id: ns.id, quota: { pods: 3 } },
      asAdmin(),
    );
    await broker.call("v1.k8s.namespaces.remove", { id: ns.id }, alice);
    await new Promise((r) => setTimeout(r, 10));
    expect(events.map((e) => e.name)).toEqual([
      "k8s.namespaces.created",
      "k8s.namespaces.updated",
      "k8s.namespaces.removed",
    ]);
    expect(events[0]?.payload).toEqual(ns);
    expect(events[1]?.payload).toEqual(updated);
    expect(events[2]?.payload).toEqual(updated);
    for (const e of events) expect(Object.keys(e.payload)).not.toContain("_id");
  });

  it("emits nothing for a refused change or an empty update", async () => {
    const ns = await create({ name: "quiet" });
    events.length = 0;
    await expect(broker.call("v1.k8s.namespaces.update", { id: ns.id, name: "x" }, alice)).rejects.toMatchObject({
      code: 422,
    });
    await expect(create({ name: "quiet" })).rejects.toMatchObject({ code: 409 });
    // An update that changes nothing writes nothing.
    await expect(broker.call("v1.k8s.namespaces.update", { id: ns.id }, alice)).resolves.toEqual(ns);
    await new Promise((r) => setTimeout(r, 10));
    expect(events).toEqual([]);
  });
});

describe("v1.k8s.namespaces.readiness", () => {
  it("reports the database as ok", async () => {
    await expect(broker.call("v1.k8s.namespaces.readiness")).resolves.toEqual({
      ready: true,
      checks: { database: "ok" },
    });
  });
});
