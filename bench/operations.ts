/**
 * `npx node --expose-gc --max-semi-space-size=4 bench/operations.ts [--quick] [--deployments=N] [--window=S]` (the
 * Node flag of `npm start`; its restarted suite gets the start script's flags itself): the suite at rest with many
 * converged deployments (issue 7, "Speed").
 *
 * The sandbox cluster runs in a child process (this file with `--sandbox-child`, asked for its request counts over
 * IPC), so this process's RSS is the suite's own: every service (gateway, v1.kube with its watch caches, namespaces,
 * images, volumes, envs, deployments) on one broker, NeDB files in a temporary DATA_DIR, logs off. Measured:
 *
 * 1. Idle requests to the API server per minute and the suite's RSS, first with no deployment (the baseline), then with
 *    N (default 1,000; --quick 100) deployments created through v1.k8s.deployments (10 namespaces) and all Available.
 *    Window: 60 s (--quick 10 s), after 5 s of quiet. Target: only watch renewals (no polling); RSS under 300 MB.
 * 2. `state` (or `get` while the suite has no `state` action) of one deployment through the gateway, as its owner (a
 *    plain user: the membership check runs), p99 with autocannon in its own process (10 s; --quick 5 s, after a 2 s
 *    warm-up) over one connection (the row's figure: each request alone, no queueing) and over 10 (saturated: the
 *    notes give its p99 and throughput);
 *    baseline: bench/fixtures/bare-gateway.ts (a bare moleculer-web gateway, one trivial action), same loads.
 *    Target: p99 < 10 ms. `status` (the record's status recomputed from the cache) is measured too while there is no
 *    `state`.
 *
 * 3. The RSS of a freshly started suite (a new process) over the same database and cluster, after its watches listed
 *    everything and WINDOW_S seconds of rest: what an operator sees after a restart. Its notes give V8's peak heap
 *    during the start (informer lists, start-up resyncs): RSS follows that peak, not the heap in use at rest.
 *
 * The write limiter is raised for the setup only (~5,000 writes; only the cluster paces them); it plays no
 * part at rest.
 */
import { fork, spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type AddressInfo } from "node:net";
import type { Server } from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { getHeapStatistics } from "node:v8";
import { readdir } from "node:fs/promises";
import { ServiceBroker, type ServiceSchema } from "moleculer";
import { signToken } from "../lib/auth.ts";
import type { RequestCounts } from "../lib/sandbox/server.ts";
import { startScriptEnv, startScriptNodeFlags } from "./harness.ts";
import { report, type BenchRow } from "./lib.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const SELF = fileURLToPath(import.meta.url);
const args = process.argv.slice(2);
const quick = args.includes("--quick");
const numArg = (name: string, fallback: number): number => {
  const a = args.find((x) => x.startsWith(`--${name}=`));
  return a === undefined ? fallback : Number(a.slice(name.length + 3));
};
const DEPLOYMENTS = numArg("deployments", quick ? 100 : 1000);
const WINDOW_S = numArg("window", quick ? 10 : 60);
const LOAD_S = quick ? 5 : 10;
const NAMESPACES = 10;
const CONCURRENCY = 32;
const SECRET = "bench-operations-secret-0123456789abcdef";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------------------------------------ sandbox child

if (args.includes("--sandbox-child")) {
  const { startSandbox } = await import("../lib/sandbox/index.ts");
  const sandbox = await startSandbox({ port: 0, podReadyDelayMs: 20, auditLogSize: 1000 });
  process.on("message", (msg: { type: string }) => {
    if (msg.type === "counts") process.send?.({ type: "counts", counts: sandbox.requestCounts() });
    if (msg.type === "stop") void sandbox.stop().then(() => process.exit(0));
  });
  process.send?.({ type: "ready", kubeconfig: sandbox.kubeconfig() });
} else if (args.includes("--suite-child")) {
  const at = args.indexOf("--suite-child");
  let peakHeapTotal = 0;
  const sampler = setInterval(() => {
    peakHeapTotal = Math.max(peakHeapTotal, process.memoryUsage().heapTotal);
  }, 50);
  const { broker } = await startSuite(args[at + 1] ?? "", args[at + 2] ?? "");
  await sleep(WINDOW_S * 1000);
  clearInterval(sampler);
  (globalThis as { gc?: () => void }).gc?.();
  const heap = getHeapStatistics();
  const memory = Object.fromEntries(
    Object.entries({
      ...process.memoryUsage(),
      malloced: heap.malloced_memory,
      peakMalloced: heap.peak_malloced_memory,
      peakHeapTotal,
    }).map(([k, v]) => [k, Math.round(v / 2 ** 20)]),
  );
  process.send?.({ memory });
  await broker.stop();
  process.exit(0);
} else {
  await main();
}

