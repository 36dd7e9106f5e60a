/**
 * `DbMixin({ collection, resource, uniqueIndexes })`: moleculer-db storage for an entity service.
 *
 * Adapter, chosen in `created()` from `settings.db` (each field defaults from `readConfig()`):
 * - `settings.db.memory: true` → NeDB in memory (tests: `broker.createService({ mixins: [schema],
 *   settings: { db: { memory: true } } })`, or `createRecordsBroker()` in test/helpers/records.ts);
 * - else `settings.db.mongoUri` (MONGO_URI) → moleculer-db-adapter-mongo, one collection per service;
 * - else NeDB (moleculer-db's MemoryAdapter over @seald-io/nedb) with one file `<dataDir>/<collection>.db`
 *   (`settings.db.dataDir`, DATA_DIR), loaded on start, so a restart keeps everything.
 *
 * What it gives an entity service:
 * - actions `list`, `find`, `count`, `get`, `remove` with strict params (moleculer-db's paging, sort, fields and
 *   `query`; no `search`, which NeDB would run instead of the query), and `readiness` (internal, no REST) that
 *   resolves `{ ready: true, checks: { database: "ok" } }` or throws 503 DATABASE_UNAVAILABLE. The service writes its own
 *   `create`/`update` with strict params and calls `this.createEntity` / `this.updateEntity`.
 * - string ids (`id`, 20 characters), `createdAt`/`updatedAt` ISO strings on every stored change.
 * - unique indexes kept by the database: a single field is indexed as is; a compound one (`["namespace", "name"]`)
 *   through a derived field `_unique.namespace_name` (NeDB 3 has no compound indexes), hidden from callers. A violation
 *   is 409 ALREADY_EXISTS naming the last field of the index. `indexes` lists fields looked up often (without
 *   uniqueness); NeDB picks the last indexed field of an equality query, so put the most selective one last.
 * - domain events `k8s.<resource>.created|updated|removed` (broadcast, payload = the public entity) after each stored change.
 *   `publicEntity(entity)` is the hook to mask secrets: it runs on every entity that leaves the service.
 * - database failures that are not the caller's fault → 503 retryable DATABASE_UNAVAILABLE; malformed queries → 422.
 */
import type { Context, ServiceSchema, ServiceSettingSchema, Service } from "moleculer";
import { randomBytes } from "node:crypto";
import { access, constants, stat } from "node:fs/promises";
import path from "node:path";
import DbServiceModule from "moleculer-db";
import { readConfig } from "../lib/config.ts";
import { alreadyExists, ERROR_TYPES, hasType, invalid, notFound, unavailable } from "../lib/errors.ts";
import { useNedbAsyncApi } from "../lib/nedb.ts";
import { appendThroughOneHandle, type OneHandleAppender } from "../lib/nedb-appends.ts";
import { setAsideTornTail } from "../lib/nedb-torn-tail.ts";
import { copyOfStored, storedById } from "../lib/nedb-read.ts";
import { keepUnchangedIndexKeys } from "../lib/nedb-indexes.ts";
import { defineParams, type ParamsOf } from "../lib/params.ts";
import { callerOnlySerializes, SharedAnswersByRecord } from "../lib/shared-answer.ts";

/** A stored document as the adapter returns it (`_id`, not `id`). */
export type RawDoc = Record<string, unknown> & { _id: string };
/** An entity as callers see it (`id`, timestamps, public fields). */
export type Entity = Record<string, unknown> & { id: string };

export interface DbMixinOptions {
  /** Collection (Mongo) / file name (NeDB) of the service. */
  collection: string;
  /** Plural resource name used in domain events: `k8s.<resource>.created`. */
  resource: string;
  /** Each entry a list of fields that together are unique, e.g. `[["name"]]` or `[["namespace", "name"]]`. */
  uniqueIndexes?: readonly (readonly string[])[];
  /**
   * Fields the service looks records up by (equality, `$in`, or an element of an array field), indexed without
   * uniqueness: NeDB otherwise matches every record of the collection for each such query.
   */
  indexes?: readonly string[];
  /** Singular noun for messages ("namespace"); defaults to the resource without a trailing "s". */
  entityName?: string;
}

export interface DbConnectionSettings {
  /** NeDB in memory, nothing written to disk. */
  memory?: boolean;
  /** MongoDB URI; defaults to MONGO_URI. */
  mongoUri?: string;
  /** Directory of the NeDB files; defaults to DATA_DIR. */
  dataDir?: string;
  /** MongoDB database name; defaults to the one in the URI. */
  mongoDatabase?: string;
  /** MongoClient options, over `{ useUnifiedTopology: true, serverSelectionTimeoutMS: 5000 }`. */
  mongoOptions?: Record<string, unknown>;
  /** Milliseconds between connection attempts after a failed one (default 5000). */
  retryDelayMs?: number;
  /**
   * NeDB files: bytes appended since the last compaction below which the file is not compacted while running, whatever
   * its live size (lib/nedb-appends.ts; default 8 MiB).
   */
  compactAfterBytes?: number;
}

export interface DbSettings extends ServiceSettingSchema {
  idField: string;
  fields: string[] | null;
  excludeFields: string[] | null;
  pageSize: number;
  maxPageSize: number;
  maxLimit: number;
  db: DbConnectionSettings;
}

