/**
 * The resync of v1.k8s.envs: with v1.kube's watches off (no kube.* events, as for objects deleted while the suite
 * was down), env objects that are missing or hold other plain values are applied again; nothing drifted, nothing
 * is written. The periodic resync (resyncIntervalSeconds) does the same on its own, and once soon after start.
 */
import { describe, it, expect, beforeAll, afterAll } from "@jest/globals";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import envsService from "../../../services/envs.service.ts";
import { startEnvHarness, waitFor, type DeploymentRecord, type EnvHarness } from "./harness.ts";
import type { EnvResyncResult } from "../../../services/envs.service.ts";

let h: EnvHarness;
let timed: EnvHarness;
let web: DeploymentRecord;

const image = {
  env: [
    { key: "MODE", type: "plain", value: "a" },
    { key: "PASS", type: "secret", value: "resync-Secr3t-1" },
  ],
};

beforeAll(async () => {
  h = await startEnvHarness({
    gateway: false,
    kubeSettings: { informers: false },
    envSettings: { resyncIntervalSeconds: 0 },
  });
  timed = await startEnvHarness({
    gateway: false,
    kubeSettings: { informers: false },
    envSettings: { resyncIntervalSeconds: 1 },
  });
  for (const harness of [h, timed]) {
    const ns = await harness.createNamespace("sync", "alice");
    const d = await harness.addDeployment({ name: "web", namespace: ns.id, image: "none" });
    await harness.broker.call("v1.k8s.envs.createEnv", { deployment: d.id, namespace: ns.id, image });
    if (harness === h) web = d;
  }
}, 30_000);

afterAll(async () => {
  await h?.stop();
  await timed?.stop();
});

async function values(
  harness: EnvHarness,
): Promise<{ plain?: Record<string, string>; secret?: Record<string, string> }> {
  const cm = await harness.core.readNamespacedConfigMap({ name: "web-env", namespace: "sync" }).catch(() => undefined);
  const s = await harness.core.readNamespacedSecret({ name: "web-env", namespace: "sync" }).catch(() => undefined);
  return {
    ...(cm === undefined ? {} : { plain: cm.data ?? {} }),
    ...(s === undefined
      ? {}
      : {
          secret: Object.fromEntries(
            Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64").toString()]),
          ),
        }),
  };
}

