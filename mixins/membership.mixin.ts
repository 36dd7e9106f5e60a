/**
 * `MembershipMixin({ scope })`: who may do what to an entity service's records. Mix it in after `DbMixin`.
 *
 * Every action declares the permission it needs (`permission` beside `params`); a before-hook on all actions checks it,
 * and an action that declares nothing is refused (403), so a new action cannot escape by omission.
 *
 * | permission | meaning |
 * |---|---|
 * | `"list"` | list/find/count: the caller's `query` is ANDed under a membership filter (never replaced or widened) |
 * | `"read"`, `"write"`, `"owner"` | the record `params.id` (or ids), or for a child create the namespace `params.namespace`: viewer+, member+, owner |
 * | `"signedIn"` | any caller with a userID (and internal calls) |
 * | `"admin"` | the admin role or an internal call |
 * | `"internal"` | internal calls only (mark these `visibility: "public"` too, so the gateway cannot publish them) |
 * | `"any"` | no check (readiness) |
 * | `"custom"` | signed-in or internal; the handler decides with `this.authorize(ctx, record, level)` |
 *
 * Scopes: `namespace` (the records are namespaces with `owner` and `members: [{ userID, role }]`), `child` (the record's
 * `namespace` field holds a namespace id; the role comes from `v1.k8s.namespaces.access`), `catalog` (no membership:
 * `list`/`read` need a signed-in caller, `write`/`owner` the admin role).
 * Calls without `ctx.meta.userID` are internal and trusted; the admin role sees and changes everything. Strangers get
 * 404 NOT_FOUND (existence is not leaked) and see nothing in list/find/count; viewers get 403 FORBIDDEN on writes.
 *
 * A child service (volumes, envs, deployments):
 * ```ts
 * mixins: [
 *   DbMixin({ collection: "volumes", resource: "volumes", uniqueIndexes: [["namespace", "name"]] }),
 *   MembershipMixin({ scope: "child" }),
 * ],
 * dependencies: ["v1.k8s.namespaces"],
 * actions: {
 *   create: { rest: "POST /", permission: "write", params: volumeCreateParams,   // checks params.namespace
 *     handler(ctx) { return this.createEntity(ctx, { ...ctx.params }); } },
 *   update: { rest: "PATCH /:id", permission: "write", params: volumeUpdateParams, // checks the record's namespace
 *     handler(ctx) { const { id, ...changes } = ctx.params; return this.updateEntity(ctx, id, changes); } },
 *   status: { rest: "GET /:id/status", permission: "read", params: idParams, handler(ctx) { ... } },
 * },
 * events: { async "k8s.namespaces.removed"(ctx) { await this.removeEntities(null, { namespace: ctx.params.id }); } },
 * ```
 */
import type { Context, ServiceSchema, ServiceSettingSchema, Service } from "moleculer";
import { forbidden, hasCode, invalid, notFound } from "../lib/errors.ts";
import { isAdmin, isInternal, type CallerMeta } from "../lib/meta.ts";
import { defineParams, type ParamsOf } from "../lib/params.ts";
import { ROLES, type Member, type Role } from "../lib/entities.ts";
import { copyOfStored, storedById } from "../lib/nedb-read.ts";
import { recordObjectLive } from "../lib/kube/local-list.ts";
import { isRetryableError } from "./reconciler.mixin.ts";
import {
  asMixin,
  guardedRecord,
  withoutFields,
  type DbMethods,
  type DbVars,
  type MixinSchema,
  type RawDoc,
} from "./db.mixin.ts";

export type Permission = "list" | "read" | "write" | "owner" | "signedIn" | "admin" | "internal" | "any" | "custom";
export type AccessLevel = "read" | "write" | "owner";

declare module "moleculer" {
  interface ActionSchema {
    /** What the caller needs to run this action (mixins/membership.mixin.ts). */
    permission?: Permission;
    /**
     * The fields of the service's `leaveOut` (MembershipMixin) this action reads from `guardedRecord`: without them
     * listed, the guard's copy of the record has none of those fields.
     */
    guardedFields?: readonly string[];
    /**
     * The handler only reads scalar fields of `guardedRecord` and hands no part of it on (it answers something made
     * from them): the guard gives it the record as stored, not a copy. A copy is ~4% of such a read's CPU, a `state`
     * served from the watch cache (docs/performance.md, change 51).
     */
    guardedReadOnly?: boolean;
  }
}

