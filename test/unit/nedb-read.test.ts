import { beforeEach, describe, expect, it } from "@jest/globals";
import { createRequire } from "node:module";
import { copyOfStored, storedById } from "../../lib/nedb-read.ts";

/** The part of NeDB 3's Datastore used here (its typings declare an ES default export that its CommonJS lacks). */
interface Datastore {
  loadDatabaseAsync(): Promise<void>;
  insertAsync(doc: Record<string, unknown>): Promise<unknown>;
  findOneAsync(query: Record<string, unknown>): Promise<Record<string, unknown> | null>;
  updateAsync(query: Record<string, unknown>, update: Record<string, unknown>): Promise<unknown>;
  removeAsync(query: Record<string, unknown>, options: Record<string, unknown>): Promise<number>;
  ensureIndexAsync(options: { fieldName: string; expireAfterSeconds?: number }): Promise<void>;
}
const Datastore = createRequire(import.meta.url)("@seald-io/nedb") as new (options: {
  inMemoryOnly: boolean;
}) => Datastore;

/**
 * lib/nedb-read.ts reads a NeDB 3 document by `_id` from the datastore's memory: the same document `findOneAsync`
 * answers, the current one after every change, and never a way for a reader to change what is stored.
 */
describe("storedById / copyOfStored", () => {
  let db: Datastore;
  beforeEach(async () => {
    db = new Datastore({ inMemoryOnly: true });
    await db.loadDatabaseAsync();
    await db.insertAsync({
      _id: "r1",
      name: "web",
      status: { phase: "Available", conditions: [{ type: "Available", status: "True" }] },
      revisions: [{ revision: 1, spec: { image: "nginx", env: [{ key: "A", value: "1" }] } }],
    });
  });

  it("answers what findOneAsync answers, and null for a missing id", async () => {
    expect(storedById(db, "r1")).toEqual(await db.findOneAsync({ _id: "r1" }));
    expect(copyOfStored(storedById(db, "r1") as Record<string, unknown>)).toEqual(await db.findOneAsync({ _id: "r1" }));
    expect(storedById(db, "nope")).toBeNull();
  });

  it("sees an update and a removal at once, and a document read before stays as it was", async () => {
    const before = storedById(db, "r1");
    await db.updateAsync({ _id: "r1" }, { $set: { "status.phase": "Progressing" } });
    expect(storedById(db, "r1")).toMatchObject({ status: { phase: "Progressing" } });
    // NeDB replaces a stored document on update: the object read before is the old version, unchanged.
    expect(before).toMatchObject({ status: { phase: "Available" } });
    await db.removeAsync({ _id: "r1" }, {});
    expect(storedById(db, "r1")).toBeNull();
  });

  it("makes a copy whose changes never reach the store", async () => {
    const copy = copyOfStored(storedById(db, "r1") as Record<string, unknown>) as {
      status: { phase: string; conditions: { status: string }[] };
      revisions: { spec: { env: { value: string }[] } }[];
    };
    copy.status.phase = "Failed";
    (copy.status.conditions[0] as { status: string }).status = "False";
    (copy.revisions[0]?.spec.env[0] as { value: string }).value = "changed";
    expect(await db.findOneAsync({ _id: "r1" })).toMatchObject({
      status: { phase: "Available", conditions: [{ status: "True" }] },
      revisions: [{ spec: { env: [{ value: "1" }] } }],
    });
  });

  it("leaves out the fields asked, copying the rest alike and in order", async () => {
    const stored = storedById(db, "r1") as Record<string, unknown>;
    const copy = copyOfStored(stored, ["revisions"]);
    const { revisions: _revisions, ...rest } = (await db.findOneAsync({ _id: "r1" })) as Record<string, unknown>;
    expect(copy).toEqual(rest);
    expect(Object.keys(copy)).toEqual(Object.keys(rest));
    expect(copy["status"]).not.toBe(stored["status"]);
  });

  it("reads nothing it does not know: other objects, and datastores with TTL indexes (NeDB expires those as it reads)", async () => {
    expect(storedById({}, "r1")).toBeUndefined();
    expect(storedById(null, "r1")).toBeUndefined();
    await db.ensureIndexAsync({ fieldName: "expiresAt", expireAfterSeconds: 60 });
    expect(storedById(db, "r1")).toBeUndefined();
  });
});
