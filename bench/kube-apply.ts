/**
 * `npx node bench/kube-apply.ts [--quick] [--count=N]`: applies N (default 1,000) Deployments with a Service each
 * through v1.kube (server-side apply, write limiter as configured by KUBE_QPS / KUBE_BURST / KUBE_MAX_INFLIGHT) to an
 * embedded sandbox, and reports the total time, the process RSS, and the watch latency from write to broadcast
 * (`kube.deployments.added` received after the apply of that Deployment returned; p50, p99).
 *
 * Baseline, same run, same sandbox: the same objects applied with @kubernetes/client-node directly (32 at a time,
 * no broker, no limiter) into other namespaces.
 */
import { ServiceBroker, type Context } from "moleculer";
import { KubeConfig, KubernetesObjectApi, PatchStrategy, type KubernetesObject } from "@kubernetes/client-node";
import { startSandbox, type Sandbox } from "../lib/sandbox/index.ts";
import kubeService from "../services/kube.service.ts";
import { limitsFromEnv } from "../lib/kube/limiter.ts";
import { loadCluster } from "../lib/kube/config.ts";
import { percentile, report, type BenchRow } from "./lib.ts";
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

const args = process.argv.slice(2);
const quick = args.includes("--quick");
const countArg = args.find((a) => a.startsWith("--count="));
const COUNT = countArg === undefined ? (quick ? 200 : 1000) : Number(countArg.slice("--count=".length));
const NAMESPACES = 10;
const MANAGED = { "app.kubernetes.io/managed-by": "moleculer-k8s" };

function objectsFor(prefix: string, i: number): KubernetesObject[] {
  const ns = `${prefix}-${i % NAMESPACES}`;
  const name = `app-${i}`;
  const labels = { ...MANAGED, "app.kubernetes.io/name": name, "app.kubernetes.io/instance": `${ns}-${name}` };
  const selector = { "app.kubernetes.io/instance": `${ns}-${name}` };
  return [
    {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name, namespace: ns, labels },
      spec: {
        replicas: 1,
        selector: { matchLabels: selector },
        template: { metadata: { labels }, spec: { containers: [{ name: "main", image: "nginx:1.27" }] } },
      },
    } as KubernetesObject,
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: `${name}-service`, namespace: ns, labels },
      spec: { selector, ports: [{ port: 80, targetPort: 80 }] },
    } as KubernetesObject,
  ];
}

function namespaces(prefix: string): KubernetesObject[] {
  return Array.from({ length: NAMESPACES }, (_, i) => ({
    apiVersion: "v1",
    kind: "Namespace",
    metadata: { name: `${prefix}-${i}`, labels: MANAGED },
  }));
}

interface PassResult {
  ms: number;
  latencies: number[];
  seen: number;
  rssAfter: number;
  limits: string;
}

/**
 * One pass: a broker with v1.kube (limits from the environment, or `limits`), N apply calls issued at once, then
 * waits for every `kube.deployments.added`. Latency = broadcast received − the sandbox store committing the Deployment.
 */
async function suitePass(sandbox: Sandbox, prefix: string, limits?: LimiterOptionsLike): Promise<PassResult> {
  const committed = new Map<string, number>();
  const seen = new Map<string, number>();
  const unsubscribe = sandbox.store.subscribe((ev) => {
    if (
      ev.type === "ADDED" &&
      ev.resource.kind === "Deployment" &&
      ev.object.metadata.namespace?.startsWith(`${prefix}-`)
    ) {
      committed.set(`${ev.object.metadata.namespace}/${ev.object.metadata.name}`, performance.now());
    }
  });
  const broker = new ServiceBroker({ logger: false });
  broker.createService({
    ...kubeService,
    settings: {
      ...kubeService.settings,
      kubeconfig: sandbox.kubeconfig(),
      ...(limits === undefined ? {} : { limits }),
    },
  });
  broker.createService({
    name: "bench-recorder",
    events: {
      "kube.deployments.added"(ctx: Context<KubernetesObject>) {
        const key = `${ctx.params.metadata?.namespace ?? ""}/${ctx.params.metadata?.name ?? ""}`;
        if (!seen.has(key)) seen.set(key, performance.now());
      },
    },
  });
  await broker.start();
  await broker.call("v1.kube.apply", { objects: namespaces(prefix), fieldManager: "bench" });
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: COUNT }, (_, i) =>
      broker.call("v1.kube.apply", { objects: objectsFor(prefix, i), fieldManager: "bench" }, { timeout: 0 }),
    ),
  );
  const ms = performance.now() - t0;
  const deadline = Date.now() + 30_000;
  while ([...committed.keys()].some((k) => !seen.has(k)) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
  }
  const rssAfter = process.memoryUsage().rss;
  const latencies = [...committed]
    .map(([key, at]) => (seen.get(key) ?? Number.NaN) - at)
    .filter((v) => Number.isFinite(v))
    .sort((a, b) => a - b);
  const used = limits ?? limitsFromEnv(process.env);
  await broker.stop();
  unsubscribe();
  return {
    ms,
    latencies,
    seen: latencies.length,
    rssAfter,
    limits: `qps=${used.qps} burst=${used.burst} maxInflight=${used.maxInflight}`,
  };
}

