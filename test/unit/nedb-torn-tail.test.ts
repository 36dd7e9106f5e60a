import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { setAsideTornTail } from "../../lib/nedb-torn-tail.ts";

let dir: string;
const now = new Date("2026-11-28T12:00:00.000Z");
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "torn-tail-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("setAsideTornTail", () => {
  it("cuts a last line cut short off the file and keeps it beside it", async () => {
    const file = path.join(dir, "cut.db");
    await writeFile(file, '{"_id":"a","n":1}\n{"_id":"b","n":2}\n{"_id":"c","na');
    expect(setAsideTornTail(file, now)).toEqual({ bytes: 14, savedTo: `${file}.torn-2026-11-28T12-00-00-000Z` });
    expect(await readFile(file, "utf8")).toBe('{"_id":"a","n":1}\n{"_id":"b","n":2}\n');
    expect(await readFile(`${file}.torn-2026-11-28T12-00-00-000Z`, "utf8")).toBe('{"_id":"c","na');
  });

  it("finds the last newline however long the cut line is (read back in chunks)", async () => {
    const file = path.join(dir, "long.db");
    const cut = `{"_id":"big","v":"${"x".repeat(200_000)}`;
    await writeFile(file, `{"_id":"a"}\n${cut}`);
    expect(setAsideTornTail(file, now)?.bytes).toBe(cut.length);
    expect(await readFile(file, "utf8")).toBe('{"_id":"a"}\n');
  });

  it("gives a whole last line its missing newline, and cuts a file of one cut line to nothing", async () => {
    const whole = path.join(dir, "whole.db");
    await writeFile(whole, '{"_id":"a"}\n{"_id":"b"}');
    expect(setAsideTornTail(whole, now)).toEqual({ bytes: 0 });
    expect(await readFile(whole, "utf8")).toBe('{"_id":"a"}\n{"_id":"b"}\n');
    const only = path.join(dir, "only.db");
    await writeFile(only, '{"_id":"a","v":');
    expect(setAsideTornTail(only, now)?.bytes).toBe(15);
    expect(await readFile(only, "utf8")).toBe("");
  });

  it("leaves alone a file that ends well, an empty one, and one that is absent", async () => {
    const good = path.join(dir, "good.db");
    await writeFile(good, '{"_id":"a"}\n');
    expect(setAsideTornTail(good, now)).toBeUndefined();
    expect(await readFile(good, "utf8")).toBe('{"_id":"a"}\n');
    const empty = path.join(dir, "empty.db");
    await writeFile(empty, "");
    expect(setAsideTornTail(empty, now)).toBeUndefined();
    expect(setAsideTornTail(path.join(dir, "absent.db"), now)).toBeUndefined();
  });
});