export type MembershipScope = "namespace" | "child" | "catalog";

const LEVEL_RANK: Record<AccessLevel, number> = { read: 1, write: 2, owner: 3 };
const ROLE_RANK: Record<Role, number> = { viewer: 1, member: 2, owner: 3 };

/** The role `userID` holds in a namespace record, or null. */
export function roleIn(record: Record<string, unknown> | null | undefined, userID: string): Role | null {
  const members = Array.isArray(record?.members) ? (record.members as Member[]) : [];
  const member = members.find((m) => m.userID === userID);
  return member !== undefined && (ROLES as readonly string[]).includes(member.role) ? member.role : null;
}

/**
 * Operators a caller's `query` may not hold, at any depth: `$where`, `$function`, `$accumulator` run code (NeDB, Mongo);
 * `$expr` (aggregation expressions: `"$$ROOT.value"`, `$getField`) and `$jsonSchema` (`patternProperties`) reach fields
 * without naming them as keys, which would defeat per-field guards such as the envs' refusal to filter on `value`.
 * NeDB knows neither of the last two; refusing them everywhere keeps both adapters alike.
 */
export const FORBIDDEN_QUERY_OPERATORS: readonly string[] = [
  "$where",
  "$function",
  "$accumulator",
  "$expr",
  "$jsonSchema",
];

