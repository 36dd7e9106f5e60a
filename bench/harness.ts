/**
 * Processes and helpers the benchmarks share: the sandbox cluster and the suite each in their own process (so that the
 * suite's RSS is its own), kubectl, a REST client with a valid token, a small pool. Not a benchmark itself (index.ts
 * skips it).
 */
import { execFile, fork, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { signToken } from "../lib/auth.ts";
import { buildSuite, isBuildCurrent } from "../scripts/build.ts";
import { freePort } from "../test/helpers/net.ts";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const JWT_SECRET = "bench-secret-0123456789abcdef0123456789";

export const args = process.argv.slice(2);
export const quick = args.includes("--quick");
export const full = !quick;

let built: Promise<{ suiteNode: string; start: string }> | undefined;
/**
 * What the benchmarks start as the suite's process: like `npm start` (which runs scripts/build.ts, then dist/start.js),
 * the production build, here of bench/fixtures/suite-node.ts and scripts/start.ts into dist/bench/, built when that
 * build is stale (scripts/build.ts `isBuildCurrent`). `BENCH_FROM_SOURCE=1` runs the TypeScript sources instead (what `npm run dev` and the tests run).
 */
export function suiteEntries(): Promise<{ suiteNode: string; start: string }> {
  if (process.env.BENCH_FROM_SOURCE === "1") {
    return Promise.resolve({
      suiteNode: path.join(ROOT, "bench/fixtures/suite-node.ts"),
      start: path.join(ROOT, "scripts/start.ts"),
    });
  }
  const entries = ["bench/fixtures/suite-node.ts", "scripts/start.ts"];
  built ??= (async () => {
    // Like `npm start --if-stale`: each benchmark of `npm run bench` runs in its own process, the first one builds.
    if (!(await isBuildCurrent(entries, "dist/bench"))) await buildSuite(entries, "dist/bench");
    return { suiteNode: path.join(ROOT, "dist/bench/suite-node.js"), start: path.join(ROOT, "dist/bench/start.js") };
  })();
  return built;
}

/** The start script's command that runs the suite: `[VAR=value ...] node [--flag ...] dist/start.js`. */
async function startScriptCommand(): Promise<{ env: string; flags: string }> {
  const pkg = JSON.parse(await readFile(path.join(ROOT, "package.json"), "utf8")) as { scripts: { start: string } };
  const command = /((?:[A-Z_][A-Z0-9_]*=\S+\s+)*)node ((?:--\S+\s+)*)dist\/start\.js/.exec(pkg.scripts.start);
  if (command === null) throw new Error(`package.json's start script runs no 'node ... dist/start.js'`);
  return { env: command[1] ?? "", flags: command[2] ?? "" };
}

function words(text: string): string[] {
  return text.split(/\s+/).filter((w) => w !== "");
}

/**
 * The Node flags `npm start` runs the suite with (the `node ... dist/start.js` of package.json's start script, e.g.
 * `--max-semi-space-size=4`), so that the suite's process here is started as users start it and its RSS is theirs.
 */
export async function startScriptNodeFlags(): Promise<string[]> {
  // BENCH_NODE_FLAGS="--flag ...": try other flags instead (an experiment; the results note says which were used).
  const override = process.env.BENCH_NODE_FLAGS;
  if (override !== undefined) return words(override);
  return words((await startScriptCommand()).flags);
}

/**
 * The environment the start script sets for the suite's process (`MALLOC_MMAP_THRESHOLD_=...`: glibc's allocator
 * settings, docs/performance.md), for the same reason. `BENCH_START_ENV="VAR=value ..."` sets others instead (empty:
 * none), for experiments.
 */
export async function startScriptEnv(): Promise<Record<string, string>> {
  const assignments = process.env.BENCH_START_ENV ?? (await startScriptCommand()).env;
  return Object.fromEntries(
    words(assignments).map((a) => [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)] as [string, string]),
  );
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A forked Node process answering `{ id, type, ... }` with `{ id, result }` over IPC. */
export interface Node {
  child: ChildProcess;
  request<T>(type: string, extra?: Record<string, unknown>): Promise<T>;
  stop(): Promise<void>;
}

export async function forkNode(
  script: string,
  env: Record<string, string>,
  opts: { timeoutMs?: number; execArgv?: string[]; onReady?: (msg: Record<string, unknown>) => void } = {},
): Promise<Node> {
  const child = fork(script, [], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    execArgv: ["--expose-gc", "--no-deprecation", ...(opts.execArgv ?? [])],
    stdio: ["ignore", "ignore", "inherit", "ipc"],
  });
  let nextId = 1;
  const waiting = new Map<number, (v: unknown) => void>();
  const ready = new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} not ready`)), opts.timeoutMs ?? 60_000);
    child.on("message", (raw) => {
      const msg = raw as Record<string, unknown>;
      if (msg.type === "ready") {
        clearTimeout(timer);
        resolve(msg);
      } else if (typeof msg.id === "number") {
        waiting.get(msg.id)?.(msg.result);
        waiting.delete(msg.id);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited with ${String(code)}`));
    });
  });
  const first = await ready;
  opts.onReady?.(first);
  return {
    child,
    request<T>(type: string, extra: Record<string, unknown> = {}): Promise<T> {
      const id = nextId++;
      return new Promise<T>((resolve) => {
        waiting.set(id, (v) => resolve(v as T));
        child.send({ id, type, ...extra });
      });
    },
    async stop(): Promise<void> {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

export interface RequestCounts {
  reads: number;
  writes: number;
  watches: number;
  byVerb: Record<string, number>;
}

export interface SandboxNode extends Node {
  kubeconfigPath: string;
  dir: string;
  counts(): Promise<RequestCounts>;
  available(namespace: string): Promise<{ available: number; total: number }>;
}

/** The sandbox (bench/fixtures/sandbox-node.ts) in its own process, with its kubeconfig written to a temp dir. */
export async function startSandboxNode(env: Record<string, string> = {}): Promise<SandboxNode> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "bench-sandbox-"));
  const kubeconfigPath = path.join(dir, "kubeconfig");
  let kubeconfig = "";
  const node = await forkNode(path.join(ROOT, "bench/fixtures/sandbox-node.ts"), env, {
    onReady: (m) => (kubeconfig = String(m.kubeconfig)),
    // BENCH_PROF_SANDBOX=<dir>: a CPU profile of the sandbox's process, written there when it stops.
    execArgv: cpuProfileFlags(process.env.BENCH_PROF_SANDBOX),
  });
  await writeFile(kubeconfigPath, kubeconfig, { mode: 0o600 });
  return {
    ...node,
    kubeconfigPath,
    dir,
    counts: () => node.request<RequestCounts>("counts"),
    available: (namespace) => node.request("available", { namespace }),
    async stop() {
      await node.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Node's flags for a CPU profile written into `dir` when the process stops; none without a dir. */
function cpuProfileFlags(dir: string | undefined): string[] {
  return dir === undefined || dir === "" ? [] : ["--cpu-prof", `--cpu-prof-dir=${dir}`];
}

/** Reads `/proc/<pid>/status` VmRSS, in bytes (Linux). */
export async function rssOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kb = /VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1];
  return kb === undefined ? Number.NaN : Number(kb) * 1024;
}