/** The adapter surface this mixin uses (moleculer-db's MemoryAdapter and the Mongo adapter both have it). */
interface Adapter {
  init(broker: unknown, service: unknown): void;
  connect(): Promise<unknown>;
  disconnect(): Promise<unknown>;
  find(filters: Record<string, unknown>): Promise<unknown[]>;
  findOne(query: Record<string, unknown>): Promise<unknown>;
  findById(id: string): Promise<unknown>;
  count(filters: Record<string, unknown>): Promise<number>;
  insert(entity: Record<string, unknown>): Promise<unknown>;
  updateById(id: string, update: Record<string, unknown>): Promise<unknown>;
  removeMany(query: Record<string, unknown>): Promise<number>;
  removeById(id: string): Promise<unknown>;
  db?: unknown;
}

interface NedbLike {
  ensureIndexAsync(options: { fieldName: string; unique: boolean }): Promise<void>;
  filename?: string | null;
  inMemoryOnly?: boolean;
}
interface MongoDbLike {
  command(cmd: Record<string, unknown>): Promise<unknown>;
}
interface MongoCollectionLike {
  createIndex(keys: Record<string, number>, options: { unique: boolean }): Promise<unknown>;
}

/** moleculer-db's own (untyped: its d.ts types the default export as a class) list/get/transform helpers. */
interface DbBaseMethods {
  sanitizeParams(ctx: Context, params: Record<string, unknown>): Record<string, unknown>;
  transformDocuments(ctx: Context | null, params: Record<string, unknown>, docs: unknown): Promise<unknown>;
  _list(ctx: Context, params: Record<string, unknown>): Promise<ListResult>;
  _find(ctx: Context, params: Record<string, unknown>): Promise<Entity[]>;
  _count(ctx: Context, params: Record<string, unknown>): Promise<number>;
  _get(ctx: Context, params: Record<string, unknown>): Promise<Entity | Entity[] | Record<string, Entity>>;
}

export interface ListResult {
  rows: Entity[];
  total: number;
  page: number;
  pageSize: number;
  totalPages: number;
}

export interface DbMethods {
  /** The public form of an entity (override to mask secrets); runs on every entity in responses and events. */
  publicEntity(entity: Entity): Entity;
  /** Transforms raw documents into public entities (moleculer-db's transform, then `publicEntity`). */
  transformDocuments(ctx: Context | null, params: Record<string, unknown>, docs: unknown): Promise<unknown>;
  /** The raw stored document, or null. */
  findRawById(id: string): Promise<RawDoc | null>;
  /** The first raw document matching `query`, or null. */
  findRawOne(query: Record<string, unknown>): Promise<RawDoc | null>;
  /** All raw documents matching `query`. */
  findRaw(query: Record<string, unknown>): Promise<RawDoc[]>;
  /** Stores a new entity (id, timestamps, unique keys), emits `k8s.<resource>.created`, returns the public entity. */
  createEntity(ctx: Context | null, fields: Record<string, unknown>): Promise<Entity>;
  /**
   * `$set`s `changes` (a field set to undefined is removed) on a stored entity, emits `k8s.<resource>.updated`; 404 when
   * missing. No changes: returns the entity, writes nothing, emits nothing.
   */
  updateEntity(ctx: Context | null, id: string, changes: Record<string, unknown>): Promise<Entity>;
  /** Removes one entity, emits `k8s.<resource>.removed` with it; 404 when missing. */
  removeEntity(ctx: Context | null, id: string): Promise<Entity>;
  /** Removes every entity matching `query` (all by default), one `removed` event each; returns how many. */
  removeEntities(ctx: Context | null, query?: Record<string, unknown>): Promise<number>;
  /** Runs an adapter operation, mapping its failures (503 database, 422 query). */
  dbCall<T>(operation: string, fn: (adapter: Adapter) => Promise<T>): Promise<T>;
  /** Throws 503 DATABASE_UNAVAILABLE unless the database answers (and, for NeDB files, its file is writable). */
  checkDatabase(): Promise<void>;
  /** Connects the adapter and creates the unique indexes; on failure the service starts unready and retries. */
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  /** Called after each successful connect; `retried` is true when an earlier attempt had failed. Override it. */
  onDbConnected(retried: boolean): Promise<void>;
}

export interface DbVars {
  adapter: Adapter;
  dbState: { connected: boolean; reason: string; kind: "memory" | "nedb" | "mongo"; failures: number };
  dbRetryTimer: NodeJS.Timeout | undefined;
  /** On NeDB with a file: its appends through one open descriptor (lib/nedb-appends.ts), closed on disconnect. */
  nedbAppender: OneHandleAppender | undefined;
  /** Between started() and stopped(): only then are reconnects scheduled. */
  dbActive: boolean;
  dbMixin: Required<DbMixinOptions>;
  /** `get`'s answers to the gateway, one per record while it stays the same stored document (lib/shared-answer.ts). */
  dbSharedEntities: SharedAnswersByRecord;
  /** With MONGO_URI: the adapter's arguments, until `started()` has imported the adapter and set `adapter`. */
  dbMongo: { uri: string; options: Record<string, unknown>; database: string | undefined } | undefined;
}

type DbThis = Service<DbSettings> & DbVars & DbMethods & DbBaseMethods;

const moleculerDb = DbServiceModule as unknown as {
  settings: Record<string, unknown>;
  methods: Record<string, (this: unknown, ...args: unknown[]) => unknown>;
  MemoryAdapter: new (opts?: Record<string, unknown>) => Adapter;
};
type MongoAdapterClass = new (uri: string, opts?: Record<string, unknown>, dbName?: string) => Adapter;
/**
 * moleculer-db-adapter-mongo, imported on first use: the MongoDB driver it loads allocates a 17 MiB BSON buffer and
 * ~6 MiB of code at import, which a suite on NeDB (the default) would carry for nothing (docs/performance.md).
 */
