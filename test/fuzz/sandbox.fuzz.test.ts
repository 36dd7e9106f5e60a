/**
 * Fuzzing the sandbox's API server beyond test/integration/sandbox/api-http.test.ts (which sends random JSON to a
 * fixed list of endpoints and random path segments): malformed objects of many kinds (missing or wrong metadata,
 * invalid names, huge labels and annotations, deep nesting, prototype keys, unicode, numbers at the edges), malformed
 * patches of each content type (json-patch operations, merge and strategic-merge directives, apply-patch+yaml with
 * invalid YAML, alias bombs, deep nesting, tags), and garbage selectors, resourceVersions, continue tokens and watch
 * parameters. Every answer is a 2xx or a `Status` 4xx; never a 5xx, never a hang; objects created before are intact,
 * lists still work, and Object.prototype is not polluted.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import fc from "fast-check";
import { startSandbox, type Sandbox } from "../../lib/sandbox/index.ts";
import { createClient, type RawResponse } from "./http.ts";
import {
  NS,
  anchors,
  collections,
  objectRequest,
  patchRequest,
  readRequest,
  setToken,
  type Collection,
  type Sent,
} from "./sandbox-requests.ts";

let sandbox: Sandbox;
let client: ReturnType<typeof createClient>;

const SEED = 8_2026;
const BATCH = 16;
const RUNS = { objects: 1000, patches: 1200, reads: 800 };
/**
 * An answer slower than this (a watch's 300 ms window included), also when the request is sent again alone, is a
 * failure: something blocked the server.
 */
const SLOW_MS = 3000;
/** Why an answer is wrong: a 5xx, or a 4xx that is not a Kubernetes Status naming its code. */
function problemOf(res: RawResponse): string | undefined {
  if (res.status >= 200 && res.status < 300) return undefined;
  if (res.status < 400 || res.status >= 500) return `status ${res.status}`;
  let body: unknown;
  try {
    body = JSON.parse(res.text);
  } catch {
    return `a ${res.status} whose body is not JSON`;
  }
  const b = body as Record<string, unknown>;
  if (b["kind"] !== "Status" || b["status"] !== "Failure" || b["code"] !== res.status) {
    return `a ${res.status} that is not a Status Failure with that code`;
  }
  if (typeof b["message"] !== "string" || b["message"] === "") return `a ${res.status} Status without a message`;
  return undefined;
}

