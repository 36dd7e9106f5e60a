import { beforeEach, describe, expect, it } from "@jest/globals";
import fc from "fast-check";
import { createRequire } from "node:module";
import { keepUnchangedIndexKeys, unchangedKeys } from "../../lib/nedb-indexes.ts";

type Doc = Record<string, unknown>;
/** The part of NeDB 3's Datastore used here (its typings declare an ES default export that its CommonJS lacks). */
interface Datastore {
  loadDatabaseAsync(): Promise<void>;
  insertAsync(doc: Doc): Promise<Doc>;
  findAsync(query: Doc): Promise<Doc[]>;
  updateAsync(query: Doc, update: Doc, options?: { multi?: boolean }): Promise<unknown>;
  removeAsync(query: Doc, options: Doc): Promise<number>;
  ensureIndexAsync(options: { fieldName: string; unique?: boolean; sparse?: boolean }): Promise<void>;
  indexes: Record<string, { tree: { search(key: unknown): Doc[] } }>;
}
const Datastore = createRequire(import.meta.url)("@seald-io/nedb") as new (options: {
  inMemoryOnly: boolean;
}) => Datastore;

async function datastore(patched: boolean): Promise<Datastore> {
  const db = new Datastore({ inMemoryOnly: true });
  await db.loadDatabaseAsync();
  await db.ensureIndexAsync({ fieldName: "namespace" });
  await db.ensureIndexAsync({ fieldName: "code", unique: true, sparse: true });
  await db.ensureIndexAsync({ fieldName: "vHosts" });
  if (patched) expect(keepUnchangedIndexKeys(db)).toBe(true);
  return db;
}

const byId = (docs: Doc[]): Doc[] => [...docs].sort((a, b) => String(a._id).localeCompare(String(b._id)));

describe("unchangedKeys (whether an update can leave a document in place in an index)", () => {
  const plain = { fieldName: "namespace", sparse: false };
  it("answers the keys of a value that stayed", () => {
    expect(unchangedKeys(plain, { namespace: "a", x: 1 }, { namespace: "a", x: 2 })).toEqual(["a"]);
    expect(unchangedKeys(plain, { namespace: 3 }, { namespace: 3 })).toEqual([3]);
    expect(unchangedKeys(plain, { namespace: null }, { namespace: null })).toEqual([null]);
    expect(unchangedKeys({ fieldName: "v", sparse: false }, { v: ["a", "b", "a"] }, { v: ["a", "b", "a"] })).toEqual([
      "a",
      "b",
    ]);
    expect(unchangedKeys({ fieldName: "s.k", sparse: false }, { s: { k: "x" } }, { s: { k: "x" }, y: 1 })).toEqual([
      "x",
    ]);
    expect(unchangedKeys({ fieldName: "code", sparse: true }, {}, { other: 1 })).toEqual([]);
  });

  it("answers undefined for a changed value or one it does not compare (left to NeDB)", () => {
    expect(unchangedKeys(plain, { namespace: "a" }, { namespace: "b" })).toBeUndefined();
    expect(unchangedKeys(plain, { namespace: "a" }, {})).toBeUndefined();
    expect(unchangedKeys(plain, {}, {})).toBeUndefined();
    expect(unchangedKeys(plain, { namespace: ["a"] }, { namespace: "a" })).toBeUndefined();
    expect(unchangedKeys(plain, { namespace: ["a", "b"] }, { namespace: ["b", "a"] })).toBeUndefined();
    expect(unchangedKeys(plain, { namespace: [{ a: 1 }] }, { namespace: [{ a: 1 }] })).toBeUndefined();
    const when = new Date(0);
    expect(unchangedKeys(plain, { namespace: when }, { namespace: when })).toBeUndefined();
  });
});

