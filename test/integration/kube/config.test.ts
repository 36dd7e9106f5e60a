import { describe, it, expect, afterAll } from "@jest/globals";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { HttpMethod, RequestContext, VersionApi } from "@kubernetes/client-node";
import { loadCluster, type Cluster } from "../../../lib/kube/config.ts";
import { startSandbox, type Sandbox } from "../../../lib/sandbox/index.ts";

const run = promisify(execFile);
const cleanups: (() => Promise<void>)[] = [];

afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function tmpDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "kube-config-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

describe("loadCluster", () => {
  it("starts the sandbox when nothing is configured and writes .sandbox/kubeconfig for kubectl", async () => {
    const cwd = await tmpDir();
    const cluster: Cluster = await loadCluster({ env: {}, cwd, sandbox: { port: 0, podReadyDelayMs: 20 } });
    cleanups.push(() => cluster.stop());
    expect(cluster.source).toBe("sandbox");
    expect(cluster.kubeconfigPath).toBe(path.join(cwd, ".sandbox", "kubeconfig"));
    expect(await readFile(path.join(cwd, ".sandbox", "kubeconfig"), "utf8")).toContain("current-context: sandbox");

    const version = await cluster.kubeConfig.makeApiClient(VersionApi).getCode();
    expect(version.gitVersion).toMatch(/^v1\./);

    const { stdout } = await run("kubectl", [
      "--kubeconfig",
      path.join(cwd, ".sandbox", "kubeconfig"),
      "get",
      "ns",
      "-o",
      "name",
    ]);
    expect(stdout).toContain("namespace/default");
  });

  it("uses the file KUBECONFIG names, and an explicit kubeconfig (YAML or path) before the environment", async () => {
    const sandbox: Sandbox = await startSandbox({ port: 0, podReadyDelayMs: 20 });
    cleanups.push(() => sandbox.stop());
    const server = expect.stringMatching(new RegExp(`^https?://127\\.0\\.0\\.1:${new URL(sandbox.url).port}$`));
    const dir = await tmpDir();
    const file = path.join(dir, "config");
    await writeFile(file, sandbox.kubeconfig());

    const fromEnv = await loadCluster({ env: { KUBECONFIG: file } });
    cleanups.push(() => fromEnv.stop());
    expect(fromEnv).toMatchObject({ source: "kubeconfig", server });
    expect(fromEnv.sandbox).toBeUndefined();

    const fromYaml = await loadCluster({ kubeconfig: sandbox.kubeconfig(), env: { KUBECONFIG: "/nonexistent" } });
    cleanups.push(() => fromYaml.stop());
    expect(fromYaml).toMatchObject({ source: "kubeconfig", server });

    const fromPath = await loadCluster({ kubeconfig: file, env: {} });
    cleanups.push(() => fromPath.stop());
    expect(fromPath.server).toEqual(server);
    await expect(fromPath.kubeConfig.makeApiClient(VersionApi).getCode()).resolves.toMatchObject({
      gitVersion: expect.stringMatching(/^v1\./),
    });
  });

  it("gives every request to a cluster as one user the same connection pool, and the requests go through it", async () => {
    const sandbox: Sandbox = await startSandbox({ port: 0, podReadyDelayMs: 20 });
    cleanups.push(() => sandbox.stop());
    const cluster = await loadCluster({ kubeconfig: sandbox.kubeconfig(), env: {} });
    cleanups.push(() => cluster.stop());
    const contexts = [1, 2, 3].map(() => new RequestContext(`${cluster.server}/version`, HttpMethod.GET));
    for (const context of contexts) await cluster.kubeConfig.applySecurityAuthentication(context);
    const [first, ...others] = contexts.map((c) => c.getDispatcher());
    expect(first).toBeDefined();
    for (const other of others) expect(other).toBe(first);
    const api = cluster.kubeConfig.makeApiClient(VersionApi);
    for (let i = 0; i < 3; i++) await expect(api.getCode()).resolves.toMatchObject({ gitVersion: expect.any(String) });
  });

  it("uses the in-cluster configuration when KUBERNETES_SERVICE_HOST is set", async () => {
    const saved = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT };
    process.env.KUBERNETES_SERVICE_HOST = "10.96.0.1";
    process.env.KUBERNETES_SERVICE_PORT = "443";
    try {
      const cluster = await loadCluster({ env: { KUBERNETES_SERVICE_HOST: "10.96.0.1" } });
      expect(cluster).toMatchObject({ source: "in-cluster", server: "https://10.96.0.1:443" });
      await cluster.stop();
    } finally {
      if (saved.host === undefined) delete process.env.KUBERNETES_SERVICE_HOST;
      else process.env.KUBERNETES_SERVICE_HOST = saved.host;
      if (saved.port === undefined) delete process.env.KUBERNETES_SERVICE_PORT;
      else process.env.KUBERNETES_SERVICE_PORT = saved.port;
    }
  });
});
