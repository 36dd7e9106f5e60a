/**
 * While the envs service is away (its node restarting, or not started yet), a deployment's env values cannot be
 * read: its renders keep the env checksum of its newest revision, so an apply meanwhile (a scale, a resync) does not
 * change the pod template and roll every pod — twice, once more when the envs come back. On the real stack (sandbox,
 * every service, the gateway); the envs service leaves its broker as a stopping node's would.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { startOpsStack, waitUntil, type OpsStack } from "../operations/stack.ts";

const CHECKSUM = "moleculer-k8s/config-checksum";

interface KubeDeployment {
  spec: { replicas: number; template: { metadata: { annotations?: Record<string, string> } } };
}

let stack: OpsStack;
/** The deployment of the first test and its pod template's env checksum (the second test goes on from there). */
let appId: string;
let appChecksum: string | undefined;

beforeAll(async () => {
  stack = await startOpsStack({ settings: { deployments: { resyncIntervalSeconds: 0 } } });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

const kubeDeployment = (name: string) => stack.kubectlJson<KubeDeployment>("get", "deploy", name, "-n", "ops");
const checksumOf = (d: KubeDeployment) => d.spec.template.metadata.annotations?.[CHECKSUM];

describe("a deployment's applies and rollbacks while the envs service is away", () => {
  it("keep the pod template's env checksum: a scale and a resync roll no pod", async () => {
    const app = await stack.deploy("steady");
    const deployed = await kubeDeployment("steady");
    const res = await stack.http("POST", "/api/v1/k8s/envs", stack.tokens.alice, {
      namespace: stack.ns.id,
      deployment: app.id,
      key: "GREETING",
      type: "plain",
      value: "hello",
    });
    expect(res.status).toBe(200);
    await waitUntil(
      async () => checksumOf(await kubeDeployment("steady")) !== checksumOf(deployed),
      10_000,
      "the env change applied",
    );
    // Its revision recorded (the newest revision holds the env values' checksum).
    await waitUntil(
      async () => {
        const h = await stack.http("GET", `/api/v1/k8s/deployments/${app.id}/history`, stack.tokens.alice);
        return (h.json as { revision?: number }).revision === 2;
      },
      10_000,
      "the env revision",
    );
    const withEnv = checksumOf(await kubeDeployment("steady"));

    const envs = stack.services.getLocalService({ name: "k8s.envs", version: 1 });
    if (envs === undefined) throw new Error("no envs service");
    await stack.services.destroyService(envs);

    const scaled = await stack.http("POST", `/api/v1/k8s/deployments/${app.id}/scale`, stack.tokens.alice, {
      replicas: 2,
    });
    expect(scaled.status).toBe(200);
    const live = await kubeDeployment("steady");
    expect(live.spec.replicas).toBe(2);
    expect(checksumOf(live)).toBe(withEnv);
    // The scale's revision keeps the env values as last known: it does not say they went.
    const history = await stack.http("GET", `/api/v1/k8s/deployments/${app.id}/history`, stack.tokens.alice);
    const { revision, items } = history.json as { revision: number; items: unknown[] };
    expect(revision).toBe(3);
    expect(items[0]).toMatchObject({
      revision: 3,
      changes: ["replicas"],
      env: [{ key: "GREETING", type: "plain", value: "hello" }],
    });

    const svc = stack.services.getLocalService({ name: "k8s.deployments", version: 1 }) as unknown as {
      resync(): Promise<string[]>;
    };
    expect(await svc.resync()).toEqual([]);
    expect(checksumOf(await kubeDeployment("steady"))).toBe(withEnv);
    appId = app.id;
    appChecksum = withEnv;
  });

  it("refuse a rollback that would change the env values (503 naming the envs service, nothing changed); one that keeps them goes on", async () => {
    // Revision 1 had no env values: restoring it needs the envs service.
    const refused = await stack.http("POST", `/api/v1/k8s/deployments/${appId}/rollback`, stack.tokens.alice, {
      revision: 1,
    });
    expect(refused.status).toBe(503);
    expect(refused.json).toMatchObject({
      code: 503,
      type: "SERVICE_UNAVAILABLE",
      data: { action: "v1.k8s.envs.find" },
    });
    const before = await stack.http("GET", `/api/v1/k8s/deployments/${appId}/history`, stack.tokens.alice);
    expect((before.json as { revision: number }).revision).toBe(3);
    expect((await kubeDeployment("steady")).spec.replicas).toBe(2);

    // Revision 2 holds the env values of now: nothing of them to restore.
    const done = await stack.http("POST", `/api/v1/k8s/deployments/${appId}/rollback`, stack.tokens.alice, {
      revision: 2,
    });
    expect(done.status).toBe(200);
    const live = await kubeDeployment("steady");
    expect(live.spec.replicas).toBe(1);
    expect(checksumOf(live)).toBe(appChecksum);
    const after = await stack.http("GET", `/api/v1/k8s/deployments/${appId}/history`, stack.tokens.alice);
    const { items } = after.json as { items: unknown[] };
    expect(items[0]).toMatchObject({
      revision: 4,
      rolledBackFrom: 2,
      env: [{ key: "GREETING", type: "plain", value: "hello" }],
    });
  });
});
