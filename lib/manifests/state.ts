/**
 * Pure summaries of a deployment's live objects (its Deployment and pods from the watch cache) for `pods` and `state`
 * (mixins/deployment-operations.mixin.ts). No I/O, no clock: the same objects in, the same summary out — which is
 * what lets `StateAnswers` give the last summary of a record again while its inputs are the same ones.
 */
import type { V1ContainerStatus, V1Deployment, V1Pod } from "@kubernetes/client-node";
import type { DeploymentCondition, DeploymentContainerInfo, DeploymentPodInfo, DeploymentState } from "../entities.ts";
import { sharedAnswer } from "../shared-answer.ts";

/** Container waiting reasons that mean the pod cannot run as it is. */
export const FAILING_WAITING_REASONS: ReadonlySet<string> = new Set([
  "ErrImagePull",
  "ImagePullBackOff",
  "InvalidImageName",
  "ErrImageNeverPull",
  "CrashLoopBackOff",
  "CreateContainerConfigError",
  "CreateContainerError",
  "RunContainerError",
]);

/** Terminated reasons that are not a failure. */
const CLEAN_EXITS: ReadonlySet<string> = new Set(["Completed"]);

function timeString(t: unknown): string | undefined {
  if (t === undefined || t === null) return undefined;
  if (t instanceof Date) return t.toISOString();
  return String(t);
}

/*
 * The summaries below are built field by field, in the order their JSON shows them: `state` answers every read of a
 * dashboard, and a conditional spread (`...(x === undefined ? {} : { x })`) costs an object and a property copy each.
 */

/** One container status as `pods` shows it. */
export function containerInfoOf(cs: V1ContainerStatus): DeploymentContainerInfo {
  const { waiting, running, terminated } = cs.state ?? {};
  const info: Omit<DeploymentContainerInfo, "state"> & { state?: DeploymentContainerInfo["state"] } = {
    name: cs.name,
    ready: cs.ready,
    restartCount: cs.restartCount ?? 0,
  };
  if (cs.image !== undefined && cs.image !== "") info.image = cs.image;
  const lastReason = cs.lastState?.terminated?.reason;
  if (lastReason !== undefined) info.lastTerminationReason = lastReason;
  const ended = waiting === undefined ? terminated : undefined;
  if (waiting !== undefined || ended !== undefined) {
    const detail = waiting ?? ended;
    info.state = waiting !== undefined ? "waiting" : "terminated";
    if (detail?.reason !== undefined) info.reason = detail.reason;
    if (detail?.message !== undefined) info.message = detail.message;
  } else {
    info.state = running !== undefined ? "running" : "unknown";
  }
  return info as DeploymentContainerInfo;
}

/** One pod as `pods` shows it: containers without a status yet are listed as waiting (ContainerCreating). */
export function podInfoOf(pod: V1Pod): DeploymentPodInfo {
  const status = pod.status;
  const main = status?.containerStatuses ?? [];
  const init = status?.initContainerStatuses ?? [];
  const containers: DeploymentContainerInfo[] = [];
  for (const cs of init) containers.push(containerInfoOf(cs));
  for (const cs of main) containers.push(containerInfoOf(cs));
  for (const c of pod.spec?.containers ?? []) {
    if (!init.some((s) => s.name === c.name) && !main.some((s) => s.name === c.name)) {
      const waiting: DeploymentContainerInfo = {
        name: c.name,
        state: "waiting",
        reason: "ContainerCreating",
        ready: false,
        restartCount: 0,
      };
      if (c.image !== undefined) waiting.image = c.image;
      containers.push(waiting);
    }
  }
  const readyCondition = status?.conditions?.find((c) => c.type === "Ready");
  const ready =
    readyCondition !== undefined ? readyCondition.status === "True" : main.length > 0 && main.every((c) => c.ready);
  let restarts = 0;
  for (const c of main) restarts += c.restartCount ?? 0;
  const info: Omit<DeploymentPodInfo, "terminating" | "containers"> &
    Partial<Pick<DeploymentPodInfo, "terminating" | "containers">> = {
    name: pod.metadata?.name ?? "",
    phase: status?.phase ?? "Unknown",
    ready,
    restarts,
  };
  if (pod.spec?.nodeName !== undefined) info.node = pod.spec.nodeName;
  const startTime = timeString(status?.startTime);
  if (startTime !== undefined) info.startTime = startTime;
  info.terminating = pod.metadata?.deletionTimestamp !== undefined && pod.metadata.deletionTimestamp !== null;
  const hash = pod.metadata?.labels?.["pod-template-hash"];
  if (hash !== undefined) info.templateHash = hash;
  const reason = containers.find((c) => c.reason !== undefined && c.state !== "running")?.reason;
  if (reason !== undefined) info.reason = reason;
  info.containers = containers;
  return info as DeploymentPodInfo;
}

