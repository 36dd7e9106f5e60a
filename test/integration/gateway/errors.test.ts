import { describe, it, expect, beforeAll, afterAll } from "@jest/globals";
import http from "node:http";
import { Readable } from "node:stream";
import type { Context } from "moleculer";
import { startGateway, type Gateway } from "../../fixtures/gateway.ts";
import widgets from "../../fixtures/widgets.service.ts";

/** node:http, for what fetch will not send: a GET with a body, a path exactly as written. */
function rawRequest(
  baseUrl: string,
  req: { method: string; path: string; headers: Record<string, string>; body?: string },
): Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const r = http.request(
      {
        host: url.hostname,
        port: url.port,
        method: req.method,
        path: req.path,
        headers: {
          ...req.headers,
          ...(req.body === undefined ? {} : { "Content-Length": Buffer.byteLength(req.body) }),
        },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString("utf8") }),
        );
      },
    );
    r.on("error", reject);
    r.end(req.body);
  });
}

interface Logged {
  level: string;
  args: unknown[];
}

/** Records what the gateway logs (the brokers in tests have `logger: false`, whose methods do nothing). */
function captureLogs(gw: Gateway): Logged[] {
  const logged: Logged[] = [];
  const api = gw.broker.getLocalService("api") as unknown as { logger: Record<string, (...args: unknown[]) => void> };
  for (const level of ["error", "warn", "info", "debug"]) {
    api.logger[level] = (...args: unknown[]) => logged.push({ level, args });
  }
  return logged;
}

