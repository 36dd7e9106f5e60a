/**
 * Fault: the services node killed with SIGKILL while 20 deployments are being created over REST, then started again
 * (docs/reliability.md, "Faults"). Processes: nats-server, the sandbox API server, a gateway node and a services node
 * with NeDB files under DATA_DIR. The sandbox outlives the kill (it is its own process).
 *
 * Figures: every acknowledged creation has its record after the restart and its Deployment Available in the cluster;
 * no object of ours is left without a record; no record or object exists twice. No call waits for the broker's
 * requestTimeout (30 s): the services node comes back under its NODE_ID, and the gateway sends the calls its old
 * process had taken again as soon as it sees the new one (lib/restarted-nodes.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import path from "node:path";
import { freePort } from "../helpers/net.ts";
import {
  duplicates,
  isCleanFailure,
  managedObjects,
  orphansOf,
  report,
  Rest,
  seedTenant,
  Stack,
  waitFor,
  waitGateway,
  type Answer,
  type Proc,
  type SandboxProc,
} from "./harness.ts";

const TOTAL = 20;
const CONCURRENCY = 4;
/** The kill comes once this many creations were acknowledged. */
const KILL_AFTER_ACKS = 5;
/** Half the broker's requestTimeout (30 s): a call that waited for it would take longer. */
const SLOWEST_CALL_MS = 15_000;

describe("fault: the services node killed (SIGKILL) while deployments are created", () => {
  let stack: Stack;
  let sandbox: SandboxProc;
  let services: Proc;
  let alice: Rest;
  let admin: Rest;
  let nats: string;
  let servicesEnv: Record<string, string>;
  let nsId: string;
  let imageId: string;

  beforeAll(async () => {
    stack = await Stack.create("kill");
    nats = (await stack.startNats()).url;
    sandbox = await stack.startSandbox();
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    servicesEnv = {
      SERVICES: "*,!api",
      TRANSPORTER: nats,
      DATA_DIR: path.join(stack.dir, "data"),
      KUBECONFIG: sandbox.kubeconfig,
    };
    services = stack.startNode("services", servicesEnv);
    stack.startNode("gateway", { SERVICES: "api", TRANSPORTER: nats, PORT: String(port) });
    alice = await Rest.as(base, "alice");
    admin = await Rest.as(base, "root", true);
    await waitGateway(alice, 40_000, "/v1/k8s/images/resolve/nginx-1-27");
    ({ nsId, imageId } = await seedTenant(alice, admin, "crash-shop", { cpu: 64000, memory: 65536, pods: 100 }));
  }, 60_000);

  afterAll(async () => {
    await stack?.cleanup();
  }, 30_000);

  it("loses no acknowledged creation, leaves no orphan, creates nothing twice, and converges", async () => {
    const answers = new Map<string, Answer>();
    let acks = 0;
    let killedAt = 0;
    let killed: Promise<unknown> | undefined;
    const names = Array.from({ length: TOTAL }, (_, i) => `web-${String(i).padStart(2, "0")}`);
    const queue = [...names];
    const worker = async (): Promise<void> => {
      for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
        const res = await alice.call("POST", "/v1/k8s/deployments", { name, namespace: nsId, image: imageId });
        answers.set(name, res);
        if (res.status === 200) acks += 1;
        if (acks >= KILL_AFTER_ACKS && killed === undefined) {
          killedAt = Date.now();
          services.child.kill("SIGKILL");
          killed = services.exited.then(async () => {
            services = stack.startNode("services", servicesEnv);
          });
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    await killed;
    expect(killedAt).toBeGreaterThan(0);

    const acknowledged = names.filter((n) => answers.get(n)?.status === 200);
    const failed = names.filter((n) => answers.get(n)?.status !== 200);
    const unclean = failed.filter((n) => {
      const a = answers.get(n);
      return a === undefined || !isCleanFailure(a);
    });
    expect(unclean.map((n) => ({ n, status: answers.get(n)?.status, body: answers.get(n)?.body }))).toEqual([]);

    // Converged: every record of ours Available (or, for creations that were not acknowledged, gone or Available),
    // and no orphan left in the cluster.
    let lastProblem = "";
    await waitFor(
      "every acknowledged deployment Available and no orphan",
      async () => {
        const records = await admin.all("deployments");
        const byName = new Map(records.map((r) => [String(r.name), r]));
        const missing = acknowledged.filter((n) => !byName.has(n));
        const notAvailable = records.filter((r) => (r.status as { phase?: string } | undefined)?.phase !== "Available");
        const ids = new Set<string>();
        for (const resource of ["namespaces", "volumes", "envs", "deployments"]) {
          for (const r of await admin.all(resource)) ids.add(String(r.id));
        }
        const objects = await managedObjects(sandbox);
        const orphans = orphansOf(objects, ids);
        lastProblem = JSON.stringify({
          inCluster: objects
            .filter((o) => o.kind === "Deployment")
            .map(
              (o) => `${o.name}:${JSON.stringify((o.raw.status as { availableReplicas?: number })?.availableReplicas)}`,
            ),
          missing,
          notAvailable: notAvailable.map((r) => [r.name, r.status]),
          orphans: orphans.map((o) => `${o.kind} ${o.namespace ?? ""}/${o.name}`),
        });
        return missing.length === 0 && notAvailable.length === 0 && orphans.length === 0;
      },
      60_000,
      250,
    ).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${lastProblem}\n${stack.outputs()}`);
    });
    const convergeMs = Date.now() - killedAt;

    const records = await admin.all("deployments");
    const objects = await managedObjects(sandbox);
    const deploymentObjects = objects.filter((o) => o.kind === "Deployment");
    const lost = acknowledged.filter((n) => !records.some((r) => r.name === n));
    const twice = [
      ...duplicates(records.map((r) => `${String(r.namespace)}/${String(r.name)}`)),
      ...duplicates(deploymentObjects.map((o) => `${o.namespace ?? ""}/${o.name}`)),
    ];
    const ids = new Set<string>();
    for (const resource of ["namespaces", "volumes", "envs", "deployments"]) {
      for (const r of await admin.all(resource)) ids.add(String(r.id));
    }
    const orphans = orphansOf(objects, ids);
    // Each record has exactly its one Deployment, Available.
    for (const r of records) {
      const mine = deploymentObjects.filter((o) => o.id === r.id);
      expect(mine).toHaveLength(1);
    }
    report({
      fault: "services node SIGKILL during 20 deployment creations",
      attempted: TOTAL,
      acknowledged: acknowledged.length,
      failedCleanly: failed.length,
      lost: lost.length,
      orphans: orphans.length,
      duplicates: twice.length,
      convergeMs,
      slowestCallMs: Math.max(...names.map((n) => answers.get(n)?.ms ?? 0)),
      storedUnacknowledged: records.filter((r) => !acknowledged.includes(String(r.name))).length,
      failures: [...new Set(failed.map((n) => `${answers.get(n)?.status} ${String(answers.get(n)?.body.type)}`))].join(
        ", ",
      ),
    });
    expect(lost).toEqual([]);
    expect(orphans).toEqual([]);
    expect(twice).toEqual([]);
    const slow = names.filter((n) => (answers.get(n)?.ms ?? 0) >= SLOWEST_CALL_MS);
    expect(slow.map((n) => ({ n, ms: answers.get(n)?.ms, status: answers.get(n)?.status }))).toEqual([]);
  }, 120_000);
});
