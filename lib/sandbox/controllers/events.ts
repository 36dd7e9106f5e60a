/**
 * core/v1 Events as client-go's recorder writes them: `<object>.<hex nanoseconds>`, involvedObject, source, counts.
 * A repeat of the same (object, type, reason, message, source) bumps `count` and `lastTimestamp` of the first one,
 * as the event correlator does. Recording never throws: an event is not worth failing a controller for.
 */
import type { KubeObject } from "../types.ts";
import type { Store } from "../store.ts";
import { R, isNotFound, isoSeconds } from "./runtime.ts";

export const NODE_NAME = "sandbox-node-1";

export interface EventSource {
  component: string;
  host?: string;
}

export const SOURCES = {
  scheduler: { component: "default-scheduler" },
  kubelet: { component: "kubelet", host: NODE_NAME },
  replicaSet: { component: "replicaset-controller" },
  deployment: { component: "deployment-controller" },
  job: { component: "job-controller" },
  pv: { component: "persistentvolume-controller" },
  provisioner: { component: "rancher.io/local-path_local-path-provisioner-sandbox" },
  endpoints: { component: "endpoint-controller" },
  namespace: { component: "namespace-controller" },
  ingress: { component: "nginx-ingress-controller" },
  resizer: { component: "external-resizer rancher.io/local-path" },
} as const satisfies Record<string, EventSource>;

const MAX_REMEMBERED = 20_000;
const AGGREGATE_AFTER = 10;
const AGGREGATE_WINDOW_MS = 600_000;

export class EventRecorder {
  readonly #store: Store;
  readonly #now: () => Date;
  readonly #seen = new Map<string, { namespace: string; name: string }>();
  readonly #similar = new Map<string, { at: number; message: string }[]>();
  #sequence = 0;
  #enabled = true;

  constructor(store: Store, now: () => Date) {
    this.#store = store;
    this.#now = now;
  }

  disable(): void {
    this.#enabled = false;
  }

  /** Records an event about `obj`; `fieldPath` points into it (e.g. `spec.containers{nginx}`). */
  record(
    obj: KubeObject,
    type: "Normal" | "Warning",
    reason: string,
    message: string,
    source: EventSource,
    fieldPath?: string,
  ): void {
    if (!this.#enabled) return;
    const namespace = obj.metadata.namespace ?? "default";
    const uid = obj.metadata.uid ?? "";
    const similar = [uid, obj.metadata.name, fieldPath ?? "", type, reason, source.component].join("\u0000");
    // The correlator's aggregation: past 10 different messages of one kind within 10 minutes, they are combined.
    const nowMs = this.#now().getTime();
    const seenSimilar = (this.#similar.get(similar) ?? []).filter((t) => nowMs - t.at < AGGREGATE_WINDOW_MS);
    if (!seenSimilar.some((t) => t.message === message)) seenSimilar.push({ at: nowMs, message });
    this.#similar.set(similar, seenSimilar.slice(-AGGREGATE_AFTER));
    if (this.#similar.size > MAX_REMEMBERED) {
      const first = this.#similar.keys().next();
      if (!first.done) this.#similar.delete(first.value);
    }
    const aggregated = seenSimilar.length >= AGGREGATE_AFTER;
    if (aggregated) message = `(combined from similar events): ${message}`;
    const identity = [similar, aggregated ? "*" : message].join("\u0000");
    const now = isoSeconds(this.#now());
    try {
      const seen = this.#seen.get(identity);
      if (seen) {
        const existing = this.#store.get(R.events, seen.namespace, seen.name);
        if (existing) {
          existing.count = (typeof existing.count === "number" ? existing.count : 1) + 1;
          existing.lastTimestamp = now;
          existing.message = message;
          this.#store.update(R.events, existing);
          return;
        }
        this.#seen.delete(identity);
      }
      const name = `${obj.metadata.name}.${this.#hexNow()}`;
      const involvedObject: Record<string, unknown> = {
        kind: obj.kind,
        ...(obj.metadata.namespace === undefined ? {} : { namespace: obj.metadata.namespace }),
        name: obj.metadata.name,
        uid,
        apiVersion: obj.apiVersion,
        ...(obj.metadata.resourceVersion === undefined ? {} : { resourceVersion: obj.metadata.resourceVersion }),
        ...(fieldPath === undefined ? {} : { fieldPath }),
      };
      this.#store.create(R.events, {
        apiVersion: "v1",
        kind: "Event",
        metadata: { name, namespace },
        involvedObject,
        reason,
        message,
        source: { ...source },
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
        type,
        eventTime: null,
        reportingComponent: source.component,
        reportingInstance: "host" in source && source.host !== undefined ? source.host : "",
      });
      if (this.#seen.size >= MAX_REMEMBERED) {
        const first = this.#seen.keys().next();
        if (!first.done) this.#seen.delete(first.value);
      }
      this.#seen.set(identity, { namespace, name });
    } catch (err) {
      // A terminating or vanished namespace refuses events; nothing else to do about it.
      if (!isNotFound(err)) return;
    }
  }

  #hexNow(): string {
    const nanos = BigInt(this.#now().getTime()) * 1_000_000n + BigInt(this.#sequence++ % 1_000_000);
    return nanos.toString(16);
  }
}