describe("api errors", () => {
  let gw: Gateway;
  let token: string;
  let logged: Logged[];
  beforeAll(async () => {
    gw = await startGateway({ bodyLimit: "2kb" });
    token = await gw.token({ userID: "alice" });
    logged = captureLogs(gw);
  });
  afterAll(async () => {
    await gw.stop();
  });

  async function fail(kind: string): Promise<{ res: Response; text: string; body: Record<string, unknown> }> {
    const res = await gw.request(`/api/v1/k8s/widgets/fail/${kind}`, { token });
    const text = await res.text();
    return { res, text, body: JSON.parse(text) as Record<string, unknown> };
  }

  it.each([
    ["badRequest", 400, "BAD_REQUEST", "bad request"],
    ["unauthorized", 401, "UNAUTHORIZED", "token revoked"],
    ["forbidden", 403, "FORBIDDEN", "viewers cannot write"],
    ["notFound", 404, "NOT_FOUND", "widget 'nope' not found"],
    ["conflict", 409, "ALREADY_EXISTS", "widget with name 'taken' already exists"],
    ["inUse", 409, "IN_USE", "widget 'w1' is in use by gizmo"],
    ["invalid", 422, "VALIDATION_ERROR", "name is reserved"],
  ])("answers a thrown %s as HTTP %i JSON {name, message, code, type, data}", async (kind, status, type, message) => {
    const { res, text, body } = await fail(kind);
    expect(res.status).toBe(status);
    expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8");
    expect(Object.keys(body).sort()).toEqual(["code", "data", "message", "name", "type"]);
    expect(body).toMatchObject({ code: status, type, message });
    expect(text).not.toMatch(/stack|at .*\.ts:\d+/);
  });

  it("keeps the data of client errors", async () => {
    expect((await fail("forbidden")).body["data"]).toEqual({ role: "viewer" });
    expect((await fail("inUse")).body["data"]).toEqual({ id: "w1", usedBy: ["gizmo"] });
  });

  it("hides the message and data of a 500 and never sends a stack", async () => {
    for (const kind of ["bare", "server"]) {
      const { res, text, body } = await fail(kind);
      expect(res.status).toBe(500);
      expect(body).toEqual({
        name: "InternalServerError",
        message: "Internal Server Error",
        code: 500,
        type: kind === "server" ? "DB_ERROR" : null,
        data: null,
      });
      expect(text).not.toMatch(/hunter2|10\.0\.0\.7|stack/);
    }
  });

  it("keeps the message of a retryable 503 and says when to retry", async () => {
    const { res, body } = await fail("unavailable");
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("5");
    expect(body).toEqual({
      name: "MoleculerRetryableError",
      message: "cluster unavailable: connection refused",
      code: 503,
      type: "K8S_UNAVAILABLE",
      data: { retryIn: 5 },
    });
  });

  it("answers 503 SERVICE_UNAVAILABLE when a service the route needs is down", async () => {
    const { res, body } = await fail("dependency");
    expect(res.status).toBe(503);
    expect(body).toMatchObject({ code: 503, type: "SERVICE_UNAVAILABLE", data: { action: "v1.k8s.nothere.list" } });
  });

  it("answers 503 for a published route whose service just left, before the routes are rebuilt", async () => {
    const local = await startGateway();
    try {
      // Freeze the routes as they are in the (debounced) moment between a service leaving and the rebuild.
      const api = local.broker.getLocalService("api") as unknown as { regenerateAllAutoAliases: () => void };
      api.regenerateAllAutoAliases = () => undefined;
      const t = await local.token({ userID: "alice" });
      expect((await local.request("/api/v1/k8s/widgets", { token: t })).status).toBe(200);
      const widgets = local.broker.getLocalService("v1.k8s.widgets");
      if (widgets === undefined) throw new Error("no widgets service");
      await local.broker.destroyService(widgets);
      const res = await local.request("/api/v1/k8s/widgets", { token: t });
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({ code: 503, type: "SERVICE_UNAVAILABLE" });
    } finally {
      await local.stop();
    }
  });

  it("logs 5xx with their stack on the server and 4xx not at all", async () => {
    logged.length = 0;
    await fail("notFound");
    await fail("invalid");
    expect(logged.filter((l) => l.level === "error")).toEqual([]);
    await fail("bare");
    const errors = logged.filter((l) => l.level === "error");
    expect(errors).toHaveLength(1);
    const err = errors[0]?.args.find((a): a is Error => a instanceof Error);
    expect(err?.message).toContain("hunter2");
    expect(err?.stack).toMatch(/widgets\.service/);
  });

  it("logs one debug line per request with method, path, status and time, never the token", async () => {
    logged.length = 0;
    await gw.request("/api/v1/k8s/widgets?limit=5", { token });
    await new Promise((resolve) => setTimeout(resolve, 20));
    // moleculer-web adds a debug line of its own ("Alias: GET /api/v1/k8s/widgets => v1.k8s.widgets.list").
    const lines = logged.filter((l) => l.level === "debug").map((l) => l.args.join(" "));
    expect(lines.filter((l) => /^GET /.test(l))).toEqual([
      expect.stringMatching(/^GET \/api\/v1\/k8s\/widgets 200 \d+\.\dms$/),
    ]);
    expect(lines.length).toBeLessThanOrEqual(2);
    expect(JSON.stringify(logged)).not.toContain(token);
  });

  it("names the field and rule of invalid parameters in data", async () => {
    const res = await gw.request("/api/v1/k8s/widgets", { method: "POST", token, body: { name: 42 } });
    expect(res.status).toBe(422);
    expect(await res.json()).toMatchObject({
      name: "ValidationError",
      code: 422,
      type: "VALIDATION_ERROR",
      data: [
        {
          type: "string",
          field: "name",
          actual: 42,
          message: "The 'name' field must be a string.",
          action: "v1.k8s.widgets.create",
        },
      ],
    });
    const pattern = await gw.request("/api/v1/k8s/widgets", { method: "POST", token, body: { name: "Bad Name" } });
    expect(await pattern.json()).toMatchObject({
      data: [expect.objectContaining({ field: "name", type: "stringPattern" })],
    });
    const extra = await gw.request("/api/v1/k8s/widgets", {
      method: "POST",
      token,
      body: { name: "ok", owner: "eve" },
    });
    expect(extra.status).toBe(422);
    expect(await extra.json()).toMatchObject({
      data: [expect.objectContaining({ type: "objectStrict", actual: "owner" })],
    });
    const query = await gw.request("/api/v1/k8s/widgets?limit=0", { token });
    expect(await query.json()).toMatchObject({
      code: 422,
      data: [expect.objectContaining({ field: "limit", type: "numberMin" })],
    });
  });

  it("answers 409 for a second create with the same name and 404 for a missing one", async () => {
    const first = await gw.request("/api/v1/k8s/widgets", { method: "POST", token, body: { name: "dup" } });
    expect(first.status).toBe(200);
    const second = await gw.request("/api/v1/k8s/widgets", { method: "POST", token, body: { name: "dup" } });
    expect(second.status).toBe(409);
    expect(await second.json()).toMatchObject({
      code: 409,
      type: "ALREADY_EXISTS",
      data: { field: "name", value: "dup" },
    });
    const missing = await gw.request("/api/v1/k8s/widgets/none", { token });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ code: 404, type: "NOT_FOUND" });
  });

  it("answers 400 INVALID_JSON for a body that is not JSON", async () => {
    const res = await gw.request("/api/v1/k8s/widgets", { method: "POST", token, body: '{"name": "x",' });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      name: "BadRequestError",
      message: "Invalid JSON in request body",
      code: 400,
      type: "INVALID_JSON",
      data: null,
    });
  });

  it("answers 413 for a body over the limit and accepts one under it", async () => {
    const big = await gw.request("/api/v1/k8s/widgets", {
      method: "POST",
      token,
      body: { name: "big", labels: { blob: "x".repeat(3000) } },
    });
    expect(big.status).toBe(413);
    expect(await big.json()).toMatchObject({ name: "PayloadTooLargeError", code: 413, type: "PAYLOAD_TOO_LARGE" });
    const small = await gw.request("/api/v1/k8s/widgets", {
      method: "POST",
      token,
      body: { name: "small", labels: { blob: "x".repeat(1000) } },
    });
    expect(small.status).toBe(200);
  });

  it.each(["gzip", "deflate", "br"])(
    "answers 400 INVALID_BODY (not 500) for a body whose Content-Encoding %s does not decode",
    async (encoding) => {
      const res = await rawRequest(gw.url, {
        method: "POST",
        path: "/api/v1/k8s/widgets",
        headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json", "Content-Encoding": encoding },
        body: "this is not compressed",
      });
      expect(res.status).toBe(400);
      expect(JSON.parse(res.text)).toMatchObject({ code: 400, type: "INVALID_BODY", data: null });
      expect(JSON.parse(res.text).message).toMatch(/^Request body could not be read: /);
    },
  );

  it("answers a request line over Node's header limit with 431 JSON, and keeps serving", async () => {
    const res = await rawRequest(gw.url, {
      method: "GET",
      path: `/api/v1/k8s/widgets?sort=${"a".repeat(100_000)}`,
      headers: { Authorization: `Bearer ${token}` },
    });
    expect(res.status).toBe(431);
    expect(res.headers["content-type"]).toBe("application/json; charset=utf-8");
    expect(res.headers["x-content-type-options"]).toBe("nosniff");
    expect(JSON.parse(res.text)).toEqual({
      name: "RequestHeaderFieldsTooLargeError",
      message: "Request line or headers too large",
      code: 431,
      type: "HEADERS_TOO_LARGE",
      data: null,
    });
    expect((await gw.request("/api/health")).status).toBe(200);
  });

  it("answers 422 (not 500) for an object with a 'toString' key where a param is converted to a number", async () => {
    // fastest-validator's `convert: true` calls Number() on it, which throws a TypeError
    const res = await rawRequest(gw.url, {
      method: "GET",
      path: "/api/v1/k8s/widgets",
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
      body: JSON.stringify({ limit: { toString: 1 } }),
    });
    expect(res.status).toBe(422);
    expect(JSON.parse(res.text)).toMatchObject({
      code: 422,
      type: "VALIDATION_ERROR",
      data: [{ field: "limit", type: "convert" }],
    });
  });

  it("does not parse urlencoded bodies", async () => {
    const res = await gw.request("/api/v1/k8s/widgets", {
      method: "POST",
      token,
      body: "name=formwidget",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
    });
    expect(res.status).toBe(422);
  });

  it.each([
    ["GET", "/nothing/here"],
    ["GET", "/api/nothing"],
    ["GET", "/api/v1/k8s/nothing"],
    ["PATCH", "/api/v1/k8s/widgets"],
    ["GET", "/api/list-aliases"],
    ["GET", "/api/api/list-aliases"],
    ["GET", "/api/gadgets"],
  ])("answers 404 JSON for the unknown route %s %s", async (method, path) => {
    const res = await gw.request(path, { method, token });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({
      name: "NotFoundError",
      message: "Not found",
      code: 404,
      type: "NOT_FOUND",
      data: null,
    });
  });

  it("never publishes an internal (visibility public) action, even with a rest route", async () => {
    const before = await gw.broker.call<{ purged: number }>("v1.k8s.widgets.stats");
    for (const method of ["POST", "GET"]) {
      const res = await gw.request("/api/v1/k8s/widgets/internal/purge", {
        method,
        token,
        ...(method === "POST" ? { body: {} } : {}),
      });
      expect(res.status).toBe(404);
    }
    await expect(gw.broker.call("v1.k8s.widgets.stats")).resolves.toEqual(before);
  });
});

