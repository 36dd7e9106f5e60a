// Checked by `tsc --noEmit` (npm run typecheck): the types derived from schemas are what handlers rely on.
import { defineParams, type ParamsIn, type ParamsOf } from "../../lib/params.ts";

export const scaleParams = defineParams({
  $$strict: true,
  name: { type: "string", max: 63 },
  replicas: { type: "number", integer: true, min: 0 },
  reason: { type: "string", optional: true },
  mode: { type: "enum", values: ["fast", "slow"] as const, default: "fast" },
  tags: { type: "array", items: "string", optional: true },
  meta: { type: "object", props: { a: { type: "number" } }, optional: true },
  labels: { type: "record", key: { type: "string" }, value: { type: "string" }, optional: true },
});
type Scale = ParamsOf<typeof scaleParams>;
type ScaleIn = ParamsIn<typeof scaleParams>;

export const ok: Scale = { name: "web", replicas: 2, mode: "slow", tags: ["a"], meta: { a: 1 }, labels: { k: "v" } };
export const okIn: ScaleIn = { name: "web", replicas: 2 };
// @ts-expect-error replicas is a number
export const badType: Scale = { name: "web", replicas: "2", mode: "fast" };
// @ts-expect-error name is required
export const missing: Scale = { replicas: 2, mode: "fast" };
// @ts-expect-error mode is one of the enum values
export const badEnum: Scale = { name: "web", replicas: 2, mode: "medium" };
// @ts-expect-error mode has a default, so a handler always sees it
export const noDefault: Scale = { name: "web", replicas: 2 };
// @ts-expect-error meta.a is a number
export const badNested: ScaleIn = { name: "web", replicas: 2, meta: { a: "x" } };
