/**
 * `npx node bench/deployments.ts [--quick] [--pairs=N]`: creates N (default 50; --quick 10) nginx + php-fpm pairs —
 * 2N deployments, the nginx one with a `default.conf` ConfigMap and a vHost — over REST (the gateway and every domain
 * service in this process, an embedded sandbox cluster with its default 1 s pod start) and waits until every
 * Deployment is Available (`kubectl wait --for=condition=Available`).
 *
 * Baseline, same run, same sandbox: the objects `GET /deployments/:id/generate` returns for those records, moved to a
 * fresh namespace, applied with `kubectl apply --server-side -f` and waited for the same way. The suite does more
 * than kubectl: it also validates, stores records, creates the env records and applies their ConfigMap and Secret.
 * The suite's broker is stopped before the baseline runs, so its watches do not load the sandbox meanwhile.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { readdir } from "node:fs/promises";
import { ServiceBroker, type ServiceSchema } from "moleculer";
import { stringify } from "yaml";
import { signToken } from "../lib/auth.ts";
import { startSandbox } from "../lib/sandbox/index.ts";
import { nginxDefaultConf } from "../examples/reference-example.service.ts";
import { report } from "./lib.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const quick = args.includes("--quick");
const pairsArg = args.find((a) => a.startsWith("--pairs="));
const PAIRS = pairsArg === undefined ? (quick ? 10 : 50) : Number(pairsArg.slice("--pairs=".length));
const CONCURRENCY = 16;
const SECRET = "bench-deployments-secret-0123456789abcdef";

interface Listed {
  apiVersion: string;
  kind: string;
  items: { kind: string; metadata: { namespace?: string } }[];
}

function kubectl(kubeconfig: string, ...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      "/usr/bin/kubectl",
      ["--kubeconfig", kubeconfig, ...argv],
      { maxBuffer: 256 * 1024 * 1024, timeout: 600_000 },
      (err, stdout, stderr) => resolve({ code: err === null ? 0 : Number(err.code ?? 1), stdout, stderr }),
    );
  });
}

async function must(kubeconfig: string, ...argv: string[]): Promise<string> {
  const res = await kubectl(kubeconfig, ...argv);
  if (res.code !== 0) throw new Error(`kubectl ${argv.join(" ")}: ${res.stderr}`);
  return res.stdout;
}

/** Runs `fn` over `items` with at most `limit` at a time. */
async function pool<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i] as T);
      }
    }),
  );
  return out;
}

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "bench-deployments-"));
  const sandbox = await startSandbox({ port: 0, auditLogSize: 100_000 });
  const kubeconfig = path.join(dir, "kubeconfig");
  await sandbox.writeKubeconfig(kubeconfig);
  // BENCH_LOG=info (or debug) shows the suite's log lines.
  const level = process.env.BENCH_LOG;
  const broker = new ServiceBroker({
    logger: level === undefined ? false : { type: "Console", options: { level } },
    nodeID: "bench-deployments",
  });
  for (const file of (await readdir(path.join(ROOT, "services"))).filter((f) => f.endsWith(".service.ts")).sort()) {
    const schema = ((await import(pathToFileURL(path.join(ROOT, "services", file)).href)) as { default: ServiceSchema })
      .default;
    const base = (schema.settings ?? {}) as Record<string, unknown>;
    const settings: Record<string, unknown> =
      file === "kube.service.ts"
        ? { ...base, kubeconfig: sandbox.kubeconfig() }
        : file === "api.service.ts"
          ? { ...base, port: 0, ip: "127.0.0.1", jwtSecret: SECRET }
          : { ...base, db: { memory: true } };
    broker.createService({ ...schema, settings });
  }
  await broker.start();
  await broker.waitForServices(["v1.k8s.deployments", "v1.k8s.envs", "v1.kube"], 30_000);
  const api = broker.getLocalService("api") as unknown as { server: Server; aliases: { action: string | null }[] };
  while (!api.aliases.some((a) => a.action === "v1.k8s.deployments.create"))
    await new Promise((r) => setTimeout(r, 20));
  const url = `http://127.0.0.1:${(api.server.address() as AddressInfo).port}`;
  const token = await signToken({ userID: "bench" }, SECRET);
  const rest = async (method: string, p: string, body?: unknown): Promise<Record<string, unknown>> => {
    const res = await fetch(`${url}${p}`, {
      method,
      headers: {
        Authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { "Content-Type": "application/json" }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const json = (await res.json()) as Record<string, unknown>;
    if (res.status !== 200) throw new Error(`${method} ${p}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };

  // A quota large enough for every pod (the default one, 4 CPUs of limits, holds 8 of these pods).
  // (Set by another service, as only admins and services may set a quota: QUOTA_SET_BY.)
  const ns = await broker.call<{ id: string }, Record<string, unknown>>("v1.k8s.namespaces.create", {
    name: "bench-suite",
    owner: "bench",
    quota: { cpu: 1_000_000, memory: 10_000_000, pods: 10_000 },
  });
  const php = await rest("GET", "/api/v1/k8s/images/resolve/php-8-1-0-fpm");
  const nginx = await rest("GET", "/api/v1/k8s/images/resolve/nginx-1-27");
  while ((await kubectl(kubeconfig, "get", "ns", "bench-suite")).code !== 0)
    await new Promise((r) => setTimeout(r, 50));
  const bodies = Array.from({ length: PAIRS }, (_, i) => [
    { name: `app${i}-php`, namespace: ns.id, image: php.id },
    {
      name: `app${i}-nginx`,
      namespace: ns.id,
      image: nginx.id,
      vHosts: [`app${i}.nginx.example.com`],
      configMap: { name: "nginx-config", data: { "default.conf": nginxDefaultConf(`app${i}-php`, "bench-suite") } },
    },
  ]).flat();

  // --- the suite: REST creates, then every Deployment Available ---
  const writesBefore = sandbox.requestCounts().writes;
  const t0 = performance.now();
  const created = await pool(bodies, CONCURRENCY, (b) => rest("POST", "/api/v1/k8s/deployments", b));
  const tCreated = performance.now();
  const suiteWrites = sandbox.requestCounts().writes - writesBefore;
  const byResource = new Map<string, number>();
  for (const e of sandbox.auditLog()) {
    if (e.namespace !== "bench-suite" || !["create", "update", "patch", "delete"].includes(e.verb)) continue;
    const key = `${e.resource}${e.subresource === "" ? "" : `/${e.subresource}`}`;
    byResource.set(key, (byResource.get(key) ?? 0) + 1);
  }
  const writeMix = [...byResource].map(([k, v]) => `${k} ${v}`).join(", ");
  await must(kubeconfig, "wait", "--for=condition=Available", "deploy", "--all", "-n", "bench-suite", "--timeout=600s");
  const suiteMs = performance.now() - t0;
  const records = (await rest(
    "GET",
    `/api/v1/k8s/deployments?pageSize=100&query=${encodeURIComponent(JSON.stringify({ namespace: ns.id }))}`,
  )) as {
    total?: number;
  };
  const count = Number(
    (await must(kubeconfig, "get", "deploy", "-n", "bench-suite", "-o", "name")).trim().split("\n").length,
  );

  // The same rendered objects, for kubectl.
  const lists = await pool(created, CONCURRENCY, (d) =>
    rest("GET", `/api/v1/k8s/deployments/${String(d.id)}/generate`),
  );
  await broker.stop();
  const docs = (lists as unknown as Listed[]).flatMap((l) =>
    l.items.map((o) => stringify({ ...o, metadata: { ...o.metadata, namespace: "bench-kubectl" } })),
  );
  const file = path.join(dir, "objects.yaml");
  await writeFile(file, docs.join("---\n"));
  await must(kubeconfig, "create", "namespace", "bench-kubectl");

  // --- the baseline: kubectl apply --server-side, then every Deployment Available ---
  const kubectlWritesBefore = sandbox.requestCounts().writes;
  const k0 = performance.now();
  await must(kubeconfig, "apply", "--server-side", "-f", file);
  const kApplied = performance.now();
  const kubectlWrites = sandbox.requestCounts().writes - kubectlWritesBefore;
  await must(
    kubeconfig,
    "wait",
    "--for=condition=Available",
    "deploy",
    "--all",
    "-n",
    "bench-kubectl",
    "--timeout=600s",
  );
  const kubectlMs = performance.now() - k0;

  await sandbox.stop();
  await rm(dir, { recursive: true, force: true });

  const n = bodies.length;
  await report("deployments", [
    {
      name: `${n} deployments (${PAIRS} nginx + php pairs) created and Available`,
      unit: "ms",
      suite: suiteMs,
      baseline: kubectlMs,
      baselineName: "kubectl apply --server-side + wait",
      target: "≤ 1.5× kubectl",
      met: suiteMs <= 1.5 * kubectlMs,
      notes:
        `suite: REST creates ${(tCreated - t0).toFixed(0)} ms (${CONCURRENCY} at a time; ${String(records.total)} records, ` +
        `${count} Deployments, ${suiteWrites} API writes: ${writeMix}), then Available; ` +
        `kubectl: apply ${(kApplied - k0).toFixed(0)} ms of ${docs.length} objects (${kubectlWrites} API writes), then Available`,
    },
  ]);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
