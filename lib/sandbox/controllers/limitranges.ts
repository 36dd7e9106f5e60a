/**
 * The LimitRanger admission plugin: containers without requests/limits get the `defaultRequest`/`default` of the
 * namespace's LimitRanges (type Container), with the `kubernetes.io/limit-ranger` annotation; then min/max are
 * enforced with kube-apiserver's messages. Runs before the quota plugin, so defaults count against quota.
 */
import type { KubeObject } from "../types.ts";
import type { AdmissionRequest } from "../store.ts";
import { forbiddenError } from "../status.ts";
import type { ContainerSpec, PodSpec } from "./pods.ts";
import { compareQuantities, tryParseQuantity } from "./quantity.ts";
import { R, type Context, type Controller } from "./runtime.ts";

interface LimitRangeItem {
  type?: string;
  default?: Record<string, string>;
  defaultRequest?: Record<string, string>;
  max?: Record<string, string>;
  min?: Record<string, string>;
}

/** Applies the defaults of `limitRanges` to a pod in place; returns the limit-ranger annotation text, if any. */
export function applyLimitRangeDefaults(pod: KubeObject, limitRanges: KubeObject[]): string | undefined {
  const spec = (pod.spec ?? {}) as PodSpec;
  const notes: string[] = [];
  for (const lr of limitRanges) {
    const items = ((lr.spec ?? {}) as { limits?: LimitRangeItem[] }).limits ?? [];
    for (const item of items) {
      if (item.type !== "Container") continue;
      const defaultRequest = item.defaultRequest ?? item.default ?? {};
      const defaultLimit = item.default ?? {};
      for (const c of [...(spec.initContainers ?? []), ...(spec.containers ?? [])]) {
        const resources = (c.resources ??= {});
        const setRequests: string[] = [];
        const setLimits: string[] = [];
        for (const [res, value] of Object.entries(defaultLimit)) {
          if (resources.limits?.[res] !== undefined) continue;
          resources.limits = { ...resources.limits, [res]: value };
          setLimits.push(res);
        }
        for (const [res, value] of Object.entries(defaultRequest)) {
          if (resources.requests?.[res] !== undefined) continue;
          resources.requests = { ...resources.requests, [res]: value };
          setRequests.push(res);
        }
        if (setRequests.length > 0) notes.push(`${setRequests.sort().join(", ")} request for container ${c.name}`);
        if (setLimits.length > 0) notes.push(`${setLimits.sort().join(", ")} limit for container ${c.name}`);
      }
    }
  }
  return notes.length === 0 ? undefined : `LimitRanger plugin set: ${notes.join("; ")}`;
}

/** The min/max violations of a pod's containers, as kube-apiserver words them. */
export function limitRangeViolations(pod: KubeObject, limitRanges: KubeObject[]): string[] {
  const spec = (pod.spec ?? {}) as PodSpec;
  const errors: string[] = [];
  const containers: ContainerSpec[] = [...(spec.initContainers ?? []), ...(spec.containers ?? [])];
  for (const lr of limitRanges) {
    for (const item of ((lr.spec ?? {}) as { limits?: LimitRangeItem[] }).limits ?? []) {
      if (item.type !== "Container") continue;
      for (const c of containers) {
        for (const [res, text] of Object.entries(item.min ?? {})) {
          const min = tryParseQuantity(text);
          const req = c.resources?.requests?.[res];
          if (!min) continue;
          if (req === undefined) errors.push(`minimum ${res} usage per Container is ${text}.  No request is specified`);
          else if (compareQuantities(tryParseQuantity(req) ?? min, min) < 0)
            errors.push(`minimum ${res} usage per Container is ${text}, but request is ${req}`);
        }
        for (const [res, text] of Object.entries(item.max ?? {})) {
          const max = tryParseQuantity(text);
          const lim = c.resources?.limits?.[res];
          if (!max) continue;
          if (lim === undefined) errors.push(`maximum ${res} usage per Container is ${text}.  No limit is specified`);
          else if (compareQuantities(tryParseQuantity(lim) ?? max, max) > 0)
            errors.push(`maximum ${res} usage per Container is ${text}, but limit is ${lim}`);
        }
      }
    }
  }
  return errors;
}

/** The min/max violations of a claim's storage request (LimitRange items of type PersistentVolumeClaim). */
export function claimLimitViolations(pvc: KubeObject, limitRanges: KubeObject[]): string[] {
  const errors: string[] = [];
  const text = (pvc.spec as { resources?: { requests?: { storage?: string } } } | undefined)?.resources?.requests
    ?.storage;
  const request = tryParseQuantity(text);
  for (const lr of limitRanges) {
    for (const item of ((lr.spec ?? {}) as { limits?: LimitRangeItem[] }).limits ?? []) {
      if (item.type !== "PersistentVolumeClaim") continue;
      const min = tryParseQuantity(item.min?.storage);
      const max = tryParseQuantity(item.max?.storage);
      if (min && (!request || compareQuantities(request, min) < 0))
        errors.push(
          `minimum storage usage per PersistentVolumeClaim is ${item.min?.storage ?? ""}, but request is ${text ?? "0"}`,
        );
      if (max && request && compareQuantities(request, max) > 0)
        errors.push(
          `maximum storage usage per PersistentVolumeClaim is ${item.max?.storage ?? ""}, but request is ${text ?? ""}`,
        );
    }
  }
  return errors;
}

export function limitRangeController(ctx: Context): Controller {
  function admit(request: AdmissionRequest): void {
    if (request.operation === "DELETE") return;
    if (request.resource.key === R.pvcs) {
      const size = (o: KubeObject | undefined): unknown =>
        (o?.spec as { resources?: { requests?: { storage?: string } } } | undefined)?.resources?.requests?.storage;
      // Updates are checked only when they change the request (a resize), not when a controller binds the claim.
      if (request.operation === "UPDATE" && size(request.object) === size(request.oldObject)) return;
      const ranges = ctx.cache.list(R.limitRanges, request.object.metadata.namespace ?? "");
      const errors = ranges.length === 0 ? [] : claimLimitViolations(request.object, ranges);
      if (errors.length > 0) {
        throw forbiddenError(
          request.resource,
          request.object.metadata.name,
          errors.length === 1 ? (errors[0] ?? "") : `[${errors.join(", ")}]`,
        );
      }
      return;
    }
    if (request.operation !== "CREATE" || request.resource.key !== R.pods) return;
    const pod = request.object;
    const ranges = ctx.cache.list(R.limitRanges, pod.metadata.namespace ?? "");
    if (ranges.length === 0) return;
    const note = applyLimitRangeDefaults(pod, ranges);
    if (note) pod.metadata.annotations = { ...pod.metadata.annotations, "kubernetes.io/limit-ranger": note };
    const errors = limitRangeViolations(pod, ranges);
    if (errors.length > 0) {
      throw forbiddenError(
        request.resource,
        pod.metadata.name,
        errors.length === 1 ? (errors[0] ?? "") : `[${errors.join(", ")}]`,
      );
    }
  }
  ctx.store.addAdmission((request) => {
    if (!ctx.stopped()) admit(request);
  });
  return { name: "limitranges", reconcile: () => undefined };
}
