/**
 * `v1.k8s.images`: the image catalog. One JSON file per image in `settings.imagesDir` (default: the repository's
 * `images/`) is loaded on start and upserted by name; admins may also create, change and remove images by call.
 * Every signed-in user (and every internal call) may read the catalog. `deploy` runs an image as a deployment
 * (through `v1.k8s.deployments.create`); `build`, `builds` and `buildLogs` come from mixins/image-build.mixin.ts.
 *
 * `deploy` without a namespace uses the caller's personal namespace `user-<userID sanitised>` (lower-case, characters
 * outside `[a-z0-9-]` as `-`, with 8 hex digits of the id's sha256 appended when the id had to change or is long),
 * created on first use with the caller as owner. Without a name the deployment is named after the image; without
 * vHosts, an image with an HTTP port (lib/manifests `httpPort`) gets the route `<name>.<namespace name>.<namespace
 * domain>` (the domain defaults to DEFAULT_DOMAIN); a database's or a cache's gets none, an HTTP route to its port
 * being of no use. The image's `persistentVolumeClaim` volumes are mounted from namespace volumes
 * `<deployment>-<volume>`, made for it or kept from an earlier deployment of that name (`dataVolumes`).
 */
import { Errors, type Context, type ServiceSchema, type ServiceSettingSchema } from "moleculer";
import FastestValidator from "fastest-validator";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { readConfig } from "../lib/config.ts";
import { IMAGES_DIR } from "../lib/paths.ts";
import {
  imageSchema,
  type DeploymentEntity,
  type ImageChangeProblem,
  type Image,
  type ImageEntity,
  type NamespaceEntity,
} from "../lib/entities.ts";
import {
  alreadyExists,
  forbidden,
  hasCode,
  inUse,
  invalid,
  notFound,
  validationError,
  type ValidationIssue,
} from "../lib/errors.ts";
import {
  deploymentNameRule,
  MAX_DEPLOYMENT_NAME_LENGTH,
  httpPort,
  isValidDeploymentName,
} from "../lib/manifests/index.ts";
import { isAdmin, type CallerMeta } from "../lib/meta.ts";
import { NULL_REFUSING_OPTIONS } from "../lib/param-validator.ts";
import { defineParams, type ParamsOf } from "../lib/params.ts";
import { DNS_1123_LABEL, DNS_1123_LABEL_MAX, personalNamespaceName } from "../lib/validators.ts";
import {
  DbMixin,
  idParams,
  type DbConnectionSettings,
  type DbMethods,
  type DbVars,
  type RawDoc,
} from "../mixins/db.mixin.ts";
import { MembershipMixin, type MembershipMethods, type MembershipVars } from "../mixins/membership.mixin.ts";
import {
  BUILD_FIELDS,
  ImageBuildMixin,
  builtImageReference,
  standingBuild,
  type ImageBuildMethods,
} from "../mixins/image-build.mixin.ts";

/** Every rule of a schema made optional and without its default (a partial update). */
type Optional<S> = { [K in keyof S]: K extends `$$${string}` ? S[K] : Omit<S[K], "default"> & { optional: true } };
function optional<const S extends Record<string, unknown>>(schema: S): Optional<S> {
  const out: Record<string, unknown> = {};
  for (const [key, rule] of Object.entries(schema)) {
    if (key.startsWith("$$") || typeof rule !== "object" || rule === null) {
      out[key] = rule;
      continue;
    }
    const { default: _default, ...rest } = rule as Record<string, unknown>;
    out[key] = { ...rest, optional: true };
  }
  return out as Optional<S>;
}

export const imageCreateParams = imageSchema;
export const imageUpdateParams = defineParams({
  ...optional(imageSchema),
  id: { type: "string", empty: false, max: 64 },
});
export const imageNameParams = defineParams({
  $$strict: true,
  name: { type: "string", empty: false, max: DNS_1123_LABEL_MAX, pattern: DNS_1123_LABEL },
});
export const imageEmptyParams = defineParams({ $$strict: true });
export const imageDeployParams = defineParams({
  $$strict: true,
  id: { type: "string", empty: false, max: 64 },
  namespace: { type: "string", empty: false, max: 64, optional: true },
  name: { ...deploymentNameRule, optional: true },
  vHosts: { type: "array", max: 32, items: { type: "string", empty: false, max: 253 }, optional: true },
  replicas: { type: "number", integer: true, min: 0, convert: true, optional: true },
});

