/**
 * Fault: the database unavailable (docs/reliability.md, "Faults"). NeDB files under DATA_DIR: every `<collection>.db`
 * file is replaced by a directory, so that appends fail with EISDIR — even as root, where `chmod 0500` stops nothing.
 * Answers are 503 DATABASE_UNAVAILABLE (retryable), readiness says so, nothing crashes, a write that failed is not
 * half-kept (not in memory, not after a restart), and everything works again once the files are back.
 *
 * The services run in this process with the sandbox (the gateway is left out: through REST a retryable 503 currently
 * comes back as 404, see docs/reliability.md). MongoDB: only with MONGO_URI, which these machines lack; the test says
 * so in its output.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { mkdir, mkdtemp, readdir, rename, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { ServiceBroker, type ServiceSchema } from "moleculer";
import { startSandbox, type Sandbox } from "../../lib/sandbox/index.ts";
import kubeSchema from "../../services/kube.service.ts";
import namespacesSchema from "../../services/namespaces.service.ts";
import imagesSchema from "../../services/images.service.ts";
import volumesSchema from "../../services/volumes.service.ts";
import envsSchema from "../../services/envs.service.ts";
import deploymentsSchema from "../../services/deployments.service.ts";
import { report, waitFor } from "./harness.ts";

const alice = { meta: { userID: "alice", roles: [] } };
const unavailable = { code: 503, type: "DATABASE_UNAVAILABLE", retryable: true };
const RECORD_SERVICES = ["namespaces", "images", "volumes", "envs", "deployments"] as const;

async function startBroker(dataDir: string, kubeconfig: string): Promise<ServiceBroker> {
  const broker = new ServiceBroker({ logger: false, nodeID: `db-fault-${process.pid}` });
  const add = (schema: ServiceSchema, settings: Record<string, unknown>): void => {
    broker.createService({ name: schema.name, version: 1, mixins: [schema], settings });
  };
  add(kubeSchema as ServiceSchema, { kubeconfig });
  for (const schema of [namespacesSchema, imagesSchema, volumesSchema, envsSchema, deploymentsSchema]) {
    add(schema as ServiceSchema, { db: { dataDir }, reconciler: { initialResyncDelayMs: -1 } });
  }
  await broker.start();
  return broker;
}

describe("fault: the database unavailable (NeDB files that cannot be written)", () => {
  let dir: string;
  let dataDir: string;
  let sandbox: Sandbox;
  let broker: ServiceBroker | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "fault-db-"));
    dataDir = path.join(dir, "data");
    sandbox = await startSandbox({ podReadyDelayMs: 20 });
    broker = await startBroker(dataDir, sandbox.kubeconfig());
  }, 30_000);

  afterAll(async () => {
    await broker?.stop();
    await sandbox?.stop();
    await rm(dir, { recursive: true, force: true });
  }, 30_000);

  it("answers 503 DATABASE_UNAVAILABLE, keeps running, keeps no failed write, and recovers", async () => {
    if (process.env.MONGO_URI === undefined || process.env.MONGO_URI === "") {
      console.log("FAULT database (MongoDB): skipped, MONGO_URI is not set; NeDB files tested");
    }
    const b = broker as ServiceBroker;
    const available = (what: string, id: string): Promise<true> =>
      waitFor(
        what,
        async () =>
          (await b.call<{ status: { phase: string } }, object>("v1.k8s.deployments.get", { id }, alice)).status
            .phase === "Available",
        15_000,
      );
    const ns = await b.call<{ id: string }, object>("v1.k8s.namespaces.create", { name: "dbfault" }, alice);
    const image = await b.call<{ id: string }, object>("v1.k8s.images.resolveName", { name: "nginx-1-27" }, alice);
    const before = await b.call<{ id: string }, object>(
      "v1.k8s.deployments.create",
      { name: "before", namespace: ns.id, image: image.id },
      alice,
    );

    // Its status writes (Progressing, then Available) done first: one landing between a file's rename and the mkdir
    // below opened the path again and made a new file there (EEXIST), a race of the test's own, not the outage's.
    await available("the deployment made before the outage Available", before.id);

    // The database goes: each data file becomes a directory.
    const files = (await readdir(dataDir)).filter((f) => f.endsWith(".db"));
    expect(files).toEqual(expect.arrayContaining(RECORD_SERVICES.map((s) => `${s}.db`)));
    const downAt = Date.now();
    for (const f of files) {
      await rename(path.join(dataDir, f), path.join(dataDir, `${f}.saved`));
      await mkdir(path.join(dataDir, f));
    }

    const attempts: { what: string; outcome: unknown }[] = [];
    const attempt = async (what: string, p: Promise<unknown>): Promise<void> => {
      attempts.push({
        what,
        outcome: await p.then(
          () => "ok",
          (err: unknown) => err,
        ),
      });
    };
    await attempt("create namespace", b.call("v1.k8s.namespaces.create", { name: "during" }, alice));
    await attempt(
      "create deployment",
      b.call("v1.k8s.deployments.create", { name: "during", namespace: ns.id, image: image.id }, alice),
    );
    await attempt("scale deployment", b.call("v1.k8s.deployments.update", { id: before.id, replicas: 3 }, alice));
    await attempt("remove deployment", b.call("v1.k8s.deployments.remove", { id: before.id }, alice));
    for (const s of RECORD_SERVICES) await attempt(`${s} readiness`, b.call(`v1.${`k8s.${s}`}.readiness`));
    for (const { what, outcome } of attempts) {
      expect({ what, outcome }).toMatchObject({ what, outcome: unavailable });
    }
    // The failed update and removal are not half-kept: reads still show the stored record.
    await expect(b.call("v1.k8s.deployments.get", { id: before.id }, alice)).resolves.toMatchObject({ replicas: 1 });

    // The database comes back.
    for (const f of files) {
      await rm(path.join(dataDir, f), { recursive: true });
      await rename(path.join(dataDir, `${f}.saved`), path.join(dataDir, f));
    }
    const upAt = Date.now();
    await waitFor(
      "every record service ready again",
      async () => {
        for (const s of RECORD_SERVICES) await b.call(`v1.k8s.${s}.readiness`);
        return true;
      },
      10_000,
    );
    const readyMs = Date.now() - upAt;
    const after = await b.call<{ id: string }, object>(
      "v1.k8s.deployments.create",
      { name: "during", namespace: ns.id, image: image.id },
      alice,
    );
    await available("the new deployment Available", after.id);
    const convergeMs = Date.now() - upAt;

    // After a restart the files say what the reads said: the acknowledged writes, not the failed ones.
    await b.stop();
    broker = await startBroker(dataDir, sandbox.kubeconfig());
    const again = broker;
    const deployments = await again.call<{ name: string; replicas: number }[], object>(
      "v1.k8s.deployments.find",
      { query: { namespace: ns.id } },
      alice,
    );
    const names = await again.call<{ name: string }[], object>("v1.k8s.namespaces.find", {}, alice);
    // Acknowledged: namespace 'dbfault' and deployment 'before' (before the outage), deployment 'during' (after it).
    const acknowledged = 3;
    const writes = attempts.filter((a) => !a.what.endsWith("readiness"));
    const lost = [
      deployments.some((d) => d.name === "before" && d.replicas === 1) ? 0 : 1,
      deployments.some((d) => d.name === "during") ? 0 : 1,
      names.some((n) => n.name === "dbfault") ? 0 : 1,
    ].reduce((a, n) => a + n, 0);
    report({
      fault: "NeDB data files unwritable (replaced by directories)",
      attempted: writes.length + acknowledged,
      acknowledged,
      failedCleanly: writes.filter((a) => (a.outcome as { code?: unknown }).code === 503).length,
      readinessUnavailable: attempts.length - writes.length,
      lost,
      orphans: 0,
      duplicates: deployments.filter((d) => d.name === "during").length - 1,
      convergeMs,
      readyAfterReturnMs: readyMs,
      outageMs: upAt - downAt,
      keptFailedWrites: names.filter((n) => n.name === "during").length,
    });
    expect(lost).toBe(0);
    expect(names.map((n) => n.name)).not.toContain("during");
  }, 60_000);
});
