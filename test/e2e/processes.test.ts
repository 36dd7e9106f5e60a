/**
 * The suite as users start it on several machines: its production build (what `npm start` and the container image run:
 * scripts/build.ts, then `node dist/start.js`) twice, one with SERVICES=api and one with everything else, over NATS.
 * The gateway process runs no domain service, so every answer crossed the transporter. A user's token comes from the
 * build's `token.js`, as in the image. The build goes to its own directory under dist/ (the catalog is found from there,
 * lib/paths.ts) and is removed afterwards.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { signToken } from "../../lib/auth.ts";
import { buildSuite, PRODUCTION_ENTRIES } from "../../scripts/build.ts";
import { freePort } from "../helpers/net.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const NATS = process.env.NATS_URL ?? "nats://127.0.0.1:4222";
const SECRET = "processes-test-secret-0123456789abcdef";

const BUILD_DIR = `dist/.test-processes-${process.pid}`;

function startNode(env: Record<string, string>): { child: ChildProcess; output: () => string } {
  let output = "";
  const child = spawn(
    process.execPath,
    ["--max-semi-space-size=4", "--heap-growing-percent=50", path.join(ROOT, BUILD_DIR, "start.js")],
    {
      cwd: ROOT,
      env: { ...process.env, METRICS_PORT: "0", LOG_LEVEL: "info", TRANSPORTER: NATS, JWT_SECRET: SECRET, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  return { child, output: () => output };
}

/** `node <build>/token.js ...args` with the nodes' secret, as `docker compose exec gateway node dist/token.js` runs it. */
function builtToken(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(ROOT, BUILD_DIR, "token.js"), ...args],
      { cwd: ROOT, env: { ...process.env, JWT_SECRET: SECRET } },
      (err, stdout, stderr) => resolve({ code: err === null ? 0 : Number(err.code ?? 1), stdout, stderr }),
    );
  });
}

async function stopNode(child: ChildProcess | undefined): Promise<number | null> {
  if (child === undefined || child.exitCode !== null) return child?.exitCode ?? null;
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  child.kill("SIGTERM");
  return exited;
}

describe("npm start on two processes (SERVICES, TRANSPORTER)", () => {
  const brokerNamespace = `proc-${randomBytes(4).toString("hex")}`;
  let dataDir: string;
  let gateway: ReturnType<typeof startNode>;
  let services: ReturnType<typeof startNode>;
  let base: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), "processes-"));
    await buildSuite([...PRODUCTION_ENTRIES], BUILD_DIR);
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    // The sandbox's kubeconfig goes to the temp dir, not over the developer's .sandbox/kubeconfig.
    const common = {
      BROKER_NAMESPACE: brokerNamespace,
      DATA_DIR: dataDir,
      SANDBOX_KUBECONFIG: path.join(dataDir, "kubeconfig"),
    };
    services = startNode({ ...common, SERVICES: "*,!api", NODE_ID: `${brokerNamespace}-services` });
    gateway = startNode({ ...common, SERVICES: "api", NODE_ID: `${brokerNamespace}-gateway`, PORT: String(port) });
    // Ready, and the gateway has published the remote node's routes (it rebuilds them shortly after a node joins).
    const token = await signToken({ userID: "probe" }, SECRET);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const ready = await fetch(`${base}/api/ready`).then(
        async (r) => r.ok && JSON.stringify(await r.json()).includes("v1.k8s.namespaces.readiness"),
        () => false,
      );
      const routed =
        ready &&
        (await fetch(`${base}/api/v1/k8s/namespaces`, { headers: { Authorization: `Bearer ${token}` } }).then(
          (r) => r.status === 200,
          () => false,
        ));
      if (routed) break;
      if (Date.now() > deadline) {
        throw new Error(`not ready in 30 s\n--- gateway\n${gateway.output()}\n--- services\n${services.output()}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }, 40_000);

  afterAll(async () => {
    await stopNode(gateway?.child);
    await stopNode(services?.child);
    await rm(dataDir, { recursive: true, force: true });
    await rm(path.join(ROOT, BUILD_DIR), { recursive: true, force: true });
  });

  it("says in its log which services each node runs", () => {
    const runs = (output: string): string[] => /runs: (.*)/.exec(output)?.[1]?.split(", ") ?? [];
    expect(runs(gateway.output())).toEqual(["api"]);
    expect(runs(services.output())).toEqual(expect.arrayContaining(["images", "kube", "namespaces"]));
    expect(runs(services.output())).not.toContain("api");
    expect(services.output()).not.toContain("REST gateway");
    // The token command that works where the build runs (the image holds no sources).
    expect(gateway.output()).toContain("Get a token: node dist/token.js <userID>");
  });

  it("answers REST calls on the gateway from the services process, for a token the build's token.js printed", async () => {
    const printed = await builtToken(["carol"]);
    expect(printed).toMatchObject({ code: 0, stderr: "" });
    const token = printed.stdout.trim();
    expect(token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    const headers = { Authorization: `Bearer ${token}`, "Content-Type": "application/json" };
    const created = await fetch(`${base}/api/v1/k8s/namespaces`, {
      method: "POST",
      headers,
      body: JSON.stringify({ name: "shop" }),
    });
    expect(created.status).toBe(200);
    const body = (await created.json()) as { id: string; owner: string };
    expect(body.owner).toBe("carol");
    const fetched = await fetch(`${base}/api/v1/k8s/namespaces/${body.id}`, { headers });
    expect(await fetched.json()).toMatchObject({ id: body.id, name: "shop" });
    // Its usage names the command that works where it runs.
    expect(await builtToken([])).toMatchObject({
      code: 2,
      stdout: "",
      stderr: expect.stringContaining("usage: node dist/token.js <userID>"),
    });
  });

  it("runs a catalog image until it is Available: the cluster client, the watches and the catalog in the build", async () => {
    const token = await signToken({ userID: "dave" }, SECRET);
    const headers = { Authorization: `Bearer ${token}`, "Content-Type": "application/json" };
    const post = async (route: string, body: unknown) => {
      const res = await fetch(`${base}/api/v1/k8s/${route}`, { method: "POST", headers, body: JSON.stringify(body) });
      expect(res.status).toBe(200);
      return (await res.json()) as { id: string };
    };
    const namespace = await post("namespaces", { name: "built" });
    const resolved = await fetch(`${base}/api/v1/k8s/images/resolve/nginx-1-27`, { headers });
    expect(resolved.status).toBe(200);
    const image = (await resolved.json()) as { id: string };
    const deployment = await post("deployments", { namespace: namespace.id, name: "web", image: image.id });
    let state: { phase?: string; ready?: number } = {};
    for (const deadline = Date.now() + 20_000; Date.now() < deadline && state.phase !== "Available";) {
      await new Promise((r) => setTimeout(r, 200));
      const res = await fetch(`${base}/api/v1/k8s/deployments/${deployment.id}/state`, { headers });
      state = (await res.json()) as typeof state;
    }
    expect(state).toMatchObject({ phase: "Available", ready: 1 });
  }, 30_000);

  it("stops both processes gracefully on SIGTERM", async () => {
    expect(await stopNode(gateway.child)).toBe(0);
    expect(await stopNode(services.child)).toBe(0);
    expect(services.output()).toContain("ServiceBroker is stopped");
  });
});
