/**
 * Gives memory back to the operating system once the process has gone quiet after a burst of work.
 *
 * Why: V8 (Node 24) keeps the pages a garbage collection frees, resident, for reuse; only a memory-reducing GC returns
 * them. Its own memory reducer, which would run one, never does in a server: every 8 s it finds a "high allocation
 * rate" and waits again (`node --trace-memory-reducer`), however idle the process is. So after converging 1,000
 * deployments the suite kept 100+ MiB of RSS it no longer used, until it exited (docs/performance.md, "Memory").
 *
 * What: every `checkSeconds`, the event-loop utilization of the interval and the RSS are read (both cheap). Once the
 * loop has been quiet (below 5% busy) for `idleSeconds` and RSS has grown by at least `minGrowthMiB` since the last
 * release (or since start), one V8 "last-resort" GC runs: the memory-reducing full GC that compacts the heap and
 * returns freed pages. It pauses the process for tens of milliseconds per 100 MiB of heap, which is why it waits for a
 * quiet loop and runs at most once per burst. V8's `gc` function is taken the way jest-leak-detector takes it
 * (`--expose-gc` set at run time, the function read from a new context), so no Node flag is needed and nothing is
 * added to the global object.
 */
import { performance, type EventLoopUtilization } from "node:perf_hooks";
import v8 from "node:v8";
import vm from "node:vm";

export interface IdleMemoryReleaseOptions {
  /** Quiet time before a release (MEMORY_RELEASE_IDLE_SECONDS); 0 = never release. */
  idleSeconds: number;
  /** How often the loop and RSS are read. */
  checkSeconds?: number;
  /** RSS growth since the last release below which a release is not worth its pause. */
  minGrowthMiB?: number;
  /** Where a release is reported (debug: before/after RSS and the pause). */
  logger?: { debug(...args: unknown[]): void };
}

export interface IdleMemoryRelease {
  stop(): void;
  /** The last releases (up to 50), with RSS before and after (bytes) and the pause (ms). */
  readonly releases: { before: number; after: number; pauseMs: number }[];
}

/** An event loop busier than this share of an interval is not quiet. */
export const QUIET_UTILIZATION = 0.05;

export interface ReleaseState {
  /** Consecutive quiet time so far (ms). */
  quietMs: number;
  /** RSS after the last release, or at start (bytes). */
  baselineRss: number;
}

/**
 * The policy, pure: given the last interval's loop utilization and length and the RSS now, whether to release, and the
 * state to carry to the next interval.
 */
export function nextReleaseStep(
  state: ReleaseState,
  interval: { utilization: number; ms: number; rss: number },
  options: { idleSeconds: number; minGrowthMiB: number },
): { release: boolean; state: ReleaseState } {
  if (options.idleSeconds <= 0) return { release: false, state };
  const quietMs = interval.utilization < QUIET_UTILIZATION ? state.quietMs + interval.ms : 0;
  const grown = interval.rss - state.baselineRss >= options.minGrowthMiB * 2 ** 20;
  const release = quietMs >= options.idleSeconds * 1000 && grown;
  return { release, state: { quietMs: release ? 0 : quietMs, baselineRss: state.baselineRss } };
}

type Collect = (options: { type: "major"; execution: "sync"; flavor: "last-resort" }) => void;

let collect: Collect | undefined;
/** V8's gc(), without `--expose-gc` on the command line and without setting `globalThis.gc`. */
function v8Collect(): Collect {
  if (collect === undefined) {
    v8.setFlagsFromString("--expose-gc");
    collect = vm.runInNewContext("gc") as Collect;
  }
  return collect;
}

/** Starts the idle release; its timer does not keep the process alive. */
export function startIdleMemoryRelease(options: IdleMemoryReleaseOptions): IdleMemoryRelease {
  const releases: IdleMemoryRelease["releases"] = [];
  if (options.idleSeconds <= 0) return { stop: () => undefined, releases };
  const checkMs = (options.checkSeconds ?? Math.min(10, options.idleSeconds)) * 1000;
  const minGrowthMiB = options.minGrowthMiB ?? 32;
  const gc = v8Collect();
  let state: ReleaseState = { quietMs: 0, baselineRss: process.memoryUsage.rss() };
  let lastElu: EventLoopUtilization = performance.eventLoopUtilization();
  let lastAt = performance.now();

  const timer = setInterval(() => {
    const now = performance.now();
    const elu = performance.eventLoopUtilization(lastElu);
    lastElu = performance.eventLoopUtilization();
    const interval = { utilization: elu.utilization, ms: now - lastAt, rss: process.memoryUsage.rss() };
    lastAt = now;
    const step = nextReleaseStep(state, interval, { idleSeconds: options.idleSeconds, minGrowthMiB });
    state = step.state;
    if (!step.release) return;
    const t0 = performance.now();
    gc({ type: "major", execution: "sync", flavor: "last-resort" });
    const pauseMs = performance.now() - t0;
    const after = process.memoryUsage.rss();
    releases.push({ before: interval.rss, after, pauseMs });
    if (releases.length > 50) releases.shift();
    state = { quietMs: 0, baselineRss: after };
    // The release's own time is not the process's work: start the next interval after it.
    lastElu = performance.eventLoopUtilization();
    lastAt = performance.now();
    const mib = (n: number) => (n / 2 ** 20).toFixed(0);
    options.logger?.debug(
      `idle: gave memory back to the system, RSS ${mib(interval.rss)} -> ${mib(after)} MiB (${pauseMs.toFixed(0)} ms pause)`,
    );
  }, checkMs);
  timer.unref();
  return { stop: () => clearInterval(timer), releases };
}
