/**
 * deploy/ applied to the sandbox with the real kubectl, server-side and client-side: every object is accepted and
 * stored, the Deployments roll out, and applying again changes nothing.
 */
import { describe, it, expect, beforeAll, afterAll } from "@jest/globals";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startSandbox, type Sandbox } from "../../../lib/sandbox/index.ts";
import { kubectl, kubectlOk, type KubectlOptions } from "../../helpers/kubectl.ts";

const DEPLOY = join(import.meta.dirname, "../../../deploy");
const NS = "moleculer-k8s";

/** What deploy/ holds: kind (as `kubectl get` names it) and name. */
const EXPECTED: [string, string, string | undefined][] = [
  ["namespace", NS, undefined],
  ["serviceaccount", "moleculer-k8s", NS],
  ["clusterrole.rbac.authorization.k8s.io", "moleculer-k8s", undefined],
  ["clusterrolebinding.rbac.authorization.k8s.io", "moleculer-k8s", undefined],
  ["configmap", "moleculer-k8s", NS],
  ["secret", "moleculer-k8s-mongo", NS],
  ["deployment.apps", "nats", NS],
  ["service", "nats", NS],
  ["service", "mongodb", NS],
  ["statefulset.apps", "mongodb", NS],
  ["deployment.apps", "gateway", NS],
  ["service", "gateway", NS],
  ["deployment.apps", "services", NS],
];

interface Cluster {
  sandbox: Sandbox;
  opts: KubectlOptions;
}
let dir: string;
const clusters: Sandbox[] = [];

async function cluster(name: string): Promise<Cluster> {
  const sandbox = await startSandbox({ port: 0, podReadyDelayMs: 20 });
  clusters.push(sandbox);
  const kubeconfig = join(dir, `${name}.kubeconfig`);
  await sandbox.writeKubeconfig(kubeconfig);
  return { sandbox, opts: { kubeconfig, cacheDir: join(dir, `${name}-cache`) } };
}

function stored(sandbox: Sandbox): [string, string, string | undefined][] {
  const keyOf = (kind: string): string => kind.replace(/^(\w+)\.(.*)$/, "$1s.$2").replace(/^(\w+)$/, "$1s");
  return EXPECTED.filter(([kind, name, ns]) => sandbox.store.get(keyOf(kind), ns, name) !== undefined);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "deploy-manifests-"));
});

afterAll(async () => {
  for (const s of clusters) await s.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe("kubectl apply -f deploy/", () => {
  it("applies server-side: every object stored, the Deployments roll out, a re-apply changes nothing", async () => {
    const { sandbox, opts } = await cluster("ssa");
    const out = await kubectlOk(["apply", "--server-side", "-f", DEPLOY], opts);
    for (const [kind, name] of EXPECTED) expect(out).toContain(`${kind}/${name} serverside-applied`);
    expect(stored(sandbox)).toEqual(EXPECTED);
    for (const d of ["nats", "gateway", "services"]) {
      await kubectlOk(["rollout", "status", `deployment/${d}`, "-n", NS, "--timeout=20s"], opts);
    }
    const before = sandbox.store.currentResourceVersion();
    await kubectlOk(["apply", "--server-side", "-f", DEPLOY], opts);
    expect(sandbox.store.currentResourceVersion()).toBe(before);
    const diff = await kubectl(["diff", "--server-side", "-f", DEPLOY], opts);
    expect([diff.code, diff.stdout]).toEqual([0, ""]);
  });

  it("applies client-side, then server-side over it without conflicts", async () => {
    const { sandbox, opts } = await cluster("csa");
    const out = await kubectlOk(["apply", "-f", DEPLOY], opts);
    for (const [kind, name] of EXPECTED) expect(out).toContain(`${kind}/${name} created`);
    expect(stored(sandbox)).toEqual(EXPECTED);
    const again = await kubectlOk(["apply", "-f", DEPLOY], opts);
    // a Secret written with stringData is always "configured" by a client-side re-apply, as on a real cluster
    // (kubernetes/kubernetes#87736: stringData is never stored, so the 3-way merge puts it back each time)
    for (const [kind, name] of EXPECTED) {
      expect(again).toContain(`${kind}/${name} ${kind === "secret" ? "configured" : "unchanged"}`);
    }
    await kubectlOk(["apply", "--server-side", "-f", DEPLOY], opts);
    const gateway = JSON.parse(await kubectlOk(["get", "deployment", "gateway", "-n", NS, "-o", "json"], opts)) as {
      spec: { template: { spec: { containers: { env: { name: string; value?: string }[] }[] } } };
    };
    expect(gateway.spec.template.spec.containers[0]?.env).toContainEqual({ name: "SERVICES", value: "api" });
  });
});
