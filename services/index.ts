/**
 * The suite's services by short name, the choice SERVICES makes among them, and one node of the suite started from
 * them (scripts/start.ts, and the benchmarks' bench/fixtures/suite-node.ts).
 *
 * Each service module is imported only when a node runs it (a gateway node, `SERVICES=api`, does not load the cluster
 * client). The specifiers are static strings so that the production build (scripts/build.ts) can bundle every service,
 * each into its own lazily loaded chunk. A new `*.service.ts` file must be listed here: test/unit/start.test.ts checks
 * that this list and the directory agree.
 */
import { ServiceBroker, type ServiceSchema } from "moleculer";
import { readConfig, type SuiteConfig } from "../lib/config.ts";
import { startIdleMemoryRelease } from "../lib/memory.ts";
import { brokerOptions } from "../moleculer.config.ts";

/** A service module: its default export is the typed `ServiceSchema` (each with its own settings and methods types). */
type ServiceModule = { default: object };

export const SERVICE_MODULES: Readonly<Record<string, () => Promise<ServiceModule>>> = {
  api: () => import("./api.service.ts"),
  deployments: () => import("./deployments.service.ts"),
  envs: () => import("./envs.service.ts"),
  images: () => import("./images.service.ts"),
  kube: () => import("./kube.service.ts"),
  namespaces: () => import("./namespaces.service.ts"),
  volumes: () => import("./volumes.service.ts"),
};

/** Every service's short name (the file name without `.service.ts`), sorted. */
export const SERVICE_NAMES: readonly string[] = Object.keys(SERVICE_MODULES).sort();

function globToRegExp(glob: string): RegExp {
  const escaped = glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*");
  return new RegExp(`^${escaped}$`);
}

/** The service names SERVICES selects from those available; throws naming a pattern that matches nothing. */
export function selectServices(available: readonly string[], patterns: string[] | undefined): string[] {
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

/** The schemas of the services SERVICES selects (all when undefined), imported in name order. */
export async function loadServices(
  patterns: string[] | undefined,
): Promise<{ names: string[]; schemas: ServiceSchema[] }> {
  const names = selectServices(SERVICE_NAMES, patterns);
  const schemas: ServiceSchema[] = [];
  for (const name of names) {
    const load = SERVICE_MODULES[name];
    if (load !== undefined) schemas.push((await load()).default as ServiceSchema);
  }
  return { names, schemas };
}

/**
 * One node of the suite as `npm start` runs it: the broker of moleculer.config.ts with the services SERVICES selects,
 * started, and the idle memory release (lib/memory.ts) for as long as the broker runs.
 */
export async function startSuiteNode(
  config: SuiteConfig = readConfig(),
): Promise<{ broker: ServiceBroker; names: string[] }> {
  const { names, schemas } = await loadServices(config.services);
  const broker = new ServiceBroker(brokerOptions(config));
  for (const schema of schemas) broker.createService(schema);
  await broker.start();
  const release = startIdleMemoryRelease({
    idleSeconds: config.memoryReleaseIdleSeconds,
    logger: broker.getLogger("memory"),
  });
  broker.localBus.once("$broker.stopped", () => release.stop());
  return { broker, names };
}
