/**
 * `v1.kube.list` and `listMany` for the suite's own services: read from the watch cache of the v1.kube service on this
 * node without a broker call when that cache can answer, else through the call.
 *
 * The cache path is v1.kube's own `listCached`, the half of `list` that answers from the informers (a watched, synced
 * kind; a label selector that requires our managed-by label; at most one name): the answer is the very objects the
 * call would return (the cache's own, frozen), a malformed selector the same 422. What it saves is the call itself —
 * context, validation, middlewares, ~10 µs each (docs/performance.md, changes 42 and 44). On a node without v1.kube,
 * or for a list the cache cannot answer, the call goes to v1.kube wherever it runs, as before.
 */
import type { KubernetesObject } from "@kubernetes/client-node";
import type { ServiceBroker } from "moleculer";
import { getIdFromAnnotation, recordSelector, type Component } from "../manifests/labels.ts";
import type {
  KubeListManyInput,
  KubeListManyResult,
  KubeListParams,
  KubeListResult,
} from "../../services/kube.service.ts";

/** What is read of a `v1.kube` service on this node (services/kube.service.ts `listCached`). */
interface LocalKube {
  listCached(params: KubeListParams): KubeListResult | undefined;
}

/** The v1.kube service of this node, when it has one that reads its cache synchronously. */
function localKube(broker: ServiceBroker): LocalKube | undefined {
  const kube = broker.getLocalService({ name: "kube", version: 1 }) as Partial<LocalKube> | undefined;
  return typeof kube?.listCached === "function" ? (kube as LocalKube) : undefined;
}

/** `v1.kube.list` of `params`: from this node's v1.kube cache when it answers, else the call. */
export async function kubeList(broker: ServiceBroker, params: KubeListParams): Promise<KubeListResult> {
  const cached = localKube(broker)?.listCached(params);
  if (cached !== undefined) return cached;
  return broker.call<KubeListResult, KubeListParams>("v1.kube.list", params);
}

/**
 * Whether the cluster holds an object of this kind that the suite rendered for this record (its selector, and its id
 * annotation: a label value is cut to 63 characters) and that is not being deleted.
 */
export async function recordObjectLive(
  broker: ServiceBroker,
  ref: { apiVersion: string; kind: string },
  component: Component,
  recordId: string,
): Promise<boolean> {
  const { items } = await kubeList(broker, { ...ref, labelSelector: recordSelector(component, recordId) });
  return items.some((o) => o.metadata?.deletionTimestamp === undefined && getIdFromAnnotation(o) === recordId);
}

/**
 * The items of each of `lists`, in the order asked: from this node's v1.kube cache when it answers them all, else in
 * one `v1.kube.listMany` call.
 */
export async function kubeListMany(
  broker: ServiceBroker,
  lists: KubeListManyInput["lists"],
): Promise<KubernetesObject[][]> {
  const kube = localKube(broker);
  if (kube !== undefined) {
    const cached: KubernetesObject[][] = [];
    for (const list of lists) {
      const items = kube.listCached(list)?.items;
      if (items === undefined) break;
      cached.push(items);
    }
    if (cached.length === lists.length) return cached;
  }
  const res = await broker.call<KubeListManyResult, KubeListManyInput>("v1.kube.listMany", { lists });
  return res.lists.map((list) => list.items);
}