let mongoAdapterClass: Promise<MongoAdapterClass> | undefined;
function loadMongoAdapter(): Promise<MongoAdapterClass> {
  mongoAdapterClass ??= import("moleculer-db-adapter-mongo").then((m) => m.default as unknown as MongoAdapterClass);
  return mongoAdapterClass;
}

const ID_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/** 20 random base-62 characters (the shape of the reference document's ids). */
export function newId(): string {
  const bytes = randomBytes(20);
  let id = "";
  for (const b of bytes) id += ID_ALPHABET[b % 62] ?? "0";
  return id;
}

const UNIQUE_FIELD = "_unique";
/**
 * Hidden field: which request stored the record (`<requestID>/<parentID>`). moleculer's retry policy resends a create
 * whose answer was lost (a timeout, a node gone) with the same requestID and parent; its first attempt may have stored
 * the record, and the retry then meets our own record. See the `create` error hook.
 */
const REQUEST_FIELD = "_request";
const RETRY_MS = 5000;

/** The stored field that carries a unique index: the field itself, or the derived key of a compound index. */
export function uniqueFieldOf(fields: readonly string[]): string {
  return fields.length === 1 ? (fields[0] ?? "") : `${UNIQUE_FIELD}.${fields.join("_")}`;
}

/** Strict params of the list/find/count/get/remove actions (moleculer-db's, less `search`, `populate`). */
const stringOrList = [
  { type: "string", optional: true },
  { type: "array", optional: true, items: "string" },
] as const;
const queryRule = [
  { type: "object", optional: true },
  { type: "string", optional: true },
] as const;
export const listParams = defineParams({
  $$strict: true,
  page: { type: "number", integer: true, min: 1, optional: true, convert: true },
  pageSize: { type: "number", integer: true, min: 1, optional: true, convert: true },
  sort: { type: "string", optional: true, max: 256 },
  fields: stringOrList,
  excludeFields: stringOrList,
  query: queryRule,
});
export const findParams = defineParams({
  $$strict: true,
  limit: { type: "number", integer: true, min: 0, optional: true, convert: true },
  offset: { type: "number", integer: true, min: 0, optional: true, convert: true },
  sort: { type: "string", optional: true, max: 256 },
  fields: stringOrList,
  excludeFields: stringOrList,
  query: queryRule,
});
export const countParams = defineParams({ $$strict: true, query: queryRule });
export const getParams = defineParams({
  $$strict: true,
  id: [
    { type: "string", empty: false, max: 64 },
    { type: "array", items: { type: "string", empty: false, max: 64 }, min: 1, max: 1000 },
  ],
  fields: stringOrList,
  excludeFields: stringOrList,
  mapping: { type: "boolean", optional: true },
});
export const idParams = defineParams({ $$strict: true, id: { type: "string", empty: false, max: 64 } });
export type ListParams = ParamsOf<typeof listParams>;
export type FindParams = ParamsOf<typeof findParams>;
export type CountParams = ParamsOf<typeof countParams>;
export type GetParams = ParamsOf<typeof getParams>;
export type IdParams = ParamsOf<typeof idParams>;

export interface ReadinessResult {
  ready: true;
  checks: { database: "ok" };
}

function errorCode(err: unknown): unknown {
  return typeof err === "object" && err !== null ? (err as { code?: unknown }).code : undefined;
}
function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
function isUniqueViolation(err: unknown): boolean {
  if (typeof err !== "object" || err === null) return false;
  return (err as { errorType?: unknown }).errorType === "uniqueViolated" || errorCode(err) === 11000;
}
/** An error our own code raised on purpose (a moleculer error with an HTTP-ish code): passed through unchanged. */
function isOwnError(err: unknown): boolean {
  const code = errorCode(err);
  return typeof code === "number" && code >= 400 && code < 600 && typeof (err as { type?: unknown }).type === "string";
}
/** NeDB and MongoDB errors caused by a malformed query (the caller's fault). */
function isQueryError(err: unknown): boolean {
  if (errorCode(err) === 2) return true; // MongoDB BadValue: unknown operator, bad $regex, ...
  const message = errorMessage(err);
  return /^(Unknown (comparison function|logical operator)|Field names cannot|\$\w+ operator|You cannot mix operators)/.test(
    message,
  );
}
/** Stored fields that never leave the service: the keys of compound unique indexes and the request that stored it. */
const HIDDEN_FIELDS: ReadonlySet<string> = new Set([UNIQUE_FIELD, REQUEST_FIELD]);

/** Sets `out[key]`, as an own property even for `__proto__` (what an object spread or JSON.parse would do). */
function setOwn(out: Record<string, unknown>, key: string, value: unknown): void {
  if (key === "__proto__")
    Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  else out[key] = value;
}

/**
 * A shallow copy of `doc` without the top-level fields in `omit` (a loop: an object rest with computed keys is ~3x
 * slower, and a `delete` would leave a slow dictionary-mode object).
 */
export function withoutFields<T extends Record<string, unknown>>(doc: T, omit: readonly string[]): T {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(doc)) if (!omit.includes(key)) setOwn(out, key, doc[key]);
  return out as T;
}

const HIDDEN_FIELD_LIST: readonly string[] = [...HIDDEN_FIELDS];

/** A shallow copy of `doc` without the hidden fields. */
function withoutHidden(doc: Record<string, unknown>): Record<string, unknown> {
  return withoutFields(doc, HIDDEN_FIELD_LIST);
}

/** A document without the hidden fields; anything else as it is. */
function hiddenStripped(doc: unknown): unknown {
  return typeof doc === "object" && doc !== null ? withoutHidden(doc as Record<string, unknown>) : doc;
}

