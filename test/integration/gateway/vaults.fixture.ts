/**
 * Test fixture `v1.k8s.vaults` for the gateway tests: keeps secret values and answers them masked (as the envs service
 * does), with a route for each body-carrying method: POST, PUT, PATCH and DELETE.
 */
import type { Context, ServiceSchema } from "moleculer";
import { notFound } from "../../../lib/errors.ts";
import type { CallerMeta } from "../../../lib/meta.ts";
import { defineParams, type ParamsOf } from "../../../lib/params.ts";

const createParams = defineParams({
  $$strict: true,
  name: { type: "string", pattern: "^[a-z][a-z0-9-]*$", max: 63 },
  namespace: { type: "string", min: 1 },
  key: { type: "string", min: 1 },
  value: { type: "string", max: 64 },
});
const updateParams = defineParams({ $$strict: true, id: { type: "string", min: 1 }, value: { type: "string" } });
const removeParams = defineParams({ $$strict: true, id: { type: "string", min: 1 } });

interface Vault {
  id: string;
  name: string;
  namespace: string;
  key: string;
  value: string;
}

const schema: ServiceSchema<{ rest: string }, Record<string, never>, { vaults: Map<string, Vault>; next: number }> = {
  name: "k8s.vaults",
  version: 1,
  settings: { rest: "/v1/k8s/vaults" },
  actions: {
    /** Stores a secret value. REST: POST /v1/k8s/vaults. @throws VALIDATION_ERROR */
    create: {
      rest: "POST /",
      params: createParams,
      handler(ctx: Context<ParamsOf<typeof createParams>, CallerMeta>) {
        this.next += 1;
        const vault: Vault = { id: `v-${this.next}`, ...ctx.params };
        this.vaults.set(vault.id, vault);
        return { ...vault, value: "******" };
      },
    },
    /** Replaces a value. REST: PUT /v1/k8s/vaults/:id. @throws NOT_FOUND */
    update: {
      rest: "PUT /:id",
      params: updateParams,
      handler(ctx: Context<ParamsOf<typeof updateParams>, CallerMeta>) {
        const vault = this.vaults.get(ctx.params.id);
        if (vault === undefined) throw notFound("vault", ctx.params.id);
        vault.value = ctx.params.value;
        return { ...vault, value: "******" };
      },
    },
    /** Same as update, as a PATCH. REST: PATCH /v1/k8s/vaults/:id. @throws NOT_FOUND */
    patch: {
      rest: "PATCH /:id",
      params: updateParams,
      handler(ctx: Context<ParamsOf<typeof updateParams>, CallerMeta>) {
        return ctx.call("v1.k8s.vaults.update", ctx.params);
      },
    },
    /** Removes a vault. REST: DELETE /v1/k8s/vaults/:id. @throws NOT_FOUND */
    remove: {
      rest: "DELETE /:id",
      params: removeParams,
      handler(ctx: Context<ParamsOf<typeof removeParams>, CallerMeta>) {
        if (!this.vaults.delete(ctx.params.id)) throw notFound("vault", ctx.params.id);
        return { id: ctx.params.id, removed: true };
      },
    },
  },
  created() {
    this.vaults = new Map();
    this.next = 0;
  },
};

export default schema;