/** The sandbox in a child process (scripts/sandbox.ts), so that this process's RSS is the broker + v1.kube alone. */
async function isolatedPass(): Promise<{
  ms: number;
  rssBefore: number;
  rssAfter: number;
  heapAfter: number;
  cached: number;
}> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "kube-bench-"));
  const kubeconfigPath = path.join(dir, "kubeconfig");
  const child = spawn(process.execPath, [path.resolve(ROOT, "scripts/sandbox.ts")], {
    env: { ...process.env, SANDBOX_PORT: "0", SANDBOX_KUBECONFIG: kubeconfigPath },
    stdio: ["ignore", "pipe", "inherit"],
  });
  try {
    await new Promise<void>((resolve, reject) => {
      let out = "";
      child.stdout.on("data", (chunk: Buffer) => {
        out += chunk.toString("utf8");
        if (out.includes("kubeconfig written")) resolve();
      });
      child.once("exit", (code) => reject(new Error(`sandbox exited with ${String(code)}`)));
    });
    global.gc?.();
    const rssBefore = process.memoryUsage().rss;
    const seen = new Set<string>();
    const broker = new ServiceBroker({ logger: false });
    broker.createService({
      ...kubeService,
      settings: {
        ...kubeService.settings,
        kubeconfig: await readFile(kubeconfigPath, "utf8"),
        limits: { qps: 1e6, burst: 1e6, maxInflight: 32 },
      },
    });
    broker.createService({
      name: "bench-recorder",
      events: {
        "kube.deployments.added"(ctx: Context<KubernetesObject>) {
          seen.add(`${ctx.params.metadata?.namespace ?? ""}/${ctx.params.metadata?.name ?? ""}`);
        },
      },
    });
    await broker.start();
    await broker.call("v1.kube.apply", { objects: namespaces("iso"), fieldManager: "bench" });
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: COUNT }, (_, i) =>
        broker.call("v1.kube.apply", { objects: objectsFor("iso", i), fieldManager: "bench" }, { timeout: 0 }),
      ),
    );
    const ms = performance.now() - t0;
    const deadline = Date.now() + 30_000;
    while (seen.size < COUNT && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    // Let the controllers' ReplicaSets and Pods arrive in the caches too.
    await new Promise((r) => setTimeout(r, 2000));
    global.gc?.();
    const mem = process.memoryUsage();
    const svc = broker.getLocalService({ name: "kube", version: 1 }) as unknown as {
      informers?: { status(): Record<string, { objects: number }> };
    };
    const cached = Object.values(svc.informers?.status() ?? {}).reduce((n, k) => n + k.objects, 0);
    await broker.stop();
    return { ms, rssBefore, rssAfter: mem.rss, heapAfter: mem.heapUsed, cached };
  } finally {
    child.kill("SIGTERM");
    await new Promise((r) => (child.exitCode === null ? child.once("exit", r) : r(undefined)));
    await rm(dir, { recursive: true, force: true });
  }
}

type LimiterOptionsLike = { qps: number; burst: number; maxInflight: number };