async function json(method: string, path: string, body?: unknown): Promise<RawResponse> {
  return client.send({
    method,
    path,
    headers: {
      Authorization: `Bearer ${sandbox.token}`,
      ...(body === undefined ? {} : { "Content-Type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

/** A valid object of the collection named as its target, so that patches and PUTs have something to work on. */
function targetObject(c: Collection): Record<string, unknown> {
  const metadata = { name: c.target };
  switch (c.kind) {
    case "Deployment":
      return {
        ...anchors.deployment,
        metadata: { ...metadata, labels: { app: "t" } },
        spec: { ...anchors.deployment.spec, replicas: 0 },
      };
    case "Pod":
      return { apiVersion: "v1", kind: "Pod", metadata, spec: { containers: [{ name: "c", image: "nginx" }] } };
    case "Service":
      return { apiVersion: "v1", kind: "Service", metadata, spec: { ports: [{ port: 80 }], selector: { app: "t" } } };
    case "PersistentVolumeClaim":
      return {
        apiVersion: "v1",
        kind: c.kind,
        metadata,
        spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
      };
    case "Ingress":
      return { apiVersion: c.apiVersion, kind: c.kind, metadata, spec: { rules: [{ host: "a.example.com" }] } };
    case "Job":
      return {
        apiVersion: c.apiVersion,
        kind: c.kind,
        metadata,
        spec: { template: { spec: { restartPolicy: "Never", containers: [{ name: "c", image: "busybox" }] } } },
      };
    case "ResourceQuota":
      return { apiVersion: "v1", kind: c.kind, metadata, spec: { hard: { pods: "100" } } };
    default:
      return { apiVersion: c.apiVersion, kind: c.kind, metadata, data: {} };
  }
}

beforeAll(async () => {
  sandbox = await startSandbox({ port: 0, podReadyDelayMs: 20, jobDurationMs: 50 });
  client = createClient(sandbox.url, BATCH);
  setToken(sandbox.token);
  expect(
    (await json("POST", "/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: NS } })).status,
  ).toBe(201);
  expect((await json("POST", `/api/v1/namespaces/${NS}/configmaps`, anchors.configmap)).status).toBe(201);
  expect((await json("POST", `/api/v1/namespaces/${NS}/secrets`, anchors.secret)).status).toBe(201);
  expect((await json("POST", `/apis/apps/v1/namespaces/${NS}/deployments`, anchors.deployment)).status).toBe(201);
  for (const c of collections) expect((await json("POST", c.path, targetObject(c))).status).toBe(201);
}, 30_000);

afterAll(async () => {
  client?.close();
  await sandbox?.stop();
});

describe("the sandbox API under fuzzed requests", () => {
  it("answers malformed objects, patches and queries with a 2xx or a Status 4xx, never a 5xx, and keeps its store", async () => {
    const anchorBefore = JSON.parse((await json("GET", `/api/v1/namespaces/${NS}/configmaps/anchor`)).text) as {
      data: unknown;
      metadata: { labels: unknown; resourceVersion: string };
    };
    // requests are generated batch by batch (some bodies are megabytes: holding all 3000 would only measure the GC)
    const plan: [fc.Arbitrary<Sent>, number][] = [
      [objectRequest(), RUNS.objects],
      [patchRequest(), RUNS.patches],
      [readRequest(), RUNS.reads],
    ];
    const statuses = new Map<string, Map<number, number>>();
    const examples = new Map<string, string>();
    let sent = 0;
    let fiveXX = 0;
    let failures = 0;
    let slowest = 0;
    const slow: { req: Sent; took: number }[] = [];
    const started = Date.now();
    for (const [p, [arbitrary, runs]] of plan.entries()) {
      for (let i = 0; i < runs; i += BATCH) {
        const batch = fc.sample(arbitrary, { seed: SEED + p * 100_000 + i, numRuns: Math.min(BATCH, runs - i) });
        sent += batch.length;
        await Promise.all(batch.map((req) => sendOne(req)));
      }
    }
    const seconds = (Date.now() - started) / 1000;
    // A slow answer in a batch may have waited behind its batch on a busy machine: sent again alone, an input that
    // blocks the server is slow again, one that only queued is not.
    for (const { req, took } of slow) {
      const t0 = Date.now();
      const res = await client.send(req, 10_000, req.kind === "watch" ? 300 : undefined);
      const alone = Date.now() - t0;
      if (alone > SLOW_MS) {
        failures++;
        const body = typeof req.body === "string" ? req.body.slice(0, 300) : "";
        examples.set(
          `slow ${req.kind}`,
          `${req.method} ${req.path.slice(0, 200)} ${body} -> ${res.status} after ${took} ms, alone ${alone} ms`,
        );
      }
    }

    async function sendOne(req: Sent): Promise<void> {
      const t0 = Date.now();
      let res: RawResponse;
      try {
        // a watch that starts streams until its timeout: its status and first bytes are all we need
        res = await client.send(req, 10_000, req.kind === "watch" ? 300 : undefined);
      } catch (err) {
        failures++;
        examples.set(`${req.kind} ${String(err)}`, `${req.method} ${req.path.slice(0, 200)} -> ${String(err)}`);
        return;
      }
      const took = Date.now() - t0;
      slowest = Math.max(slowest, took);
      const body = typeof req.body === "string" ? req.body.slice(0, 300) : "";
      if (took > SLOW_MS) slow.push({ req, took });
      const counts = statuses.get(req.kind) ?? new Map<number, number>();
      counts.set(res.status, (counts.get(res.status) ?? 0) + 1);
      statuses.set(req.kind, counts);
      if (res.status >= 500) fiveXX++;
      const problem = problemOf(res);
      if (problem !== undefined) {
        failures++;
        examples.set(
          `${req.kind} ${problem}`,
          `${req.method} ${req.path.slice(0, 200)} ${JSON.stringify(req.headers?.["Content-Type"] ?? "")} ${body} -> ${problem}: ${res.text.slice(0, 300)}`,
        );
      }
    }
    const table = [...statuses.entries()]
      .map(([kind, counts]) => {
        const parts = [...counts.entries()].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}×${n}`);
        return `${kind.padEnd(48)} ${parts.join(" ")}`;
      })
      .join("\n");
    console.log(
      `sandbox fuzz: ${sent} requests in ${seconds.toFixed(1)} s (slowest ${slowest} ms, ${slow.length} over ${SLOW_MS} ms ` +
        `in their batch, sent again alone), ` +
        `5xx seen: ${fiveXX}, failures: ${failures}\n${table}` +
        (examples.size > 0 ? `\none failure of each kind:\n${[...examples.values()].join("\n")}` : ""),
    );
    expect([...examples.values()].slice(0, 10)).toEqual([]);
    expect(fiveXX).toBe(0);
    expect(sent).toBe(RUNS.objects + RUNS.patches + RUNS.reads);

    // the store is consistent: lists work, every object is well formed, the anchors are untouched
    for (const c of collections) {
      const list = await json("GET", c.path);
      expect(list.status).toBe(200);
      const items = (JSON.parse(list.text) as { items: { metadata: { name: unknown; namespace?: unknown } }[] }).items;
      for (const item of items) {
        expect(typeof item.metadata.name).toBe("string");
        if (c.kind !== "Namespace") expect(item.metadata.namespace).toBe(NS);
      }
    }
    const anchorAfter = JSON.parse(
      (await json("GET", `/api/v1/namespaces/${NS}/configmaps/anchor`)).text,
    ) as typeof anchorBefore;
    expect(anchorAfter.data).toEqual(anchors.configmap.data);
    expect(anchorAfter.metadata.labels).toEqual(anchors.configmap.metadata.labels);
    expect(anchorAfter.metadata.resourceVersion).toBe(anchorBefore.metadata.resourceVersion);
    const secret = JSON.parse((await json("GET", `/api/v1/namespaces/${NS}/secrets/anchor-secret`)).text) as {
      data: unknown;
    };
    expect(secret.data).toEqual(anchors.secret.data);
    const dep = JSON.parse((await json("GET", `/apis/apps/v1/namespaces/${NS}/deployments/anchor-dep`)).text) as {
      spec: { replicas: number; template: unknown };
    };
    expect(dep.spec.replicas).toBe(1);
    expect(dep.spec.template).toMatchObject(anchors.deployment.spec.template);
    // the store's own view agrees with the API's
    for (const kind of ["configmaps", "secrets", "deployments.apps", "pods"]) {
      for (const o of sandbox.store.list(kind, { namespace: NS }).items) {
        expect(typeof o.metadata.name).toBe("string");
        expect(o.metadata.namespace).toBe(NS);
      }
    }
    expect((await json("GET", "/version")).status).toBe(200);
    expect(({} as Record<string, unknown>)["polluted"]).toBeUndefined();
    expect(Object.keys(Object.prototype)).toEqual([]);
  }, 120_000);
});