/** CPU time (user + system) a process has used so far, in ms (Linux /proc/<pid>/stat, clock ticks of 10 ms). */
export async function cpuMsOf(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

export interface SuiteNode extends Node {
  url: string;
  port: number;
  dataDir: string;
  pid: number;
  /** ms from fork to /api/ready answering 200 (then the harness waits for the deployments routes too). */
  readyMs: number;
  rss(): Promise<number>;
  /** V8 heap in use after the last rss() (bytes). */
  lastHeapUsed: number;
  /** The last rss()'s reading beyond RSS: V8 heap used/reserved and external memory (Buffers, wasm), for notes. */
  lastMemoryNote: string;
  resync(): Promise<{ ms: number; services: string[]; reconciled: number }>;
  /** Stops the process and removes `dataDir`, unless `keepData` (a restart on the same database follows). */
  stop(options?: { keepData?: boolean }): Promise<void>;
}

/**
 * Every service of the suite in one process (bench/fixtures/suite-node.ts = scripts/start.ts + IPC), against the
 * cluster of `kubeconfigPath`, NeDB files in `dataDir` (a new temp dir by default), RATE_LIMIT=0. `stop()` removes
 * `dataDir` (each run used to leave one behind in /tmp, a few MB after the Converge row).
 */
export async function startSuiteNode(
  kubeconfigPath: string,
  opts: { dataDir?: string; env?: Record<string, string> } = {},
): Promise<SuiteNode> {
  const port = await freePort();
  const dataDir = opts.dataDir ?? (await mkdtemp(path.join(os.tmpdir(), "bench-suite-data-")));
  const t0 = performance.now();
  const node = await forkNode(
    (await suiteEntries()).suiteNode,
    {
      PORT: String(port),
      DATA_DIR: dataDir,
      KUBECONFIG: kubeconfigPath,
      JWT_SECRET,
      METRICS_PORT: "0",
      LOG_LEVEL: process.env.BENCH_LOG ?? "warn",
      RATE_LIMIT: "0",
      ...(await startScriptEnv()),
      ...opts.env,
    },
    {
      // BENCH_PROF=<dir>: a CPU profile of the suite's process, written there when it stops.
      execArgv: [...(await startScriptNodeFlags()), ...cpuProfileFlags(process.env.BENCH_PROF)],
    },
  );
  const url = `http://127.0.0.1:${port}`;
  for (;;) {
    const ok = await fetch(`${url}/api/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (performance.now() - t0 > 60_000) throw new Error("suite not ready after 60 s");
    await sleep(20);
  }
  const readyMs = performance.now() - t0;
  // The gateway publishes a service's routes once it has seen it: wait for the last of them (deployments).
  while (
    !(await fetch(`${url}/api/openapi.json`).then(
      async (r) => r.ok && (await r.text()).includes("/v1/k8s/deployments/{id}/state"),
      () => false,
    ))
  ) {
    if (performance.now() - t0 > 60_000) throw new Error("the deployments routes not published after 60 s");
    await sleep(20);
  }
  const pid = node.child.pid ?? 0;
  const suite: SuiteNode = {
    ...node,
    url,
    port,
    dataDir,
    pid,
    readyMs,
    lastHeapUsed: Number.NaN,
    lastMemoryNote: "",
    async rss() {
      const mem = await node.request<{
        heapUsed: number;
        heapTotal: number;
        external: number;
        physical: number;
        malloced: number;
        peakMalloced: number;
      }>("gc");
      const mib = (n: number) => (n / 2 ** 20).toFixed(0);
      suite.lastHeapUsed = mem.heapUsed;
      suite.lastMemoryNote =
        `V8 heap ${mib(mem.heapUsed)} MiB used of ${mib(mem.heapTotal)} (${mib(mem.physical)} physical), ` +
        `V8 malloc ${mib(mem.malloced)} MiB (peak ${mib(mem.peakMalloced)}), external ${mib(mem.external)} MiB`;
      await sleep(200);
      return rssOf(pid);
    },
    resync: () => node.request("resync"),
    async stop(options = {}) {
      await node.stop();
      if (options.keepData !== true) await rm(dataDir, { recursive: true, force: true });
    },
  };
  return suite;
}

export type Rest = (method: string, p: string, body?: unknown) => Promise<Record<string, unknown>>;

/** A REST client for the suite at `url` with a token of `userID`; non-200 answers throw. */
export async function restClient(url: string, userID = "bench", admin = false): Promise<{ rest: Rest; token: string }> {
  const token = await signToken({ userID, admin }, JWT_SECRET);
  const rest: Rest = async (method, p, body) => {
    const res = await fetch(`${url}${p}`, {
      method,
      headers: {
        Authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { "Content-Type": "application/json" }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const json = (await res.json()) as Record<string, unknown>;
    if (res.status !== 200) throw new Error(`${method} ${p}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
  return { rest, token };
}

export function kubectl(
  kubeconfig: string,
  ...argv: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      "/usr/bin/kubectl",
      ["--kubeconfig", kubeconfig, ...argv],
      { maxBuffer: 512 * 1024 * 1024, timeout: 1_200_000 },
      (err, stdout, stderr) => resolve({ code: err === null ? 0 : Number(err.code ?? 1), stdout, stderr }),
    );
  });
}

export async function mustKubectl(kubeconfig: string, ...argv: string[]): Promise<string> {
  const res = await kubectl(kubeconfig, ...argv);
  if (res.code !== 0) throw new Error(`kubectl ${argv.join(" ")}: ${res.stderr}`);
  return res.stdout;
}

/** Runs `fn` over `items` with at most `limit` at a time. */
export async function pool<T, R>(items: T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i] as T, i);
      }
    }),
  );
  return out;
}

/** Least-squares slope and intercept of y over x. */
export function linearFit(points: [number, number][]): { slope: number; intercept: number } {
  const n = points.length;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const sxx = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  const sxy = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const slope = sxx === 0 ? Number.NaN : sxy / sxx;
  return { slope, intercept: my - slope * mx };
}

export const MiB = 2 ** 20;
