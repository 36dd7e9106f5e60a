/**
 * Fault: NATS restarted in the middle of traffic (docs/reliability.md, "Faults"). A dedicated nats-server on a free
 * port, a gateway node and a services node (processes of scripts/start.ts), the sandbox as its own process. A loop of
 * REST creates (namespaces, volumes, deployments) runs while nats-server is killed (SIGKILL) and started again on the
 * same port after FAULT_NATS_DOWN_MS (default 2000).
 *
 * Acceptable answers: 200 (acknowledged), or a clean failure — a JSON 503 (retryable) or 504 (timeout). Afterwards
 * every acknowledged write has its record and its cluster object, nothing exists twice, no object of ours lacks a
 * record.
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
  sleep,
  Stack,
  waitFor,
  waitGateway,
  type Answer,
  type Proc,
  type SandboxProc,
} from "./harness.ts";

const DOWN_MS = Number(process.env.FAULT_NATS_DOWN_MS ?? 2000);
const CONCURRENCY = 3;

interface Write {
  resource: "namespaces" | "volumes" | "deployments";
  name: string;
  answer: Answer;
}

describe("fault: NATS restarted in the middle of traffic", () => {
  let stack: Stack;
  let sandbox: SandboxProc;
  let natsProc: Proc;
  let natsPort: number;
  let alice: Rest;
  let admin: Rest;
  let nsId: string;
  let imageId: string;

  beforeAll(async () => {
    stack = await Stack.create("nats");
    const nats = await stack.startNats();
    natsProc = nats.proc;
    natsPort = nats.port;
    sandbox = await stack.startSandbox();
    const port = await freePort();
    const common = { TRANSPORTER: nats.url };
    stack.startNode("services", {
      ...common,
      SERVICES: "*,!api",
      DATA_DIR: path.join(stack.dir, "data"),
      KUBECONFIG: sandbox.kubeconfig,
    });
    stack.startNode("gateway", { ...common, SERVICES: "api", PORT: String(port) });
    alice = await Rest.as(`http://127.0.0.1:${port}`, "alice");
    admin = await Rest.as(`http://127.0.0.1:${port}`, "root", true);
    await waitGateway(alice, 40_000, "/v1/k8s/images/resolve/nginx-1-27");
    ({ nsId, imageId } = await seedTenant(alice, admin, "traffic", {
      cpu: 64000,
      memory: 65536,
      pods: 100,
      persistentvolumeclaims: 100,
      storage: 1000,
    }));
  }, 60_000);

  afterAll(async () => {
    await stack?.cleanup();
  }, 30_000);

  it("keeps every acknowledged write; every other call fails cleanly; nodes reconnect", async () => {
    const writes: Write[] = [];
    let counter = 0;
    let stopAt = Number.POSITIVE_INFINITY;
    const worker = async (): Promise<void> => {
      while (Date.now() < stopAt) {
        const i = counter++;
        const kind = (["namespaces", "volumes", "deployments"] as const)[i % 3] ?? "namespaces";
        const name = `${kind.slice(0, 3)}-${String(i).padStart(3, "0")}`;
        const body =
          kind === "namespaces"
            ? { name }
            : kind === "volumes"
              ? { namespace: nsId, name, type: "persistentVolumeClaim", mountPath: "/data", size: "100Mi" }
              : { namespace: nsId, name, image: imageId };
        const answer = await alice.call("POST", `/v1/k8s/${kind}`, body);
        writes.push({ resource: kind, name, answer });
      }
    };
    const traffic = Promise.all(Array.from({ length: CONCURRENCY }, worker));
    await sleep(1500);
    const killedAt = Date.now();
    natsProc.child.kill("SIGKILL");
    await natsProc.exited;
    await sleep(DOWN_MS);
    natsProc = (await stack.startNats(natsPort)).proc;
    const restartedAt = Date.now();
    // Traffic goes on until the nodes have found each other again, then a little longer.
    const reconnectMs = await waitGateway(alice, 40_000);
    stopAt = Date.now() + 1500;
    await traffic;

    const acknowledged = writes.filter((w) => w.answer.status === 200);
    const failed = writes.filter((w) => w.answer.status !== 200);
    const unclean = failed.filter((w) => !isCleanFailure(w.answer));
    expect(unclean.map((w) => ({ name: w.name, status: w.answer.status, body: w.answer.body }))).toEqual([]);
    expect(acknowledged.length).toBeGreaterThan(0);

    const phaseOf = (r: Record<string, unknown>): string => String((r.status as { phase?: unknown })?.phase);
    const done: Record<string, string> = { namespaces: "Active", volumes: "Bound", deployments: "Available" };
    let problem = "";
    await waitFor(
      "every acknowledged write stored, applied and converged",
      async () => {
        const records = {
          namespaces: await admin.all("namespaces"),
          volumes: await admin.all("volumes"),
          deployments: await admin.all("deployments"),
        };
        const missing = acknowledged.filter((w) => !records[w.resource].some((r) => r.name === w.name));
        const pending = Object.entries(records).flatMap(([resource, rows]) =>
          rows.filter((r) => phaseOf(r) !== done[resource]).map((r) => `${resource}/${String(r.name)}:${phaseOf(r)}`),
        );
        problem = JSON.stringify({ missing: missing.map((w) => w.name), pending });
        return missing.length === 0 && pending.length === 0;
      },
      60_000,
      250,
    ).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${problem}\n${stack.outputs()}`);
    });
    const convergeMs = Date.now() - restartedAt;

    const records = {
      namespaces: await admin.all("namespaces"),
      volumes: await admin.all("volumes"),
      deployments: await admin.all("deployments"),
    };
    const envs = await admin.all("envs");
    const ids = new Set([...Object.values(records).flat(), ...envs].map((r) => String(r.id)));
    const objects = await managedObjects(sandbox);
    const orphans = orphansOf(objects, ids);
    const kindOf = { namespaces: "Namespace", volumes: "PersistentVolumeClaim", deployments: "Deployment" } as const;
    const lost = acknowledged.filter((w) => {
      const record = records[w.resource].find((r) => r.name === w.name);
      return record === undefined || !objects.some((o) => o.kind === kindOf[w.resource] && o.id === record.id);
    });
    const twice = [
      ...duplicates(records.namespaces.map((r) => String(r.name))),
      ...duplicates(records.volumes.map((r) => `${String(r.namespace)}/${String(r.name)}`)),
      ...duplicates(records.deployments.map((r) => `${String(r.namespace)}/${String(r.name)}`)),
      ...duplicates(objects.map((o) => `${o.kind}/${o.namespace ?? ""}/${o.name}`)),
    ];
    report({
      fault: "NATS restarted (SIGKILL, down " + String(DOWN_MS) + " ms) during REST creates",
      attempted: writes.length,
      acknowledged: acknowledged.length,
      failedCleanly: failed.length,
      lost: lost.length,
      orphans: orphans.length,
      duplicates: twice.length,
      convergeMs,
      reconnectMs,
      natsDownMs: restartedAt - killedAt,
      slowestCallMs: Math.max(...writes.map((w) => w.answer.ms)),
      failures: [...new Set(failed.map((w) => `${w.answer.status} ${String(w.answer.body.type)}`))].join(", "),
    });
    expect(lost).toEqual([]);
    expect(orphans).toEqual([]);
    expect(twice).toEqual([]);
  }, 120_000);
});
