/**
 * The Deployment controller: one ReplicaSet per pod template (`<deploy>-<pod-template-hash>`), rolling updates within
 * maxSurge/maxUnavailable (or Recreate), scaling, revisions (`deployment.kubernetes.io/revision`, reused on rollback),
 * history cleanup, and the status kubectl reads: observedGeneration, replicas, updatedReplicas, readyReplicas,
 * availableReplicas, unavailableReplicas, and the Available / Progressing / ReplicaFailure conditions with
 * kube-controller-manager's reasons and messages (progress deadline included).
 */
import type { KubeObject, StoreEvent } from "../types.ts";
import { SOURCES } from "./events.ts";
import { podTemplateHash, stableStringify } from "./hash.ts";
import type { PodTemplate, ReplicaSetSpec, ReplicaSetStatus } from "./replicasets.ts";
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
  writeStatus,
  type Condition,
  type Context,
  type Controller,
  type LabelSelector,
} from "./runtime.ts";

export const REVISION = "deployment.kubernetes.io/revision";
const DESIRED = "deployment.kubernetes.io/desired-replicas";
const MAX_REPLICAS = "deployment.kubernetes.io/max-replicas";
const HASH_LABEL = "pod-template-hash";

interface DeploymentSpec {
  replicas?: number;
  selector?: LabelSelector;
  template?: PodTemplate;
  strategy?: { type?: string; rollingUpdate?: { maxSurge?: number | string; maxUnavailable?: number | string } };
  minReadySeconds?: number;
  revisionHistoryLimit?: number;
  paused?: boolean;
  progressDeadlineSeconds?: number;
}
interface DeploymentStatus {
  observedGeneration?: number;
  replicas?: number;
  updatedReplicas?: number;
  readyReplicas?: number;
  availableReplicas?: number;
  unavailableReplicas?: number;
  conditions?: Condition[];
  collisionCount?: number;
}

/** An IntOrString ("25%" or 1) resolved against a total; percentages round up or down. */
export function resolveIntOrPercent(value: number | string | undefined, total: number, roundUp: boolean): number {
  if (value === undefined) return 0;
  if (typeof value === "number") return value;
  const m = /^(\d+)%$/.exec(value);
  if (!m) return Number.parseInt(value, 10) || 0;
  const exact = (Number(m[1]) * total) / 100;
  return roundUp ? Math.ceil(exact) : Math.floor(exact);
}

/** maxSurge and maxUnavailable of a rolling update (both 0 would deadlock: unavailable becomes 1). */
export function surgeAndUnavailable(replicas: number, spec: DeploymentSpec): { surge: number; unavailable: number } {
  if (spec.strategy?.type === "Recreate") return { surge: 0, unavailable: replicas };
  const ru = spec.strategy?.rollingUpdate ?? {};
  const surge = resolveIntOrPercent(ru.maxSurge ?? "25%", replicas, true);
  let unavailable = resolveIntOrPercent(ru.maxUnavailable ?? "25%", replicas, false);
  if (surge === 0 && unavailable === 0) unavailable = 1;
  return { surge, unavailable: Math.min(unavailable, replicas) };
}

function revisionOf(rs: KubeObject | undefined): number {
  return Number.parseInt(rs?.metadata.annotations?.[REVISION] ?? "0", 10) || 0;
}
const specReplicas = (rs: KubeObject): number => ((rs.spec ?? {}) as ReplicaSetSpec).replicas ?? 0;
const st = (rs: KubeObject | undefined): ReplicaSetStatus => statusOf<ReplicaSetStatus>(rs);

