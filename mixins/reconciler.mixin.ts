/**
 * `ReconcilerMixin()`: keeps a service's records and the cluster in step (docs/architecture.md, "Reconciliation").
 * Mix it in after `DbMixin`.
 *
 * The service provides:
 * - `reconcile(record)` (required): render the record and apply it through `v1.kube.apply`; throw on failure (a
 *   retryable error — 503 K8S_UNAVAILABLE, or v1.kube not reachable — means "try again later").
 * - `needsReconcile(record)` (optional): whether the cluster differs from the record. Read the cluster through
 *   `v1.kube.list`/`get` (the informer cache: no request to the API server) and compare with `isDrifted` below. Default:
 *   the record's `status.phase` is "Pending". A resync calls `reconcile` only for records where this is true, so when
 *   nothing drifted a resync sends no write.
 * - `reconcileCandidates()` (optional): the records a resync looks at; default all (`this.findRaw({})`).
 * - `onReconcileFailed(record, err)` (optional): a reconcile from the queue or a resync failed (record its status).
 * - `reconcileMissing(id)` (optional): a queued id whose record is gone (e.g. removed while the cluster was down, its
 *   objects still to delete); throw a retryable error to be called again later. Default: nothing.
 *
 * The mixin gives:
 * - `reconcileNow(id)`: runs `reconcile` for the stored record now (one at a time per id); a retryable failure
 *   schedules a retry with capped exponential backoff (`settings.reconciler.initialBackoffMs` 1000 → `maxBackoffMs`
 *   30000); success clears the backoff. Resolves `{ ok: true }` or `{ ok: false, error, retrying }`; never throws. A
 *   record that no longer exists is dropped from the queue.
 * - `exclusive(id, work)`: runs `work` once the applies and reconciles of `id` chained before it have ended, and
 *   chains what comes after it behind it: a reconcile, and a create's or update's own apply (`applyOrUndo`), never
 *   cross one another for one record.
 * - `reconcileSettled(id)`: resolves once the apply or reconcile of `id` running now (and any chained behind it) has
 *   ended; at once when none runs. For a change made outside them (a removal) that must not cross an apply in flight.
 * - `scheduleReconcile(id, delayMs?)`: queue a retry (next backoff step unless a delay is given).
 * - `cancelReconcile(id)`: forget a queued retry (a removed record).
 * - `resync()`: every candidate with `needsReconcile` true is reconciled (16 records at a time); returns the ids it
 *   reconciled.
 * - a periodic `resync()` every `settings.resyncIntervalSeconds` (RESYNC_INTERVAL, readConfig; 0 = off), and one
 *   `settings.reconciler.initialResyncDelayMs` (default 1000) after start, so records left Pending by a restart converge.
 * - `isRetryableError(err)` and the pure `isDrifted(desired, live)` (exported too).
 * - on `kube.cluster.available` (v1.kube: the API server answers again after an outage), every queued retry runs now
 *   instead of at the end of its backoff (up to 30 s later), and a resync follows (a node started during the outage
 *   had its start-up resync fail; orphan sweeps run in `reconcileCandidates`).
 * All timers are cleared in `stopped()`, which also waits for reconciles in flight.
 */
import type { Service, ServiceSchema, ServiceSettingSchema } from "moleculer";
import { readConfig } from "../lib/config.ts";
import { KeyedChain } from "../lib/keyed-chain.ts";
import { asMixin, type DbMethods, type MixinSchema, type RawDoc } from "./db.mixin.ts";

/** Records a resync compares and reconciles at once. */
const RESYNC_CONCURRENCY = 16;

export interface ReconcilerOptions {
  /** Delay of the first retry (default 1000 ms). */
  initialBackoffMs?: number;
  /** Largest delay between retries (default 30000 ms). */
  maxBackoffMs?: number;
  /** Delay of the first resync after start (default 1000 ms; -1 = none). */
  initialResyncDelayMs?: number;
}

export interface ReconcilerSettings extends ServiceSettingSchema {
  /** Seconds between full resyncs; default RESYNC_INTERVAL (readConfig). 0 = no periodic resync. */
  resyncIntervalSeconds?: number;
  reconciler?: ReconcilerOptions;
}

export type ReconcileOutcome = { ok: true } | { ok: false; error: unknown; retrying: boolean };

