/**
 * The sandbox's API server over plain HTTP (fetch): discovery, OpenAPI, watches, dry runs, deletes, and that no
 * malformed request crashes it or leaves the store half-changed.
 */
import { describe, it, expect, beforeAll, afterAll } from "@jest/globals";
import fc from "fast-check";
import { startSandbox, type Sandbox } from "../../../lib/sandbox/index.ts";

let sandbox: Sandbox;
const NS = "http";

async function call(
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; type: string; json: Record<string, unknown> }> {
  const res = await fetch(`${sandbox.url}${path}`, {
    method,
    headers: {
      Authorization: `Bearer ${sandbox.token}`,
      ...(body === undefined ? {} : { "Content-Type": "application/json" }),
      ...headers,
    },
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
  });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = { text };
  }
  return { status: res.status, type: res.headers.get("content-type") ?? "", json };
}

interface WatchEvent {
  type: string;
  object: {
    kind?: string;
    code?: number;
    reason?: string;
    metadata: { name?: string; resourceVersion?: string; annotations?: Record<string, string> };
  };
}

/** Opens a watch and collects its events until `done` says so or the stream ends. */
async function watch(
  path: string,
  done: (events: WatchEvent[]) => boolean,
  timeoutMs = 5000,
): Promise<{ events: WatchEvent[]; ended: boolean }> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  const res = await fetch(`${sandbox.url}${path}`, {
    headers: { Authorization: `Bearer ${sandbox.token}` },
    signal: controller.signal,
  });
  const events: WatchEvent[] = [];
  let buffer = "";
  let ended = true;
  try {
    const decoder = new TextDecoder();
    for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        events.push(JSON.parse(buffer.slice(0, nl)) as WatchEvent);
        buffer = buffer.slice(nl + 1);
      }
      if (done(events)) {
        ended = false;
        controller.abort();
        break;
      }
    }
  } catch {
    ended = false;
  } finally {
    clearTimeout(timer);
  }
  return { events, ended };
}

function cm(name: string, labels: Record<string, string> = {}): unknown {
  return { apiVersion: "v1", kind: "ConfigMap", metadata: { name, labels }, data: { k: "v" } };
}

