/**
 * moleculer-db's MemoryAdapter (NeDB) through NeDB's own promise API.
 *
 * The adapter wraps NeDB 3's callback methods with `util.promisify`, and NeDB 3 implements each callback method as
 * `util.callbackify` around its `*Async` method: every read went promise → callback → promise, and `callbackify`
 * copies the wrapped function's property descriptors on each call (~6% of the suite's CPU for the reads of issue 9,
 * two record reads per request). Its `update` wrapper is a promisified function that returns a promise, which is what
 * Node's DEP0174 warning is about. `useNedbAsyncApi` points the adapter's methods at the `*Async` methods directly,
 * with the same answers (NeDB's deep copies included: callers get their own objects, as before).
 */

/** The part of NeDB 3's Datastore used here; its cursors are thenables with `execAsync()`. */
interface NedbCursor<T> {
  execAsync(): Promise<T>;
}
interface NedbDatastore {
  findOneAsync(query: Record<string, unknown>): NedbCursor<Record<string, unknown> | null>;
  findAsync(query: Record<string, unknown>): NedbCursor<Record<string, unknown>[]>;
  countAsync(query: Record<string, unknown>): NedbCursor<number>;
  insertAsync(doc: Record<string, unknown> | Record<string, unknown>[]): Promise<unknown>;
  updateAsync(
    query: Record<string, unknown>,
    update: Record<string, unknown>,
    options: { multi?: boolean; returnUpdatedDocs?: boolean },
  ): Promise<{ numAffected: number; affectedDocuments: unknown }>;
  removeAsync(query: Record<string, unknown>, options: { multi?: boolean }): Promise<number>;
}

/** The MemoryAdapter after `connect()`: its datastore and its cursor builder (paging, sort, query). */
interface MemoryAdapterLike {
  db?: unknown;
  createCursor(filters: Record<string, unknown>): NedbCursor<Record<string, unknown>[]>;
  find(filters: Record<string, unknown>): Promise<unknown[]>;
  findOne(query: Record<string, unknown>): Promise<unknown>;
  findById(id: unknown): Promise<unknown>;
  findByIds(ids: unknown[]): Promise<unknown[]>;
  count(filters?: Record<string, unknown>): Promise<number>;
  insert(entity: Record<string, unknown>): Promise<unknown>;
  insertMany(entities: Record<string, unknown>[]): Promise<unknown>;
  updateMany(query: Record<string, unknown>, update: Record<string, unknown>): Promise<number>;
  updateById(id: unknown, update: Record<string, unknown>): Promise<unknown>;
  removeMany(query: Record<string, unknown>): Promise<number>;
  removeById(id: unknown): Promise<number>;
  clear(): Promise<number>;
}

function isNedb(db: unknown): db is NedbDatastore {
  return (
    typeof db === "object" &&
    db !== null &&
    typeof (db as { findOneAsync?: unknown }).findOneAsync === "function" &&
    typeof (db as { updateAsync?: unknown }).updateAsync === "function"
  );
}

/**
 * Replaces, on a connected moleculer-db MemoryAdapter, the methods that reach NeDB by its callback API with calls of
 * the `*Async` API that answer alike (the same documents, counts and errors). Call it after each `connect()`: the
 * adapter builds a new datastore there. Returns false (and changes nothing) for anything that is not such an adapter.
 */
export function useNedbAsyncApi(adapter: unknown): boolean {
  const a = adapter as MemoryAdapterLike;
  const db = a.db;
  if (!isNedb(db) || typeof a.createCursor !== "function") return false;
  // `search` is refused by the db mixin's params; createCursor still builds the sort, limit and offset of a find.
  a.find = (filters) => a.createCursor(filters).execAsync();
  a.findOne = (query) => db.findOneAsync(query).execAsync();
  a.findById = (_id) => db.findOneAsync({ _id }).execAsync();
  a.findByIds = (ids) => db.findAsync({ _id: { $in: ids } }).execAsync();
  // moleculer-db's _count drops limit and offset; NeDB's count copies no document.
  a.count = (filters = {}) => db.countAsync((filters as { query?: Record<string, unknown> }).query ?? {}).execAsync();
  a.insert = (entity) => db.insertAsync(entity);
  a.insertMany = (entities) => db.insertAsync(entities);
  a.updateMany = (query, update) => db.updateAsync(query, update, { multi: true }).then((r) => r.numAffected);
  a.updateById = (_id, update) =>
    db.updateAsync({ _id }, update, { returnUpdatedDocs: true }).then((r) => r.affectedDocuments);
  a.removeMany = (query) => db.removeAsync(query, { multi: true });
  a.removeById = (_id) => db.removeAsync({ _id }, {});
  a.clear = () => db.removeAsync({}, { multi: true });
  return true;
}
