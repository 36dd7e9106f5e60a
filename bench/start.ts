/**
 * Start: time from process start to `GET /api/ready` answering 200, for `node scripts/start.ts` (every service, the
 * embedded database and the sandbox cluster) against a bare moleculer-web gateway process (bench/fixtures), both
 * started the same way on this machine in the same run. Target (issue 9): at most 3 s.
 *   npx node bench/start.ts [--quick] [--runs 3]   (--quick: one run of each)
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { median, report, type BenchRow } from "./lib.ts";
import { startScriptEnv, startScriptNodeFlags, suiteEntries } from "./harness.ts";
import { freePort } from "../test/helpers/net.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** Spawns `script`, polls http://127.0.0.1:<port>/api/ready until 200, returns the milliseconds it took. */
async function timeToReady(
  script: string,
  extraEnv: Record<string, string>,
  nodeFlags: string[] = [],
): Promise<number> {
  const port = await freePort();
  const dataDir = await mkdtemp(path.join(os.tmpdir(), "bench-start-"));
  const started = performance.now();
  const child = spawn(process.execPath, [...nodeFlags, script], {
    cwd: ROOT,
    env: {
      ...process.env,
      PORT: String(port),
      DATA_DIR: dataDir,
      SANDBOX_KUBECONFIG: path.join(dataDir, "kubeconfig"),
      METRICS_PORT: "0",
      LOG_LEVEL: "warn",
      ...extraEnv,
    },
    stdio: ["ignore", "ignore", "inherit"],
  });
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${script} exited with ${child.exitCode}`);
      const ok = await fetch(`http://127.0.0.1:${port}/api/ready`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) return performance.now() - started;
      if (performance.now() - started > 60_000) throw new Error(`${script} not ready after 60 s`);
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    child.kill("SIGTERM");
    await new Promise((r) => child.once("exit", r));
    await rm(dataDir, { recursive: true, force: true });
  }
}

const runsFlag = process.argv.indexOf("--runs");
const runs = runsFlag > 0 ? Number(process.argv[runsFlag + 1]) : process.argv.includes("--quick") ? 1 : 3;
const suite: number[] = [];
const baseline: number[] = [];
for (let i = 0; i < runs; i++) {
  baseline.push(await timeToReady(path.join(ROOT, "bench/fixtures/bare-gateway.ts"), {}));
  suite.push(await timeToReady((await suiteEntries()).start, await startScriptEnv(), await startScriptNodeFlags()));
}
const suiteMs = median(suite);
const rows: BenchRow[] = [
  {
    row: "Start",
    name: "process start → /api/ready (median of " + runs + ")",
    unit: "ms",
    suite: suiteMs,
    baseline: median(baseline),
    baselineName: "bare moleculer-web gateway",
    target: "≤ 3000 ms",
    met: suiteMs <= 3000,
    notes: `suite runs: ${suite.map((v) => v.toFixed(0)).join(", ")} ms; baseline runs: ${baseline.map((v) => v.toFixed(0)).join(", ")} ms`,
  },
];
await report("start", rows);