/** An entity as the service shows it (`publicEntity`); anything else as it is. */
function published(svc: DbThis, doc: unknown): unknown {
  return typeof doc === "object" && doc !== null ? svc.publicEntity(doc as Entity) : doc;
}

/** A stored NeDB document as the service shows it (`nedbEntity`, then `publicEntity`); anything else as it is. */
function publishStored(svc: DbThis, doc: unknown): unknown {
  return typeof doc === "object" && doc !== null ? svc.publicEntity(nedbEntity(doc as RawDoc)) : doc;
}

/** Whether `transformDocuments` answers `params` with `publishStored` (NeDB, no field selection or populate). */
function isPlainTransform(svc: DbThis, params: Record<string, unknown>): boolean {
  return (
    svc.dbState.kind !== "mongo" &&
    svc.settings.idField === "id" &&
    svc.settings.fields == null &&
    (svc.settings.excludeFields ?? []).length === 0 &&
    params.fields == null &&
    params.excludeFields == null &&
    params.populate == null
  );
}

/** A copy of the entity of a stored NeDB document, without the `leaveOut` fields: nothing in it is the store's. */
function entityCopy(svc: DbThis, stored: RawDoc, leaveOut: readonly string[]): Entity {
  return copyOfStored(publishStored(svc, stored) as Entity, leaveOut);
}

/**
 * `get`'s entity of the record the guard read, as stored (NeDB's own object, never to be changed or handed on). The
 * gateway, which only serializes it, gets the record's shared answer, made once per stored version (NeDB stores a new
 * object for every change); any other caller its own copy. The entity is made before the copy, so the copy leaves
 * out what the entity does not show (a deployment's revisions: up to 20 specs).
 */
async function entityOfStored(
  svc: DbThis,
  ctx: Context,
  params: Record<string, unknown>,
  stored: RawDoc,
): Promise<Entity> {
  // The fields the guard's copy leaves out (MembershipMixin `leaveOut`): no entity of `get` has them.
  const leaveOut = (svc as { membershipLeaveOut?: readonly string[] }).membershipLeaveOut ?? [];
  if (isPlainTransform(svc, params)) {
    // An anonymous arrow: a named closure made per call costs a defineProperty of its name in the build (change 41).
    if (callerOnlySerializes(svc.broker, ctx.caller)) {
      return svc.dbSharedEntities.answerFor(stored._id, stored, () => entityCopy(svc, stored, leaveOut));
    }
    return entityCopy(svc, stored, leaveOut);
  }
  if (svc.dbState.kind === "mongo") {
    // The adapter's own answer, a fresh object: rebuilt without those fields, not copied (values of the driver's types).
    return (await svc.transformDocuments(ctx, params, withoutFields(stored, leaveOut))) as Entity;
  }
  // Field selection or populate: moleculer-db's transform, on a copy.
  return (await svc.transformDocuments(ctx, params, copyOfStored(stored, leaveOut))) as Entity;
}

/**
 * A NeDB document as moleculer-db's transform answers it without `fields`, `excludeFields` or `populate` (its
 * MemoryAdapter's entityToObject is the document itself, encodeID the identity): the fields but the hidden ones and
 * `_id`, in their order, then `id` (moleculer-db sets `id` and deletes `_id`).
 */
export function nedbEntity(doc: RawDoc): Entity {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(doc)) if (key !== "_id" && !HIDDEN_FIELDS.has(key)) setOwn(out, key, doc[key]);
  out.id = doc._id;
  return out as Entity;
}

/** What a field name in `fields`/`excludeFields` may hold: a dotted path of letters, digits, `_`, `$` and `-`. */
const FIELD_NAME = /^[\w$.-]+$/;

/**
 * `fields` and `excludeFields` as moleculer-db reads them (a string split on commas and spaces, or a list), without
 * empty names (`?fields=`, `?fields=a,`: a list left empty is dropped, the whole entity as without the parameter), or a
 * 422 naming the parameter for a name that is not a dotted path. moleculer-db's field filter throws a TypeError on a
 * name that makes an empty path (`""`, `"["`, `"]"`), which was answered as a 503.
 */
export function withCleanFieldLists<P extends Record<string, unknown>>(params: P): P {
  const out: Record<string, unknown> = { ...params };
  for (const key of ["fields", "excludeFields"]) {
    const value = out[key];
    if (value === undefined) continue;
    const names = (typeof value === "string" ? value.split(/[,\s]+/) : Array.isArray(value) ? value : []).filter(
      (name): name is string => typeof name === "string" && name.trim() !== "",
    );
    const bad = names.find((name) => !FIELD_NAME.test(name));
    if (bad !== undefined) {
      throw invalid(
        key,
        `'${bad.slice(0, 100)}' is not a field name (letters, digits, '_', '$', '-' and '.')`,
        "fieldName",
      );
    }
    if (names.length === 0) delete out[key];
    else out[key] = names;
  }
  return out as P;
}
function deepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** What a service's `mixins` array accepts: moleculer types it as untyped schemas. */
export type MixinSchema = Partial<ServiceSchema>;

/**
 * The one conversion of a typed mixin to `MixinSchema`. moleculer types `mixins` with `this` = `Service & Record<string,
 * any>`, and action handlers are contravariant in `this`, so a mixin whose handlers see their own typed `this` (settings,
 * methods, vars) is not assignable to it. Factories return through this helper; services never cast.
 */
