import { describe, it, expect, beforeAll, afterAll } from "@jest/globals";
import { startGateway, type Gateway } from "../../fixtures/gateway.ts";
import type { OpenApiDocument } from "../../../lib/openapi.ts";

describe("api health and readiness", () => {
  let gw: Gateway;
  beforeAll(async () => {
    gw = await startGateway();
  });
  afterAll(async () => {
    await gw.stop();
  });

  it("answers GET /api/health with 200 {status: ok}", async () => {
    const res = await gw.request("/api/health");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ok" });
  });

  it("answers GET /api/ready with 200 when every readiness action resolves", async () => {
    const res = await gw.request("/api/ready");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      status: "ready",
      broker: "started",
      checks: { "v1.k8s.widgets.readiness": { ready: true, checks: { store: "ok" } } },
    });
  });

  it("answers 503 naming the failed check while a readiness action throws, and 200 again after", async () => {
    await gw.broker.call("v1.k8s.widgets.setReadiness", { ready: false });
    try {
      const res = await gw.request("/api/ready");
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({
        status: "unavailable",
        broker: "started",
        checks: {
          "v1.k8s.widgets.readiness": {
            ready: false,
            error: {
              name: "MoleculerRetryableError",
              message: "widget store unavailable: not connected",
              code: 503,
              type: "K8S_UNAVAILABLE",
            },
          },
        },
      });
      expect((await gw.request("/api/health")).status).toBe(200);
    } finally {
      await gw.broker.call("v1.k8s.widgets.setReadiness", { ready: true });
    }
    expect((await gw.request("/api/ready")).status).toBe(200);
  });
});

describe("api openapi.json", () => {
  let gw: Gateway;
  let doc: OpenApiDocument;
  beforeAll(async () => {
    gw = await startGateway();
    const res = await gw.request("/api/openapi.json");
    expect(res.status).toBe(200);
    doc = (await res.json()) as OpenApiDocument;
  });
  afterAll(async () => {
    await gw.stop();
  });

  it("lists exactly the routes the gateway publishes", () => {
    const api = gw.broker.getLocalService("api") as unknown as {
      aliases: { method: string; fullPath: string; action: string | null }[];
    };
    const published = api.aliases
      .filter((a) => a.action !== null)
      .map((a) => `${a.method.toLowerCase()} ${a.fullPath.replace(/:(\w+)/g, "{$1}")}`)
      .sort();
    const documented = Object.entries(doc.paths)
      .flatMap(([path, item]) => Object.keys(item).map((method) => `${method} ${path}`))
      .sort();
    expect(documented).toEqual(published);
    expect(documented).toEqual([
      "delete /api/v1/k8s/widgets/{id}",
      "get /api/health",
      "get /api/openapi.json",
      "get /api/ready",
      "get /api/v1/k8s/widgets",
      "get /api/v1/k8s/widgets/fail/{kind}",
      "get /api/v1/k8s/widgets/whoami",
      "get /api/v1/k8s/widgets/{id}",
      "post /api/v1/k8s/widgets",
    ]);
  });

  it("leaves out internal actions and services outside v1.k8s", () => {
    const actions = Object.values(doc.paths).flatMap((item) => Object.values(item).map((op) => op.operationId));
    for (const hidden of ["v1.k8s.widgets.purge", "v1.k8s.widgets.readiness", "v1.k8s.widgets.stats", "gadgets.list"]) {
      expect(actions).not.toContain(hidden);
    }
  });

  it("documents each action's params as JSON Schema: body for POST, query for GET, path params", () => {
    const create = doc.paths["/api/v1/k8s/widgets"]?.["post"];
    expect(create).toMatchObject({ operationId: "v1.k8s.widgets.create", security: [{ bearerAuth: [] }] });
    expect(create?.requestBody?.content["application/json"].schema).toEqual({
      type: "object",
      properties: {
        name: { type: "string", pattern: "^[a-z][a-z0-9-]*$", minLength: 1, maxLength: 63 },
        size: { type: "integer", minimum: 1, maximum: 10, default: 1 },
        color: { enum: ["red", "green", "blue"] },
        labels: { type: "object", additionalProperties: { type: "string" }, propertyNames: { type: "string" } },
      },
      required: ["name"],
      additionalProperties: false,
    });
    expect(doc.paths["/api/v1/k8s/widgets"]?.["get"]?.parameters).toEqual([
      { name: "limit", in: "query", required: false, schema: { type: "integer", minimum: 1, maximum: 100 } },
    ]);
    expect(doc.paths["/api/v1/k8s/widgets/fail/{kind}"]?.["get"]?.parameters).toEqual([
      { name: "kind", in: "path", required: true, schema: { enum: expect.arrayContaining(["bare", "invalid"]) } },
    ]);
    expect(doc.paths["/api/v1/k8s/widgets/{id}"]?.["delete"]?.parameters).toEqual([
      { name: "id", in: "path", required: true, schema: { type: "string", minLength: 1 } },
    ]);
  });

  it("marks health, ready and openapi.json public and everything else bearerAuth with the error responses", () => {
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const op of Object.values(item)) {
        if (["/api/health", "/api/ready", "/api/openapi.json"].includes(path)) {
          expect(op.security).toEqual([]);
        } else {
          expect(op.security).toEqual([{ bearerAuth: [] }]);
          expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(["401", "403", "404", "409", "422", "503"]));
        }
      }
    }
  });

  it("follows services as they join", async () => {
    gw.broker.createService({
      name: "k8s.sprockets",
      version: 1,
      settings: { rest: "/v1/k8s/sprockets" },
      actions: { list: { rest: "GET /", handler: () => [] } },
    });
    const deadline = Date.now() + 5000;
    let paths: string[] = [];
    while (!paths.includes("/api/v1/k8s/sprockets") && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      paths = Object.keys(((await (await gw.request("/api/openapi.json")).json()) as OpenApiDocument).paths);
    }
    expect(paths).toContain("/api/v1/k8s/sprockets");
  });
});

describe("api CORS", () => {
  it("sends no CORS headers unless origins are configured", async () => {
    const gw = await startGateway();
    try {
      const res = await gw.request("/api/health", { headers: { Origin: "https://ui.example.com" } });
      expect(res.headers.get("access-control-allow-origin")).toBeNull();
    } finally {
      await gw.stop();
    }
  });

  it("answers preflights and allows the configured origins only", async () => {
    const gw = await startGateway({ corsOrigins: ["https://ui.example.com"] });
    try {
      const preflight = await gw.request("/api/v1/k8s/widgets", {
        method: "OPTIONS",
        headers: {
          Origin: "https://ui.example.com",
          "Access-Control-Request-Method": "POST",
          "Access-Control-Request-Headers": "authorization, content-type",
        },
      });
      expect(preflight.status).toBe(204);
      expect(preflight.headers.get("access-control-allow-origin")).toBe("https://ui.example.com");
      expect(preflight.headers.get("access-control-allow-headers")).toBe("Authorization, Content-Type");
      const token = await gw.token({ userID: "alice" });
      const ok = await gw.request("/api/v1/k8s/widgets", { token, headers: { Origin: "https://ui.example.com" } });
      expect(ok.status).toBe(200);
      expect(ok.headers.get("access-control-allow-origin")).toBe("https://ui.example.com");
      const other = await gw.request("/api/v1/k8s/widgets", { token, headers: { Origin: "https://evil.example.com" } });
      expect(other.status).toBe(403);
      expect(other.headers.get("access-control-allow-origin")).toBeNull();
    } finally {
      await gw.stop();
    }
  });
});