export function deploymentsController(ctx: Context): Controller {
  const name = "deployments";

  function setReplicas(d: KubeObject, rs: KubeObject, replicas: number, maxReplicas: number): KubeObject {
    const before = specReplicas(rs);
    const want = String((d.spec as DeploymentSpec).replicas ?? 1);
    if (
      before === replicas &&
      rs.metadata.annotations?.[DESIRED] === want &&
      rs.metadata.annotations?.[MAX_REPLICAS] === String(maxReplicas)
    )
      return rs;
    const next = copy(rs);
    (next.spec as ReplicaSetSpec).replicas = replicas;
    next.metadata.annotations = { ...next.metadata.annotations, [DESIRED]: want, [MAX_REPLICAS]: String(maxReplicas) };
    const saved = ctx.store.update(R.replicaSets, next);
    if (before !== replicas) {
      const verb = replicas > before ? "up" : "down";
      ctx.events.record(
        d,
        "Normal",
        "ScalingReplicaSet",
        `Scaled ${verb} replica set ${rs.metadata.name} from ${before} to ${replicas}`,
        SOURCES.deployment,
      );
    }
    return saved;
  }

  function createReplicaSet(
    d: KubeObject,
    hash: string,
    replicas: number,
    revision: number,
    maxReplicas: number,
  ): KubeObject | "collision" {
    const spec = (d.spec ?? {}) as DeploymentSpec;
    const template = copy(spec.template ?? {});
    template.metadata = { ...template.metadata, labels: { ...template.metadata?.labels, [HASH_LABEL]: hash } };
    const selector = copy(spec.selector ?? {});
    selector.matchLabels = { ...selector.matchLabels, [HASH_LABEL]: hash };
    const rsName = `${d.metadata.name}-${hash}`;
    const rs: KubeObject = {
      apiVersion: "apps/v1",
      kind: "ReplicaSet",
      metadata: {
        name: rsName,
        ...(d.metadata.namespace === undefined ? {} : { namespace: d.metadata.namespace }),
        labels: { ...template.metadata.labels },
        annotations: {
          [DESIRED]: String(spec.replicas ?? 1),
          [MAX_REPLICAS]: String(maxReplicas),
          [REVISION]: String(revision),
        },
        ownerReferences: [ownerReferenceTo(d)],
      },
      spec: {
        replicas,
        ...(spec.minReadySeconds === undefined ? {} : { minReadySeconds: spec.minReadySeconds }),
        selector,
        template,
      },
    };
    try {
      const saved = ctx.store.create(R.replicaSets, rs);
      ctx.events.record(
        d,
        "Normal",
        "ScalingReplicaSet",
        `Scaled up replica set ${rsName} from 0 to ${replicas}`,
        SOURCES.deployment,
      );
      return saved;
    } catch (err) {
      if (isAlreadyExists(err)) return "collision";
      throw err;
    }
  }

  /**
   * The pod-template-hash of a Deployment's template, computed once per generation: the store bumps
   * `metadata.generation` whenever the spec changes, and only then can the template have changed. A Deployment is
   * reconciled on every event of its ReplicaSets and pods and its status is written on many of them, so hashing its
   * template each time (a structured clone, a sorted serialization, FNV) was 5% of the sandbox's busy time while 1,000
   * deployments rolled out. Forgotten when the Deployment is deleted.
   */
  const templateHashes = new Map<string, { generation: number; collisionCount: number; hash: string }>();
  function templateHashOf(d: KubeObject, collisionCount: number): string {
    const template = (d.spec as DeploymentSpec | undefined)?.template;
    const { uid, generation } = d.metadata;
    if (uid === undefined || generation === undefined) return podTemplateHash(template, collisionCount);
    const known = templateHashes.get(uid);
    if (known?.generation === generation && known.collisionCount === collisionCount) return known.hash;
    const hash = podTemplateHash(template, collisionCount);
    templateHashes.set(uid, { generation, collisionCount, hash });
    return hash;
  }

  function reconcile(key: string): void {
    const { namespace, name: dName } = splitKey(key);
    const d = ctx.cache.get(R.deployments, namespace, dName);
    if (!d || d.metadata.deletionTimestamp !== undefined) return;
    const spec = (d.spec ?? {}) as DeploymentSpec;
    const status = statusOf<DeploymentStatus>(d);
    const replicas = spec.replicas ?? 1;
    const { surge, unavailable } = surgeAndUnavailable(replicas, spec);
    const maxReplicas = replicas + surge;
    adoptOrphans(ctx, d, R.replicaSets, (labels) => selectorMatches(spec.selector, labels));
    const owned = ctx.cache
      .controlledBy(R.replicaSets, d.metadata.uid)
      .filter((rs) => rs.metadata.deletionTimestamp === undefined);
    let collisionCount = status.collisionCount ?? 0;
    let hash = templateHashOf(d, collisionCount);
    let newRS = owned.find((rs) => rs.metadata.labels?.[HASH_LABEL] === hash);
    const others = (): KubeObject[] => owned.filter((rs) => rs !== newRS && rs.metadata.name !== newRS?.metadata.name);
    const maxOldRevision = Math.max(0, ...owned.filter((rs) => rs !== newRS).map(revisionOf));
    let progressing: Condition | undefined;

    if (!newRS && !spec.paused) {
      const hasOldPods = owned.some((rs) => specReplicas(rs) > 0 || (st(rs).replicas ?? 0) > 0);
      let initial = replicas;
      if (hasOldPods) {
        if (spec.strategy?.type === "Recreate") initial = 0;
        else {
          const total = owned.reduce((n, rs) => n + specReplicas(rs), 0);
          initial = Math.max(0, Math.min(replicas, maxReplicas - total));
        }
      }
      let created = createReplicaSet(d, hash, initial, maxOldRevision + 1, maxReplicas);
      while (created === "collision" && collisionCount < 10) {
        const existing = ctx.cache.get(R.replicaSets, namespace, `${dName}-${hash}`);
        if (existing && controllerOf(existing)?.uid === d.metadata.uid) {
          created = existing;
          break;
        }
        collisionCount++;
        hash = templateHashOf(d, collisionCount);
        created = createReplicaSet(d, hash, initial, maxOldRevision + 1, maxReplicas);
      }
      if (created === "collision") throw new Error(`cannot find a free name for the new replica set of ${key}`);
      newRS = created;
      progressing = progressingCondition(
        "NewReplicaSetCreated",
        `Created new replica set "${newRS.metadata.name}"`,
        "True",
        status,
      );
    } else if (newRS && revisionOf(newRS) <= maxOldRevision) {
      const next = copy(newRS);
      next.metadata.annotations = { ...next.metadata.annotations, [REVISION]: String(maxOldRevision + 1) };
      newRS = ctx.store.update(R.replicaSets, next);
    }

    let rsList = [...(newRS ? [newRS] : []), ...others()];
    const replace = (saved: KubeObject): void => {
      rsList = rsList.map((rs) => (rs.metadata.name === saved.metadata.name ? saved : rs));
      if (newRS && newRS.metadata.name === saved.metadata.name) newRS = saved;
    };

    if (spec.paused) {
      // Paused: only scale; the newest ReplicaSet (or the one matching the template) takes the change.
      const target = newRS ?? [...rsList].sort((a, b) => revisionOf(b) - revisionOf(a))[0];
      if (target && rsList.length === 1) replace(setReplicas(d, target, replicas, maxReplicas));
    } else if (newRS) {
      if (spec.strategy?.type === "Recreate") recreate(d, newRS, rsList, replicas, maxReplicas, replace);
      else rolling(d, newRS, rsList, replicas, surge, unavailable, maxReplicas, replace);
    }

    cleanupHistory(d, rsList, newRS);
    syncDeployment(d, newRS, rsList, collisionCount, progressing, unavailable);
  }

  function recreate(
    d: KubeObject,
    newRS: KubeObject,
    rsList: KubeObject[],
    replicas: number,
    maxReplicas: number,
    replace: (rs: KubeObject) => void,
  ): void {
    const old = rsList.filter((rs) => rs.metadata.name !== newRS.metadata.name);
    let oldRunning = false;
    for (const rs of old) {
      if (specReplicas(rs) > 0) replace(setReplicas(d, rs, 0, maxReplicas));
      if ((st(rs).replicas ?? 0) > 0 || specReplicas(rs) > 0) oldRunning = true;
    }
    if (!oldRunning) replace(setReplicas(d, newRS, replicas, maxReplicas));
  }

  function rolling(
    d: KubeObject,
    newRSIn: KubeObject,
    rsList: KubeObject[],
    replicas: number,
    surge: number,
    unavailable: number,
    maxReplicas: number,
    replace: (rs: KubeObject) => void,
  ): void {
    let newRS = newRSIn;
    const isNew = (rs: KubeObject): boolean => rs.metadata.name === newRS.metadata.name;
    const olds = (): KubeObject[] =>
      rsList
        .filter((rs) => !isNew(rs))
        .sort((a, b) => revisionOf(a) - revisionOf(b) || a.metadata.name.localeCompare(b.metadata.name));
    const activeOld = olds().filter((rs) => specReplicas(rs) > 0);
    if (activeOld.length === 0) {
      newRS = setReplicas(d, newRS, replicas, maxReplicas);
      replace(newRS);
      return;
    }
    // Scale up the new ReplicaSet within maxSurge.
    const total = rsList.reduce((n, rs) => n + specReplicas(rs), 0);
    if (specReplicas(newRS) > replicas) {
      newRS = setReplicas(d, newRS, replicas, maxReplicas);
      replace(newRS);
    } else {
      const up = Math.min(maxReplicas - total, replicas - specReplicas(newRS));
      if (up > 0) {
        newRS = setReplicas(d, newRS, specReplicas(newRS) + up, maxReplicas);
        replace(newRS);
      }
    }
    // Scale down old ReplicaSets within maxUnavailable: unhealthy replicas first, then available ones.
    const minAvailable = replicas - unavailable;
    const allPods = rsList.reduce((n, rs) => n + specReplicas(rs), 0);
    const newUnavailable = specReplicas(newRS) - (st(newRS).availableReplicas ?? 0);
    let maxScaledDown = allPods - minAvailable - newUnavailable;
    if (maxScaledDown <= 0) return;
    for (const rs of olds()) {
      if (maxScaledDown <= 0) break;
      const unhealthy = specReplicas(rs) - (st(rs).availableReplicas ?? 0);
      if (unhealthy <= 0) continue;
      const down = Math.min(maxScaledDown, unhealthy);
      replace(setReplicas(d, rs, specReplicas(rs) - down, maxReplicas));
      maxScaledDown -= down;
    }
    const available = rsList.reduce((n, rs) => n + Math.min(st(rs).availableReplicas ?? 0, specReplicas(rs)), 0);
    let room = available - minAvailable;
    for (const rs of olds()) {
      if (room <= 0) break;
      const current = specReplicas(rs);
      if (current === 0) continue;
      const down = Math.min(current, room);
      replace(setReplicas(d, rs, current - down, maxReplicas));
      room -= down;
    }
    // Too many replicas overall (scaled down mid-rollout): trim the oldest first.
    let excess = rsList.reduce((n, rs) => n + specReplicas(rs), 0) - maxReplicas;
    for (const rs of olds()) {
      if (excess <= 0) break;
      const current = specReplicas(rs);
      const down = Math.min(current, excess);
      if (down > 0) replace(setReplicas(d, rs, current - down, maxReplicas));
      excess -= down;
    }
  }

  function cleanupHistory(d: KubeObject, rsList: KubeObject[], newRS: KubeObject | undefined): void {
    const limit = (d.spec as DeploymentSpec).revisionHistoryLimit ?? 10;
    const idle = rsList
      .filter((rs) => rs !== newRS && rs.metadata.name !== newRS?.metadata.name)
      .filter(
        (rs) =>
          specReplicas(rs) === 0 &&
          (st(rs).replicas ?? 0) === 0 &&
          (rs.metadata.generation ?? 1) <= (st(rs).observedGeneration ?? 0),
      )
      .sort((a, b) => revisionOf(a) - revisionOf(b));
    for (const rs of idle.slice(0, Math.max(0, idle.length - limit))) {
      deleteQuietly(ctx.store, R.replicaSets, rs.metadata.namespace, rs.metadata.name);
    }
  }

  function progressingCondition(
    reason: string,
    message: string,
    status: Condition["status"],
    old: DeploymentStatus,
  ): Condition {
    const now = isoSeconds(ctx.now());
    const prev = findCondition(old.conditions, "Progressing");
    const sameStatus = prev?.status === status;
    return {
      type: "Progressing",
      status,
      lastUpdateTime: now,
      lastTransitionTime: sameStatus ? (prev?.lastTransitionTime ?? now) : now,
      reason,
      message,
    };
  }

  function syncDeployment(
    d: KubeObject,
    newRS: KubeObject | undefined,
    rsList: KubeObject[],
    collisionCount: number,
    created: Condition | undefined,
    maxUnavailable: number,
  ): void {
    const spec = (d.spec ?? {}) as DeploymentSpec;
    const old = statusOf<DeploymentStatus>(d);
    const now = ctx.now();
    const desired = spec.replicas ?? 1;
    const sum = (f: (s: ReplicaSetStatus) => number | undefined): number =>
      rsList.reduce((n, rs) => n + (f(st(rs)) ?? 0), 0);
    const total = sum((s) => s.replicas);
    const updated = newRS ? (st(newRS).replicas ?? 0) : 0;
    const ready = sum((s) => s.readyReplicas);
    const available = sum((s) => s.availableReplicas);
    const specTotal = rsList.reduce((n, rs) => n + specReplicas(rs), 0);
    const next: DeploymentStatus = {
      observedGeneration: d.metadata.generation ?? 1,
      replicas: total,
      updatedReplicas: updated,
      readyReplicas: ready,
      availableReplicas: available,
      unavailableReplicas: Math.max(0, specTotal - available),
      ...(collisionCount > 0 ? { collisionCount } : {}),
    };
    const conditions = (old.conditions ?? []).filter((c) => c.type !== "ReplicaFailure");
    const put = (c: Condition): void => {
      const i = conditions.findIndex((x) => x.type === c.type);
      if (i >= 0) conditions[i] = c;
      else conditions.push(c);
    };
    // Available
    const isAvailable = available >= desired - maxUnavailable;
    const prevAvail = findCondition(old.conditions, "Available");
    const availStatus = isAvailable ? "True" : "False";
    if (!prevAvail || prevAvail.status !== availStatus) {
      const ts = isoSeconds(now);
      put({
        type: "Available",
        status: availStatus,
        lastUpdateTime: ts,
        lastTransitionTime: ts,
        reason: isAvailable ? "MinimumReplicasAvailable" : "MinimumReplicasUnavailable",
        message: isAvailable
          ? "Deployment has minimum availability."
          : "Deployment does not have minimum availability.",
      });
    }
    // ReplicaFailure (copied from the new ReplicaSet)
    const failure = newRS ? findCondition(st(newRS).conditions, "ReplicaFailure") : undefined;
    if (failure) {
      const prev = findCondition(old.conditions, "ReplicaFailure");
      const ts = isoSeconds(now);
      conditions.push({
        type: "ReplicaFailure",
        status: "True",
        lastUpdateTime: prev !== undefined && prev.message === failure.message ? (prev.lastUpdateTime ?? ts) : ts,
        lastTransitionTime: prev?.lastTransitionTime ?? ts,
        reason: failure.reason ?? "FailedCreate",
        message: failure.message ?? "",
      });
    }
    // Progressing
    const rsName = newRS?.metadata.name;
    const prevProg = findCondition(old.conditions, "Progressing");
    const deadline = spec.progressDeadlineSeconds;
    const complete =
      updated === desired &&
      total === desired &&
      available === desired &&
      newRS !== undefined &&
      specReplicas(newRS) === desired;
    if (spec.paused) {
      if (prevProg?.reason !== "DeploymentPaused")
        put(progressingCondition("DeploymentPaused", "Deployment is paused", "Unknown", old));
    } else if (created) {
      put(created);
    } else if (prevProg?.reason === "DeploymentPaused") {
      put(progressingCondition("DeploymentResumed", "Deployment is resumed", "Unknown", old));
    } else if (complete && rsName) {
      if (prevProg?.reason !== "NewReplicaSetAvailable" || prevProg.status !== "True")
        put(
          progressingCondition(
            "NewReplicaSetAvailable",
            `ReplicaSet "${rsName}" has successfully progressed.`,
            "True",
            old,
          ),
        );
    } else if (
      (next.updatedReplicas ?? 0) > (old.updatedReplicas ?? 0) ||
      (next.readyReplicas ?? 0) > (old.readyReplicas ?? 0) ||
      (next.availableReplicas ?? 0) > (old.availableReplicas ?? 0) ||
      (old.replicas ?? 0) - (old.updatedReplicas ?? 0) > (next.replicas ?? 0) - (next.updatedReplicas ?? 0) ||
      !prevProg ||
      (prevProg.reason === "NewReplicaSetAvailable" && !complete) ||
      prevProg.reason === "FoundNewReplicaSet"
    ) {
      put(
        progressingCondition(
          "ReplicaSetUpdated",
          `ReplicaSet "${rsName ?? d.metadata.name}" is progressing.`,
          "True",
          old,
        ),
      );
    } else if (deadline !== undefined && prevProg.reason !== "ProgressDeadlineExceeded") {
      const from = Date.parse(prevProg.lastUpdateTime ?? prevProg.lastTransitionTime ?? "") || now.getTime();
      const left = from + deadline * 1000 - now.getTime();
      if (left <= 0) {
        put(
          progressingCondition(
            "ProgressDeadlineExceeded",
            `ReplicaSet "${rsName ?? d.metadata.name}" has timed out progressing.`,
            "False",
            old,
          ),
        );
      }
    }
    const ordered = ["Available", "Progressing", "ReplicaFailure"]
      .map((t) => conditions.find((c) => c.type === t))
      .filter((c): c is Condition => c !== undefined);
    next.conditions = [
      ...ordered,
      ...conditions.filter((c) => !["Available", "Progressing", "ReplicaFailure"].includes(c.type)),
    ];
    const prog = findCondition(next.conditions, "Progressing");
    if (prog?.reason === "NewReplicaSetAvailable" || prog?.reason === "ProgressDeadlineExceeded")
      ctx.queue.cancelAfter(name, objectKey(d.metadata.namespace, d.metadata.name));
    if (
      deadline !== undefined &&
      prog &&
      prog.reason !== "NewReplicaSetAvailable" &&
      prog.reason !== "ProgressDeadlineExceeded" &&
      !spec.paused
    ) {
      const from = Date.parse(prog.lastUpdateTime ?? "") || now.getTime();
      ctx.queue.addAfter(
        name,
        objectKey(d.metadata.namespace, d.metadata.name),
        Math.max(0, from + deadline * 1000 - now.getTime()) + 1000,
      );
    }
    // The revision annotation follows the new ReplicaSet.
    const revision = newRS?.metadata.annotations?.[REVISION];
    let current = d;
    if (revision !== undefined && d.metadata.annotations?.[REVISION] !== revision) {
      const withRevision = copy(d);
      withRevision.metadata.annotations = { ...withRevision.metadata.annotations, [REVISION]: revision };
      current = ctx.store.update(R.deployments, withRevision);
    }
    if (stableStringify(next) !== stableStringify(old))
      writeStatus(ctx.store, R.deployments, { ...current, status: next });
  }

  function relevant(ev: StoreEvent, old: KubeObject | undefined): boolean {
    if (ev.type !== "MODIFIED" || !old) return true;
    const a = ev.object.metadata;
    const b = old.metadata;
    return (
      a.generation !== b.generation ||
      a.deletionTimestamp !== b.deletionTimestamp ||
      stableStringify(a.annotations) !== stableStringify(b.annotations) ||
      stableStringify(a.labels) !== stableStringify(b.labels)
    );
  }

  return {
    name,
    onEvent(ev, old): void {
      const key = ev.resource.key;
      if (key === R.deployments) {
        if (ev.type === "DELETED" && ev.object.metadata.uid !== undefined)
          templateHashes.delete(ev.object.metadata.uid);
        if (ev.type !== "DELETED" && relevant(ev, old))
          ctx.queue.add(name, objectKey(ev.object.metadata.namespace, ev.object.metadata.name));
      } else if (key === R.replicaSets) {
        const owner = controllerOf(ev.object);
        if (owner?.kind === "Deployment") ctx.queue.add(name, objectKey(ev.object.metadata.namespace, owner.name));
      }
    },
    reconcile,
    resync(): void {
      for (const d of ctx.cache.list(R.deployments))
        ctx.queue.add(name, objectKey(d.metadata.namespace, d.metadata.name));
    },
  };
}
