/**
 * The ReplicaSet controller: keeps `spec.replicas` pods `<rs>-<5 chars>` (ownerReference controller: true), deletes
 * the surplus (not-ready and newest first), and writes status (replicas, fullyLabeledReplicas, readyReplicas,
 * availableReplicas, observedGeneration, ReplicaFailure). A refused pod create (quota, terminating namespace...)
 * records a Warning FailedCreate event and is retried with a bounded back-off, and at once when quota or pods in
 * the namespace change.
 */
import type { KubeObject, StoreEvent } from "../types.ts";
import { SOURCES } from "./events.ts";
import { randomSuffix, stableStringify } from "./hash.ts";
import { podActive, podReady, type PodStatus } from "./pods.ts";
import {
  R,
  adoptOrphans,
  controllerOf,
  copy,
  deleteQuietly,
  findCondition,
  isAlreadyExists,
  isoSeconds,
  objectKey,
  ownerReferenceTo,
  selectorMatches,
  splitKey,
  statusOf,
  statusOfError,
  writeStatus,
  type Condition,
  type Context,
  type Controller,
  type LabelSelector,
} from "./runtime.ts";

export interface PodTemplate {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
}
export interface ReplicaSetSpec {
  replicas?: number;
  minReadySeconds?: number;
  selector?: LabelSelector;
  template?: PodTemplate;
}
export interface ReplicaSetStatus {
  replicas?: number;
  fullyLabeledReplicas?: number;
  readyReplicas?: number;
  availableReplicas?: number;
  observedGeneration?: number;
  conditions?: Condition[];
}

/** At most this many pods are created or deleted per sync (the real controller's burst is 500). */
const BURST = 500;

/** Is the pod available: Ready for at least minReadySeconds? Returns ms still to wait when not yet. */
export function availableIn(pod: KubeObject, minReadySeconds: number, now: Date): number {
  if (!podReady(pod)) return Number.POSITIVE_INFINITY;
  if (minReadySeconds <= 0) return 0;
  const since = findCondition(statusOf<PodStatus>(pod).conditions, "Ready")?.lastTransitionTime;
  const at = since ? Date.parse(since) : now.getTime();
  return Math.max(0, at + minReadySeconds * 1000 - now.getTime());
}

/** Builds a pod from a template, owned by `owner`. */
export function podFromTemplate(owner: KubeObject, template: PodTemplate | undefined, name: string): KubeObject {
  const t = copy(template ?? {});
  const labels = t.metadata?.labels;
  const annotations = t.metadata?.annotations;
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name,
      generateName: `${owner.metadata.name}-`,
      ...(owner.metadata.namespace === undefined ? {} : { namespace: owner.metadata.namespace }),
      ...(labels === undefined ? {} : { labels }),
      ...(annotations === undefined ? {} : { annotations }),
      ownerReferences: [ownerReferenceTo(owner)],
    },
    spec: t.spec ?? {},
  };
}

/** Creates one pod for `owner`, retrying a name clash; throws the store's error otherwise. */
export function createOwnedPod(ctx: Context, owner: KubeObject, template: PodTemplate | undefined): KubeObject {
  for (let attempt = 0; ; attempt++) {
    const pod = podFromTemplate(owner, template, `${owner.metadata.name}-${randomSuffix()}`);
    try {
      return ctx.store.create(R.pods, pod);
    } catch (err) {
      if (!isAlreadyExists(err) || attempt >= 5) throw err;
    }
  }
}