/** The raw record the membership guard loaded for a single-id action (saves handlers a second read). */
export function guardedRecord(ctx: Context): RawDoc | undefined {
  const locals = ctx.locals as { record?: RawDoc } | undefined;
  return locals?.record;
}

export function asMixin<S, M, V, T>(schema: ServiceSchema<S, M, V, T>): MixinSchema {
  return schema as unknown as MixinSchema;
}

/** A typed mixin factory: `mixins: [DbMixin({ collection: "namespaces", resource: "namespaces", uniqueIndexes: [["name"]] })]`. */
export function DbMixin(options: DbMixinOptions): MixinSchema {
  const config: DbVars["dbMixin"] = {
    collection: options.collection,
    resource: options.resource,
    uniqueIndexes: options.uniqueIndexes ?? [],
    indexes: options.indexes ?? [],
    entityName: options.entityName ?? options.resource.replace(/s$/, ""),
  };

  const schema: ServiceSchema<DbSettings, DbMethods, DbVars, DbThis> & { collection: string } = {
    name: "",
    // The Mongo adapter reads the collection name from the service schema.
    collection: config.collection,
    settings: {
      ...(moleculerDb.settings as Partial<DbSettings>),
      idField: "id",
      fields: null,
      excludeFields: null,
      pageSize: 10,
      maxPageSize: 100,
      maxLimit: 1000,
      db: {},
    },

    hooks: {
      error: {
        // moleculer's typings say an error hook returns nothing; at run time its value is the action's answer.
        create: answerRetriedCreate as unknown as (ctx: Context, err: Error) => Promise<void>,
      },
    },

    actions: {
      /** Lists entities page by page (`page`, `pageSize`, `sort`, `fields`, `query`). REST: GET / @throws VALIDATION_ERROR, DATABASE_UNAVAILABLE */
      list: {
        rest: "GET /",
        permission: "list",
        params: listParams,
        handler(this: DbThis, ctx: Context<ListParams>): Promise<ListResult> {
          const params = withCleanFieldLists(ctx.params);
          return this.dbCall("list", () => this._list(ctx, this.sanitizeParams(ctx, params)));
        },
      },
      /** Finds entities (`limit`, `offset`, `sort`, `fields`, `query`); no REST. @throws VALIDATION_ERROR, DATABASE_UNAVAILABLE */
      find: {
        permission: "list",
        params: findParams,
        handler(this: DbThis, ctx: Context<FindParams>): Promise<Entity[]> {
          const params = withCleanFieldLists(ctx.params);
          return this.dbCall("find", () => this._find(ctx, this.sanitizeParams(ctx, params)));
        },
      },
      /** Counts entities matching `query`; no REST. @throws VALIDATION_ERROR, DATABASE_UNAVAILABLE */
      count: {
        permission: "list",
        params: countParams,
        handler(this: DbThis, ctx: Context<CountParams>): Promise<number> {
          return this.dbCall("count", () => this._count(ctx, this.sanitizeParams(ctx, ctx.params)));
        },
      },
      /** Gets one entity (or several, `id: [...]`, `mapping`). REST: GET /:id @throws NOT_FOUND, DATABASE_UNAVAILABLE */
      get: {
        rest: "GET /:id",
        permission: "read",
        // The guard hands over the record as stored: `entityOfStored` copies what it answers, or gives the gateway the
        // record's shared answer.
        guardedReadOnly: true,
        params: getParams,
        async handler(this: DbThis, ctx: Context<GetParams>): Promise<Entity | Entity[] | Record<string, Entity>> {
          const params = withCleanFieldLists(ctx.params);
          const guarded = guardedRecord(ctx);
          const res = await this.dbCall("get", async () => {
            // The membership guard (mixins/membership.mixin.ts) read this very record a moment ago: answer from it
            // instead of reading it again (what moleculer-db's _get does for one id without `mapping`).
            if (guarded !== undefined && typeof params.id === "string" && params.mapping !== true) {
              return await entityOfStored(this, ctx, this.sanitizeParams(ctx, params), guarded);
            }
            try {
              return await this._get(ctx, this.sanitizeParams(ctx, params));
            } catch (err) {
              if (errorCode(err) === 404) return null;
              throw err;
            }
          });
          if (res === null) throw notFound(this.dbMixin.entityName, String(ctx.params.id));
          return res;
        },
      },
      /** Removes an entity and returns it. REST: DELETE /:id @throws NOT_FOUND, FORBIDDEN, DATABASE_UNAVAILABLE */
      remove: {
        rest: "DELETE /:id",
        permission: "write",
        params: idParams,
        handler(this: DbThis, ctx: Context<IdParams>): Promise<Entity> {
          return this.removeEntity(ctx, ctx.params.id);
        },
      },
      /** Readiness of this service's database, for the gateway's /api/ready; no REST. @throws DATABASE_UNAVAILABLE */
      readiness: {
        visibility: "public",
        permission: "any",
        async handler(this: DbThis): Promise<ReadinessResult> {
          await this.checkDatabase();
          return { ready: true, checks: { database: "ok" } };
        },
      },
    },

    methods: {
      ...(moleculerDb.methods as Partial<DbMethods>),

      publicEntity(entity: Entity): Entity {
        return entity;
      },

      // No named closures here (`const publish = (doc) => ...`): in the production build (esbuild's keepNames) each
      // one created costs a defineProperty of its name; the two made per GET took 1.5 µs (docs/performance.md, 41).
      async transformDocuments(this: DbThis, ctx: Context | null, params: Record<string, unknown>, docs: unknown) {
        // NeDB documents with no field selection or populate asked (every get, list and event without `fields`): what
        // moleculer-db's transform gives, in one copy, without its chain of promise steps and the `delete _id` that
        // leaves the entity a slow dictionary-mode object (~10% of a GET of one deployment, docs/performance.md).
        if (isPlainTransform(this, params)) {
          return Array.isArray(docs) ? docs.map((doc: unknown) => publishStored(this, doc)) : publishStored(this, docs);
        }
        const input = Array.isArray(docs) ? docs.map(hiddenStripped) : hiddenStripped(docs);
        const base = moleculerDb.methods.transformDocuments as DbBaseMethods["transformDocuments"];
        const out = await base.call(this, ctx, params, input);
        return Array.isArray(out) ? out.map((doc: unknown) => published(this, doc)) : published(this, out);
      },

      /**
       * The record with this id, a copy of its own, or null. On NeDB it is read from the datastore's memory by id and
       * deep-copied (lib/nedb-read.ts), the answer the adapter's findById gives without its executor task, cursor and
       * candidate lists: the services read records by id on every status write, watch event and reconcile (12 of NeDB's
       * 42 MB of allocations while 100 deployments were created, docs/performance.md change 67).
       */
      async findRawById(this: DbThis, id: string): Promise<RawDoc | null> {
        if (this.dbState.connected && this.dbState.kind !== "mongo") {
          const stored = storedById(this.adapter.db, id) as RawDoc | null | undefined;
          if (stored !== undefined) return stored === null ? null : copyOfStored(stored);
        }
        const doc = await this.dbCall("findById", (a) => a.findById(id));
        return (doc as RawDoc | null | undefined) ?? null;
      },

      async findRawOne(this: DbThis, query: Record<string, unknown>): Promise<RawDoc | null> {
        const doc = await this.dbCall("findOne", (a) => a.findOne(query));
        return (doc as RawDoc | null | undefined) ?? null;
      },

      async findRaw(this: DbThis, query: Record<string, unknown>): Promise<RawDoc[]> {
        return (await this.dbCall("find", (a) => a.find({ query }))) as RawDoc[];
      },

      async createEntity(this: DbThis, ctx: Context | null, fields: Record<string, unknown>): Promise<Entity> {
        const now = new Date().toISOString();
        const { id: _ignored, ...rest } = fields;
        const doc: Record<string, unknown> = { ...rest, _id: newId(), createdAt: now, updatedAt: now };
        const request = requestKey(ctx);
        if (request !== undefined) doc[REQUEST_FIELD] = request;
        const keys = uniqueKeys(config, doc);
        if (keys !== undefined) doc[UNIQUE_FIELD] = keys;
        const stored = await this.dbCall("insert", async (a) => {
          try {
            return await a.insert(doc);
          } catch (err) {
            if (isUniqueViolation(err)) throw conflict(config, err, doc);
            // NeDB keeps a document in memory when writing its file fails: take it out again, so that memory and file agree.
            await a.removeMany({ _id: doc._id }).catch(() => 0);
            throw err;
          }
        });
        return publish(this, ctx, "created", stored);
      },

      async updateEntity(
        this: DbThis,
        ctx: Context | null,
        id: string,
        changes: Record<string, unknown>,
      ): Promise<Entity> {
        const current = await this.findRawById(id);
        if (current === null) throw notFound(config.entityName, id);
        const { id: _id, _id: _rawId, createdAt: _c, updatedAt: _u, ...rest } = changes;
        // A field set to undefined is removed from the record.
        const set = Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined));
        const unset = Object.fromEntries(
          Object.entries(rest)
            .filter(([, v]) => v === undefined)
            .map(([k]) => [k, true]),
        );
        // Nothing to change: no write, no event.
        if (Object.keys(set).length === 0 && Object.keys(unset).length === 0) {
          return (await this.transformDocuments(ctx, {}, current)) as Entity;
        }
        const merged: Record<string, unknown> = { ...current, ...set };
        for (const k of Object.keys(unset)) delete merged[k];
        const keys = uniqueKeys(config, merged);
        const $set: Record<string, unknown> = { ...set, updatedAt: new Date().toISOString() };
        if (keys !== undefined) $set[UNIQUE_FIELD] = keys;
        const update = Object.keys(unset).length > 0 ? { $set, $unset: unset } : { $set };
        const stored = await this.dbCall("update", async (a) => {
          try {
            return await a.updateById(id, update);
          } catch (err) {
            if (isUniqueViolation(err)) throw conflict(config, err, merged);
            // NeDB changes its memory before writing its file and keeps the change when the write fails: put the
            // stored document back, so that the caller's 503 means "not changed" now and after a restart.
            if (this.dbState.kind !== "mongo") await restoreInMemory(a, current);
            throw err;
          }
        });
        if (stored === null || stored === undefined) throw notFound(config.entityName, id);
        return publish(this, ctx, "updated", stored);
      },

      async removeEntity(this: DbThis, ctx: Context | null, id: string): Promise<Entity> {
        const current = await this.findRawById(id);
        if (current === null) throw notFound(config.entityName, id);
        const removed = await this.dbCall("remove", async (a) => {
          try {
            return await a.removeMany({ _id: id });
          } catch (err) {
            // NeDB drops the document from memory before writing its file: put it back (see updateEntity).
            if (this.dbState.kind !== "mongo") await restoreInMemory(a, current);
            throw err;
          }
        });
        if (removed === 0) throw notFound(config.entityName, id);
        return publish(this, ctx, "removed", current);
      },

      async removeEntities(this: DbThis, ctx: Context | null, query: Record<string, unknown> = {}): Promise<number> {
        const docs = await this.findRaw(query);
        let count = 0;
        for (const doc of docs) {
          const removed = await this.dbCall("remove", async (a) => {
            try {
              return await a.removeMany({ _id: doc._id });
            } catch (err) {
              if (this.dbState.kind !== "mongo") await restoreInMemory(a, doc);
              throw err;
            }
          });
          if (removed > 0) {
            count += 1;
            await publish(this, ctx, "removed", doc);
          }
        }
        return count;
      },

      async dbCall<T>(this: DbThis, operation: string, fn: (adapter: Adapter) => Promise<T>): Promise<T> {
        if (!this.dbState.connected) {
          // The reason (host names, driver text) goes to the log, not to the caller.
          throw unavailable("database", "not connected", ERROR_TYPES.DATABASE_UNAVAILABLE, { operation });
        }
        try {
          return await fn(this.adapter);
        } catch (err) {
          if (isOwnError(err)) throw err;
          if (isQueryError(err)) throw invalid("query", errorMessage(err), "query");
          this.logger.error(`database ${operation} failed:`, errorMessage(err));
          throw unavailable("database", `${operation} failed`, ERROR_TYPES.DATABASE_UNAVAILABLE, { operation });
        }
      },

      async checkDatabase(this: DbThis): Promise<void> {
        await this.dbCall("ping", async (a) => {
          if (this.dbState.kind === "mongo") {
            await (a.db as MongoDbLike).command({ ping: 1 });
          } else {
            await a.count({});
            const file = (a.db as NedbLike | undefined)?.filename;
            if (this.dbState.kind === "nedb" && typeof file === "string") {
              await access(path.dirname(file), constants.W_OK);
              const info = await stat(file).catch((err: unknown) => {
                if (errorCode(err) === "ENOENT") return null;
                throw err;
              });
              if (info !== null && !info.isFile()) throw new Error(`${file} is not a regular file`);
              if (info !== null) await access(file, constants.W_OK);
            }
          }
        });
      },

      async onDbConnected(): Promise<void> {},

      async connect(this: DbThis): Promise<void> {
        try {
          const file = (this.adapter as { opts?: { filename?: unknown } }).opts?.filename;
          if (this.dbState.kind === "nedb" && typeof file === "string") {
            // A last line cut short (a power loss, a full disk) would keep NeDB from loading the file at all.
            const torn = setAsideTornTail(file);
            if (torn !== undefined && torn.savedTo !== undefined) {
              this.logger.warn(
                `${file}: its last line was cut short (${torn.bytes} bytes, a change never completed): kept in ${torn.savedTo} and cut off`,
              );
            }
          }
          await this.adapter.connect();
          if (this.dbState.kind !== "mongo") {
            // NeDB's promise API instead of the adapter's promisified callbacks (lib/nedb.ts: ~6% of a read's CPU).
            useNedbAsyncApi(this.adapter);
            // An update that keeps an indexed value leaves the document in place in that index (lib/nedb-indexes.ts).
            keepUnchangedIndexKeys(this.adapter.db);
          }
          if (this.dbState.kind === "nedb") {
            // Appends through one descriptor, and a compaction whenever the file has grown past its live size.
            this.nedbAppender = appendThroughOneHandle(this.adapter.db, {
              compactAfterBytes: this.settings.db?.compactAfterBytes,
              onCompactionError: (err) =>
                this.logger.warn(`compacting the database file failed (kept as it was): ${errorMessage(err)}`),
            });
          }
          for (const fields of config.uniqueIndexes) {
            if (this.dbState.kind === "mongo") {
              const collection = (this.adapter as unknown as { collection: MongoCollectionLike }).collection;
              await collection.createIndex({ [uniqueFieldOf(fields)]: 1 }, { unique: true });
            } else {
              await (this.adapter.db as NedbLike).ensureIndexAsync({ fieldName: uniqueFieldOf(fields), unique: true });
            }
          }
          for (const field of config.indexes) {
            if (this.dbState.kind === "mongo") {
              const collection = (this.adapter as unknown as { collection: MongoCollectionLike }).collection;
              await collection.createIndex({ [field]: 1 }, { unique: false });
            } else {
              await (this.adapter.db as NedbLike).ensureIndexAsync({ fieldName: field, unique: false });
            }
          }
          const retried = this.dbState.failures > 0;
          this.dbState = { ...this.dbState, connected: true, reason: "", failures: 0 };
          this.logger.info(`database connected (${this.dbState.kind}, collection '${config.collection}')`);
          try {
            await this.onDbConnected(retried);
          } catch (err) {
            this.logger.error("after connecting to the database:", errorMessage(err));
          }
        } catch (err) {
          await closeAppender(this);
          const reason = errorMessage(err).split("\n")[0] ?? "";
          this.dbState = { ...this.dbState, connected: false, reason, failures: this.dbState.failures + 1 };
          const delay = this.settings.db?.retryDelayMs ?? RETRY_MS;
          if (!this.dbActive) return;
          this.logger.error(`database connection failed, retrying in ${delay} ms:`, reason);
          this.dbRetryTimer = setTimeout(() => {
            this.dbRetryTimer = undefined;
            void this.connect();
          }, delay);
          this.dbRetryTimer.unref();
        }
      },

      async disconnect(this: DbThis): Promise<void> {
        if (this.dbRetryTimer !== undefined) clearTimeout(this.dbRetryTimer);
        this.dbRetryTimer = undefined;
        const wasConnected = this.dbState.connected;
        this.dbState = { ...this.dbState, connected: false, reason: "service stopped", failures: 0 };
        await closeAppender(this);
        if (wasConnected) await this.adapter.disconnect();
      },
    },

    created(this: DbThis) {
      this.dbMixin = config;
      this.dbSharedEntities = new SharedAnswersByRecord();
      const cfg = readConfig();
      const s = this.settings.db ?? {};
      const mongoUri = s.memory === true ? undefined : (s.mongoUri ?? cfg.mongoUri);
      const dataDir = s.dataDir ?? cfg.dataDir;
      if (mongoUri !== undefined) {
        const options = { useUnifiedTopology: true, serverSelectionTimeoutMS: 5000, ...s.mongoOptions };
        this.dbMongo = { uri: mongoUri, options, database: s.mongoDatabase };
        this.dbState = { connected: false, reason: "not connected yet", kind: "mongo", failures: 0 };
      } else if (s.memory === true) {
        this.adapter = new moleculerDb.MemoryAdapter();
        this.dbState = { connected: false, reason: "not connected yet", kind: "memory", failures: 0 };
      } else {
        this.adapter = new moleculerDb.MemoryAdapter({ filename: path.join(dataDir, `${config.collection}.db`) });
        this.dbState = { connected: false, reason: "not connected yet", kind: "nedb", failures: 0 };
      }
      if (this.dbMongo === undefined) this.adapter.init(this.broker, this);
    },

    async started(this: DbThis) {
      if (this.dbMongo !== undefined) {
        const MongoAdapter = await loadMongoAdapter();
        this.adapter = new MongoAdapter(this.dbMongo.uri, this.dbMongo.options, this.dbMongo.database);
        this.adapter.init(this.broker, this);
        this.dbMongo = undefined;
      }
      this.dbActive = true;
      await this.connect();
    },

    async stopped(this: DbThis) {
      this.dbActive = false;
      await this.disconnect();
    },
  };
  return asMixin(schema);
}

