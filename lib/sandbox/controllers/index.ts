/**
 * The sandbox's controllers: they make the store behave like a small cluster. Event driven: one store subscription
 * feeds an informer-like cache and a de-duplicating per-object work queue; timers only model delays (pod start-up,
 * image pull and crash back-off, job run time, progress deadlines, TTLs) and are all cleared by stop().
 *
 * - admission (in this order): defaulting (pods, templates, Deployments, Jobs, Services, PVCs + default storage
 *   class), LimitRange defaults and min/max, ResourceQuota (403 `exceeded quota` / `must specify`), Service cluster
 *   IPs and node ports, claim shrink refusal;
 * - deployments.ts (ReplicaSets per pod-template-hash, rolling/Recreate, revisions, status and conditions),
 *   replicasets.ts (pods, FailedCreate + retry), pods.ts (scheduler + kubelet of `sandbox-node-1`), jobs.ts,
 *   services.ts (Endpoints), volumes.ts (PVC -> PV, expansion), namespaces.ts (defaults, termination), gc.ts,
 *   quota.ts (status.used), ingresses.ts (status), eventttl.ts; events.ts records core/v1 Events.
 */
import type { KubeObject, StoreEvent } from "../types.ts";
import type { Store } from "../store.ts";
import { defaultsController } from "./defaults.ts";
import { deploymentsController } from "./deployments.ts";
import { EventRecorder } from "./events.ts";
import { DEFAULT_EVENT_TTL_MS, eventTTLController } from "./eventttl.ts";
import { garbageCollector } from "./gc.ts";
import { ingressesController } from "./ingresses.ts";
import { jobsController } from "./jobs.ts";
import { limitRangeController } from "./limitranges.ts";
import { namespacesController } from "./namespaces.ts";
import { podsController } from "./pods.ts";
import { quotaController } from "./quota.ts";
import { replicaSetsController } from "./replicasets.ts";
import { servicesController } from "./services.ts";
import { volumesController } from "./volumes.ts";
import { Cache, R, Timers, WorkQueue, type Context, type Controller } from "./runtime.ts";

export interface ControllerOptions {
  /** How long a pod takes from scheduled to Running/Ready (default 1000; tests ~20). */
  podReadyDelayMs: number;
  /** How long a Job's pod runs before it succeeds (default ~ a few seconds; tests ~50). */
  jobDurationMs: number;
  now?: () => Date;
  /** Events not written to for this long are deleted, as kube-apiserver's --event-ttl (default 1 hour). */
  eventTTLMs?: number;
  /** Where controller errors are reported (default: nowhere). */
  log?: (line: string) => void;
}

export interface Controllers {
  stop(): void;
  /** Resolves once no work is queued (timers for modeled delays may still be pending). For tests and benchmarks. */
  idle(): Promise<void>;
  /** Work items handled and timers pending (for measurements). */
  stats(): { processed: number; queued: number; timers: number };
}

/** Kinds the controllers keep whole in their cache. */
const CACHED = [
  R.pods,
  R.replicaSets,
  R.deployments,
  R.jobs,
  R.services,
  R.endpoints,
  R.pvcs,
  R.pvs,
  R.namespaces,
  R.quotas,
  R.limitRanges,
];

type ControllerFactory = (ctx: Context) => Controller;

/** The controllers, in the order their admission plugins must run (LimitRange defaults before quota checks). */
const FACTORIES: ControllerFactory[] = [
  defaultsController,
  limitRangeController,
  quotaController,
  servicesController,
  namespacesController,
  garbageCollector,
  deploymentsController,
  replicaSetsController,
  podsController,
  jobsController,
  volumesController,
  ingressesController,
];

export function startControllers(store: Store, options: ControllerOptions): Controllers {
  const now = options.now ?? (() => new Date());
  const log = options.log ?? (() => undefined);
  const timers = new Timers();
  const queue = new WorkQueue(timers, log);
  const cache = new Cache(CACHED);
  const events = new EventRecorder(store, now);
  let stopped = false;
  const ctx: Context = {
    store,
    cache,
    queue,
    timers,
    events,
    podReadyDelayMs: options.podReadyDelayMs,
    jobDurationMs: options.jobDurationMs,
    now,
    log,
    stopped: () => stopped,
  };
  const controllers = [
    ...FACTORIES.map((make) => make(ctx)),
    eventTTLController(ctx, options.eventTTLMs ?? DEFAULT_EVENT_TTL_MS),
  ];
  for (const c of controllers) queue.register(c.name, (key) => c.reconcile(key));

  const dispatch = (event: StoreEvent, old: KubeObject | undefined): void => {
    for (const c of controllers) {
      try {
        c.onEvent?.(event, old);
      } catch (err) {
        log(`controller ${c.name}: event handler failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  };
  const unsubscribe = store.subscribeRaw((entry) => {
    const event: StoreEvent = { type: entry.type, resource: entry.resource, object: entry.object };
    const old = cache.apply(event) ?? entry.old;
    dispatch(event, old);
  });

  // Fill the cache from what is stored (state loaded from a file), then let each controller look at it.
  for (const type of store.types.all()) {
    if (!type.verbs.includes("list") || type.key === R.events || type.group === "metrics.k8s.io") continue;
    for (const object of store.listRefs(type.key)) cache.apply({ type: "ADDED", resource: type, object });
  }
  for (const c of controllers) c.resync?.();

  return {
    stop(): void {
      if (stopped) return;
      stopped = true;
      unsubscribe();
      events.disable();
      queue.stop();
      timers.clearAll();
    },
    idle: () => queue.idle(),
    stats: () => ({ processed: queue.processed, queued: queue.length, timers: timers.size }),
  };
}