interface SandboxChild {
  kubeconfig: string;
  counts(): Promise<RequestCounts>;
  stop(): Promise<void>;
}

async function startSandboxChild(): Promise<SandboxChild> {
  const child = fork(SELF, ["--sandbox-child"], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const kubeconfig = await new Promise<string>((resolve, reject) => {
    child.once("message", (m: { type: string; kubeconfig: string }) => resolve(m.kubeconfig));
    child.once("exit", (code) => reject(new Error(`sandbox child exited (${String(code)})`)));
  });
  return {
    kubeconfig,
    counts: () =>
      new Promise((resolve) => {
        const on = (m: { type: string; counts: RequestCounts }) => {
          if (m.type !== "counts") return;
          child.off("message", on);
          resolve(m.counts);
        };
        child.on("message", on);
        child.send({ type: "counts" });
      }),
    stop: () =>
      new Promise((resolve) => {
        child.once("exit", () => resolve());
        child.send({ type: "stop" });
      }),
  };
}

// ------------------------------------------------------------------------------------------------ helpers

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

async function pool<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i] as T);
      }
    }),
  );
  return out;
}

interface Idle {
  perMinute: number;
  writesPerMinute: number;
  readsPerMinute: number;
  watchesPerMinute: number;
  byVerb: Record<string, number>;
  rssMB: number;
  heapMB: number;
  /** process.memoryUsage() at the end of the window, MB. */
  end: Record<string, number>;
}

/** Requests the sandbox received from the suite over the window, scaled to a minute, and the suite's peak RSS. */
async function idleWindow(sandbox: SandboxChild): Promise<Idle> {
  await sleep(5000);
  (globalThis as { gc?: () => void }).gc?.();
  const before = await sandbox.counts();
  let rss = 0;
  let heap = 0;
  const until = Date.now() + WINDOW_S * 1000;
  while (Date.now() < until) {
    const m = process.memoryUsage();
    rss = Math.max(rss, m.rss);
    heap = Math.max(heap, m.heapUsed);
    await sleep(Math.min(1000, until - Date.now()));
  }
  const after = await sandbox.counts();
  const scale = 60 / WINDOW_S;
  const byVerb: Record<string, number> = {};
  for (const [verb, n] of Object.entries(after.byVerb)) {
    const d = n - (before.byVerb[verb] ?? 0);
    if (d !== 0) byVerb[verb] = d;
  }
  const d = (k: "reads" | "writes" | "watches") => (after[k] - before[k]) * scale;
  return {
    perMinute: d("reads") + d("writes") + d("watches"),
    writesPerMinute: d("writes"),
    readsPerMinute: d("reads"),
    watchesPerMinute: d("watches"),
    byVerb,
    rssMB: rss / 2 ** 20,
    heapMB: heap / 2 ** 20,
    end: Object.fromEntries(Object.entries(process.memoryUsage()).map(([k, v]) => [k, Math.round(v / 2 ** 20)])),
  };
}

interface Latency {
  p50: number;
  p99: number;
  rps: number;
  non2xx: number;
}

/** autocannon in its own process (so its work does not load this one): `connections` for `seconds`, as fast as it can. */
function autocannon(url: string, token: string | undefined, connections: number, seconds = LOAD_S): Promise<Latency> {
  const bin = path.join(ROOT, "node_modules", "autocannon", "autocannon.js");
  const argv = [
    bin,
    "-j",
    "-c",
    String(connections),
    "-d",
    String(seconds),
    ...(token === undefined ? [] : ["-H", `Authorization=Bearer ${token}`]),
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...argv, url], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    child.on("exit", (code) => {
      if (code !== 0) return reject(new Error(`autocannon exited ${String(code)}`));
      const r = JSON.parse(out) as {
        latency: { p50: number; p99: number };
        requests: { average: number };
        non2xx: number;
      };
      resolve({ p50: r.latency.p50, p99: r.latency.p99, rps: r.requests.average, non2xx: r.non2xx });
    });
  });
}

/** The same endpoint after a 2 s warm-up: one connection (each request alone: no queueing) and 10 (saturated). */
async function measure(url: string, token?: string): Promise<{ alone: Latency; saturated: Latency }> {
  await autocannon(url, token, 10, 2);
  const alone = await autocannon(url, token, 1);
  const saturated = await autocannon(url, token, 10);
  return { alone, saturated };
}

async function startBareGateway(): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(process.execPath, [path.join(ROOT, "bench", "fixtures", "bare-gateway.ts")], {
    env: { ...process.env, PORT: String(port) },
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on("data", (c: Buffer) => {
      if (c.toString().includes("ready")) resolve();
    });
    child.once("exit", (code) => reject(new Error(`bare gateway exited ${String(code)}`)));
  });
  return { url: `http://127.0.0.1:${port}`, child };
}

