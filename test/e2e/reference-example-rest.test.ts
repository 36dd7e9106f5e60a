/**
 * The reference example's steps over REST (the README's curl walk-through), the gateway on one node and the domain
 * services on another over NATS, against a real sandbox; bad input answered 4xx naming the field with nothing
 * half-made; `POST /images/:id/deploy` with the personal default namespace.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import type { DeploymentEntity, ImageEntity, NamespaceEntity } from "../../lib/entities.ts";
import { nginxDefaultConf } from "../../examples/reference-example.service.ts";
import { startStack, waitUntil, type Stack } from "../integration/deployments/stack.ts";

let stack: Stack;
let carol: string;
let dave: string;
let ns: NamespaceEntity;
let php: ImageEntity;
let nginx: ImageEntity;
const created: Record<string, DeploymentEntity> = {};
let volumeId = "";

const claim = (claimName: string) => [
  { name: "data", type: "persistentVolumeClaim", mountPath: "/var/www/html", persistentVolumeClaim: { claimName } },
];

async function availableOverRest(id: string): Promise<Record<string, unknown>> {
  return waitUntil(
    async () => {
      const res = await stack.rest("GET", `/api/v1/k8s/deployments/${id}/status`, carol);
      return res.status === 200 && res.body.phase === "Available" ? res.body : undefined;
    },
    10_000,
    `deployment ${id} Available`,
  );
}

beforeAll(async () => {
  stack = await startStack({
    gateway: true,
    settings: { deployments: { maxReplicas: 3, allowedDomains: ["example.com"] } },
  });
  carol = await stack.token("carol");
  dave = await stack.token("dave");
}, 30_000);

afterAll(async () => {
  await stack?.stop();
});

describe("the reference example over REST across nodes", () => {
  it("creates the namespace, the shared volume and both deployments, which become Available", async () => {
    const nsRes = await stack.rest("POST", "/api/v1/k8s/namespaces", carol, { name: "shop" });
    expect(nsRes.status).toBe(200);
    ns = nsRes.body as unknown as NamespaceEntity;
    const vol = await stack.rest("POST", "/api/v1/k8s/volumes", carol, {
      namespace: ns.id,
      name: "my-app-nginx-php-data",
      type: "persistentVolumeClaim",
      mountPath: "/var/www/html",
    });
    expect(vol.status).toBe(200);
    volumeId = String(vol.body.id);
    php = (await stack.rest("GET", "/api/v1/k8s/images/resolve/php-8-1-0-fpm", carol)).body as unknown as ImageEntity;
    nginx = (await stack.rest("GET", "/api/v1/k8s/images/resolve/nginx-1-27", carol)).body as unknown as ImageEntity;

    const phpRes = await stack.rest("POST", "/api/v1/k8s/deployments", carol, {
      name: "my-app-php",
      namespace: ns.id,
      image: php.id,
      volumes: claim("my-app-nginx-php-data"),
    });
    expect(phpRes).toMatchObject({ status: 200, body: { name: "my-app-php", revision: 1 } });
    const nginxRes = await stack.rest("POST", "/api/v1/k8s/deployments", carol, {
      name: "my-app-nginx",
      namespace: ns.id,
      image: nginx.id,
      vHosts: ["my-app.nginx.example.com"],
      volumes: claim("my-app-nginx-php-data"),
      configMap: { name: "nginx-config", data: { "default.conf": nginxDefaultConf("my-app-php", "shop") } },
    });
    expect(nginxRes).toMatchObject({
      status: 200,
      body: { name: "my-app-nginx", configMap: { name: "nginx-config" } },
    });
    created.php = phpRes.body as unknown as DeploymentEntity;
    created.nginx = nginxRes.body as unknown as DeploymentEntity;

    for (const d of [created.php, created.nginx]) {
      const status = await availableOverRest(d.id);
      expect(status).toMatchObject({ replicas: 1, readyReplicas: 1, availableReplicas: 1 });
      expect((status.pods as { ready: boolean }[]).map((p) => p.ready)).toEqual([true]);
    }
    const out = await stack.kubectl("get", "deploy,svc,ingress,cm,secret,pvc", "-n", "shop", "-o", "name");
    const listed = out.stdout.split("\n").filter(Boolean).sort();
    expect(listed).toEqual(
      expect.arrayContaining([
        "configmap/my-app-nginx-nginx-config",
        "deployment.apps/my-app-nginx",
        "deployment.apps/my-app-php",
        "ingress.networking.k8s.io/my-app-nginx-ingress",
        "persistentvolumeclaim/my-app-nginx-php-data",
        "secret/my-app-php-env",
        "service/my-app-nginx-service",
        "service/my-app-php-service",
      ]),
    );
    // Env objects only where there are values: php's generated secret; nginx's image lists no env.
    expect(listed.filter((n) => n.endsWith("-env"))).toEqual(["secret/my-app-php-env"]);
  });

  it("answers GET /deployments/:id/generate with the objects, and the list and get without secrets", async () => {
    const gen = await stack.rest("GET", `/api/v1/k8s/deployments/${created.nginx?.id ?? ""}/generate`, carol);
    expect(gen.status).toBe(200);
    expect((gen.body.items as { kind: string }[]).map((o) => o.kind)).toEqual([
      "ConfigMap",
      "Deployment",
      "Service",
      "Ingress",
    ]);
    const secret = await stack.kubectlJson<{ data: Record<string, string> }>(
      "get",
      "secret",
      "my-app-php-env",
      "-n",
      "shop",
    );
    const value = Buffer.from(secret.data.PHP_ROOT_PASSWORD ?? "", "base64").toString("utf8");
    expect(value).not.toBe("");
    const bodies = [
      gen.body,
      (await stack.rest("GET", "/api/v1/k8s/deployments", carol)).body,
      (await stack.rest("GET", `/api/v1/k8s/deployments/${created.php?.id ?? ""}`, carol)).body,
      (await stack.rest("GET", `/api/v1/k8s/envs/pack/${created.php?.id ?? ""}`, carol)).body,
      (await stack.rest("GET", `/api/v1/k8s/deployments/${created.php?.id ?? ""}/generate`, carol)).body,
    ];
    expect(JSON.stringify(bodies)).not.toContain(value);
  });

  it("refuses bad input with 4xx naming the field, and makes nothing", async () => {
    const base = { namespace: ns.id, image: nginx.id };
    const cases: [string, Record<string, unknown>, number, string][] = [
      [carol, { ...base, name: "x1", replicas: 4 }, 422, "replicas"],
      [carol, { ...base, name: "x2", replicas: -1 }, 422, "replicas"],
      [carol, { ...base, name: "x3", vHosts: ["bad host!"] }, 422, "vHosts[0]"],
      [carol, { ...base, name: "x4", vHosts: ["shop.example.org"] }, 422, "vHosts[0]"],
      [carol, { ...base, name: "x5", volumes: claim("missing") }, 422, "volumes[0].persistentVolumeClaim.claimName"],
      [carol, { ...base, name: "x6", configMap: { name: "c", data: { "a/b": "x" } } }, 422, "configMap.data.a/b"],
      [carol, { ...base, name: "x7", image: "unknown-image" }, 404, "image"],
      [dave, { ...base, name: "x8" }, 404, "namespace"],
      [carol, { ...base, name: "my-app-php" }, 409, "name"],
    ];
    for (const [token, body, status, field] of cases) {
      const res = await stack.rest("POST", "/api/v1/k8s/deployments", token, body);
      expect({ name: body.name, status: res.status }).toEqual({ name: body.name, status });
      expect(JSON.stringify(res.body.data)).toContain(field);
    }
    const list = await stack.rest("GET", "/api/v1/k8s/deployments", carol);
    expect((list.body.rows as { name: string }[]).map((r) => r.name).sort()).toEqual(["my-app-nginx", "my-app-php"]);
    const out = await stack.kubectl("get", "deploy", "-n", "shop", "-o", "name");
    expect(out.stdout.trim().split("\n").sort()).toEqual([
      "deployment.apps/my-app-nginx",
      "deployment.apps/my-app-php",
    ]);
  });

  it("deploys an image by POST /images/:id/deploy into the caller's personal namespace, with a default route if it serves HTTP", async () => {
    const res = await stack.rest("POST", `/api/v1/k8s/images/${nginx.id}/deploy`, carol, {});
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ name: "nginx-1-27", replicas: 1 });
    const personal = await stack.rest("GET", "/api/v1/k8s/namespaces/resolve/user-carol", carol);
    expect(personal.body).toMatchObject({ name: "user-carol", owner: "carol" });
    expect(res.body.vHosts).toEqual([`nginx-1-27.user-carol.${String(personal.body.domain)}`]);
    await availableOverRest(String(res.body.id));
    const again = await stack.rest("POST", `/api/v1/k8s/images/${nginx.id}/deploy`, carol, {});
    expect(again).toMatchObject({ status: 409, body: { type: "ALREADY_EXISTS", data: { field: "name" } } });
    const named = await stack.rest("POST", `/api/v1/k8s/images/${php.id}/deploy`, carol, {
      namespace: ns.id,
      name: "worker",
      vHosts: ["worker.example.com"],
      replicas: 2,
    });
    expect(named).toMatchObject({ status: 200, body: { name: "worker", namespace: ns.id, replicas: 2 } });
    // php-fpm listens on FastCGI, not HTTP: no default route (an Ingress to it would serve nothing).
    const fpm = await stack.rest("POST", `/api/v1/k8s/images/${php.id}/deploy`, carol, {});
    expect(fpm).toMatchObject({ status: 200, body: { name: "php-8-1-0-fpm", vHosts: [] } });
    expect((await stack.kubectl("get", "ingress", "-n", "user-carol", "-o", "name")).stdout.trim()).toBe(
      "ingress.networking.k8s.io/nginx-1-27-ingress",
    );
    await stack.rest("DELETE", `/api/v1/k8s/deployments/${String(fpm.body.id)}`, carol);
    const stranger = await stack.rest("POST", `/api/v1/k8s/images/${php.id}/deploy`, dave, { namespace: ns.id });
    expect(stranger.status).toBe(404);
    const unknown = await stack.rest("POST", "/api/v1/k8s/images/nope/deploy", carol, {});
    expect(unknown).toMatchObject({ status: 404, body: { data: { what: "image" } } });
    // The php image's data directory comes on a volume of its own (made in the namespace for the deployment).
    expect(named.body.volumes).toEqual([
      {
        name: "php-data",
        type: "persistentVolumeClaim",
        mountPath: "/var/www/html",
        persistentVolumeClaim: { claimName: "worker-php-data" },
      },
    ]);
    await stack.rest("DELETE", `/api/v1/k8s/deployments/${String(named.body.id)}`, carol);
    await stack.rest("DELETE", `/api/v1/k8s/deployments/${String(res.body.id)}`, carol);
    const workerVolume = await stack.rest("GET", `/api/v1/k8s/volumes?query={"name":"worker-php-data"}`, carol);
    const rows = (workerVolume.body as { rows: { id: string }[] }).rows;
    expect(rows).toHaveLength(1);
    await waitUntil(async () => {
      const removed = await stack.rest("DELETE", `/api/v1/k8s/volumes/${rows[0]?.id ?? ""}`, carol);
      return removed.status === 200;
    });
  });

  it("deploys a database with its data on a volume, kept for the next deployment of that name; a failed deploy leaves none", async () => {
    const postgres = await stack.services.call<ImageEntity, object>("v1.k8s.images.resolveName", {
      name: "postgres-16",
    });
    const first = await stack.rest("POST", `/api/v1/k8s/images/${postgres.id}/deploy`, carol, { name: "db" });
    expect(first).toMatchObject({
      status: 200,
      body: {
        vHosts: [],
        volumes: [
          {
            name: "postgres-data",
            mountPath: "/var/lib/postgresql/data",
            persistentVolumeClaim: { claimName: "db-postgres-data" },
          },
        ],
      },
    });
    await availableOverRest(String(first.body.id));
    const mounted = await stack.kubectl(
      "get",
      "deployment",
      "db",
      "-n",
      "user-carol",
      "-o",
      "jsonpath={.spec.template.spec.volumes[0].persistentVolumeClaim.claimName} {.spec.template.spec.containers[0].volumeMounts[0].mountPath}",
    );
    expect(mounted.stdout).toBe("db-postgres-data /var/lib/postgresql/data");
    // Removing the deployment keeps its data; deploying it again mounts the same volume.
    expect((await stack.rest("DELETE", `/api/v1/k8s/deployments/${String(first.body.id)}`, carol)).status).toBe(200);
    const again = await stack.rest("POST", `/api/v1/k8s/images/${postgres.id}/deploy`, carol, { name: "db" });
    expect(again).toMatchObject({
      status: 200,
      body: { volumes: [{ persistentVolumeClaim: { claimName: "db-postgres-data" } }] },
    });
    const volumes = async () =>
      ((await stack.rest("GET", "/api/v1/k8s/volumes", carol)).body as { rows: { name: string }[] }).rows.map(
        (v) => v.name,
      );
    expect((await volumes()).filter((n) => n === "db-postgres-data")).toHaveLength(1);
    // A deploy the deployments service refuses (too many replicas) leaves no volume behind.
    const refused = await stack.rest("POST", `/api/v1/k8s/images/${postgres.id}/deploy`, carol, {
      name: "db2",
      replicas: 9,
    });
    expect(refused).toMatchObject({ status: 422, body: { data: [{ field: "replicas" }] } });
    expect(await volumes()).not.toContain("db2-postgres-data");
    expect((await stack.kubectl("get", "pvc", "db2-postgres-data", "-n", "user-carol")).code).not.toBe(0);
    await stack.rest("DELETE", `/api/v1/k8s/deployments/${String(again.body.id)}`, carol);
  });

  it("documents what the routes take and answer as they do, across nodes: the names' patterns, logs as text", async () => {
    const res = await fetch(`${stack.url}/api/openapi.json`);
    const doc = (await res.json()) as {
      paths: Record<string, Record<string, { requestBody?: unknown; responses: Record<string, { content?: object }> }>>;
    };
    const create = doc.paths["/api/v1/k8s/deployments"]?.["post"]?.requestBody as {
      content: { "application/json": { schema: { properties: { name: { pattern: string } } } } };
    };
    const pattern = new RegExp(create.content["application/json"].schema.properties.name.pattern);
    expect(["web", "my-app-php"].map((n) => pattern.test(n))).toEqual([true, true]);
    expect(["1web", "Web", "web.x", "web-"].map((n) => pattern.test(n))).toEqual([false, false, false, false]);
    // Every pattern, not only this one (a RegExp sent to the gateway's node as JSON arrived as {}).
    const namespaceName = (
      doc.paths["/api/v1/k8s/namespaces"]?.["post"]?.requestBody as {
        content: { "application/json": { schema: { properties: { name: { pattern?: string } } } } };
      }
    ).content["application/json"].schema.properties.name;
    expect(namespaceName.pattern).toBe("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$");
    const logs = doc.paths["/api/v1/k8s/deployments/{id}/logs"]?.["get"]?.responses["200"];
    expect(Object.keys(logs?.content ?? {})).toEqual(["text/plain"]);
    // And the gateway answers a bad name with the same words for the rule.
    const bad = await stack.rest("POST", "/api/v1/k8s/deployments", carol, {
      name: "Web",
      namespace: ns.id,
      image: nginx.id,
    });
    expect(bad).toMatchObject({ status: 422, body: { data: [{ field: "name", type: "stringPattern" }] } });
  });

  it("removes both deployments and the volume, leaving nothing of ours in the namespace", async () => {
    const inUse = await stack.rest("DELETE", `/api/v1/k8s/volumes/${volumeId}`, carol);
    expect(inUse).toMatchObject({ status: 409, body: { type: "IN_USE" } });
    for (const d of [created.nginx, created.php]) {
      const res = await stack.rest("DELETE", `/api/v1/k8s/deployments/${d?.id ?? ""}`, carol);
      expect(res.status).toBe(200);
    }
    expect((await stack.rest("DELETE", `/api/v1/k8s/volumes/${volumeId}`, carol)).status).toBe(200);
    await waitUntil(
      async () => {
        const res = await stack.kubectl(
          "get",
          "deploy,svc,ingress,cm,secret,pvc,pods,rs",
          "-n",
          "shop",
          "-l",
          "app.kubernetes.io/managed-by=moleculer-k8s,app.kubernetes.io/component!=namespace",
          "-o",
          "name",
        );
        return res.code === 0 && res.stdout.trim() === "";
      },
      10_000,
      "no objects left",
    );
    const envs = await stack.rest("GET", "/api/v1/k8s/envs", carol);
    expect(envs.body.rows).toEqual([]);
  });
});
