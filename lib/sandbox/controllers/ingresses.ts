/**
 * An ingress controller in the manner of ingress-nginx: shortly after an Ingress is created or changed it is
 * "synced" (Normal Sync event) and its status gets the node's address in `status.loadBalancer.ingress`.
 * An Ingress of the class `sandbox-unavailable` is never picked up (no controller serves that class).
 */
import { SOURCES } from "./events.ts";
import { HOST_IP } from "./pods.ts";
import { stableStringify } from "./hash.ts";
import { objectKey, splitKey, statusOf, writeStatus, type Context, type Controller } from "./runtime.ts";

export const INGRESSES = "ingresses.networking.k8s.io";
const UNSERVED_CLASS = "sandbox-unavailable";

export function ingressesController(ctx: Context): Controller {
  const name = "ingresses";

  function reconcile(key: string): void {
    const { namespace, name: ingName } = splitKey(key);
    const ing = ctx.store.getRef(INGRESSES, namespace, ingName);
    if (!ing || ing.metadata.deletionTimestamp !== undefined) return;
    const cls = (ing.spec as { ingressClassName?: string } | undefined)?.ingressClassName;
    if (cls === UNSERVED_CLASS) return;
    ctx.events.record(ing, "Normal", "Sync", "Scheduled for sync", SOURCES.ingress);
    const status = { loadBalancer: { ingress: [{ ip: HOST_IP }] } };
    if (stableStringify(statusOf(ing)) !== stableStringify(status))
      writeStatus(ctx.store, INGRESSES, { ...ing, status });
  }

  return {
    name,
    onEvent(ev, old): void {
      if (ev.resource.key !== INGRESSES || ev.type === "DELETED") return;
      if (ev.type === "MODIFIED" && old?.metadata.generation === ev.object.metadata.generation) return;
      ctx.queue.addAfter(name, objectKey(ev.object.metadata.namespace, ev.object.metadata.name), ctx.podReadyDelayMs);
    },
    reconcile,
    resync(): void {
      if (!ctx.store.types.byKey(INGRESSES)) return;
      for (const ing of ctx.store.listRefs(INGRESSES)) {
        if (statusOf<{ loadBalancer?: { ingress?: unknown[] } }>(ing).loadBalancer?.ingress === undefined)
          ctx.queue.add(name, objectKey(ing.metadata.namespace, ing.metadata.name));
      }
    },
  };
}