describe("api timeouts", () => {
  let gw: Gateway;
  let token: string;
  beforeAll(async () => {
    // The broker's requestTimeout as moleculer.config.ts sets one (30 s there), short here.
    gw = await startGateway(
      {},
      (b) => {
        b.createService(widgets);
        b.createService({
          name: "k8s.sleepers",
          version: 1,
          settings: { rest: "/v1/k8s/sleepers" },
          actions: {
            sleep: {
              rest: "GET /sleep",
              handler: () => new Promise((resolve) => setTimeout(() => resolve({ woke: true }), 3000).unref()),
            },
            // A streamed answer (as `logs?follow=true` gives) that lasts longer than the requestTimeout.
            ticks: {
              rest: "GET /ticks",
              handler(ctx: Context) {
                (ctx.meta as Record<string, unknown>)["$responseType"] = "text/plain; charset=utf-8";
                let n = 0;
                const out = new Readable({ read() {} });
                const timer = setInterval(() => {
                  n += 1;
                  out.push(`tick ${n}\n`);
                  if (n === 8) {
                    clearInterval(timer);
                    out.push(null);
                  }
                }, 100);
                return out;
              },
            },
          },
        });
      },
      "v1.k8s.sleepers.sleep",
      { requestTimeout: 300 },
    );
    token = await gw.token({ userID: "alice" });
  });
  afterAll(async () => {
    await gw.stop();
  });

  it("answers 504 once a domain action outlasts the broker's requestTimeout", async () => {
    const t0 = performance.now();
    const res = await gw.request("/api/v1/k8s/sleepers/sleep", { token });
    const elapsed = performance.now() - t0;
    expect(res.status).toBe(504);
    const body = (await res.json()) as Record<string, unknown>;
    // A 5xx keeps its name and type, not its message or data (the action's name stays in the log).
    expect(body).toEqual({
      name: "RequestTimeoutError",
      message: "Gateway Timeout",
      code: 504,
      type: "REQUEST_TIMEOUT",
      data: null,
    });
    expect(elapsed).toBeLessThan(2500);
    // The gateway keeps answering.
    expect((await gw.request("/api/v1/k8s/widgets", { token })).status).toBe(200);
  });

  it("streams an answer to its end however long it lasts past the requestTimeout", async () => {
    const res = await gw.request("/api/v1/k8s/sleepers/ticks", { token });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text.split("\n").filter((l) => l !== "")).toEqual([1, 2, 3, 4, 5, 6, 7, 8].map((n) => `tick ${n}`));
  });
});