/** What the service implements (reconcile is required; the others have defaults). */
export interface ReconcilerHooks {
  reconcile(record: RawDoc): Promise<void>;
  needsReconcile(record: RawDoc): Promise<boolean>;
  reconcileCandidates(): Promise<RawDoc[]>;
  onReconcileFailed(record: RawDoc, err: unknown): Promise<void>;
  reconcileMissing(id: string): Promise<void>;
}

export interface ReconcilerMethods extends ReconcilerHooks {
  reconcileNow(id: string): Promise<ReconcileOutcome>;
  exclusive<T>(id: string, work: () => Promise<T>): Promise<T>;
  reconcileSettled(id: string): Promise<void>;
  scheduleReconcile(id: string, delayMs?: number): void;
  cancelReconcile(id: string): void;
  resync(): Promise<string[]>;
  isRetryableError(err: unknown): boolean;
}

interface QueueEntry {
  attempt: number;
  timer: NodeJS.Timeout | undefined;
}

export interface ReconcilerVars {
  reconcilerState: {
    active: boolean;
    queue: Map<string, QueueEntry>;
    /** Per record, the applies and reconciles chained for it (`exclusive`). */
    running: KeyedChain;
    resyncTimer: NodeJS.Timeout | undefined;
    resyncing: Promise<string[]> | undefined;
    intervalMs: number;
    initialBackoffMs: number;
    maxBackoffMs: number;
    initialResyncDelayMs: number;
  };
}

type ReconcilerThis = Service<ReconcilerSettings> &
  ReconcilerVars &
  ReconcilerMethods &
  Pick<DbMethods, "findRaw" | "findRawById">;

const RETRYABLE_TYPES = new Set([
  "K8S_UNAVAILABLE",
  "DATABASE_UNAVAILABLE",
  "SERVICE_NOT_FOUND",
  "SERVICE_NOT_AVAILABLE",
  "REQUEST_TIMEOUT",
  "REQUEST_SKIPPED",
  "REQUEST_REJECTED",
]);

