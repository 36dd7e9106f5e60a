/**
 * The Job controller: runs `parallelism` pods at a time until `completions` succeeded (Complete, with
 * SuccessCriteriaMet first, as 1.31+ does) or more than `backoffLimit` failed (Failed, BackoffLimitExceeded).
 * Status: startTime, active, ready, succeeded, failed, terminating, completionTime, conditions, uncountedTerminatedPods.
 */
import type { KubeObject } from "../types.ts";
import { SOURCES } from "./events.ts";
import { stableStringify } from "./hash.ts";
import { podActive, podReady, type PodStatus } from "./pods.ts";
import { createOwnedPod, type PodTemplate } from "./replicasets.ts";
import {
  R,
  controllerOf,
  deleteQuietly,
  findCondition,
  isoSeconds,
  objectKey,
  splitKey,
  statusOf,
  statusOfError,
  writeStatus,
  type Condition,
  type Context,
  type Controller,
} from "./runtime.ts";

interface JobSpec {
  parallelism?: number;
  completions?: number | null;
  backoffLimit?: number;
  suspend?: boolean;
  template?: PodTemplate;
  activeDeadlineSeconds?: number;
  ttlSecondsAfterFinished?: number;
}
interface JobStatus {
  startTime?: string;
  completionTime?: string;
  active?: number;
  ready?: number;
  succeeded?: number;
  failed?: number;
  terminating?: number;
  conditions?: Condition[];
  uncountedTerminatedPods?: Record<string, unknown>;
}

function finished(status: JobStatus): "Complete" | "Failed" | undefined {
  if (findCondition(status.conditions, "Complete")?.status === "True") return "Complete";
  if (findCondition(status.conditions, "Failed")?.status === "True") return "Failed";
  return undefined;
}

