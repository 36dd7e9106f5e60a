/**
 * `v1.k8s.namespaces`, records side: a tenant's namespace with its domain, owner, members and quota.
 * The cluster side (Namespace, ResourceQuota, LimitRange, `status`, `resourcequota`) is added later; until then a new
 * record stays `status.phase = "Pending"` with an empty `uid`.
 */
import type { Context, ServiceSchema, ServiceSettingSchema } from "moleculer";
import { readConfig } from "../lib/config.ts";
import { quotaRule, ROLES, type Member, type NamespaceEntity, type Role } from "../lib/entities.ts";
import { forbidden, invalid, notFound } from "../lib/errors.ts";
import { isAdmin, isInternal, type CallerMeta } from "../lib/meta.ts";
import { defineParams, type ParamsOf } from "../lib/params.ts";
import {
  DNS_1123_LABEL,
  DNS_1123_LABEL_MAX,
  DOMAIN_NAME,
  DOMAIN_NAME_MAX,
  isClusterOwnedNamespace,
  isDomainAllowed,
  namespaceNameProblem,
} from "../lib/validators.ts";
import {
  DbMixin,
  type DbConnectionSettings,
  type DbMethods,
  type DbVars,
  type Entity,
  type ListResult,
} from "../mixins/db.mixin.ts";
import {
  guardedRecord,
  MembershipMixin,
  roleIn,
  type MembershipMethods,
  type MembershipVars,
} from "../mixins/membership.mixin.ts";

const name = { type: "string", empty: false, max: DNS_1123_LABEL_MAX, pattern: DNS_1123_LABEL } as const;
const domain = { type: "string", empty: false, max: DOMAIN_NAME_MAX, pattern: DOMAIN_NAME, optional: true } as const;
const id = { type: "string", empty: false, max: 64 } as const;
const userID = { type: "string", empty: false, max: 256 } as const;
const immutable = { type: "forbidden", optional: true } as const;

export const namespaceCreateParams = defineParams({
  $$strict: true,
  name,
  domain,
  owner: { ...userID, optional: true },
  quota: { ...quotaRule, optional: true },
});
export const namespaceUpdateParams = defineParams({
  $$strict: true,
  id,
  domain,
  quota: { ...quotaRule, optional: true },
  name: immutable,
  owner: immutable,
  members: immutable,
});
export const namespaceNameParams = defineParams({ $$strict: true, name });
export const namespaceAvailableParams = defineParams({ $$strict: true, name: { type: "string", max: 1024 } });
export const namespaceAddMemberParams = defineParams({
  $$strict: true,
  id,
  userID,
  role: { type: "enum", values: ROLES },
});
export const namespaceRemoveMemberParams = defineParams({ $$strict: true, id, userID });
export const namespaceCleanParams = defineParams({ $$strict: true });

export type NamespaceCreateParams = ParamsOf<typeof namespaceCreateParams>;
export type NamespaceUpdateParams = ParamsOf<typeof namespaceUpdateParams>;
export type NamespaceNameParams = ParamsOf<typeof namespaceNameParams>;
export type NamespaceAvailableParams = ParamsOf<typeof namespaceAvailableParams>;
export type NamespaceAddMemberParams = ParamsOf<typeof namespaceAddMemberParams>;
export type NamespaceRemoveMemberParams = ParamsOf<typeof namespaceRemoveMemberParams>;
export type NamespaceListResult = Omit<ListResult, "rows"> & { rows: NamespaceEntity[] };
export interface NamespaceAvailableResult {
  name: string;
  available: boolean;
}

interface Settings extends ServiceSettingSchema {
  rest: string;
  db?: DbConnectionSettings;
  /** Domain of a namespace created without one; defaults to DEFAULT_DOMAIN. */
  defaultDomain?: string;
  /** Domains a namespace may use (and their subdomains); defaults to ALLOWED_DOMAINS; empty = any valid name. */
  allowedDomains?: string[];
}
type Methods = DbMethods & MembershipMethods & { checkDomain(domain: string): void };
type LocalVars = DbVars & MembershipVars & { domains: { defaultDomain: string; allowed: string[] } };
type Ctx<P> = Context<P, CallerMeta>;