export type ImageCreateParams = ParamsOf<typeof imageCreateParams>;
export type ImageUpdateParams = ParamsOf<typeof imageUpdateParams>;
export type ImageNameParams = ParamsOf<typeof imageNameParams>;
export type ImageDeployParams = ParamsOf<typeof imageDeployParams>;

/** One problem with a catalog file. */
export interface ImageFileProblem {
  file: string;
  field: string;
  message: string;
}
/**
 * Fields of an image whose catalog file differs from the record but were not written: the record holds what a
 * successful build pushed (`tag`, `digest`, `image`), and a build's results stand against the file until an admin
 * `update` changes them (or a newer build replaces them).
 */
export interface KeptImageFields {
  /** The image's name. */
  name: string;
  /** The catalog file. */
  file: string;
  /** The fields left as the record has them (of `tag`, `digest`, `image`). */
  fields: string[];
  /** The id of the build they come from (see `builds`). */
  build: string;
  reason: string;
}
/**
 * `loadImages`: names of the images created, updated (some field written) and unchanged (nothing written), the files
 * that were not loaded, and `kept`: images whose build-owned fields differ from their file and were left alone. An
 * image in `kept` is also in `updated` (its other fields followed the file) or `unchanged`.
 */
export interface LoadImagesResult {
  created: string[];
  updated: string[];
  unchanged: string[];
  failed: ImageFileProblem[];
  kept: KeptImageFields[];
}

interface Settings extends ServiceSettingSchema {
  rest: string;
  db?: DbConnectionSettings;
  /** Directory of the catalog files (`*.json`); defaults to the repository's `images/`. */
  imagesDir?: string;
  /** Domain of default routes when a namespace has none; defaults to DEFAULT_DOMAIN. */
  defaultDomain?: string;
}
type Methods = DbMethods &
  MembershipMethods &
  Pick<ImageBuildMethods, "withBuildLock"> & {
    loadCatalog(ctx: Context | null): Promise<LoadImagesResult>;
    findByName(name: string): Promise<RawDoc>;
    deploymentsOf(imageId: string): Promise<string[]>;
    checkDeploymentsStillRun(imageId: string, changes: Record<string, unknown>): Promise<void>;
    personalNamespace(userID: string): Promise<NamespaceEntity>;
    dataVolumes(
      ctx: Context,
      image: RawDoc,
      nsId: string,
      deploymentName: string,
    ): Promise<{ volumes: DeploymentVolume[]; made: string[] }>;
    removeVolumes(ctx: Context, ids: readonly string[]): Promise<void>;
  };
type LocalVars = DbVars &
  MembershipVars & {
    imagesDir: string;
    defaultDomain: string;
    checkImage: (value: unknown) => true | ImageFileProblem[];
  };
type Ctx<P> = Context<P, CallerMeta>;

// fastest-validator is CommonJS (`module.exports = Validator`) but its types declare `export default class`: under
// NodeNext the default import is typed as the module object, at run time it is the class.
const Validator = FastestValidator as unknown as typeof FastestValidator.default;

const DEPLOYMENTS_FIND = "v1.k8s.deployments.find";
const DEPLOYMENTS_IMAGE_CHANGE_PROBLEMS = "v1.k8s.deployments.imageChangeProblems";
/** How many of the deployments that run an image a refused removal or change names (then how many more there are). */
const IN_USE_NAMED_MAX = 10;
/** The image fields a deployment's render checks and quota read (toImageSpec in the deployments service). */
const RENDER_CHECKED_FIELDS = ["ports", "resources", "config"] as const;

const IMAGE_FIELDS = Object.keys(imageSchema).filter((k) => !k.startsWith("$$"));

