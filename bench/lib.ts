/**
 * Shared helpers of the benchmarks: every row is a measurement of the suite beside a baseline measured in the same
 * run on the same machine, with their ratio; `report` prints the table and writes it as JSON to bench/results/.
 */
import { appendFile, mkdir, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export interface BenchRow {
  /** The issue's row this measurement belongs to (Converge, Reads, Idle, Memory, Across nodes, Start), if any. */
  row?: string;
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

/** The machine the benchmarks ran on. */
export function machine(): Record<string, unknown> {
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
  };
}

/** The rows as a text table: row, measurement, suite, baseline, ratio, target, met; then each row's notes. */
export function formatTable(rows: BenchRow[]): string {
  const header = ["row", "measurement", "suite", "baseline", "ratio", "target", "met"];
  const lines = rows.map((r) => [
    r.row ?? "",
    r.name,
    `${fmt(r.suite)} ${r.unit}`,
    `${fmt(r.baseline)} ${r.unit} (${r.baselineName})`,
    r.baseline === 0 || !Number.isFinite(r.baseline) ? "n/a" : `${fmt(r.suite / r.baseline)}×`,
    r.target ?? "",
    r.met === undefined ? "" : r.met ? "yes" : "NO",
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? "").length)));
  const row = (cells: string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd();
  const out = [row(header), widths.map((w) => "-".repeat(w)).join("  "), ...lines.map(row)];
  for (const r of rows) if (r.notes) out.push(`  ${r.row === undefined ? "" : `[${r.row}] `}${r.name}: ${r.notes}`);
  return out.join("\n");
}

export async function writeResults(benchName: string, body: Record<string, unknown>): Promise<string> {
  await mkdir(RESULTS_DIR, { recursive: true });
  const file = path.join(RESULTS_DIR, `${benchName}-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
  await writeFile(
    file,
    JSON.stringify({ bench: benchName, at: new Date().toISOString(), machine: machine(), ...body }, null, 2),
  );
  return file;
}

/**
 * Prints the rows as a table and writes them with the machine's description to bench/results/<name>-<time>.json.
 * Under `npm run bench` (BENCH_COMBINED names a file) the rows are also appended there, one JSON line per benchmark,
 * for the one combined table index.ts prints at the end.
 */
export async function report(benchName: string, rows: BenchRow[]): Promise<string> {
  console.log(`\n${benchName}`);
  console.log(formatTable(rows));
  const combined = process.env.BENCH_COMBINED;
  if (combined !== undefined && combined !== "") {
    await appendFile(combined, JSON.stringify({ bench: benchName, rows }) + "\n");
  }
  const file = await writeResults(benchName, { rows });
  console.log(`results: ${path.relative(process.cwd(), file)}`);
  return file;
}

/**
 * Every answer's latency (ms, as measured: autocannon's `response` events carry it to the microsecond, where its own
 * summary keeps whole milliseconds), so that percentiles over several slices are exact rather than pooled from each
 * slice's summary. One float per answer: 8 bytes, ~1.5 MB for the ~180,000 answers of a target's slices.
 */
export class LatencyRecord {
  private values = new Float64Array(1 << 16);
  private size = 0;
  private sorted = true;

  get count(): number {
    return this.size;
  }

  add(ms: number): void {
    if (this.size === this.values.length) {
      const grown = new Float64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.size++] = ms;
    this.sorted = false;
  }

  /**
   * The q-th percentile by nearest rank: the smallest recorded latency that q% of the answers do not exceed; NaN
   * when empty.
   */
  percentile(q: number): number {
    if (this.size === 0) return Number.NaN;
    if (!this.sorted) {
      this.values.subarray(0, this.size).sort();
      this.sorted = true;
    }
    const rank = Math.min(this.size, Math.max(1, Math.ceil((q / 100) * this.size)));
    return this.values[rank - 1] as number;
  }
}