describe("keepUnchangedIndexKeys (NeDB updates that keep indexed values)", () => {
  let db: Datastore;
  beforeEach(async () => {
    db = await datastore(true);
    for (let i = 0; i < 5; i += 1) {
      await db.insertAsync({ _id: `d${i}`, namespace: "ns", code: `c${i}`, vHosts: [`h${i}.example.com`], n: i });
    }
  });

  it("leaves nothing else to patch: not a datastore", () => {
    expect(keepUnchangedIndexKeys({})).toBe(false);
    expect(keepUnchangedIndexKeys(null)).toBe(false);
  });

  it("puts the updated document in the old one's place under a key many share", async () => {
    const before = db.indexes.namespace?.tree.search("ns").map((d) => d._id);
    await db.updateAsync({ _id: "d2" }, { $set: { n: 42 } });
    const list = db.indexes.namespace?.tree.search("ns") ?? [];
    expect(list.map((d) => d._id)).toEqual(before);
    expect(list.find((d) => d._id === "d2")?.n).toBe(42);
    expect((await db.findAsync({ namespace: "ns" })).length).toBe(5);
    expect(await db.findAsync({ namespace: "ns", n: 42 })).toEqual([expect.objectContaining({ _id: "d2", n: 42 })]);
    expect(await db.findAsync({ code: "c2" })).toEqual([expect.objectContaining({ n: 42 })]);
    expect(await db.findAsync({ vHosts: "h2.example.com" })).toEqual([expect.objectContaining({ n: 42 })]);
  });

  it("moves a document whose key changed, as NeDB does", async () => {
    await db.updateAsync({ _id: "d1" }, { $set: { namespace: "other", vHosts: ["new.example.com"] } });
    expect((await db.findAsync({ namespace: "ns" })).map((d) => d._id).sort()).toEqual(["d0", "d2", "d3", "d4"]);
    expect(await db.findAsync({ namespace: "other" })).toEqual([expect.objectContaining({ _id: "d1" })]);
    expect(await db.findAsync({ vHosts: "h1.example.com" })).toEqual([]);
    expect(await db.findAsync({ vHosts: "new.example.com" })).toEqual([expect.objectContaining({ _id: "d1" })]);
  });

  it("refuses a taken unique key and puts every index back", async () => {
    await expect(db.updateAsync({ _id: "d1" }, { $set: { code: "c3", n: 7 } })).rejects.toMatchObject({
      errorType: "uniqueViolated",
    });
    expect(await db.findAsync({ _id: "d1" })).toEqual([expect.objectContaining({ code: "c1", n: 1 })]);
    expect(await db.findAsync({ code: "c1" })).toEqual([expect.objectContaining({ _id: "d1", n: 1 })]);
    expect(await db.findAsync({ namespace: "ns", n: 7 })).toEqual([]);
    expect(db.indexes.namespace?.tree.search("ns").find((d) => d._id === "d1")?.n).toBe(1);
  });

  it("updates several documents at once (multi)", async () => {
    await db.updateAsync({ namespace: "ns" }, { $set: { phase: "Available" } }, { multi: true });
    expect((await db.findAsync({ namespace: "ns" })).map((d) => d.phase)).toEqual(Array(5).fill("Available"));
  });

  it("answers every query as NeDB alone does, whatever the sequence of changes (property)", async () => {
    const op = fc.oneof(
      fc.record({
        kind: fc.constant("insert" as const),
        id: fc.integer({ min: 0, max: 6 }),
        namespace: fc.constantFrom("a", "b", "c"),
        code: fc.option(fc.constantFrom("x", "y", "z"), { nil: undefined }),
        vHosts: fc.array(fc.constantFrom("h1", "h2", "h3"), { maxLength: 2 }),
      }),
      fc.record({
        kind: fc.constant("update" as const),
        where: fc.constantFrom("one", "namespace"),
        id: fc.integer({ min: 0, max: 6 }),
        namespace: fc.constantFrom("a", "b", "c"),
        set: fc.record(
          {
            namespace: fc.constantFrom("a", "b", "c"),
            code: fc.constantFrom("x", "y", "z"),
            vHosts: fc.array(fc.constantFrom("h1", "h2", "h3"), { maxLength: 2 }),
            n: fc.integer({ min: 0, max: 3 }),
          },
          { requiredKeys: [] },
        ),
      }),
      fc.record({ kind: fc.constant("remove" as const), id: fc.integer({ min: 0, max: 6 }) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 25 }), async (ops) => {
        const [patched, plain] = [await datastore(true), await datastore(false)];
        for (const o of ops) {
          const run = async (d: Datastore): Promise<string> => {
            try {
              if (o.kind === "insert") {
                const { kind: _kind, id, code, ...rest } = o;
                await d.insertAsync({ _id: `d${id}`, ...rest, ...(code === undefined ? {} : { code }) });
              } else if (o.kind === "update") {
                const query = o.where === "one" ? { _id: `d${o.id}` } : { namespace: o.namespace };
                await d.updateAsync(query, { $set: o.set }, { multi: o.where !== "one" });
              } else {
                await d.removeAsync({ _id: `d${o.id}` }, {});
              }
              return "ok";
            } catch (err) {
              return String((err as { errorType?: string }).errorType ?? (err as Error).message);
            }
          };
          expect(await run(patched)).toBe(await run(plain));
          expect(byId(await patched.findAsync({}))).toEqual(byId(await plain.findAsync({})));
          for (const query of [
            ...["a", "b", "c"].map((namespace) => ({ namespace })),
            ...["x", "y", "z"].map((code) => ({ code })),
            ...["h1", "h2", "h3"].map((vHosts) => ({ vHosts })),
          ]) {
            expect(byId(await patched.findAsync(query))).toEqual(byId(await plain.findAsync(query)));
          }
        }
      }),
      { numRuns: 150 },
    );
  });
});
