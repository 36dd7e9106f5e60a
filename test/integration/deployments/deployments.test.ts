/**
 * v1.k8s.deployments against a real sandbox (one broker): create renders and applies, status follows the cluster,
 * update re-renders as a new revision, drift is repaired, remove leaves nothing, bad input leaves nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { stringify } from "yaml";
import type { DeploymentEntity, ImageEntity, NamespaceEntity } from "../../../lib/entities.ts";
import type { DeploymentGenerateResult, DeploymentStatusResult } from "../../../services/deployments.service.ts";
import { holdNextCall } from "../../helpers/hold.ts";
import { startStack, waitUntil, type Stack } from "./stack.ts";

const ALICE = { meta: { userID: "alice" } };
const BOB = { meta: { userID: "bob" } };

let stack: Stack;
let ns: NamespaceEntity;
let nginx: ImageEntity;
let broken: ImageEntity;

const call = <T>(action: string, params: Record<string, unknown>, opts: object = ALICE): Promise<T> =>
  stack.services.call<T, Record<string, unknown>>(action, params, opts);

const get = (id: string) => call<DeploymentEntity>("v1.k8s.deployments.get", { id });

async function waitForPhase(id: string, phase: string, timeoutMs = 10_000): Promise<DeploymentEntity> {
  return waitUntil(
    async () => {
      const d = await get(id);
      return d.status.phase === phase ? d : undefined;
    },
    timeoutMs,
    `deployment ${id} ${phase}`,
  );
}

beforeAll(async () => {
  stack = await startStack({ settings: { deployments: { maxReplicas: 5, allowedDomains: ["example.com"] } } });
  ns = await stack.services.call("v1.k8s.namespaces.create", { name: "shop", owner: "alice" });
  nginx = await stack.services.call("v1.k8s.images.resolveName", { name: "nginx-1-27" });
  broken = await stack.services.call("v1.k8s.images.create", {
    name: "broken",
    namespace: "library",
    tag: "1",
    digest: `sha256:${"0".repeat(64)}`,
    image: "sandbox.invalid/broken:1",
    registry: "sandbox.invalid",
    repository: "library/broken",
    ports: [{ name: "http", port: 80 }],
    resources: { limits: { cpu: 100, memory: 64 }, requests: { cpu: 10, memory: 16 } },
  });
  // The namespaces service applies the Namespace.
  await waitUntil(async () => (await stack.kubectl("get", "ns", "shop")).code === 0);
}, 30_000);

afterAll(async () => {
  await stack?.stop();
});

describe("v1.k8s.deployments.create", () => {
  it("applies the Deployment, Service and Ingress and reports Available with Ready pods", async () => {
    const created = await call<DeploymentEntity>("v1.k8s.deployments.create", {
      name: "web",
      namespace: ns.id,
      image: nginx.id,
      vHosts: ["web.example.com"],
      replicas: 2,
      configMap: { name: "conf", data: { "default.conf": "server { listen 80; }" } },
    });
    expect(created).toMatchObject({ name: "web", namespace: ns.id, image: nginx.id, replicas: 2, revision: 1 });
    const ready = await waitForPhase(created.id, "Available");
    expect(ready.status).toMatchObject({ replicas: 2, readyReplicas: 2, availableReplicas: 2 });

    const dep = await stack.kubectlJson<{ spec: { template: { spec: Record<string, unknown> } } }>(
      "get",
      "deploy",
      "web",
      "-n",
      "shop",
    );
    const pod = dep.spec.template.spec;
    expect(pod).toMatchObject({
      containers: [
        expect.objectContaining({
          image: "docker.io/nginx:1.27",
          volumeMounts: [
            { name: "conf", mountPath: "/etc/nginx/conf.d/default.conf", subPath: "default.conf", readOnly: true },
          ],
        }),
      ],
      volumes: [{ name: "conf", configMap: expect.objectContaining({ name: "web-conf" }) }],
    });
    const svc = await stack.kubectlJson<{ spec: { ports: { port: number }[] } }>(
      "get",
      "svc",
      "web-service",
      "-n",
      "shop",
    );
    expect(svc.spec.ports.map((p) => p.port)).toEqual([80]);
    const ing = await stack.kubectlJson<{ spec: { rules: { host: string }[] } }>(
      "get",
      "ingress",
      "web-ingress",
      "-n",
      "shop",
    );
    expect(ing.spec.rules.map((r) => r.host)).toEqual(["web.example.com"]);
    const status = await call<DeploymentStatusResult>("v1.k8s.deployments.status", { id: created.id });
    expect(status).toMatchObject({ phase: "Available", readyReplicas: 2 });
    expect(status.pods).toHaveLength(2);
    expect(status.pods.every((p) => p.ready)).toBe(true);
  });

  it("refuses bad input with 4xx naming the field and leaves nothing behind", async () => {
    const base = { namespace: ns.id, image: nginx.id };
    const php = await stack.services.call<ImageEntity, object>("v1.k8s.images.resolveName", { name: "php-8-1-0-fpm" });
    const cases: [Record<string, unknown>, object, number, string][] = [
      [{ ...base, name: "Bad_Name" }, ALICE, 422, "name"],
      [{ ...base, name: "a".repeat(56) }, ALICE, 422, "name"],
      [{ ...base, name: "x1", replicas: -1 }, ALICE, 422, "replicas"],
      [{ ...base, name: "x2", replicas: 6 }, ALICE, 422, "replicas"],
      [{ ...base, name: "x3", vHosts: ["not a host"] }, ALICE, 422, "vHosts[0]"],
      [{ ...base, name: "x4", vHosts: ["x4.other.org"] }, ALICE, 422, "vHosts[0]"],
      [{ ...base, name: "x5", configMap: { name: "c", data: { "../etc": "x" } } }, ALICE, 422, "configMap.data.../etc"],
      [
        {
          ...base,
          name: "x6",
          volumes: [
            {
              name: "data",
              type: "persistentVolumeClaim",
              mountPath: "/data",
              persistentVolumeClaim: { claimName: "nope" },
            },
          ],
        },
        ALICE,
        422,
        "volumes[0].persistentVolumeClaim.claimName",
      ],
      [{ ...base, name: "x7", image: "no-such-image" }, ALICE, 404, "image"],
      [{ ...base, name: "x8" }, BOB, 404, "namespace"],
      [{ ...base, name: "web" }, ALICE, 409, "name"],
      [{ ...base, name: "x9", vHosts: ["web.example.com"] }, ALICE, 409, "vHosts[0]"],
      [
        { ...base, name: "x10", configMap: { name: "c", data: { "..data": "x" } } },
        ALICE,
        422,
        "configMap.data...data",
      ],
      [
        {
          ...base,
          name: "x11",
          volumes: [
            {
              name: "data",
              type: "persistentVolumeClaim",
              mountPath: "/data",
              subPath: "../../etc",
              persistentVolumeClaim: { claimName: "nope" },
            },
          ],
        },
        ALICE,
        422,
        "volumes[0].subPath",
      ],
      // The php image names no config mount path: the files would be mounted nowhere.
      [
        { ...base, name: "x12", image: php.id, configMap: { name: "c", data: { "php.ini": "x" } } },
        ALICE,
        422,
        "configMap.mountPath",
      ],
    ];
    for (const [params, opts, code, field] of cases) {
      const err = await call("v1.k8s.deployments.create", params, opts).then(
        () => undefined,
        (e: unknown) => e as { code: number; data: unknown },
      );
      expect({ params, code: err?.code }).toEqual({ params, code });
      expect(JSON.stringify(err?.data)).toContain(field);
    }
    const names = (await call<DeploymentEntity[]>("v1.k8s.deployments.find", {})).map((d) => d.name);
    expect(names).toEqual(["web"]);
    const deploys = await stack.kubectlJson("get", "deploy", "-n", "shop");
    expect(deploys.items.map((d) => (d.metadata as { name: string }).name)).toEqual(["web"]);
  });

  it("refuses a host another tenant's deployment already serves (409 naming vHosts[i]), creating nothing", async () => {
    const bobs = await stack.services.call<NamespaceEntity, Record<string, unknown>>("v1.k8s.namespaces.create", {
      name: "bobs",
      owner: "bob",
    });
    const taken = call(
      "v1.k8s.deployments.create",
      { namespace: bobs.id, image: nginx.id, name: "steal", vHosts: ["ok.example.com", "web.example.com"] },
      BOB,
    );
    await expect(taken).rejects.toMatchObject({
      code: 409,
      type: "ALREADY_EXISTS",
      data: { field: "vHosts[1]", value: "web.example.com" },
    });
    expect(await call("v1.k8s.deployments.count", { query: { namespace: bobs.id } }, BOB)).toBe(0);
    await call("v1.k8s.namespaces.remove", { id: bobs.id }, BOB);
  });

  it("keeps the hosts under a namespace's route space (<name>.<namespace>.<domain>) for that namespace (422 naming vHosts[i])", async () => {
    const bobs = await stack.services.call<NamespaceEntity, Record<string, unknown>>("v1.k8s.namespaces.create", {
      name: "bobs2",
      owner: "bob",
    });
    const space = `shop.${ns.domain}`;
    for (const host of [`web.${space}`, `*.${space}`, `a.b.${space}`]) {
      const squat = call(
        "v1.k8s.deployments.create",
        { namespace: bobs.id, image: nginx.id, name: "squat", vHosts: ["ok2.example.com", host] },
        BOB,
      );
      await expect(squat).rejects.toMatchObject({
        code: 422,
        data: [
          expect.objectContaining({
            field: "vHosts[1]",
            type: "hostOfOtherNamespace",
            message: `The 'vHosts[1]' field names a host under '${space}', the routes of namespace 'shop'; take one under 'bobs2.${ns.domain}' or another domain.`,
          }),
        ],
      });
    }
    expect(await call("v1.k8s.deployments.count", { query: { namespace: bobs.id } }, BOB)).toBe(0);
    // In its own space the namespace's members take what they like.
    const own = await call<DeploymentEntity>("v1.k8s.deployments.create", {
      namespace: ns.id,
      image: nginx.id,
      name: "spaced",
      replicas: 0,
      vHosts: [`spaced.${space}`],
    });
    await call("v1.k8s.deployments.remove", { id: own.id });
    await call("v1.k8s.namespaces.remove", { id: bobs.id }, BOB);
  });

  it("refuses at once what can never fit the namespace's quota (422 naming the field), creating nothing", async () => {
    // The namespace's ResourceQuota: the default, 4000 millicores of CPU, 8192 MiB, 20 pods.
    const create = (params: Record<string, unknown>) =>
      call("v1.k8s.deployments.create", { namespace: ns.id, image: nginx.id, name: "greedy", ...params });
    await expect(create({ resources: { limits: { cpu: 1e12 } } })).rejects.toMatchObject({
      code: 422,
      data: [expect.objectContaining({ field: "resources.limits.cpu", type: "overQuota" })],
    });
    await expect(create({ replicas: 5, resources: { limits: { cpu: 1000, memory: 256 } } })).rejects.toMatchObject({
      code: 422,
      data: [
        expect.objectContaining({
          field: "replicas",
          message:
            "The 'replicas' field asks for 5 pods of 1000 millicores cpu each, more than the namespace's cpu quota of 4000 millicores.",
        }),
      ],
    });
    expect(await call("v1.k8s.deployments.count", { query: { name: "greedy" } })).toBe(0);
    expect((await stack.kubectl("get", "deployment", "greedy", "-n", "shop")).code).not.toBe(0);
  });

  it("refuses a deployment whose ConfigMaps would be another's (409 naming the field), or its own env values' (422)", async () => {
    const create = (name: string, configMap?: string) =>
      call<DeploymentEntity>("v1.k8s.deployments.create", {
        namespace: ns.id,
        image: nginx.id,
        name,
        replicas: 0,
        ...(configMap === undefined ? {} : { configMap: { name: configMap, data: { [`${name}.conf`]: "x" } } }),
      });
    const first = await create("cm-a", "b-c"); // ConfigMap cm-a-b-c
    await expect(create("cm-a-b", "c")).rejects.toMatchObject({
      code: 409,
      type: "ALREADY_EXISTS",
      message: "ConfigMap 'cm-a-b-c' is already deployment 'cm-a''s (its config files): choose another configMap.name",
      data: { field: "configMap.name", value: "c" },
    });
    const second = await create("cm-x", "y-env"); // ConfigMap cm-x-y-env, the env values' ConfigMap of a cm-x-y
    await expect(create("cm-x-y")).rejects.toMatchObject({
      code: 409,
      message: "ConfigMap 'cm-x-y-env' is already deployment 'cm-x''s (its config files): choose another name",
      data: { field: "name", value: "cm-x-y" },
    });
    await expect(create("cm-e", "env")).rejects.toMatchObject({
      code: 422,
      data: [expect.objectContaining({ field: "configMap.name", actual: "env" })],
    });
    // Another name, or a change of one's own config that keeps its name, goes through.
    const third = await create("cm-a-b", "d");
    await expect(
      call("v1.k8s.deployments.update", { id: first.id, configMap: { name: "b-c", data: { "new.conf": "y" } } }),
    ).resolves.toMatchObject({ configMap: { name: "b-c" } });
    await expect(
      call("v1.k8s.deployments.update", { id: third.id, configMap: { name: "c", data: { "a.conf": "y" } } }),
    ).rejects.toMatchObject({ code: 409, data: { field: "configMap.name" } });
    const configMaps = await stack.kubectlJson("get", "configmap", "-n", "shop");
    const names = configMaps.items.map((c) => (c.metadata as { name: string }).name);
    expect(names).toEqual(expect.arrayContaining(["cm-a-b-c", "cm-x-y-env", "cm-a-b-d"]));
    for (const d of [first, second, third]) await call("v1.k8s.deployments.remove", { id: d.id });
  });

  it("refuses limits of 0 (no limit at all, counted as nothing by the quota) and requests over the limits", async () => {
    const create = (params: Record<string, unknown>) =>
      call("v1.k8s.deployments.create", { namespace: ns.id, image: nginx.id, name: "unbounded", ...params });
    for (const res of ["cpu", "memory"]) {
      await expect(create({ resources: { limits: { [res]: 0 } } })).rejects.toMatchObject({
        code: 422,
        data: [expect.objectContaining({ field: `resources.limits.${res}`, type: "numberMin" })],
      });
    }
    // The image's memory limit is 256 MiB: a request over it, without a limit of its own.
    await expect(create({ resources: { requests: { memory: 600 } } })).rejects.toMatchObject({
      code: 422,
      data: [
        {
          type: "invalid",
          field: "resources.requests.memory",
          message:
            "The 'resources.requests.memory' field must not exceed the image's limits.memory, 256; set resources.limits.memory too.",
          actual: 600,
        },
      ],
    });
    await expect(create({ resources: { requests: { cpu: 200 }, limits: { cpu: 100 } } })).rejects.toMatchObject({
      code: 422,
      data: [expect.objectContaining({ field: "resources.requests.cpu" })],
    });
    expect(await call("v1.k8s.deployments.count", { query: { name: "unbounded" } })).toBe(0);
    // With a limit of its own to match, the request is what the pods get.
    const fits = await call<DeploymentEntity>("v1.k8s.deployments.create", {
      namespace: ns.id,
      image: nginx.id,
      name: "unbounded",
      replicas: 0,
      resources: { requests: { memory: 600 }, limits: { memory: 600 } },
    });
    const live = await stack.kubectl(
      "get",
      "deployment",
      "unbounded",
      "-n",
      "shop",
      "-o",
      "jsonpath={.spec.template.spec.containers[0].resources.requests.memory}",
    );
    expect(live.stdout).toBe("600Mi");
    await call("v1.k8s.deployments.remove", { id: fits.id });
  });

  it("shows an unpullable image in the status", async () => {
    const created = await call<DeploymentEntity>("v1.k8s.deployments.create", {
      name: "broken",
      namespace: ns.id,
      image: broken.id,
    });
    const failed = await waitForPhase(created.id, "Failed");
    expect(failed.status.reason).toMatch(/ErrImagePull|ImagePullBackOff/);
    const status = await call<DeploymentStatusResult>("v1.k8s.deployments.status", { id: created.id });
    expect(status.phase).toBe("Failed");
    expect(status.pods[0]?.reason).toMatch(/ErrImagePull|ImagePullBackOff/);
    await call("v1.k8s.deployments.remove", { id: created.id });
  });
});

describe("v1.k8s.deployments status", () => {
  it("ends on the cluster's latest state when two status refreshes overlap: the older one never lands last", async () => {
    const svc = stack.services.getLocalService("v1.k8s.deployments") as unknown as object;
    // The first refresh that finds the rollout under way holds its write until the pods are ready and a later refresh
    // has had its turn.
    const refresh = holdNextCall(svc, "setStatus", {
      when: (_id, status) => (status as DeploymentEntity["status"]).phase === "Progressing",
    });
    const created = await call<DeploymentEntity>("v1.k8s.deployments.create", {
      name: "overlap",
      namespace: ns.id,
      image: nginx.id,
    });
    const [heldId] = await refresh.held;
    expect(heldId).toBe(created.id);
    await waitUntil(async () => {
      const res = await stack.kubectl(
        "get",
        "deploy",
        "overlap",
        "-n",
        "shop",
        "-o",
        "jsonpath={.status.availableReplicas}",
      );
      return res.stdout.trim() === "1";
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    refresh.release();
    await refresh.done;
    const settled = await waitForPhase(created.id, "Available", 3_000);
    expect(settled.status).toMatchObject({ readyReplicas: 1, availableReplicas: 1 });
    await call("v1.k8s.deployments.remove", { id: created.id });
  });
});

describe("v1.k8s.deployments.update", () => {
  it("re-renders as a new revision: scaling, a new vHost, and a config change that rolls the pods", async () => {
    const [web] = await call<DeploymentEntity[]>("v1.k8s.deployments.find", { query: { name: "web" } });
    if (web === undefined) throw new Error("no web deployment");
    const before = await stack.kubectlJson<{ items: { metadata: { name: string } }[] }>(
      "get",
      "rs",
      "-n",
      "shop",
      "-l",
      "app.kubernetes.io/name=web",
    );
    const updated = await call<DeploymentEntity>("v1.k8s.deployments.update", {
      id: web.id,
      replicas: 1,
      vHosts: ["web.example.com", "www.example.com"],
      configMap: { name: "conf", data: { "default.conf": "server { listen 80; root /srv; }" } },
    });
    expect(updated.revision).toBe(web.revision + 1);
    await waitUntil(async () => {
      const rs = await stack.kubectlJson("get", "rs", "-n", "shop", "-l", "app.kubernetes.io/name=web");
      return rs.items.length > before.items.length;
    });
    const done = await waitForPhase(web.id, "Available");
    expect(done.status).toMatchObject({ replicas: 1, readyReplicas: 1 });
    const ing = await stack.kubectlJson<{ spec: { rules: { host: string }[] } }>(
      "get",
      "ingress",
      "web-ingress",
      "-n",
      "shop",
    );
    expect(ing.spec.rules.map((r) => r.host)).toEqual(["web.example.com", "www.example.com"]);
    const cm = await stack.kubectlJson<{ data: Record<string, string> }>("get", "cm", "web-conf", "-n", "shop");
    expect(cm.data["default.conf"]).toContain("root /srv");
  });

  it("refuses a bad change with 422 and keeps the record as it was", async () => {
    const [web] = await call<DeploymentEntity[]>("v1.k8s.deployments.find", { query: { name: "web" } });
    if (web === undefined) throw new Error("no web deployment");
    await expect(call("v1.k8s.deployments.update", { id: web.id, replicas: 99 })).rejects.toMatchObject({
      code: 422,
      type: "VALIDATION_ERROR",
    });
    await expect(call("v1.k8s.deployments.update", { id: web.id, name: "other" })).rejects.toMatchObject({
      code: 422,
    });
    expect(await get(web.id)).toMatchObject({ replicas: web.replicas, revision: web.revision });
    // The same values again: no new revision.
    const same = await call<DeploymentEntity>("v1.k8s.deployments.update", { id: web.id, replicas: web.replicas });
    expect(same.revision).toBe(web.revision);
  });
});

describe("v1.k8s.deployments drift", () => {
  it("puts back a deleted Service and an edited Deployment", async () => {
    const [web] = await call<DeploymentEntity[]>("v1.k8s.deployments.find", { query: { name: "web" } });
    if (web === undefined) throw new Error("no web deployment");
    expect((await stack.kubectl("delete", "svc", "web-service", "-n", "shop")).code).toBe(0);
    await waitUntil(async () => (await stack.kubectl("get", "svc", "web-service", "-n", "shop")).code === 0);
    expect((await stack.kubectl("scale", "deploy", "web", "-n", "shop", "--replicas=3")).code).toBe(0);
    await waitUntil(async () => {
      const dep = await stack.kubectlJson<{ spec: { replicas: number } }>("get", "deploy", "web", "-n", "shop");
      return dep.spec.replicas === 1;
    });
  });
});

describe("v1.k8s.deployments scale, restart, pods, logs, events", () => {
  it("scales and restarts as new revisions, and reads the pods, a log and the events", async () => {
    const [web] = await call<DeploymentEntity[]>("v1.k8s.deployments.find", { query: { name: "web" } });
    if (web === undefined) throw new Error("no web deployment");
    const scaled = await call<DeploymentEntity>("v1.k8s.deployments.scale", { id: web.id, replicas: 2 });
    expect(scaled).toMatchObject({ replicas: 2, revision: web.revision + 1 });
    await expect(call("v1.k8s.deployments.scale", { id: web.id, replicas: 6 })).rejects.toMatchObject({ code: 422 });
    await waitUntil(async () => (await call<unknown[]>("v1.k8s.deployments.pods", { id: web.id })).length === 2);
    const rsBefore = await stack.kubectlJson("get", "rs", "-n", "shop", "-l", "app.kubernetes.io/name=web");
    const restarted = await call<DeploymentEntity>("v1.k8s.deployments.restart", { id: web.id });
    expect(restarted.revision).toBe(web.revision + 2);
    expect(restarted.restartedAt).toEqual(expect.any(String));
    await waitUntil(async () => {
      const rs = await stack.kubectlJson("get", "rs", "-n", "shop", "-l", "app.kubernetes.io/name=web");
      return rs.items.length > rsBefore.items.length;
    });
    await waitForPhase(web.id, "Available");
    const pods = await call<{ name: string; ready: boolean }[]>("v1.k8s.deployments.pods", { id: web.id });
    expect(pods.length).toBeGreaterThan(0);
    const log = await call<string>("v1.k8s.deployments.logs", { id: web.id, tailLines: 5 });
    expect(typeof log).toBe("string");
    await expect(call("v1.k8s.deployments.logs", { id: web.id, pod: "not-ours" })).rejects.toMatchObject({
      code: 404,
    });
    const events = await call<{ items: { involvedObject: { name: string } }[] }>("v1.k8s.deployments.events", {
      id: web.id,
    });
    expect(events.items.some((e) => e.involvedObject.name === "web")).toBe(true);
    expect(events.items.every((e) => e.involvedObject.name.startsWith("web"))).toBe(true);
  });
});

describe("v1.k8s.deployments.generate", () => {
  it("returns the objects apply sends, as a List kubectl can apply", async () => {
    const [web] = await call<DeploymentEntity[]>("v1.k8s.deployments.find", { query: { name: "web" } });
    if (web === undefined) throw new Error("no web deployment");
    const list = await call<DeploymentGenerateResult>("v1.k8s.deployments.generate", { id: web.id });
    expect(list).toMatchObject({ apiVersion: "v1", kind: "List" });
    expect(list.items.map((o) => `${o.kind}/${o.metadata?.name ?? ""}`)).toEqual([
      "ConfigMap/web-conf",
      "Deployment/web",
      "Service/web-service",
      "Ingress/web-ingress",
    ]);
    // The items as a stream of documents (the sandbox's OpenAPI has no schema for kind List, which kubectl's
    // client-side validation looks up; a real API server has one).
    const file = path.join(path.dirname(stack.kubeconfigPath), "web.yaml");
    await writeFile(file, list.items.map((o) => stringify(o)).join("---\n"));
    const dry = await stack.kubectl(
      "apply",
      "--server-side",
      "--dry-run=server",
      "--field-manager=k8s.deployments",
      "-f",
      file,
    );
    expect(dry).toMatchObject({ code: 0, stderr: "" });
    expect(dry.stdout).toContain("deployment.apps/web serverside-applied");
  });
});

describe("v1.k8s.deployments.remove", () => {
  it("lets an apply already under way end before it deletes the objects: none is left behind", async () => {
    const late = await call<DeploymentEntity>("v1.k8s.deployments.create", {
      name: "late",
      namespace: ns.id,
      image: nginx.id,
    });
    await waitForPhase(late.id, "Available");
    const svc = stack.services.getLocalService("v1.k8s.deployments") as unknown as {
      reconcileNow(id: string): Promise<unknown>;
    };
    // A reconcile of the record holds its apply until the removal has been asked for.
    const { release } = holdNextCall(svc, "applyResolved");
    const reconciling = svc.reconcileNow(late.id);
    const removing = call("v1.k8s.deployments.remove", { id: late.id });
    await new Promise((resolve) => setTimeout(resolve, 200));
    release();
    await reconciling;
    await removing;
    const left = () =>
      stack.kubectl("get", "deploy,svc,cm", "-n", "shop", "-l", "app.kubernetes.io/name=late", "-o", "name");
    await waitUntil(async () => {
      const res = await left();
      return res.code === 0 && res.stdout.trim() === "";
    });
    // Still none a moment later: no late apply made them again.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await left()).stdout.trim()).toBe("");
  });

  it("removes the record and every object", async () => {
    const [web] = await call<DeploymentEntity[]>("v1.k8s.deployments.find", { query: { name: "web" } });
    if (web === undefined) throw new Error("no web deployment");
    await call("v1.k8s.deployments.remove", { id: web.id });
    await expect(get(web.id)).rejects.toMatchObject({ code: 404 });
    await waitUntil(async () => {
      const res = await stack.kubectl(
        "get",
        "deploy,svc,ingress,cm,rs,pods",
        "-n",
        "shop",
        "-l",
        "app.kubernetes.io/managed-by=moleculer-k8s",
        "-o",
        "name",
      );
      return res.code === 0 && res.stdout.trim() === "";
    });
  });
});

describe("v1.k8s.deployments on k8s.namespaces.removed", () => {
  it("removes the namespace's deployment records and their envs", async () => {
    const other = await stack.services.call<NamespaceEntity, object>("v1.k8s.namespaces.create", {
      name: "gone",
      owner: "alice",
    });
    await waitUntil(async () => (await stack.kubectl("get", "ns", "gone")).code === 0);
    const php = await stack.services.call<ImageEntity, object>("v1.k8s.images.resolveName", { name: "php-8-1-0-fpm" });
    const d = await call<DeploymentEntity>("v1.k8s.deployments.create", {
      name: "app",
      namespace: other.id,
      image: php.id,
    });
    expect(await call<unknown[]>("v1.k8s.envs.find", { query: { deployment: d.id } })).not.toEqual([]);
    await call("v1.k8s.namespaces.remove", { id: other.id });
    await waitUntil(
      async () => (await call<unknown[]>("v1.k8s.deployments.find", { query: { namespace: other.id } })).length === 0,
      10_000,
      "the namespace's deployments removed",
    );
    await waitUntil(
      async () => (await call<unknown[]>("v1.k8s.envs.find", { query: { deployment: d.id } })).length === 0,
      10_000,
      "the deployment's envs removed",
    );
    await waitUntil(async () => (await stack.kubectl("get", "ns", "gone")).code !== 0, 10_000, "the Namespace gone");
  });
});

describe("a deployment while its namespace is being removed", () => {
  it("is not put back as its objects go, nor marked Failed for the cluster's refusal", async () => {
    const slow = await stack.services.call<NamespaceEntity, object>("v1.k8s.namespaces.create", {
      name: "slow",
      owner: "alice",
    });
    await waitUntil(async () => (await stack.kubectl("get", "ns", "slow")).code === 0);
    const d = await call<DeploymentEntity>("v1.k8s.deployments.create", {
      name: "app",
      namespace: slow.id,
      image: nginx.id,
    });
    await waitForPhase(d.id, "Available", 10_000);
    // An object with a finalizer keeps the Namespace terminating (its other objects deleted) until it is released.
    const dir = await mkdtemp(path.join(os.tmpdir(), "blocker-"));
    const file = path.join(dir, "blocker.json");
    await writeFile(
      file,
      JSON.stringify({
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "blocker", namespace: "slow", finalizers: ["example.com/hold"] },
      }),
    );
    expect((await stack.kubectl("apply", "-f", file)).code).toBe(0);
    await call("v1.k8s.namespaces.remove", { id: slow.id });
    await waitUntil(
      async () => (await stack.kubectl("get", "deploy", "app", "-n", "slow")).code !== 0,
      10_000,
      "app gone",
    );
    const phases = new Set<string>();
    for (let i = 0; i < 20; i += 1) {
      const [row] = await call<DeploymentEntity[]>("v1.k8s.deployments.find", { query: { _id: d.id } });
      if (row !== undefined) phases.add(row.status.phase);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(phases.has("Failed")).toBe(false);
    expect((await stack.kubectl("get", "deploy", "app", "-n", "slow")).code).not.toBe(0);
    await stack.kubectl(
      "patch",
      "configmap",
      "blocker",
      "-n",
      "slow",
      "--type=json",
      "-p",
      '[{"op":"remove","path":"/metadata/finalizers"}]',
    );
    await waitUntil(
      async () => (await call<unknown[]>("v1.k8s.deployments.find", { query: { namespace: slow.id } })).length === 0,
      10_000,
      "the namespace's deployments removed",
    );
    await rm(dir, { recursive: true, force: true });
  });
});

describe("v1.k8s.deployments resync, apply, createDeployment and clean", () => {
  it("writes nothing on a resync when nothing drifted, re-applies on apply, and clean removes everything", async () => {
    const d = await call<DeploymentEntity>("v1.k8s.deployments.createDeployment", {
      name: "quiet",
      namespace: ns.id,
      image: nginx.id,
      vHosts: ["quiet.example.com"],
    });
    await waitForPhase(d.id, "Available");
    const svc = stack.services.getLocalService("v1.k8s.deployments") as unknown as { resync(): Promise<string[]> };
    const before = stack.sandbox.requestCounts().writes;
    expect(await svc.resync()).toEqual([]);
    expect(stack.sandbox.requestCounts().writes).toBe(before);

    const applied = await call<DeploymentEntity>("v1.k8s.deployments.apply", { id: d.id });
    expect(applied).toMatchObject({ id: d.id, revision: 1 });
    await expect(call("v1.k8s.deployments.apply", { id: d.id }, BOB)).rejects.toMatchObject({ code: 404 });
    await expect(call("v1.k8s.deployments.clean", {}, ALICE)).rejects.toMatchObject({ code: 403 });

    await stack.services.call("v1.k8s.deployments.clean", {});
    expect(await call<unknown[]>("v1.k8s.deployments.find", {})).toEqual([]);
    await waitUntil(async () => {
      const res = await stack.kubectl("get", "deploy,svc,ingress", "-n", "shop", "-o", "name");
      return res.code === 0 && res.stdout.trim() === "";
    });
  });
});
