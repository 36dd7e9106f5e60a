/**
 * The reference document's example, as it is written, through `ctx.call` from a Moleculer service
 * (examples/reference-example.service.ts) on the gateway's node, with the domain services (namespaces, images,
 * volumes, envs, deployments, kube) on another node over NATS, against a real sandbox, checked with kubectl.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import type { DeploymentEntity, NamespaceEntity } from "../../lib/entities.ts";
import exampleService, { type ReferenceExampleResult } from "../../examples/reference-example.service.ts";
import { startStack, waitUntil, type Stack } from "../integration/deployments/stack.ts";

interface K8sObject {
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
  status?: Record<string, unknown>;
}
interface PodSpec {
  containers: { name: string; volumeMounts?: { name: string; mountPath: string; subPath?: string }[] }[];
  volumes?: { name: string; persistentVolumeClaim?: { claimName: string }; configMap?: { name: string } }[];
}

let stack: Stack;
let result: ReferenceExampleResult;
let secretValue = "";
const responses: unknown[] = [];

const podSpecOf = (dep: K8sObject): PodSpec => (dep.spec as { template: { spec: PodSpec } }).template.spec;

async function objects(ns: string): Promise<K8sObject[]> {
  const list = await stack.kubectlJson<{ items: K8sObject[] }>(
    "get",
    "deploy,svc,ingress,cm,secret,pvc,pods,rs",
    "-n",
    ns,
  );
  return list.items;
}

async function available(id: string): Promise<DeploymentEntity> {
  return waitUntil(
    async () => {
      const d = await stack.gatewayBroker.call<DeploymentEntity, { id: string }>("v1.k8s.deployments.get", { id });
      return d.status.phase === "Available" ? d : undefined;
    },
    10_000,
    `deployment ${id} Available`,
  );
}

beforeAll(async () => {
  stack = await startStack({ gateway: true, gatewayServices: [exampleService], recordLogs: true });
  // The reference resolves a namespace record named `default` and acts as its owner.
  await stack.gatewayBroker.call("v1.k8s.namespaces.create", { name: "default", owner: "alice" });
}, 30_000);

afterAll(async () => {
  await stack?.stop();
});

describe("the reference example through ctx.call across nodes", () => {
  it("runs as written: a shared volume, php-fpm and nginx, both Available with Ready pods", async () => {
    expect(stack.gatewayBroker.getLocalService("v1.k8s.deployments")).toBeFalsy();
    result = await stack.gatewayBroker.call("examples.reference.run", {});
    responses.push(result);
    expect(result.namespace).toMatchObject({ name: "default", owner: "alice" });
    expect(result.php).toMatchObject({ name: "my-app-php", namespace: result.namespace.id, revision: 1 });
    expect(result.nginx).toMatchObject({ name: "my-app-nginx", vHosts: ["my-app.nginx.example.com"] });
    expect(result.nginx.configMap?.data["default.conf"]).toContain(
      "fastcgi_pass my-app-php-service.default.svc.cluster.local:9000;",
    );
    const [php, nginx] = await Promise.all([available(result.php.id), available(result.nginx.id)]);
    responses.push(php, nginx);
    expect(php.status).toMatchObject({ replicas: 1, readyReplicas: 1, availableReplicas: 1 });
    expect(nginx.status).toMatchObject({ replicas: 1, readyReplicas: 1, availableReplicas: 1 });
  });

  it("leaves in the namespace what kubectl shows: Deployments, Services, Ingress, ConfigMaps, Secrets, the PVC, Ready pods", async () => {
    const items = await objects("default");
    const names = (kind: string) =>
      items
        .filter((o) => o.kind === kind)
        .map((o) => o.metadata.name)
        .sort();
    expect(names("Deployment")).toEqual(["my-app-nginx", "my-app-php"]);
    expect(names("Service")).toEqual(expect.arrayContaining(["my-app-nginx-service", "my-app-php-service"]));
    expect(names("Ingress")).toEqual(["my-app-nginx-ingress"]);
    // Env objects only where there are values: php's generated secret; nginx's image lists no env.
    expect(names("ConfigMap")).toEqual(expect.arrayContaining(["my-app-nginx-nginx-config"]));
    expect(names("ConfigMap").filter((n) => n.endsWith("-env"))).toEqual([]);
    expect(names("Secret").filter((n) => n.endsWith("-env"))).toEqual(["my-app-php-env"]);
    expect(names("PersistentVolumeClaim")).toEqual(["my-app-nginx-php-data"]);
    const pods = items.filter((o) => o.kind === "Pod");
    expect(pods).toHaveLength(2);
    for (const pod of pods) {
      const conditions = (pod.status?.conditions ?? []) as { type: string; status: string }[];
      expect(conditions).toContainEqual(expect.objectContaining({ type: "Ready", status: "True" }));
      expect(pod.metadata.labels).toMatchObject({
        "app.kubernetes.io/managed-by": "moleculer-k8s",
        "app.kubernetes.io/component": "deployment",
      });
    }

    const ingress = items.find((o) => o.kind === "Ingress");
    expect(ingress?.spec).toMatchObject({
      rules: [
        {
          host: "my-app.nginx.example.com",
          http: { paths: [{ backend: { service: { name: "my-app-nginx-service", port: { number: 80 } } } }] },
        },
      ],
    });

    // The shared PVC at /var/www/html in both; nginx's default.conf where nginx reads it.
    for (const name of ["my-app-php", "my-app-nginx"]) {
      const spec = podSpecOf(items.find((o) => o.kind === "Deployment" && o.metadata.name === name) as K8sObject);
      const claim = spec.volumes?.find((v) => v.persistentVolumeClaim?.claimName === "my-app-nginx-php-data");
      expect(claim).toBeDefined();
      expect(spec.containers[0]?.volumeMounts).toContainEqual(
        expect.objectContaining({ name: claim?.name, mountPath: "/var/www/html" }),
      );
    }
    const nginxSpec = podSpecOf(items.find((o) => o.metadata.name === "my-app-nginx") as K8sObject);
    const conf = nginxSpec.volumes?.find((v) => v.configMap?.name === "my-app-nginx-nginx-config");
    expect(nginxSpec.containers[0]?.volumeMounts).toContainEqual({
      name: conf?.name,
      mountPath: "/etc/nginx/conf.d/default.conf",
      subPath: "default.conf",
      readOnly: true,
    });

    // fastcgi_pass names the php Service in this namespace, and that Service serves port 9000.
    const cm = items.find((o) => o.kind === "ConfigMap" && o.metadata.name === "my-app-nginx-nginx-config");
    const match = /fastcgi_pass ([^:;\s]+):(\d+);/.exec(cm?.data?.["default.conf"] ?? "");
    const [svcName, svcNamespace, svcLiteral] = (match?.[1] ?? "").split(".");
    expect({ svcNamespace, svcLiteral, port: match?.[2] }).toEqual({
      svcNamespace: "default",
      svcLiteral: "svc",
      port: "9000",
    });
    const svc = await stack.kubectlJson<{ spec: { ports: { port: number; targetPort: number }[] } }>(
      "get",
      "svc",
      svcName ?? "",
      "-n",
      svcNamespace ?? "",
    );
    expect(svc.spec.ports).toContainEqual(expect.objectContaining({ port: 9000, targetPort: 9000 }));

    // php's generated secret is in the Secret only.
    const secret = items.find((o) => o.kind === "Secret" && o.metadata.name === "my-app-php-env");
    secretValue = Buffer.from(secret?.data?.PHP_ROOT_PASSWORD ?? "", "base64").toString("utf8");
    expect(secretValue.length).toBeGreaterThanOrEqual(24);
    expect(JSON.stringify(items.filter((o) => o.kind === "ConfigMap"))).not.toContain(secretValue);
  });

  it("rolls the php pods when an env value changes (a new ReplicaSet)", async () => {
    const rsBefore = (await objects("default")).filter(
      (o) => o.kind === "ReplicaSet" && o.metadata.name.startsWith("my-app-php-"),
    );
    const options = { meta: { userID: "alice" } };
    const envs = await stack.gatewayBroker.call<{ id: string; key: string; value: string }[], object>(
      "v1.k8s.envs.find",
      { query: { deployment: result.php.id } },
      options,
    );
    responses.push(envs);
    const env = envs.find((e) => e.key === "PHP_ROOT_PASSWORD");
    expect(env?.value).toBe("********");
    const updated = await stack.gatewayBroker.call(
      "v1.k8s.envs.update",
      { id: env?.id, value: "a-new-secret-value-0123456789" },
      options,
    );
    responses.push(updated);
    await waitUntil(async () => {
      const rs = (await objects("default")).filter(
        (o) => o.kind === "ReplicaSet" && o.metadata.name.startsWith("my-app-php-"),
      );
      return rs.length > rsBefore.length;
    });
    await waitUntil(async () => {
      const pods = (await objects("default")).filter(
        (o) => o.kind === "Pod" && o.metadata.name.startsWith("my-app-php-"),
      );
      const rs = (await objects("default")).filter(
        (o) =>
          o.kind === "ReplicaSet" &&
          o.metadata.name.startsWith("my-app-php-") &&
          !rsBefore.some((b) => b.metadata.name === o.metadata.name),
      );
      const newHash = rs[0]?.metadata.labels?.["pod-template-hash"];
      return pods.length === 1 && pods[0]?.metadata.labels?.["pod-template-hash"] === newHash;
    });
    responses.push(await available(result.php.id));
  });

  it("keeps secret values out of every response and every log line", async () => {
    expect(secretValue).not.toBe("");
    const all = JSON.stringify(responses);
    expect(all).not.toContain(secretValue);
    expect(all).not.toContain("a-new-secret-value-0123456789");
    const logs = stack.lines.join("\n");
    expect(logs).not.toContain(secretValue);
    expect(logs).not.toContain("a-new-secret-value-0123456789");
  });

  it("removes everything: no objects of ours left, no env records", async () => {
    const removed = await stack.gatewayBroker.call<{ removed: string[] }, object>("examples.reference.remove", {});
    expect(removed.removed).toEqual([
      "deployment/my-app-nginx",
      "deployment/my-app-php",
      "volume/my-app-nginx-php-data",
    ]);
    await waitUntil(
      async () => {
        const res = await stack.kubectl(
          "get",
          "deploy,svc,ingress,cm,secret,pvc,pods,rs",
          "-n",
          "default",
          "-l",
          "app.kubernetes.io/managed-by=moleculer-k8s",
          "-o",
          "name",
        );
        return res.code === 0 && res.stdout.trim() === "";
      },
      10_000,
      "no objects left",
    );
    const envs = await stack.gatewayBroker.call<unknown[], object>("v1.k8s.envs.find", {
      query: { deployment: { $in: [result.php.id, result.nginx.id] } },
    });
    expect(envs).toEqual([]);
    const ns = await stack.gatewayBroker.call<NamespaceEntity, object>("v1.k8s.namespaces.resolveName", {
      name: "default",
    });
    expect(ns.status.phase).toBe("Active");
  });
});
