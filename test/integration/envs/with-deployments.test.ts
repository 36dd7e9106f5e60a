/**
 * v1.k8s.envs with the real v1.k8s.deployments against the sandbox: a deployment created from the php image gets its
 * env objects and reads them with envFrom; a changed env value rolls its pods; removing it removes its envs and objects;
 * no secret value reaches a response, an event or a log line.
 */
import { describe, it, expect, beforeAll, afterAll } from "@jest/globals";
import { ApiException, AppsV1Api, KubeConfig, type V1Deployment } from "@kubernetes/client-node";
import { SECRET_MASK, type EnvEntity } from "../../../lib/entities.ts";
import { CHECKSUM_ANNOTATION } from "../../../lib/manifests/index.ts";
import { as, startEnvHarness, waitFor, type EnvHarness } from "./harness.ts";
import { holdNextCall } from "../../helpers/hold.ts";

let h: EnvHarness;
let apps: AppsV1Api;
let ns: { id: string; name: string };
const secrets = new Set<string>();
const responses: unknown[] = [];

beforeAll(async () => {
  h = await startEnvHarness({ realDeployments: true });
  const kc = new KubeConfig();
  kc.loadFromString(h.sandbox.kubeconfig());
  apps = kc.makeApiClient(AppsV1Api);
  ns = await h.createNamespace("roll", "alice");
}, 30_000);

afterAll(async () => {
  await h?.stop();
});

function readDeployment(name: string): Promise<V1Deployment> {
  return apps.readNamespacedDeployment({ name, namespace: "roll" });
}
async function secretData(name: string): Promise<Record<string, string>> {
  const s = await h.core.readNamespacedSecret({ name, namespace: "roll" });
  return Object.fromEntries(
    Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")]),
  );
}
async function gone(read: Promise<unknown>): Promise<boolean> {
  try {
    await read;
    return false;
  } catch (err) {
    if (err instanceof ApiException && err.code === 404) return true;
    throw err;
  }
}

describe("v1.k8s.envs with v1.k8s.deployments", () => {
  let deploymentId: string;

  it("gives a deployment of the php image its generated secret, read by the Deployment with envFrom", async () => {
    const image = await h.broker.call<{ id: string }, { name: string }>("v1.k8s.images.resolveName", {
      name: "php-8-1-0-fpm",
    });
    const created = await h.broker.call<{ id: string }, Record<string, unknown>>(
      "v1.k8s.deployments.create",
      { name: "my-app-php", namespace: ns.id, image: image.id },
      as("alice"),
    );
    responses.push(created);
    deploymentId = created.id;
    const envs: EnvEntity[] = await h.broker.call("v1.k8s.envs.find", { query: { deployment: deploymentId } });
    expect(envs).toEqual([expect.objectContaining({ key: "PHP_ROOT_PASSWORD", type: "secret", value: SECRET_MASK })]);
    const generated = (await secretData("my-app-php-env")).PHP_ROOT_PASSWORD ?? "";
    secrets.add(generated);
    expect(Buffer.from(generated, "base64url")).toHaveLength(24);
    const d = await waitFor(async () => {
      const obj = await readDeployment("my-app-php").catch(() => undefined);
      return obj?.spec?.template.spec?.containers[0]?.envFrom !== undefined && obj;
    });
    expect(d.spec?.template.spec?.containers[0]?.envFrom).toEqual([
      { configMapRef: { name: "my-app-php-env", optional: true } },
      { secretRef: { name: "my-app-php-env", optional: true } },
    ]);
  });

  it("rolls the pods when a secret value changes: new checksum on the pod template, Secret re-patched", async () => {
    const before = (await readDeployment("my-app-php")).spec?.template.metadata?.annotations?.[CHECKSUM_ANNOTATION];
    expect(before).toEqual(expect.any(String));
    const [env] = await h.broker.call<EnvEntity[], unknown>("v1.k8s.envs.find", {
      query: { deployment: deploymentId, key: "PHP_ROOT_PASSWORD" },
    });
    const value = "r0ll-the-Pods-3390";
    secrets.add(value);
    responses.push(await h.broker.call("v1.k8s.envs.update", { id: env?.id, value }, as("alice")));
    expect((await secretData("my-app-php-env")).PHP_ROOT_PASSWORD).toBe(value);
    const after = await waitFor(
      async () => {
        const a = (await readDeployment("my-app-php")).spec?.template.metadata?.annotations?.[CHECKSUM_ANNOTATION];
        return a !== before && a;
      },
      5000,
      "a new pod-template checksum",
    );
    expect(after).toEqual(expect.any(String));
    const rolled = await waitFor(
      async () => {
        const d = await readDeployment("my-app-php");
        return (
          (d.status?.observedGeneration ?? 0) >= (d.metadata?.generation ?? 1) && d.status?.updatedReplicas === 1 && d
        );
      },
      10_000,
      "the rollout",
    );
    expect(rolled.metadata?.generation).toBeGreaterThan(1);
  });

  it("removes the deployment's envs and their ConfigMap and Secret with the deployment", async () => {
    responses.push(await h.broker.call("v1.k8s.deployments.remove", { id: deploymentId }, as("alice")));
    await waitFor(
      async () =>
        (await h.broker.call<number, unknown>("v1.k8s.envs.count", { query: { deployment: deploymentId } })) === 0,
      5000,
      "envs removed",
    );
    await waitFor(
      async () =>
        (await gone(h.core.readNamespacedSecret({ name: "my-app-php-env", namespace: "roll" }))) &&
        (await gone(h.core.readNamespacedConfigMap({ name: "my-app-php-env", namespace: "roll" }))),
      5000,
      "env objects deleted",
    );
  });

  it("makes no envs for a deployment removed while its create was on the way to making them", async () => {
    const image = await h.broker.call<{ id: string }, { name: string }>("v1.k8s.images.resolveName", {
      name: "php-8-1-0-fpm",
    });
    const svc = h.broker.getLocalService("v1.k8s.deployments") as unknown as {
      findRaw(query: object): Promise<{ _id: string }[]>;
    };
    // The create's envs wait until its record has been removed (what removing its namespace does to it).
    const envs = holdNextCall(svc, "createImageEnvs");
    const creating = h.broker
      .call("v1.k8s.deployments.create", { name: "brief-php", namespace: ns.id, image: image.id }, as("alice"))
      .catch((err: unknown) => err);
    const [id] = (await envs.held) as [string];
    await h.broker.call("v1.k8s.deployments.remove", { id }, as("alice"));
    envs.release();
    await envs.done;
    await creating;
    const count = () => h.broker.call<number, unknown>("v1.k8s.envs.count", { query: { deployment: id } });
    expect(await count()).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await count()).toBe(0);
    expect(await gone(h.core.readNamespacedSecret({ name: "brief-php-env", namespace: "roll" }))).toBe(true);
  });

  it("let no secret value reach a response, an event or a log line", () => {
    expect(secrets.size).toBe(2);
    const seen = [JSON.stringify(responses), JSON.stringify(h.events), h.lines.join("\n")];
    for (const s of secrets) {
      for (const text of seen) {
        expect(text).not.toContain(s);
        expect(text).not.toContain(Buffer.from(s).toString("base64"));
      }
    }
  });
});