const schema: ServiceSchema<Settings, Methods, LocalVars> = {
  name: "k8s.images",
  version: 1,
  mixins: [
    DbMixin({ collection: "images", resource: "images", uniqueIndexes: [["name"]], entityName: "image" }),
    MembershipMixin({ scope: "catalog" }),
    ImageBuildMixin(),
  ],
  settings: {
    rest: "/v1/k8s/images",
  },

  actions: {
    // list, find, count, get (signed-in or internal) and remove (admin or internal) come from the db mixin.

    /** Adds an image to the catalog (admin or internal). REST: POST / @throws VALIDATION_ERROR, ALREADY_EXISTS, FORBIDDEN, DATABASE_UNAVAILABLE */
    create: {
      rest: "POST /",
      permission: "admin",
      params: imageCreateParams,
      async handler(ctx: Ctx<ImageCreateParams>): Promise<ImageEntity> {
        refuseValueProblems(ctx.params);
        return (await this.createEntity(ctx, { ...ctx.params })) as unknown as ImageEntity;
      },
    },

    /** Changes fields of an image (admin or internal); refused (422 naming the field and the deployments) when it would leave deployments of the image unable to run — over their namespace's quota, say. A new `tag` or `digest` without `image` is also written into the tag or digest `image` names (see referenceWith), so the deployments of the image roll to it; it replaces a build's tag/digest/image (which then no longer stand against the catalog file: a reload writes the file's values, as for any field an admin changed). REST: PUT /:id, PATCH /:id @throws VALIDATION_ERROR, NOT_FOUND, ALREADY_EXISTS, FORBIDDEN, DATABASE_UNAVAILABLE, SERVICE_UNAVAILABLE (no deployments service to check a change of ports, resources or config with) */
    update: {
      rest: ["PUT /:id", "PATCH /:id"],
      permission: "admin",
      params: imageUpdateParams,
      async handler(ctx: Ctx<ImageUpdateParams>): Promise<ImageEntity> {
        const { id, ...changes } = ctx.params;
        refuseValueProblems(changes);
        return this.withBuildLock(id, async () => {
          await this.checkDeploymentsStillRun(id, changes);
          if ((changes.tag !== undefined || changes.digest !== undefined) && changes.image === undefined) {
            const current = await this.findRawById(id);
            if (current !== null && typeof current.image === "string") {
              const image = referenceWith(current.image, {
                ...(changes.tag === undefined || changes.tag === current.tag ? {} : { tag: changes.tag }),
                ...(changes.digest === undefined || changes.digest === current.digest
                  ? {}
                  : { digest: changes.digest }),
              });
              if (image !== current.image) changes.image = image;
            }
          }
          return (await this.updateEntity(ctx, id, changes)) as unknown as ImageEntity;
        });
      },
    },

    /** Removes an image (admin or internal); refused while deployments run it (409 naming them). REST: DELETE /:id @throws NOT_FOUND, IN_USE, FORBIDDEN, DATABASE_UNAVAILABLE, SERVICE_UNAVAILABLE (no deployments service to ask who runs it) */
    remove: {
      permission: "admin",
      params: idParams,
      async handler(ctx: Ctx<{ id: string }>): Promise<ImageEntity> {
        const image = await this.findRawById(ctx.params.id);
        if (image === null) throw notFound("image", ctx.params.id);
        // Their next update, scale or resync would fail on the missing image (404 `image`), for good.
        const users = await this.deploymentsOf(image._id);
        if (users.length > 0) throw inUse("image", String(image.name), users);
        return (await this.removeEntity(ctx, image._id)) as unknown as ImageEntity;
      },
    },

    /** Removes every image (admin or internal); no REST. @throws FORBIDDEN, DATABASE_UNAVAILABLE */
    clean: {
      permission: "admin",
      params: imageEmptyParams,
      async handler(ctx: Ctx<Record<string, never>>): Promise<{ removed: number }> {
        return { removed: await this.removeEntities(ctx) };
      },
    },

    /** The image with this name. REST: GET /name/:name @throws NOT_FOUND, VALIDATION_ERROR */
    getImage: {
      rest: "GET /name/:name",
      permission: "signedIn",
      params: imageNameParams,
      async handler(ctx: Ctx<ImageNameParams>): Promise<ImageEntity> {
        return (await this.transformDocuments(ctx, {}, await this.findByName(ctx.params.name))) as ImageEntity;
      },
    },

    /** The image with this name (the reference document's name for `getImage`). REST: GET /resolve/:name @throws NOT_FOUND, VALIDATION_ERROR */
    resolveName: {
      rest: "GET /resolve/:name",
      permission: "signedIn",
      params: imageNameParams,
      async handler(ctx: Ctx<ImageNameParams>): Promise<ImageEntity> {
        return (await this.transformDocuments(ctx, {}, await this.findByName(ctx.params.name))) as ImageEntity;
      },
    },

    /** Loads the catalog files again: creates new images, updates changed ones, writes nothing for unchanged ones (admin or internal). The `tag`, `digest` and `image` a successful build recorded stand against the file while the record still holds them: they are not written, and the answer lists them in `kept` ({ name, file, fields, build, reason }; the image is also in `updated` or `unchanged` for its other fields). REST: POST /load @throws FORBIDDEN, DATABASE_UNAVAILABLE */
    loadImages: {
      rest: "POST /load",
      permission: "admin",
      params: imageEmptyParams,
      handler(ctx: Ctx<Record<string, never>>): Promise<LoadImagesResult> {
        return this.loadCatalog(ctx);
      },
    },

    /** Runs the image as a deployment: in `namespace` (default: the caller's personal namespace, created if missing), named `name` (default: after the image), routed at `vHosts` (default `<name>.<namespace>.<domain>` for an image with an HTTP port, none otherwise), the image's data directories on volumes `<name>-<volume>` (made, or kept from an earlier deployment of that name). REST: POST /:id/deploy @throws NOT_FOUND, ALREADY_EXISTS, VALIDATION_ERROR, FORBIDDEN, NAMESPACE_LOCKED, K8S_INVALID */
    deploy: {
      rest: "POST /:id/deploy",
      permission: "custom",
      params: imageDeployParams,
      async handler(ctx: Ctx<ImageDeployParams>): Promise<DeploymentEntity> {
        const p = ctx.params;
        const image = await this.findRawById(p.id);
        if (image === null) throw notFound("image", p.id);
        let ns: NamespaceEntity;
        if (p.namespace !== undefined) {
          // The caller's right to write there comes first, so that a stranger learns nothing from the checks below (a
          // 409 for a taken name would say that the namespace exists and what it holds): 404 for strangers, 403 for
          // viewers. deployments.create checks it again.
          const userID = ctx.meta.userID;
          if (userID !== undefined && !isAdmin(ctx.meta)) {
            const role = await this.roleInNamespace(p.namespace, userID);
            if (role === null) throw notFound("namespace", p.namespace);
            if (role === "viewer") {
              throw forbidden(`role 'viewer' may not deploy into namespace '${p.namespace}'`, {
                namespace: p.namespace,
                role,
              });
            }
          }
          try {
            ns = await this.broker.call<NamespaceEntity, { id: string }>("v1.k8s.namespaces.get", { id: p.namespace });
          } catch (err) {
            if (hasCode(err, 404)) throw notFound("namespace", p.namespace);
            throw err;
          }
        } else {
          const userID = ctx.meta.userID;
          if (userID === undefined) {
            throw invalid("namespace", "The 'namespace' field is required for an internal call.", "required");
          }
          ns = await this.personalNamespace(userID);
        }
        const name = p.name ?? defaultDeploymentName(String(image.name));
        const taken = await this.broker.call<unknown[], { query: Record<string, unknown>; limit: number }>(
          "v1.k8s.deployments.find",
          { query: { namespace: ns.id, name }, limit: 1 },
        );
        if (taken.length > 0) throw alreadyExists("deployment", "name", name);
        const domain = ns.domain === undefined || ns.domain === "" ? this.defaultDomain : ns.domain;
        const vHosts =
          p.vHosts !== undefined && p.vHosts.length > 0
            ? p.vHosts
            : httpPort(image.ports as ImageEntity["ports"]) === undefined
              ? []
              : [`${name}.${ns.name}.${domain}`];
        const { volumes, made } = await this.dataVolumes(ctx, image, ns.id, name);
        try {
          return await ctx.call<DeploymentEntity, Record<string, unknown>>("v1.k8s.deployments.create", {
            name,
            namespace: ns.id,
            image: p.id,
            vHosts,
            ...(volumes.length === 0 ? {} : { volumes }),
            ...(p.replicas === undefined ? {} : { replicas: p.replicas }),
          });
        } catch (err) {
          // Nothing half-made: the volumes made for this deployment go with it (kept ones stay).
          await this.removeVolumes(ctx, made);
          throw err;
        }
      },
    },
  },

  methods: {
    /**
     * The image's data directories (its `persistentVolumeClaim` volumes) as the deployment's volumes: each on the
     * namespace's volume `<deployment>-<volume>`, made now (`made`: their ids) or, kept from an earlier deployment of
     * that name, mounted again with its data. Without them a one-call postgres kept its data in the container, gone
     * at its first restart.
     */
    async dataVolumes(
      ctx: Context,
      image: RawDoc,
      nsId: string,
      deploymentName: string,
    ): Promise<{ volumes: DeploymentVolume[]; made: string[] }> {
      const wanted = ((image.volumes ?? []) as ImageEntity["volumes"]).filter(
        (v) => v.type === "persistentVolumeClaim",
      );
      const volumes: DeploymentVolume[] = [];
      const made: string[] = [];
      try {
        for (const v of wanted) {
          const claimName = dataVolumeName(
            deploymentName,
            v.name,
            volumes.map((d) => d.persistentVolumeClaim.claimName),
          );
          const kept = await ctx.call<unknown[], object>("v1.k8s.volumes.find", {
            query: { namespace: nsId, name: claimName },
            limit: 1,
          });
          if (kept.length === 0) {
            const created = await ctx.call<{ id: string }, object>("v1.k8s.volumes.create", {
              namespace: nsId,
              name: claimName,
              type: "persistentVolumeClaim",
              mountPath: v.mountPath,
            });
            made.push(created.id);
          }
          volumes.push({
            name: v.name,
            type: "persistentVolumeClaim",
            mountPath: v.mountPath,
            persistentVolumeClaim: { claimName },
          });
        }
      } catch (err) {
        await this.removeVolumes(ctx, made);
        throw err;
      }
      return { volumes, made };
    },

    async removeVolumes(ctx: Context, ids: readonly string[]): Promise<void> {
      for (const id of ids) {
        await ctx.call("v1.k8s.volumes.remove", { id }).catch((err: unknown) => {
          this.logger.warn(`volume ${id} made for a deployment that failed is left: ${(err as Error).message}`);
        });
      }
    },

    /** The caller's personal namespace `user-<id>`, created (owned by the caller) when missing. */
    async personalNamespace(userID: string): Promise<NamespaceEntity> {
      const nsName = personalNamespaceName(userID);
      for (let attempt = 0; attempt < 2; attempt += 1) {
        const found = await this.broker.call<NamespaceEntity[], { query: Record<string, unknown>; limit: number }>(
          "v1.k8s.namespaces.find",
          { query: { name: nsName }, limit: 1 },
        );
        const existing = found[0];
        if (existing !== undefined) {
          const member = existing.members.find((m) => m.userID === userID);
          if (member === undefined || member.role === "viewer") {
            throw forbidden(`the personal namespace '${nsName}' is not yours: pass 'namespace'`, { namespace: nsName });
          }
          return existing;
        }
        try {
          return await this.broker.call<NamespaceEntity, { name: string; owner: string }>("v1.k8s.namespaces.create", {
            name: nsName,
            owner: userID,
          });
        } catch (err) {
          if (!hasCode(err, 409)) throw err; // created at the same moment by another call: read it again
        }
      }
      throw alreadyExists("namespace", "name", nsName);
    },

    /** A database that was down at start came back: load the catalog now. */
    async onDbConnected(retried: boolean): Promise<void> {
      if (retried) await this.loadCatalog(null);
    },

    async findByName(name: string): Promise<RawDoc> {
      const doc = await this.findRawOne({ name });
      if (doc === null) throw notFound("image", name);
      return doc;
    },

    /**
     * The deployments that run an image, as `<namespace>/<name>`: up to IN_USE_NAMED_MAX of them, then "<n> more".
     * Without a deployments service to ask (its node away, or not run) a retryable 503: "none" is not assumed.
     */
    async deploymentsOf(imageId: string): Promise<string[]> {
      if (!this.broker.registry.actions.isAvailable(DEPLOYMENTS_FIND)) {
        throw new Errors.ServiceNotAvailableError({ action: DEPLOYMENTS_FIND });
      }
      const query = { image: imageId };
      const found = await this.broker.call<{ name: string; namespace: string }[], object>(DEPLOYMENTS_FIND, {
        query,
        fields: ["name", "namespace"],
        sort: "name",
        limit: IN_USE_NAMED_MAX,
      });
      if (found.length === 0) return [];
      const nsIds = [...new Set(found.map((d) => d.namespace))];
      // The namespaces' names say more than their ids; an id stays when its name cannot be read.
      const namespaces = await this.broker
        .call<{ id: string; name: string }[], object>("v1.k8s.namespaces.find", {
          query: { _id: { $in: nsIds } },
          fields: ["id", "name"],
        })
        .catch(() => []);
      const nsName = new Map(namespaces.map((ns) => [ns.id, ns.name]));
      const named = found.map((d) => `${nsName.get(d.namespace) ?? d.namespace}/${d.name}`);
      if (found.length < IN_USE_NAMED_MAX) return named;
      const total = await this.broker.call<number, object>("v1.k8s.deployments.count", { query });
      return total > named.length ? [...named, `${total - named.length} more`] : named;
    },

    /**
     * A change of the fields a deployment's render checks and its quota read (ports, resources, config) that would leave
     * deployments of the image unable to run is 422: an issue per deployment (IN_USE_NAMED_MAX of them, then how many
     * more), naming the image field. Otherwise the change went through, and its deployments failed at their next render
     * (or, over quota, stayed Progressing with `FailedCreate`), their owners left with a 422 on a field they never set.
     */
    async checkDeploymentsStillRun(imageId: string, changes: Record<string, unknown>): Promise<void> {
      if (!RENDER_CHECKED_FIELDS.some((f) => changes[f] !== undefined)) return;
      if (!this.broker.registry.actions.isAvailable(DEPLOYMENTS_IMAGE_CHANGE_PROBLEMS)) {
        throw new Errors.ServiceNotAvailableError({ action: DEPLOYMENTS_IMAGE_CHANGE_PROBLEMS });
      }
      const problems = await this.broker.call<ImageChangeProblem[], { id: string; changes: Record<string, unknown> }>(
        DEPLOYMENTS_IMAGE_CHANGE_PROBLEMS,
        { id: imageId, changes },
      );
      if (problems.length === 0) return;
      const issues: ValidationIssue[] = problems.slice(0, IN_USE_NAMED_MAX).map(({ deployment, issues: [first] }) => {
        const field = imageFieldOf(first?.field ?? "", changes);
        return {
          type: "breaksDeployment",
          field,
          message: `The '${field}' field would leave deployment ${deployment} unable to run: ${first?.message ?? ""}`,
          actual: deployment,
        };
      });
      const more = problems.length - issues.length;
      if (more > 0) {
        const field = issues[0]?.field ?? "";
        issues.push({
          type: "breaksDeployment",
          field,
          message: `The '${field}' field would leave ${more} more deployments of the image unable to run.`,
          actual: more,
        });
      }
      throw validationError(issues);
    },

    async loadCatalog(ctx: Context | null): Promise<LoadImagesResult> {
      const result: LoadImagesResult = { created: [], updated: [], unchanged: [], failed: [], kept: [] };
      const fail = (problem: ImageFileProblem) => {
        result.failed.push(problem);
        this.logger.error(`image file '${problem.file}': field '${problem.field}': ${problem.message}`);
      };
      let files: string[];
      try {
        files = (await readdir(this.imagesDir)).filter((f) => f.endsWith(".json")).sort();
      } catch (err) {
        fail({ file: this.imagesDir, field: "", message: `cannot read the directory: ${(err as Error).message}` });
        return result;
      }
      const seen = new Map<string, string>();
      for (const file of files) {
        let value: unknown;
        try {
          value = JSON.parse(await readFile(path.join(this.imagesDir, file), "utf8"));
        } catch (err) {
          fail({ file, field: "", message: `not valid JSON: ${(err as Error).message}` });
          continue;
        }
        const checked = this.checkImage(value);
        if (checked !== true) {
          for (const problem of checked) fail({ ...problem, file });
          continue;
        }
        const image = value as Image;
        const earlier = seen.get(image.name);
        if (earlier !== undefined) {
          fail({ file, field: "name", message: `'${image.name}' is also the name in '${earlier}'` });
          continue;
        }
        seen.set(image.name, file);
        try {
          const existing = await this.findRawOne({ name: image.name });
          if (existing === null) {
            await this.createEntity(ctx, { ...image });
            result.created.push(image.name);
            continue;
          }
          // Compared and written under the image's build lock, so that a build finishing now is not overwritten.
          await this.withBuildLock(existing._id, async () => {
            const current = (await this.findRawById(existing._id)) ?? existing;
            const standing = standingBuild(current);
            const changes: Record<string, unknown> = {};
            const kept: string[] = [];
            for (const field of IMAGE_FIELDS) {
              const next = (image as Record<string, unknown>)[field];
              if (canonical(next) === canonical(current[field])) continue;
              if (standing !== undefined && (BUILD_FIELDS as readonly string[]).includes(field)) kept.push(field);
              else changes[field] = next;
            }
            if (standing !== undefined && kept.length > 0) {
              result.kept.push({
                name: image.name,
                file,
                fields: kept,
                build: standing.id,
                reason:
                  `the image holds what build ${standing.id} pushed (${builtImageReference(standing) ?? standing.destination}); ` +
                  "an admin update of tag, digest or image replaces it",
              });
            }
            if (Object.keys(changes).length === 0) {
              result.unchanged.push(image.name);
            } else {
              await this.updateEntity(ctx, current._id, changes);
              result.updated.push(image.name);
            }
          });
        } catch (err) {
          fail({ file, field: "name", message: `not stored: ${(err as Error).message}` });
        }
      }
      this.logger.info(
        `images loaded from '${this.imagesDir}': ${result.created.length} created, ${result.updated.length} updated, ` +
          `${result.unchanged.length} unchanged, ${result.failed.length} problems` +
          (result.kept.length === 0 ? "" : `; built tag/digest kept for ${result.kept.map((k) => k.name).join(", ")}`),
      );
      return result;
    },
  },

  created() {
    this.defaultDomain = this.settings.defaultDomain ?? readConfig().defaultDomain;
    this.imagesDir = this.settings.imagesDir ?? IMAGES_DIR;
    const check = new Validator({ ...NULL_REFUSING_OPTIONS, useNewCustomCheckerFunction: true }).compile(imageSchema);
    this.checkImage = (value: unknown) => {
      if (typeof value !== "object" || value === null || Array.isArray(value)) {
        return [{ file: "", field: "", message: "must be a JSON object" }];
      }
      const res = check(value);
      if (res === true) {
        const problem = imageValueProblem(value as Partial<Image>);
        return problem === undefined ? true : [{ file: "", ...problem }];
      }
      if (!Array.isArray(res)) return [{ file: "", field: "", message: "asynchronous validation is not supported" }];
      return res.map((issue) => ({
        file: "",
        field: issue.field ?? String(issue.actual ?? ""),
        message: issue.message ?? issue.type,
      }));
    };
  },

  async started() {
    if (!this.dbState.connected) {
      this.logger.warn("database not connected: the image catalog is loaded when it connects");
      return;
    }
    await this.loadCatalog(null);
  },
};

