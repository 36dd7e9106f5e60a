/**
 * lib/kube/http.ts: client-node's calls and watches sent with undici's `request`. Against the sandbox through client-node
 * (what the suite does), and against a small HTTP server for what the sandbox never does (gzip, repeated headers, a
 * line split across chunks, a silent stream).
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import type { AddressInfo } from "node:net";
import { gzipSync } from "node:zlib";
import {
  ApiException,
  CoreV1Api,
  HttpMethod,
  KubeConfig,
  RequestContext,
  type V1Namespace,
} from "@kubernetes/client-node";
import { loadCluster, type Cluster } from "../../../lib/kube/config.ts";
import { UndiciRequestLibrary, watchStream } from "../../../lib/kube/http.ts";

let cluster: Cluster;
let dir = "";
let server: http.Server;
let base = "";
/** What the small server answers, by path. */
const routes = new Map<string, (req: http.IncomingMessage, res: http.ServerResponse) => void>();

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "kube-http-"));
  cluster = await loadCluster({ env: {}, cwd: dir, sandbox: { port: 0, podReadyDelayMs: 20 } });
  server = http.createServer((req, res) => {
    const route = routes.get(new URL(req.url ?? "/", "http://x").pathname);
    if (route === undefined) {
      res.writeHead(404).end();
      return;
    }
    route(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await cluster?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** A KubeConfig for the small server (no credentials: undici's own pool). */
function plainConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "plain", server: base, skipTLSVerify: true }],
    users: [{ name: "nobody" }],
    contexts: [{ name: "plain", cluster: "plain", user: "nobody" }],
    currentContext: "plain",
  });
  return kc;
}

interface Watched {
  events: { phase: string; name: unknown }[];
  ended: Promise<unknown>;
  controller: AbortController;
}

async function watch(kc: KubeConfig, watchPath: string, timeoutMs?: number): Promise<Watched> {
  const events: Watched["events"] = [];
  let calls = 0;
  let end = (_err: unknown): void => undefined;
  const ended = new Promise<unknown>((resolve) => (end = resolve));
  const controller = await watchStream(
    kc,
    watchPath,
    { labelSelector: "a=b", skipped: undefined },
    (phase, obj) => events.push({ phase, name: (obj as { metadata?: { name?: unknown } }).metadata?.name }),
    (err) => {
      calls++;
      if (calls > 1) throw new Error("done called twice");
      end(err);
    },
    timeoutMs,
  );
  return { events, ended, controller };
}

describe("API calls through client-node", () => {
  it("reads, writes and fails as client-node's typed clients expect, over the shared pool", async () => {
    const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
    const created = await core.createNamespace({ body: { metadata: { name: "http-lib", labels: { a: "b" } } } });
    expect(created.metadata?.name).toBe("http-lib");
    const read: V1Namespace = await core.readNamespace({ name: "http-lib" });
    expect(read.metadata?.labels).toMatchObject({ a: "b" });
    expect(read.metadata?.creationTimestamp).toBeInstanceOf(Date);

    const missing = await core.readNamespace({ name: "no-such-namespace" }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(missing).toBeInstanceOf(ApiException);
    expect((missing as ApiException<string>).code).toBe(404);
    expect(JSON.parse((missing as ApiException<string>).body)).toMatchObject({ kind: "Status", reason: "NotFound" });
  });

  it("undoes gzip, joins repeated headers and sends the body and headers it was given", async () => {
    let seen: { method?: string; body: string; encoding?: string; type?: string } = { body: "" };
    routes.set("/zipped", (req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        seen = {
          body,
          ...(req.method === undefined ? {} : { method: req.method }),
          ...(req.headers["accept-encoding"] === undefined ? {} : { encoding: req.headers["accept-encoding"] }),
          ...(req.headers["content-type"] === undefined ? {} : { type: req.headers["content-type"] }),
        };
        res.setHeader("Content-Encoding", "gzip");
        res.setHeader("X-Twice", ["one", "two"]);
        res.writeHead(201, { "Content-Type": "application/json" });
        res.end(gzipSync(JSON.stringify({ answer: "é".repeat(3) })));
      });
    });
    const context = new RequestContext(`${base}/zipped`, HttpMethod.POST);
    context.setHeaderParam("Content-Type", "application/json");
    context.setBody(JSON.stringify({ question: 1 }));
    const answer = await new UndiciRequestLibrary().send(context);
    expect(answer.httpStatusCode).toBe(201);
    expect(answer.headers["x-twice"]).toBe("one, two");
    expect(answer.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(await answer.body.text())).toEqual({ answer: "ééé" });
    expect((await answer.body.binary()).toString("utf8")).toBe('{"answer":"ééé"}');
    expect(seen).toEqual({ method: "POST", body: '{"question":1}', encoding: "gzip", type: "application/json" });
  });

  it("refuses a multipart body rather than sending it wrong", async () => {
    const context = new RequestContext(`${base}/zipped`, HttpMethod.POST);
    context.setBody(new FormData() as unknown as string);
    await expect(new UndiciRequestLibrary().send(context)).rejects.toThrow(/multipart request body/);
  });
});

