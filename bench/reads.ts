/**
 * `npx node bench/reads.ts [--quick]`: the Reads row of issue 9. `GET /api/v1/k8s/deployments/:id/state` and
 * `GET /api/v1/k8s/deployments/:id` of one Available deployment through the suite's gateway with a valid token, at 50
 * concurrent connections (autocannon, run in this process), against a bare moleculer-web gateway with one trivial
 * versioned action (bench/fixtures/bare-gateway.ts) in its own process. The suite runs in its own process
 * (bench/fixtures/suite-node.ts) with RATE_LIMIT=0 — authentication, authorization, validation stay on — and the
 * sandbox in a third.
 *
 * The three targets take turns: after a warm-up of each (3 s, --quick 1 s), rounds of one slice each (2 s, --quick
 * 1 s; 5 rounds, --quick 2), the order turning by one every round, so that each target gets 10 s (--quick 2 s) spread
 * over the same stretch of time (the p99 row's notes give each slice's own p99 as well). This VM's speed drifts by up
 * to 2× within seconds (the bare gateway alone: 22-42 µs of CPU per request from one second to the next): runs one
 * after the other compared whatever the machine was doing then, and the ratio moved from 0.21× to 0.42× between runs
 * of the same commit.
 *
 * Then (not in --quick) two more rounds at 10 connections, for rows without a target: the p99 of an answer with less of the queue that
 * 50 connections build on 2 vCPUs shared with the load generator (the bare gateway's own p99 at 50 is 5-10 ms here).
 */
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import path from "node:path";
import { freePort } from "../test/helpers/net.ts";
import { cpuMsOf, quick, restClient, ROOT, sleep, startSandboxNode, startSuiteNode } from "./harness.ts";
import { LatencyRecord, median, report, type BenchRow } from "./lib.ts";

interface CannonResult {
  requests: { average: number; total: number };
  /** Seconds the run took. */
  duration: number;
  non2xx: number;
  errors: number;
}
/** What autocannon returns when called without a callback: its progress events, and a promise of the result. */
interface CannonRun extends PromiseLike<CannonResult> {
  /** Each answer: its status code, bytes, and latency in ms (fractional). */
  on(event: "response", listener: (client: unknown, status: number, bytes: number, ms: number) => void): void;
}
type Cannon = (opts: {
  url: string;
  connections: number;
  duration: number;
  headers?: Record<string, string>;
}) => CannonRun;
const autocannon = createRequire(import.meta.url)("autocannon") as Cannon;

const CONNECTIONS = 50;
/**
 * Fewer connections, for the rows that show the latency of an answer without most of the 50-connection queue: at 50
 * connections the latency is mostly waiting (Little's law: 50 / throughput), for the bare gateway too.
 */
const FEW_CONNECTIONS = 10;
/** None in --quick, which is to stay under a minute (rows without a target). */
const FEW_ROUNDS = quick ? 0 : 2;
const WARM_UP_SECONDS = quick ? 1 : 3;
const SLICE_SECONDS = quick ? 1 : 2;
const ROUNDS = quick ? 2 : 5;

interface Target {
  name: string;
  url: string;
  headers: Record<string, string>;
  /** The process that answers (its CPU time is read around each slice). */
  pid: number;
  slices: CannonResult[];
  /** The latency of every answer of the slices. */
  latencies: LatencyRecord;
  /** Each slice's own p99 (ms), in order: whether one slice (a noisy moment of the host) made the pooled p99. */
  sliceP99s: number[];
  /** CPU ms (user + system) the answering process used during the slices. */
  cpuMs: number;
  /** The slices at FEW_CONNECTIONS, and their answers' latencies. */
  fewSlices: CannonResult[];
  fewLatencies: LatencyRecord;
}

