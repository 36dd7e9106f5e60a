/**
 * The production build: `node scripts/build.ts [outdir]` bundles scripts/start.ts with everything it imports into
 * `dist/` (or outdir, which must be inside the project: the catalog is found from there, lib/paths.ts). `npm start`
 * runs it before `dist/start.js`; the container image runs it at build time.
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
 * Not bundled: moleculer-repl (only `npm run repl`, which runs the sources) and the MongoDB adapter (imported only with
 * MONGO_URI; its driver is large and has optional native parts, which are better left to node_modules than copied
 * into the bundle). Both are loaded from node_modules when used.
 */
import { build, type BuildOptions } from "esbuild";
import { rm } from "node:fs/promises";
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
    external: EXTERNAL_PACKAGES,
    banner: { js: CJS_SHIMS },
    entryNames: "[name]",
    chunkNames: "chunks/[name]-[hash]",
    logLevel: "warning",
  };
}

/** Builds `entryPoints` into `outdir` (emptied first); answers the output files' total size in bytes. */
export async function buildSuite(entryPoints: string[] = ["scripts/start.ts"], outdir = "dist"): Promise<number> {
  const out = path.resolve(ROOT, outdir);
  await rm(out, { recursive: true, force: true });
  const result = await build({ ...buildOptions(entryPoints, out), metafile: true });
  return Object.entries(result.metafile?.outputs ?? {})
    .filter(([file]) => !file.endsWith(".map"))
    .reduce((sum, [, o]) => sum + o.bytes, 0);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const t0 = performance.now();
  const outdir = process.argv[2] ?? "dist";
  const bytes = await buildSuite(["scripts/start.ts"], outdir);
  const ms = Math.round(performance.now() - t0);
  console.log(`build: ${outdir}/start.js and its chunks, ${(bytes / 2 ** 20).toFixed(1)} MiB, in ${ms} ms`);
}