describe("watchStream", () => {
  it("hands each event of a sandbox watch to the callback, with the query asked for", async () => {
    const w = await watch(cluster.kubeConfig, "/api/v1/namespaces");
    const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: "watched", labels: { a: "b" } } } });
    await core.createNamespace({ body: { metadata: { name: "not-selected" } } });
    const deadline = Date.now() + 5000;
    while (!w.events.some((e) => e.name === "watched") && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    w.controller.abort();
    await w.ended;
    const names = w.events.map((e) => e.name);
    expect(names).toContain("watched");
    expect(names).toContain("http-lib");
    expect(names).not.toContain("not-selected");
  });

  it("reads lines split across chunks, CRLF and a last line without newline; skips a line that is not JSON", async () => {
    let query = "";
    routes.set("/split", (req, res) => {
      query = new URL(req.url ?? "/", "http://x").search;
      res.writeHead(200, { "Content-Type": "application/json" });
      const one = JSON.stringify({ type: "ADDED", object: { metadata: { name: "ü-one" } } });
      const bytes = Buffer.from(`${one}\n`);
      // "ü" is two bytes in UTF-8: cut between them.
      const cut = bytes.indexOf(0xc3) + 1;
      res.write(bytes.subarray(0, cut));
      setTimeout(() => {
        res.write(bytes.subarray(cut));
        res.write(`not json\n${JSON.stringify({ type: "MODIFIED", object: { metadata: { name: "two" } } })}\r\n`);
        res.end(JSON.stringify({ type: "DELETED", object: { metadata: { name: "three" } } }));
      }, 20);
    });
    const w = await watch(plainConfig(), "/split");
    expect(await w.ended).toBeNull();
    expect(w.events).toEqual([
      { phase: "ADDED", name: "ü-one" },
      { phase: "MODIFIED", name: "two" },
      { phase: "DELETED", name: "three" },
    ]);
    expect(query).toBe("?watch=true&labelSelector=a%3Db");
  });

  it("ends with the status code when the server refuses the watch", async () => {
    routes.set("/gone", (_req, res) => res.writeHead(410).end('{"kind":"Status","code":410}'));
    const w = await watch(plainConfig(), "/gone");
    expect(await w.ended).toMatchObject({ statusCode: 410, message: "Gone" });
    expect(w.events).toEqual([]);
  });

  it("ends with a TimeoutError when the stream says nothing for the timeout, and once when aborted", async () => {
    routes.set("/silent", (_req, res) => {
      res.writeHead(200);
      res.write(`${JSON.stringify({ type: "ADDED", object: { metadata: { name: "only" } } })}\n`);
    });
    const silent = await watch(plainConfig(), "/silent", 300);
    expect(await silent.ended).toMatchObject({ name: "TimeoutError" });
    expect(silent.events).toEqual([{ phase: "ADDED", name: "only" }]);

    const aborted = await watch(plainConfig(), "/silent");
    aborted.controller.abort();
    expect(await aborted.ended).toMatchObject({ name: "AbortError" });
  });

  it("ends with the network error when the server cannot be reached", async () => {
    const kc = plainConfig();
    kc.clusters[0] = { ...kc.clusters[0]!, server: "http://127.0.0.1:1" };
    const w = await watch(kc, "/anything");
    expect(await w.ended).toMatchObject({ code: "ECONNREFUSED" });
  });
});
