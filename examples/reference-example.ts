/**
 * Runs the reference example (examples/reference-example.service.ts) from `ctx.call`.
 *
 *   npx node examples/reference-example.ts                 the whole suite in this process (sandbox cluster, NeDB
 *                                                          under DATA_DIR), a namespace record `default` owned by
 *                                                          `demo` if there is none, then the example; waits until
 *                                                          both deployments are Available and prints what to look at
 *   npx node examples/reference-example.ts --keep          the same, then keeps running (gateway on PORT) until Ctrl-C
 *   TRANSPORTER=nats://127.0.0.1:4222 npx node examples/reference-example.ts
 *                                                          joins a running suite (same BROKER_NAMESPACE) as one more
 *                                                          node and runs the example there
 *   … --remove                                             takes the example down instead
 *   … --name shop --namespace team-a                       another app name / namespace record
 */
import { readdir } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { ServiceBroker, type ServiceSchema } from "moleculer";
import { readConfig } from "../lib/config.ts";
import type { DeploymentEntity, NamespaceEntity } from "../lib/entities.ts";
import { brokerOptions } from "../moleculer.config.ts";
import exampleService, { type ReferenceExampleResult } from "./reference-example.service.ts";

const SERVICES_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../services");

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const value = i === -1 ? undefined : process.argv[i + 1];
  return value === undefined || value.startsWith("--") ? fallback : value;
}

async function waitAvailable(broker: ServiceBroker, ids: string[], timeoutMs: number): Promise<DeploymentEntity[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const records = await Promise.all(
      ids.map((id) => broker.call<DeploymentEntity, { id: string }>("v1.k8s.deployments.get", { id })),
    );
    if (records.every((r) => r.status.phase === "Available") || Date.now() > deadline) return records;
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function main(): Promise<void> {
  const config = readConfig();
  const name = arg("name", "my-app");
  const namespace = arg("namespace", "default");
  const owner = arg("owner", "demo");
  const joining = config.transporter !== undefined;

  const broker = new ServiceBroker(brokerOptions(config));
  broker.createService(exampleService);
  if (!joining) {
    // The whole suite in this process: every service file (the gateway too, for curl with --keep).
    for (const file of (await readdir(SERVICES_DIR)).filter((f) => f.endsWith(".service.ts")).sort()) {
      const mod = (await import(pathToFileURL(path.join(SERVICES_DIR, file)).href)) as { default: ServiceSchema };
      broker.createService(mod.default);
    }
  }
  await broker.start();
  const log = broker.getLogger("reference-example");
  try {
    await broker.waitForServices(
      ["v1.k8s.namespaces", "v1.k8s.images", "v1.k8s.volumes", "v1.k8s.envs", "v1.k8s.deployments"],
      30_000,
    );
    if (process.argv.includes("--remove")) {
      const res = await broker.call("examples.reference.remove", { name, namespace });
      log.info("removed:", res);
      return;
    }
    if (!joining) {
      const found = await broker.call<NamespaceEntity[], Record<string, unknown>>("v1.k8s.namespaces.find", {
        query: { name: namespace },
      });
      if (found.length === 0) {
        await broker.call("v1.k8s.namespaces.create", { name: namespace, owner });
        log.info(`namespace record '${namespace}' created, owned by '${owner}'`);
      }
    }
    const result = await broker.call<ReferenceExampleResult, { name: string; namespace: string }>(
      "examples.reference.run",
      { name, namespace },
    );
    log.info(
      `created volume '${result.sharedVolume.name}', deployments '${result.php.name}' and '${result.nginx.name}' in namespace '${result.namespace.name}'`,
    );
    const records = await waitAvailable(broker, [result.php.id, result.nginx.id], 60_000);
    for (const r of records) log.info(`${r.name}: ${r.status.phase} (${r.status.readyReplicas}/${r.replicas} ready)`);
    const kubeconfig = config.kubeconfig ?? ".sandbox/kubeconfig";
    log.info(
      `look: kubectl --kubeconfig ${kubeconfig} get deploy,svc,ingress,cm,secret,pvc,pods -n ${result.namespace.name}`,
    );
    if (process.argv.includes("--keep") && !joining) {
      log.info("running until Ctrl-C");
      await new Promise<void>((resolve) => process.once("SIGINT", () => resolve()));
    }
  } finally {
    await broker.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? `${err.name}: ${err.message}` : err);
  process.exit(1);
});
