/**
 * The production build: `node scripts/build.ts [outdir] [--if-stale]` bundles scripts/start.ts and scripts/token.ts with
 * everything they import into `dist/` (or outdir, which must be inside the project: the catalog is found from there,
 * lib/paths.ts) as `start.js` and `token.js`. `npm start` runs it before `dist/start.js`; the container image runs it at
 * build time, and holds no sources: `node dist/token.js <userID>` prints a token there.
 *
 * Why: a process started from the TypeScript sources carries Node's type stripper and, for every one of the ~1,300
 * modules it loads (client-node alone has ~1,000 generated ones), a module record and its source text. One minified
 * ESM bundle with the unused parts of the dependencies shaken out starts faster and needs ~50 MiB less memory
 * (docs/performance.md, "Memory"). The services are imported with `import()` (services/index.ts), so each lands in its
 * own chunk and a node loads only those it runs.
 *
 * What the build can leave out it does (esbuild's tree shaking): of client-node's generated API clients only those we
 * use remain, as long as nothing imports the package's index as a namespace (lib/sandbox/http/fields.ts imports the
 * models alone for that reason): 6.6 -> 4.6 MiB.
 *
 * `--if-stale` (what `npm start` passes) builds only when the last build into that outdir is stale: the build writes
 * `build-inputs.json` beside its output, every file esbuild read (the sources and the dependencies' files) with its
 * size and modification time, and the build's options; when none of those changed and the entries are all there, the
 * build is skipped (a few ms of `stat`s instead of 2-3 s). `npm ci`, an edited source or a changed build script all
 * make it stale.
 *
 * Not bundled: moleculer-repl (only `npm run repl`, which runs the sources) and the MongoDB adapter (imported only with
 * MONGO_URI; its driver is large and has optional native parts, which are better left to node_modules than copied
 * into the bundle). Both are loaded from node_modules when used.
 */
