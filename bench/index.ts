/**
 * `npm run bench [-- --quick]`: runs every benchmark in bench/ one after another, each in its own process so that
 * one's memory does not count against the next, and each prints its table (suite, baseline, ratio, target).
 */
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const DIR = path.dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const flags = process.argv.slice(2).filter((a) => a.startsWith("--"));
const benches = readdirSync(DIR)
  .filter((f) => f.endsWith(".ts") && f !== "index.ts" && f !== "lib.ts")
  .filter((f) => only.length === 0 || only.some((o) => f.startsWith(o)))
  .sort();

let failed = 0;
for (const file of benches) {
  console.log(`\n=== ${file} ===`);
  const result = spawnSync(process.execPath, ["--expose-gc", path.join(DIR, file), ...flags], { stdio: "inherit" });
  if (result.status !== 0) {
    failed++;
    console.error(`${file} failed with exit code ${String(result.status)}`);
  }
}
process.exit(failed === 0 ? 0 : 1);
