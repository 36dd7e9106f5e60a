/**
 * The scheduler and the kubelet of the sandbox's single node: pods get `spec.nodeName`, an IP, and go Pending
 * (ContainerCreating) -> Running/Ready after podReadyDelayMs, with the kubelet's events. Images under
 * `sandbox.invalid/` never pull (ErrImagePull <-> ImagePullBackOff, bounded retries); `sandbox.invalid/crash...`
 * starts, exits 1 and goes CrashLoopBackOff with restarts counting up (bounded). Pods of Jobs (and pods with
 * restartPolicy Never/OnFailure) run for jobDurationMs and succeed; with a `sandbox.invalid/` image they fail.
 * Build pods (kaniko/buildkit with `--destination`) terminate with `{"digest":"sha256:..."}` as their message.
 */
import type { KubeObject, StoreEvent } from "../types.ts";
import { buildDestination, buildDigest, isCrashingImage, isUnpullableImage } from "../synthetic.ts";
import { NODE_NAME, SOURCES } from "./events.ts";
import { fnv32a, sha256Hex } from "./hash.ts";
import { claimProblem, envProblem, mountProblem, type Lookup } from "./podrefs.ts";
import { addQuantities, compareQuantities, maxQuantity, tryParseQuantity, ZERO, type Quantity } from "./quantity.ts";
import {
  R,
  controllerOf,
  copy,
  findCondition,
  isNotFound,
  isoSeconds,
  objectKey,
  splitKey,
  statusOf,
  writeStatus,
  type Condition,
  type Context,
  type Controller,
} from "./runtime.ts";

export const HOST_IP = "172.18.0.2";
/** Image pull attempts and crash restarts the sandbox models before it stops scheduling more. */
export const MAX_PULL_ATTEMPTS = 6;
export const MAX_RESTARTS = 8;

export interface ContainerSpec {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  ports?: { name?: string; containerPort?: number; protocol?: string }[];
}
export interface PodSpec {
  nodeName?: string;
  restartPolicy?: string;
  containers?: ContainerSpec[];
  initContainers?: ContainerSpec[];
}
interface TerminatedState {
  exitCode: number;
  reason: string;
  message?: string;
  startedAt: string;
  finishedAt: string;
  containerID?: string;
}
interface ContainerStatusOut {
  name: string;
  state?: {
    running?: { startedAt?: string };
    waiting?: { reason?: string; message?: string };
    terminated?: TerminatedState;
  };
  lastState?: { terminated?: TerminatedState };
  ready?: boolean;
  started?: boolean;
  restartCount?: number;
}
export interface PodStatus {
  phase?: string;
  podIP?: string;
  conditions?: Condition[];
  containerStatuses?: ContainerStatusOut[];
  startTime?: string;
}

type Plan = "run" | "pull-fail" | "crash" | "complete" | "fail" | "init";

interface Ctr {
  name: string;
  /** An init container (runs to completion before the others start). */
  init?: boolean;
  image: string;
  plan: Plan;
  state: "waiting" | "running" | "terminated";
  reason?: string;
  message?: string;
  startedAt?: string;
  finishedAt?: string;
  exitCode?: number;
  terminationMessage?: string;
  restartCount: number;
  ready: boolean;
  started: boolean;
  pulled: boolean;
  pullAttempts: number;
  last?: TerminatedState;
  containerID?: string;
}

interface Runtime {
  uid: string;
  ipReleased?: boolean;
  key: string;
  podIP: string;
  startTime: string;
  containers: Ctr[];
  inits: Ctr[];
  transitions: Record<string, string>;
  conditionState: Record<string, string>;
}

/** Is the pod Ready (condition Ready=True)? */
export function podReady(pod: KubeObject): boolean {
  return findCondition(statusOf<PodStatus>(pod).conditions, "Ready")?.status === "True";
}

export function podTerminal(pod: KubeObject): boolean {
  const phase = statusOf<PodStatus>(pod).phase;
  return phase === "Succeeded" || phase === "Failed";
}

/** Pod is counted by its controller: not terminal, not being deleted. */
export function podActive(pod: KubeObject): boolean {
  return !podTerminal(pod) && pod.metadata.deletionTimestamp === undefined;
}

