/**
 * A real broker with the record services (v1.k8s.namespaces, v1.k8s.images) on an in-memory NeDB, or on NeDB files in
 * `dataDir`, or on MongoDB (`mongoUri`). Stop it with `broker.stop()` in afterAll.
 */
import { ServiceBroker, type BrokerOptions, type Context } from "moleculer";
import { fileURLToPath } from "node:url";
import type { CallerMeta } from "../../lib/meta.ts";
import namespacesSchema from "../../services/namespaces.service.ts";
import imagesSchema from "../../services/images.service.ts";
import {
  asMixin,
  DbMixin,
  type DbConnectionSettings,
  type DbMethods,
  type MixinSchema,
} from "../../mixins/db.mixin.ts";
import { MembershipMixin } from "../../mixins/membership.mixin.ts";
import { ParamValidator } from "../../lib/param-validator.ts";

export type RecordService = "namespaces" | "images";

export interface RecordsBrokerOptions {
  /** Which record services to run (default: all). */
  services?: readonly RecordService[];
  /** NeDB files under this directory instead of memory. */
  dataDir?: string;
  /** MongoDB instead of NeDB. */
  mongoUri?: string;
  /** The image catalog directory (default: the repository's images/). */
  imagesDir?: string;
  /** Extra settings per service (e.g. `{ namespaces: { allowedDomains: ["example.com"] } }`). */
  settings?: Partial<Record<RecordService, Record<string, unknown>>>;
  /** Extra broker options. */
  broker?: BrokerOptions;
  /** Do not start the broker (to add services or spies first). */
  noStart?: boolean;
}

const SCHEMAS: Record<RecordService, MixinSchema> = {
  namespaces: asMixin(namespacesSchema),
  images: asMixin(imagesSchema),
};

/** The repository's image catalog. */
export const IMAGES_DIR = fileURLToPath(new URL("../../images/", import.meta.url));

/** `db` settings for the options: memory unless a dataDir or mongoUri is given. */
export function dbSettings(opts: RecordsBrokerOptions): DbConnectionSettings {
  if (opts.mongoUri !== undefined) return { mongoUri: opts.mongoUri };
  if (opts.dataDir !== undefined) return { dataDir: opts.dataDir };
  return { memory: true };
}

/** Creates (and starts) a broker with the record services. */
export async function createRecordsBroker(opts: RecordsBrokerOptions = {}): Promise<ServiceBroker> {
  const broker = new ServiceBroker({
    validator: new ParamValidator(),
    logger: false,
    ...opts.broker,
  });
  for (const name of opts.services ?? (["namespaces", "images"] as const)) {
    const extra = opts.settings?.[name] ?? {};
    const settings: Record<string, unknown> = { db: dbSettings(opts), ...extra };
    if (name === "images") settings.imagesDir = opts.imagesDir ?? IMAGES_DIR;
    const schema = SCHEMAS[name];
    broker.createService({ name: schema.name ?? name, version: 1, mixins: [schema], settings });
  }
  if (opts.noStart !== true) await broker.start();
  return broker;
}

/** Calling options as a signed-in person: `broker.call(action, params, as("alice"))`. */
export function as(userID: string, roles: string[] = []): { meta: CallerMeta } {
  return { meta: { userID, roles } };
}

/** Calling options as an admin. */
export function asAdmin(userID = "root"): { meta: CallerMeta } {
  return as(userID, ["admin"]);
}

/**
 * A child entity service for the membership tests (as volumes and envs are): `v1.test.<name>`, records in a namespace
 * with a unique name per namespace (collection `collection`, in memory), whose `create` (permission write) stores the
 * namespace and name plus `createFields`; `actions` adds the test's own actions. `leaveOut` is MembershipMixin's;
 * `waitForNamespaces` makes it depend on v1.k8s.namespaces (for brokers that start it elsewhere or later).
 */
export function childServiceSchema(opts: {
  name: string;
  collection: string;
  leaveOut?: readonly string[];
  waitForNamespaces?: boolean;
  createFields?: Record<string, unknown>;
  actions?: Record<string, object>;
}) {
  return {
    name: `test.${opts.name}`,
    version: 1,
    mixins: [
      DbMixin({ collection: opts.collection, resource: opts.collection, uniqueIndexes: [["namespace", "name"]] }),
      MembershipMixin({ scope: "child", ...(opts.leaveOut === undefined ? {} : { leaveOut: opts.leaveOut }) }),
    ],
    settings: { db: { memory: true } },
    ...(opts.waitForNamespaces === true ? { dependencies: ["v1.k8s.namespaces"] } : {}),
    actions: {
      create: {
        permission: "write" as const,
        params: { $$strict: true, namespace: "string", name: "string" },
        handler(this: DbMethods, ctx: Context<{ namespace: string; name: string }>) {
          return this.createEntity(ctx, { ...ctx.params, ...opts.createFields });
        },
      },
      ...opts.actions,
    },
  };
}
