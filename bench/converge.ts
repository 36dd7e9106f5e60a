/**
 * `npx node bench/converge.ts [--quick]`: the rows Converge, Memory, Idle and Start (restart) of issue 9, with the
 * sandbox cluster in one process (bench/fixtures/sandbox-node.ts) and the whole suite in another
 * (bench/fixtures/suite-node.ts, started as `npm start` starts it, RATE_LIMIT=0, NeDB files), driven from here over
 * REST with a valid token and with kubectl.
 *
 * Converge: for N = 10, 100 (and 1,000 without --quick) deployments — N/2 nginx + php-fpm pairs of the reference
 *   example, the nginx one with its `default.conf` ConfigMap and a vHost — created over REST (16 requests at a time)
 *   until every Deployment is Available (the condition `kubectl wait` checks, read from the sandbox); baseline: the objects `generate` returns
 *   for those records, moved to another namespace of the same sandbox and without the managed-by label (so that the
 *   suite's label-filtered watches do not react to them), `kubectl apply --server-side -f`, then the same wait.
 *   Then the slope of time over N for both.
 * Memory: RSS of the suite's process (after a GC) at 0 deployments and right after each N (cumulative); at the total
 *   after the idle window and a resync; and of the restarted suite once converged and after as long again quiet (the
 *   suite gives the memory of a burst back once it has been quiet for MEMORY_RELEASE_IDLE_SECONDS, lib/memory.ts).
 * Idle: with every deployment converged, the API requests the suite sends over an idle window (5 s quick, 120 s
 *   full), then during one full resync of every service (run at once through the IPC channel).
 * Start: the suite stopped, a fresh empty sandbox, the suite started again on the same database: time until every
 *   record's Deployment is Available again; baseline: kubectl's converge times of the same objects above, summed.
 */
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { stringify } from "yaml";
import { nginxDefaultConf } from "../examples/reference-example.service.ts";
import {
  cpuMsOf,
  full,
  kubectl,
  linearFit,
  MiB,
  mustKubectl,
  pool,
  quick,
  restClient,
  sleep,
  startSandboxNode,
  startSuiteNode,
  type SandboxNode,
} from "./harness.ts";
import { report, type BenchRow } from "./lib.ts";

const sizesArg = process.argv.find((a) => a.startsWith("--sizes="));
const SIZES = sizesArg !== undefined ? sizesArg.slice(8).split(",").map(Number) : quick ? [10, 100] : [10, 100, 1000];
const CONCURRENCY = 16;
const IDLE_SECONDS = Number(process.argv.find((a) => a.startsWith("--idle="))?.slice(7) ?? (full ? 120 : 5));
const MANAGED_BY = "app.kubernetes.io/managed-by";

interface K8sObject {
  kind: string;
  metadata: { namespace?: string; labels?: Record<string, string> };
  spec?: {
    selector?: { matchLabels?: Record<string, string> };
    template?: { metadata?: { labels?: Record<string, string> } };
  };
}

/** The object for the kubectl baseline: another namespace, and no managed-by label (the suite's watches skip it). */
function forKubectl(o: K8sObject, namespace: string): K8sObject {
  const copy = structuredClone(o);
  copy.metadata.namespace = namespace;
  if (copy.metadata.labels !== undefined) delete copy.metadata.labels[MANAGED_BY];
  const template = copy.spec?.template?.metadata?.labels;
  if (template !== undefined && copy.spec?.selector?.matchLabels?.[MANAGED_BY] === undefined)
    delete template[MANAGED_BY];
  return copy;
}

/**
 * Until every Deployment of `namespace` (at least `count`) has Available=True, read from the sandbox's store every
 * 50 ms: the condition `kubectl wait --for=condition=Available` checks, without its cost (here ~165 ms per Deployment,
 * one GET and one watch after the other, the same on both sides, which would hide the difference being measured).
 */
async function waitAvailable(sandbox: SandboxNode, namespace: string, count: number): Promise<void> {
  const deadline = performance.now() + 1_200_000;
  for (;;) {
    const { available, total } = await sandbox.available(namespace);
    if (total >= count && available >= total) return;
    if (performance.now() > deadline) throw new Error(`${namespace}: ${available}/${total} Available after 20 min`);
    await sleep(50);
  }
}