/** Every service of the suite on one broker (logs off unless BENCH_LOG), NeDB files in `dataDir`; resolves when ready. */
async function startSuite(kubeconfig: string, dataDir: string): Promise<{ broker: ServiceBroker; url: string }> {
  const level = process.env.BENCH_LOG;
  const broker = new ServiceBroker({
    logger: level === undefined ? false : { type: "Console", options: { level } },
    nodeID: "bench-operations",
  });
  for (const file of (await readdir(path.join(ROOT, "services"))).filter((f) => f.endsWith(".service.ts")).sort()) {
    const schema = ((await import(pathToFileURL(path.join(ROOT, "services", file)).href)) as { default: ServiceSchema })
      .default;
    const base = (schema.settings ?? {}) as Record<string, unknown>;
    const settings: Record<string, unknown> =
      file === "kube.service.ts"
        ? { ...base, kubeconfig, limits: { qps: 2000, burst: 2000, maxInflight: 64 } }
        : file === "api.service.ts"
          ? { ...base, port: 0, ip: "127.0.0.1", jwtSecret: SECRET, requestRateLimit: { rate: 0, burst: 0 } }
          : { ...base, db: { dataDir } };
    broker.createService({ ...schema, settings });
  }
  await broker.start();
  await broker.waitForServices(["v1.k8s.deployments", "v1.k8s.namespaces", "v1.kube"], 30_000);
  for (;;) {
    const ready = await broker.call("v1.kube.readiness").then(
      () => true,
      () => false,
    );
    if (ready) break;
    await sleep(100);
  }
  const api = broker.getLocalService("api") as unknown as { server: Server; aliases: { action: string | null }[] };
  while (!api.aliases.some((a) => a.action === "v1.k8s.deployments.get")) await sleep(20);
  return { broker, url: `http://127.0.0.1:${(api.server.address() as AddressInfo).port}` };
}

/**
 * A freshly started suite over the same database and cluster (what an operator has after a restart): its RSS once its
 * watches have listed everything and its start-up resyncs ran, after `WINDOW_S` seconds of rest.
 */