/** A run of `seconds` against the target; every answer's latency is added to each of `records`. */
async function cannon(
  target: Target,
  seconds: number,
  connections = CONNECTIONS,
  records: LatencyRecord[] = [],
): Promise<CannonResult> {
  const run = autocannon({
    url: target.url,
    connections,
    duration: seconds,
    headers: target.headers,
  });
  // Non-2xx answers fail the run below, so only 2xx latencies are ever reported.
  if (records.length > 0) {
    run.on("response", (_client, _status, _bytes, ms) => {
      for (const record of records) record.add(ms);
    });
  }
  const result = await run;
  if (result.non2xx > 0 || result.errors > 0)
    throw new Error(`${target.url}: ${result.non2xx} non-2xx answers, ${result.errors} errors`);
  return result;
}

/** One timed slice of a target; its answering process's CPU time is added to the target's. */
async function slice(target: Target, seconds: number): Promise<void> {
  const cpu0 = await cpuMsOf(target.pid);
  const own = new LatencyRecord();
  const result = await cannon(target, seconds, CONNECTIONS, [target.latencies, own]);
  target.cpuMs += (await cpuMsOf(target.pid)) - cpu0;
  target.slices.push(result);
  target.sliceP99s.push(own.percentile(99));
}

/** Requests per second over all of `slices`, and the p99 and p50 of all their answers (ms). */
function pooled(
  slices: CannonResult[],
  latencies: LatencyRecord,
): { requests: number; rps: number; p99: number; p50: number; tail: string } {
  const requests = slices.reduce((sum, r) => sum + r.requests.total, 0);
  const seconds = slices.reduce((sum, r) => sum + r.duration, 0);
  const p99 = latencies.percentile(99);
  const p50 = latencies.percentile(50);
  const tail = `p50 ${ms(p50)}, p90 ${ms(latencies.percentile(90))}, p99 ${ms(p99)}, p99.9 ${ms(latencies.percentile(99.9))}, max ${ms(latencies.percentile(100))} ms`;
  return { requests, rps: requests / seconds, p99, p50, tail };
}

/** A latency for the notes (ms, to the hundredth). */
function ms(value: number): string {
  return value.toFixed(2);
}

/**
 * Requests per second over all of a target's slices, the pooled p99 and p50, the slices' spread, and the answering
 * process's CPU per request (µs; the machine's drift moves it less than the throughput, which also depends on how
 * the load generator shares the CPUs).
 */
function summary(target: Target): {
  rps: number;
  p99: number;
  p50: number;
  tail: string;
  spread: string;
  cpuUs: number;
  perSlice: number[];
} {
  const { requests, rps, p99, p50, tail } = pooled(target.slices, target.latencies);
  const perSlice = target.slices.map((r) => r.requests.total / r.duration);
  const k = (n: number) => `${(n / 1000).toFixed(1)}k`;
  return {
    rps,
    p99,
    p50,
    tail,
    spread: `${target.slices.length} slices of ${SLICE_SECONDS} s: ${k(Math.min(...perSlice))}-${k(Math.max(...perSlice))} req/s (median ${k(median(perSlice))})`,
    cpuUs: (target.cpuMs * 1000) / requests,
    perSlice,
  };
}

/**
 * The throughput ratio of each round (a target's slice against the bare gateway's slice of the same round), for the
 * notes: how far the machine's drift within a run moves the ratio the row reports over all slices.
 */
function roundRatios(suite: number[], bare: number[]): string {
  const ratios = suite.map((rate, i) => rate / (bare[i] ?? Number.NaN));
  return `per round ${ratios.map((x) => x.toFixed(2)).join(" / ")}× (median ${median(ratios).toFixed(2)}×)`;
}

