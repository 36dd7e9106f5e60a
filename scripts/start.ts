/**
 * Starts one node of the suite: the broker from moleculer.config.ts and the services SERVICES names (all by default).
 *
 *   npm start                               every service in one process (gateway on PORT, sandbox cluster, NeDB)
 *   SERVICES=api TRANSPORTER=nats://127.0.0.1:4222 npm start            a gateway node
 *   SERVICES='*,!api' TRANSPORTER=nats://127.0.0.1:4222 npm start      every service but the gateway
 *   npm run repl                            the same, with moleculer's REPL on the terminal
 *
 * SERVICES is a comma-separated list of service file names without `.service.ts` (api, kube, namespaces, images,
 * volumes, envs, deployments), `*` globs over them, and `!name` to leave one out. We run our own loader rather than
 * moleculer-runner-esm because the runner resolves SERVICES short names to `*.service.js` only (docs/architecture.md).
 * The broker stops gracefully on SIGINT/SIGTERM (moleculer registers those handlers), so run this file directly in a
 * container (not through npm) for the signal to reach it.
 */
import { readdir } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { ServiceBroker, type ServiceSchema } from "moleculer";
import { readConfig } from "../lib/config.ts";
import { brokerOptions } from "../moleculer.config.ts";

const SERVICES_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../services");
const SUFFIX = ".service.ts";

function globToRegExp(glob: string): RegExp {
  const escaped = glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*");
  return new RegExp(`^${escaped}$`);
}

/** The service names SERVICES selects from those available; throws naming a pattern that matches nothing. */
export function selectServices(available: string[], patterns: string[] | undefined): string[] {
  if (patterns === undefined) return [...available];
  const included = new Set<string>();
  const excluded = new Set<string>();
  for (const raw of patterns) {
    const negate = raw.startsWith("!");
    const pattern = (negate ? raw.slice(1) : raw).replace(/\.service\.ts$/, "");
    const re = globToRegExp(pattern);
    const matches = available.filter((name) => re.test(name));
    if (matches.length === 0) {
      throw new Error(`SERVICES: '${raw}' matches no service; available: ${available.join(", ")}`);
    }
    for (const name of matches) (negate ? excluded : included).add(name);
  }
  const base = included.size === 0 ? available : [...included];
  return base.filter((name) => !excluded.has(name));
}

async function main(): Promise<void> {
  const config = readConfig();
  const files = (await readdir(SERVICES_DIR)).filter((f) => f.endsWith(SUFFIX)).sort();
  const available = files.map((f) => f.slice(0, -SUFFIX.length));
  const selected = selectServices(available, config.services);

  const broker = new ServiceBroker(brokerOptions(config));
  for (const name of selected) {
    const mod = (await import(pathToFileURL(path.join(SERVICES_DIR, name + SUFFIX)).href)) as {
      default: ServiceSchema;
    };
    broker.createService(mod.default);
  }
  await broker.start();

  const logger = broker.getLogger("start");
  logger.info(`Node '${broker.nodeID}' runs: ${selected.join(", ")}`);
  if (selected.includes("api")) {
    logger.info(`REST gateway: http://localhost:${config.port}/api  (OpenAPI: /api/openapi.json, ready: /api/ready)`);
    logger.info(
      'Get a token: npm run -s token -- <userID> [--admin]   then: curl -H "Authorization: Bearer $TOKEN" ...',
    );
  }
  if (process.argv.includes("--repl")) await broker.repl();
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
