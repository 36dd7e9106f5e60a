/**
 * Shared helpers of the benchmarks: every row is a measurement of the suite beside a baseline measured in the same
 * run on the same machine, with their ratio; `report` prints the table and writes it as JSON to bench/results/.
 */
import { mkdir, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export interface BenchRow {
  /** What is measured, e.g. "npm start → /api/ready". */
  name: string;
  unit: string;
  suite: number;
  /** The same work done by the baseline (kubectl, a bare gateway, ...) in the same run. */
  baseline: number;
  baselineName: string;
  /** The target the issue sets, in words, and whether the suite met it. */
  target?: string;
  met?: boolean;
  notes?: string;
}

const RESULTS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "results");

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] ?? Number.NaN;
}

export function median(values: number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    50,
  );
}

function fmt(n: number): string {
  return Number.isFinite(n) ? (Math.abs(n) >= 100 ? n.toFixed(0) : n.toFixed(2)) : "n/a";
}

/** Prints the rows as a table and writes them with the machine's description to bench/results/<name>-<time>.json. */
export async function report(benchName: string, rows: BenchRow[]): Promise<string> {
  const header = ["measurement", "suite", "baseline", "ratio", "target", "met"];
  const lines = rows.map((r) => [
    r.name,
    `${fmt(r.suite)} ${r.unit}`,
    `${fmt(r.baseline)} ${r.unit} (${r.baselineName})`,
    r.baseline === 0 ? "n/a" : `${fmt(r.suite / r.baseline)}×`,
    r.target ?? "",
    r.met === undefined ? "" : r.met ? "yes" : "NO",
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? "").length)));
  const row = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ");
  console.log(`\n${benchName}`);
  console.log(row(header));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const l of lines) console.log(row(l));
  for (const r of rows) if (r.notes) console.log(`  ${r.name}: ${r.notes}`);

  await mkdir(RESULTS_DIR, { recursive: true });
  const file = path.join(RESULTS_DIR, `${benchName}-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
  const machine = {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    memoryGiB: os.totalmem() / 2 ** 30,
    node: process.version,
  };
  await writeFile(file, JSON.stringify({ bench: benchName, at: new Date().toISOString(), machine, rows }, null, 2));
  console.log(`results: ${path.relative(process.cwd(), file)}`);
  return file;
}