export function jobsController(ctx: Context): Controller {
  const name = "jobs";
  const TTL = "jobs-ttl";
  const failures = new Map<string, number>();

  function condition(type: string, reason: string, message: string, now: string): Condition {
    return { type, status: "True", lastProbeTime: now, lastTransitionTime: now, reason, message };
  }

  function reconcile(key: string): void {
    const { namespace, name: jobName } = splitKey(key);
    const job = ctx.cache.get(R.jobs, namespace, jobName);
    if (!job || job.metadata.deletionTimestamp !== undefined) {
      failures.delete(key);
      return;
    }
    const spec = (job.spec ?? {}) as JobSpec;
    const old = statusOf<JobStatus>(job);
    const pods = ctx.cache.controlledBy(R.pods, job.metadata.uid);
    const succeeded = pods.filter((p) => statusOf<PodStatus>(p).phase === "Succeeded").length;
    const failed = pods.filter((p) => statusOf<PodStatus>(p).phase === "Failed").length;
    let active = pods.filter(podActive);
    const now = isoSeconds(ctx.now());
    // A work queue (no completions) is done when one pod succeeded and none is left running.
    const workQueue = spec.completions === undefined || spec.completions === null;
    const completions = workQueue
      ? succeeded > 0
        ? succeeded + active.length
        : Number.POSITIVE_INFINITY
      : (spec.completions ?? 1);
    const parallelism = spec.parallelism ?? 1;
    const backoffLimit = spec.backoffLimit ?? 6;
    const conditions = [...(old.conditions ?? [])];
    let completionTime = old.completionTime;
    const done = finished(old);

    const startTime = old.startTime ?? now;
    const deadlineIn =
      spec.activeDeadlineSeconds === undefined
        ? Number.POSITIVE_INFINITY
        : Date.parse(startTime) + spec.activeDeadlineSeconds * 1000 - ctx.now().getTime();
    const fail = (reason: string, message: string): void => {
      for (const p of active) deleteQuietly(ctx.store, R.pods, p.metadata.namespace, p.metadata.name);
      active = [];
      conditions.push(condition("FailureTarget", reason, message, now));
      conditions.push(condition("Failed", reason, message, now));
      ctx.events.record(job, "Warning", reason, message, SOURCES.job);
    };
    if (!done) {
      if (failed > backoffLimit) {
        fail("BackoffLimitExceeded", "Job has reached the specified backoff limit");
      } else if (deadlineIn <= 0 && succeeded < completions) {
        fail("DeadlineExceeded", "Job was active longer than specified deadline");
      } else if (succeeded >= completions) {
        const message = "Reached expected number of succeeded pods";
        conditions.push(condition("SuccessCriteriaMet", "CompletionsReached", message, now));
        conditions.push(condition("Complete", "CompletionsReached", message, now));
        completionTime = now;
        ctx.events.record(job, "Normal", "Completed", "Job completed", SOURCES.job);
      } else if (!spec.suspend) {
        const want = workQueue && succeeded > 0 ? 0 : Math.min(parallelism, completions - succeeded) - active.length;
        // After a failure, the next pod waits a little (the real back-off is 10s, doubling).
        const delay = failed > 0 ? Math.min(Math.max(ctx.podReadyDelayMs, 10) * 2 ** (failed - 1), 10_000) : 0;
        const lastFailure = Math.max(
          0,
          ...pods
            .filter((p) => statusOf<PodStatus>(p).phase === "Failed")
            .map(
              (p) =>
                Date.parse(
                  ((p.status as { conditions?: Condition[] }).conditions ?? []).find((c) => c.type === "Ready")
                    ?.lastTransitionTime ?? "",
                ) || 0,
            ),
        );
        const waitMs = lastFailure + delay - ctx.now().getTime();
        if (want > 0 && waitMs > 0 && failed > 0) {
          ctx.queue.addAfter(name, key, waitMs);
        } else if (want > 0 && !ctx.timers.has(`job-retry:${key}`)) {
          for (let i = 0; i < want; i++) {
            try {
              const pod = createOwnedPod(ctx, job, spec.template);
              ctx.events.record(job, "Normal", "SuccessfulCreate", `Created pod: ${pod.metadata.name}`, SOURCES.job);
              active.push(pod);
              failures.delete(key);
            } catch (err) {
              const n = (failures.get(key) ?? 0) + 1;
              failures.set(key, n);
              ctx.events.record(
                job,
                "Warning",
                "FailedCreate",
                `Error creating: ${statusOfError(err).message}`,
                SOURCES.job,
              );
              ctx.timers.set(`job-retry:${key}`, Math.min(250 * 2 ** Math.min(n - 1, 7), 30_000), () =>
                ctx.queue.add(name, key),
              );
              break;
            }
          }
        }
      }
    }
    const finishedNow = finished({ conditions });
    if (!finishedNow && Number.isFinite(deadlineIn)) ctx.queue.addAfter(name, key, Math.max(0, deadlineIn) + 5);
    if (finishedNow) ctx.queue.cancelAfter(name, key);
    const status: JobStatus = {
      ...(conditions.length === 0 ? {} : { conditions }),
      startTime,
      ...(completionTime === undefined ? {} : { completionTime }),
      ...(active.length === 0 ? {} : { active: active.length }),
      ...(succeeded === 0 ? {} : { succeeded }),
      ...(failed === 0 ? {} : { failed }),
      terminating: 0,
      ready: active.filter((p) => podReady(p)).length,
      uncountedTerminatedPods: {},
    };
    if (stableStringify(status) !== stableStringify(old)) writeStatus(ctx.store, R.jobs, { ...job, status });
    if (finishedNow && spec.ttlSecondsAfterFinished !== undefined) expireLater(job, status);
  }

  /** The TTL-after-finished controller: a finished Job with ttlSecondsAfterFinished is deleted (with its pods) when it expires. */
  function expireLater(job: KubeObject, status: JobStatus): void {
    const ttl = ((job.spec ?? {}) as JobSpec).ttlSecondsAfterFinished ?? 0;
    const at = finishedAt(status) + ttl * 1000;
    ctx.queue.addAfter(
      TTL,
      objectKey(job.metadata.namespace, job.metadata.name),
      Math.max(0, at - ctx.now().getTime()),
    );
  }

  function finishedAt(status: JobStatus): number {
    const c = (status.conditions ?? []).find(
      (x) => (x.type === "Complete" || x.type === "Failed") && x.status === "True",
    );
    return Date.parse(status.completionTime ?? c?.lastTransitionTime ?? "") || ctx.now().getTime();
  }

  function expire(key: string): void {
    const { namespace, name: jobName } = splitKey(key);
    const job = ctx.cache.get(R.jobs, namespace, jobName);
    if (!job || job.metadata.deletionTimestamp !== undefined) return;
    const status = statusOf<JobStatus>(job);
    const ttl = ((job.spec ?? {}) as JobSpec).ttlSecondsAfterFinished;
    if (!finished(status) || ttl === undefined) return;
    const left = finishedAt(status) + ttl * 1000 - ctx.now().getTime();
    if (left > 0) return expireLater(job, status);
    deleteQuietly(ctx.store, R.jobs, namespace, jobName, "Background");
  }
  ctx.queue.register(TTL, expire);

  return {
    name,
    onEvent(ev, old): void {
      const key = ev.resource.key;
      const meta = ev.object.metadata;
      if (key === R.jobs) {
        if (ev.type === "DELETED") return;
        if (ev.type === "MODIFIED" && old && old.metadata.generation === meta.generation) return;
        ctx.queue.add(name, objectKey(meta.namespace, meta.name));
      } else if (key === R.pods) {
        const owner = controllerOf(ev.object);
        if (owner?.kind !== "Job") return;
        if (ev.type === "MODIFIED" && old) {
          const a = statusOf<PodStatus>(ev.object).phase;
          const b = statusOf<PodStatus>(old).phase;
          if (a === b && podReady(ev.object) === podReady(old)) return;
        }
        ctx.queue.add(name, objectKey(meta.namespace, owner.name));
      }
    },
    reconcile,
    resync(): void {
      for (const j of ctx.cache.list(R.jobs)) {
        const s = statusOf<JobStatus>(j);
        if (!finished(s)) ctx.queue.add(name, objectKey(j.metadata.namespace, j.metadata.name));
        else if (((j.spec ?? {}) as JobSpec).ttlSecondsAfterFinished !== undefined) expireLater(j, s);
      }
    },
  };
}