/** "nginx:1.27" -> "docker.io/library/nginx:1.27", as the container runtime reports images. */
export function normalizeImage(image: string): string {
  const [name = image, digest] = image.split("@");
  const first = name.split("/")[0] ?? "";
  const hasRegistry = name.includes("/") && (first.includes(".") || first.includes(":") || first === "localhost");
  let ref = hasRegistry ? name : name.includes("/") ? `docker.io/${name}` : `docker.io/library/${name}`;
  const last = ref.slice(ref.lastIndexOf("/") + 1);
  if (digest === undefined && !last.includes(":")) ref += ":latest";
  return digest === undefined ? ref : `${ref}@${digest}`;
}

export function imageID(image: string): string {
  const normalized = normalizeImage(image);
  const repo = normalized.split("@")[0]?.replace(/:[^/:]*$/, "") ?? normalized;
  return `${repo}@sha256:${sha256Hex(`image:${normalized}`)}`;
}

/** What the single node offers and how it is labelled. */
export const NODE_ALLOCATABLE: Record<string, string> = { cpu: "8", memory: "16Gi", "ephemeral-storage": "100Gi" };
export const NODE_LABELS: Record<string, string> = {
  "kubernetes.io/hostname": "sandbox-node-1",
  "kubernetes.io/os": "linux",
  "kubernetes.io/arch": "amd64",
  "node-role.kubernetes.io/control-plane": "",
};

/** The scheduler's verdict for the node: undefined when the pod fits, else the FailedScheduling message. */
export function unschedulableReason(spec: PodSpec & { nodeSelector?: Record<string, string> }): string | undefined {
  const reasons: string[] = [];
  for (const [k, v] of Object.entries(spec.nodeSelector ?? {})) {
    if (NODE_LABELS[k] !== v) {
      reasons.push("1 node(s) didn't match Pod's node affinity/selector");
      break;
    }
  }
  for (const res of Object.keys(NODE_ALLOCATABLE)) {
    let sum: Quantity = ZERO;
    for (const c of spec.containers ?? [])
      sum = addQuantities(sum, tryParseQuantity(c.resources?.requests?.[res]) ?? ZERO);
    for (const c of spec.initContainers ?? [])
      sum = maxQuantity(sum, tryParseQuantity(c.resources?.requests?.[res]) ?? ZERO);
    const capacity = tryParseQuantity(NODE_ALLOCATABLE[res]) ?? ZERO;
    if (compareQuantities(sum, capacity) > 0) reasons.push(`1 Insufficient ${res}`);
  }
  if (reasons.length === 0) return undefined;
  const preemption = reasons.some((r) => r.startsWith("1 Insufficient"))
    ? "1 No preemption victims found for incoming pod"
    : "1 Preemption is not helpful for scheduling";
  return `0/1 nodes are available: ${reasons.join(", ")}. preemption: 0/1 nodes are available: ${preemption}.`;
}

/** Allocates pod IPs in 10.244.0.0/16 (.1 to .254 of each /24), unique among live pods. */
class PodIPs {
  readonly #used = new Set<string>();
  #next = 0;
  reserve(ip: string): void {
    this.#used.add(ip);
  }
  release(ip: string | undefined): void {
    if (ip !== undefined) this.#used.delete(ip);
  }
  allocate(): string {
    for (let i = 0; i < 65536; i++) {
      const n = this.#next++ % (256 * 254);
      const ip = `10.244.${Math.floor(n / 254)}.${(n % 254) + 1}`;
      if (!this.#used.has(ip)) {
        this.#used.add(ip);
        return ip;
      }
    }
    return "10.244.255.254";
  }
}

function planFor(pod: KubeObject, c: ContainerSpec): Plan {
  const spec = pod.spec as PodSpec | undefined;
  const completes = controllerOf(pod)?.kind === "Job" || (spec?.restartPolicy ?? "Always") !== "Always";
  if (isUnpullableImage(c.image)) {
    if (completes) return "fail";
    return isCrashingImage(c.image) ? "crash" : "pull-fail";
  }
  return completes ? "complete" : "run";
}