beforeAll(async () => {
  sandbox = await startSandbox({
    port: 0,
    podReadyDelayMs: 20,
    jobDurationMs: 50,
    historySize: 40,
    bookmarkIntervalMs: 50,
  });
  await call("POST", "/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: NS } });
});

afterAll(async () => {
  await sandbox?.stop();
});

describe("sandbox API discovery", () => {
  it("serves /version, health checks, and the legacy discovery documents", async () => {
    const version = await call("GET", "/version");
    expect(version.json).toMatchObject({ major: "1", minor: "33" });
    expect(String(version.json.gitVersion)).toMatch(/^v1\.33\./);
    const healthz = await fetch(`${sandbox.url}/readyz`);
    expect(await healthz.text()).toBe("ok");
    const api = await call("GET", "/api");
    expect(api.json).toMatchObject({ kind: "APIVersions", versions: ["v1"] });
    const apis = await call("GET", "/apis");
    const groups = (apis.json.groups as { name: string }[]).map((g) => g.name);
    expect(groups).toEqual(expect.arrayContaining(["apps", "batch", "networking.k8s.io", "metrics.k8s.io"]));
    const appsV1 = await call("GET", "/apis/apps/v1");
    const names = (appsV1.json.resources as { name: string; kind: string }[]).map((r) => `${r.name}:${r.kind}`);
    expect(names).toEqual(
      expect.arrayContaining(["deployments:Deployment", "deployments/scale:Scale", "deployments/status:Deployment"]),
    );
  });

  it("answers aggregated discovery only when asked, echoing its content type", async () => {
    const asked = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
    const res = await call("GET", "/apis", undefined, { Accept: `${asked},application/json` });
    expect(res.type).toBe(asked);
    expect(res.json).toMatchObject({ kind: "APIGroupDiscoveryList", apiVersion: "apidiscovery.k8s.io/v2" });
    const core = await call("GET", "/api", undefined, { Accept: asked });
    const items = core.json.items as { versions: { resources: { resource: string; scope: string }[] }[] }[];
    expect(items[0]?.versions[0]?.resources).toEqual(
      expect.arrayContaining([expect.objectContaining({ resource: "pods", scope: "Namespaced" })]),
    );
  });

  it("serves OpenAPI v3 documents whose PATCH operations name their kind and take fieldValidation", async () => {
    const root = await call("GET", "/openapi/v3");
    const paths = root.json.paths as Record<string, { serverRelativeURL: string }>;
    const apps = paths["apis/apps/v1"]?.serverRelativeURL ?? "";
    expect(apps).toMatch(/^\/openapi\/v3\/apis\/apps\/v1\?hash=/);
    const doc = await call("GET", apps);
    const op = (doc.json.paths as Record<string, { patch?: Record<string, unknown> }>)[
      "/apis/apps/v1/namespaces/{namespace}/deployments/{name}"
    ]?.patch;
    expect(op?.["x-kubernetes-group-version-kind"]).toEqual({ group: "apps", version: "v1", kind: "Deployment" });
    expect((op?.parameters as { name: string }[]).map((p) => p.name)).toContain("fieldValidation");
  });
});

describe("sandbox API watches", () => {
  it("streams changes from a resourceVersion, with headers sent at once", async () => {
    const start = sandbox.store.currentResourceVersion();
    const received = watch(
      `/api/v1/namespaces/${NS}/configmaps?watch=true&resourceVersion=${start}`,
      (e) => e.length >= 3,
    );
    await new Promise((r) => setTimeout(r, 50));
    await call("POST", `/api/v1/namespaces/${NS}/configmaps`, cm("streamed"));
    await call(
      "PATCH",
      `/api/v1/namespaces/${NS}/configmaps/streamed`,
      { data: { k: "w" } },
      { "Content-Type": "application/merge-patch+json" },
    );
    await call("DELETE", `/api/v1/namespaces/${NS}/configmaps/streamed`);
    const { events } = await received;
    expect(events.map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual([
      "ADDED streamed",
      "MODIFIED streamed",
      "DELETED streamed",
    ]);
  });

  it("applies selectors to events: an object that stops matching arrives as DELETED", async () => {
    const start = sandbox.store.currentResourceVersion();
    await call("POST", `/api/v1/namespaces/${NS}/configmaps`, cm("sel", { team: "a" }));
    await call(
      "PATCH",
      `/api/v1/namespaces/${NS}/configmaps/sel`,
      { metadata: { labels: { team: "b" } } },
      { "Content-Type": "application/merge-patch+json" },
    );
    await call(
      "PATCH",
      `/api/v1/namespaces/${NS}/configmaps/sel`,
      { metadata: { labels: { team: "a" } } },
      { "Content-Type": "application/merge-patch+json" },
    );
    const { events } = await watch(
      `/api/v1/namespaces/${NS}/configmaps?watch=1&resourceVersion=${start}&labelSelector=team%3Da`,
      (e) => e.length >= 3,
    );
    expect(events.map((e) => e.type)).toEqual(["ADDED", "DELETED", "ADDED"]);
  });

  it("serves the legacy /watch/ paths, for a collection and for one object", async () => {
    const start = sandbox.store.currentResourceVersion();
    await call("POST", `/api/v1/namespaces/${NS}/configmaps`, cm("legacy-a"));
    await call("POST", `/api/v1/namespaces/${NS}/configmaps`, cm("legacy-b"));
    const all = await watch(`/api/v1/watch/namespaces/${NS}/configmaps?resourceVersion=${start}`, (e) => e.length >= 2);
    expect(all.events.map((e) => e.object.metadata.name)).toEqual(["legacy-a", "legacy-b"]);
    const one = await watch(
      `/api/v1/watch/namespaces/${NS}/configmaps/legacy-b?resourceVersion=${start}`,
      (e) => e.length >= 1,
    );
    expect(one.events.map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual(["ADDED legacy-b"]);
  });

  it("answers a too-old resourceVersion with an in-stream 410 Expired ERROR", async () => {
    const old = sandbox.store.currentResourceVersion();
    for (let i = 0; i < 60; i++) await call("POST", `/api/v1/namespaces/${NS}/configmaps`, cm(`churn-${i}`));
    const { events, ended } = await watch(
      `/api/v1/namespaces/${NS}/configmaps?watch=true&resourceVersion=${old}`,
      () => false,
    );
    expect(ended).toBe(true);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: "ERROR", object: { kind: "Status", code: 410, reason: "Expired" } });
  });

  it("sends the current objects first without a resourceVersion, BOOKMARKs when allowed, and ends after timeoutSeconds", async () => {
    const started = Date.now();
    const { events, ended } = await watch(
      `/api/v1/namespaces/${NS}/configmaps?watch=true&allowWatchBookmarks=true&timeoutSeconds=1&labelSelector=team`,
      () => false,
    );
    expect(ended).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(events[0]).toMatchObject({ type: "ADDED", object: { metadata: { name: "sel" } } });
    const bookmarks = events.filter((e) => e.type === "BOOKMARK");
    expect(bookmarks.length).toBeGreaterThan(2);
    expect(bookmarks[0]?.object).toMatchObject({
      kind: "ConfigMap",
      metadata: { resourceVersion: expect.stringMatching(/^\d+$/) },
    });
  });

  it("keeps a watch open whose timeoutSeconds is beyond what a timer holds, as the API server does", async () => {
    const { events, ended } = await watch(
      `/api/v1/namespaces/${NS}/configmaps?watch=true&timeoutSeconds=100000000000&labelSelector=team`,
      () => false,
      500,
    );
    // Aborted by the client after 500 ms, not ended by the server.
    expect(ended).toBe(false);
    expect(events[0]).toMatchObject({ type: "ADDED", object: { metadata: { name: "sel" } } });
  });
});

describe("sandbox API writes", () => {
  it("dry-runs create, update and patch without storing", async () => {
    const before = sandbox.store.currentResourceVersion();
    const created = await call("POST", `/api/v1/namespaces/${NS}/configmaps?dryRun=All`, cm("dry"));
    expect(created.status).toBe(201);
    expect(sandbox.store.get("configmaps", NS, "dry")).toBeUndefined();
    await call("POST", `/api/v1/namespaces/${NS}/configmaps`, cm("wet"));
    const after = sandbox.store.currentResourceVersion();
    const patched = await call(
      "PATCH",
      `/api/v1/namespaces/${NS}/configmaps/wet?dryRun=All`,
      { data: { k: "changed" } },
      { "Content-Type": "application/merge-patch+json" },
    );
    expect(patched.json).toMatchObject({ data: { k: "changed" } });
    expect(sandbox.store.get("configmaps", NS, "wet")?.data).toEqual({ k: "v" });
    expect(sandbox.store.currentResourceVersion()).toBe(after);
    expect(Number(after)).toBeGreaterThan(Number(before));
  });

  it("drops unknown fields with a warning by default, refuses them when Strict, and drops them silently when Ignore", async () => {
    const body = (name: string): unknown => ({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name, labelz: { a: "b" } },
      spec: {
        containers: [
          { name: "c", image: "nginx", imagee: "typo", resources: { limits: { cpu: 0.5, memory: "1024Mi" } } },
        ],
      },
    });
    const warned = await fetch(`${sandbox.url}/api/v1/namespaces/${NS}/pods`, {
      method: "POST",
      headers: { Authorization: `Bearer ${sandbox.token}`, "Content-Type": "application/json" },
      body: JSON.stringify(body("warned")),
    });
    expect(warned.status).toBe(201);
    expect(warned.headers.get("warning")).toBe(
      '299 - "unknown field \\"metadata.labelz\\"", 299 - "unknown field \\"spec.containers[0].imagee\\""',
    );
    const stored = sandbox.store.get("pods", NS, "warned");
    expect(stored?.metadata).not.toHaveProperty("labelz");
    const container = (stored?.spec as { containers: Record<string, unknown>[] }).containers[0];
    expect(container).not.toHaveProperty("imagee");
    // quantities are stored as canonical strings
    expect(container?.resources).toMatchObject({ limits: { cpu: "500m", memory: "1Gi" } });
    const strict = await call("POST", `/api/v1/namespaces/${NS}/pods?fieldValidation=Strict`, body("strict"));
    expect(strict.status).toBe(400);
    expect(strict.json.message).toBe(
      'Pod in version "v1" cannot be handled as a Pod: strict decoding error: unknown field "metadata.labelz", unknown field "spec.containers[0].imagee"',
    );
    const ignored = await fetch(`${sandbox.url}/api/v1/namespaces/${NS}/pods?fieldValidation=Ignore`, {
      method: "POST",
      headers: { Authorization: `Bearer ${sandbox.token}`, "Content-Type": "application/json" },
      body: JSON.stringify(body("ignored")),
    });
    expect(ignored.status).toBe(201);
    expect(ignored.headers.get("warning")).toBeNull();
    const bad = await call("POST", `/api/v1/namespaces/${NS}/pods?fieldValidation=Loud`, body("loud"));
    expect(bad.status).toBe(400);
  });

  it("bounds the Warning header as kube-apiserver does, so that an object with 20,000 unknown fields is still answered", async () => {
    const unknown = Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`field${i}`, i]));
    // fetch (undici) refuses a response whose headers exceed 16 KB: before the bound this threw "Headers Overflow"
    const res = await fetch(`${sandbox.url}/api/v1/namespaces/${NS}/configmaps`, {
      method: "POST",
      headers: { Authorization: `Bearer ${sandbox.token}`, "Content-Type": "application/json" },
      body: JSON.stringify({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "many-unknown", ...unknown } }),
    });
    expect(res.status).toBe(201);
    const warning = res.headers.get("warning") ?? "";
    expect(warning).toMatch(/^299 - "unknown field \\"metadata\.field0\\""/);
    expect(warning.length).toBeLessThan(8 * 1024);
    expect(sandbox.store.get("configmaps", NS, "many-unknown")?.metadata).not.toHaveProperty("field0");
  });

  it("reads a YAML body with a 60,000-key mapping in linear time, and still refuses a key given twice", async () => {
    const keys = Array.from({ length: 60_000 }, (_, i) => `k${i}`);
    const block = `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: yaml-block\ndata:\n${keys.map((k) => `  ${k}: v`).join("\n")}\n`;
    const flow = JSON.stringify({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "yaml-flow" },
      data: Object.fromEntries(keys.map((k) => [k, "v"])),
    });
    for (const [name, body] of [
      ["yaml-block", block],
      ["yaml-flow", flow],
    ] as const) {
      const started = Date.now();
      // yaml's own duplicate-key check was quadratic: ~15 s of a blocked event loop for such a body
      const res = await call("POST", `/api/v1/namespaces/${NS}/configmaps`, body, {
        "Content-Type": "application/yaml",
      });
      expect(res.status).toBe(201);
      expect(Date.now() - started).toBeLessThan(8000);
      expect(Object.keys(sandbox.store.get("configmaps", NS, name)?.data ?? {})).toHaveLength(60_000);
      // big objects would slow down the tests that walk this namespace's config maps
      expect((await call("DELETE", `/api/v1/namespaces/${NS}/configmaps/${name}`)).status).toBe(200);
    }
    const twice = await call(
      "POST",
      `/api/v1/namespaces/${NS}/configmaps`,
      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: twice\ndata:\n  a: x\n  b: y\n  a: z\n",
      { "Content-Type": "application/yaml" },
    );
    expect(twice.status).toBe(400);
    expect(twice.json.message).toMatch(/^error decoding YAML: Map keys must be unique/);
  });

  it("takes a request line of up to 1 MB, as kube-apiserver does (a label selector of 2,000 terms)", async () => {
    const selector = Array.from({ length: 2000 }, (_, i) => `key${i}=value${i}`).join(",");
    const res = await call("GET", `/api/v1/namespaces/${NS}/configmaps?labelSelector=${encodeURIComponent(selector)}`);
    expect(res.status).toBe(200);
    expect(res.json.items).toEqual([]);
  });

  it("answers verbs a path does not take with 405 MethodNotAllowed", async () => {
    const put = await call("PUT", `/api/v1/namespaces/${NS}/configmaps`, cm("x"));
    expect(put.status).toBe(405);
    expect(put.json).toMatchObject({ kind: "Status", reason: "MethodNotAllowed", details: { kind: "configmaps" } });
    const post = await call("POST", `/api/v1/namespaces/${NS}/configmaps/x`, cm("x"));
    expect(post.status).toBe(405);
    const metrics = await call("DELETE", `/apis/metrics.k8s.io/v1beta1/namespaces/${NS}/pods/x`);
    expect(metrics.status).toBe(405);
  });

  it("refuses a body whose namespace or kind does not match the URL, and an apply without its kind", async () => {
    const wrongNs = await call("POST", `/api/v1/namespaces/${NS}/configmaps`, {
      ...(cm("x") as object),
      metadata: { name: "x", namespace: "other" },
    });
    expect(wrongNs.status).toBe(400);
    expect(wrongNs.json.message).toBe(
      "the namespace of the provided object does not match the namespace sent on the request",
    );
    const wrongKind = await call("POST", `/api/v1/namespaces/${NS}/configmaps`, {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "x" },
    });
    expect(wrongKind.status).toBe(400);
    const untyped = await call(
      "PATCH",
      `/api/v1/namespaces/${NS}/configmaps/x?fieldManager=t`,
      "metadata: {name: x}\n",
      {
        "Content-Type": "application/apply-patch+yaml",
      },
    );
    expect(untyped.status).toBe(400);
    expect(untyped.json.message).toMatch(/^Object 'Kind' is missing in/);
  });

  it("deletes with a propagation policy from the body or the query, and deletes collections", async () => {
    await call("POST", `/api/v1/namespaces/${NS}/configmaps`, cm("del-1", { batch: "x" }));
    await call("POST", `/api/v1/namespaces/${NS}/configmaps`, cm("del-2", { batch: "x" }));
    const one = await call("DELETE", `/api/v1/namespaces/${NS}/configmaps/del-1`, {
      kind: "DeleteOptions",
      apiVersion: "v1",
      propagationPolicy: "Foreground",
    });
    expect(one.json).toMatchObject({
      kind: "Status",
      status: "Success",
      details: { name: "del-1", kind: "configmaps" },
    });
    const bad = await call("DELETE", `/api/v1/namespaces/${NS}/configmaps/del-2?propagationPolicy=Sometimes`);
    expect(bad.status).toBe(422);
    const all = await call("DELETE", `/api/v1/namespaces/${NS}/configmaps?labelSelector=batch%3Dx`);
    expect((all.json.items as unknown[]).length).toBe(1);
    expect(sandbox.store.get("configmaps", NS, "del-2")).toBeUndefined();
  });

  it("answers metadata-only lists and Tables when the Accept header asks for them", async () => {
    const partial = await call("GET", `/api/v1/namespaces/${NS}/configmaps?limit=1`, undefined, {
      Accept: "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json",
    });
    expect(partial.json).toMatchObject({ kind: "PartialObjectMetadataList", apiVersion: "meta.k8s.io/v1" });
    const items = partial.json.items as { kind: string; data?: unknown }[];
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ kind: "PartialObjectMetadata" });
    expect(items[0]?.data).toBeUndefined();
    expect((partial.json.metadata as { continue?: string }).continue).toBeDefined();
    const table = await call("GET", `/api/v1/namespaces/${NS}/configmaps/wet`, undefined, {
      Accept: "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
    });
    expect(table.json).toMatchObject({ kind: "Table", rows: [{ cells: ["wet", 1, expect.any(String)] }] });
  });

  it("removes a stuck Terminating namespace when its finalizers are emptied through /finalize", async () => {
    await call("POST", "/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: "stuck" } });
    await call("POST", "/api/v1/namespaces/stuck/configmaps", {
      ...(cm("held") as object),
      metadata: { name: "held", finalizers: ["example.com/hold"] },
    });
    const deleting = await call("DELETE", "/api/v1/namespaces/stuck");
    expect(deleting.json).toMatchObject({ kind: "Namespace", status: { phase: "Terminating" } });
    await new Promise((r) => setTimeout(r, 100));
    expect(sandbox.store.get("namespaces", undefined, "stuck")).toBeDefined();
    const ns = sandbox.store.get("namespaces", undefined, "stuck");
    const finalized = await call("PUT", "/api/v1/namespaces/stuck/finalize", { ...ns, spec: { finalizers: [] } });
    expect(finalized.status).toBe(200);
    expect(sandbox.store.get("namespaces", undefined, "stuck")).toBeUndefined();
  });

  it("counts requests by verb", () => {
    const counts = sandbox.requestCounts();
    expect(counts.writes).toBeGreaterThan(0);
    expect(counts.watches).toBeGreaterThan(0);
    expect(counts.byVerb.create).toBeGreaterThan(0);
  });
});