/** The first forbidden operator (FORBIDDEN_QUERY_OPERATORS) in a query, at any depth. */
export function findForbiddenOperator(query: unknown): string | undefined {
  if (Array.isArray(query)) {
    for (const q of query) {
      const found = findForbiddenOperator(q);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (typeof query !== "object" || query === null) return undefined;
  for (const [key, value] of Object.entries(query)) {
    if (FORBIDDEN_QUERY_OPERATORS.includes(key)) return key;
    const found = findForbiddenOperator(value);
    if (found !== undefined) return found;
  }
  return undefined;
}

export const accessParams = defineParams({
  $$strict: true,
  id: { type: "string", empty: false, max: 64 },
  userID: { type: "string", empty: false, max: 256 },
});
export const accessibleIdsParams = defineParams({
  $$strict: true,
  userID: { type: "string", empty: false, max: 256 },
});
export type AccessParams = ParamsOf<typeof accessParams>;
export type AccessibleIdsParams = ParamsOf<typeof accessibleIdsParams>;

export interface MembershipMethods {
  /**
   * Throws unless the caller holds `level` on `record` (a namespace record, or a child whose `namespace` field names
   * one; for a child create pass `{ namespace }`): 404 for strangers, 403 for too small a role.
   */
  authorize(ctx: Context<unknown, CallerMeta>, record: Record<string, unknown>, level: AccessLevel): Promise<void>;
  /** The caller's role in the namespace with this id (null for strangers and missing namespaces). */
  roleInNamespace(namespaceId: string, userID: string): Promise<Role | null>;
  /** The filter that limits list/find/count to what `userID` may see. */
  membershipFilter(userID: string): Promise<Record<string, unknown>>;
  /**
   * For a resync of child records: runs `remove` for each namespace of `records` that is gone and answers the other
   * records. Gone: v1.k8s.namespaces has no such record (read on this node, else its `get` answers a 404 that no retry
   * changes) and the cluster holds none of that record's namespace objects (its Namespace, ResourceQuota, LimitRange,
   * unless being deleted), as after a removal. It is for a service that missed `k8s.namespaces.removed` (it was down:
   * moleculer keeps no event for a service that is away): `remove` does what the event would have. A record missing
   * while its Namespace is still there is not a removal (a namespaces service started on an empty database, say):
   * nothing is removed for it. While that cannot be told (the namespaces service, its database or the cluster away)
   * nothing is taken for gone: `records` as they are.
   */
  withoutGoneNamespaces(records: RawDoc[], remove: (namespaceId: string) => Promise<void>): Promise<RawDoc[]>;
}

export interface MembershipVars {
  membershipScope: MembershipScope;
  /** Stored fields the guard's copy of a record leaves out unless the action lists them in `guardedFields`. */
  membershipLeaveOut: readonly string[];
}

type MembershipThis = Service<ServiceSettingSchema> & MembershipVars & MembershipMethods & DbMethods & DbVars;

interface GuardedParams {
  id?: unknown;
  namespace?: unknown;
  query?: unknown;
}

function entityName(svc: MembershipThis): string {
  return svc.dbMixin?.entityName ?? svc.name;
}

/**
 * `MembershipMixin({ scope: "namespace" | "child" | "catalog", leaveOut? })`: the authorization hook, see the file
 * header. `leaveOut` names bulky stored fields that few actions read (a deployment's `revisions`: up to 20 specs,
 * ~8 µs of copying per read): the copy of the record the guard hands to the action (`guardedRecord`) has them only when
 * the action lists them in `guardedFields`. Entities never show hidden fields anyway.
 */
export function MembershipMixin(options: { scope: MembershipScope; leaveOut?: readonly string[] }): MixinSchema {
  const { scope } = options;
  const leaveOut = options.leaveOut ?? [];
  const actions: ServiceSchema<ServiceSettingSchema, MembershipMethods, MembershipVars, MembershipThis>["actions"] =
    scope !== "namespace"
      ? {}
      : {
          /** The role `userID` holds in namespace `id` (`"owner" | "member" | "viewer"`) or null; internal only. */
          access: {
            visibility: "public",
            permission: "internal",
            params: accessParams,
            async handler(this: MembershipThis, ctx: Context<AccessParams>): Promise<Role | null> {
              return roleIn(await this.findRawById(ctx.params.id), ctx.params.userID);
            },
          },
          /** The ids of the namespaces `userID` is a member of; internal only. */
          accessibleIds: {
            visibility: "public",
            permission: "internal",
            params: accessibleIdsParams,
            async handler(this: MembershipThis, ctx: Context<AccessibleIdsParams>): Promise<string[]> {
              const docs = await this.findRaw({ "members.userID": ctx.params.userID });
              return docs.map((d) => d._id);
            },
          },
        };

  return asMixin<ServiceSettingSchema, MembershipMethods, MembershipVars, MembershipThis>({
    name: "",
    hooks: {
      before: {
        async "*"(this: MembershipThis, ctx: Context<GuardedParams, CallerMeta>) {
          const action = ctx.action;
          const permission = action?.permission;
          const actionName = action?.name ?? "?";
          if (permission === undefined) {
            throw forbidden(`action '${actionName}' declares no permission`, { action: actionName });
          }
          const meta = ctx.meta ?? {};
          const trusted = isInternal(meta) || isAdmin(meta);

          if (permission === "list") {
            await guardQuery(this, ctx, trusted);
            return;
          }
          if (permission === "any") return;
          if (permission === "internal") {
            if (isInternal(meta)) return;
            throw forbidden(`action '${actionName}' is internal`, { action: actionName });
          }
          if (trusted) return;
          switch (permission) {
            case "signedIn":
            case "custom":
              return;
            case "admin":
              throw forbidden(`action '${actionName}' needs the admin role`, { action: actionName });
            case "read":
            case "write":
            case "owner":
              await guardRecord(this, ctx, permission);
              return;
          }
        },
      },
    },
    actions,
    methods: {
      async authorize(
        this: MembershipThis,
        ctx: Context<unknown, CallerMeta>,
        record: Record<string, unknown>,
        level: AccessLevel,
      ): Promise<void> {
        const meta = ctx.meta ?? {};
        if (isInternal(meta) || isAdmin(meta)) return;
        const userID = meta.userID ?? "";
        const id = typeof record.id === "string" ? record.id : typeof record._id === "string" ? record._id : "";
        if (scope === "catalog") {
          if (level === "read") return;
          throw forbidden(`changing ${entityName(this)} '${id}' needs the admin role`, { id });
        }
        let role: Role | null;
        if (scope === "namespace") {
          role = roleIn(record, userID);
        } else {
          const ns = record.namespace;
          role = typeof ns === "string" ? await this.roleInNamespace(ns, userID) : null;
        }
        if (role === null) {
          if (scope === "child" && id === "") throw notFound("namespace", String(record.namespace));
          throw notFound(entityName(this), id);
        }
        if (ROLE_RANK[role] < LEVEL_RANK[level]) {
          throw forbidden(
            `role '${role}' may not ${level === "read" ? "read" : "change"} ${entityName(this)} '${id}'`,
            {
              id,
              role,
              needed: level,
            },
          );
        }
      },

      async roleInNamespace(this: MembershipThis, namespaceId: string, userID: string): Promise<Role | null> {
        // The current stored record, read in place (only its members are read: no copy, lib/nedb-read.ts).
        if (scope === "namespace") return roleIn(await readRecord(this, namespaceId, false), userID);
        // The namespaces service on this node answers from its stored record directly, as its `access` action would:
        // the same read of the current record, without a broker call (context, validation, metrics: ~10 µs, a tenth
        // of a read served from the watch cache, docs/performance.md). On another node: its internal action.
        const local = localNamespaces(this);
        if (local !== undefined) return local.roleInNamespace(namespaceId, userID);
        // A root call (no caller meta): the access helper is internal-only.
        return this.broker.call<Role | null, AccessParams>("v1.k8s.namespaces.access", { id: namespaceId, userID });
      },

      async withoutGoneNamespaces(
        this: MembershipThis,
        records: RawDoc[],
        remove: (namespaceId: string) => Promise<void>,
      ): Promise<RawDoc[]> {
        const gone = new Set<string>();
        try {
          const namespaceIds = new Set(records.flatMap((r) => (typeof r.namespace === "string" ? [r.namespace] : [])));
          for (const namespaceId of namespaceIds) {
            if (await namespaceGone(this, namespaceId)) gone.add(namespaceId);
          }
        } catch (err) {
          this.logger.debug(`namespaces of the records not checked now: ${(err as Error).message}`);
          return records;
        }
        for (const namespaceId of gone) {
          this.logger.info(`namespace '${namespaceId}' is gone: removing the ${entityName(this)} records left in it`);
          await remove(namespaceId);
        }
        return gone.size === 0
          ? records
          : records.filter((r) => typeof r.namespace !== "string" || !gone.has(r.namespace));
      },

      async membershipFilter(this: MembershipThis, userID: string): Promise<Record<string, unknown>> {
        if (scope === "catalog") return {};
        if (scope === "namespace") return { "members.userID": userID };
        // As in roleInNamespace: the namespaces service on this node is read directly.
        const local = localNamespaces(this);
        const ids =
          local !== undefined
            ? (await local.findRaw({ "members.userID": userID })).map((d) => d._id)
            : await this.broker.call<string[], AccessibleIdsParams>("v1.k8s.namespaces.accessibleIds", { userID });
        return { namespace: { $in: ids } };
      },
    },
    created(this: MembershipThis) {
      this.membershipScope = scope;
      this.membershipLeaveOut = leaveOut;
    },
  });
}

/** The namespace-scope membership service `v1.k8s.namespaces` when it runs on this node, else undefined. */
function localNamespaces(svc: MembershipThis): MembershipThis | undefined {
  const local = svc.broker.getLocalService({ name: "k8s.namespaces", version: 1 }) as MembershipThis | undefined;
  return local?.membershipScope === "namespace" ? local : undefined;
}

/** Whether the namespace with this record id is gone: no record, and none of its objects left (`withoutGoneNamespaces`). */
async function namespaceGone(svc: MembershipThis, namespaceId: string): Promise<boolean> {
  return !(await namespaceRecordExists(svc, namespaceId)) && !(await namespaceObjectsExist(svc, namespaceId));
}

async function namespaceRecordExists(svc: MembershipThis, namespaceId: string): Promise<boolean> {
  const local = localNamespaces(svc);
  if (local !== undefined) return (await readRecord(local, namespaceId, false)) !== null;
  try {
    // A root call (no caller meta): trusted, as the membership checks' own calls.
    await svc.broker.call("v1.k8s.namespaces.get", { id: namespaceId });
    return true;
  } catch (err) {
    if (hasCode(err, 404) && !isRetryableError(err)) return false;
    throw err;
  }
}

/** Whether the cluster still holds a Namespace, ResourceQuota or LimitRange of this namespace record, not being deleted. */
async function namespaceObjectsExist(svc: MembershipThis, namespaceId: string): Promise<boolean> {
  for (const kind of ["Namespace", "ResourceQuota", "LimitRange"]) {
    if (await recordObjectLive(svc.broker, { apiVersion: "v1", kind }, "namespace", namespaceId)) return true;
  }
  return false;
}

/**
 * The record with this id as stored now, or null. On NeDB it is read from the datastore's memory by id
 * (lib/nedb-read.ts: no executor task, cursor or match): `copy` false gives NeDB's own object, for code that only reads
 * it; `copy` true one deep copy, what the adapter's findById would answer, for anything handed on. Elsewhere (MongoDB,
 * a datastore not connected: its 503) the adapter reads it, as `findRawById`. A copy leaves out the fields in `omit`.
 */
async function readRecord(
  svc: MembershipThis,
  id: string,
  copy: boolean,
  omit: readonly string[] = [],
): Promise<RawDoc | null> {
  if (svc.dbState.connected && svc.dbState.kind !== "mongo") {
    const stored = storedById(svc.adapter.db, id) as RawDoc | null | undefined;
    if (stored !== undefined) return stored === null || !copy ? stored : copyOfStored(stored, omit);
  }
  const record = await svc.findRawById(id);
  if (record === null || !omit.some((field) => Object.hasOwn(record, field))) return record;
  // The adapter's own copy: rebuilt without the fields.
  return withoutFields(record, omit);
}

/** list/find/count: refuse code-running operators, then AND the caller's query under the membership filter. */
async function guardQuery(svc: MembershipThis, ctx: Context<GuardedParams, CallerMeta>, trusted: boolean) {
  let query: unknown = ctx.params.query;
  if (typeof query === "string") {
    try {
      query = JSON.parse(query);
    } catch {
      throw invalid("query", "The 'query' field must be a JSON object.", "objectJSON");
    }
  }
  if (query !== undefined && (typeof query !== "object" || query === null || Array.isArray(query))) {
    throw invalid("query", "The 'query' field must be an object.", "object");
  }
  const forbiddenOp = findForbiddenOperator(query);
  if (forbiddenOp !== undefined) {
    throw invalid("query", `The operator '${forbiddenOp}' is not allowed in 'query'.`, "queryOperator", forbiddenOp);
  }
  const callerQuery = query as Record<string, unknown> | undefined;
  if (trusted || svc.membershipScope === "catalog") {
    ctx.params = { ...ctx.params, ...(callerQuery === undefined ? {} : { query: callerQuery }) };
    return;
  }
  const filter = await svc.membershipFilter(ctx.meta.userID ?? "");
  const combined =
    callerQuery === undefined || Object.keys(callerQuery).length === 0 ? filter : { $and: [filter, callerQuery] };
  ctx.params = { ...ctx.params, query: combined };
}

/** read/write/owner on the record(s) `params.id`, or (child create) on the namespace `params.namespace`. */
async function guardRecord(svc: MembershipThis, ctx: Context<GuardedParams, CallerMeta>, level: AccessLevel) {
  const { id, namespace } = ctx.params;
  const ids = typeof id === "string" ? [id] : Array.isArray(id) ? id.filter((i) => typeof i === "string") : [];
  if (ids.length > 0) {
    const keep = ctx.action?.guardedFields ?? [];
    const omit = svc.membershipLeaveOut.filter((field) => !keep.includes(field));
    const copy = ctx.action?.guardedReadOnly !== true;
    for (const one of ids) {
      // One copy: handlers get it as `guardedRecord` and may change it (unless they declare they only read it).
      const record = await readRecord(svc, one, copy, omit);
      if (record === null) throw notFound(entityName(svc), one);
      await svc.authorize(ctx, record, level);
      // A child moved to another namespace needs the same right there.
      if (svc.membershipScope === "child" && typeof namespace === "string" && namespace !== record.namespace) {
        await svc.authorize(ctx, { namespace }, level);
      }
      if (ids.length === 1) ctx.locals = { ...(ctx.locals as object), record } as typeof ctx.locals;
    }
    return;
  }
  if (svc.membershipScope === "child" && typeof namespace === "string") {
    await svc.authorize(ctx, { namespace }, level);
    return;
  }
  if (svc.membershipScope === "catalog") {
    await svc.authorize(ctx, {}, level);
    return;
  }
  throw forbidden(`action '${ctx.action?.name ?? "?"}' names no record to check`);
}

export { guardedRecord };