/** The pods sorted by name. */
export function podInfosOf(pods: readonly V1Pod[]): DeploymentPodInfo[] {
  return pods.map(podInfoOf).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Whether the Deployment has not yet reached `desired` with its current template (kubectl rollout status' rule). */
export function rolloutInProgress(dep: V1Deployment | undefined, desired: number): boolean {
  if (dep === undefined) return false;
  const s = dep.status ?? {};
  if ((s.observedGeneration ?? 0) < (dep.metadata?.generation ?? 0)) return true;
  const progressing = s.conditions?.find((c) => c.type === "Progressing");
  if (progressing?.status === "False" && progressing.reason === "ProgressDeadlineExceeded") return false;
  const updated = s.updatedReplicas ?? 0;
  const replicas = s.replicas ?? 0;
  const available = s.availableReplicas ?? 0;
  return updated < desired || replicas > updated || available < updated;
}

/** The most telling failure: a failing container of a live pod, then the Deployment's conditions, then an ended container. */
export function lastFailureOf(
  dep: V1Deployment | undefined,
  pods: readonly DeploymentPodInfo[],
): { reason: string; message?: string } | undefined {
  const live = pods.filter((p) => !p.terminating);
  for (const pod of live) {
    for (const c of pod.containers) {
      if (c.state === "waiting" && c.reason !== undefined && FAILING_WAITING_REASONS.has(c.reason)) {
        return { reason: c.reason, message: c.message ?? `pod ${pod.name}, container ${c.name}: ${c.reason}` };
      }
    }
  }
  const conditions = dep?.status?.conditions ?? [];
  const stalled = conditions.find((c) => c.type === "Progressing" && c.status === "False");
  if (stalled !== undefined) {
    return {
      reason: stalled.reason ?? "ProgressDeadlineExceeded",
      ...(stalled.message === undefined ? {} : { message: stalled.message }),
    };
  }
  const replicaFailure = conditions.find((c) => c.type === "ReplicaFailure" && c.status === "True");
  if (replicaFailure !== undefined) {
    return {
      reason: replicaFailure.reason ?? "ReplicaFailure",
      ...(replicaFailure.message === undefined ? {} : { message: replicaFailure.message }),
    };
  }
  for (const pod of live) {
    for (const c of pod.containers) {
      if (c.state === "terminated" && c.reason !== undefined && !CLEAN_EXITS.has(c.reason)) {
        return { reason: c.reason, message: c.message ?? `pod ${pod.name}, container ${c.name}: ${c.reason}` };
      }
      if (c.lastTerminationReason !== undefined && !CLEAN_EXITS.has(c.lastTerminationReason)) {
        return {
          reason: c.lastTerminationReason,
          message: `pod ${pod.name}, container ${c.name} restarted after ${c.lastTerminationReason}`,
        };
      }
    }
  }
  return undefined;
}

export interface StateInput {
  id: string;
  name: string;
  namespace: string;
  revision: number;
  desired: number;
  /** The phase as the deployments service computes it. */
  phase: DeploymentState["phase"];
}

/** The dashboard summary of one deployment from its Deployment object (absent: not applied yet) and pods. */
export function deploymentStateOf(
  input: StateInput,
  dep: V1Deployment | undefined,
  pods: readonly V1Pod[],
): DeploymentState {
  const s = dep?.status ?? {};
  const conditions: DeploymentCondition[] = (s.conditions ?? []).map((c) => {
    const condition: DeploymentCondition = { type: c.type, status: c.status };
    if (c.reason !== undefined) condition.reason = c.reason;
    if (c.message !== undefined) condition.message = c.message;
    return condition;
  });
  const infos = podInfosOf(pods);
  const podPhases: Record<string, number> = {};
  for (const p of infos) podPhases[p.phase] = (podPhases[p.phase] ?? 0) + 1;
  const failure = lastFailureOf(dep, infos);
  const state: Omit<DeploymentState, "rolloutInProgress"> & Partial<Pick<DeploymentState, "rolloutInProgress">> = {
    id: input.id,
    name: input.name,
    namespace: input.namespace,
    revision: input.revision,
    phase: input.phase,
    desired: input.desired,
    replicas: s.replicas ?? 0,
    updated: s.updatedReplicas ?? 0,
    ready: s.readyReplicas ?? 0,
    available: s.availableReplicas ?? 0,
    conditions,
    pods: infos,
    podPhases,
  };
  if (failure !== undefined) state.lastFailureReason = failure.reason;
  if (failure?.message !== undefined) state.lastFailureMessage = failure.message;
  state.rolloutInProgress = rolloutInProgress(dep, input.desired);
  return state as DeploymentState;
}

/** What a remembered summary was made from: the input's values, the objects by identity. */
interface RememberedState {
  input: StateInput;
  dep: V1Deployment | undefined;
  pods: readonly V1Pod[];
  state: DeploymentState;
}

function sameInput(a: StateInput, b: StateInput): boolean {
  return (
    a.id === b.id &&
    a.name === b.name &&
    a.namespace === b.namespace &&
    a.revision === b.revision &&
    a.desired === b.desired &&
    a.phase === b.phase
  );
}

function sameObjects(a: readonly object[], b: readonly object[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The last `deploymentStateOf` of each record, given again while nothing it was made from changed: the same input
 * values and the same Deployment and pod objects (the watch cache puts a new frozen object in place of a changed one,
 * so identity says unchanged). The summary is a shared answer (lib/shared-answer.ts): deep-frozen, its JSON written
 * once by the gateway. Kept per record object (a WeakMap: a record replaced or removed takes its entry with it).
 */
export class StateAnswers {
  readonly #byRecord = new WeakMap<object, RememberedState>();

  /** `deploymentStateOf(input, dep, pods)`, shared and frozen; the same object as last time for `record` if unchanged. */
  answer(record: object, input: StateInput, dep: V1Deployment | undefined, pods: readonly V1Pod[]): DeploymentState {
    const known = this.#byRecord.get(record);
    if (known !== undefined && known.dep === dep && sameInput(known.input, input) && sameObjects(known.pods, pods)) {
      return known.state;
    }
    const state = sharedAnswer(deploymentStateOf(input, dep, pods));
    this.#byRecord.set(record, { input, dep, pods, state });
    return state;
  }
}
