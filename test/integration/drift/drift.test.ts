/**
 * Drift correction against a real sandbox: objects of deployments created through v1.k8s.deployments are changed or
 * deleted behind the suite's back with kubectl, and the watch puts them back from the record within seconds (the
 * periodic resync is off here: RESYNC_INTERVAL's 300 s never comes, and the start-up resync is disabled). Then a
 * resync over 200 converged deployments with nothing drifted sends no write (and no read) to the API server.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import type { ServiceSchema } from "moleculer";
import { AppliedRenders } from "../../../lib/applied-renders.ts";
import type { DeploymentEntity, ImageEntity, NamespaceEntity } from "../../../lib/entities.ts";
import kubeService from "../../../services/kube.service.ts";
import { startKubeAgain } from "../../helpers/broker.ts";
import { startStack, waitUntil, type Stack } from "../deployments/stack.ts";

let stack: Stack;
let ns: NamespaceEntity;
let nginx: ImageEntity;
let web: DeploymentEntity;

const REPAIR_MS = 5000;
const QUOTA = { cpu: 400_000, memory: 400_000, pods: 500 };

interface Obj {
  metadata: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: Record<string, unknown>;
  data?: Record<string, string>;
}

const get = (kind: string, name: string, namespace = "shop") =>
  stack
    .kubectl("get", kind, name, "-n", namespace, "-o", "json")
    .then((r) => (r.code === 0 ? (JSON.parse(r.stdout) as Obj) : undefined));

async function kubectlOk(...args: string[]): Promise<void> {
  const res = await stack.kubectl(...args);
  if (res.code !== 0) throw new Error(`kubectl ${args.join(" ")}: ${res.stderr}`);
}

async function repaired(what: string, check: () => Promise<boolean>): Promise<number> {
  const t0 = Date.now();
  await waitUntil(async () => (await check()) || undefined, REPAIR_MS, what);
  return Date.now() - t0;
}

async function allAvailable(ids: string[], timeoutMs: number): Promise<void> {
  let phases: string[] = [];
  await waitUntil(
    async () => {
      const rows = await stack.services.call<{ status: { phase: string } }[], Record<string, unknown>>(
        "v1.k8s.deployments.find",
        { query: { _id: { $in: ids } }, fields: ["status"] },
      );
      phases = rows.map((r) => r.status.phase);
      return rows.length === ids.length && rows.every((r) => r.status.phase === "Available");
    },
    timeoutMs,
    `${ids.length} deployments Available`,
  ).catch((err: unknown) => {
    const counts: Record<string, number> = {};
    for (const p of phases) counts[p] = (counts[p] ?? 0) + 1;
    throw new Error(`${(err as Error).message}: ${JSON.stringify(counts)}`);
  });
}

beforeAll(async () => {
  stack = await startStack({
    settings: {
      deployments: { allowedDomains: ["example.com"] },
      // 200 deployments are ~1,000 writes: the limiter is raised so that only the cluster paces them.
      kube: { limits: { qps: 2000, burst: 2000 } },
    },
  });
  ns = await stack.services.call("v1.k8s.namespaces.create", { name: "shop", owner: "alice", quota: QUOTA });
  nginx = await stack.services.call("v1.k8s.images.resolveName", { name: "nginx-1-27" });
  await waitUntil(async () => (await stack.kubectl("get", "ns", "shop")).code === 0, 10_000, "namespace shop");
  web = await stack.services.call("v1.k8s.deployments.create", {
    name: "web",
    namespace: ns.id,
    image: nginx.id,
    replicas: 2,
    vHosts: ["web.example.com"],
    configMap: { name: "conf", data: { "default.conf": "server { listen 80; }" } },
  });
  await allAvailable([web.id], 10_000);
}, 30_000);

afterAll(async () => {
  await stack?.stop();
});

describe("v1.k8s.deployments drift correction", () => {
  it("puts back a deleted Service", async () => {
    await kubectlOk("delete", "svc", "web-service", "-n", "shop");
    await repaired("Service back", async () => (await get("svc", "web-service")) !== undefined);
    const svc = await get("svc", "web-service");
    expect(svc?.metadata.labels).toMatchObject({ "app.kubernetes.io/managed-by": "moleculer-k8s" });
  });

  it("scales a Deployment scaled with kubectl back to the record's replicas", async () => {
    await kubectlOk("scale", "deploy", "web", "-n", "shop", "--replicas=5");
    await repaired("replicas back to 2", async () => (await get("deploy", "web"))?.spec.replicas === 2);
    await allAvailable([web.id], 10_000);
  });

  it("sets an image changed with kubectl set image back to the catalog's", async () => {
    const before = await get("deploy", "web");
    const image = (before?.spec as { template: { spec: { containers: { image: string }[] } } }).template.spec
      .containers[0]?.image;
    expect(image).toContain("nginx");
    await kubectlOk("set", "image", "deploy/web", "web=sandbox.invalid/other:1", "-n", "shop");
    await repaired("image back", async () => {
      const dep = await get("deploy", "web");
      const c = (dep?.spec as { template: { spec: { containers: { image: string }[] } } }).template.spec.containers;
      return c[0]?.image === image;
    });
    await allAvailable([web.id], 10_000);
  });

  it("takes `kubectl rollout restart` as a restart asked for: recorded as a revision, not undone", async () => {
    // Restarted through the suite first: the render then carries a restart time, which kubectl's replaces.
    await stack.services.call("v1.k8s.deployments.restart", { id: web.id });
    await allAvailable([web.id], 10_000);
    const before = await stack.services.call<DeploymentEntity, { id: string }>("v1.k8s.deployments.get", {
      id: web.id,
    });
    await new Promise((r) => setTimeout(r, 1100)); // kubectl's restart time has whole seconds
    await kubectlOk("rollout", "restart", "deploy/web", "-n", "shop");
    const template = async () =>
      ((await get("deploy", "web"))?.spec as { template: { metadata: { annotations: Record<string, string> } } })
        .template.metadata.annotations["kubectl.kubernetes.io/restartedAt"];
    const restartedAt = await waitUntil(
      async () => {
        const now = await template();
        return now !== undefined && now !== before.restartedAt ? now : undefined;
      },
      REPAIR_MS,
      "kubectl's restart",
    );
    const recorded = await waitUntil(
      async () => {
        const now = await stack.services.call<DeploymentEntity, { id: string }>("v1.k8s.deployments.get", {
          id: web.id,
        });
        return now.restartedAt === restartedAt ? now : undefined;
      },
      REPAIR_MS,
      "the restart recorded",
    );
    expect(recorded.revision).toBe(before.revision + 1);
    // Still the restart kubectl made, after the events of its rollout.
    await allAvailable([web.id], 10_000);
    expect(await template()).toBe(restartedAt);
    const history = await stack.services.call<{ items: { revision: number; changes: string[] }[] }, { id: string }>(
      "v1.k8s.deployments.history",
      { id: web.id },
    );
    expect(history.items[0]).toMatchObject({ revision: recorded.revision, changes: ["restartedAt"] });
  });

  it("puts back a label changed by a patch (kubectl edit) and one that hid the object from the watch", async () => {
    await kubectlOk(
      "patch",
      "deploy",
      "web",
      "-n",
      "shop",
      "--type=merge",
      "-p",
      JSON.stringify({ metadata: { labels: { "app.kubernetes.io/part-of": "someone-else" } } }),
    );
    await repaired(
      "part-of label back",
      async () => (await get("deploy", "web"))?.metadata.labels?.["app.kubernetes.io/part-of"] === "moleculer-k8s",
    );
    // The watches select managed-by=moleculer-k8s: to them the Service is deleted, and it is applied again.
    await kubectlOk("label", "svc", "web-service", "-n", "shop", "app.kubernetes.io/managed-by=helm", "--overwrite");
    await repaired(
      "managed-by label back",
      async () =>
        (await get("svc", "web-service"))?.metadata.labels?.["app.kubernetes.io/managed-by"] === "moleculer-k8s",
    );
  });

  it("puts back a Service port edited with kubectl, leaving no port of the edit behind", async () => {
    const ports = async () =>
      ((await get("svc", "web-service"))?.spec as { ports: { name: string; port: number }[] }).ports.map(
        (p) => `${p.name}:${p.port}`,
      );
    const ours = await ports();
    expect(ours).toEqual(["http:80"]);
    // kubectl edit's way: the port's number changed in place (another item of the list, keyed by port and protocol).
    await kubectlOk(
      "patch",
      "svc",
      "web-service",
      "-n",
      "shop",
      "--type=json",
      "-p",
      '[{"op":"replace","path":"/spec/ports/0/port","value":8080}]',
    );
    await repaired("the Service's ports back", async () => JSON.stringify(await ports()) === JSON.stringify(ours));
    expect(await ports()).toEqual(["http:80"]);
  });

  it("puts back a deleted Ingress and a deleted ConfigMap", async () => {
    await kubectlOk("delete", "ingress", "web-ingress", "-n", "shop");
    await repaired("Ingress back", async () => (await get("ingress", "web-ingress")) !== undefined);
    await kubectlOk("delete", "configmap", "web-conf", "-n", "shop");
    await repaired(
      "ConfigMap back",
      async () => (await get("configmap", "web-conf"))?.data?.["default.conf"] !== undefined,
    );
    expect((await get("configmap", "web-conf"))?.data).toEqual({ "default.conf": "server { listen 80; }" });
  });

  it("puts back a Deployment deleted with kubectl, and the record stays Available", async () => {
    await kubectlOk("delete", "deploy", "web", "-n", "shop");
    await repaired("Deployment back", async () => (await get("deploy", "web")) !== undefined);
    await allAvailable([web.id], 10_000);
  });
});

describe("v1.k8s.deployments drift correction after a restart", () => {
  it("repairs an edited Deployment once the start-up resync ran, though nothing was applied since the restart", async () => {
    const deployments = stack.services.getLocalService("v1.k8s.deployments") as unknown as {
      applied: AppliedRenders<unknown>;
      resync(): Promise<string[]>;
    };
    // A restarted service knows no render yet; its start-up resync finds nothing drifted and applies nothing.
    deployments.applied = new AppliedRenders();
    expect(await deployments.resync()).toEqual([]);
    await kubectlOk("scale", "deploy", "web", "-n", "shop", "--replicas=4");
    await repaired("replicas back to 2", async () => (await get("deploy", "web"))?.spec.replicas === 2);
    await allAvailable([web.id], 10_000);
  });
});

describe("v1.k8s.deployments resync over 200 converged deployments", () => {
  it("takes a list the suite reordered (a volume mounted before the config) as applied, not as drift", async () => {
    const alone = await stack.services.call<DeploymentEntity, Record<string, unknown>>("v1.k8s.deployments.create", {
      name: "mounts",
      namespace: ns.id,
      image: nginx.id,
      configMap: { name: "conf", data: { "default.conf": "server { listen 80; }" } },
    });
    await allAvailable([alone.id], 10_000);
    // The render mounts the volumes before the config: the new mount comes first in the list.
    await stack.services.call("v1.k8s.volumes.create", { namespace: ns.id, name: "scratch", mountPath: "/scratch" });
    await stack.services.call("v1.k8s.deployments.update", {
      id: alone.id,
      volumes: [
        {
          name: "scratch",
          type: "persistentVolumeClaim",
          mountPath: "/scratch",
          persistentVolumeClaim: { claimName: "scratch" },
        },
      ],
    });
    await waitUntil(async () => {
      const live = await get("deploy", "mounts");
      const mounts = (live?.spec as { template: { spec: { containers: { volumeMounts?: { name: string }[] }[] } } })
        .template.spec.containers[0]?.volumeMounts;
      return mounts?.length === 2 ? mounts.map((m) => m.name) : undefined;
    }).then((names) => expect(names).toEqual(["scratch", "conf"]));
    await allAvailable([alone.id], 10_000);
    const deployments = stack.services.getLocalService("v1.k8s.deployments") as unknown as {
      resync(): Promise<string[]>;
    };
    const before = stack.sandbox.requestCounts().writes;
    expect(await deployments.resync()).toEqual([]);
    expect(stack.sandbox.requestCounts().writes).toBe(before);
    await stack.services.call("v1.k8s.deployments.remove", { id: alone.id });
  });

  it("sends no write and no read to the API server when nothing drifted", async () => {
    const names = Array.from({ length: 199 }, (_, i) => `app-${String(i).padStart(3, "0")}`);
    const ids = [web.id];
    const t = performance.now();
    for (let i = 0; i < names.length; i += 20) {
      const batch = await Promise.all(
        names.slice(i, i + 20).map((name) =>
          stack.services.call<DeploymentEntity, Record<string, unknown>>("v1.k8s.deployments.create", {
            name,
            namespace: ns.id,
            image: nginx.id,
            vHosts: [`${name}.example.com`],
          }),
        ),
      );
      ids.push(...batch.map((d) => d.id));
    }
    expect(ids).toHaveLength(200);
    await allAvailable(ids, 60_000);
    console.log(`199 more deployments created and Available in ${Math.round(performance.now() - t)} ms`);
    // Let the last status writes and watch events settle.
    await new Promise((r) => setTimeout(r, 500));

    const deployments = stack.services.getLocalService("v1.k8s.deployments") as unknown as {
      applied: AppliedRenders<unknown>;
      resync(): Promise<string[]>;
    };
    const before = stack.sandbox.requestCounts();
    const t0 = performance.now();
    const reconciled = await deployments.resync();
    const ms = performance.now() - t0;
    const after = stack.sandbox.requestCounts();
    expect(reconciled).toEqual([]);
    expect({ writes: after.writes - before.writes, reads: after.reads - before.reads }).toEqual({
      writes: 0,
      reads: 0,
    });
    console.log(`resync of 200 converged deployments: ${Math.round(ms)} ms`);
    expect(ms).toBeLessThan(15_000);

    // One drifted object among the 200: only its record is re-applied. Its objects are no longer kept (only the last
    // 64 records' are): the drift check renders its record again and compares with what was applied.
    expect(deployments.applied.keepsObjectsOf(ids[101] ?? "")).toBe(false);
    await kubectlOk("scale", "deploy", "app-100", "-n", "shop", "--replicas=3");
    await repaired("app-100 scaled back", async () => (await get("deploy", "app-100"))?.spec.replicas === 1);
  }, 120_000);

  it("sends no write after v1.kube starts again on the cluster that holds them (its cache filled by lists)", async () => {
    await startKubeAgain(stack.services, {
      ...kubeService,
      settings: { ...kubeService.settings, kubeconfig: stack.sandbox.kubeconfig() },
    } as unknown as ServiceSchema);
    const resyncing = ["v1.k8s.deployments", "v1.k8s.namespaces", "v1.k8s.volumes"].map(
      (name) => stack.services.getLocalService(name) as unknown as { resync(): Promise<string[]> },
    );
    const before = stack.sandbox.requestCounts();
    const reconciled = await Promise.all(resyncing.map((svc) => svc.resync()));
    const after = stack.sandbox.requestCounts();
    expect(reconciled).toEqual([[], [], []]);
    expect(after.writes - before.writes).toBe(0);
  }, 60_000);
});