describe("sandbox API robustness", () => {
  const json = fc.jsonValue({ maxDepth: 4 });
  const objectish = fc.oneof(
    json,
    fc.record({
      apiVersion: fc.constantFrom("v1", "apps/v1", 7),
      kind: fc.constantFrom("ConfigMap", "Deployment", "Pod"),
      metadata: json,
      spec: json,
      data: json,
    }),
    fc.string(),
  );
  const endpoints = fc.constantFrom(
    ["POST", `/api/v1/namespaces/${NS}/configmaps`, "application/json"],
    ["POST", `/apis/apps/v1/namespaces/${NS}/deployments`, "application/json"],
    ["PUT", `/api/v1/namespaces/${NS}/configmaps/wet`, "application/json"],
    ["PATCH", `/api/v1/namespaces/${NS}/configmaps/wet`, "application/merge-patch+json"],
    ["PATCH", `/api/v1/namespaces/${NS}/configmaps/wet`, "application/strategic-merge-patch+json"],
    ["PATCH", `/api/v1/namespaces/${NS}/configmaps/wet`, "application/json-patch+json"],
    ["PATCH", `/apis/apps/v1/namespaces/${NS}/deployments/fuzz?fieldManager=fuzz`, "application/apply-patch+yaml"],
    ["DELETE", `/api/v1/namespaces/${NS}/configmaps/wet`, "application/json"],
    ["POST", `/api/v1/namespaces`, "application/yaml"],
    ["PUT", `/apis/apps/v1/namespaces/${NS}/deployments/target/status`, "application/json"],
    ["PUT", `/apis/apps/v1/namespaces/${NS}/deployments/target/scale`, "application/json"],
    ["PATCH", `/apis/apps/v1/namespaces/${NS}/deployments/target`, "application/strategic-merge-patch+json"],
    ["PATCH", `/apis/apps/v1/namespaces/${NS}/deployments/target/scale`, "application/merge-patch+json"],
    [
      "PATCH",
      `/apis/apps/v1/namespaces/${NS}/deployments/target?fieldManager=fuzz&force=true`,
      "application/apply-patch+yaml",
    ],
  );
  // deployment-shaped documents with arbitrary values in the places the server looks into
  const deploymentish = fc.record({
    apiVersion: fc.constant("apps/v1"),
    kind: fc.constant("Deployment"),
    metadata: fc.record({
      name: fc.constantFrom("target", "fuzz"),
      labels: fc.oneof(json, fc.dictionary(fc.string(), fc.string())),
    }),
    spec: fc.record({
      // small or invalid: a valid huge replica count is honoured, and would only measure the controllers
      replicas: fc.oneof(
        fc.integer({ min: -3, max: 3 }),
        fc.constantFrom(1.5, -0.5, 2 ** 31, 1e308),
        fc.string(),
        fc.constant(null),
      ),
      selector: fc.oneof(json, fc.constant({ matchLabels: { app: "t" } })),
      template: fc.record({
        metadata: fc.oneof(json, fc.constant({ labels: { app: "t" } })),
        spec: fc.record({
          containers: fc.oneof(
            json,
            fc.array(
              fc.record({
                name: fc.oneof(fc.constant("c"), json),
                image: json,
                ports: json,
                env: json,
                volumeMounts: json,
              }),
            ),
          ),
          volumes: json,
        }),
      }),
      strategy: json,
    }),
    status: json,
  });

  it("never answers a malformed path or query with a 500", async () => {
    const segment = fc.oneof(
      fc.constantFrom(
        "api",
        "apis",
        "v1",
        "apps",
        "namespaces",
        NS,
        "pods",
        "configmaps",
        "deployments",
        "status",
        "scale",
        "log",
        "watch",
        "metrics.k8s.io",
        "v1beta1",
        "nodes",
        "%E0%A4%A",
        "..",
        "%2F",
      ),
      fc.string({ maxLength: 8 }).map(encodeURIComponent),
    );
    const param = fc.tuple(
      fc.constantFrom(
        "labelSelector",
        "fieldSelector",
        "limit",
        "continue",
        "resourceVersion",
        "watch",
        "timeoutSeconds",
        "tailLines",
        "dryRun",
        "propagationPolicy",
        "fieldManager",
        "force",
      ),
      fc.oneof(
        fc.string({ maxLength: 12 }),
        fc.constantFrom("1", "0", "-1", "true", "All", "a=b", "a in (", "!x", "%ZZ"),
      ),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("GET", "DELETE", "PUT", "PATCH", "POST"),
        fc.array(segment, { minLength: 1, maxLength: 7 }),
        fc.array(param, { maxLength: 3 }),
        async (method, segments, params) => {
          const query = params.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join("&");
          const path = `/${segments.join("/")}${query === "" ? "" : `?${query}`}`;
          const controller = new AbortController();
          const timer = setTimeout(() => controller.abort(), 300);
          try {
            const res = await fetch(`${sandbox.url}${path}`, {
              method,
              headers: { Authorization: `Bearer ${sandbox.token}`, "Content-Type": "application/merge-patch+json" },
              ...(method === "GET" || method === "DELETE" ? {} : { body: "{}" }),
              signal: controller.signal,
            });
            expect(res.status).toBeLessThan(500);
            await res.body?.cancel();
          } catch (err) {
            // a watch or log stream that stays open is cut by the abort: not a failure
            if (!(err instanceof Error && err.name === "AbortError")) throw err;
          } finally {
            clearTimeout(timer);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("pages a list with continue tokens and answers 400 to a token it did not give, however it decodes", async () => {
    for (const name of ["page-a", "page-b", "page-c"])
      await call("POST", `/api/v1/namespaces/${NS}/configmaps`, cm(name));
    const names: string[] = [];
    let token = "";
    do {
      const page = await call("GET", `/api/v1/namespaces/${NS}/configmaps?limit=1&continue=${token}`);
      expect(page.status).toBe(200);
      names.push(...(page.json.items as { metadata: { name: string } }[]).map((o) => o.metadata.name));
      token = encodeURIComponent((page.json.metadata as { continue?: string }).continue ?? "");
    } while (token !== "");
    expect(names.filter((n) => n.startsWith("page-"))).toEqual(["page-a", "page-b", "page-c"]);
    // Found by the sandbox fuzz test with another seed: base64 of `null` was a 500.
    const b64 = (text: string) => encodeURIComponent(Buffer.from(text).toString("base64url"));
    for (const bad of [b64("null"), b64("5"), b64("[]"), b64('{"ns":1}'), b64('{"name":{}}'), "%21%21", b64("{")]) {
      const res = await call("GET", `/api/v1/namespaces/${NS}/configmaps?limit=1&continue=${bad}`);
      expect(res.status).toBe(400);
      expect(res.json).toMatchObject({ kind: "Status", reason: "BadRequest" });
      expect(String(res.json.message)).toMatch(/^continue key is not valid: /);
    }
  });

  it("answers a strategic merge patch naming Object.prototype's fields or giving an object for a list with 422", async () => {
    // Found by the property test below (seed -1826292477): `ports: {"valueOf": [null]}` was a 500.
    const name = "smp-target";
    const deployment = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name },
      spec: {
        selector: { matchLabels: { app: "s" } },
        template: { metadata: { labels: { app: "s" } }, spec: { containers: [{ name: "c", image: "nginx" }] } },
      },
    };
    expect((await call("POST", `/apis/apps/v1/namespaces/${NS}/deployments`, deployment)).status).toBe(201);
    const before = sandbox.store.get("deployments.apps", NS, name);
    expect(before?.metadata.name).toBe(name);
    for (const ports of [{ valueOf: [null] }, { constructor: [1] }, { a: 1 }]) {
      const res = await call(
        "PATCH",
        `/apis/apps/v1/namespaces/${NS}/deployments/${name}`,
        { spec: { template: { spec: { containers: [{ name: "c", ports }] } } } },
        { "Content-Type": "application/strategic-merge-patch+json" },
      );
      expect(res.status).toBe(422);
      expect(res.json).toMatchObject({
        kind: "Status",
        reason: "Invalid",
        details: { causes: [{ field: "spec.template.spec.containers[0].ports" }] },
      });
    }
    // (Its status and annotations are the controller's, which goes on working meanwhile: the spec is what a patch sets.)
    const after = sandbox.store.get("deployments.apps", NS, name);
    expect(after?.spec).toEqual(before?.spec);
    expect(after?.metadata.generation).toBe(before?.metadata.generation);
  });

  it("never answers a malformed request with a 500, and the store stays consistent", async () => {
    const target = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "target" },
      spec: {
        selector: { matchLabels: { app: "t" } },
        template: { metadata: { labels: { app: "t" } }, spec: { containers: [{ name: "c", image: "nginx" }] } },
      },
    };
    expect((await call("POST", `/apis/apps/v1/namespaces/${NS}/deployments`, target)).status).toBe(201);
    await fc.assert(
      fc.asyncProperty(endpoints, fc.oneof(objectish, deploymentish), async ([method, path, type], body) => {
        const text = typeof body === "string" ? body : JSON.stringify(body);
        const res = await call(method as string, path as string, text, { "Content-Type": type as string });
        expect(res.status).toBeLessThan(500);
        if (res.status >= 400) expect(res.json).toMatchObject({ kind: "Status", status: "Failure", code: res.status });
        for (const o of sandbox.store.list("configmaps", { namespace: NS }).items) {
          expect(typeof o.metadata.name).toBe("string");
          expect(o.metadata.namespace).toBe(NS);
        }
      }),
      { numRuns: 300 },
    );
  });
});