describe("v1.k8s.envs.resync", () => {
  it("writes nothing when nothing drifted", async () => {
    const writes = h.sandbox.requestCounts().writes;
    const result: EnvResyncResult = await h.broker.call("v1.k8s.envs.resync", {});
    expect(result).toEqual({ checked: 1, repaired: 0, removed: 0 });
    expect(h.sandbox.requestCounts().writes).toBe(writes);
  });

  it("puts back objects deleted while no event told it, and a plain value changed behind its back", async () => {
    await h.core.deleteNamespacedConfigMap({ name: "web-env", namespace: "sync" });
    await h.core.deleteNamespacedSecret({ name: "web-env", namespace: "sync" });
    expect(await values(h)).toEqual({});
    expect(await h.broker.call("v1.k8s.envs.resync", {})).toEqual({ checked: 1, repaired: 1, removed: 0 });
    expect(await values(h)).toEqual({ plain: { MODE: "a" }, secret: { PASS: "resync-Secr3t-1" } });
    await h.core.patchNamespacedConfigMap({
      name: "web-env",
      namespace: "sync",
      body: [{ op: "replace", path: "/data/MODE", value: "b" }],
    });
    expect(await h.broker.call("v1.k8s.envs.resync", {})).toEqual({ checked: 1, repaired: 1, removed: 0 });
    expect((await values(h)).plain).toEqual({ MODE: "a" });
  });

  it("removes the env records and objects of a deployment whose removal it did not see", async () => {
    const api = await h.addDeployment({ name: "api", namespace: web.namespace, image: "none" });
    await h.broker.call("v1.k8s.envs.createEnv", { deployment: api.id, namespace: api.namespace, image });
    const apiObjects = () =>
      Promise.all([
        h.core.readNamespacedConfigMap({ name: "api-env", namespace: "sync" }).then(
          () => true,
          () => false,
        ),
        h.core.readNamespacedSecret({ name: "api-env", namespace: "sync" }).then(
          () => true,
          () => false,
        ),
      ]);
    expect(await apiObjects()).toEqual([true, true]);
    // Removed with no k8s.deployments.removed seen here (v1.k8s.envs down at the time).
    await h.removeDeployment(api.id, { unseen: true });
    const count = (deployment: string) =>
      h.broker.call<number, { query: Record<string, string> }>("v1.k8s.envs.count", { query: { deployment } });
    expect(await count(api.id)).toBe(2);

    expect(await h.broker.call("v1.k8s.envs.resync", {})).toEqual({ checked: 2, repaired: 0, removed: 1 });
    expect(await count(api.id)).toBe(0);
    expect(await apiObjects()).toEqual([false, false]);
    // The other deployment's envs and objects are untouched, and the next resync has nothing left to do.
    expect(await count(web.id)).toBe(2);
    expect(await values(h)).toEqual({ plain: { MODE: "a" }, secret: { PASS: "resync-Secr3t-1" } });
    expect(await h.broker.call("v1.k8s.envs.resync", {})).toEqual({ checked: 1, repaired: 0, removed: 0 });
  });

  it("keeps the envs of a deployment whose record is missing while its Deployment is still in the cluster", async () => {
    const db = await h.addDeployment({ name: "db", namespace: web.namespace, image: "none" });
    await h.broker.call("v1.k8s.envs.createEnv", { deployment: db.id, namespace: db.namespace, image });
    const ours = {
      "app.kubernetes.io/managed-by": "moleculer-k8s",
      "app.kubernetes.io/component": "deployment",
      "moleculer-k8s/id": db.id,
    };
    const deployment = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "db", namespace: "sync", labels: ours, annotations: { "moleculer-k8s/id": db.id } },
      spec: {
        selector: { matchLabels: { app: "db" } },
        template: { metadata: { labels: { app: "db" } }, spec: { containers: [{ name: "db", image: "mariadb:11" }] } },
      },
    };
    await h.broker.call("v1.kube.apply", { objects: [deployment], fieldManager: "test" });
    // The record is missing but the Deployment is there: a lost record (a deployments service on an empty database),
    // not a removal. Its env values, a generated secret among them, are kept.
    await h.removeDeployment(db.id, { unseen: true });
    const count = () =>
      h.broker.call<number, { query: Record<string, string> }>("v1.k8s.envs.count", { query: { deployment: db.id } });
    expect(await h.broker.call("v1.k8s.envs.resync", {})).toEqual({ checked: 2, repaired: 0, removed: 0 });
    expect(await count()).toBe(2);
    // Once the Deployment is gone too, it was a removal.
    await h.broker.call("v1.kube.delete", { apiVersion: "apps/v1", kind: "Deployment", namespace: "sync", name: "db" });
    expect(await h.broker.call("v1.k8s.envs.resync", {})).toEqual({ checked: 2, repaired: 0, removed: 1 });
    expect(await count()).toBe(0);
  });

  it("skips deployments that are gone", async () => {
    await h.removeDeployment(web.id);
    await waitFor(async () => (await h.broker.call<number, unknown>("v1.k8s.envs.count", {})) === 0, 5000, "envs gone");
    expect(await h.broker.call("v1.k8s.envs.resync", {})).toEqual({ checked: 0, repaired: 0, removed: 0 });
  });

  it("runs on its own every resyncIntervalSeconds", async () => {
    await timed.core.deleteNamespacedConfigMap({ name: "web-env", namespace: "sync" });
    await waitFor(async () => (await values(timed)).plain?.MODE === "a", 5000, "the periodic resync");
  });

  it("is internal", async () => {
    await expect(h.broker.call("v1.k8s.envs.resync", {}, { meta: { userID: "alice" } })).rejects.toMatchObject({
      code: 403,
    });
  });
});

describe("v1.k8s.envs after a restart", () => {
  it("runs a resync soon after start: env objects gone meanwhile come back in seconds, not after RESYNC_INTERVAL", async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), "envs-restart-"));
    // On files, so that the records outlive the service; no periodic resync (5 minutes by default).
    const settings = { ...envsService.settings, db: { dataDir }, resyncIntervalSeconds: 0 };
    const r = await startEnvHarness({ gateway: false, kubeSettings: { informers: false }, envSettings: settings });
    try {
      const ns = await r.createNamespace("sync", "alice");
      const d = await r.addDeployment({ name: "web", namespace: ns.id, image: "none" });
      await r.broker.call("v1.k8s.envs.createEnv", { deployment: d.id, namespace: ns.id, image });
      expect(await values(r)).toEqual({ plain: { MODE: "a" }, secret: { PASS: "resync-Secr3t-1" } });
      // Stopped; meanwhile the objects go (an emptied cluster, a restore); started again on the same records.
      const envs = r.broker.getLocalService({ name: "k8s.envs", version: 1 });
      await r.broker.destroyService(envs);
      await r.core.deleteNamespacedConfigMap({ name: "web-env", namespace: "sync" });
      await r.core.deleteNamespacedSecret({ name: "web-env", namespace: "sync" });
      r.broker.createService({ ...envsService, settings });
      await waitFor(async () => (await values(r)).secret?.PASS === "resync-Secr3t-1", 5000, "the resync at start");
      expect(await values(r)).toEqual({ plain: { MODE: "a" }, secret: { PASS: "resync-Secr3t-1" } });
    } finally {
      await r.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 30_000);
});
