/**
 * `npx node bench/nodes.ts [--quick]`: the Across nodes row of issue 9. `ctx.call("v1.k8s.images.resolveName")` (a
 * cheap action of the suite: one indexed read of the image catalog, internal caller) from a gateway-side broker in this
 * process to a services node in another process (bench/fixtures/suite-node.ts, SERVICES=images) over NATS at
 * 127.0.0.1:4222, against the same call with the same service inside this process. Both brokers use the suite's own
 * broker options (moleculer.config.ts: JSON serializer, retry policy, ...) under a broker namespace of their own, so
 * other brokers on that NATS server do not answer. Calls one at a time after a warm-up: 2,000 (--quick) or 10,000.
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { ServiceBroker } from "moleculer";
import { readConfig } from "../lib/config.ts";
import { brokerOptions } from "../moleculer.config.ts";
import imagesService from "../services/images.service.ts";
import { forkNode, quick, sleep, suiteEntries } from "./harness.ts";
import { percentile, report } from "./lib.ts";

const NATS = process.env.BENCH_NATS ?? "nats://127.0.0.1:4222";
const CALLS = quick ? 2000 : 10_000;
const WARMUP = 300;
const PARAMS = { name: "nginx-1-27" };

async function timeCalls(broker: ServiceBroker): Promise<number[]> {
  for (let i = 0; i < WARMUP; i++) await broker.call("v1.k8s.images.resolveName", PARAMS);
  const out: number[] = [];
  for (let i = 0; i < CALLS; i++) {
    const t0 = performance.now();
    await broker.call("v1.k8s.images.resolveName", PARAMS);
    out.push(performance.now() - t0);
  }
  return out.sort((a, b) => a - b);
}

async function main(): Promise<void> {
  const namespace = `bench-nodes-${process.pid}`;
  const env = { BROKER_NAMESPACE: namespace, LOG_LEVEL: "warn", METRICS_PORT: "0" };

  // In one process: the images service (NeDB in memory) and the caller on one broker.
  const local = new ServiceBroker({ ...brokerOptions(readConfig(env)), logger: false });
  local.createService({ ...imagesService, settings: { ...imagesService.settings, db: { memory: true } } });
  await local.start();
  await local.waitForServices(["v1.k8s.images"]);
  while ((await local.call("v1.k8s.images.count", {}).catch(() => 0)) === 0) await sleep(20);
  const inProcess = await timeCalls(local);
  await local.stop();

  // Across nodes: the images service alone in a services node, called over NATS.
  const dataDir = await mkdtemp(path.join(os.tmpdir(), "bench-nodes-"));
  const servicesNode = await forkNode((await suiteEntries()).suiteNode, {
    ...env,
    TRANSPORTER: NATS,
    SERVICES: "images",
    DATA_DIR: dataDir,
    NODE_ID: `bench-services-${process.pid}`,
  });
  const gateway = new ServiceBroker({
    ...brokerOptions(readConfig({ ...env, TRANSPORTER: NATS, NODE_ID: `bench-gateway-${process.pid}` })),
    logger: false,
  });
  let remote: number[];
  try {
    await gateway.start();
    await gateway.waitForServices(["v1.k8s.images"], 30_000);
    while ((await gateway.call("v1.k8s.images.count", {}).catch(() => 0)) === 0) await sleep(50);
    remote = await timeCalls(gateway);
  } finally {
    await gateway.stop();
    await servicesNode.stop();
    await rm(dataDir, { recursive: true, force: true });
  }

  const rows = [50, 99].map((q) => {
    const added = percentile(remote, q) - percentile(inProcess, q);
    return {
      row: "Across nodes",
      name: `ctx.call gateway → services node over NATS, added latency p${q}`,
      unit: "ms",
      suite: added,
      baseline: percentile(inProcess, q),
      baselineName: "the same call in one process",
      ...(q === 50 ? { target: "added p50 < 1 ms", met: added < 1 } : {}),
      notes: `p${q} over NATS ${percentile(remote, q).toFixed(3)} ms, in one process ${percentile(inProcess, q).toFixed(3)} ms (${CALLS} calls one at a time, v1.k8s.images.resolveName)`,
    };
  });
  await report("nodes", rows);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
