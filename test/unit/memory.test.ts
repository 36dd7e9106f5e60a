import { describe, expect, it } from "@jest/globals";
import { execFile } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { nextReleaseStep, QUIET_UTILIZATION } from "../../lib/memory.ts";

const MiB = 2 ** 20;
const options = { idleSeconds: 20, minGrowthMiB: 32 };
const quiet = (ms: number, rss: number) => ({ utilization: QUIET_UTILIZATION / 2, ms, rss });
const busy = (ms: number, rss: number) => ({ utilization: 0.5, ms, rss });

describe("nextReleaseStep (when the idle memory release runs)", () => {
  it("releases once the loop has been quiet for idleSeconds and RSS has grown enough", () => {
    let state = { quietMs: 0, baselineRss: 150 * MiB };
    const first = nextReleaseStep(state, quiet(10_000, 300 * MiB), options);
    expect(first.release).toBe(false);
    state = first.state;
    const second = nextReleaseStep(state, quiet(10_000, 300 * MiB), options);
    expect(second.release).toBe(true);
    expect(second.state.quietMs).toBe(0);
  });

  it("does not release while the loop is busy: a busy interval restarts the quiet time", () => {
    let state = { quietMs: 0, baselineRss: 150 * MiB };
    state = nextReleaseStep(state, quiet(15_000, 300 * MiB), options).state;
    const afterBusy = nextReleaseStep(state, busy(1_000, 300 * MiB), options);
    expect(afterBusy.release).toBe(false);
    expect(afterBusy.state.quietMs).toBe(0);
    expect(nextReleaseStep(afterBusy.state, quiet(10_000, 300 * MiB), options).release).toBe(false);
  });

  it("does not release when RSS has not grown by minGrowthMiB since the last release", () => {
    const state = { quietMs: 20_000, baselineRss: 200 * MiB };
    expect(nextReleaseStep(state, quiet(10_000, 231 * MiB), options).release).toBe(false);
    expect(nextReleaseStep(state, quiet(10_000, 232 * MiB), options).release).toBe(true);
  });

  it("never releases when turned off (idleSeconds 0)", () => {
    const state = { quietMs: 1e9, baselineRss: 0 };
    expect(nextReleaseStep(state, quiet(1e9, 1e12), { idleSeconds: 0, minGrowthMiB: 0 }).release).toBe(false);
  });
});

describe("startIdleMemoryRelease in a process", () => {
  const fixture = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../fixtures/memory-burst.ts");
  const run = async (idleSeconds: number) => {
    const { stdout } = await promisify(execFile)(process.execPath, [fixture, String(idleSeconds)], {
      env: { ...process.env, NODE_OPTIONS: "" },
    });
    return JSON.parse(stdout) as {
      afterBurst: number;
      afterQuiet: number;
      releases: { before: number; after: number }[];
    };
  };

  it("gives the memory of a burst back to the system once the process is quiet", async () => {
    const released = await run(1);
    expect(released.releases).toHaveLength(1);
    // V8 alone keeps nearly all of it (the next test); the release returns most of the burst.
    expect(released.afterBurst - released.afterQuiet).toBeGreaterThan(100 * MiB);
  }, 20_000);

  it("keeps it when the release is off (what V8 does on its own)", async () => {
    const kept = await run(0);
    expect(kept.releases).toHaveLength(0);
    expect(kept.afterBurst - kept.afterQuiet).toBeLessThan(50 * MiB);
  }, 20_000);
});
