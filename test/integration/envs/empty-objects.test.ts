/**
 * The env objects of a deployment exist only while they hold a value, with the whole suite on a real broker against
 * the sandbox (real v1.k8s.deployments), checked with kubectl: a deployment from an image without env gets no
 * `<name>-env` ConfigMap or Secret (and sends no write for them), its first plain value brings the ConfigMap and a new
 * pod-template checksum, a value made secret moves to the Secret and takes the ConfigMap away, the last value removed
 * deletes its object (so does a rollback to a revision without env values), and a resync or rePatch then writes
 * nothing. An empty object left in the cluster (as earlier versions applied them) is deleted by the resync; a
 * non-empty one deleted behind the suite's back comes back.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { stringify } from "yaml";
import type {
  DeploymentEntity,
  DeploymentHistory,
  EnvEntity,
  ImageEntity,
  NamespaceEntity,
} from "../../../lib/entities.ts";
import { CHECKSUM_ANNOTATION } from "../../../lib/manifests/index.ts";
import {
  renderEnvObjects,
  type EnvPackResult,
  type EnvPatchResult,
  type EnvResyncResult,
} from "../../../services/envs.service.ts";
import { startStack, waitUntil, type Stack } from "../deployments/stack.ts";

const ALICE = { meta: { userID: "alice" } };

let stack: Stack;
let dir: string;
let ns: NamespaceEntity;
let nginx: ImageEntity;
let web: DeploymentEntity;
/** The pod-template checksum of `web` without any env value. */
let emptyChecksum: string;

const call = <T>(action: string, params: Record<string, unknown>, opts: object = ALICE): Promise<T> =>
  stack.services.call<T, Record<string, unknown>>(action, params, opts);

interface Obj {
  metadata: { annotations?: Record<string, string> };
  data?: Record<string, string>;
  spec?: { template: { metadata?: { annotations?: Record<string, string> }; spec: { containers: unknown[] } } };
}

/** `kubectl get <kind> <name> -n shop -o json`, or undefined when kubectl says it is not there. */
async function kubectlGet(kind: string, name: string): Promise<Obj | undefined> {
  const res = await stack.kubectl("get", kind, name, "-n", "shop", "-o", "json");
  if (res.code === 0) return JSON.parse(res.stdout) as Obj;
  if (res.stderr.includes("NotFound")) return undefined;
  throw new Error(`kubectl get ${kind} ${name}: ${res.stderr}`);
}

/** Every env object of the namespace, as kubectl lists them (`configmap/<name>`, `secret/<name>`). */
async function envObjects(): Promise<string[]> {
  const res = await stack.kubectl(
    "get",
    "cm,secret",
    "-n",
    "shop",
    "-l",
    "app.kubernetes.io/component=env",
    "-o",
    "name",
  );
  if (res.code !== 0) throw new Error(`kubectl get cm,secret: ${res.stderr}`);
  return res.stdout.split("\n").filter(Boolean).sort();
}

async function podChecksum(): Promise<string | undefined> {
  return (await kubectlGet("deploy", "web"))?.spec?.template.metadata?.annotations?.[CHECKSUM_ANNOTATION];
}

async function available(id: string): Promise<void> {
  await waitUntil(
    async () => (await call<DeploymentEntity>("v1.k8s.deployments.get", { id })).status.phase === "Available",
    10_000,
    `deployment ${id} Available`,
  );
}

/** Resyncs envs and deployments; answers the envs resync and the API writes both sent. */
async function resync(): Promise<{ envs: EnvResyncResult; writes: number }> {
  const deployments = stack.services.getLocalService("v1.k8s.deployments") as unknown as {
    resync(): Promise<string[]>;
  };
  const before = stack.sandbox.requestCounts().writes;
  const envs = await stack.services.call<EnvResyncResult, Record<string, never>>("v1.k8s.envs.resync", {});
  expect(await deployments.resync()).toEqual([]);
  return { envs, writes: stack.sandbox.requestCounts().writes - before };
}

beforeAll(async () => {
  stack = await startStack({ settings: { envs: { resyncIntervalSeconds: 0 } } });
  dir = await mkdtemp(path.join(os.tmpdir(), "envs-empty-"));
  ns = await stack.services.call("v1.k8s.namespaces.create", { name: "shop", owner: "alice" });
  nginx = await stack.services.call("v1.k8s.images.resolveName", { name: "nginx-1-27" });
  await waitUntil(async () => (await stack.kubectl("get", "ns", "shop")).code === 0, 10_000, "namespace shop");
}, 30_000);

