/**
 * Where the suite's own files are (the catalog in `images/`). Found from this module's location, walking up to the
 * nearest directory with a package.json: the answer is the same whether the suite runs from its TypeScript sources
 * (this file is lib/paths.ts) or from the production build (scripts/build.ts bundles it into a chunk under dist/).
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

function packageRootAbove(dir: string): string {
  for (let at = dir; ; at = path.dirname(at)) {
    if (existsSync(path.join(at, "package.json"))) return at;
    if (path.dirname(at) === at) return path.resolve(dir, "..");
  }
}

/** The suite's root directory (where package.json, images/ and dist/ are). */
export const PACKAGE_ROOT = packageRootAbove(path.dirname(fileURLToPath(import.meta.url)));

/** The image catalog's directory (one JSON file per image), read by v1.k8s.images at start and on reload. */
export const IMAGES_DIR = path.join(PACKAGE_ROOT, "images");