async function restartedSuiteRss(kubeconfig: string, dataDir: string): Promise<Record<string, number>> {
  // Started as `npm start` starts the suite (its Node flags), as an operator's restart would.
  const child = fork(SELF, ["--suite-child", kubeconfig, dataDir, `--window=${WINDOW_S}`], {
    execArgv: ["--expose-gc", ...(await startScriptNodeFlags())],
    env: { ...process.env, ...(await startScriptEnv()) },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  return new Promise((resolve, reject) => {
    child.once("message", (m: { memory: Record<string, number> }) => resolve(m.memory));
    child.once("exit", (code) => reject(new Error(`suite child exited (${String(code)})`)));
  });
}

// ------------------------------------------------------------------------------------------------ main

async function main(): Promise<void> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), "bench-operations-"));
  const sandbox = await startSandboxChild();
  const { broker, url } = await startSuite(sandbox.kubeconfig, dataDir);

  console.log(`idle, no deployments: ${WINDOW_S} s`);
  const empty = await idleWindow(sandbox);

  // --- N deployments through the services, in 10 namespaces, all Available ---
  const namespaces = await pool(
    Array.from({ length: NAMESPACES }, (_, i) => `bench-ops-${i}`),
    NAMESPACES,
    (name) =>
      broker.call<{ id: string }, Record<string, unknown>>("v1.k8s.namespaces.create", {
        name,
        owner: "bench",
        quota: { cpu: 1_000_000, memory: 10_000_000, pods: 10_000 },
      }),
  );
  for (;;) {
    const rows = await broker.call<{ status: { phase: string } }[], Record<string, unknown>>("v1.k8s.namespaces.find", {
      fields: ["status"],
    });
    if (rows.length === NAMESPACES && rows.every((r) => r.status.phase === "Active")) break;
    await sleep(100);
  }
  const nginx = await broker.call<{ id: string }, { name: string }>("v1.k8s.images.resolveName", {
    name: "nginx-1-27",
  });
  const t0 = performance.now();
  const created = await pool(
    Array.from({ length: DEPLOYMENTS }, (_, i) => i),
    CONCURRENCY,
    (i) =>
      broker.call<{ id: string }, Record<string, unknown>>("v1.k8s.deployments.create", {
        name: `app-${i}`,
        namespace: namespaces[i % NAMESPACES]?.id,
        image: nginx.id,
        vHosts: [`app-${i}.example.com`],
      }),
  );
  const tCreated = performance.now();
  for (;;) {
    const available = await broker.call<number, Record<string, unknown>>("v1.k8s.deployments.count", {
      query: { "status.phase": "Available" },
    });
    if (available === DEPLOYMENTS) break;
    await sleep(500);
  }
  const tAvailable = performance.now();
  console.log(
    `${DEPLOYMENTS} deployments created in ${Math.round(tCreated - t0)} ms, all Available after ${Math.round(tAvailable - t0)} ms; idle: ${WINDOW_S} s`,
  );
  const loaded = await idleWindow(sandbox);

  // --- one deployment through the gateway, vs a bare gateway ---
  const hasState = broker.registry.getActionEndpoints("v1.k8s.deployments.state") !== undefined;
  const hasStatus = broker.registry.getActionEndpoints("v1.k8s.deployments.status") !== undefined;
  const id = created[0]?.id ?? "";
  const token = await signToken({ userID: "bench" }, SECRET);
  const probe = await fetch(`${url}/api/v1/k8s/deployments/${id}${hasState ? "/state" : ""}`, {
    headers: { Authorization: `Bearer ${token}` },
  });
  if (probe.status !== 200) throw new Error(`GET deployment: ${probe.status} ${await probe.text()}`);
  const bare = await startBareGateway();
  const baseline = await measure(`${bare.url}/api/v1/bare/item`);
  bare.child.kill("SIGTERM");
  const subject = await measure(`${url}/api/v1/k8s/deployments/${id}${hasState ? "/state" : ""}`, token);
  const status =
    hasStatus && !hasState ? await measure(`${url}/api/v1/k8s/deployments/${id}/status`, token) : undefined;

  await broker.stop();
  console.log(`the suite restarted over the same ${DEPLOYMENTS} deployments: ${WINDOW_S} s`);
  const restarted = await restartedSuiteRss(sandbox.kubeconfig, dataDir);
  await sandbox.stop();
  await rm(dataDir, { recursive: true, force: true });

  const verbs = (v: Record<string, number>) =>
    Object.entries(v)
      .map(([k, n]) => `${k} ${n}`)
      .join(", ") || "none";
  const rows: BenchRow[] = [
    {
      name: `idle API requests/min with ${DEPLOYMENTS} converged deployments`,
      unit: "req/min",
      suite: loaded.perMinute,
      baseline: empty.perMinute,
      baselineName: "the suite idle with no deployments",
      target: "only watch renewals, no polling",
      met: loaded.writesPerMinute === 0 && loaded.readsPerMinute === 0,
      notes:
        `window ${WINDOW_S} s; with deployments: ${verbs(loaded.byVerb)} (writes ${loaded.writesPerMinute}/min, ` +
        `reads ${loaded.readsPerMinute}/min, watch requests ${loaded.watchesPerMinute}/min); empty: ${verbs(empty.byVerb)}`,
    },
    {
      name: `suite RSS with ${DEPLOYMENTS} converged deployments`,
      unit: "MB",
      suite: loaded.rssMB,
      baseline: empty.rssMB,
      baselineName: "the suite with no deployments",
      target: "< 300 MB",
      met: loaded.rssMB < 300,
      notes: `peak over the idle window; at its end (MB) ${JSON.stringify(loaded.end)}, empty ${JSON.stringify(empty.end)}; setup: created in ${Math.round(tCreated - t0)} ms, Available after ${Math.round(tAvailable - t0)} ms`,
    },
    {
      name: `RSS of the suite restarted over ${DEPLOYMENTS} converged deployments`,
      unit: "MB",
      suite: restarted.rss ?? Number.NaN,
      baseline: empty.rssMB,
      baselineName: "the suite with no deployments",
      target: "< 300 MB",
      met: (restarted.rss ?? Number.POSITIVE_INFINITY) < 300,
      notes: `a new process over the same NeDB files and cluster, after its watches listed and ${WINDOW_S} s of rest (MB): ${JSON.stringify(restarted)}`,
    },
  ];
  const latencyRow = (name: string, m: { alone: Latency; saturated: Latency }): BenchRow => ({
    name,
    unit: "ms",
    suite: m.alone.p99,
    baseline: baseline.alone.p99,
    baselineName: "bare moleculer-web gateway",
    target: "< 10 ms",
    met: m.alone.p99 < 10,
    notes:
      `autocannon -c 1 -d ${LOAD_S}: p50 ${m.alone.p50} ms (bare ${baseline.alone.p50} ms), non-2xx ${m.alone.non2xx}; ` +
      `saturated (-c 10): p99 ${m.saturated.p99} ms, p50 ${m.saturated.p50} ms, ${Math.round(m.saturated.rps)} req/s ` +
      `(bare p99 ${baseline.saturated.p99} ms, ${Math.round(baseline.saturated.rps)} req/s)`,
  });
  rows.push(
    latencyRow(
      `GET /deployments/:id${hasState ? "/state" : ""} p99, one connection, through the gateway (${hasState ? "state" : "get: no state action yet"})`,
      subject,
    ),
  );
  if (status !== undefined) {
    rows.push(latencyRow("GET /deployments/:id/status p99, one connection (status from the watch cache)", status));
  }
  await report("operations", rows);
}
