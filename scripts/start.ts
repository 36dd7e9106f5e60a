/**
 * Starts one node of the suite: the broker from moleculer.config.ts and the services SERVICES names (all by default).
 *
 *   npm start                               every service in one process (gateway on PORT, sandbox cluster, NeDB)
 *   SERVICES=api TRANSPORTER=nats://127.0.0.1:4222 npm start            a gateway node
 *   SERVICES='*,!api' TRANSPORTER=nats://127.0.0.1:4222 npm start      every service but the gateway
 *   npm run repl                            the same, with moleculer's REPL on the terminal
 *
 * SERVICES is a comma-separated list of service file names without `.service.ts` (api, kube, namespaces, images,
 * volumes, envs, deployments; services/index.ts), `*` globs over them, and `!name` to leave one out. We run our own loader rather than
 * moleculer-runner-esm because the runner resolves SERVICES short names to `*.service.js` only (docs/architecture.md).
 * The broker stops gracefully on SIGINT/SIGTERM (moleculer registers those handlers), so run this file directly in a
 * container (not through npm) for the signal to reach it.
 *
 * `npm start` and the container image run this file's production build, `dist/start.js` (scripts/build.ts: one
 * minified bundle, the services in lazily loaded chunks), which takes ~50 MiB less memory than the TypeScript sources
 * (docs/performance.md). `npm run dev`, `npm run repl`, the tests and `node scripts/start.ts` run the sources.
 */
import { readConfig } from "../lib/config.ts";
import { startSuiteNode } from "../services/index.ts";

async function main(): Promise<void> {
  const config = readConfig();
  const { broker, names: selected } = await startSuiteNode(config);

  const logger = broker.getLogger("start");
  logger.info(`Node '${broker.nodeID}' runs: ${selected.join(", ")}`);
  if (selected.includes("api")) {
    logger.info(`REST gateway: http://localhost:${config.port}/api  (OpenAPI: /api/openapi.json, ready: /api/ready)`);
    // From the build (npm start, the image, which holds no sources) its own token.js; from the sources the npm script.
    const tokenCommand = import.meta.url.endsWith(".js") ? "node dist/token.js" : "npm run -s token --";
    logger.info(`Get a token: ${tokenCommand} <userID> [--admin]   then: curl -H "Authorization: Bearer $TOKEN" ...`);
  }
  if (process.argv.includes("--repl")) await broker.repl();
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