function qosClass(containers: ContainerSpec[]): string {
  let any = false;
  let guaranteed = true;
  for (const c of containers) {
    const req = c.resources?.requests ?? {};
    const lim = c.resources?.limits ?? {};
    if (Object.keys(req).length > 0 || Object.keys(lim).length > 0) any = true;
    for (const r of ["cpu", "memory"]) {
      if (lim[r] === undefined || (req[r] !== undefined && req[r] !== lim[r])) guaranteed = false;
    }
  }
  if (!any) return "BestEffort";
  return guaranteed ? "Guaranteed" : "Burstable";
}

function imageSize(image: string): number {
  return 20_000_000 + (fnv32a(image) % 180_000_000);
}

function initPlan(c: ContainerSpec): Plan {
  if (isCrashingImage(c.image)) return "crash";
  if (isUnpullableImage(c.image)) return "pull-fail";
  return "init";
}

/** Does an init container that can never complete hold the pod back? */
function initBlocked(spec: PodSpec): boolean {
  return (spec.initContainers ?? []).some((c) => initPlan(c) !== "init");
}

/**
 * Init containers as the kubelet leaves them: those before the first one that cannot complete have Completed;
 * that one is about to be started (and will fail the way its image does); those after it wait.
 */
function initContainers(uid: string, spec: PodSpec): Ctr[] {
  let blocked = false;
  return (spec.initContainers ?? []).map((c, n) => {
    const plan = initPlan(c);
    const base: Ctr = {
      name: c.name,
      init: true,
      image: c.image ?? "",
      plan,
      state: "waiting",
      reason: "PodInitializing",
      restartCount: 0,
      ready: false,
      started: false,
      pulled: false,
      pullAttempts: 0,
    };
    if (blocked) return base;
    if (plan !== "init") {
      blocked = true;
      return { ...base, reason: "ContainerCreating" };
    }
    return {
      ...base,
      state: "terminated",
      exitCode: 0,
      reason: "Completed",
      ready: true,
      pulled: true,
      containerID: `containerd://${sha256Hex(`${uid}:init:${c.name}:${n}`)}`,
    };
  });
}