const schema: ServiceSchema<Settings, Methods, LocalVars> = {
  name: "k8s.namespaces",
  version: 1,
  mixins: [
    DbMixin({ collection: "namespaces", resource: "namespaces", uniqueIndexes: [["name"]], entityName: "namespace" }),
    MembershipMixin({ scope: "namespace" }),
  ],
  settings: {
    rest: "/v1/k8s/namespaces",
  },

  actions: {
    // list, find, count, get come from the db mixin; membership limits them to the caller's namespaces.

    /** Creates a namespace owned by the caller (an internal call passes `owner`). REST: POST / @throws VALIDATION_ERROR, ALREADY_EXISTS, FORBIDDEN, DATABASE_UNAVAILABLE */
    create: {
      rest: "POST /",
      permission: "signedIn",
      params: namespaceCreateParams,
      async handler(ctx: Ctx<NamespaceCreateParams>): Promise<NamespaceEntity> {
        const p = ctx.params;
        const problem = namespaceNameProblem(p.name);
        if (problem !== undefined) throw invalid("name", `The 'name' field ${problem}.`, "namespaceName", p.name);
        let owner: string;
        if (isInternal(ctx.meta)) {
          if (p.owner === undefined) throw invalid("owner", "An internal call must pass 'owner'.", "required");
          owner = p.owner;
        } else {
          const caller = ctx.meta.userID ?? "";
          if (p.owner !== undefined && p.owner !== caller && !isAdmin(ctx.meta)) {
            throw forbidden("only an admin may create a namespace for someone else", { owner: p.owner });
          }
          owner = p.owner ?? caller;
        }
        const domainName = p.domain ?? this.domains.defaultDomain;
        this.checkDomain(domainName);
        const record: Omit<NamespaceEntity, "id" | "createdAt" | "updatedAt"> = {
          name: p.name,
          domain: domainName,
          owner,
          members: [{ userID: owner, role: "owner" }],
          quota: p.quota ?? {},
          clusterOwned: isClusterOwnedNamespace(p.name),
          status: { phase: "Pending", reason: "not yet applied to the cluster" },
          uid: "",
        };
        return (await this.createEntity(ctx, record)) as unknown as NamespaceEntity;
      },
    },

    /** Changes a namespace's domain or quota (owners); `name`, `owner`, `members` cannot change here. REST: PUT /:id, PATCH /:id @throws VALIDATION_ERROR, NOT_FOUND, FORBIDDEN, DATABASE_UNAVAILABLE */
    update: {
      rest: ["PUT /:id", "PATCH /:id"],
      permission: "owner",
      params: namespaceUpdateParams,
      async handler(ctx: Ctx<NamespaceUpdateParams>): Promise<NamespaceEntity> {
        const { domain: newDomain, quota } = ctx.params;
        if (newDomain !== undefined) this.checkDomain(newDomain);
        const changes = {
          ...(newDomain === undefined ? {} : { domain: newDomain }),
          ...(quota === undefined ? {} : { quota }),
        };
        return (await this.updateEntity(ctx, ctx.params.id, changes)) as unknown as NamespaceEntity;
      },
    },

    /** Removes a namespace record (owners). REST: DELETE /:id @throws NOT_FOUND, FORBIDDEN, DATABASE_UNAVAILABLE */
    remove: {
      permission: "owner",
    },

    /** Removes every namespace record (admin or internal); no REST. @throws FORBIDDEN, DATABASE_UNAVAILABLE */
    clean: {
      permission: "admin",
      params: namespaceCleanParams,
      async handler(ctx: Ctx<Record<string, never>>): Promise<{ removed: number }> {
        return { removed: await this.removeEntities(ctx) };
      },
    },

    /** The namespace with this name, if the caller may see it. REST: GET /resolve/:name @throws NOT_FOUND, VALIDATION_ERROR */
    resolveName: {
      rest: "GET /resolve/:name",
      permission: "custom",
      params: namespaceNameParams,
      async handler(ctx: Ctx<NamespaceNameParams>): Promise<NamespaceEntity> {
        const record = await this.findRawOne({ name: ctx.params.name });
        if (record === null) throw notFound("namespace", ctx.params.name);
        await this.authorize(ctx, record, "read");
        return (await this.transformDocuments(ctx, {}, record)) as NamespaceEntity;
      },
    },

    /** Whether a name could be taken now: valid, not reserved, not in use (says nothing else). REST: GET /available/:name @throws VALIDATION_ERROR */
    available: {
      rest: "GET /available/:name",
      permission: "signedIn",
      params: namespaceAvailableParams,
      async handler(ctx: Ctx<NamespaceAvailableParams>): Promise<NamespaceAvailableResult> {
        const candidate = ctx.params.name;
        if (namespaceNameProblem(candidate) !== undefined) return { name: candidate, available: false };
        return { name: candidate, available: (await this.findRawOne({ name: candidate })) === null };
      },
    },

    /** Adds a member or changes a member's role (owners). REST: POST /:id/members @throws NOT_FOUND, FORBIDDEN, VALIDATION_ERROR */
    addMember: {
      rest: "POST /:id/members",
      permission: "owner",
      params: namespaceAddMemberParams,
      async handler(ctx: Ctx<NamespaceAddMemberParams>): Promise<NamespaceEntity> {
        const { id: nsId, userID: who, role } = ctx.params;
        const record = guardedRecord(ctx) ?? (await this.findRawById(nsId));
        if (record === null) throw notFound("namespace", nsId);
        const members = (record.members as Member[] | undefined) ?? [];
        const others = members.filter((m) => m.userID !== who);
        if (role !== "owner" && roleIn(record, who) === "owner" && !others.some((m) => m.role === "owner")) {
          throw invalid("role", "The last owner of a namespace cannot be demoted.", "lastOwner", role);
        }
        const existing = members.findIndex((m) => m.userID === who);
        const next: Member[] =
          existing === -1
            ? [...members, { userID: who, role }]
            : members.map((m) => (m.userID === who ? { userID: who, role } : m));
        return (await this.updateEntity(ctx, nsId, {
          members: next,
          owner: primaryOwner(next, record.owner),
        })) as unknown as NamespaceEntity;
      },
    },

    /** Removes a member (owners); the last owner cannot be removed. REST: DELETE /:id/members/:userID @throws NOT_FOUND, FORBIDDEN, VALIDATION_ERROR */
    removeMember: {
      rest: "DELETE /:id/members/:userID",
      permission: "owner",
      params: namespaceRemoveMemberParams,
      async handler(ctx: Ctx<NamespaceRemoveMemberParams>): Promise<NamespaceEntity> {
        const { id: nsId, userID: who } = ctx.params;
        const record = guardedRecord(ctx) ?? (await this.findRawById(nsId));
        if (record === null) throw notFound("namespace", nsId);
        const members = (record.members as Member[] | undefined) ?? [];
        if (!members.some((m) => m.userID === who)) throw notFound("member", who);
        const next = members.filter((m) => m.userID !== who);
        if (!next.some((m) => m.role === "owner")) {
          throw invalid("userID", "The last owner of a namespace cannot be removed.", "lastOwner", who);
        }
        return (await this.updateEntity(ctx, nsId, {
          members: next,
          owner: primaryOwner(next, record.owner),
        })) as unknown as NamespaceEntity;
      },
    },
  },

  methods: {
    checkDomain(value: string): void {
      if (!isDomainAllowed(value, this.domains.allowed)) {
        throw invalid(
          "domain",
          `The 'domain' field must be one of ${this.domains.allowed.join(", ")} or a subdomain of one.`,
          "domainNotAllowed",
          value,
        );
      }
    },
  },

  created() {
    const cfg = readConfig();
    this.domains = {
      defaultDomain: this.settings.defaultDomain ?? cfg.defaultDomain,
      allowed: this.settings.allowedDomains ?? cfg.allowedDomains,
    };
  },
};

/** The `owner` field after a membership change: kept while still an owner, else the first remaining owner. */
function primaryOwner(members: readonly Member[], current: unknown): string {
  const owners = members.filter((m) => m.role === ("owner" satisfies Role));
  if (typeof current === "string" && owners.some((m) => m.userID === current)) return current;
  return owners[0]?.userID ?? (typeof current === "string" ? current : "");
}

export type { Entity };
export default schema;