export function replicaSetsController(ctx: Context): Controller {
  const name = "replicasets";
  /** ReplicaSets whose last pod create was refused, with the number of refusals in a row. */
  const failing = new Map<string, number>();

  function deletionRank(pod: KubeObject): [number, number, string] {
    const s = statusOf<PodStatus>(pod);
    const scheduled = (pod.spec as { nodeName?: string } | undefined)?.nodeName ? 1 : 0;
    const phase = s.phase === "Pending" ? 0 : s.phase === "Running" ? 2 : 1;
    const ready = podReady(pod) ? 1 : 0;
    return [scheduled + phase + ready * 4, -Date.parse(pod.metadata.creationTimestamp ?? "0"), pod.metadata.name];
  }

  function reconcile(key: string): void {
    const { namespace, name: rsName } = splitKey(key);
    const rs = ctx.cache.get(R.replicaSets, namespace, rsName);
    if (!rs || rs.metadata.deletionTimestamp !== undefined) {
      failing.delete(key);
      ctx.timers.clear(`rs-retry:${key}`);
      return;
    }
    const spec = (rs.spec ?? {}) as ReplicaSetSpec;
    const desired = spec.replicas ?? 1;
    adoptOrphans(ctx, rs, R.pods, (labels) => selectorMatches(spec.selector, labels), podActive);
    // Pods whose labels no longer match are released (taken out of the set, e.g. to debug them) and replaced.
    for (const pod of ctx.cache.controlledBy(R.pods, rs.metadata.uid)) {
      if (selectorMatches(spec.selector, pod.metadata.labels) || pod.metadata.deletionTimestamp !== undefined) continue;
      const released = copy(pod);
      released.metadata.ownerReferences = (released.metadata.ownerReferences ?? []).filter(
        (o) => o.uid !== rs.metadata.uid,
      );
      if (released.metadata.ownerReferences.length === 0) delete released.metadata.ownerReferences;
      ctx.store.update(R.pods, released);
    }
    const owned = ctx.cache.controlledBy(R.pods, rs.metadata.uid);
    const active = owned.filter(podActive);
    let failure: string | undefined;
    const diff = desired - active.length;
    if (diff > 0 && !ctx.timers.has(`rs-retry:${key}`)) {
      for (let i = 0; i < Math.min(diff, BURST); i++) {
        try {
          const pod = createOwnedPod(ctx, rs, spec.template);
          ctx.events.record(rs, "Normal", "SuccessfulCreate", `Created pod: ${pod.metadata.name}`, SOURCES.replicaSet);
        } catch (err) {
          failure = statusOfError(err).message;
          ctx.events.record(rs, "Warning", "FailedCreate", `Error creating: ${failure}`, SOURCES.replicaSet);
          break;
        }
      }
      if (failure !== undefined) {
        const n = (failing.get(key) ?? 0) + 1;
        failing.set(key, n);
        ctx.timers.set(`rs-retry:${key}`, Math.min(250 * 2 ** Math.min(n - 1, 7), 30_000), () =>
          ctx.queue.add(name, key),
        );
      } else {
        failing.delete(key);
      }
    } else if (diff > 0) {
      failure = findCondition(statusOf<ReplicaSetStatus>(rs).conditions, "ReplicaFailure")?.message;
    } else {
      failing.delete(key);
      ctx.timers.clear(`rs-retry:${key}`);
    }
    if (diff < 0) {
      const victims = [...active].sort((a, b) => {
        const ra = deletionRank(a);
        const rb = deletionRank(b);
        return ra[0] - rb[0] || ra[1] - rb[1] || (ra[2] < rb[2] ? -1 : 1);
      });
      for (const pod of victims.slice(0, Math.min(-diff, BURST))) {
        if (deleteQuietly(ctx.store, R.pods, pod.metadata.namespace, pod.metadata.name)) {
          ctx.events.record(rs, "Normal", "SuccessfulDelete", `Deleted pod: ${pod.metadata.name}`, SOURCES.replicaSet);
        }
      }
    }
    writeRsStatus(rs, failure);
  }

  function writeRsStatus(rs: KubeObject, failure: string | undefined): void {
    const spec = (rs.spec ?? {}) as ReplicaSetSpec;
    const pods = ctx.cache.controlledBy(R.pods, rs.metadata.uid).filter(podActive);
    const now = ctx.now();
    const minReady = spec.minReadySeconds ?? 0;
    const templateLabels = spec.template?.metadata?.labels ?? {};
    let ready = 0;
    let available = 0;
    let fullyLabeled = 0;
    let wait = Number.POSITIVE_INFINITY;
    for (const pod of pods) {
      if (selectorMatches({ matchLabels: templateLabels }, pod.metadata.labels)) fullyLabeled++;
      if (podReady(pod)) ready++;
      const inMs = availableIn(pod, minReady, now);
      if (inMs === 0) available++;
      else if (Number.isFinite(inMs)) wait = Math.min(wait, inMs);
    }
    if (Number.isFinite(wait)) ctx.queue.addAfter(name, objectKey(rs.metadata.namespace, rs.metadata.name), wait + 5);
    const old = statusOf<ReplicaSetStatus>(rs);
    const oldFailure = findCondition(old.conditions, "ReplicaFailure");
    const conditions: Condition[] =
      failure === undefined
        ? []
        : [
            {
              type: "ReplicaFailure",
              status: "True",
              reason: "FailedCreate",
              message: failure,
              lastTransitionTime: oldFailure?.lastTransitionTime ?? isoSeconds(now),
            },
          ];
    const status: ReplicaSetStatus = {
      replicas: pods.length,
      fullyLabeledReplicas: fullyLabeled,
      readyReplicas: ready,
      availableReplicas: available,
      observedGeneration: rs.metadata.generation ?? 1,
      ...(conditions.length === 0 ? {} : { conditions }),
    };
    if (stableStringify(status) === stableStringify(old)) return;
    writeStatus(ctx.store, R.replicaSets, { ...rs, status });
  }

  function podChanged(ev: StoreEvent, old: KubeObject | undefined): boolean {
    if (ev.type !== "MODIFIED" || !old) return true;
    const a = statusOf<PodStatus>(ev.object);
    const b = statusOf<PodStatus>(old);
    return (
      a.phase !== b.phase ||
      podReady(ev.object) !== podReady(old) ||
      ev.object.metadata.deletionTimestamp !== old.metadata.deletionTimestamp ||
      stableStringify(ev.object.metadata.labels) !== stableStringify(old.metadata.labels)
    );
  }

  return {
    name,
    onEvent(ev, old): void {
      const key = ev.resource.key;
      const ns = ev.object.metadata.namespace;
      if (key === R.replicaSets) {
        if (ev.type === "MODIFIED" && old && old.metadata.generation === ev.object.metadata.generation) {
          if (old.metadata.deletionTimestamp === ev.object.metadata.deletionTimestamp) return;
        }
        ctx.queue.add(name, objectKey(ns, ev.object.metadata.name));
      } else if (key === R.pods) {
        const owner = controllerOf(ev.object);
        if (owner?.kind === "ReplicaSet" && podChanged(ev, old)) ctx.queue.add(name, objectKey(ns, owner.name));
        // Quota frees up when a pod goes or finishes; readiness changes free nothing.
        const finished = ev.type === "MODIFIED" && old !== undefined && podActive(old) && !podActive(ev.object);
        if (ev.type === "DELETED" || finished) retryFailing(ns);
      } else if (key === R.quotas || key === R.limitRanges) {
        if (ev.type !== "MODIFIED" || old?.metadata.generation !== ev.object.metadata.generation) retryFailing(ns);
      }
    },
    reconcile,
    resync(): void {
      for (const rs of ctx.cache.list(R.replicaSets))
        ctx.queue.add(name, objectKey(rs.metadata.namespace, rs.metadata.name));
    },
  };

  /** Something that may free quota changed in `ns`: retry the refused creates there now. */
  function retryFailing(ns: string | undefined): void {
    if (failing.size === 0) return;
    for (const key of failing.keys()) {
      if (splitKey(key).namespace !== ns) continue;
      ctx.timers.clear(`rs-retry:${key}`);
      ctx.queue.add(name, key);
    }
  }
}
