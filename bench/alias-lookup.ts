/**
 * `npx node bench/alias-lookup.ts [--quick]` (in `npm run bench -- --all`): one piece of a gateway answer's CPU, the
 * lookup of the alias a request's path names, in-process and interleaved. The suite's gateway (its real route table:
 * every domain service's aliases, on the deployments stack of the tests with a sandbox) resolves with
 * lib/alias-index.ts; the baseline is moleculer-web's own `resolveAlias` (each alias's regex in turn, deepest path
 * first) over the same table, in the same process. For the Reads rows' two paths and the probes' `/api/health`.
 * A piece this small is measured here rather than through the Reads rows, whose run-to-run spread is larger than it.
 */
import ApiGateway from "moleculer-web";
import { startOpsStack } from "../test/integration/operations/stack.ts";
import { quick } from "./harness.ts";
import { median, report, type BenchRow } from "./lib.ts";

type Resolve = (url: string, method: string) => { alias: { fullPath: string } } | false;

const CALLS = quick ? 100_000 : 400_000;
const ROUNDS = quick ? 3 : 7;

/** ns as µs for the notes, to the nanosecond. */
function us(ns: number): string {
  return (ns / 1000).toFixed(3);
}

/** ns per call of `fn` over `CALLS` calls (after a warm-up). */
function timePerCall(fn: () => unknown): number {
  for (let i = 0; i < 20_000; i++) fn();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < CALLS; i++) fn();
  return Number(process.hrtime.bigint() - t0) / CALLS;
}

async function main(): Promise<void> {
  const stack = await startOpsStack();
  try {
    const api = stack.services.getLocalService("api") as unknown as {
      aliases: { fullPath: string }[];
      resolveAlias: Resolve;
    };
    const linear = (ApiGateway.methods as unknown as { resolveAlias: Resolve }).resolveAlias;
    const id = "AbCdEf0123456789";
    const paths = [
      ["get of one deployment", `/api/v1/k8s/deployments/${id}`],
      ["state of one deployment", `/api/v1/k8s/deployments/${id}/state`],
      ["the health probe", "/api/health"],
    ] as const;
    const rows: BenchRow[] = [];
    for (const [what, url] of paths) {
      const indexed = api.resolveAlias(url, "GET");
      const scanned = linear.call(api, url, "GET");
      if (indexed === false || scanned === false || indexed.alias !== scanned.alias)
        throw new Error(`${url}: the index and moleculer-web resolve different aliases`);
      const position = api.aliases.indexOf(scanned.alias) + 1;
      const suite: number[] = [];
      const baseline: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        // Alternating which goes first, so that neither always runs on the warmer or the quieter moment.
        const pair = [
          () => suite.push(timePerCall(() => api.resolveAlias(url, "GET"))),
          () => baseline.push(timePerCall(() => linear.call(api, url, "GET"))),
        ];
        if (round % 2 === 1) pair.reverse();
        for (const measure of pair) measure();
      }
      rows.push({
        name: `alias lookup, ${what} (GET ${scanned.alias.fullPath})`,
        unit: "µs",
        suite: median(suite) / 1000,
        baseline: median(baseline) / 1000,
        baselineName: `moleculer-web's resolveAlias: alias ${position} of ${api.aliases.length}`,
        notes:
          `median of ${ROUNDS} rounds of ${CALLS} calls each, interleaved; per round suite ` +
          `${suite.map(us).join(" / ")} µs, moleculer-web ${baseline.map(us).join(" / ")} µs`,
      });
    }
    await report("alias-lookup", rows);
  } finally {
    await stack.stop();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