/** Closes the NeDB appender of the current datastore, if any (after its queued operations). */
async function closeAppender(service: DbVars): Promise<void> {
  const appender = service.nedbAppender;
  service.nedbAppender = undefined;
  await appender?.close().catch(() => undefined);
}

/**
 * The `create` error hook: a create retried by moleculer's retry policy (same requestID and parent) whose first attempt
 * stored the record meets that record; it answers with it rather than 409, so the caller learns that its write was kept.
 */
async function answerRetriedCreate(this: DbThis, ctx: Context, err: unknown): Promise<unknown> {
  const request = requestKey(ctx);
  if (request === undefined || !hasType(err, ERROR_TYPES.ALREADY_EXISTS)) throw err;
  const own = await this.findRawOne({ [REQUEST_FIELD]: request }).catch(() => null);
  if (own === null) throw err;
  this.logger.info(`create retried by request ${request}: answering with the record its first attempt stored`);
  return this.transformDocuments(ctx, {}, own);
}

/** `<requestID>/<parentID>` of a call, the same for moleculer's retries of it; undefined without a context. */
function requestKey(ctx: Context | null): string | undefined {
  if (ctx === null || typeof ctx.requestID !== "string" || ctx.requestID === "") return undefined;
  return `${ctx.requestID}/${ctx.parentID ?? ""}`;
}