export function podsController(ctx: Context): Controller {
  const name = "pods";
  const runtimes = new Map<string, Runtime>();
  const ips = new PodIPs();
  const now = (): string => isoSeconds(ctx.now());
  const backoff = (n: number): number => Math.max(ctx.podReadyDelayMs * 5, 50) * 2 ** Math.max(0, n - 1);

  const timerName = (rt: Runtime, c: Ctr): string => `pod:${rt.uid}:${c.name}`;
  const clearTimers = (rt: Runtime): void => {
    for (const c of [...rt.inits, ...rt.containers]) ctx.timers.clear(timerName(rt, c));
  };
  /** A finished pod gives its IP back once (it may be handed out again while the pod object still shows it). */
  const releaseIP = (rt: Runtime): void => {
    if (rt.ipReleased) return;
    rt.ipReleased = true;
    ips.release(rt.podIP);
  };
  const forget = (rt: Runtime): void => {
    clearTimers(rt);
    releaseIP(rt);
    runtimes.delete(rt.uid);
  };

  /** The pod as stored now, if it is still the one this runtime is for. */
  const current = (rt: Runtime): KubeObject | undefined => {
    const { namespace, name: n } = splitKey(rt.key);
    const pod = ctx.cache.get(R.pods, namespace, n);
    if (!pod || pod.metadata.uid !== rt.uid || pod.metadata.deletionTimestamp !== undefined) {
      forget(rt);
      return undefined;
    }
    return pod;
  };

  const event = (pod: KubeObject, c: Ctr | undefined, type: "Normal" | "Warning", reason: string, message: string) =>
    ctx.events.record(
      pod,
      type,
      reason,
      message,
      SOURCES.kubelet,
      c ? `spec.${c.init ? "initContainers" : "containers"}{${c.name}}` : undefined,
    );

  function phaseOf(rt: Runtime): string {
    const all = rt.containers;
    if (all.length > 0 && all.every((c) => c.state === "terminated")) {
      return all.every((c) => c.exitCode === 0) ? "Succeeded" : "Failed";
    }
    if (all.some((c) => !c.started && c.last === undefined && c.state !== "terminated")) return "Pending";
    return "Running";
  }

  function containerStatus(c: Ctr): Record<string, unknown> {
    let state: Record<string, unknown>;
    if (c.state === "running") state = { running: { startedAt: c.startedAt } };
    else if (c.state === "terminated") {
      state = {
        terminated: {
          exitCode: c.exitCode ?? 0,
          reason: c.reason ?? "Completed",
          ...(c.terminationMessage === undefined ? {} : { message: c.terminationMessage }),
          startedAt: c.startedAt,
          finishedAt: c.finishedAt,
          containerID: c.containerID,
        },
      };
    } else
      state = { waiting: { reason: c.reason ?? "ContainerCreating", ...(c.message ? { message: c.message } : {}) } };
    return {
      ...(c.containerID === undefined ? {} : { containerID: c.containerID }),
      image: normalizeImage(c.image),
      imageID: c.pulled ? imageID(c.image) : "",
      lastState: c.last ? { terminated: c.last } : {},
      name: c.name,
      ready: c.ready,
      restartCount: c.restartCount,
      started: c.started && c.state === "running",
      state,
    };
  }

  function condition(
    rt: Runtime,
    type: string,
    status: "True" | "False",
    reason?: string,
    message?: string,
  ): Condition {
    if (rt.conditionState[type] !== status) {
      rt.conditionState[type] = status;
      rt.transitions[type] = now();
    }
    return {
      type,
      status,
      lastProbeTime: null,
      lastTransitionTime: rt.transitions[type] ?? now(),
      ...(reason === undefined ? {} : { reason }),
      ...(message === undefined ? {} : { message }),
    };
  }

  function buildStatus(rt: Runtime, pod: KubeObject): Record<string, unknown> {
    const phase = phaseOf(rt);
    const unready = rt.containers.filter((c) => !c.ready).map((c) => c.name);
    const done = phase === "Succeeded" || phase === "Failed";
    const readyStatus = unready.length === 0 && !done ? "True" : "False";
    const reason = done ? (phase === "Succeeded" ? "PodCompleted" : "PodFailed") : "ContainersNotReady";
    const message = done ? undefined : `containers with unready status: [${unready.join(" ")}]`;
    const spec = pod.spec as PodSpec;
    const incomplete = rt.inits.filter((i) => i.state !== "terminated").map((i) => i.name);
    const conditions = [
      condition(rt, "PodReadyToStartContainers", done ? "False" : "True"),
      incomplete.length > 0
        ? condition(
            rt,
            "Initialized",
            "False",
            "ContainersNotInitialized",
            `containers with incomplete status: [${incomplete.join(" ")}]`,
          )
        : condition(rt, "Initialized", "True", done && rt.inits.length > 0 ? "PodCompleted" : undefined),
      readyStatus === "True" ? condition(rt, "Ready", "True") : condition(rt, "Ready", "False", reason, message),
      readyStatus === "True"
        ? condition(rt, "ContainersReady", "True")
        : condition(rt, "ContainersReady", "False", reason, message),
      condition(rt, "PodScheduled", "True"),
    ];
    const status: Record<string, unknown> = {
      phase,
      conditions,
      hostIP: HOST_IP,
      hostIPs: [{ ip: HOST_IP }],
      podIP: rt.podIP,
      podIPs: [{ ip: rt.podIP }],
      startTime: rt.startTime,
      ...(rt.inits.length === 0 ? {} : { initContainerStatuses: rt.inits.map((c) => containerStatus(c)) }),
      containerStatuses: rt.containers.map((c) => containerStatus(c)),
      qosClass: qosClass([...(spec.containers ?? []), ...(spec.initContainers ?? [])]),
    };
    return status;
  }

  function write(rt: Runtime): void {
    const pod = current(rt);
    if (!pod) return;
    try {
      writeStatus(ctx.store, R.pods, { ...pod, status: buildStatus(rt, pod) });
    } catch (err) {
      if (isNotFound(err)) forget(rt);
      else throw err;
    }
  }

  /** Sets the timer for a container's next modeled step. */
  /** Images on the node: with imagePullPolicy IfNotPresent (or Never) they are not pulled again. */
  const nodeImages = new Set<string>();
  function present(pod: KubeObject, c: Ctr): boolean {
    if (!nodeImages.has(normalizeImage(c.image))) return false;
    const spec = (pod.spec ?? {}) as PodSpec;
    const list = c.init ? spec.initContainers : spec.containers;
    const policy = (list?.find((x) => x.name === c.name) as { imagePullPolicy?: string } | undefined)?.imagePullPolicy;
    return policy !== "Always";
  }

  /** Runs a container's next step after `ms`, then writes the pod's status. */
  function after(rt: Runtime, c: Ctr, ms: number, fn: (pod: KubeObject) => void): void {
    ctx.timers.set(timerName(rt, c), ms, () => {
      const pod = current(rt);
      if (!pod) return;
      try {
        fn(pod);
        write(rt);
      } catch (err) {
        ctx.log(`kubelet: ${rt.key}: ${err instanceof Error ? err.message : String(err)}`);
      }
    });
  }

  function lookup(namespace: string | undefined): Lookup {
    return (resource, n) =>
      resource === R.pvcs ? ctx.cache.get(R.pvcs, namespace, n) : ctx.store.getRef(resource, namespace, n);
  }

  /** Pods waiting for a ConfigMap or Secret of their namespace (retried when one is written). */
  const waitingOnConfig = new Map<string, Set<string>>();
  /** Unscheduled pods waiting for claims of their namespace (retried when a claim changes). */
  const waitingOnClaims = new Map<string, Set<string>>();
  function waitIn(map: Map<string, Set<string>>, namespace: string | undefined, id: string): void {
    const ns = namespace ?? "";
    let set = map.get(ns);
    if (!set) map.set(ns, (set = new Set()));
    set.add(id);
  }

  function arm(rt: Runtime, c: Ctr): void {
    const t = timerName(rt, c);
    const later = (ms: number, fn: (pod: KubeObject) => void): void => after(rt, c, ms, fn);
    if (c.state === "waiting") {
      if (c.reason === "ContainerCreating" || c.reason === undefined)
        later(ctx.podReadyDelayMs, (p) => start(rt, p, c));
      else if (c.reason === "ErrImagePull" && c.pullAttempts <= MAX_PULL_ATTEMPTS)
        later(backoff(c.pullAttempts), (p) => imagePullBackOff(p, c));
      else if (c.reason === "ImagePullBackOff" && c.pullAttempts < MAX_PULL_ATTEMPTS)
        later(backoff(c.pullAttempts), (p) => {
          event(p, c, "Normal", "Pulling", `Pulling image "${c.image}"`);
          start(rt, p, c);
        });
      else if (c.reason === "CrashLoopBackOff" && c.restartCount < MAX_RESTARTS)
        later(backoff(c.restartCount), (p) => start(rt, p, c));
      else ctx.timers.clear(t);
    } else if (c.state === "running" && c.plan === "crash")
      later(Math.max(ctx.podReadyDelayMs, 10) * 2, (p) => crash(rt, p, c));
    else if (c.state === "running" && (c.plan === "complete" || c.plan === "fail"))
      later(ctx.jobDurationMs, (p) => finish(rt, p, c));
    else ctx.timers.clear(t);
  }

  function start(rt: Runtime, pod: KubeObject, c: Ctr): void {
    if (c.plan === "pull-fail") {
      c.pullAttempts++;
      const detail = `rpc error: code = NotFound desc = failed to pull and unpack image "${normalizeImage(c.image)}": failed to resolve reference "${normalizeImage(c.image)}": ${normalizeImage(c.image)}: not found`;
      event(pod, c, "Warning", "Failed", `Failed to pull image "${c.image}": ${detail}`);
      event(pod, c, "Warning", "Failed", "Error: ErrImagePull");
      Object.assign(c, { state: "waiting", reason: "ErrImagePull", message: detail, ready: false });
      return arm(rt, c);
    }
    const ns = pod.metadata.namespace;
    const mount = mountProblem(pod, lookup(ns));
    if (mount) {
      const message = `MountVolume.SetUp failed for volume "${mount.volume}" : ${mount.message}`;
      event(pod, undefined, "Warning", "FailedMount", message);
      Object.assign(c, { state: "waiting", reason: "ContainerCreating", ready: false });
      delete c.message;
      waitIn(waitingOnConfig, ns, rt.uid);
      return;
    }
    if (!c.pulled) {
      if (present(pod, c)) {
        event(pod, c, "Normal", "Pulled", `Container image "${c.image}" already present on machine`);
      } else {
        // The first pull of an image takes a while; later ones (policy Always) only check the registry.
        const cached = nodeImages.has(normalizeImage(c.image));
        const seconds = cached
          ? (0.1 + (fnv32a(c.image) % 400) / 1000).toFixed(3)
          : (0.4 + (fnv32a(c.image) % 4000) / 1000).toFixed(3);
        event(
          pod,
          c,
          "Normal",
          "Pulled",
          `Successfully pulled image "${c.image}" in ${seconds}s (${seconds}s including waiting). Image size: ${imageSize(c.image)} bytes.`,
        );
        nodeImages.add(normalizeImage(c.image));
      }
      c.pulled = true;
    } else if (c.restartCount > 0) {
      event(pod, c, "Normal", "Pulled", `Container image "${c.image}" already present on machine`);
    }
    const containerSpec = ((pod.spec as PodSpec).containers ?? []).find((x) => x.name === c.name);
    const envError = containerSpec ? envProblem(containerSpec, ns ?? "", lookup(ns)) : undefined;
    if (envError !== undefined) {
      event(pod, c, "Warning", "Failed", `Error: ${envError}`);
      Object.assign(c, { state: "waiting", reason: "CreateContainerConfigError", message: envError, ready: false });
      waitIn(waitingOnConfig, ns, rt.uid);
      return;
    }
    event(pod, c, "Normal", "Created", `Created container: ${c.name}`);
    event(pod, c, "Normal", "Started", `Started container ${c.name}`);
    c.state = "running";
    delete c.reason;
    delete c.message;
    c.startedAt = now();
    c.started = true;
    c.containerID = `containerd://${sha256Hex(`${rt.uid}:${c.name}:${c.restartCount}`)}`;
    c.ready = c.plan !== "crash";
    arm(rt, c);
  }

  function imagePullBackOff(pod: KubeObject, c: Ctr): void {
    event(pod, c, "Normal", "BackOff", `Back-off pulling image "${c.image}"`);
    event(pod, c, "Warning", "Failed", "Error: ImagePullBackOff");
    Object.assign(c, { reason: "ImagePullBackOff", message: `Back-off pulling image "${c.image}"` });
    const rt = runtimes.get(pod.metadata.uid ?? "");
    if (rt) arm(rt, c);
  }

  function crash(rt: Runtime, pod: KubeObject, c: Ctr): void {
    c.last = {
      exitCode: 1,
      reason: "Error",
      startedAt: c.startedAt ?? now(),
      finishedAt: now(),
      ...(c.containerID === undefined ? {} : { containerID: c.containerID }),
    };
    c.restartCount++;
    const seconds = Math.min(10 * 2 ** (c.restartCount - 1), 300);
    const where = `${pod.metadata.name}_${pod.metadata.namespace ?? ""}(${rt.uid})`;
    Object.assign(c, {
      state: "waiting",
      reason: "CrashLoopBackOff",
      message: `back-off ${seconds >= 60 ? `${Math.floor(seconds / 60)}m${seconds % 60}s` : `${seconds}s`} restarting failed container=${c.name} pod=${where}`,
      ready: false,
    });
    event(pod, c, "Warning", "BackOff", `Back-off restarting failed container ${c.name} in pod ${where}`);
    arm(rt, c);
  }

  function finish(rt: Runtime, pod: KubeObject, c: Ctr): void {
    const ok = c.plan === "complete";
    c.state = "terminated";
    c.exitCode = ok ? 0 : 1;
    c.reason = ok ? "Completed" : "Error";
    c.finishedAt = now();
    c.ready = false;
    const spec = ((pod.spec as PodSpec).containers ?? []).find((s) => s.name === c.name);
    const destination = ok && spec ? buildDestination(spec) : undefined;
    if (destination !== undefined) {
      const seed = controllerOf(pod)?.uid ?? rt.uid;
      c.terminationMessage = JSON.stringify({ digest: buildDigest(destination, seed) });
    }
    arm(rt, c);
    if (rt.containers.every((x) => x.state === "terminated")) releaseIP(rt);
  }

  /** First sight of a pod: schedule it (or pick up where a restored pod was). */
  /** A pod the node cannot take stays Pending, PodScheduled=False, with a FailedScheduling warning. */
  function refuse(pod: KubeObject, message: string): void {
    const status = statusOf<PodStatus>(pod);
    const prev = findCondition(status.conditions, "PodScheduled");
    if (prev?.status === "False" && prev.message === message) return;
    ctx.events.record(pod, "Warning", "FailedScheduling", message, SOURCES.scheduler);
    const condition: Condition = {
      type: "PodScheduled",
      status: "False",
      lastProbeTime: null,
      lastTransitionTime: now(),
      reason: "Unschedulable",
      message,
    };
    writeStatus(ctx.store, R.pods, {
      ...pod,
      status: {
        phase: "Pending",
        conditions: [condition],
        qosClass: qosClass([
          ...(((pod.spec ?? {}) as PodSpec).containers ?? []),
          ...(((pod.spec ?? {}) as PodSpec).initContainers ?? []),
        ]),
      },
    });
  }

  function admitPod(pod: KubeObject): void {
    const uid = pod.metadata.uid ?? "";
    const spec = (pod.spec ?? {}) as PodSpec;
    const status = statusOf<PodStatus>(pod);
    if (!spec.nodeName) {
      const claims = claimProblem(pod, lookup(pod.metadata.namespace));
      if (claims !== undefined) {
        waitIn(waitingOnClaims, pod.metadata.namespace, objectKey(pod.metadata.namespace, pod.metadata.name));
        return refuse(
          pod,
          `0/1 nodes are available: ${claims}. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.`,
        );
      }
      const refused = unschedulableReason(spec);
      if (refused !== undefined) return refuse(pod, refused);
    }
    const previous = new Map((status.containerStatuses ?? []).map((s) => [s.name, s]));
    const fresh = !spec.nodeName || status.containerStatuses === undefined;
    const rt: Runtime = {
      uid,
      key: objectKey(pod.metadata.namespace, pod.metadata.name),
      podIP: !fresh && status.podIP ? status.podIP : ips.allocate(),
      startTime: (!fresh && status.startTime) || now(),
      inits: initContainers(uid, spec),
      transitions: {},
      conditionState: {},
      containers: (spec.containers ?? []).map((c) => {
        const s = fresh ? undefined : previous.get(c.name);
        const ctr: Ctr = {
          name: c.name,
          image: c.image ?? "",
          plan: planFor(pod, c),
          state: "waiting",
          reason: "ContainerCreating",
          restartCount: s?.restartCount ?? 0,
          ready: s?.ready ?? false,
          started: s?.started ?? false,
          pulled: s !== undefined && s.state?.waiting?.reason !== "ContainerCreating",
          pullAttempts: 0,
        };
        if (s?.state?.running)
          Object.assign(ctr, { state: "running", startedAt: s.state.running.startedAt, reason: undefined });
        else if (s?.state?.terminated) {
          const t = s.state.terminated;
          Object.assign(ctr, {
            state: "terminated",
            exitCode: t.exitCode,
            reason: t.reason,
            startedAt: t.startedAt,
            finishedAt: t.finishedAt,
          });
          if (t.message !== undefined) ctr.terminationMessage = t.message;
        } else if (s?.state?.waiting) {
          ctr.reason = s.state.waiting.reason ?? "ContainerCreating";
          if (s.state.waiting.message !== undefined) ctr.message = s.state.waiting.message;
          if (ctr.reason === "ErrImagePull" || ctr.reason === "ImagePullBackOff") ctr.pullAttempts = 1;
        }
        if (s?.lastState?.terminated) ctr.last = s.lastState.terminated;
        if (initBlocked(spec) && ctr.state === "waiting") ctr.reason = "PodInitializing";
        if (ctr.state !== "waiting" || ctr.last)
          ctr.containerID = `containerd://${sha256Hex(`${uid}:${c.name}:${ctr.restartCount}`)}`;
        return ctr;
      }),
    };
    for (const c of status.conditions ?? []) {
      rt.conditionState[c.type] = c.status;
      if (c.lastTransitionTime) rt.transitions[c.type] = c.lastTransitionTime;
    }
    if (!fresh) ips.reserve(rt.podIP);
    runtimes.set(uid, rt);
    if (!spec.nodeName) {
      const scheduled = copy(pod);
      (scheduled.spec as PodSpec).nodeName = NODE_NAME;
      ctx.store.update(R.pods, scheduled);
      const ns = pod.metadata.namespace ?? "";
      ctx.events.record(
        pod,
        "Normal",
        "Scheduled",
        `Successfully assigned ${ns}/${pod.metadata.name} to ${NODE_NAME}`,
        SOURCES.scheduler,
      );
    }
    for (const i of rt.inits) {
      if (i.state !== "terminated") continue;
      i.startedAt ??= rt.startTime;
      i.finishedAt ??= rt.startTime;
    }
    if (fresh) {
      const stuck = rt.inits.filter((i) => i.state === "waiting" && i.reason === "ContainerCreating");
      const pulling = stuck.length > 0 ? stuck : rt.containers;
      for (const c of pulling)
        if (c.plan !== "pull-fail" && !present(pod, c))
          event(pod, c, "Normal", "Pulling", `Pulling image "${c.image}"`);
      for (const c of pulling)
        if (c.plan === "pull-fail") event(pod, c, "Normal", "Pulling", `Pulling image "${c.image}"`);
    }
    const terminalAlready = fresh ? false : status.phase === "Succeeded" || status.phase === "Failed";
    if (terminalAlready) return;
    write(rt);
    for (const c of rt.inits) if (c.state === "waiting" && c.reason === "ContainerCreating") arm(rt, c);
    for (const c of rt.containers) {
      if (c.state === "waiting" && c.reason === "CreateContainerConfigError")
        after(rt, c, ctx.podReadyDelayMs, (p) => start(rt, p, c));
      else arm(rt, c);
    }
  }

  return {
    name,
    onEvent(ev: StoreEvent): void {
      const ns = ev.object.metadata.namespace ?? "";
      if ((ev.resource.key === R.configMaps || ev.resource.key === "secrets") && ev.type !== "DELETED") {
        const waiting = waitingOnConfig.get(ns);
        if (!waiting) return;
        waitingOnConfig.delete(ns);
        for (const uid of waiting) {
          const rt = runtimes.get(uid);
          if (!rt) continue;
          for (const c of rt.containers) {
            if (
              c.state === "waiting" &&
              (c.reason === "ContainerCreating" || c.reason === "CreateContainerConfigError")
            )
              after(rt, c, Math.min(ctx.podReadyDelayMs, 100), (p) => start(rt, p, c));
          }
        }
        return;
      }
      if (ev.resource.key === R.pvcs) {
        const waiting = waitingOnClaims.get(ns);
        if (!waiting) return;
        waitingOnClaims.delete(ns);
        for (const key of waiting) ctx.queue.add(name, key);
        return;
      }
      if (ev.resource.key !== R.pods) return;
      const uid = ev.object.metadata.uid ?? "";
      if (ev.type === "DELETED") {
        const rt = runtimes.get(uid);
        if (rt) forget(rt);
        return;
      }
      if (ev.object.metadata.deletionTimestamp !== undefined) {
        const rt = runtimes.get(uid);
        if (rt) clearTimers(rt);
        return;
      }
      if (!runtimes.has(uid)) ctx.queue.add(name, objectKey(ev.object.metadata.namespace, ev.object.metadata.name));
    },
    reconcile(key: string): void {
      const { namespace, name: n } = splitKey(key);
      const pod = ctx.cache.get(R.pods, namespace, n);
      if (!pod || pod.metadata.deletionTimestamp !== undefined) return;
      if (runtimes.has(pod.metadata.uid ?? "")) return;
      if (podTerminal(pod)) {
        return;
      }
      admitPod(pod);
    },
    resync(): void {
      for (const pod of ctx.cache.list(R.pods)) {
        if (podActive(pod)) ctx.queue.add(name, objectKey(pod.metadata.namespace, pod.metadata.name));
        const ip = statusOf<PodStatus>(pod).podIP;
        if (ip && podActive(pod)) ips.reserve(ip);
      }
    },
  };
}
