import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { mkdir, readdir, readFile, rm, utimes, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { buildSuite, isBuildCurrent } from "../../scripts/build.ts";

/** `npm start` builds only when stale (`--if-stale`): a tiny entry and its import, built into a scratch dir under dist/. */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const SCRATCH = `dist/.test-build-${process.pid}`;
const ENTRY = `${SCRATCH}/src/entry.ts`;
const DEP = `${SCRATCH}/src/dep.ts`;
const OUT = `${SCRATCH}/out`;

/** The built entry's text (the dependency's value is inlined there as a string literal). */
function output(): Promise<string> {
  return readFile(path.resolve(ROOT, OUT, "entry.js"), "utf8");
}

/** Writes a source, then lets the clock move on: a build records no input changed at or after its own start. */
async function writeSource(file: string, text: string): Promise<void> {
  await writeFile(path.resolve(ROOT, file), text);
  await new Promise((resolve) => setTimeout(resolve, 20));
}

beforeAll(async () => {
  await mkdir(path.resolve(ROOT, SCRATCH, "src"), { recursive: true });
  await writeSource(ENTRY, 'import { value } from "./dep.ts";\nexport const answer = `v=${value}`;\n');
  await writeSource(DEP, 'export const value = "one";\n');
});
afterAll(async () => {
  await rm(path.resolve(ROOT, SCRATCH), { recursive: true, force: true });
});

describe("scripts/build.ts: is the last build current?", () => {
  it("is current right after a build, and stale once an input it read changes", async () => {
    expect(await isBuildCurrent([ENTRY], OUT)).toBe(false); // never built
    await buildSuite([ENTRY], OUT);
    expect(await output()).toContain('"one"');
    expect(await isBuildCurrent([ENTRY], OUT)).toBe(true);
    expect(await isBuildCurrent([DEP], OUT)).toBe(false); // another entry

    // Same size, other time: an edit that kept the length.
    const later = new Date(Date.now() + 5000);
    await utimes(path.resolve(ROOT, DEP), later, later);
    expect(await isBuildCurrent([ENTRY], OUT)).toBe(false);
    await writeSource(DEP, 'export const value = "two";\n');
    await buildSuite([ENTRY], OUT);
    expect(await isBuildCurrent([ENTRY], OUT)).toBe(true);
    expect(await output()).toContain('"two"');
  });

  it("is stale when a file it wrote is gone or its record is unreadable", async () => {
    await buildSuite([ENTRY], OUT);
    expect(await isBuildCurrent([ENTRY], OUT)).toBe(true);
    await rm(path.resolve(ROOT, OUT, "entry.js.map"));
    expect(await isBuildCurrent([ENTRY], OUT)).toBe(false);

    await buildSuite([ENTRY], OUT);
    const record = path.resolve(ROOT, OUT, "build-inputs.json");
    await writeFile(record, (await readFile(record, "utf8")).slice(0, 20));
    expect(await isBuildCurrent([ENTRY], OUT)).toBe(false);
  });
});

describe("scripts/build.ts: the production build", () => {
  /** Node keeps a module source longer than this (its EXTERN_APEX) outside V8's heap, as UTF-16 unless it is ASCII. */
  const EXTERNAL_SOURCE_MIN = 0xfbee9;

  it("writes every chunk that Node keeps as an external source in ASCII (one byte a character)", async () => {
    const out = `${SCRATCH}/full`;
    await buildSuite(["scripts/start.ts"], out);
    const dir = path.resolve(ROOT, out, "chunks");
    const files = (await readdir(dir)).filter((f) => f.endsWith(".js"));
    const large: string[] = [];
    for (const file of files) {
      const text = await readFile(path.join(dir, file), "utf8");
      if (Buffer.byteLength(text) <= EXTERNAL_SOURCE_MIN) continue;
      large.push(file);
      let at = -1;
      for (let i = 0; i < text.length && at < 0; i++) if (text.charCodeAt(i) > 0x7f) at = i;
      expect({ file, nonAscii: at < 0 ? "" : text.slice(Math.max(0, at - 40), at + 10) }).toEqual({
        file,
        nonAscii: "",
      });
    }
    // The check saw the chunk it is about (client-node with undici, ~1.7 MB).
    expect(large.length).toBeGreaterThan(0);
    // The license comments are kept, beside the chunks.
    expect((await readdir(dir)).some((f) => f.endsWith(".LEGAL.txt"))).toBe(true);
  }, 60_000);
});
