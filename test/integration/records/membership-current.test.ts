import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { ServiceBroker } from "moleculer";
import type { NamespaceEntity } from "../../../lib/entities.ts";
import type { Entity, ListResult } from "../../../mixins/db.mixin.ts";
import { actionCounter } from "../../helpers/broker.ts";
import { as, childServiceSchema, createRecordsBroker } from "../../helpers/records.ts";

/**
 * A child service checks the caller's role against the namespace record as stored now, whether v1.k8s.namespaces runs
 * on its node (read directly, no broker call) or on another one (its internal `access`/`accessibleIds` actions): a
 * removed member cannot read on, not even once.
 */
const childService = childServiceSchema({ name: "kids", collection: "kids", waitForNamespaces: true });

const owner = as("olga");
const mike = as("mike");

/** Creates a namespace with member mike and one child; mike reads, is removed, and is refused at once. */
async function removedMemberIsRefused(nsBroker: ServiceBroker, kidsBroker: ServiceBroker): Promise<void> {
  const ns = await nsBroker.call<NamespaceEntity, object>("v1.k8s.namespaces.create", { name: "crew" }, owner);
  await nsBroker.call("v1.k8s.namespaces.addMember", { id: ns.id, userID: "mike", role: "member" }, owner);
  const kid = await kidsBroker.call<Entity, object>("v1.test.kids.create", { namespace: ns.id, name: "a" }, mike);
  await expect(kidsBroker.call("v1.test.kids.get", { id: kid.id }, mike)).resolves.toMatchObject({ name: "a" });
  const before = await kidsBroker.call<ListResult, object>("v1.test.kids.list", {}, mike);
  expect(before.rows.map((r) => r.id)).toEqual([kid.id]);

  await nsBroker.call("v1.k8s.namespaces.removeMember", { id: ns.id, userID: "mike" }, owner);
  await expect(kidsBroker.call("v1.test.kids.get", { id: kid.id }, mike)).rejects.toMatchObject({ code: 404 });
  await expect(kidsBroker.call("v1.test.kids.list", {}, mike)).resolves.toMatchObject({ rows: [], total: 0 });
  await expect(kidsBroker.call("v1.test.kids.create", { namespace: ns.id, name: "b" }, mike)).rejects.toMatchObject({
    code: 404,
  });

  await nsBroker.call("v1.k8s.namespaces.addMember", { id: ns.id, userID: "mike", role: "viewer" }, owner);
  await expect(kidsBroker.call("v1.test.kids.get", { id: kid.id }, mike)).resolves.toMatchObject({ name: "a" });
  await expect(kidsBroker.call("v1.test.kids.remove", { id: kid.id }, mike)).rejects.toMatchObject({ code: 403 });
}

describe("membership of a child service, v1.k8s.namespaces on the same node", () => {
  const calls = new Map<string, number>();
  let broker: ServiceBroker;
  beforeAll(async () => {
    broker = await createRecordsBroker({
      services: ["namespaces"],
      noStart: true,
      broker: { middlewares: [actionCounter(calls)] },
    });
    broker.createService(childService);
    await broker.start();
  });
  afterAll(async () => {
    await broker.stop();
  });

  it("refuses a removed member at once, and reads the namespace record without calling its actions", async () => {
    await removedMemberIsRefused(broker, broker);
    expect(calls.get("v1.test.kids.get")).toBeGreaterThan(0);
    expect(calls.get("v1.k8s.namespaces.access")).toBeUndefined();
    expect(calls.get("v1.k8s.namespaces.accessibleIds")).toBeUndefined();
  });
});

describe("membership of a child service, v1.k8s.namespaces on another node", () => {
  const calls = new Map<string, number>();
  let nsBroker: ServiceBroker;
  let kidsBroker: ServiceBroker;
  beforeAll(async () => {
    const namespace = `membership-${process.pid}-${Date.now()}`;
    nsBroker = await createRecordsBroker({
      services: ["namespaces"],
      noStart: true,
      broker: { namespace, nodeID: "ns-node", transporter: "Fake", middlewares: [actionCounter(calls)] },
    });
    kidsBroker = new ServiceBroker({ logger: false, namespace, nodeID: "kids-node", transporter: "Fake" });
    kidsBroker.createService(childService);
    await nsBroker.start();
    await kidsBroker.start();
  });
  afterAll(async () => {
    await kidsBroker.stop();
    await nsBroker.stop();
  });

  it("refuses a removed member at once, through the internal access actions", async () => {
    await removedMemberIsRefused(nsBroker, kidsBroker);
    expect(calls.get("v1.k8s.namespaces.access")).toBeGreaterThan(0);
    expect(calls.get("v1.k8s.namespaces.accessibleIds")).toBeGreaterThan(0);
  });
});