async function main(): Promise<void> {
  const barePort = await freePort();
  const bare = spawn(process.execPath, [path.join(ROOT, "bench/fixtures/bare-gateway.ts")], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(barePort) },
    stdio: ["ignore", "ignore", "inherit"],
  });
  // It runs beside the suite until the end: stopped however this process ends (a failed start included).
  process.once("exit", () => bare.kill("SIGTERM"));
  const bareUrl = `http://127.0.0.1:${barePort}`;
  while (
    !(await fetch(`${bareUrl}/api/ready`).then(
      (r) => r.ok,
      () => false,
    ))
  )
    await sleep(20);

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
    const makeTarget = (name: string, url: string, pid: number, h: Record<string, string>): Target => ({
      name,
      url,
      headers: h,
      pid,
      slices: [],
      latencies: new LatencyRecord(),
      sliceP99s: [],
      cpuMs: 0,
      fewSlices: [],
      fewLatencies: new LatencyRecord(),
    });
    const bareTarget = makeTarget("bare", `${bareUrl}/api/v1/bare/item`, bare.pid ?? 0, {});
    const stateTarget = makeTarget("state", `${base}/state`, suite.pid, headers);
    const getTarget = makeTarget("get", base, suite.pid, headers);
    const targets = [bareTarget, stateTarget, getTarget];

    const reads0 = (await sandbox.counts()).reads;
    for (const target of targets) await cannon(target, WARM_UP_SECONDS);
    for (let round = 0; round < ROUNDS; round++) {
      for (let i = 0; i < targets.length; i++) {
        const target = targets[(round + i) % targets.length] as Target;
        await slice(target, SLICE_SECONDS);
      }
    }
    for (let round = 0; round < FEW_ROUNDS; round++) {
      for (let i = 0; i < targets.length; i++) {
        const target = targets[(round + i) % targets.length] as Target;
        target.fewSlices.push(await cannon(target, SLICE_SECONDS, FEW_CONNECTIONS, [target.fewLatencies]));
      }
    }
    const apiReads = (await sandbox.counts()).reads - reads0;

    const b = summary(bareTarget);
    const rows: BenchRow[] = [];
    for (const target of [stateTarget, getTarget]) {
      const r = summary(target);
      rows.push(
        {
          row: "Reads",
          name: `${target.name} of one deployment, p99 at ${CONNECTIONS} connections`,
          unit: "ms",
          suite: r.p99,
          baseline: b.p99,
          baselineName: "bare moleculer-web gateway",
          target: "< 5 ms",
          met: r.p99 < 5,
          notes:
            `${r.tail}; bare ${b.tail}; ${target.latencies.count} answers; ` +
            `p99 per slice ${target.sliceP99s.map(ms).join(" / ")} ms, bare ${bareTarget.sliceP99s.map(ms).join(" / ")} ms`,
        },
        {
          row: "Reads",
          name: `${target.name} of one deployment, throughput at ${CONNECTIONS} connections`,
          unit: "req/s",
          suite: r.rps,
          baseline: b.rps,
          baselineName: "bare moleculer-web gateway",
          target: "≥ 0.5× bare",
          met: r.rps >= 0.5 * b.rps,
          notes:
            `${r.spread}; bare ${b.spread}; ${roundRatios(r.perSlice, b.perSlice)}; ` +
            `CPU per request ${r.cpuUs.toFixed(1)} µs, bare ${b.cpuUs.toFixed(1)} µs ` +
            `(${(r.cpuUs / b.cpuUs).toFixed(2)}×)` +
            (target === stateTarget
              ? `; phase ${String((state as { phase?: unknown }).phase ?? "?")}; API server reads during all runs: ${apiReads} (0 = served from the watch cache)`
              : ""),
        },
      );
    }
    const bareFew = pooled(bareTarget.fewSlices, bareTarget.fewLatencies);
    for (const target of FEW_ROUNDS > 0 ? [stateTarget, getTarget] : []) {
      const r = pooled(target.fewSlices, target.fewLatencies);
      rows.push({
        row: "Reads",
        name: `${target.name} of one deployment, p99 at ${FEW_CONNECTIONS} connections (less queue; no target)`,
        unit: "ms",
        suite: r.p99,
        baseline: bareFew.p99,
        baselineName: "bare moleculer-web gateway",
        notes:
          `${r.tail}; bare ${bareFew.tail}; ${Math.round(r.rps)} req/s (bare ${Math.round(bareFew.rps)}); ` +
          `${FEW_ROUNDS} slices of ${SLICE_SECONDS} s each, after the ${CONNECTIONS}-connection rounds`,
      });
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
