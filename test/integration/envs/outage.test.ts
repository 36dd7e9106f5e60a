/**
 * v1.k8s.envs while the cluster is unreachable: writes still succeed (the record is the desired state), and the
 * ConfigMap/Secret converge once the cluster is back (applied, or deleted when their last value went meanwhile). Other cluster errors fail the write with nothing stored.
 */
import { describe, it, expect, beforeAll, afterAll } from "@jest/globals";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { SECRET_MASK, type EnvEntity } from "../../../lib/entities.ts";
import type { EnvPatchResult } from "../../../services/envs.service.ts";
import { as, startEnvHarness, waitFor, type DeploymentRecord, type EnvHarness } from "./harness.ts";

let h: EnvHarness;
let dir: string;
let ns: { id: string; name: string };
let web: DeploymentRecord;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "envs-outage-"));
  h = await startEnvHarness({
    envSettings: { retry: { initialMs: 50, maxMs: 200 } },
    stateFile: path.join(dir, "state.json"),
  });
  ns = await h.createNamespace("calm", "alice");
  web = await h.addDeployment({ name: "web", namespace: ns.id, image: "none" });
}, 30_000);

afterAll(async () => {
  await h?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

async function secretData(name: string): Promise<Record<string, string> | undefined> {
  try {
    const s = await h.core.readNamespacedSecret({ name, namespace: "calm" });
    return Object.fromEntries(
      Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")]),
    );
  } catch {
    return undefined;
  }
}

describe("v1.k8s.envs when the cluster is unreachable", () => {
  it("stores changes while the cluster is down and applies them when it is back", async () => {
    const result: EnvPatchResult = await h.broker.call("v1.k8s.envs.createEnv", {
      deployment: web.id,
      namespace: ns.id,
      image: { env: [{ key: "MODE", type: "plain", value: "a" }] },
    });
    expect(result).toMatchObject({ applied: true, created: 1 });
    await h.stopSandbox();

    const env: EnvEntity = await h.broker.call(
      "v1.k8s.envs.create",
      { namespace: ns.id, deployment: web.id, key: "TOKEN", type: "secret", value: "while-D0wn-7781" },
      as("alice"),
    );
    expect(env.value).toBe(SECRET_MASK);
    const later: EnvPatchResult = await h.broker.call("v1.k8s.envs.createEnv", {
      deployment: web.id,
      namespace: ns.id,
      image: { env: [{ key: "EXTRA", type: "secret" }] },
    });
    expect(later).toMatchObject({ applied: false, created: 1, configMapName: "web-env" });
    const stored: EnvEntity[] = await h.broker.call("v1.k8s.envs.find", { query: { deployment: web.id } });
    expect(stored.map((e) => e.key).sort()).toEqual(["EXTRA", "MODE", "TOKEN"]);

    await h.restartSandbox();
    const data = await waitFor(
      async () => {
        const d = await secretData("web-env");
        return d?.TOKEN === "while-D0wn-7781" && d;
      },
      10_000,
      "the Secret to converge after the outage",
    );
    expect(Object.keys(data).sort()).toEqual(["EXTRA", "TOKEN"]);
    expect(h.lines.join("\n")).not.toContain("while-D0wn-7781");
  });

  it("deletes the ConfigMap of a last plain value removed while the cluster is down once it is back", async () => {
    const cmData = () =>
      h.core
        .readNamespacedConfigMap({ name: "web-env", namespace: "calm" })
        .then((cm) => cm.data ?? {})
        .catch(() => undefined);
    expect(await cmData()).toEqual({ MODE: "a" });
    const [mode] = await h.broker.call<EnvEntity[], unknown>("v1.k8s.envs.find", {
      query: { deployment: web.id, key: "MODE" },
    });
    await h.stopSandbox();
    const removed: EnvEntity = await h.broker.call("v1.k8s.envs.remove", { id: mode?.id }, as("alice"));
    expect(removed).toMatchObject({ key: "MODE" });
    await h.restartSandbox();
    await waitFor(async () => (await cmData()) === undefined, 10_000, "the ConfigMap deleted after the outage");
    // The secret values keep their Secret.
    expect(Object.keys((await secretData("web-env")) ?? {}).sort()).toEqual(["EXTRA", "TOKEN"]);
  });

  it("fails a write the cluster refuses for another reason, storing nothing and leaving no object changed", async () => {
    // A quota of no Secrets: the ConfigMap is taken, the Secret refused (403), the ConfigMap put back.
    const tight = await h.createNamespace("tight", "alice");
    await h.broker.call("v1.kube.apply", {
      objects: [
        {
          apiVersion: "v1",
          kind: "ResourceQuota",
          metadata: { name: "no-secrets", namespace: "tight" },
          spec: { hard: { secrets: "0" } },
        },
      ],
      fieldManager: "envs-test",
    });
    const d = await h.addDeployment({ name: "app", namespace: tight.id, image: "none" });
    // A plain value needs only the ConfigMap.
    const env: EnvEntity = await h.broker.call(
      "v1.k8s.envs.create",
      { namespace: tight.id, deployment: d.id, key: "MODE", value: "kept-v" },
      as("alice"),
    );
    // Made secret, it leaves the ConfigMap (taken) for the Secret (refused): the ConfigMap gets it back.
    await expect(
      h.broker.call("v1.k8s.envs.update", { id: env.id, type: "secret" }, as("alice")),
    ).rejects.toMatchObject({ code: 403, type: "K8S_FORBIDDEN" });
    const stored: EnvEntity[] = await h.broker.call("v1.k8s.envs.find", { query: { deployment: d.id } });
    expect(stored.map((e) => [e.key, e.type, e.value])).toEqual([["MODE", "plain", "kept-v"]]);
    await expect(
      h.broker.call(
        "v1.k8s.envs.create",
        { namespace: tight.id, deployment: d.id, key: "PASS", type: "secret", value: "refused-v" },
        as("alice"),
      ),
    ).rejects.toMatchObject({ code: 403, type: "K8S_FORBIDDEN" });
    expect(await h.broker.call("v1.k8s.envs.count", { query: { deployment: d.id } })).toBe(1);
    const cm = await h.core.readNamespacedConfigMap({ name: "app-env", namespace: "tight" }).catch(() => undefined);
    expect(cm?.data).toEqual({ MODE: "kept-v" });
  });
});
