/**
 * `npx node bench/reads.ts [--quick]`: the Reads row of issue 9. `GET /api/v1/k8s/deployments/:id/state` and
 * `GET /api/v1/k8s/deployments/:id` of one Available deployment through the suite's gateway with a valid token, at 50
 * concurrent connections (autocannon, run in this process), against a bare moleculer-web gateway with one trivial
 * versioned action (bench/fixtures/bare-gateway.ts) in its own process. The suite runs in its own process
 * (bench/fixtures/suite-node.ts) with RATE_LIMIT=0 — authentication, authorization, validation stay on — and the
 * sandbox in a third. Each run: 1 s warm-up, then 2 s (--quick) or 10 s.
 */
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import path from "node:path";
import { freePort } from "../test/helpers/net.ts";
import { quick, restClient, ROOT, sleep, startSandboxNode, startSuiteNode } from "./harness.ts";
import { report, type BenchRow } from "./lib.ts";

interface CannonResult {
  latency: { p50: number; p99: number; average: number };
  requests: { average: number; total: number };
  non2xx: number;
  errors: number;
}
type Cannon = (opts: {
  url: string;
  connections: number;
  duration: number;
  headers?: Record<string, string>;
}) => Promise<CannonResult>;
const autocannon = createRequire(import.meta.url)("autocannon") as Cannon;

const CONNECTIONS = 50;
const SECONDS = quick ? 2 : 10;

async function cannon(url: string, headers: Record<string, string> = {}): Promise<CannonResult> {
  await autocannon({ url, connections: CONNECTIONS, duration: 1, headers }); // warm-up
  const result = await autocannon({ url, connections: CONNECTIONS, duration: SECONDS, headers });
  if (result.non2xx > 0 || result.errors > 0)
    throw new Error(`${url}: ${result.non2xx} non-2xx answers, ${result.errors} errors`);
  return result;
}

async function main(): Promise<void> {
  // The baseline first, alone on the machine.
  const barePort = await freePort();
  const bare = spawn(process.execPath, [path.join(ROOT, "bench/fixtures/bare-gateway.ts")], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(barePort) },
    stdio: ["ignore", "ignore", "inherit"],
  });
  let bareResult: CannonResult;
  try {
    const bareUrl = `http://127.0.0.1:${barePort}`;
    while (
      !(await fetch(`${bareUrl}/api/ready`).then(
        (r) => r.ok,
        () => false,
      ))
    )
      await sleep(20);
    bareResult = await cannon(`${bareUrl}/api/v1/bare/item`);
  } finally {
    bare.kill("SIGTERM");
  }

  const sandbox = await startSandboxNode({ SANDBOX_POD_READY_MS: "100" });
  const suite = await startSuiteNode(sandbox.kubeconfigPath);
  try {
    const { rest, token } = await restClient(suite.url);
    const ns = await rest("POST", "/api/v1/k8s/namespaces", { name: "bench-reads" });
    const nginx = await rest("GET", "/api/v1/k8s/images/resolve/nginx-1-27");
    const d = await rest("POST", "/api/v1/k8s/deployments", { name: "web", namespace: ns.id, image: nginx.id });
    const deadline = performance.now() + 30_000;
    while ((await sandbox.available("bench-reads")).available < 1) {
      if (performance.now() > deadline) throw new Error("the deployment is not Available after 30 s");
      await sleep(50);
    }
    await sleep(500);
    const headers = { Authorization: `Bearer ${token}` };
    const state = await rest("GET", `/api/v1/k8s/deployments/${String(d.id)}/state`);
    const base = `${suite.url}/api/v1/k8s/deployments/${String(d.id)}`;
    const reads0 = (await sandbox.counts()).reads;
    const stateResult = await cannon(`${base}/state`, headers);
    const getResult = await cannon(base, headers);
    const apiReads = (await sandbox.counts()).reads - reads0;

    const rows: BenchRow[] = [];
    for (const [label, r] of [
      ["state", stateResult],
      ["get", getResult],
    ] as const) {
      rows.push(
        {
          row: "Reads",
          name: `${label} of one deployment, p99 at ${CONNECTIONS} connections`,
          unit: "ms",
          suite: r.latency.p99,
          baseline: bareResult.latency.p99,
          baselineName: "bare moleculer-web gateway",
          target: "< 5 ms",
          met: r.latency.p99 < 5,
          notes: `p50 ${r.latency.p50} ms (bare ${bareResult.latency.p50} ms); ${r.requests.total} requests in ${SECONDS} s`,
        },
        {
          row: "Reads",
          name: `${label} of one deployment, throughput at ${CONNECTIONS} connections`,
          unit: "req/s",
          suite: r.requests.average,
          baseline: bareResult.requests.average,
          baselineName: "bare moleculer-web gateway",
          target: "≥ 0.5× bare",
          met: r.requests.average >= 0.5 * bareResult.requests.average,
          ...(label === "state"
            ? {
                notes: `phase ${String((state as { phase?: unknown }).phase ?? "?")}; API server reads during both runs: ${apiReads} (0 = served from the watch cache)`,
              }
            : {}),
        },
      );
    }
    await report("reads", rows);
  } finally {
    await suite.stop();
    await sandbox.stop();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
