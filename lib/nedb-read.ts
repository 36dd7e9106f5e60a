/**
 * Reading one NeDB 3 document by `_id` from the datastore's memory, without a cursor.
 *
 * `findOneAsync({ _id })` queues a task on the datastore's executor, builds a cursor, asks the indexes for candidates,
 * matches each against the query and deep-copies the result: on issue 9's reads (two record reads per request, the
 * record and its namespace for the membership check) that machinery was several times the cost of the lookup itself.
 * Here the lookup is the `_id` index's own search, and the caller decides whether it needs a copy.
 *
 * Why the stored object can be read in place: NeDB 3 never changes a stored document. An insert stores a deep copy of
 * what it was given; an update builds a new document (`model.modify` deep-copies the old one, or copies the
 * replacement) and swaps it into every index; a removal takes it out. Every object NeDB hands out is a deep copy. So a
 * document read from the index is a snapshot that nothing changes afterwards — as long as the reader does not change
 * it either, which is why `storedById` is for code that only reads (a role in `members`, a `namespace` field) and
 * `copyOfStored` makes the one copy anything handed on must be.
 *
 * What a reader sees: the document as NeDB holds it in memory now. An update or removal is applied to memory before
 * NeDB appends it to its file, and a read queued on the executor waits for that append; this read does not, so it sees
 * the change a file append earlier. (When that append fails, the db mixin puts the old document back and the write's
 * caller gets a 503: such a change can be seen for that moment.) Nothing is cached here: every call reads the current
 * document.
 */
/** The part of NeDB 3's Datastore read here. */
interface NedbIndexedDatastore {
  indexes: { _id?: { getMatching(value: unknown): unknown[] } };
  ttlIndexes: Record<string, unknown>;
}

function isIndexedNedb(db: unknown): db is NedbIndexedDatastore {
  if (typeof db !== "object" || db === null) return false;
  const d = db as Partial<NedbIndexedDatastore>;
  return typeof d.indexes?._id?.getMatching === "function" && typeof d.ttlIndexes === "object" && d.ttlIndexes !== null;
}

/**
 * The document with this `_id` as NeDB stores it (its own object: read it, never change it or hand it on), null when
 * there is none, or undefined when `db` is not a NeDB 3 datastore this can read (then use the adapter). Datastores with
 * TTL indexes are not read here: NeDB removes expired documents as its cursors meet them.
 */
export function storedById(db: unknown, id: string): Record<string, unknown> | null | undefined {
  if (!isIndexedNedb(db) || Object.keys(db.ttlIndexes).length > 0) return undefined;
  const found = db.indexes._id?.getMatching(id)[0];
  return typeof found === "object" && found !== null ? (found as Record<string, unknown>) : null;
}

/**
 * A deep copy of a stored document, as NeDB's find methods copy theirs (the same answer as `findOneAsync`), without
 * the top-level fields in `omit` (not copied at all).
 */
export function copyOfStored<T extends Record<string, unknown>>(doc: T, omit: readonly string[] = []): T {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(doc)) if (!omit.includes(key)) out[key] = deepCopy(doc[key]);
  return out as T;
}

/**
 * NeDB 3's `model.deepCopy` (without its `strictKeys` mode), written out here: primitives, null and Dates as they are,
 * arrays and objects copied (own enumerable keys, in order), anything else (functions, undefined) as undefined.
 */
function deepCopy(value: unknown): unknown {
  if (typeof value === "string" || typeof value === "number" || typeof value === "boolean" || value === null) {
    return value;
  }
  if (value instanceof Date) return value;
  if (Array.isArray(value)) {
    const out: unknown[] = new Array<unknown>(value.length);
    for (let i = 0; i < value.length; i++) out[i] = deepCopy(value[i]);
    return out;
  }
  if (typeof value === "object") {
    const out: Record<string, unknown> = {};
    const source = value as Record<string, unknown>;
    for (const key of Object.keys(source)) out[key] = deepCopy(source[key]);
    return out;
  }
  return undefined;
}
