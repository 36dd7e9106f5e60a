/**
 * A change whose revision was never written: env values changed and their node stopped before its revision debounce
 * fired, or the change reached the store without any event (its node died between storing it and telling anyone; an
 * image's new reference, or env values). The next resync writes that revision, as the lost event would have: it
 * raises the record's revision, lists the change, and applies the record once (the Deployment carries the revision).
 * Staged on the real stack (sandbox, every service, the gateway): a stopped node by clearing the pending revision
 * timer, a change without events by writing through the adapter (which sends none).
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import type { DeploymentHistory, EnvEntity } from "../../../lib/entities.ts";
import { startOpsStack, waitUntil, type OpsStack } from "./stack.ts";

interface Adapter {
  updateById(id: string, update: Record<string, unknown>): Promise<unknown>;
}
interface DeploymentsInternals {
  resync(): Promise<string[]>;
  revisionTimers: Map<string, NodeJS.Timeout>;
}

const REVISION = "moleculer-k8s/revision";
const CHECKSUM = "moleculer-k8s/config-checksum";

interface KubeDeployment {
  metadata: { generation: number; annotations?: Record<string, string> };
  spec: {
    template: { metadata: { annotations?: Record<string, string> }; spec: { containers: { image: string }[] } };
  };
}

let stack: OpsStack;
let svc: DeploymentsInternals;

beforeAll(async () => {
  // No periodic or start-up resync (the test runs the one that finds the change); an env revision waits a minute, so
  // that it is still pending when the test stops the node.
  stack = await startOpsStack({
    settings: {
      deployments: { resyncIntervalSeconds: 0, revisionDebounceMs: 60_000, reconciler: { initialResyncDelayMs: -1 } },
    },
  });
  svc = stack.services.getLocalService({ name: "k8s.deployments", version: 1 }) as unknown as DeploymentsInternals;
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

const kubeDeployment = (name: string) => stack.kubectlJson<KubeDeployment>("get", "deploy", name, "-n", "ops");

async function history(id: string): Promise<DeploymentHistory> {
  const res = await stack.http("GET", `/api/v1/k8s/deployments/${id}/history`, stack.tokens.alice);
  expect(res.status).toBe(200);
  return res.json as unknown as DeploymentHistory;
}

const checksumOf = (d: KubeDeployment) => d.spec.template.metadata.annotations?.[CHECKSUM];

/** Waits until the env change is applied: the pod template's checksum is no longer that of `before`. */
async function untilEnvApplied(name: string, before: KubeDeployment): Promise<void> {
  await waitUntil(
    async () => checksumOf(await kubeDeployment(name)) !== checksumOf(before),
    10_000,
    `the env change of ${name} applied`,
  );
}

/** What a node that stops now loses: its pending env revisions. */
function stopPendingRevisions(): void {
  for (const timer of svc.revisionTimers.values()) clearTimeout(timer);
  svc.revisionTimers.clear();
}

async function addEnv(deployment: string, key: string, value: string): Promise<EnvEntity> {
  const res = await stack.http("POST", "/api/v1/k8s/envs", stack.tokens.alice, {
    namespace: stack.ns.id,
    deployment,
    key,
    type: "plain",
    value,
  });
  expect(res.status).toBe(200);
  return res.json as unknown as EnvEntity;
}

describe("a change whose revision was never written", () => {
  it("env values applied, their node stopped before the revision: the resync records it and applies the revision", async () => {
    const app = await stack.deploy("applied-env");
    const before = await kubeDeployment("applied-env");
    await addEnv(app.id, "GREETING", "hello");
    // The env change is applied (a new checksum on the pod template) while its revision still waits.
    await untilEnvApplied("applied-env", before);
    stopPendingRevisions();
    expect((await history(app.id)).revision).toBe(1);

    await svc.resync();

    const h = await history(app.id);
    expect(h.revision).toBe(2);
    expect(h.items[0]).toMatchObject({ revision: 2, changes: ["env"] });
    expect(h.items[0]?.env).toEqual([{ key: "GREETING", type: "plain", value: "hello" }]);
    expect((await kubeDeployment("applied-env")).metadata.annotations?.[REVISION]).toBe("2");
    // Nothing is behind any more: a second resync writes no revision.
    await svc.resync();
    expect((await history(app.id)).revision).toBe(2);
  });

  it("env values stored without any event: the resync records the revision and rolls the pods once", async () => {
    const app = await stack.deploy("silent-env");
    const deployed = await kubeDeployment("silent-env");
    const env = await addEnv(app.id, "MODE", "blue");
    // Its apply done (else it could come after the silent change below and apply that too, as it would).
    await untilEnvApplied("silent-env", deployed);
    stopPendingRevisions();
    // Revision 2 holds MODE=blue (recorded by the resync: its timer was stopped); then MODE changes with no event.
    await svc.resync();
    expect((await history(app.id)).revision).toBe(2);
    const envs = stack.services.getLocalService({ name: "k8s.envs", version: 1 }) as unknown as { adapter: Adapter };
    await envs.adapter.updateById(env.id, { $set: { value: "green" } });
    const before = await kubeDeployment("silent-env");

    await svc.resync();

    const h = await history(app.id);
    expect(h.revision).toBe(3);
    expect(h.items[0]).toMatchObject({ revision: 3, changes: ["env"] });
    expect(h.items[0]?.env).toEqual([{ key: "MODE", type: "plain", value: "green" }]);
    const after = await kubeDeployment("silent-env");
    expect(after.metadata.annotations?.[REVISION]).toBe("3");
    expect(checksumOf(after)).not.toBe(checksumOf(before));
    // One apply for the change and its revision together: one new generation.
    expect(after.metadata.generation).toBe(before.metadata.generation + 1);
  });

  it("an image's new reference stored without any event: the resync records it as a revision and rolls to it", async () => {
    const app = await stack.deploy("silent-image");
    const images = stack.services.getLocalService({ name: "k8s.images", version: 1 }) as unknown as {
      adapter: Adapter;
    };
    // A rebuild's new digest, written as a dead build node would have left it.
    const digest = `sha256:${"ab".repeat(32)}`;
    await images.adapter.updateById(stack.nginx.id, { $set: { image: `nginx:1.27@${digest}`, digest } });
    try {
      await svc.resync();

      const h = await history(app.id);
      expect(h.revision).toBe(2);
      expect(h.items[0]).toMatchObject({ revision: 2, changes: ["imageReference"] });
      const live = await kubeDeployment("silent-image");
      expect(live.metadata.annotations?.[REVISION]).toBe("2");
      expect(live.spec.template.spec.containers[0]?.image).toContain(digest);
    } finally {
      await images.adapter.updateById(stack.nginx.id, {
        $set: { image: stack.nginx.image, digest: stack.nginx.digest },
      });
    }
  });
});