/**
 * A secret env entry of an image that carries a value. The catalog is readable by every signed-in user (and its changes
 * are broadcast), so a secret's value never lives there: each deployment gets its own generated value (envs.createEnv),
 * and a chosen one is set per deployment with POST /envs. The value itself is never named in the problem.
 */
export function secretValueProblem(env: unknown): { field: string; message: string } | undefined {
  if (!Array.isArray(env)) return undefined;
  for (const [i, entry] of env.entries()) {
    const e = (typeof entry === "object" && entry !== null ? entry : {}) as { type?: unknown; value?: unknown };
    if (e.type === "secret" && e.value !== undefined && e.value !== "") {
      return {
        field: `env[${i}].value`,
        message: `The 'env[${i}].value' field must be empty for a secret: the catalog is readable by every user; each deployment gets a generated value.`,
      };
    }
  }
  return undefined;
}

/**
 * Requests over limits: the API server refuses such a container. (The render caps a request at its limit, so the
 * pods would run with less than the image says they need.)
 */
export function resourcesProblem(
  resources: Partial<Image["resources"]> | undefined,
): { field: string; message: string } | undefined {
  for (const res of ["cpu", "memory"] as const) {
    const limit = resources?.limits?.[res];
    const request = resources?.requests?.[res];
    if (limit !== undefined && request !== undefined && request > limit) {
      const field = `resources.requests.${res}`;
      return { field, message: `The '${field}' field must be at most resources.limits.${res}, ${limit}.` };
    }
  }
  return undefined;
}

