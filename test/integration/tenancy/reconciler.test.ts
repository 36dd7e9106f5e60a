/**
 * mixins/reconciler.mixin.ts with a real broker and a real service (DbMixin in memory) whose `reconcile` stands in for
 * the cluster: retryable failures are retried with backoff, a resync reconciles only what needsReconcile says, and
 * nothing is left running after stop.
 */
import { describe, it, expect, afterEach } from "@jest/globals";
import { ServiceBroker, type ServiceSchema } from "moleculer";
import { unavailable, invalid } from "../../../lib/errors.ts";
import { DbMixin, type RawDoc } from "../../../mixins/db.mixin.ts";
import {
  isDrifted,
  isRetryableError,
  ReconcilerMixin,
  type ReconcileOutcome,
} from "../../../mixins/reconciler.mixin.ts";

interface Probe {
  calls: string[];
  failures: number;
  fatal: boolean;
  failed: string[];
}

function startBroker(probe: Probe, settings: Record<string, unknown>) {
  const broker = new ServiceBroker({ logger: false });
  const serviceSettings: Record<string, unknown> = { db: { memory: true }, ...settings };
  const schema: ServiceSchema = {
    name: "things",
    version: 1,
    mixins: [DbMixin({ collection: "things", resource: "things" }), ReconcilerMixin()],
    settings: serviceSettings,
    actions: {
      add: {
        async handler(ctx) {
          return this.createEntity(ctx, ctx.params as Record<string, unknown>);
        },
      },
      now: {
        handler(ctx): Promise<ReconcileOutcome> {
          return this.reconcileNow((ctx.params as { id: string }).id);
        },
      },
      resyncNow: {
        handler(): Promise<string[]> {
          return this.resync();
        },
      },
    },
    methods: {
      async reconcile(record: RawDoc) {
        probe.calls.push(record._id);
        if (probe.fatal) throw invalid("x", "bad");
        if (probe.failures > 0) {
          probe.failures -= 1;
          throw unavailable("Kubernetes API", "connect ECONNREFUSED");
        }
      },
      async needsReconcile(record: RawDoc) {
        return record.drift === true;
      },
      async onReconcileFailed(record: RawDoc) {
        probe.failed.push(record._id);
      },
    },
  };
  broker.createService(schema);
  return broker;
}

let broker: ServiceBroker | undefined;
afterEach(async () => {
  await broker?.stop();
  broker = undefined;
});

describe("ReconcilerMixin", () => {
  it("retries a record whose apply failed retryably until it succeeds, then stops retrying", async () => {
    const probe: Probe = { calls: [], failures: 2, fatal: false, failed: [] };
    broker = startBroker(probe, {
      resyncIntervalSeconds: 0,
      reconciler: { initialBackoffMs: 20, maxBackoffMs: 40, initialResyncDelayMs: -1 },
    });
    await broker.start();
    const rec = await broker.call<{ id: string }, Record<string, unknown>>("v1.things.add", { name: "a" });
    const first = await broker.call<ReconcileOutcome, { id: string }>("v1.things.now", { id: rec.id });
    expect(first).toMatchObject({ ok: false, retrying: true });
    const deadline = Date.now() + 2000;
    while (probe.calls.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(probe.calls).toEqual([rec.id, rec.id, rec.id]);
    expect(probe.failed).toEqual([rec.id, rec.id]);
    await new Promise((r) => setTimeout(r, 120));
    expect(probe.calls).toHaveLength(3);
  });

  it("does not retry a failure that is not retryable", async () => {
    const probe: Probe = { calls: [], failures: 0, fatal: true, failed: [] };
    broker = startBroker(probe, {
      resyncIntervalSeconds: 0,
      reconciler: { initialBackoffMs: 10, initialResyncDelayMs: -1 },
    });
    await broker.start();
    const rec = await broker.call<{ id: string }, Record<string, unknown>>("v1.things.add", { name: "a" });
    const out = await broker.call<ReconcileOutcome, { id: string }>("v1.things.now", { id: rec.id });
    expect(out).toMatchObject({ ok: false, retrying: false, error: { code: 422 } });
    await new Promise((r) => setTimeout(r, 60));
    expect(probe.calls).toEqual([rec.id]);
  });

  it("resyncs only the records that need it, on start and periodically", async () => {
    const probe: Probe = { calls: [], failures: 0, fatal: false, failed: [] };
    broker = startBroker(probe, { resyncIntervalSeconds: 0, reconciler: { initialResyncDelayMs: -1 } });
    await broker.start();
    const a = await broker.call<{ id: string }, Record<string, unknown>>("v1.things.add", { name: "a", drift: false });
    const b = await broker.call<{ id: string }, Record<string, unknown>>("v1.things.add", { name: "b", drift: true });
    expect(await broker.call("v1.things.resyncNow")).toEqual([b.id]);
    expect(probe.calls).toEqual([b.id]);
    expect(probe.calls).not.toContain(a.id);
  });

  it("runs the first resync after start and leaves no timer after stop", async () => {
    const probe: Probe = { calls: [], failures: 100, fatal: false, failed: [] };
    broker = startBroker(probe, {
      resyncIntervalSeconds: 1,
      reconciler: { initialBackoffMs: 5, initialResyncDelayMs: 30 },
    });
    await broker.start();
    await broker.call("v1.things.add", { name: "b", drift: true });
    const deadline = Date.now() + 2000;
    while (probe.calls.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(probe.calls.length).toBeGreaterThanOrEqual(3);
    await broker.stop();
    broker = undefined;
    const n = probe.calls.length;
    await new Promise((r) => setTimeout(r, 60));
    expect(probe.calls).toHaveLength(n);
  });
});

describe("isDrifted", () => {
  it("ignores what the cluster adds and compares quantities by value", () => {
    const desired = {
      metadata: { labels: { a: "1" } },
      spec: { hard: { memory: "1Gi" }, limits: [{ _default: { cpu: "500m" } }] },
    };
    const live = {
      metadata: { labels: { a: "1", extra: "x" }, uid: "u" },
      spec: { hard: { memory: "1024Mi" }, limits: [{ default: { cpu: "0.5" }, type: "Container" }] },
      status: {},
    };
    expect(isDrifted(desired, live)).toBe(false);
    expect(isDrifted(desired, { ...live, spec: { ...live.spec, hard: { memory: "2Gi" } } })).toBe(true);
    expect(isDrifted(desired, undefined)).toBe(true);
    expect(isDrifted({ a: ["x", "y"] }, { a: ["x"] })).toBe(true);
    expect(isDrifted({ a: "abc" }, { a: "abd" })).toBe(true);
  });

  it("knows which errors are worth retrying", () => {
    expect(isRetryableError(unavailable("Kubernetes API", "down"))).toBe(true);
    expect(isRetryableError({ code: 404, type: "SERVICE_NOT_FOUND" })).toBe(true);
    expect(isRetryableError(invalid("x", "bad"))).toBe(false);
  });
});