/** A failure that may go away by itself: the cluster, database or a service is unreachable now. */
export function isRetryableError(err: unknown): boolean {
  if (typeof err !== "object" || err === null) return false;
  const e = err as { retryable?: unknown; code?: unknown; type?: unknown };
  return e.retryable === true || e.code === 503 || (typeof e.type === "string" && RETRYABLE_TYPES.has(e.type));
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Kubernetes quantities in canonical and non-canonical forms ("1Gi" / "1024Mi", "1" / "1000m"), as numbers. */
function quantityValue(value: string): number | undefined {
  const m = /^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$/.exec(value);
  if (m === null) return undefined;
  const factors: Record<string, number> = {
    "": 1,
    Ki: 2 ** 10,
    Mi: 2 ** 20,
    Gi: 2 ** 30,
    Ti: 2 ** 40,
    Pi: 2 ** 50,
    Ei: 2 ** 60,
    n: 1e-9,
    u: 1e-6,
    m: 1e-3,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
    P: 1e15,
    E: 1e18,
  };
  return Number(m[1]) * (factors[m[2] ?? ""] ?? 1);
}

/**
 * True when `live` does not hold everything `desired` says: every field of `desired` must be in `live` with an equal
 * value (objects compared field by field, so labels, annotations and defaults the cluster adds are not drift; arrays
 * element by element with the same length; quantities by value, so "1024Mi" equals "1Gi"). client-node model keys
 * (`_default`) are read as their wire names (`default`). A missing `live` object is drift.
 */
export function isDrifted(desired: unknown, live: unknown): boolean {
  if (desired === undefined) return false;
  if (Array.isArray(desired)) {
    if (!Array.isArray(live) || live.length !== desired.length) return true;
    return desired.some((d, i) => isDrifted(d, live[i]));
  }
  if (isPlainObject(desired)) {
    if (!isPlainObject(live)) return true;
    return Object.entries(desired).some(([key, value]) => {
      const wireKey = key === "_default" ? "default" : key;
      return isDrifted(value, live[wireKey]);
    });
  }
  if (desired === live) return false;
  if (typeof desired === "string" && typeof live === "string") {
    const a = quantityValue(desired);
    const b = quantityValue(live);
    return a === undefined || b === undefined || Math.abs(a - b) > Math.abs(a) * 1e-12;
  }
  if (typeof desired === "number" && typeof live === "string") return String(desired) !== live;
  return true;
}

/** The mixin: `mixins: [DbMixin({...}), MembershipMixin({...}), ReconcilerMixin()]`. */
/** What `applyOrUndo` needs of a service that applies its records itself (namespaces, volumes). */
export interface ApplyingService<Status> {
  applyRecord(record: RawDoc): Promise<void>;
  exclusive<T>(id: string, work: () => Promise<T>): Promise<T>;
  isRetryableError(err: unknown): boolean;
  setStatus(recordId: string, status: Status): Promise<void>;
  unavailableStatus(err: unknown): Status;
  applyError(err: unknown): Error;
  scheduleReconcile(recordId: string): void;
}

/**
 * Applies a record that a create or update has just stored. The cluster unreachable (a retryable error): the change
 * stands, the record is Pending with the reason and a retry is queued. Any other refusal: `undo` takes the change back
 * (the record, and what reached the cluster), then the service's `applyError` of it is thrown — nothing half-made.
 */
export async function applyOrUndo<Status>(
  svc: ApplyingService<Status>,
  record: RawDoc,
  undo: () => Promise<void>,
): Promise<void> {
  try {
    // In the record's chain: a removal asked for meanwhile waits for this apply (`reconcileSettled`).
    await svc.exclusive(record._id, () => svc.applyRecord(record));
  } catch (err) {
    if (!svc.isRetryableError(err)) {
      await undo();
      throw svc.applyError(err);
    }
    await svc.setStatus(record._id, svc.unavailableStatus(err));
    svc.scheduleReconcile(record._id);
  }
}

export function ReconcilerMixin(): MixinSchema {
  const schema: ServiceSchema<ReconcilerSettings, ReconcilerMethods, ReconcilerVars, ReconcilerThis> = {
    name: "",
    events: {
      /** The API server is back: retry every queued record now, not at the end of its backoff; then resync. */
      async "kube.cluster.available"(this: ReconcilerThis) {
        const state = this.reconcilerState;
        if (!state.active) return;
        await Promise.all([...state.queue.keys()].map((id) => this.reconcileNow(id)));
        if (state.active) await this.resync();
      },
    },
    methods: {
      async reconcile(this: ReconcilerThis, record: RawDoc): Promise<void> {
        throw new Error(`${this.fullName} mixes in ReconcilerMixin without a reconcile(record) method (${record._id})`);
      },

      async needsReconcile(this: ReconcilerThis, record: RawDoc): Promise<boolean> {
        const status = record.status as { phase?: unknown } | undefined;
        return status?.phase === "Pending";
      },

      async reconcileCandidates(this: ReconcilerThis): Promise<RawDoc[]> {
        return this.findRaw({});
      },

      async onReconcileFailed(this: ReconcilerThis, record: RawDoc, err: unknown): Promise<void> {
        this.logger.warn(`Reconcile of ${record._id} failed: ${err instanceof Error ? err.message : String(err)}`);
      },

      async reconcileMissing(this: ReconcilerThis, id: string): Promise<void> {
        void id;
      },

      isRetryableError(this: ReconcilerThis, err: unknown): boolean {
        return isRetryableError(err);
      },

      reconcileNow(this: ReconcilerThis, id: string): Promise<ReconcileOutcome> {
        const state = this.reconcilerState;
        return this.exclusive(id, async (): Promise<ReconcileOutcome> => {
          const queued = state.queue.get(id);
          if (queued?.timer !== undefined) {
            clearTimeout(queued.timer);
            queued.timer = undefined;
          }
          let record: RawDoc | null;
          try {
            record = await this.findRawById(id);
          } catch (err) {
            if (state.active) this.scheduleReconcile(id);
            return { ok: false, error: err, retrying: state.active };
          }
          if (record === null) {
            try {
              await this.reconcileMissing(id);
            } catch (err) {
              const retrying = state.active && this.isRetryableError(err);
              if (retrying) this.scheduleReconcile(id);
              else this.cancelReconcile(id);
              return { ok: false, error: err, retrying };
            }
            this.cancelReconcile(id);
            return { ok: true };
          }
          try {
            await this.reconcile(record);
            this.cancelReconcile(id);
            return { ok: true };
          } catch (err) {
            const retrying = state.active && this.isRetryableError(err);
            if (retrying) this.scheduleReconcile(id);
            else this.cancelReconcile(id);
            try {
              await this.onReconcileFailed(record, err);
            } catch (hookErr) {
              this.logger.warn(`onReconcileFailed(${id}) failed`, hookErr);
            }
            return { ok: false, error: err, retrying };
          }
        });
      },

      exclusive<T>(this: ReconcilerThis, id: string, work: () => Promise<T>): Promise<T> {
        return this.reconcilerState.running.run(id, work);
      },

      reconcileSettled(this: ReconcilerThis, id: string): Promise<void> {
        return this.reconcilerState.running.settled(id);
      },

      scheduleReconcile(this: ReconcilerThis, id: string, delayMs?: number): void {
        const state = this.reconcilerState;
        if (!state.active) return;
        const entry = state.queue.get(id) ?? { attempt: 0, timer: undefined };
        if (entry.timer !== undefined) clearTimeout(entry.timer);
        const delay =
          delayMs ?? Math.min(state.maxBackoffMs, state.initialBackoffMs * 2 ** Math.min(entry.attempt, 30));
        entry.attempt += 1;
        entry.timer = setTimeout(() => {
          entry.timer = undefined;
          if (state.active) void this.reconcileNow(id);
        }, delay);
        state.queue.set(id, entry);
      },

      cancelReconcile(this: ReconcilerThis, id: string): void {
        const entry = this.reconcilerState.queue.get(id);
        if (entry?.timer !== undefined) clearTimeout(entry.timer);
        this.reconcilerState.queue.delete(id);
      },

      resync(this: ReconcilerThis): Promise<string[]> {
        const state = this.reconcilerState;
        if (state.resyncing !== undefined) return state.resyncing;
        const run = (async () => {
          const reconciled: string[] = [];
          let records: RawDoc[];
          try {
            records = await this.reconcileCandidates();
          } catch (err) {
            this.logger.warn(`Resync: records not read: ${err instanceof Error ? err.message : String(err)}`);
            return reconciled;
          }
          const done = new Array<boolean>(records.length).fill(false);
          let next = 0;
          const worker = async (): Promise<void> => {
            while (state.active && next < records.length) {
              const index = next++;
              const record = records[index] as RawDoc;
              let needed: boolean;
              try {
                needed = await this.needsReconcile(record);
              } catch (err) {
                // The cluster cannot be read now: a retry is queued for the record (it will compare again then).
                if (this.isRetryableError(err)) this.scheduleReconcile(record._id);
                else this.logger.warn(`Resync: ${record._id} not compared`, err);
                continue;
              }
              if (!needed) continue;
              done[index] = true;
              await this.reconcileNow(record._id);
            }
          };
          // Several records at once: one record's applies are a round trip or two, so one after another a restart
          // converging 1,000 records waited ~25 ms each; v1.kube's write limiter still bounds what reaches the cluster.
          await Promise.all(Array.from({ length: Math.min(RESYNC_CONCURRENCY, records.length) }, worker));
          for (let i = 0; i < records.length; i++) if (done[i] === true) reconciled.push((records[i] as RawDoc)._id);
          return reconciled;
        })();
        state.resyncing = run;
        void run.finally(() => {
          state.resyncing = undefined;
        });
        return run;
      },
    },

    created(this: ReconcilerThis) {
      const options = this.settings.reconciler ?? {};
      const seconds = this.settings.resyncIntervalSeconds ?? readConfig().resyncIntervalSeconds;
      this.reconcilerState = {
        active: false,
        queue: new Map(),
        running: new KeyedChain(),
        resyncTimer: undefined,
        resyncing: undefined,
        intervalMs: seconds * 1000,
        initialBackoffMs: options.initialBackoffMs ?? 1000,
        maxBackoffMs: options.maxBackoffMs ?? 30_000,
        initialResyncDelayMs: options.initialResyncDelayMs ?? 1000,
      };
    },

    started(this: ReconcilerThis) {
      const state = this.reconcilerState;
      state.active = true;
      const next = (delay: number) => {
        if (!state.active || delay < 0) return;
        state.resyncTimer = setTimeout(() => {
          state.resyncTimer = undefined;
          void this.resync().finally(() => {
            if (state.intervalMs > 0) next(state.intervalMs);
          });
        }, delay);
      };
      next(state.initialResyncDelayMs >= 0 ? state.initialResyncDelayMs : state.intervalMs > 0 ? state.intervalMs : -1);
    },

    async stopped(this: ReconcilerThis) {
      const state = this.reconcilerState;
      state.active = false;
      if (state.resyncTimer !== undefined) clearTimeout(state.resyncTimer);
      state.resyncTimer = undefined;
      for (const entry of state.queue.values()) if (entry.timer !== undefined) clearTimeout(entry.timer);
      state.queue.clear();
      await Promise.allSettled([
        state.running.allSettled(),
        ...(state.resyncing === undefined ? [] : [state.resyncing]),
      ]);
    },
  };
  return asMixin(schema);
}