/** What the schema cannot say of an image's fields (given ones only): a secret with a value, requests over limits. */
function imageValueProblem(image: Partial<Image>): { field: string; message: string; type: string } | undefined {
  const secret = secretValueProblem(image.env);
  if (secret !== undefined) return { ...secret, type: "secretValue" };
  const resources = resourcesProblem(image.resources);
  return resources === undefined ? undefined : { ...resources, type: "requestsOverLimits" };
}

/** Throws 422 naming the field of an imageValueProblem. */
function refuseValueProblems(image: Partial<Image>): void {
  const problem = imageValueProblem(image);
  if (problem !== undefined) throw invalid(problem.field, problem.message, problem.type);
}

/** A deployment's volume on a namespace volume, as `v1.k8s.deployments.create` takes it. */
interface DeploymentVolume {
  name: string;
  type: "persistentVolumeClaim";
  mountPath: string;
  persistentVolumeClaim: { claimName: string };
}

/** `<deployment>-<volume>`, cut to a DNS label (63), and made unique among `taken` with a number if cutting clashed. */
export function dataVolumeName(deploymentName: string, volumeName: string, taken: readonly string[] = []): string {
  const cut = (s: string, max: number) => s.slice(0, max).replace(/-+$/, "");
  let claim = cut(`${deploymentName}-${volumeName}`, DNS_1123_LABEL_MAX);
  for (let n = 2; taken.includes(claim); n += 1)
    claim = `${cut(`${deploymentName}-${volumeName}`, DNS_1123_LABEL_MAX - 4)}-${n}`;
  return claim;
}