/**
 * Puts a document back into NeDB's memory after a failed write of its file: an update with the whole document (a
 * replacement), or an insert when it was removed. Both change memory first, so the put-back holds even though its own
 * write to the file fails too.
 */
async function restoreInMemory(adapter: Adapter, doc: RawDoc): Promise<void> {
  const db = adapter.db as
    | {
        updateAsync(query: object, doc: object): Promise<{ numAffected: number }>;
        insertAsync(doc: object): Promise<unknown>;
      }
    | undefined;
  if (db === undefined) return;
  const replaced = await db.updateAsync({ _id: doc._id }, doc).then(
    (r) => r.numAffected,
    () => 1, // the replacement reached memory; only its file write failed
  );
  if (replaced === 0) await db.insertAsync(doc).catch(() => undefined);
}

/** The derived keys of the compound unique indexes of `doc`, or undefined when there are none. */
function uniqueKeys(config: DbVars["dbMixin"], doc: Record<string, unknown>): Record<string, string> | undefined {
  const compound = config.uniqueIndexes.filter((f) => f.length > 1);
  if (compound.length === 0) return undefined;
  const keys: Record<string, string> = {};
  for (const fields of compound) keys[fields.join("_")] = JSON.stringify(fields.map((f) => doc[f] ?? null));
  return keys;
}

/** 409 naming the index that the stored document violates. */
function conflict(config: DbVars["dbMixin"], err: unknown, doc: Record<string, unknown>) {
  const e = err as { key?: unknown; keyValue?: Record<string, unknown> };
  const violated =
    config.uniqueIndexes.find((fields) => {
      const field = uniqueFieldOf(fields);
      if (e.keyValue !== undefined) return field in e.keyValue;
      if (e.key === undefined) return false;
      const value = fields.length === 1 ? doc[field] : uniqueKeys(config, doc)?.[fields.join("_")];
      return deepEqual(value, e.key);
    }) ??
    config.uniqueIndexes[0] ??
    [];
  const field = violated[violated.length - 1] ?? "id";
  return alreadyExists(config.entityName, field, doc[field]);
}

/** Transforms a stored document, broadcasts `k8s.<resource>.<type>` with it, returns it. */
async function publish(svc: DbThis, ctx: Context | null, type: "created" | "updated" | "removed", doc: unknown) {
  const entity = (await svc.transformDocuments(ctx, {}, doc)) as Entity;
  await svc.broker.broadcast(`k8s.${svc.dbMixin.resource}.${type}`, entity);
  return entity;
}