async function main(): Promise<void> {
  // First, while this process is fresh: its RSS with the sandbox in another process.
  const isolated = await isolatedPass();
  const sandbox = await startSandbox({ port: 0, podReadyDelayMs: 200 });
  const rssStart = process.memoryUsage().rss;

  // 1. As configured (KUBE_QPS / KUBE_BURST / KUBE_MAX_INFLIGHT, default 500 / 1000 / 32).
  const paced = await suitePass(sandbox, "paced");
  // 2. Limiter opened up (same in-flight cap as the baseline): what the broker + v1.kube path costs.
  const open = await suitePass(sandbox, "open", { qps: 1e6, burst: 1e6, maxInflight: 32 });

  // Baseline: client-node directly, 32 writes at a time, no limiter, no broker.
  const kc = new KubeConfig();
  kc.loadFromString(sandbox.kubeconfig());
  const api = KubernetesObjectApi.makeApiClient(kc);
  const ssa = (o: KubernetesObject) =>
    api.patch(o, undefined, undefined, "bench", false, PatchStrategy.ServerSideApply);
  for (const ns of namespaces("base")) await ssa(ns);
  const t1 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < COUNT) {
        const i = next++;
        for (const o of objectsFor("base", i)) await ssa(o);
      }
    }),
  );
  const baseMs = performance.now() - t1;
  // The same, with the suite's shared connection pool (client-node alone makes a new one per request).
  const shared = await loadCluster({ kubeconfig: sandbox.kubeconfig() });
  const sharedApi = KubernetesObjectApi.makeApiClient(shared.kubeConfig);
  const ssaShared = (o: KubernetesObject) =>
    sharedApi.patch(o, undefined, undefined, "bench", false, PatchStrategy.ServerSideApply);
  for (const ns of namespaces("pool")) await ssaShared(ns);
  const t2 = performance.now();
  next = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < COUNT) {
        const i = next++;
        for (const o of objectsFor("pool", i)) await ssaShared(o);
      }
    }),
  );
  const poolMs = performance.now() - t2;
  await shared.stop();
  const counts = sandbox.requestCounts();
  await sandbox.stop();

  const env = limitsFromEnv(process.env);
  const floorMs = (Math.max(0, 2 * COUNT - env.burst) / env.qps) * 1000;
  const baselineName = "client-node SSA direct, 32 in flight, no limiter";
  const rows: BenchRow[] = [
    {
      name: `apply ${COUNT} Deployments + Services via v1.kube (limiter as configured)`,
      unit: "ms",
      suite: paced.ms,
      baseline: baseMs,
      baselineName,
      notes: `${paced.limits}: the rate floor for ${2 * COUNT} writes is ${floorMs.toFixed(0)} ms`,
    },
    {
      name: `apply ${COUNT} Deployments + Services via v1.kube (limiter opened)`,
      unit: "ms",
      suite: open.ms,
      baseline: baseMs,
      baselineName,
      notes: open.limits,
    },
    ...[
      ["limiter as configured", paced],
      ["limiter opened", open],
    ].flatMap(([label, pass]) => {
      const p = pass as PassResult;
      return [50, 99].map((q) => ({
        name: `watch latency store commit → kube.deployments.added p${q} (${String(label)})`,
        unit: "ms",
        suite: percentile(p.latencies, q),
        baseline: 0,
        baselineName: "n/a",
        notes: `${p.seen}/${COUNT} broadcasts seen`,
      }));
    }),
    {
      name: `apply ${COUNT} Deployments + Services, client-node direct with the suite's shared connection pool`,
      unit: "ms",
      suite: poolMs,
      baseline: baseMs,
      baselineName,
    },
    {
      name: `RSS of broker + v1.kube after applying ${COUNT} Deployments + Services (sandbox in another process)`,
      unit: "MiB",
      suite: isolated.rssAfter / 2 ** 20,
      baseline: isolated.rssBefore / 2 ** 20,
      baselineName: "same process before the broker started",
      notes: `apply ${isolated.ms.toFixed(0)} ms (limiter opened); informer cache: ${isolated.cached} objects; heap used ${(isolated.heapAfter / 2 ** 20).toFixed(0)} MiB`,
    },
    {
      name: `RSS after both passes (process: broker + v1.kube + in-process sandbox with ${3 * COUNT} Deployments)`,
      unit: "MiB",
      suite: Math.max(paced.rssAfter, open.rssAfter) / 2 ** 20,
      baseline: rssStart / 2 ** 20,
      baselineName: "RSS with the empty sandbox started",
      notes: `sandbox requests: reads ${counts.reads}, writes ${counts.writes}, watches ${counts.watches}`,
    },
  ];
  await report("kube-apply", rows);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
