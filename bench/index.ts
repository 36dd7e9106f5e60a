/**
 * `npm run bench [-- --quick] [-- --all] [-- <name>...]`: runs the benchmarks of the issue's rows (converge, reads,
 * nodes, start) one after another, each in its own process so that one's memory does not count against the next, then
 * prints ONE table of every row (suite, baseline measured in the same run, ratio, target, met) and writes it to
 * bench/results/bench-<time>.json. `--all` adds the other benchmarks (alias-lookup, deployments, kube-apply, operations); names
 * select benchmarks by file name prefix. `--quick` asks each for its short form (the whole run under a minute).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { formatTable, writeResults, type BenchRow } from "./lib.ts";
import { startScriptEnv, startScriptNodeFlags } from "./harness.ts";

const DIR = path.dirname(fileURLToPath(import.meta.url));
/** The benchmarks of the issue's rows, in the order their rows are printed. */
const ROW_BENCHES = ["converge.ts", "reads.ts", "nodes.ts", "start.ts"];
const ROW_ORDER = ["Converge", "Reads", "Idle", "Memory", "Across nodes", "Start"];
const NOT_BENCHES = new Set(["index.ts", "lib.ts", "harness.ts"]);

const only = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const flags = process.argv.slice(2).filter((a) => a.startsWith("--") && a !== "--all");
const all = process.argv.includes("--all");
const available = readdirSync(DIR)
  .filter((f) => f.endsWith(".ts") && !NOT_BENCHES.has(f))
  .sort();
const benches =
  only.length > 0
    ? available.filter((f) => only.some((o) => f.startsWith(o)))
    : all
      ? [...ROW_BENCHES.filter((f) => available.includes(f)), ...available.filter((f) => !ROW_BENCHES.includes(f))]
      : ROW_BENCHES.filter((f) => available.includes(f));

// npm start's Node flags and environment for each benchmark's own process too: operations.ts runs the suite in it.
const nodeFlags = await startScriptNodeFlags();
const startEnv = await startScriptEnv();
const tmp = mkdtempSync(path.join(os.tmpdir(), "bench-combined-"));
const combined = path.join(tmp, "rows.jsonl");
const t0 = performance.now();
const failed: string[] = [];
for (const file of benches) {
  console.log(`\n=== ${file} ===`);
  const result = spawnSync(process.execPath, ["--expose-gc", ...nodeFlags, path.join(DIR, file), ...flags], {
    stdio: "inherit",
    env: { ...process.env, ...startEnv, BENCH_COMBINED: combined },
  });
  if (result.status !== 0) {
    failed.push(file);
    console.error(`${file} failed with exit code ${String(result.status)}`);
  }
}
const seconds = (performance.now() - t0) / 1000;

let text = "";
try {
  text = readFileSync(combined, "utf8");
} catch {
  // no benchmark reported
}
rmSync(tmp, { recursive: true, force: true });
const rows = text
  .split("\n")
  .filter((l) => l.trim() !== "")
  .flatMap((l) => {
    const { bench, rows: r } = JSON.parse(l) as { bench: string; rows: BenchRow[] };
    return r.map((row) => ({ ...row, row: row.row ?? bench }));
  });
const rank = (r: BenchRow): number => {
  const i = ROW_ORDER.indexOf(r.row ?? "");
  return i < 0 ? ROW_ORDER.length : i;
};
rows.sort((a, b) => rank(a) - rank(b));

const mode = flags.includes("--quick") ? "quick" : "full";
console.log(
  `\n=== all benchmarks (${mode}, ${seconds.toFixed(0)} s${failed.length ? `; FAILED: ${failed.join(", ")}` : ""}) ===`,
);
console.log(formatTable(rows));
const file = await writeResults("bench", {
  mode,
  seconds,
  benches,
  failed,
  rows: rows.map((r) => ({ ...r, ratio: r.baseline === 0 ? null : r.suite / r.baseline })),
});
console.log(`results: ${path.relative(process.cwd(), file)}`);
process.exit(failed.length === 0 ? 0 : 1);