import { build, type BuildOptions } from "esbuild";
import { readFile, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** CommonJS dependencies in an ESM bundle still call require() and read __dirname/__filename (of the chunk). */
const CJS_SHIMS = [
  'import { createRequire as __suiteCreateRequire } from "node:module";',
  'import { fileURLToPath as __suiteFileURLToPath } from "node:url";',
  'import { dirname as __suiteDirname } from "node:path";',
  "const require = __suiteCreateRequire(import.meta.url);",
  "const __filename = __suiteFileURLToPath(import.meta.url);",
  "const __dirname = __suiteDirname(__filename);",
].join("\n");

const EXTERNAL_PACKAGES = ["moleculer-repl", "moleculer-db-adapter-mongo"];

/** What the production build bundles: the suite (`start.js`) and the token printer (`token.js`). */
export const PRODUCTION_ENTRIES: readonly string[] = ["scripts/start.ts", "scripts/token.ts"];

/** esbuild options of the production build of `entryPoints` (paths from the project root) into `outdir`. */
export function buildOptions(entryPoints: string[], outdir: string): BuildOptions {
  return {
    absWorkingDir: ROOT,
    entryPoints,
    outdir,
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node24",
    minify: true,
    // Error classes and moleculer's service/mixin handling read constructor and function names.
    keepNames: true,
    // A map beside each file, for `node --enable-source-maps` when a stack trace must point into the sources.
    sourcemap: "linked",
    // License comments (`/*! ... */`) go to a `.LEGAL.txt` beside each file, not to its end: one such comment
    // ("Jimmy Wärting", undici's formdata-polyfill) made the largest chunk non-ASCII, and Node keeps a module source
    // of over ~1 MB with any non-ASCII character as UTF-16, two bytes a character (3.4 MiB for a 1.7 MB chunk).
    legalComments: "external",
    external: EXTERNAL_PACKAGES,
    banner: { js: CJS_SHIMS },
    entryNames: "[name]",
    chunkNames: "chunks/[name]-[hash]",
    logLevel: "warning",
  };
}

/** What a build read and how it was made: written beside its output, compared by `isBuildCurrent`. */
interface BuildRecord {
  entryPoints: string[];
  /** The esbuild options as JSON, and this script's own size and time: a changed build makes the output stale. */
  options: string;
  /** Every input file (relative to the project root, as esbuild names them): [size, mtimeMs]. */
  inputs: Record<string, [number, number]>;
  /** Every file the build wrote (relative to the project root). */
  outputs: string[];
}

const RECORD_FILE = "build-inputs.json";

async function fileStamp(file: string): Promise<[number, number] | undefined> {
  const info = await stat(path.resolve(ROOT, file)).catch(() => undefined);
  return info === undefined ? undefined : [info.size, info.mtimeMs];
}

async function optionsStamp(entryPoints: string[], out: string): Promise<string> {
  return JSON.stringify({
    options: buildOptions(entryPoints, out),
    script: await fileStamp(fileURLToPath(import.meta.url)),
  });
}

/** Builds `entryPoints` into `outdir` (emptied first); answers the output files' total size in bytes. */
export async function buildSuite(entryPoints: string[] = [...PRODUCTION_ENTRIES], outdir = "dist"): Promise<number> {
  const out = path.resolve(ROOT, outdir);
  await rm(out, { recursive: true, force: true });
  const started = Date.now();
  const result = await build({ ...buildOptions(entryPoints, out), metafile: true });
  const inputs: BuildRecord["inputs"] = {};
  let changedMeanwhile = false;
  for (const file of Object.keys(result.metafile?.inputs ?? {})) {
    const stamp = await fileStamp(file);
    if (stamp !== undefined) inputs[file] = stamp;
    // Changed while esbuild ran: the output may hold the older text, so no record (the next --if-stale builds again).
    if (stamp === undefined || stamp[1] >= started) changedMeanwhile = true;
  }
  if (!changedMeanwhile) {
    const outputs = Object.keys(result.metafile?.outputs ?? {});
    const record: BuildRecord = { entryPoints, options: await optionsStamp(entryPoints, out), inputs, outputs };
    await writeFile(path.join(out, RECORD_FILE), JSON.stringify(record));
  }
  return Object.entries(result.metafile?.outputs ?? {})
    .filter(([file]) => !file.endsWith(".map"))
    .reduce((sum, [, o]) => sum + o.bytes, 0);
}

/**
 * Whether `outdir` holds a build of `entryPoints` that a new build would not change: its record is there, made with
 * the same options by the same build script, every input it read has the size and time it had then, and every file
 * it wrote is still there.
 */
export async function isBuildCurrent(entryPoints: string[], outdir: string): Promise<boolean> {
  const out = path.resolve(ROOT, outdir);
  let record: BuildRecord;
  try {
    record = JSON.parse(await readFile(path.join(out, RECORD_FILE), "utf8")) as BuildRecord;
  } catch {
    return false;
  }
  if (JSON.stringify(record.entryPoints) !== JSON.stringify(entryPoints)) return false;
  if (record.options !== (await optionsStamp(entryPoints, out))) return false;
  const written = await Promise.all(record.outputs.map((file) => fileStamp(file)));
  if (written.length === 0 || written.includes(undefined)) return false;
  const files = Object.entries(record.inputs);
  if (files.length === 0) return false;
  const now = await Promise.all(files.map(([file]) => fileStamp(file)));
  return files.every(([, [size, mtime]], i) => now[i]?.[0] === size && now[i]?.[1] === mtime);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const t0 = performance.now();
  const args = process.argv.slice(2);
  const ifStale = args.includes("--if-stale");
  const outdir = args.find((a) => !a.startsWith("--")) ?? "dist";
  const entryPoints = [...PRODUCTION_ENTRIES];
  if (ifStale && (await isBuildCurrent(entryPoints, outdir))) {
    console.log(
      `build: ${outdir}/start.js and token.js are current (checked in ${Math.round(performance.now() - t0)} ms)`,
    );
  } else {
    const bytes = await buildSuite(entryPoints, outdir);
    const ms = Math.round(performance.now() - t0);
    console.log(
      `build: ${outdir}/start.js, token.js and their chunks, ${(bytes / 2 ** 20).toFixed(1)} MiB, in ${ms} ms`,
    );
  }
}