interface Step {
  n: number;
  suiteMs: number;
  createMs: number;
  kubectlMs: number;
  kubectlApplyMs: number;
  objects: number;
  suiteWrites: number;
  kubectlWrites: number;
  rssAfter: number;
  heapAfter: string;
  total: number;
  cpu: string;
}

async function main(): Promise<void> {
  const t00 = performance.now();
  let sandbox = await startSandboxNode();
  const kubeconfig = sandbox.kubeconfigPath;
  let suite = await startSuiteNode(kubeconfig);
  await sleep(1500); // the start-up resync
  const rss0 = await suite.rss();
  const heap0 = suite.lastMemoryNote;
  const { rest } = await restClient(suite.url);
  // The quota is set by an admin (QUOTA_SET_BY=admin); everything after is the non-admin user `bench`'s.
  const { rest: adminRest } = await restClient(suite.url, "bench-admin", true);
  const php = await rest("GET", "/api/v1/k8s/images/resolve/php-8-1-0-fpm");
  const nginx = await rest("GET", "/api/v1/k8s/images/resolve/nginx-1-27");

  const steps: Step[] = [];
  let total = 0;
  for (const n of SIZES) {
    const nsName = `bench-s${n}`;
    const ns = await adminRest("POST", "/api/v1/k8s/namespaces", {
      name: nsName,
      owner: "bench",
      quota: { cpu: 1_000_000, memory: 100_000_000, pods: 100_000 },
    });
    while ((await kubectl(kubeconfig, "get", "ns", nsName)).code !== 0) await sleep(50);
    const bodies = Array.from({ length: Math.ceil(n / 2) }, (_, i) => [
      { name: `app${i}-php`, namespace: ns.id, image: php.id },
      {
        name: `app${i}-nginx`,
        namespace: ns.id,
        image: nginx.id,
        vHosts: [`app${i}.n${n}.example.com`],
        configMap: { name: "nginx-config", data: { "default.conf": nginxDefaultConf(`app${i}-php`, nsName) } },
      },
    ])
      .flat()
      .slice(0, n);

    // --- the suite: REST creates, then every Deployment Available ---
    const writes0 = (await sandbox.counts()).writes;
    const cpu0 = [await cpuMsOf(suite.pid), await cpuMsOf(sandbox.child.pid ?? 0)];
    const t0 = performance.now();
    const created = await pool(bodies, CONCURRENCY, (b) => rest("POST", "/api/v1/k8s/deployments", b));
    const createMs = performance.now() - t0;
    const cpu = [(await cpuMsOf(suite.pid)) - (cpu0[0] ?? 0), (await cpuMsOf(sandbox.child.pid ?? 0)) - (cpu0[1] ?? 0)];
    await waitAvailable(sandbox, nsName, n);
    const suiteMs = performance.now() - t0;
    const suiteWrites = (await sandbox.counts()).writes - writes0;
    total += n;
    const rssAfter = await suite.rss();
    const heapAfter = suite.lastMemoryNote;

    // --- the baseline: the same objects, kubectl apply --server-side + wait ---
    const lists = (await pool(created, CONCURRENCY, (d) =>
      rest("GET", `/api/v1/k8s/deployments/${String(d.id)}/generate`),
    )) as unknown as { items: K8sObject[] }[];
    const kns = `bench-k${n}`;
    const docs = lists.flatMap((l) => l.items.map((o) => stringify(forKubectl(o, kns))));
    const file = path.join(sandbox.dir, `objects-${n}.yaml`);
    await writeFile(file, docs.join("---\n"));
    await mustKubectl(kubeconfig, "create", "namespace", kns);
    const kw0 = (await sandbox.counts()).writes;
    const kcpu0 = await cpuMsOf(sandbox.child.pid ?? 0);
    const k0 = performance.now();
    await mustKubectl(kubeconfig, "apply", "--server-side", "-f", file);
    const kubectlApplyMs = performance.now() - k0;
    const kubectlSandboxCpu = (await cpuMsOf(sandbox.child.pid ?? 0)) - kcpu0;
    await waitAvailable(sandbox, kns, n);
    const kubectlMs = performance.now() - k0;
    const kubectlWrites = (await sandbox.counts()).writes - kw0;
    steps.push({
      n,
      suiteMs,
      createMs,
      kubectlMs,
      kubectlApplyMs,
      objects: docs.length,
      suiteWrites,
      kubectlWrites,
      rssAfter,
      heapAfter,
      total,
      cpu: `CPU during the creates: suite ${cpu[0]} ms, sandbox ${cpu[1]} ms; sandbox during kubectl's apply ${kubectlSandboxCpu} ms`,
    });
    console.log(
      `N=${n}: suite ${suiteMs.toFixed(0)} ms (creates ${createMs.toFixed(0)} ms, ${suiteWrites} writes), ` +
        `kubectl ${kubectlMs.toFixed(0)} ms (apply ${kubectlApplyMs.toFixed(0)} ms, ${kubectlWrites} writes), ` +
        `RSS ${(rssAfter / MiB).toFixed(0)} MiB at ${total}; CPU during the creates: suite ${cpu[0]} ms, sandbox ${cpu[1]} ms; ` +
        `sandbox during kubectl's apply ${kubectlSandboxCpu} ms`,
    );
  }

  // --- Idle: nothing to do, then one full resync ---
  await sleep(2000); // the last status events settle
  const idle0 = await sandbox.counts();
  await sleep(IDLE_SECONDS * 1000);
  const idle1 = await sandbox.counts();
  const resync = await suite.resync();
  const idle2 = await sandbox.counts();
  const idleReads = idle1.reads - idle0.reads;
  const idleWrites = idle1.writes - idle0.writes;
  const idleWatches = idle1.watches - idle0.watches;
  const resyncReads = idle2.reads - idle1.reads;
  const resyncWrites = idle2.writes - idle1.writes;
  const resyncWatches = idle2.watches - idle1.watches;
  const rssIdle = await suite.rss();
  const heapIdle = suite.lastMemoryNote;

  // --- Start: the suite restarted on the same database against an empty cluster ---
  const dataDir = suite.dataDir;
  await suite.stop({ keepData: true });
  await sandbox.stop();
  sandbox = await startSandboxNode();
  const r0 = performance.now();
  suite = await startSuiteNode(sandbox.kubeconfigPath, { dataDir });
  const restartReadyMs = performance.now() - r0;
  const deadline = performance.now() + 1_200_000;
  let converged = 0;
  for (;;) {
    converged = 0;
    for (const s of steps) converged += (await sandbox.available(`bench-s${s.n}`)).available;
    if (converged >= total || performance.now() > deadline) break;
    await sleep(100);
  }
  const restartMs = performance.now() - r0;
  const restartWrites = (await sandbox.counts()).writes;
  const rssRestart = await suite.rss();
  const heapRestart = suite.lastMemoryNote;
  // What an operator sees once the restarted suite has been quiet as long as the idle window above.
  await sleep(IDLE_SECONDS * 1000);
  const rssRestartSettled = await suite.rss();
  const heapRestartSettled = suite.lastMemoryNote;
  await suite.stop();
  await sandbox.stop();

  // --- rows ---
  const rows: BenchRow[] = [];
  for (const s of steps) {
    rows.push({
      row: "Converge",
      name: `${s.n} deployments (${Math.ceil(s.n / 2)} nginx+php pairs) over REST until Available`,
      unit: "ms",
      suite: s.suiteMs,
      baseline: s.kubectlMs,
      baselineName: "kubectl apply --server-side, until Available",
      target: "≤ 1.0× kubectl",
      met: s.suiteMs <= s.kubectlMs,
      notes:
        `suite: REST creates ${s.createMs.toFixed(0)} ms (${CONCURRENCY} at a time), ${s.suiteWrites} API writes ` +
        `(the objects kubectl applies too, plus the env ConfigMap/Secret of deployments with env values; the Namespace ` +
        `and its quota are written before); kubectl: apply ${s.kubectlApplyMs.toFixed(0)} ms of ${s.objects} ` +
        `objects (${s.kubectlWrites} API writes), then wait; ${s.cpu}`,
    });
  }
  if (steps.length >= 2) {
    const suiteFit = linearFit(steps.map((s) => [s.n, s.suiteMs]));
    const kubectlFit = linearFit(steps.map((s) => [s.n, s.kubectlMs]));
    const [a, b] = steps.slice(-2) as [Step, Step];
    const exponent = Math.log(b.suiteMs / a.suiteMs) / Math.log(b.n / a.n);
    const kExponent = Math.log(b.kubectlMs / a.kubectlMs) / Math.log(b.n / a.n);
    rows.push({
      row: "Converge",
      name: `time per added deployment (least-squares slope over N = ${steps.map((s) => s.n).join(", ")})`,
      unit: "ms",
      suite: suiteFit.slope,
      baseline: kubectlFit.slope,
      baselineName: "kubectl",
      target: "growth no worse than linear",
      met: exponent <= 1.1,
      notes:
        `suite ≈ ${suiteFit.intercept.toFixed(0)} ms + ${suiteFit.slope.toFixed(1)} ms × N; kubectl ≈ ` +
        `${kubectlFit.intercept.toFixed(0)} ms + ${kubectlFit.slope.toFixed(1)} ms × N; growth exponent from N=${a.n} ` +
        `to ${b.n}: suite ${exponent.toFixed(2)}, kubectl ${kExponent.toFixed(2)} (1 = linear)`,
    });
  }
  rows.push({
    row: "Memory",
    name: "RSS of the suite's process at 0 deployments (sandbox in another process)",
    unit: "MiB",
    suite: rss0 / MiB,
    baseline: Number.NaN,
    baselineName: "—",
    notes: `every service, gateway and NeDB in one process, after a GC; ${heap0}`,
  });
  for (const s of steps) {
    rows.push({
      row: "Memory",
      name: `RSS of the suite's process at ${s.total} deployments`,
      unit: "MiB",
      suite: s.rssAfter / MiB,
      baseline: rss0 / MiB,
      baselineName: "at 0",
      ...(s.total >= 1000 ? { target: "≤ 200 MB at 1,000", met: s.rssAfter <= 200e6 } : {}),
      notes: s.heapAfter,
    });
  }
  const memoryTarget = (rss: number) => (total >= 1000 ? { target: "≤ 200 MB at 1,000", met: rss <= 200e6 } : {});
  rows.push({
    row: "Memory",
    name: `RSS at ${total} after the ${IDLE_SECONDS} s idle window and a resync`,
    unit: "MiB",
    suite: rssIdle / MiB,
    baseline: rss0 / MiB,
    baselineName: "at 0",
    ...memoryTarget(rssIdle),
    notes: heapIdle,
  });
  rows.push({
    row: "Memory",
    name: `RSS of a suite restarted with ${total} records, once converged, then after ${IDLE_SECONDS} s quiet`,
    unit: "MiB",
    suite: rssRestartSettled / MiB,
    baseline: rss0 / MiB,
    baselineName: "at 0",
    ...memoryTarget(rssRestartSettled),
    notes:
      `once converged ${(rssRestart / MiB).toFixed(0)} MiB (${heapRestart}); ` +
      `after ${IDLE_SECONDS} s quiet ${(rssRestartSettled / MiB).toFixed(0)} MiB (${heapRestartSettled})`,
  });
  rows.push({
    row: "Idle",
    name: `API writes over ${IDLE_SECONDS} s idle + one full resync, ${total} deployments`,
    unit: "req",
    suite: idleWrites + resyncWrites,
    baseline: 0,
    baselineName: "target",
    target: "0",
    met: idleWrites + resyncWrites === 0,
    notes: `idle: ${idleWrites}, resync: ${resyncWrites} (resync of ${resync.services.join(", ")}: ${resync.ms.toFixed(0)} ms, ${resync.reconciled} reconciled)`,
  });
  rows.push({
    row: "Idle",
    name: `API reads (get/list, not watches) over ${IDLE_SECONDS} s idle + one full resync`,
    unit: "req",
    suite: idleReads + resyncReads,
    baseline: idleWatches + resyncWatches,
    baselineName: "watch requests (renewals) meanwhile",
    target: "reads only watch renewals",
    met: idleReads + resyncReads === 0,
    notes: `idle: ${idleReads} reads, ${idleWatches} watches; resync: ${resyncReads} reads, ${resyncWatches} watches`,
  });
  const kubectlSum = steps.reduce((s, x) => s + x.kubectlMs, 0);
  rows.push({
    row: "Start",
    name: `restarted suite with ${total} records converges an empty cluster (fork → all Available)`,
    unit: "ms",
    suite: restartMs,
    baseline: kubectlSum,
    baselineName: `kubectl converging the same ${total} (sum of the Converge runs)`,
    target: "(time reported)",
    met: converged >= total,
    notes: `/api/ready after ${restartReadyMs.toFixed(0)} ms; ${converged}/${total} Available; ${restartWrites} API writes`,
  });
  console.log(`converge.ts: ${((performance.now() - t00) / 1000).toFixed(0)} s`);
  await report("converge", rows);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