/** A deployment name after the image's: the image name when it is a valid one, else `app-<image name>`, cut to fit. */
export function defaultDeploymentName(imageName: string): string {
  if (isValidDeploymentName(imageName)) return imageName;
  return `app-${imageName}`.slice(0, MAX_DEPLOYMENT_NAME_LENGTH).replace(/-+$/, "");
}

/**
 * `image` with the tag and/or digest it names replaced: a new tag replaces the one `image` names (and drops a digest it
 * names, which belonged to the old tag, unless a new digest is given too); a new digest replaces the one `image`
 * names. An `image` that names neither is returned as it is (the deployments render `tag`/`digest` after it). Pure.
 * `referenceWith("nginx:1.27", { tag: "1.28" })` = "nginx:1.28"; `referenceWith("localhost:5000/app", { tag: "2" })`
 * = "localhost:5000/app".
 */
export function referenceWith(image: string, change: { tag?: string; digest?: string }): string {
  const at = image.indexOf("@");
  let name = at < 0 ? image : image.slice(0, at);
  let digest = at < 0 ? undefined : image.slice(at + 1);
  const colon = name.indexOf(":", name.lastIndexOf("/") + 1);
  let tag = colon < 0 ? undefined : name.slice(colon + 1);
  if (colon >= 0) name = name.slice(0, colon);
  if (change.tag !== undefined && tag !== undefined && change.tag !== tag) {
    tag = change.tag;
    if (change.digest === undefined) digest = undefined;
  }
  if (change.digest !== undefined && digest !== undefined) digest = change.digest;
  return `${name}${tag === undefined ? "" : `:${tag}`}${digest === undefined ? "" : `@${digest}`}`;
}

/** JSON with object keys sorted, so that a reordered but equal file compares equal; undefined stays undefined. */
function canonical(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  return JSON.stringify(value, (_key, v: unknown) =>
    typeof v === "object" && v !== null && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)))
      : v,
  );
}

export default schema;

/**
 * The image field behind a deployment's issue with a changed image: its own ports or config mount path, or its
 * resources for a quota issue (which names the deployment's `resources.*` or `replicas`); else the first changed field
 * of those the render checks.
 */
function imageFieldOf(issueField: string, changes: Record<string, unknown>): string {
  if (issueField.startsWith("image.ports")) return issueField.slice("image.".length);
  if (issueField.startsWith("configMap") && changes.config !== undefined) return "config.mountPath";
  if ((issueField.startsWith("resources") || issueField === "replicas") && changes.resources !== undefined) {
    return issueField.startsWith("resources") ? issueField : "resources";
  }
  return RENDER_CHECKED_FIELDS.find((f) => changes[f] !== undefined) ?? issueField;
}