afterAll(async () => {
  await stack?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe("v1.k8s.envs objects only while they hold a value", () => {
  it("gives a deployment from an image without env no env ConfigMap or Secret, and sends no write for them", async () => {
    expect(nginx.env ?? []).toEqual([]);
    const log0 = stack.sandbox.auditLog().length;
    web = await call<DeploymentEntity>("v1.k8s.deployments.create", { name: "web", namespace: ns.id, image: nginx.id });
    await available(web.id);
    const envRequests = stack.sandbox
      .auditLog()
      .slice(log0)
      .filter((e) => (e.resource === "configmaps" || e.resource === "secrets") && e.name === "web-env");
    expect(envRequests.map((e) => `${e.verb} ${e.resource}`)).toEqual([]);
    expect(await envObjects()).toEqual([]);
    expect(await kubectlGet("configmap", "web-env")).toBeUndefined();
    expect(await kubectlGet("secret", "web-env")).toBeUndefined();
    // The Deployment still reads both, optionally: a first value only changes the pod template's checksum.
    const container = (await kubectlGet("deploy", "web"))?.spec?.template.spec.containers[0];
    expect(container).toMatchObject({
      envFrom: [
        { configMapRef: { name: "web-env", optional: true } },
        { secretRef: { name: "web-env", optional: true } },
      ],
    });
    emptyChecksum = (await podChecksum()) ?? "";
    expect(emptyChecksum).toMatch(/^[a-f0-9]{64}$/);
  });

  it("answers patchConfigMap and pack truthfully for it, writing nothing", async () => {
    const writes = stack.sandbox.requestCounts().writes;
    const patched = await call<EnvPatchResult>("v1.k8s.envs.patchConfigMap", { deployment: web.id });
    expect(patched).toMatchObject({ configMapName: "web-env", secretName: "web-env", applied: true });
    expect(stack.sandbox.requestCounts().writes).toBe(writes);
    const pack = await call<EnvPackResult>("v1.k8s.envs.pack", { deployment: web.id });
    expect(pack).toMatchObject({
      configMap: { name: "web-env", namespace: "shop", data: {} },
      secret: { name: "web-env", namespace: "shop", keys: [], data: {} },
    });
    expect(await envObjects()).toEqual([]);
  });

  let mode: EnvEntity;

  it("creates the ConfigMap with the first plain value and rolls the pods (a new checksum)", async () => {
    mode = await call<EnvEntity>("v1.k8s.envs.create", {
      namespace: ns.id,
      deployment: web.id,
      key: "MODE",
      value: "production",
    });
    expect((await kubectlGet("configmap", "web-env"))?.data).toEqual({ MODE: "production" });
    expect(await envObjects()).toEqual(["configmap/web-env"]);
    await waitUntil(async () => (await podChecksum()) !== emptyChecksum, 5000, "a new pod-template checksum");
    await available(web.id);
  });

  it("moves a value made secret from the ConfigMap (deleted) to the Secret, and back", async () => {
    const before = await podChecksum();
    await call("v1.k8s.envs.update", { id: mode.id, type: "secret" });
    expect(await kubectlGet("configmap", "web-env")).toBeUndefined();
    const secret = await kubectlGet("secret", "web-env");
    expect(Buffer.from(secret?.data?.MODE ?? "", "base64").toString()).toBe("production");
    expect(await envObjects()).toEqual(["secret/web-env"]);
    await waitUntil(async () => (await podChecksum()) !== before, 5000, "a new pod-template checksum");

    await call("v1.k8s.envs.update", { id: mode.id, type: "plain", value: "staging" });
    expect(await kubectlGet("secret", "web-env")).toBeUndefined();
    expect((await kubectlGet("configmap", "web-env"))?.data).toEqual({ MODE: "staging" });
    expect(await envObjects()).toEqual(["configmap/web-env"]);
  });

  it("puts back the ConfigMap deleted with kubectl while it holds a value", async () => {
    const res = await stack.kubectl("delete", "configmap", "web-env", "-n", "shop");
    expect(res.code).toBe(0);
    await waitUntil(
      async () => (await kubectlGet("configmap", "web-env"))?.data?.MODE === "staging",
      5000,
      "the ConfigMap back",
    );
  });

  it("deletes the ConfigMap with the last value, and a resync after that writes nothing", async () => {
    await call("v1.k8s.envs.remove", { id: mode.id });
    expect(await kubectlGet("configmap", "web-env")).toBeUndefined();
    expect(await envObjects()).toEqual([]);
    // No env value again: the checksum of none.
    await waitUntil(async () => (await podChecksum()) === emptyChecksum, 5000, "the checksum of no env value");
    await available(web.id);
    await new Promise((r) => setTimeout(r, 300)); // the last watch events settle
    // Empty and absent is converged.
    expect(await resync()).toEqual({ envs: { checked: 0, repaired: 0, removed: 0 }, writes: 0 });
    // Still nothing after the watch saw the deletion (no repair of an object that should not exist).
    expect(await envObjects()).toEqual([]);
  });

  it("deletes empty env objects left in the cluster (as earlier versions applied them) on the next resync", async () => {
    const ref = { id: web.id, name: "web", namespace: ns.id, namespaceName: "shop" };
    const file = path.join(dir, "empty-env.yaml");
    await writeFile(
      file,
      renderEnvObjects(ref, [])
        .map((o) => stringify(o))
        .join("---\n"),
    );
    const applied = await stack.kubectl("apply", "--server-side", "--field-manager", "k8s.envs", "-f", file);
    expect(applied.code).toBe(0);
    expect(await envObjects()).toEqual(["configmap/web-env", "secret/web-env"]);
    await waitUntil(
      async () => {
        const { items } = await stack.services.call<{ items: unknown[] }, Record<string, string>>("v1.kube.list", {
          apiVersion: "v1",
          kind: "Secret",
          namespace: "shop",
          labelSelector: "app.kubernetes.io/managed-by=moleculer-k8s,app.kubernetes.io/component=env",
        });
        return items.length === 1;
      },
      5000,
      "the watch cache holding them",
    );
    // Empty but present is drift: both deleted (two writes), then converged.
    expect((await resync()).writes).toBe(2);
    expect(await envObjects()).toEqual([]);
    expect(await resync()).toEqual({ envs: { checked: 0, repaired: 0, removed: 0 }, writes: 0 });
  });

  it("deletes an empty ConfigMap left beside a deployment's secret values on the next resync", async () => {
    const token = await call<EnvEntity>("v1.k8s.envs.create", {
      namespace: ns.id,
      deployment: web.id,
      key: "TOKEN",
      type: "secret",
      value: "empty-objects-Secr3t",
    });
    expect(await envObjects()).toEqual(["secret/web-env"]);
    const ref = { id: web.id, name: "web", namespace: ns.id, namespaceName: "shop" };
    const file = path.join(dir, "empty-cm.yaml");
    await writeFile(file, stringify(renderEnvObjects(ref, [])[0]));
    expect((await stack.kubectl("apply", "--server-side", "--field-manager", "k8s.envs", "-f", file)).code).toBe(0);
    await waitUntil(async () => (await envObjects()).length === 2, 5000, "the empty ConfigMap");
    await new Promise((r) => setTimeout(r, 300)); // the watch cache catches up
    // Drift of that deployment: its objects are brought back to the record (the Secret re-applied, the ConfigMap deleted).
    const { envs, writes } = await resync();
    expect(envs).toEqual({ checked: 1, repaired: 1, removed: 0 });
    expect(writes).toBe(2);
    expect(await envObjects()).toEqual(["secret/web-env"]);
    expect(await resync()).toEqual({ envs: { checked: 1, repaired: 0, removed: 0 }, writes: 0 });
    await call("v1.k8s.envs.remove", { id: token.id });
    expect(await envObjects()).toEqual([]);
  });

  it("deletes the ConfigMap on a rollback to a revision without env values; a rePatch then writes no env object", async () => {
    const history = () => call<DeploymentHistory>("v1.k8s.deployments.history", { id: web.id });
    // The newest revision, once the last env change (TOKEN removed) is recorded, has no env value.
    const bare = await waitUntil(
      async () => {
        const h = await history();
        const [newest] = h.items;
        return newest?.revision === h.revision && newest.env.length === 0 && h.revision;
      },
      5000,
      "a revision without env values",
    );
    await call("v1.k8s.envs.create", { namespace: ns.id, deployment: web.id, key: "LEVEL", value: "debug" });
    expect((await kubectlGet("configmap", "web-env"))?.data).toEqual({ LEVEL: "debug" });
    await waitUntil(async () => (await history()).revision > bare, 5000, "the env revision");

    await call("v1.k8s.deployments.rollback", { id: web.id, revision: bare });
    await waitUntil(async () => (await envObjects()).length === 0, 5000, "the ConfigMap deleted by the rollback");
    await waitUntil(async () => (await podChecksum()) === emptyChecksum, 5000, "the checksum of no env value");

    const log0 = stack.sandbox.auditLog().length;
    const repatched = await call("v1.k8s.envs.rePatchConfigMap", { namespace: ns.id });
    expect(repatched).toEqual({ namespace: ns.id, deployments: 1, applied: 1 });
    const envWrites = stack.sandbox
      .auditLog()
      .slice(log0)
      .filter(
        (e) => (e.resource === "configmaps" || e.resource === "secrets") && !["get", "list", "watch"].includes(e.verb),
      );
    expect(envWrites.map((e) => `${e.verb} ${e.resource}/${e.name}`)).toEqual([]);
    expect(await envObjects()).toEqual([]);
  });
});
